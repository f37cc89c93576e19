//! Reading a committed generation: its segments opened side by side, rows numbered across them,
//! tombstones as bitsets, and search (exact or HNSW) over every segment merged into one ranking.

use super::integrity::{forget_verified, verify_files, Missing, STAMP_AFTER};
use super::manifest::{Meta, SegmentMeta};
use super::store::{DocRecord, Passage, PassageRecord, PassageStore};
use crate::ann::{AnnIndex, Hit};
use crate::error::Error;
use crate::model::ModelInfo;
use anyhow::Result;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// One segment of an open index: its passages, vectors and graph, and its tombstones as a bitset.
pub struct Segment {
    /// Its manifest entry.
    pub meta: SegmentMeta,
    /// Its first row in the index-wide row numbering.
    pub base: u32,
    /// Its documents and passages.
    pub store: PassageStore,
    /// Its vectors and graph, mapped.
    pub ann: AnnIndex,
    deleted: Vec<u64>,
}

impl Segment {
    /// Whether the segment's row `local` is tombstoned.
    pub fn is_deleted(&self, local: u32) -> bool {
        is_set(&self.deleted, local)
    }

    fn live(&self) -> usize {
        self.meta.rows - self.meta.deleted_rows()
    }
}

/// An open, committed index generation. Rows are numbered across segments (a segment's rows start
/// at its `base`); tombstoned rows are never returned.
pub struct Index {
    /// The index directory.
    pub dir: PathBuf,
    /// The manifest it was opened at.
    pub meta: Meta,
    /// Its segments, in row order.
    pub segments: Vec<Segment>,
}

impl Index {
    /// Opens the committed generation, checking the model and every file against the manifest.
    pub fn open(dir: &Path, model: &ModelInfo) -> Result<Index> {
        Self::open_with(dir, Some(model))
    }

    /// Opens the committed generation whatever model built it (for `status`).
    pub fn open_any(dir: &Path) -> Result<Index> {
        Self::open_with(dir, None)
    }

    fn open_with(dir: &Path, model: Option<&ModelInfo>) -> Result<Index> {
        match Self::open_once(dir, model) {
            // A writer committed twice while we opened: the files we read of are gone, so the
            // manifest we read is no longer current. Read the new one.
            Err(e) if e.chain().any(|c| c.downcast_ref::<Missing>().is_some()) => match Self::open_once(dir, model) {
                Err(e2) if e2.chain().any(|c| c.downcast_ref::<Missing>().is_some()) => Err(Error::damaged(dir.join("meta.json"), format!("{e2:#}"))),
                other => other,
            },
            other => other,
        }
    }

    fn open_once(dir: &Path, model: Option<&ModelInfo>) -> Result<Index> {
        let meta = Meta::read_existing(dir)?;
        if let Some(model) = model {
            meta.check_model(dir, model)?;
        }
        // Every file is checked against its recorded size and checksum before it is parsed or
        // mapped, so a damaged file is an error naming it, never a wrong answer.
        let hashed = verify_files(dir, &meta, STAMP_AFTER)?;
        let mut segments = Vec::with_capacity(meta.segments.len());
        let mut base = 0u32;
        for s in &meta.segments {
            let store = PassageStore::open(&dir.join(s.passages_file()))?;
            // Its counts against the manifest's, once per content like the checksum: a full scan of
            // the documents table, which at a million passages was most of an open.
            if hashed.contains(&s.passages_file()) {
                if let Err(e) = store.check(s.documents, s.rows) {
                    forget_verified(dir);
                    return Err(e);
                }
            }
            let ann = AnnIndex::open(&dir.join(s.vectors_file()), &dir.join(s.graph_file()), s.rows, meta.model.dimensions)?;
            let mut deleted = vec![0u64; s.rows.div_ceil(64)];
            for r in &s.deleted {
                for row in r[0]..r[0] + r[1] {
                    deleted[row as usize / 64] |= 1u64 << (row % 64);
                }
            }
            segments.push(Segment { meta: s.clone(), base, store, ann, deleted });
            base += s.rows as u32;
        }
        Ok(Index { dir: dir.to_path_buf(), meta, segments })
    }

    /// Rows in the files, tombstoned ones included (row numbers run below this).
    pub fn rows(&self) -> usize {
        self.segments.iter().map(|s| s.meta.rows).sum()
    }

    /// Passages that search can return.
    pub fn live(&self) -> usize {
        self.meta.counts.passages
    }

    /// The segment holding `row` and the row's number in it.
    pub fn locate(&self, row: u32) -> Option<(&Segment, u32)> {
        self.segment_of(row).map(|(i, local)| (&self.segments[i], local))
    }

    /// The index of the segment holding `row`, and the row's number inside it.
    fn segment_of(&self, row: u32) -> Option<(usize, u32)> {
        let i = self.segments.partition_point(|s| s.base <= row).checked_sub(1)?;
        let s = &self.segments[i];
        ((row - s.base) < s.meta.rows as u32).then_some((i, row - s.base))
    }

    /// The stored unit vector of `row`.
    pub fn vector(&self, row: u32) -> &[f32] {
        let (s, local) = self.locate(row).expect("row inside the index");
        s.ann.vector(local)
    }

