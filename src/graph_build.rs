//! GraphBuilder: builds the HNSW graph (Malkov & Yashunin's algorithm, as hnswlib implements it)
//! straight into the flat neighbour tables that `ann` writes and searches.
//!
//! Why not only hnsw_rs: on 200k×384 vectors it took about 5× hnswlib's time to build, mostly in
//! per-point allocations and locks, and its graph had to be copied out point by point anyway. Here
//! neighbour lists are fixed-stride atomic arrays allocated once; a per-node mutex serialises writers
//! of a list while searches read lists lock-free (every slot always holds a valid row or NONE, so a
//! reader racing a writer sees an older or newer list, never an invalid one — the same tolerance
//! hnswlib relies on). hnsw_rs stays as the reference builder (`SEMSEARCH_GRAPH=hnsw_rs`) and the
//! tests check that both graphs answer alike.

use crate::ann::{dot, HnswParams, Scored as Near};
use rayon::prelude::*;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::Mutex;

pub const NONE: u32 = u32::MAX;

/// The built graph: each row's level and its neighbour rows per layer.
pub struct Links {
    pub levels: Vec<u8>,
    /// Layer 0, `m0` slots per row (NONE-padded).
    pub layer0: Vec<u32>,
    pub m0: usize,
    /// Layers 1..=top: the member rows (ascending) and their `m_up`-slot neighbour rows.
    pub upper: Vec<(Vec<u32>, Vec<u32>)>,
    pub m_up: usize,
    pub entry: u32,
}

impl Links {
    /// Lays out a graph given as lists: `read(layer, row, buf)` fills `buf` with `row`'s neighbours
    /// on `layer` (rows on a layer are those whose level reaches it). Each list is padded with NONE
    /// to `m0` (layer 0) or `m_up` slots; the one place that decides the tables' shape, whichever
    /// builder made the lists.
    pub fn from_lists(levels: Vec<u8>, entry: u32, m0: usize, m_up: usize, mut read: impl FnMut(usize, u32, &mut Vec<u32>)) -> Links {
        let n = levels.len();
        let top = levels.iter().copied().max().unwrap_or(0) as usize;
        let mut buf = Vec::new();
        let mut table = |rows: &[u32], layer: usize, m: usize| {
            let mut t = vec![NONE; rows.len() * m];
            for (i, &r) in rows.iter().enumerate() {
                read(layer, r, &mut buf);
                let k = buf.len().min(m);
                t[i * m..i * m + k].copy_from_slice(&buf[..k]);
            }
            t
        };
        let all: Vec<u32> = (0..n as u32).collect();
        let layer0 = table(&all, 0, m0);
        let upper = (1..=top)
            .map(|layer| {
                let ids: Vec<u32> = all.iter().copied().filter(|&r| levels[r as usize] as usize >= layer).collect();
                let t = table(&ids, layer, m_up);
                (ids, t)
            })
            .collect();
        Links { levels, layer0, m0, upper, m_up, entry }
    }
}

/// Per-thread visited marks: a tag per row, so clearing between searches is one increment.
struct Visited {
    tags: Vec<u32>,
    now: u32,
}

impl Visited {
    fn new(n: usize) -> Visited {
        Visited { tags: vec![0; n], now: 0 }
    }
    fn reset(&mut self) {
        self.now = self.now.wrapping_add(1);
        if self.now == 0 {
            self.tags.iter_mut().for_each(|t| *t = 0);
            self.now = 1;
        }
    }
    /// Marks `row`; true if it was already marked since the last reset.
    fn test_and_set(&mut self, row: u32) -> bool {
        let t = &mut self.tags[row as usize];
        let was = *t == self.now;
        *t = self.now;
        was
    }
}

struct Graph<'a> {
    vectors: &'a [f32],
    dim: usize,
    m: usize,
    m0: usize,
    levels: Vec<u8>,
    /// Layer 0: per row, a count then `m0` slots.
    layer0: Vec<AtomicU32>,
    /// Upper layers: per row with level ≥ 1, `level` blocks of (count + `m` slots), from `upper_at`.
    upper: Vec<AtomicU32>,
    upper_at: Vec<u32>,
    locks: Vec<Mutex<()>>,
    /// (entry row, its level), changed only under its own lock.
    entry: Mutex<Option<(u32, u8)>>,
}

