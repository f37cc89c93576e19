//! Building the graph: hnsw_rs inserts every vector in parallel, as 8-bit codes (with our SIMD
//! integer `1 - dot` as its distance), then its graph is exported into the flat neighbour tables (`Links`) that the index
//! maps and searches, and checked: every row must be reachable on layer 0 from the entry point.
//!
//! hnsw_rs's parallel insertion can leave a point with no in-links (its issue #32: a thread race
//! in the reverse-neighbour update, about 1.7% of builds). A point no search can reach is a passage
//! that `ask` never returns, so `connect_unreachable` links each such row in from its nearest
//! reachable row.

use super::{dot, sq8, HnswParams};
use hnsw_rs::prelude::{Distance, Hnsw};
use rayon::prelude::*;

/// An empty slot in a neighbour table.
pub const NONE: u32 = u32::MAX;

/// The built graph: each row's level and its neighbour rows per layer.
pub struct Links {
    /// Each row's top layer (0: layer 0 only).
    pub levels: Vec<u8>,
    /// Layer 0, `m0` slots per row (NONE-padded).
    pub layer0: Vec<u32>,
    /// Slots per row on layer 0.
    pub m0: usize,
    /// Layers 1..=top: the member rows (ascending) and their `m_up`-slot neighbour rows.
    pub upper: Vec<(Vec<u32>, Vec<u32>)>,
    /// Slots per row on the upper layers.
    pub m_up: usize,
    /// The row a search starts from (on the top layer).
    pub entry: u32,
}

impl Links {
    /// Lays out a graph given as lists: `read(layer, row, buf)` fills `buf` with `row`'s neighbours
    /// on `layer` (rows on a layer are those whose level reaches it). Each list is padded with NONE
    /// to `m0` (layer 0) or `m_up` slots; the one place that decides the tables' shape.
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

    fn empty() -> Links {
        Links { levels: Vec::new(), layer0: Vec::new(), m0: 1, upper: Vec::new(), m_up: 1, entry: NONE }
    }

    /// Row `row`'s layer-0 slots.
    pub fn layer0_of(&self, row: u32) -> &[u32] {
        &self.layer0[row as usize * self.m0..(row as usize + 1) * self.m0]
    }

    /// Which rows a walk over layer 0 from the entry point reaches.
    pub fn reachable(&self) -> Vec<bool> {
        let mut seen = vec![false; self.levels.len()];
        if !seen.is_empty() {
            self.mark_reachable_from(self.entry, &mut seen);
        }
        seen
    }

    /// Marks `start` and every row a layer-0 walk from it reaches through rows not yet marked.
    fn mark_reachable_from(&self, start: u32, seen: &mut [bool]) {
        seen[start as usize] = true;
        let mut stack = vec![start];
        while let Some(r) = stack.pop() {
            for &nb in self.layer0_of(r) {
                if nb != NONE && !std::mem::replace(&mut seen[nb as usize], true) {
                    stack.push(nb);
                }
            }
        }
    }
}

/// The graph over `vectors` (`dim` wide, unit length), built by hnsw_rs on all cores, exported
/// and made fully reachable. Returns it with the number of rows `connect_unreachable` linked in.
pub fn build(vectors: &[f32], dim: usize, params: &HnswParams) -> (Links, usize) {
    let n = vectors.len() / dim.max(1);
    if n == 0 {
        return (Links::empty(), 0);
    }
    let m = params.m.clamp(2, super::MAX_LINKS / 2);
    // Built on 8-bit codes under one scale (`sq8::uniform_codes`, an exact integer product): a
    // build spends its time waiting for the vectors of the points it scores, and codes are a
    // quarter of the bytes. 200k synthetic vectors, paired: 92.2 / 81.5 s against 127.7 / 118.7 s
    // on f32, recall@10 at ef 64 the same (README, "Speed"). Points refer to the codes instead
    // of each keeping a copy (`vendor/hnsw_rs/PATCH.md`). The export's thinning and repair below
    // measure in f32.
    let (codes, scale) = sq8::uniform_codes(vectors, dim);
    let hnsw: Hnsw<i8, CodeCosine> = Hnsw::new(m, n, 16, params.ef_construction.max(m), CodeCosine { unit: scale * scale });
    let data: Vec<(&[i8], usize)> = codes.chunks_exact(dim).enumerate().map(|(i, v)| (v, i)).collect();
    hnsw.parallel_insert_borrowed(&data);
    let mut links = export(&hnsw, n);
    drop(hnsw);
    diversify_full_lists(&mut links, vectors, dim);
    let linked = connect_unreachable(&mut links, vectors, dim);
    (links, linked)
}

