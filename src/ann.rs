//! AnnIndex: nearest passages by cosine, over memory-mapped vectors and graph.
//!
//! hnsw_rs builds the HNSW graph. We then export the graph it built into flat, fixed-stride arrays
//! (one neighbour table per layer) and search those with a small routine here: opening an index is
//! then a memory map, not a parse, and a search walks contiguous memory without locks. Vectors are
//! unit length, so cosine similarity is a dot product and the distance is `1 - dot`, clamped at 0:
//! hnsw_rs's `DistDot` asserts on the tiny negative values f32 rounding gives for near-identical
//! vectors, and panics.

use anyhow::{bail, Context, Result};
use hnsw_rs::prelude::{Distance, Hnsw};
use memmap2::Mmap;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

const GRAPH_MAGIC: &[u8; 8] = b"SSGRAPH1";
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct HnswParams {
    /// Links per point on the upper layers (layer 0 gets twice as many).
    pub m: usize,
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

/// Dot product written so the compiler vectorises it (eight independent accumulators).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
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

/// Write `vectors` (row-major, `dim` wide) as raw little-endian f32.
pub fn write_vectors(path: &Path, vectors: &[f32]) -> Result<()> {
    let mut f = BufWriter::new(File::create(path).with_context(|| format!("cannot create {}", path.display()))?);
    f.write_all(bytemuck::cast_slice(vectors))?;
    let f = f.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    Ok(())
}

/// Build the HNSW graph over `vectors` with hnsw_rs and write it in our flat format.
pub fn build_graph(path: &Path, vectors: &[f32], dim: usize, params: &HnswParams) -> Result<()> {
    let n = vectors.len() / dim.max(1);
    let mut out = BufWriter::new(File::create(path).with_context(|| format!("cannot create {}", path.display()))?);
    out.write_all(GRAPH_MAGIC)?;
    if n == 0 {
        for v in [0u32, 0, 0, 0, NONE] {
            out.write_all(&v.to_le_bytes())?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        return Ok(());
    }
    let hnsw: Hnsw<f32, UnitCosine> = Hnsw::new(params.m, n, 16, params.ef_construction, UnitCosine);
    let data: Vec<(&[f32], usize)> = vectors.chunks_exact(dim).enumerate().map(|(i, v)| (v, i)).collect();
    hnsw.parallel_insert_slice(&data);

    // Gather every point's level and per-layer neighbour rows.
    let mut levels = vec![0u8; n];
    let mut links: Vec<Vec<Vec<u32>>> = vec![Vec::new(); n];
    for point in hnsw.get_point_indexation() {
        let row = point.get_origin_id();
        let level = point.get_point_id().0;
        levels[row] = level;
        links[row] = point
            .get_neighborhood_id()
            .into_iter()
            .take(level as usize + 1)
            .map(|layer| layer.iter().map(|nb| nb.get_origin_id() as u32).collect())
            .collect();
    }
    drop(hnsw);
    let top = *levels.iter().max().unwrap_or(&0) as usize;
    let entry = levels.iter().position(|&l| l as usize == top).unwrap_or(0) as u32;
    let width = |layer: usize| {
        links.iter().filter_map(|l| l.get(layer)).map(|v| v.len()).max().unwrap_or(0).max(1)
    };
    let m0 = width(0);
    let m_up = (1..=top).map(width).max().unwrap_or(1);
    for v in [n as u32, m0 as u32, m_up as u32, top as u32, entry] {
        out.write_all(&v.to_le_bytes())?;
    }
    let write_row = |out: &mut BufWriter<File>, nb: Option<&Vec<u32>>, m: usize| -> Result<()> {
        let nb = nb.map(|v| v.as_slice()).unwrap_or(&[]);
        for i in 0..m {
            out.write_all(&nb.get(i).copied().unwrap_or(NONE).to_le_bytes())?;
        }
        Ok(())
    };
    for l in &links {
        write_row(&mut out, l.first(), m0)?;
    }
    for layer in 1..=top {
        let ids: Vec<u32> = (0..n as u32).filter(|&r| levels[r as usize] as usize >= layer).collect();
        out.write_all(&(ids.len() as u32).to_le_bytes())?;
        for id in &ids {
            out.write_all(&id.to_le_bytes())?;
        }
        for id in &ids {
            write_row(&mut out, links[*id as usize].get(layer), m_up)?;
        }
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
struct Scored(f32, u32);

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
}

/// A search hit: vector row and cosine similarity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub row: u32,
    pub score: f32,
}

impl AnnIndex {
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
        if graph.len() < 28 || &graph[..8] != GRAPH_MAGIC || graph.len() % 4 != 0 {
            return Err(damaged());
        }
        let words: &[u32] = bytemuck::cast_slice(&graph[..]);
        let (gn, m0, m_up, top, entry) =
            (words[2] as usize, words[3] as usize, words[4] as usize, words[5] as usize, words[6]);
        if gn != n {
            return Err(damaged());
        }
        let mut pos = 7 + n * m0;
        let mut layers = Vec::with_capacity(top);
        for _ in 0..top {
            let count = *words.get(pos).ok_or_else(damaged)? as usize;
            layers.push(UpperLayer { ids: pos + 1, table: pos + 1 + count, count });
            pos += 1 + count + count * m_up;
        }
        if pos != words.len() || (n > 0 && entry as usize >= n) {
            return Err(damaged());
        }
        if words[7..7 + n * m0].iter().any(|&r| r != NONE && r as usize >= n) {
            return Err(damaged());
        }
        Ok(AnnIndex { vectors, graph, n, dim, m0, m_up, entry, layers })
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn vector(&self, row: u32) -> &[f32] {
        let all: &[f32] = bytemuck::cast_slice(&self.vectors[..]);
        &all[row as usize * self.dim..(row as usize + 1) * self.dim]
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
    /// rejects still guide the walk but never appear in the results.
    pub fn search(&self, q: &[f32], k: usize, ef: usize, accept: &dyn Fn(u32) -> bool) -> Vec<Hit> {
        if self.n == 0 || k == 0 {
            return Vec::new();
        }
        let dist = |row: u32| 1.0 - dot(q, self.vector(row));
        let mut ep = self.entry;
        let mut ep_d = dist(ep);
        for layer in (1..=self.layers.len()).rev() {
            let mut changed = true;
            while changed {
                changed = false;
                for &nb in self.neighbours(layer, ep) {
                    if nb == NONE {
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
        while let Some(std::cmp::Reverse(Scored(d, row))) = candidates.pop() {
            if results.len() >= ef && d > results.peek().unwrap().0 {
                break;
            }
            for &nb in self.neighbours(0, row) {
                if nb == NONE {
                    break;
                }
                if seen(nb) {
                    continue;
                }
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
        let mut hits: Vec<Hit> = results.into_iter().map(|s| Hit { row: s.1, score: 1.0 - s.0 }).collect();
        sort_hits(&mut hits);
        hits.truncate(k);
        hits
    }
}

/// Best first; equal scores by row so results are deterministic.
fn sort_hits(hits: &mut [Hit]) {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic unit vectors in clusters (an xorshift generator; no external seed needed).
    fn clustered(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
        };
        let centres: Vec<Vec<f32>> = (0..20).map(|_| (0..dim).map(|_| next()).collect()).collect();
        let mut v = Vec::with_capacity(n * dim);
        for i in 0..n {
            let c = &centres[i % centres.len()];
            let mut x: Vec<f32> = c.iter().map(|&c| c + 0.4 * next()).collect();
            let norm = x.iter().map(|a| a * a).sum::<f32>().sqrt();
            x.iter_mut().for_each(|a| *a /= norm);
            v.extend(x);
        }
        v
    }

    fn build(n: usize, dim: usize) -> (tempfile::TempDir, Vec<f32>, AnnIndex) {
        let dir = tempfile::tempdir().unwrap();
        let v = clustered(n, dim, 0x9e3779b97f4a7c15);
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
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.1).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.05).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-4);
    }

    #[test]
    fn graph_search_agrees_with_exact_and_with_hnsw_rs() {
        let (n, dim) = (3000, 32);
        let (_dir, v, idx) = build(n, dim);
        let hnsw: Hnsw<f32, UnitCosine> = Hnsw::new(16, n, 16, 200, UnitCosine);
        let data: Vec<(&[f32], usize)> = v.chunks_exact(dim).enumerate().map(|(i, x)| (x, i)).collect();
        hnsw.parallel_insert_slice(&data);
        let (mut agree_exact, mut agree_lib, mut total) = (0, 0, 0);
        for qi in (0..n).step_by(37) {
            let q = &v[qi * dim..(qi + 1) * dim];
            let exact: Vec<u32> = idx.exact(q, 10, &|_| true).iter().map(|h| h.row).collect();
            let ours: Vec<u32> = idx.search(q, 10, 64, &|_| true).iter().map(|h| h.row).collect();
            let lib: Vec<u32> = hnsw.search(q, 10, 64).iter().map(|nb| nb.d_id as u32).collect();
            assert_eq!(exact[0], qi as u32, "a vector is its own nearest neighbour");
            agree_exact += ours.iter().filter(|r| exact.contains(r)).count();
            agree_lib += ours.iter().filter(|r| lib.contains(r)).count();
            total += 10;
        }
        let (re, rl) = (agree_exact as f64 / total as f64, agree_lib as f64 / total as f64);
        assert!(re >= 0.99, "recall@10 vs exact {re}");
        assert!(rl >= 0.98, "overlap with hnsw_rs's own search {rl}");
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
}