impl Graph<'_> {
    fn vector(&self, row: u32) -> &[f32] {
        &self.vectors[row as usize * self.dim..(row as usize + 1) * self.dim]
    }

    fn dist(&self, q: &[f32], row: u32) -> f32 {
        1.0 - dot(q, self.vector(row))
    }

    /// The list (count word followed by slots) of `row` at `layer`.
    fn list(&self, layer: usize, row: u32) -> &[AtomicU32] {
        if layer == 0 {
            let s = row as usize * (self.m0 + 1);
            &self.layer0[s..s + self.m0 + 1]
        } else {
            let s = self.upper_at[row as usize] as usize + (layer - 1) * (self.m + 1);
            &self.upper[s..s + self.m + 1]
        }
    }

    fn read(&self, layer: usize, row: u32, out: &mut Vec<u32>) {
        out.clear();
        let l = self.list(layer, row);
        let count = (l[0].load(Relaxed) as usize).min(l.len() - 1);
        out.extend(l[1..=count].iter().map(|a| a.load(Relaxed)).filter(|&r| r != NONE));
    }

    fn write(&self, layer: usize, row: u32, rows: &[u32]) {
        let l = self.list(layer, row);
        for (slot, &r) in l[1..].iter().zip(rows) {
            slot.store(r, Relaxed);
        }
        l[0].store(rows.len() as u32, Relaxed);
    }

    /// Beam search on one layer from `entry`; returns up to `ef` nearest, nearest first.
    fn search_layer(&self, q: &[f32], entry: Near, ef: usize, layer: usize, vis: &mut Visited, buf: &mut Vec<u32>) -> Vec<Near> {
        vis.reset();
        vis.test_and_set(entry.1);
        let mut candidates = BinaryHeap::new();
        let mut results: BinaryHeap<Near> = BinaryHeap::new();
        candidates.push(std::cmp::Reverse(entry));
        results.push(entry);
        while let Some(std::cmp::Reverse(Near(d, row))) = candidates.pop() {
            if results.len() >= ef && d > results.peek().unwrap().0 {
                break;
            }
            self.read(layer, row, buf);
            for &nb in buf.iter() {
                if vis.test_and_set(nb) {
                    continue;
                }
                let nd = self.dist(q, nb);
                if results.len() < ef || nd < results.peek().unwrap().0 {
                    candidates.push(std::cmp::Reverse(Near(nd, nb)));
                    results.push(Near(nd, nb));
                    if results.len() > ef {
                        results.pop();
                    }
                }
            }
        }
        results.into_sorted_vec()
    }

    /// hnswlib's heuristic: walking candidates nearest first, keep one only if it is nearer to the
    /// query than to every one kept so far (spreads links across directions), up to `m`.
    fn select(&self, sorted: &[Near], m: usize) -> Vec<Near> {
        if sorted.len() <= m {
            return sorted.to_vec();
        }
        let mut kept: Vec<Near> = Vec::with_capacity(m);
        for &c in sorted {
            if kept.len() >= m {
                break;
            }
            let v = self.vector(c.1);
            if kept.iter().all(|k| self.dist(v, k.1) >= c.0) {
                kept.push(c);
            }
        }
        kept
    }

    fn insert(&self, row: u32, ef_construction: usize, vis: &mut Visited, buf: &mut Vec<u32>) {
        let level = self.levels[row as usize];
        let guard = self.entry.lock().unwrap_or_else(|e| e.into_inner());
        let Some((mut ep, top)) = *guard else {
            let mut guard = guard;
            *guard = Some((row, level));
            return;
        };
        // A node that will become the new entry keeps the entry lock for its whole insertion, so no
        // one starts from it before it has links (as hnswlib does); others release it at once.
        let held = if level > top {
            Some(guard)
        } else {
            drop(guard);
            None
        };
        let q = self.vector(row);
        let mut ep_d = self.dist(q, ep);
        for layer in (level as usize + 1..=top as usize).rev() {
            let mut changed = true;
            while changed {
                changed = false;
                self.read(layer, ep, buf);
                for &nb in buf.iter() {
                    let d = self.dist(q, nb);
                    if d < ep_d {
                        (ep, ep_d) = (nb, d);
                        changed = true;
                    }
                }
            }
        }
        let mut start = Near(ep_d, ep);
        for layer in (0..=level.min(top) as usize).rev() {
            let found = self.search_layer(q, start, ef_construction, layer, vis, buf);
            start = found[0];
            let chosen = self.select(&found, self.m);
            let mine: Vec<u32> = chosen.iter().map(|c| c.1).collect();
            {
                let _g = self.locks[row as usize].lock().unwrap_or_else(|e| e.into_inner());
                self.write(layer, row, &mine);
            }
            let cap = if layer == 0 { self.m0 } else { self.m };
            for c in &chosen {
                let _g = self.locks[c.1 as usize].lock().unwrap_or_else(|e| e.into_inner());
                self.read(layer, c.1, buf);
                if buf.contains(&row) {
                    continue;
                }
                if buf.len() < cap {
                    buf.push(row);
                    self.write(layer, c.1, buf);
                } else {
                    let v = self.vector(c.1);
                    let mut all: Vec<Near> = buf.iter().map(|&r| Near(self.dist(v, r), r)).collect();
                    all.push(Near(c.0, row));
                    all.sort_unstable();
                    let kept: Vec<u32> = self.select(&all, cap).iter().map(|k| k.1).collect();
                    self.write(layer, c.1, &kept);
                }
            }
        }
        if let Some(mut guard) = held {
            *guard = Some((row, level));
        }
    }
}