/// `1 - a·b` on codes under one scale (`sq8::uniform_codes`), never negative.
#[derive(Clone, Copy)]
struct CodeCosine {
    /// The scale squared: what one unit of the integer product is worth.
    unit: f32,
}

impl Distance<i8> for CodeCosine {
    fn eval(&self, a: &[i8], b: &[i8]) -> f32 {
        (1.0 - sq8::dot_codes(a, b) as f32 * self.unit).max(0.0)
    }
}

/// When another row links back to a row whose layer-0 list is full, hnsw_rs drops the farthest of
/// its neighbours (its "simple" reverse update), so a full list ends up as the row's 2M nearest rows,
/// crowded into one direction: a search scores many near-duplicates at every hop. hnswlib shrinks an
/// overflowing list with its neighbour heuristic instead (keep a candidate only if it is nearer to
/// the row than to every neighbour kept so far). Full lists are thinned that way here, in parallel.
fn diversify_full_lists(links: &mut Links, vectors: &[f32], dim: usize) {
    let vector = |r: u32| &vectors[r as usize * dim..(r as usize + 1) * dim];
    let m0 = links.m0;
    links.layer0.par_chunks_mut(m0).enumerate().for_each(|(row, slots)| {
        if slots.contains(&NONE) {
            return;
        }
        let v = vector(row as u32);
        let mut near: Vec<(f32, u32)> = slots.iter().map(|&c| (1.0 - dot(v, vector(c)), c)).collect();
        near.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut kept: Vec<u32> = Vec::with_capacity(m0);
        for (d, c) in near {
            let cv = vector(c);
            if kept.iter().all(|&k| 1.0 - dot(cv, vector(k)) >= d) {
                kept.push(c);
            }
        }
        slots.fill(NONE);
        slots[..kept.len()].copy_from_slice(&kept);
    });
}

/// Copies hnsw_rs's graph out point by point (its rows are our data ids). A list on layer l keeps
/// only rows that are on layer l: hnsw_rs can leave a lower-level row in an upper list, where the
/// flat format has no links for it.
fn export<T: Clone + Send + Sync, D: Distance<T> + Send + Sync>(hnsw: &Hnsw<T, D>, n: usize) -> Links {
    let mut levels = vec![0u8; n];
    for point in hnsw.get_point_indexation() {
        levels[point.get_origin_id()] = point.get_point_id().0;
    }
    let mut lists: Vec<Vec<Vec<u32>>> = vec![Vec::new(); n];
    for point in hnsw.get_point_indexation() {
        let row = point.get_origin_id();
        lists[row] = point
            .get_neighborhood_id()
            .into_iter()
            .take(levels[row] as usize + 1)
            .enumerate()
            .map(|(layer, list)| {
                let mut ids: Vec<u32> = Vec::with_capacity(list.len());
                for nb in list {
                    let id = nb.get_origin_id();
                    if id != row && levels[id] as usize >= layer && !ids.contains(&(id as u32)) {
                        ids.push(id as u32);
                    }
                }
                ids
            })
            .collect();
    }
    let top = *levels.iter().max().unwrap_or(&0) as usize;
    let entry = levels.iter().position(|&l| l as usize == top).unwrap_or(0) as u32;
    let width = |layer: usize| lists.iter().filter_map(|l| l.get(layer)).map(|v| v.len()).max().unwrap_or(0).max(1);
    let (m0, m_up) = (width(0), (1..=top).map(width).max().unwrap_or(1));
    Links::from_lists(levels, entry, m0, m_up, |layer, row, buf| {
        buf.clear();
        buf.extend(lists[row as usize].get(layer).into_iter().flatten());
    })
}