    /// Whether `row` exists and is not tombstoned.
    pub fn is_live(&self, row: u32) -> bool {
        self.locate(row).is_some_and(|(s, l)| !s.is_deleted(l))
    }

    /// A live passage by row.
    pub fn passage(&self, row: u32) -> Result<Option<Passage>> {
        let Some((s, local)) = self.locate(row) else { return Ok(None) };
        if s.is_deleted(local) {
            return Ok(None);
        }
        Ok(s.store.passage(local)?.map(|mut p| {
            p.record.row = row;
            p
        }))
    }

    /// The live row of passage `id`.
    pub fn row_of_id(&self, id: &str) -> Result<Option<u32>> {
        for s in &self.segments {
            if let Some(l) = s.store.row_of_id(id)? {
                if !s.is_deleted(l) {
                    return Ok(Some(s.base + l));
                }
            }
        }
        Ok(None)
    }

    /// The first live passage of document `path` whose lines hold `line`.
    pub fn row_at_line(&self, path: &str, line: u32) -> Result<Option<u32>> {
        for s in &self.segments {
            if let Some(l) = s.store.rows_at_line(path, line)?.into_iter().find(|&l| !s.is_deleted(l)) {
                return Ok(Some(s.base + l));
            }
        }
        Ok(None)
    }

    /// Live documents, in row order, with index-wide rows.
    pub fn documents(&self) -> Result<Vec<DocRecord>> {
        self.documents_in(&|_| true)
    }

    /// The live documents of the segments `which` takes, in row order (a merge reads only the
    /// segments it rewrites).
    pub fn documents_in(&self, which: &dyn Fn(&SegmentMeta) -> bool) -> Result<Vec<DocRecord>> {
        let mut out = Vec::new();
        for s in self.segments.iter().filter(|s| which(&s.meta)) {
            for mut d in s.store.documents()? {
                if d.n_passages > 0 && s.is_deleted(d.first_row) {
                    continue;
                }
                d.first_row += s.base;
                out.push(d);
            }
        }
        Ok(out)
    }

    /// The first row of the document holding `row` (the document's identity within a
    /// generation), from the stored passage's document.
    pub fn document_first_row(&self, row: u32) -> Result<Option<u32>> {
        let Some((s, local)) = self.locate(row) else { return Ok(None) };
        Ok(s.store.first_row_of(local)?.map(|f| f + s.base))
    }

    /// The id of the document holding `row`.
    pub fn doc_id_of(&self, row: u32) -> Result<Option<String>> {
        let Some((s, local)) = self.locate(row) else { return Ok(None) };
        s.store.doc_id_of(local)
    }

    /// Live documents that have a publication date.
    pub fn dated_documents(&self) -> Result<usize> {
        let mut n = 0;
        for s in &self.segments {
            n += s.store.dated_documents()?.into_iter().filter(|&(first, len)| len == 0 || !s.is_deleted(first)).count();
        }
        Ok(n)
    }

    /// The live document with this id.
    pub fn document(&self, doc_id: &str) -> Result<Option<DocRecord>> {
        for s in self.segments.iter().rev() {
            if let Some(mut d) = s.store.document(doc_id)? {
                if d.n_passages == 0 || !s.is_deleted(d.first_row) {
                    d.first_row += s.base;
                    return Ok(Some(d));
                }
            }
        }
        Ok(None)
    }

    /// A live document's passages, with index-wide rows.
    pub fn passages_of(&self, doc: &DocRecord) -> Result<Vec<PassageRecord>> {
        let Some((s, _)) = self.locate(doc.first_row) else { return Ok(Vec::new()) };
        let mut ps = s.store.passages_of(&doc.doc_id)?;
        for p in &mut ps {
            p.row += s.base;
        }
        Ok(ps)
    }

    /// What search needs of each segment (its graph, vectors and tombstones, no SQLite handle),
    /// shareable across the rayon pool.
    fn searchable(&self) -> Vec<Searchable<'_>> {
        self.segments.iter().map(|s| Searchable { ann: &s.ann, deleted: &s.deleted, base: s.base, live: s.live() }).collect()
    }

    /// Exact search: every live vector scored; `accept` filters rows out of the results.
    pub fn exact(&self, q: &[f32], k: usize, accept: &(dyn Fn(u32) -> bool + Sync)) -> Vec<Hit> {
        let per: Vec<Vec<Hit>> = self
            .searchable()
            .par_iter()
            .map(|s| {
                let ok = |l: u32| !s.is_deleted(l) && accept(s.base + l);
                s.ann.exact(q, k, &ok).into_iter().map(|h| Hit { row: h.row + s.base, score: h.score }).collect()
            })
            .collect();
        merge_hits(per, k)
    }

    /// HNSW search of every segment's graph with beam `ef`, segments side by side on the rayon
    /// pool (a large index is several full segments). Tombstoned and rejected rows still
    /// guide the walk but the beam keeps going until it holds `ef` accepted rows, which is the
    /// over-fetching that keeps `k` results coming back; a segment whose graph still comes back
    /// short (a filter that rejects most of it) is searched exactly.
    pub fn hnsw(&self, q: &[f32], k: usize, ef: usize, accept: &(dyn Fn(u32) -> bool + Sync)) -> Vec<Hit> {
        let per: Vec<Vec<Hit>> = self
            .searchable()
            .par_iter()
            .map(|s| {
                let ok = |l: u32| !s.is_deleted(l) && accept(s.base + l);
                let mut hits = s.ann.search(q, k, ef, &ok);
                if hits.len() < k.min(s.live) {
                    hits = s.ann.exact(q, k, &ok);
                }
                hits.into_iter().map(|h| Hit { row: h.row + s.base, score: h.score }).collect()
            })
            .collect();
        merge_hits(per, k)
    }
}

