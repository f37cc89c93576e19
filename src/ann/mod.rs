//! AnnIndex: nearest passages by cosine, over memory-mapped vectors and graph.
//!
//! The HNSW graph is built by hnsw_rs (`build`), exported into flat, fixed-stride arrays (one
//! neighbour table per layer) and searched by a small routine here: opening an index is a memory
//! map, not a parse, and a search walks contiguous memory without locks. Vectors are unit length, so cosine similarity is a dot product and the distance
//! is `1 - dot`, clamped at 0: hnsw_rs's `DistDot` asserts on the tiny negative values f32 rounding
//! gives for near-identical vectors, and panics.

mod build;
pub mod sq8;

use crate::cpu::prefetch;
use anyhow::{bail, Context, Result};
pub use build::{connect_unreachable, Links, NONE};
use hnsw_rs::prelude::Distance;
use memmap2::Mmap;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// A graph file of neighbour tables only: the walk reads the f32 vectors (format 5 and before).
const GRAPH_MAGIC: &[u8; 8] = b"SSGRAPH1";
/// A graph file whose tables are followed by 8-bit copies of the vectors (`sq8`) for the walk.
const GRAPH_SQ8_MAGIC: &[u8; 8] = b"SSGRAPH2";
/// Widest neighbour list a graph file may have (layer 0 holds 2·M links; M is at most 128).
pub const MAX_LINKS: usize = 256;

/// The HNSW graph's parameters: how it is built and how wide a search's beam is.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct HnswParams {
    /// Links per point on the upper layers (layer 0 gets twice as many).
    pub m: usize,
    /// Beam width while inserting (more: a better graph, a slower build).
    pub ef_construction: usize,
    /// Beam width at query time.
    pub ef_search: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams { m: 16, ef_construction: 200, ef_search: 64 }
    }
}

/// `1 - dot(a, b)` for unit vectors, never negative.
#[derive(Clone, Copy, Default)]
pub struct UnitCosine;

impl Distance<f32> for UnitCosine {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - dot(a, b)).max(0.0)
    }
}

/// Dot product. On x86-64 the widest SIMD the CPU has (AVX-512, else AVX2+FMA) is picked at run
/// time, so one binary is fast here and still correct on any x86-64; elsewhere a loop with eight
/// independent accumulators that the compiler vectorises.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    #[cfg(target_arch = "x86_64")]
    match crate::cpu::simd() {
        // SAFETY: the CPU has the features (crate::cpu checked them).
        crate::cpu::Simd::Avx512 => return unsafe { simd::dot_avx512(a, b) },
        crate::cpu::Simd::Avx2 => return unsafe { simd::dot_avx2(a, b) },
        crate::cpu::Simd::Base => {}
    }
    dot_portable(a, b)
}

/// The reference the SIMD paths are tested against; also the path for CPUs without them.
pub fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let chunks = n / 8;
    for i in 0..chunks {
        for l in 0..8 {
            acc[l] += a[i * 8 + l] * b[i * 8 + l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in chunks * 8..n {
        s += a[i] * b[i];
    }
    s
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    /// Four 16-lane accumulators (384 dims = 6 rounds of 64), masked tail.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        while i + 64 <= n {
            for (l, acc) in acc.iter_mut().enumerate() {
                let x = _mm512_loadu_ps(pa.add(i + 16 * l));
                let y = _mm512_loadu_ps(pb.add(i + 16 * l));
                *acc = _mm512_fmadd_ps(x, y, *acc);
            }
            i += 64;
        }
        while i + 16 <= n {
            acc[0] = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc[0]);
            i += 16;
        }
        if i < n {
            let mask: __mmask16 = (1u32 << (n - i)) as u16 - 1;
            let x = _mm512_maskz_loadu_ps(mask, pa.add(i));
            let y = _mm512_maskz_loadu_ps(mask, pb.add(i));
            acc[1] = _mm512_fmadd_ps(x, y, acc[1]);
        }
        let s = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        _mm512_reduce_add_ps(s)
    }

    /// Four 8-lane accumulators, scalar tail.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (l, acc) in acc.iter_mut().enumerate() {
                let x = _mm256_loadu_ps(pa.add(i + 8 * l));
                let y = _mm256_loadu_ps(pb.add(i + 8 * l));
                *acc = _mm256_fmadd_ps(x, y, *acc);
            }
            i += 32;
        }
        while i + 8 <= n {
            acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc[0]);
            i += 8;
        }
        let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        let h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
        let mut r = _mm_cvtss_f32(h);
        while i < n {
            r += *pa.add(i) * *pb.add(i);
            i += 1;
        }
        r
    }
}