/// Links every row that a layer-0 walk from the entry point cannot reach into the graph, and
/// returns how many needed it. Each unreachable row gets an in-link from its nearest reachable row
/// (exact scan: these rows are few): into a free slot where that row has one, else in place of its
/// farthest link, but only if no row loses its path from the entry point by it (checked by a walk,
/// and undone otherwise), so a repair never cuts another row off and one pass suffices. Whatever the
/// new link makes reachable is marked before the next row is handled.
pub fn connect_unreachable(links: &mut Links, vectors: &[f32], dim: usize) -> usize {
    let n = links.levels.len();
    let mut seen = links.reachable();
    let missing: Vec<u32> = (0..n as u32).filter(|&r| !seen[r as usize]).collect();
    let vector = |r: u32| &vectors[r as usize * dim..(r as usize + 1) * dim];
    let mut linked = 0;
    for &row in &missing {
        if seen[row as usize] {
            continue; // reached through a row linked in before it
        }
        let q = vector(row);
        // Reachable rows, nearest first.
        let mut near: Vec<(f32, u32)> = (0..n as u32).into_par_iter().filter(|&r| seen[r as usize]).map(|r| (dot(q, vector(r)), r)).collect();
        // Only the nearest few are sorted (one of them nearly always has a free slot); all if not.
        let nearest_first = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        let few = near.len().min(64);
        if few > 0 {
            near.select_nth_unstable_by(few - 1, nearest_first);
        }
        near[..few].sort_unstable_by(nearest_first);
        let m0 = links.m0;
        let free_in = |links: &Links, near: &[(f32, u32)]| {
            near.iter().find_map(|&(_, from)| {
                let slots = &links.layer0[from as usize * m0..(from as usize + 1) * m0];
                slots.iter().position(|&s| s == NONE).map(|i| from as usize * m0 + i)
            })
        };
        let mut free = free_in(links, &near[..few]);
        if free.is_none() && few < near.len() {
            near.sort_unstable_by(nearest_first);
            free = free_in(links, &near);
        }
        let done = match free {
            Some(at) => {
                links.layer0[at] = row;
                true
            }
            None => replace_farthest_link(links, &near, row, &vector, &seen),
        };
        if done {
            linked += 1;
            // Everything reachable from the newly linked row is reachable now.
            links.mark_reachable_from(row, &mut seen);
        }
    }
    linked
}