/// Level of `row`: geometric with ratio 1/M, from a hash of the row (deterministic, thread-order free).
fn level_of(row: u32, m: usize) -> u8 {
    let mut z = (row as u64).wrapping_add(0x9E37_79B9_7F4A_7C15).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let u = ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let mult = 1.0 / (m as f64).ln();
    ((-u.ln() * mult) as usize).min(15) as u8
}

/// Build the graph over `vectors` (`dim` wide, unit length) with all cores.
pub fn build(vectors: &[f32], dim: usize, params: &HnswParams) -> Links {
    let n = vectors.len() / dim.max(1);
    let m = params.m.clamp(2, crate::ann::MAX_LINKS / 2);
    let m0 = 2 * m;
    let levels: Vec<u8> = (0..n as u32).map(|r| level_of(r, m)).collect();
    let mut upper_at = vec![NONE; n];
    let mut words = 0usize;
    for (r, &l) in levels.iter().enumerate() {
        if l > 0 {
            upper_at[r] = words as u32;
            words += l as usize * (m + 1);
        }
    }
    let g = Graph {
        vectors,
        dim,
        m,
        m0,
        layer0: (0..n * (m0 + 1)).map(|_| AtomicU32::new(0)).collect(),
        upper: (0..words).map(|_| AtomicU32::new(0)).collect(),
        upper_at,
        locks: (0..n).map(|_| Mutex::new(())).collect(),
        entry: Mutex::new(None),
        levels,
    };
    let ef = params.ef_construction.max(m);
    if n > 0 {
        g.insert(0, ef, &mut Visited::new(n), &mut Vec::new());
    }
    (1..n as u32).into_par_iter().with_min_len(256).for_each_init(
        || (Visited::new(n), Vec::with_capacity(m0 + 1)),
        |(vis, buf), row| g.insert(row, ef, vis, buf),
    );

    let entry = g.entry.lock().unwrap_or_else(|e| e.into_inner()).map(|e| e.0).unwrap_or(0);
    Links::from_lists(g.levels.clone(), entry, m0, m, |layer, row, buf| g.read(layer, row, buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ann::{links_from_hnsw_rs, write_links, AnnIndex};

    fn clustered(n: usize, dim: usize) -> Vec<f32> {
        crate::ann::clustered_unit_vectors(n, dim, 40, 0.35, 0x2545_F491_4F6C_DD1D)
    }

    #[test]
    fn levels_are_deterministic_and_geometric() {
        let m = 16;
        let levels: Vec<u8> = (0..100_000u32).map(|r| level_of(r, m)).collect();
        assert_eq!(levels, (0..100_000u32).map(|r| level_of(r, m)).collect::<Vec<_>>());
        let up = levels.iter().filter(|&&l| l >= 1).count() as f64 / levels.len() as f64;
        let up2 = levels.iter().filter(|&&l| l >= 2).count() as f64 / levels.len() as f64;
        assert!((up - 1.0 / 16.0).abs() < 0.005, "share above layer 0: {up}");
        assert!((up2 - 1.0 / 256.0).abs() < 0.002, "share above layer 1: {up2}");
    }

    #[test]
    fn graph_is_well_formed() {
        let (n, dim) = (4000, 24);
        let v = clustered(n, dim);
        let links = build(&v, dim, &HnswParams::default());
        assert_eq!(links.m0, 32);
        assert_eq!(links.levels[links.entry as usize] as usize, links.upper.len(), "entry is on the top layer");
        for r in 0..n {
            let row = &links.layer0[r * links.m0..(r + 1) * links.m0];
            let real: Vec<u32> = row.iter().copied().take_while(|&x| x != NONE).collect();
            assert!(!real.is_empty(), "row {r} has no links");
            assert!(row[real.len()..].iter().all(|&x| x == NONE), "padding only at the end");
            assert!(real.iter().all(|&x| (x as usize) < n && x as usize != r), "row {r}: {real:?}");
            let mut sorted = real.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), real.len(), "row {r} links a row twice");
        }
        for (layer, (ids, table)) in links.upper.iter().enumerate() {
            assert!(ids.windows(2).all(|w| w[0] < w[1]));
            assert!(ids.iter().all(|&r| links.levels[r as usize] as usize > layer));
            assert!(table.iter().all(|&x| x == NONE || ids.binary_search(&x).is_ok()), "layer {} links outside it", layer + 1);
        }
    }

    /// Our builder's graph and hnsw_rs's graph, each written to the flat format and searched by
    /// the same routine, find the same neighbours (and both the exact ones).
    #[test]
    fn our_graph_answers_like_the_hnsw_rs_reference() {
        let (n, dim) = (5000, 32);
        let v = clustered(n, dim);
        let dir = tempfile::tempdir().unwrap();
        crate::ann::write_vectors(&dir.path().join("v"), &v).unwrap();
        let params = HnswParams::default();
        write_links(&dir.path().join("ours"), &build(&v, dim, &params)).unwrap();
        write_links(&dir.path().join("ref"), &links_from_hnsw_rs(&v, dim, &params)).unwrap();
        let ours = AnnIndex::open(&dir.path().join("v"), &dir.path().join("ours"), n, dim).unwrap();
        let reference = AnnIndex::open(&dir.path().join("v"), &dir.path().join("ref"), n, dim).unwrap();
        let (mut ours_exact, mut ref_exact, mut agree, mut total) = (0, 0, 0, 0);
        for qi in (0..n).step_by(25) {
            // A point perturbed, so the query is not itself in the index.
            let q: Vec<f32> = v[qi * dim..(qi + 1) * dim].iter().enumerate().map(|(i, x)| x + if i % 3 == 0 { 0.05 } else { 0.0 }).collect();
            let norm = q.iter().map(|a| a * a).sum::<f32>().sqrt();
            let q: Vec<f32> = q.iter().map(|a| a / norm).collect();
            let exact: Vec<u32> = ours.exact(&q, 10, &|_| true).iter().map(|h| h.row).collect();
            let a: Vec<u32> = ours.search(&q, 10, 64, &|_| true).iter().map(|h| h.row).collect();
            let b: Vec<u32> = reference.search(&q, 10, 64, &|_| true).iter().map(|h| h.row).collect();
            ours_exact += a.iter().filter(|r| exact.contains(r)).count();
            ref_exact += b.iter().filter(|r| exact.contains(r)).count();
            agree += a.iter().filter(|r| b.contains(r)).count();
            total += 10;
        }
        let f = |x: usize| x as f64 / total as f64;
        assert!(f(ours_exact) >= 0.99, "our recall@10 {}", f(ours_exact));
        assert!(f(ref_exact) >= 0.99, "hnsw_rs recall@10 {}", f(ref_exact));
        assert!(f(agree) >= 0.98, "overlap {}", f(agree));
    }
}