/// Write `vectors` (row-major, `dim` wide) as raw little-endian f32.
pub fn write_vectors(path: &Path, vectors: &[f32]) -> Result<()> {
    let mut f = BufWriter::new(File::create(path).with_context(|| format!("cannot create {}", path.display()))?);
    f.write_all(bytemuck::cast_slice(vectors))?;
    let f = f.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    Ok(())
}

/// Builds the graph over `vectors` with hnsw_rs, links in any row it left unreachable, and writes
/// it in the flat format. Returns how many rows had to be linked in.
pub fn build_graph(path: &Path, vectors: &[f32], dim: usize, params: &HnswParams) -> Result<usize> {
    let (links, linked) = build::build(vectors, dim, params);
    write_links(path, &links, Some((vectors, dim)))?;
    Ok(linked)
}

/// Write a graph in the flat format `AnnIndex::open` maps: magic, then n, m0, m_up, top, entry,
/// then layer 0's table (n × m0), then per upper layer its member count, sorted members, table.
/// With `codes_of` (the graph's vectors and their width) the file also carries their 8-bit
/// copies (`sq8`) for the walk: padding to a 64-byte line, the `dim` scales, padding, then the
/// n × dim codes (each row on its own lines when dim is a multiple of 64), padded to a line.
pub fn write_links(path: &Path, links: &Links, codes_of: Option<(&[f32], usize)>) -> Result<()> {
    let mut out = BufWriter::new(File::create(path).with_context(|| format!("cannot create {}", path.display()))?);
    out.write_all(if codes_of.is_some() { GRAPH_SQ8_MAGIC } else { GRAPH_MAGIC })?;
    let n = links.levels.len();
    let header: [u32; 5] = if n == 0 { [0, 0, 0, 0, NONE] } else { [n as u32, links.m0 as u32, links.m_up as u32, links.upper.len() as u32, links.entry] };
    let mut words: Vec<u32> = header.to_vec();
    if n > 0 {
        words.extend_from_slice(&links.layer0);
        for (ids, table) in &links.upper {
            words.push(ids.len() as u32);
            words.extend_from_slice(ids);
            words.extend_from_slice(table);
        }
    }
    if let Some((vectors, dim)) = codes_of {
        if vectors.len() != n * dim {
            bail!("{}: {} floats for a graph of {n} rows of {dim}", path.display(), vectors.len());
        }
        // Word offsets count the magic's two words, as `AnnIndex::open` does.
        words.resize((words.len() + 2).next_multiple_of(16) - 2, 0);
        let scales = sq8::scales(vectors, dim);
        words.extend(scales.iter().map(|s| s.to_bits()));
        words.resize((words.len() + 2).next_multiple_of(16) - 2, 0);
        out.write_all(bytemuck::cast_slice(&words))?;
        let mut codes = vec![0i8; dim];
        for row in vectors.chunks_exact(dim) {
            sq8::encode(row, &scales, &mut codes);
            out.write_all(bytemuck::cast_slice(&codes))?;
        }
        out.write_all(&[0u8; 64][..(n * dim).next_multiple_of(64) - n * dim])?;
    } else {
        out.write_all(bytemuck::cast_slice(&words))?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(())
}

/// A distance (or score) and a row, ordered by the first then the second: what the search heaps hold.
#[derive(Clone, Copy, PartialEq)]
pub(crate) struct Scored(pub f32, pub u32);

impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scored {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0).then(self.1.cmp(&o.1))
    }
}

struct UpperLayer {
    /// Offset (in u32 words) of the sorted member ids, and of their neighbour table.
    ids: usize,
    table: usize,
    count: usize,
}