/// Links `row` in from the first of `candidates` (reachable rows, nearest first) whose farthest
/// link can give way without any reachable row losing its path; false if none can. Each try is
/// checked by a walk over layer 0, so this is for the rare row whose candidates have no free slot.
fn replace_farthest_link<'v>(links: &mut Links, candidates: &[(f32, u32)], row: u32, vector: &impl Fn(u32) -> &'v [f32], seen: &[bool]) -> bool {
    let m0 = links.m0;
    for &(_, from) in candidates.iter().take(64) {
        let base = from as usize * m0;
        let from_v = vector(from);
        let farthest = (0..m0)
            .filter(|&i| links.layer0[base + i] != NONE)
            .min_by(|&a, &b| dot(from_v, vector(links.layer0[base + a])).total_cmp(&dot(from_v, vector(links.layer0[base + b]))));
        let Some(i) = farthest else { continue };
        let old = links.layer0[base + i];
        links.layer0[base + i] = row;
        let now = links.reachable();
        if seen.iter().zip(&now).all(|(&before, &after)| !before || after) {
            return true;
        }
        links.layer0[base + i] = old;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ann::{clustered_unit_vectors, write_links, write_vectors, AnnIndex, UnitCosine};

    /// After links were cut: each layer-0 list's padding moved back to its end, as the format requires.
    fn pad_at_the_end(links: &mut Links) {
        for row in links.layer0.chunks_exact_mut(links.m0) {
            let mut real: Vec<u32> = row.iter().copied().filter(|&x| x != NONE).collect();
            real.resize(row.len(), NONE);
            row.copy_from_slice(&real);
        }
    }

    fn clustered(n: usize, dim: usize) -> Vec<f32> {
        clustered_unit_vectors(n, dim, 40, 0.35, 0x2545_F491_4F6C_DD1D)
    }

    #[test]
    fn exported_graph_is_well_formed_and_fully_reachable() {
        let (n, dim) = (4000, 24);
        let v = clustered(n, dim);
        let (links, _) = build(&v, dim, &HnswParams::default());
        assert!(links.m0 <= 32 && links.m0 >= 16, "layer 0 width {}", links.m0);
        assert_eq!(links.levels[links.entry as usize] as usize, links.upper.len(), "entry is on the top layer");
        assert!(links.reachable().iter().all(|&r| r), "every row reachable after the build");
        for r in 0..n {
            let row = links.layer0_of(r as u32);
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

    /// Cut every in-link of some layer-0 rows: search can no longer find them; after the repair
    /// every row is reachable and each cut row is its own vector's nearest hit again.
    #[test]
    fn repair_links_in_rows_that_nothing_reaches() {
        let (n, dim) = (3000, 32);
        let v = clustered(n, dim);
        let (mut links, _) = build(&v, dim, &HnswParams::default());
        let cut: Vec<u32> = (0..n as u32).filter(|&r| links.levels[r as usize] == 0 && r != links.entry).step_by(397).take(5).collect();
        assert_eq!(cut.len(), 5);
        for slot in links.layer0.iter_mut() {
            if cut.contains(slot) {
                *slot = NONE;
            }
        }
        pad_at_the_end(&mut links);
        let reach = links.reachable();
        assert!(cut.iter().all(|&r| !reach[r as usize]), "the cut rows are unreachable");
        let dir = tempfile::tempdir().unwrap();
        write_vectors(&dir.path().join("v"), &v).unwrap();
        let open = |links: &Links, name: &str| {
            write_links(&dir.path().join(name), links, Some((&v, dim))).unwrap();
            AnnIndex::open(&dir.path().join("v"), &dir.path().join(name), n, dim).unwrap()
        };
        let before = open(&links, "before");
        for &r in &cut {
            let hits = before.search(&v[r as usize * dim..(r as usize + 1) * dim], 10, 64, &|_| true);
            assert!(hits.iter().all(|h| h.row != r), "row {r} found although nothing links to it");
        }
        let linked = connect_unreachable(&mut links, &v, dim);
        assert!(linked >= cut.len(), "linked {linked}");
        assert!(links.reachable().iter().all(|&r| r));
        let after = open(&links, "after");
        for &r in &cut {
            let hits = after.search(&v[r as usize * dim..(r as usize + 1) * dim], 10, 64, &|_| true);
            assert_eq!(hits[0].row, r, "row {r} is its own nearest neighbour once linked in");
        }
    }

    /// The exported graph, searched by our routine, agrees with exact search and with hnsw_rs's
    /// own search over the same graph.
    #[test]
    fn exported_graph_answers_like_hnsw_rs_and_exact() {
        let (n, dim) = (3000, 32);
        let v = clustered(n, dim);
        let params = HnswParams::default();
        let hnsw: Hnsw<f32, UnitCosine> = Hnsw::new(params.m, n, 16, params.ef_construction, UnitCosine);
        let data: Vec<(&[f32], usize)> = v.chunks_exact(dim).enumerate().map(|(i, x)| (x, i)).collect();
        hnsw.parallel_insert_slice(&data);
        let mut links = export(&hnsw, n);
        connect_unreachable(&mut links, &v, dim);
        let dir = tempfile::tempdir().unwrap();
        write_vectors(&dir.path().join("v"), &v).unwrap();
        write_links(&dir.path().join("g"), &links, Some((&v, dim))).unwrap();
        let idx = AnnIndex::open(&dir.path().join("v"), &dir.path().join("g"), n, dim).unwrap();
        let (mut agree_exact, mut agree_lib, mut total) = (0, 0, 0);
        for qi in (0..n).step_by(25) {
            // A point perturbed, so the query is not itself in the index.
            let q = crate::ann::perturbed(&v[qi * dim..(qi + 1) * dim], 3, 0.05);
            let exact: Vec<u32> = idx.exact(&q, 10, &|_| true).iter().map(|h| h.row).collect();
            let ours: Vec<u32> = idx.search(&q, 10, 64, &|_| true).iter().map(|h| h.row).collect();
            let lib: Vec<u32> = hnsw.search(&q, 10, 64).iter().map(|nb| nb.d_id as u32).collect();
            agree_exact += ours.iter().filter(|r| exact.contains(r)).count();
            agree_lib += ours.iter().filter(|r| lib.contains(r)).count();
            total += 10;
        }
        let (re, rl) = (agree_exact as f64 / total as f64, agree_lib as f64 / total as f64);
        assert!(re >= 0.99, "recall@10 vs exact {re}");
        assert!(rl >= 0.98, "overlap with hnsw_rs's own search {rl}");
    }

    /// Tiny graphs (a segment of a few passages) with links cut at random: the repair ends, never
    /// cuts off a row that was reachable, and links in what it can. (The earlier version, which
    /// replaced links on a guess and then started over, recursed forever on some 8-row graphs.)
    #[test]
    fn repair_ends_and_never_cuts_a_reachable_row_on_tiny_graphs() {
        for n in 2..40usize {
            let dim = 8;
            let v = clustered_unit_vectors(n, dim, 3, 0.2, n as u64 * 7919);
            let (mut links, _) = build(&v, dim, &HnswParams::default());
            assert!(links.reachable().iter().all(|&r| r), "n={n}: the build itself leaves every row reachable");
            // Cut every other link.
            for (i, slot) in links.layer0.iter_mut().enumerate() {
                if i % 2 == 0 && *slot != NONE && *slot != links.entry {
                    *slot = NONE;
                }
            }
            pad_at_the_end(&mut links);
            let before = links.reachable();
            connect_unreachable(&mut links, &v, dim);
            let after = links.reachable();
            assert!(before.iter().zip(&after).all(|(&b, &a)| !b || a), "n={n}: a reachable row was cut off");
            assert!(after.iter().all(|&r| r), "n={n}: tiny graphs have free slots for every repair");
        }
    }
}
