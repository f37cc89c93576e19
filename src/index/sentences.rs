//! The answer candidates' sentence vectors as a segment stores them (the `sentences` table): the
//! storage format, owned here below the search that reads it (`search::answer`) and the indexer
//! that writes it.

/// Sentence vectors of one passage as stored: for each candidate sentence its byte span in the
/// passage text and its unit vector in int8 with one scale (1/127 of its largest component).
/// Stored only for passages with more than one candidate. Layout (little-endian): count u16, then
/// per sentence start u32, end u32, scale f32, `dim` × i8.
pub struct SentenceVectors<'a> {
    bytes: &'a [u8],
    dim: usize,
    count: usize,
}

impl<'a> SentenceVectors<'a> {
    /// Encodes `spans` with their vectors (`spans.len() * dim` floats).
    pub fn encode(spans: &[(usize, usize)], vectors: &[f32], dim: usize) -> Vec<u8> {
        assert_eq!(vectors.len(), spans.len() * dim, "one vector per span");
        let mut out = Vec::with_capacity(2 + spans.len() * (12 + dim));
        out.extend_from_slice(&(spans.len() as u16).to_le_bytes());
        for (&(a, b), v) in spans.iter().zip(vectors.chunks_exact(dim)) {
            let max = v.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
            let scale = max / 127.0;
            out.extend_from_slice(&(a as u32).to_le_bytes());
            out.extend_from_slice(&(b as u32).to_le_bytes());
            out.extend_from_slice(&scale.to_le_bytes());
            out.extend(v.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8 as u8));
        }
        out
    }

    /// Reads what `encode` wrote for vectors of `dim` dimensions; `None` if the bytes are not that
    /// (a damaged row is then answered as if it had no stored vectors).
    pub fn decode(bytes: &'a [u8], dim: usize) -> Option<SentenceVectors<'a>> {
        let count = u16::from_le_bytes(bytes.get(..2)?.try_into().ok()?) as usize;
        (bytes.len() == 2 + count * (12 + dim) && count > 0).then_some(SentenceVectors { bytes, dim, count })
    }

    /// Sentences stored.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn entry(&self, i: usize) -> &'a [u8] {
        let size = 12 + self.dim;
        &self.bytes[2 + i * size..2 + (i + 1) * size]
    }

    /// Sentence i's byte span in the passage text.
    pub fn span(&self, i: usize) -> (usize, usize) {
        let e = self.entry(i);
        (u32::from_le_bytes(e[0..4].try_into().unwrap()) as usize, u32::from_le_bytes(e[4..8].try_into().unwrap()) as usize)
    }

    /// Every sentence's span.
    pub fn spans(&self) -> Vec<(usize, usize)> {
        (0..self.count).map(|i| self.span(i)).collect()
    }

    /// Cosine of sentence i with the unit vector `q`.
    pub fn cosine(&self, i: usize, q: &[f32]) -> f32 {
        let e = self.entry(i);
        let scale = f32::from_le_bytes(e[8..12].try_into().unwrap());
        let dot: f32 = e[12..].iter().zip(q).map(|(&c, &x)| c as i8 as f32 * x).sum();
        dot * scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_vectors_round_trip_within_int8_precision() {
        let dim = 8;
        let v: Vec<f32> = (0..2 * dim).map(|i| ((i as f32) * 0.7).sin()).collect();
        let unit = |s: &[f32]| {
            let n = s.iter().map(|x| x * x).sum::<f32>().sqrt();
            s.iter().map(|x| x / n).collect::<Vec<f32>>()
        };
        let v: Vec<f32> = v.chunks(dim).flat_map(unit).collect();
        let bytes = SentenceVectors::encode(&[(0, 5), (6, 20)], &v, dim);
        let s = SentenceVectors::decode(&bytes, dim).expect("decodes");
        assert_eq!(s.spans(), vec![(0, 5), (6, 20)]);
        for i in 0..2 {
            let q = &v[i * dim..(i + 1) * dim];
            assert!((s.cosine(i, q) - 1.0).abs() < 0.01, "{}", s.cosine(i, q));
        }
        assert!(SentenceVectors::decode(&bytes[..bytes.len() - 1], dim).is_none());
        assert!(SentenceVectors::decode(&bytes, dim + 1).is_none());
        assert!(SentenceVectors::decode(&[], dim).is_none());
    }
}