/// Where a graph file's 8-bit vectors are (byte offsets into it).
#[derive(Clone, Copy)]
struct Codes {
    scales: usize,
    codes: usize,
}

/// Vectors plus graph, both memory-mapped.
pub struct AnnIndex {
    vectors: Mmap,
    graph: Mmap,
    n: usize,
    dim: usize,
    m0: usize,
    m_up: usize,
    entry: u32,
    layers: Vec<UpperLayer>,
    /// The 8-bit copies the walk reads, when the graph file has them (format 6 on).
    codes: Option<Codes>,
}

/// A search hit: vector row and cosine similarity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The row found (a segment's row, or an index-wide one once merged).
    pub row: u32,
    /// Its similarity to the query (cosine of unit vectors; higher is better).
    pub score: f32,
}

impl AnnIndex {
    /// Maps a segment's vectors (`n` × `dim` f32) and graph, checking their sizes.
    pub fn open(vectors_path: &Path, graph_path: &Path, n: usize, dim: usize) -> Result<AnnIndex> {
        let vf = File::open(vectors_path).with_context(|| format!("cannot open {}", vectors_path.display()))?;
        // SAFETY: index files are immutable once committed (a new generation gets new files), so the
        // mapping never changes under us.
        let vectors = unsafe { Mmap::map(&vf) }?;
        if vectors.len() != n * dim * 4 {
            bail!(
                "{}: size {} bytes, expected {} ({} vectors of {} floats); the index is damaged, re-run `semsearch index`",
                vectors_path.display(),
                vectors.len(),
                n * dim * 4,
                n,
                dim
            );
        }
        let gf = File::open(graph_path).with_context(|| format!("cannot open {}", graph_path.display()))?;
        let graph = unsafe { Mmap::map(&gf) }?;
        let damaged = || anyhow::anyhow!("{}: malformed graph file; the index is damaged, re-run `semsearch index`", graph_path.display());
        if graph.len() < 28 || graph.len() % 4 != 0 {
            return Err(damaged());
        }
        let with_codes = match &graph[..8] {
            m if m == GRAPH_MAGIC => false,
            m if m == GRAPH_SQ8_MAGIC => true,
            _ => return Err(damaged()),
        };
        let words: &[u32] = bytemuck::cast_slice(&graph[..]);
        let (gn, m0, m_up, top, entry) = (words[2] as usize, words[3] as usize, words[4] as usize, words[5] as usize, words[6]);
        if gn != n || m0 > MAX_LINKS || m_up > MAX_LINKS {
            return Err(damaged());
        }
        let mut pos = 7 + n * m0;
        let mut layers = Vec::with_capacity(top);
        for _ in 0..top {
            let count = *words.get(pos).ok_or_else(damaged)? as usize;
            layers.push(UpperLayer { ids: pos + 1, table: pos + 1 + count, count });
            pos += 1 + count + count * m_up;
        }
        let mut codes = None;
        if with_codes {
            // `pos` counts words from the file's start (the magic is two), lines are 16 words.
            let scales = pos.next_multiple_of(16);
            let start = (scales + dim).next_multiple_of(16) * 4;
            codes = Some(Codes { scales: scales * 4, codes: start });
            pos = (start + n * dim).next_multiple_of(64) / 4;
        }
        if pos != words.len() || (n > 0 && entry as usize >= n) {
            return Err(damaged());
        }
        // Neighbour ids are not scanned here (a million rows' tables are 128 MB): search stops a
        // list at the first id that is not a row, `NONE` or damage alike, so no id can index out
        // of bounds, and the file's checksum already stands for its content.
        Ok(AnnIndex { vectors, graph, n, dim, m0, m_up, entry, layers, codes })
    }

    /// From now on walk on the f32 vectors even where the graph file has 8-bit copies: for
    /// measuring one walk against the other (`examples/ann_synth`, `examples/ask_latency`).
    pub fn forget_codes(&mut self) {
        self.codes = None;
    }

    /// Whether the walk reads 8-bit copies of the vectors (re-scoring what it returns in f32).
    pub fn walks_on_codes(&self) -> bool {
        self.codes.is_some()
    }