impl Index {
    /// Whether every segment has the lexical index (an index from before format 4 gets it at the
    /// next `index` run, which rewrites its segments without re-embedding).
    pub fn has_lexical(&self) -> Result<bool> {
        for s in &self.segments {
            if !s.store.has_lexical()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The live rows `accept` takes among those of `split`'s rare words, with the whole query's
    /// BM25 (see `store::Selection`), unordered.
    pub fn lexical_selected(&self, split: &crate::store::Selection, accept: &dyn Fn(u32) -> bool) -> Result<Vec<Hit>> {
        let mut out = Vec::new();
        for s in &self.segments {
            for (l, score) in s.store.lexical_selected(split)? {
                if !s.is_deleted(l) && accept(s.base + l) {
                    out.push(Hit { row: s.base + l, score });
                }
            }
        }
        Ok(out)
    }

    /// The live rows holding the FTS5 query `fts` (a required phrase) in their text or their
    /// document's title.
    pub fn holding(&self, fts: &str) -> Result<std::collections::HashSet<u32>> {
        let mut out = std::collections::HashSet::new();
        for s in &self.segments {
            out.extend(s.store.holding(fts)?.into_iter().filter(|&l| !s.is_deleted(l)).map(|l| l + s.base));
        }
        Ok(out)
    }

    /// How many passages (tombstoned ones too) match the FTS5 query `fts`, in all segments.
    pub fn lexical_count(&self, fts: &str) -> Result<u64> {
        let mut n = 0;
        for s in &self.segments {
            n += s.store.lexical_count(fts)?;
        }
        Ok(n)
    }

    /// Lexical search: the best `k` live rows `accept` takes for the FTS5 query `fts`, by BM25
    /// of their text and their document's title (higher is better). Segments are scored on their own statistics; a segment holds at least
    /// tens of thousands of passages once there are several, so their scores are comparable.
    pub fn lexical(&self, fts: &str, k: usize, accept: &dyn Fn(u32) -> bool) -> Result<Vec<Hit>> {
        let mut per = Vec::with_capacity(self.segments.len());
        for s in &self.segments {
            let ok = |l: u32| !s.is_deleted(l) && accept(s.base + l);
            let hits = s.store.lexical(fts, k, &ok).map_err(|e| e.context(format!("lexical search of {}", self.dir.display())))?;
            per.push(hits.into_iter().map(|(l, score)| Hit { row: l + s.base, score }).collect());
        }
        Ok(merge_hits(per, k))
    }

    /// BM25 scores of the given rows for `fts` (rows that do not match are absent).
    pub fn lexical_scores(&self, fts: &str, rows: &[u32]) -> Result<Vec<Hit>> {
        // Each row located once, into its segment's list.
        let mut local: Vec<Vec<u32>> = vec![Vec::new(); self.segments.len()];
        for (i, l) in rows.iter().filter_map(|&r| self.segment_of(r)) {
            local[i].push(l);
        }
        let mut out = Vec::new();
        for (s, local) in self.segments.iter().zip(&local).filter(|(_, l)| !l.is_empty()) {
            for (l, score) in s.store.lexical_of(fts, local)? {
                out.push(Hit { row: l + s.base, score });
            }
        }
        Ok(out)
    }
}

struct Searchable<'a> {
    ann: &'a AnnIndex,
    deleted: &'a [u64],
    base: u32,
    live: usize,
}

impl Searchable<'_> {
    fn is_deleted(&self, local: u32) -> bool {
        is_set(self.deleted, local)
    }
}

pub(super) fn is_set(bits: &[u64], i: u32) -> bool {
    bits.get(i as usize / 64).is_some_and(|w| w & (1u64 << (i % 64)) != 0)
}

/// The best `k` of several segments' hits, best first (ties by row, as within a segment).
pub(super) fn merge_hits(per: Vec<Vec<Hit>>, k: usize) -> Vec<Hit> {
    let mut all: Vec<Hit> = per.into_iter().flatten().collect();
    all.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
    all.truncate(k);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_hits_are_the_best_k_across_segments() {
        let h = |row, score| Hit { row, score };
        let merged = merge_hits(vec![vec![h(0, 0.9), h(1, 0.5)], vec![h(10, 0.7), h(11, 0.9)]], 3);
        assert_eq!(merged, vec![h(0, 0.9), h(11, 0.9), h(10, 0.7)]);
    }
}