    /// Rows in the segment.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the segment has no rows.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Dimensions of each vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The stored unit vector of `row`.
    pub fn vector(&self, row: u32) -> &[f32] {
        self.vectors(row, 1)
    }

    /// Rows `first..first + n`, contiguous.
    pub fn vectors(&self, first: u32, n: u32) -> &[f32] {
        let all: &[f32] = bytemuck::cast_slice(&self.vectors[..]);
        &all[first as usize * self.dim..(first + n) as usize * self.dim]
    }

    fn words(&self) -> &[u32] {
        bytemuck::cast_slice(&self.graph[..])
    }

    fn neighbours(&self, layer: usize, row: u32) -> &[u32] {
        let w = self.words();
        if layer == 0 {
            let s = 7 + row as usize * self.m0;
            return &w[s..s + self.m0];
        }
        let l = &self.layers[layer - 1];
        let ids = &w[l.ids..l.ids + l.count];
        match ids.binary_search(&row) {
            Ok(i) => &w[l.table + i * self.m_up..l.table + (i + 1) * self.m_up],
            Err(_) => &[],
        }
    }

    /// Exact search: every vector scored. `accept` filters rows out of the results.
    pub fn exact(&self, q: &[f32], k: usize, accept: &dyn Fn(u32) -> bool) -> Vec<Hit> {
        let mut heap: BinaryHeap<std::cmp::Reverse<Scored>> = BinaryHeap::with_capacity(k + 1);
        for row in 0..self.n as u32 {
            let s = dot(q, self.vector(row));
            if heap.len() < k {
                if accept(row) {
                    heap.push(std::cmp::Reverse(Scored(s, row)));
                }
            } else if k > 0 && s > heap.peek().unwrap().0 .0 && accept(row) {
                heap.pop();
                heap.push(std::cmp::Reverse(Scored(s, row)));
            }
        }
        let mut hits: Vec<Hit> = heap.into_iter().map(|r| Hit { row: r.0 .1, score: r.0 .0 }).collect();
        sort_hits(&mut hits);
        hits
    }

    /// Approximate search over the graph with beam width `ef` (at least `k`). Rows that `accept`
    /// rejects still guide the walk but never appear in the results. Where the graph file has
    /// 8-bit copies of the vectors the walk reads those, and the rows it ends with (all `ef` of
    /// them) are scored again from the f32 vectors, so the scores returned are exact.
    pub fn search(&self, q: &[f32], k: usize, ef: usize, accept: &dyn Fn(u32) -> bool) -> Vec<Hit> {
        if self.n == 0 || k == 0 {
            return Vec::new();
        }
        let mut hits = match self.codes {
            None => {
                let lines = self.dim.div_ceil(16);
                let all: &[f32] = bytemuck::cast_slice(&self.vectors[..]);
                self.walk(k, ef, accept, |r| 1.0 - dot(q, self.vector(r)), |r| prefetch(&all[r as usize * self.dim..], lines))
            }
            Some(c) => {
                let scales: &[f32] = bytemuck::cast_slice(&self.graph[c.scales..c.scales + 4 * self.dim]);
                let codes: &[i8] = bytemuck::cast_slice(&self.graph[c.codes..c.codes + self.n * self.dim]);
                let qs = sq8::scaled_query(q, scales);
                let row = |r: u32| &codes[r as usize * self.dim..(r as usize + 1) * self.dim];
                let found = self.walk(k, ef, accept, |r| 1.0 - sq8::dot(&qs, row(r)), |r| prefetch(row(r), self.dim.div_ceil(64)));
                // Re-score in f32, asking for every row's vector before scoring any (as the walk
                // does with its neighbours).
                let all: &[f32] = bytemuck::cast_slice(&self.vectors[..]);
                found.iter().for_each(|h| prefetch(&all[h.row as usize * self.dim..], self.dim.div_ceil(16)));
                found.into_iter().map(|h| Hit { row: h.row, score: dot(q, self.vector(h.row)) }).collect()
            }
        };
        sort_hits(&mut hits);
        hits.truncate(k);
        hits
    }

    /// The HNSW walk: greedy descent of the upper layers, then a beam of `ef` on layer 0, with
    /// `dist(row)` as the distance and `fetch(row)` asking for a row's data ahead of `dist`.
    /// Returns the beam's accepted rows, unordered, scored `1 - dist`.
    fn walk(&self, k: usize, ef: usize, accept: &dyn Fn(u32) -> bool, dist: impl Fn(u32) -> f32, fetch: impl Fn(u32)) -> Vec<Hit> {
        let mut ep = self.entry;
        let mut ep_d = dist(ep);
        for layer in (1..=self.layers.len()).rev() {
            let mut changed = true;
            while changed {
                changed = false;
                for &nb in self.neighbours(layer, ep) {
                    if nb as usize >= self.n {
                        break;
                    }
                    let d = dist(nb);
                    if d < ep_d {
                        ep_d = d;
                        ep = nb;
                        changed = true;
                    }
                }
            }
        }
        let ef = ef.max(k);
        let mut visited = vec![0u64; self.n.div_ceil(64)];
        let mut seen = |r: u32| {
            let (w, b) = (r as usize / 64, 1u64 << (r % 64));
            let was = visited[w] & b != 0;
            visited[w] |= b;
            was
        };
        seen(ep);
        // candidates: closest first (min-heap by distance); results: farthest first (max-heap).
        let mut candidates: BinaryHeap<std::cmp::Reverse<Scored>> = BinaryHeap::new();
        let mut results: BinaryHeap<Scored> = BinaryHeap::new();
        candidates.push(std::cmp::Reverse(Scored(ep_d, ep)));
        if accept(ep) {
            results.push(Scored(ep_d, ep));
        }
        let mut fresh = [0u32; MAX_LINKS];
        while let Some(std::cmp::Reverse(Scored(d, row))) = candidates.pop() {
            if results.len() >= ef && d > results.peek().unwrap().0 {
                break;
            }
            // Collect the unvisited neighbours and ask for their vectors before scoring any: the
            // loads of all of them overlap instead of each waiting on its own cache misses.
            let mut count = 0;
            for &nb in self.neighbours(0, row) {
                if nb as usize >= self.n || count == fresh.len() {
                    break;
                }
                if !seen(nb) {
                    fresh[count] = nb;
                    count += 1;
                    fetch(nb);
                }
            }
            for &nb in &fresh[..count] {
                let nd = dist(nb);
                if results.len() < ef || nd < results.peek().unwrap().0 {
                    candidates.push(std::cmp::Reverse(Scored(nd, nb)));
                    if accept(nb) {
                        results.push(Scored(nd, nb));
                        if results.len() > ef {
                            results.pop();
                        }
                    }
                }
            }
        }
        results.into_iter().map(|s| Hit { row: s.1, score: 1.0 - s.0 }).collect()
    }
}

/// Deterministic clustered unit vectors, for tests and benchmarks: `clusters` centres with
/// coordinates uniform in [-1, 1], each point a centre plus uniform noise of ±`spread` per
/// coordinate, normalised (an xorshift generator from `seed`; no external data needed).
pub fn clustered_unit_vectors(n: usize, dim: usize, clusters: usize, spread: f32, seed: u64) -> Vec<f32> {
    let mut s = seed.max(1);
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
    };
    let centres: Vec<Vec<f32>> = (0..clusters.max(1)).map(|_| (0..dim).map(|_| next()).collect()).collect();
    let mut v = Vec::with_capacity(n * dim);
    for i in 0..n {
        let mut x: Vec<f32> = centres[i % centres.len()].iter().map(|&c| c + spread * next()).collect();
        let norm = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        x.iter_mut().for_each(|a| *a /= norm);
        v.extend(x);
    }
    v
}

/// `v` with `by` added to every `every`-th coordinate, normalised: a query near a stored vector
/// but not equal to it (for tests).
#[cfg(test)]
pub(crate) fn perturbed(v: &[f32], every: usize, by: f32) -> Vec<f32> {
    let q: Vec<f32> = v.iter().enumerate().map(|(i, x)| x + if i % every == 0 { by } else { 0.0 }).collect();
    let norm = q.iter().map(|a| a * a).sum::<f32>().sqrt();
    q.iter().map(|a| a / norm).collect()
}

/// Best first; equal scores by row so results are deterministic.
fn sort_hits(hits: &mut [Hit]) {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(n: usize, dim: usize) -> (tempfile::TempDir, Vec<f32>, AnnIndex) {
        let dir = tempfile::tempdir().unwrap();
        let v = clustered_unit_vectors(n, dim, 20, 0.4, 0x9e3779b97f4a7c15);
        write_vectors(&dir.path().join("v"), &v).unwrap();
        build_graph(&dir.path().join("g"), &v, dim, &HnswParams::default()).unwrap();
        let idx = AnnIndex::open(&dir.path().join("v"), &dir.path().join("g"), n, dim).unwrap();
        (dir, v, idx)
    }

    #[test]
    fn unit_cosine_never_negative() {
        let v = vec![0.6f32, 0.8];
        assert_eq!(UnitCosine.eval(&v, &v), 0.0);
        let w: Vec<f32> = (0..384).map(|i| ((i * 7919) % 97) as f32).collect();
        let norm = w.iter().map(|a| a * a).sum::<f32>().sqrt();
        let w: Vec<f32> = w.iter().map(|a| a / norm).collect();
        assert!(UnitCosine.eval(&w, &w) >= 0.0);
    }

    #[test]
    fn simd_dot_matches_portable_at_every_length() {
        for n in [0usize, 1, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 100, 383, 384, 385, 1000] {
            let a: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0).collect();
            let naive: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!((dot(&a, &b) as f64 - naive).abs() < 1e-3, "n={n}");
            assert!((dot_portable(&a, &b) as f64 - naive).abs() < 1e-3, "n={n}");
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: features checked just above.
                let v = unsafe { simd::dot_avx2(&a, &b) };
                assert!((v as f64 - naive).abs() < 1e-3, "avx2 n={n}");
            }
        }
    }

    #[test]
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.1).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.05).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-4);
    }

    #[test]
    fn filter_excludes_rows_and_still_returns_k() {
        let (n, dim) = (1000, 16);
        let (_dir, v, idx) = build(n, dim);
        let q = &v[0..dim];
        let hits = idx.search(q, 10, 64, &|r| r % 2 == 1);
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| h.row % 2 == 1));
        let exact = idx.exact(q, 10, &|r| r % 2 == 1);
        assert!(exact.iter().all(|h| h.row % 2 == 1));
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
        // Filtered rows still guide the walk, so the filtered beam finds what exact search finds.
        let found = hits.iter().filter(|h| exact.iter().any(|e| e.row == h.row)).count();
        assert!(found >= 9, "{found} of the 10 exact results");
        // A filter that rejects all but a few rows: those few, all of them.
        let few = idx.search(q, 10, 64, &|r| r % 100 == 7);
        let mut rows: Vec<u32> = few.iter().map(|h| h.row).collect();
        rows.sort_unstable();
        assert_eq!(rows, (0..10).map(|i| i * 100 + 7).collect::<Vec<u32>>());
    }

    #[test]
    fn the_walk_on_codes_finds_what_the_f32_walk_finds_and_scores_exactly() {
        let (n, dim) = (3000, 48);
        let (dir, v, idx) = build(n, dim);
        assert!(idx.walks_on_codes(), "graphs are written with their 8-bit copies");
        let mut f32_walk = AnnIndex::open(&dir.path().join("v"), &dir.path().join("g"), n, dim).unwrap();
        f32_walk.forget_codes();
        assert!(!f32_walk.walks_on_codes());
        let (mut found, mut found_f32, mut total) = (0, 0, 0);
        for qi in (0..n).step_by(31) {
            let q = perturbed(&v[qi * dim..(qi + 1) * dim], 4, 0.04);
            let exact: Vec<u32> = idx.exact(&q, 10, &|_| true).iter().map(|h| h.row).collect();
            let hits = idx.search(&q, 10, 64, &|_| true);
            assert_eq!(hits.len(), 10);
            // Re-scored from the f32 vectors: the very scores exact search gives, best first.
            for h in &hits {
                assert_eq!(h.score, dot(&q, idx.vector(h.row)), "row {}", h.row);
            }
            assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
            found += hits.iter().filter(|h| exact.contains(&h.row)).count();
            found_f32 += f32_walk.search(&q, 10, 64, &|_| true).iter().filter(|h| exact.contains(&h.row)).count();
            total += 10;
        }
        let (r, r32) = (found as f64 / total as f64, found_f32 as f64 / total as f64);
        assert!(r >= 0.99 && r >= r32 - 0.005, "recall@10 on codes {r}, on f32 {r32}");
    }

    #[test]
    fn a_graph_file_without_codes_is_walked_on_the_f32_vectors() {
        // As format 5 wrote them (SSGRAPH1): read as they are.
        let (n, dim) = (1000, 16);
        let dir = tempfile::tempdir().unwrap();
        let v = clustered_unit_vectors(n, dim, 20, 0.4, 11);
        write_vectors(&dir.path().join("v"), &v).unwrap();
        let (links, _) = build::build(&v, dim, &HnswParams::default());
        write_links(&dir.path().join("g"), &links, None).unwrap();
        let idx = AnnIndex::open(&dir.path().join("v"), &dir.path().join("g"), n, dim).unwrap();
        assert!(!idx.walks_on_codes());
        let hits = idx.search(&v[7 * dim..8 * dim], 5, 64, &|_| true);
        assert_eq!(hits[0].row, 7);
        assert!((hits[0].score - 1.0).abs() < 1e-5);
        // The same links with codes are a longer file; opening either at the wrong width fails.
        write_links(&dir.path().join("g2"), &links, Some((&v, dim))).unwrap();
        assert!(std::fs::metadata(dir.path().join("g2")).unwrap().len() >= std::fs::metadata(dir.path().join("g")).unwrap().len() + (n * dim) as u64);
        write_vectors(&dir.path().join("v2"), &v[..n * 8]).unwrap();
        let err = AnnIndex::open(&dir.path().join("v2"), &dir.path().join("g2"), n, 8).err().unwrap().to_string();
        assert!(err.contains("damaged"), "{err}");
    }

    #[test]
    fn empty_index_and_damage_detection() {
        let dir = tempfile::tempdir().unwrap();
        write_vectors(&dir.path().join("v"), &[]).unwrap();
        build_graph(&dir.path().join("g"), &[], 8, &HnswParams::default()).unwrap();
        let idx = AnnIndex::open(&dir.path().join("v"), &dir.path().join("g"), 0, 8).unwrap();
        assert!(idx.search(&[0.0; 8], 5, 64, &|_| true).is_empty());

        let (dir, _v, _idx) = build(200, 8);
        let g = dir.path().join("g");
        let bytes = std::fs::read(&g).unwrap();
        std::fs::write(&g, &bytes[..bytes.len() - 4]).unwrap();
        let err = AnnIndex::open(&dir.path().join("v"), &g, 200, 8).err().unwrap().to_string();
        assert!(err.contains("damaged"), "{err}");
        let err = AnnIndex::open(&dir.path().join("v"), &g, 201, 8).err().unwrap().to_string();
        assert!(err.contains("damaged"), "{err}");
    }

    #[test]
    fn neighbour_ids_past_the_rows_end_a_list_instead_of_panicking() {
        // Open does not scan the tables (that would read every graph whole): a search must stay
        // in bounds whatever ids a file holds. Overwrite every link of every layer with rows
        // 200..: the walk stops at the entry point and still answers.
        let (dir, v, _idx) = build(200, 8);
        let g = dir.path().join("g");
        let mut words: Vec<u32> = bytemuck::cast_slice(&std::fs::read(&g).unwrap()).to_vec();
        let (n, m0) = (words[2] as usize, words[3] as usize);
        for (i, w) in words[7..7 + n * m0].iter_mut().enumerate() {
            *w = 200 + i as u32;
        }
        std::fs::write(&g, bytemuck::cast_slice(&words)).unwrap();
        let idx = AnnIndex::open(&dir.path().join("v"), &g, 200, 8).unwrap();
        let hits = idx.search(&v[..8], 5, 64, &|_| true);
        assert_eq!(hits.len(), 1, "only the entry point is reachable");
    }
}
