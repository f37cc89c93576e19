//! Merging: the live rows of segments copied, document by document, into as few new segments as
//! they fill (vectors copied, nothing embedded), for the merge policy of a run (`run`) and for
//! `semsearch compact`. The graphs are built afresh by the caller.

use super::{BuildOptions, Summary};
use crate::ann::HnswParams;
use crate::index::{commit, next_free_segment, Index, Meta, SegmentsWriter, WriterLock, WrittenSegment, FORMAT_VERSION};
use crate::model::ModelInfo;
use anyhow::{Context, Result};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Instant;

/// What a merge takes of the previous generation: the live documents of its segments numbered in
/// `segments`, minus those starting at a row in `skip` (documents this run retired).
pub(super) struct FromPrevious<'a> {
    pub index: &'a Index,
    pub segments: HashSet<u64>,
    pub skip: HashSet<u32>,
}

/// Writes segments from `id` on (each at most `SEGMENT_ROWS` rows) from the documents `prev`
/// gives followed by those of `extra` (segments this run wrote), one document at a time: vectors
/// are copied, nothing is embedded. Graphs are left to the caller.
pub(super) fn merge(dir: &Path, id: u64, dim: usize, prev: Option<FromPrevious>, extra: &[WrittenSegment], opts: &BuildOptions) -> Result<Vec<WrittenSegment>> {
    let spinner = crate::progress::spinner("merging segments", opts.quiet);
    let mut w = SegmentsWriter::create(dir, id, dim, opts.segment_rows)?;
    if let Some(FromPrevious { index: prev, segments, skip }) = prev.filter(|p| !p.segments.is_empty()) {
        for d in prev.documents_in(&|s| segments.contains(&s.id))? {
            if skip.contains(&d.first_row) {
                continue;
            }
            let (s, local) = prev.locate(d.first_row).context("a document lies outside the index")?;
            let passages = prev.passages_of(&d)?;
            let vectors = s.ann.vectors(local, d.n_passages);
            w.add(d, passages, vectors)?;
        }
    }
    for x in extra {
        let (store, map) = x.open()?;
        let floats: &[f32] = if map.is_empty() { &[] } else { bytemuck::cast_slice(&map[..]) };
        let superseded: HashSet<u32> = x.meta.deleted.iter().map(|r| r[0]).collect();
        for d in store.documents()? {
            if superseded.contains(&d.first_row) {
                continue;
            }
            let passages = store.passages_of(&d.doc_id)?;
            let (a, b) = (d.first_row as usize * dim, (d.first_row + d.n_passages) as usize * dim);
            w.add(d, passages, &floats[a..b])?;
        }
    }
    let done = w.finish()?;
    spinner.finish_and_clear();
    Ok(done)
}

/// Merges every segment of the committed index (into one per `SEGMENT_ROWS` rows), dropping tombstoned rows and building
/// the graph afresh from the stored vectors (nothing is embedded).
pub fn compact(dir: &Path, model: &ModelInfo, hnsw: &HnswParams, quiet: bool) -> Result<Summary> {
    let started = Instant::now();
    let _lock = WriterLock::acquire(dir, quiet)?;
    let p = Index::open(dir, model)?;
    let id = next_free_segment(dir, p.meta.next_segment);
    let was_tombstoned = p.meta.deleted_rows();
    let opts = BuildOptions { hnsw: *hnsw, quiet, ..BuildOptions::default() };
    let all = FromPrevious { index: &p, segments: p.meta.segments.iter().map(|s| s.id).collect(), skip: HashSet::new() };
    let merged = merge(dir, id, p.meta.model.dimensions, Some(all), &[], &opts)?;
    let next_segment = merged.last().map(|w| w.meta.id + 1).unwrap_or(id + 1);
    let (mut segments, mut files, mut graph_seconds) = (Vec::new(), BTreeMap::new(), 0.0);
    for w in merged {
        let (seg, sums, secs) = w.build_graph(hnsw, quiet)?;
        segments.push(seg);
        files.extend(sums);
        graph_seconds += secs;
    }
    let meta = Meta {
        format_version: FORMAT_VERSION,
        generation: p.meta.generation + 1,
        model: p.meta.model.clone(),
        chunking: p.meta.chunking,
        hnsw: *hnsw,
        shard: p.meta.shard,
        counts: p.meta.counts.clone(),
        next_segment,
        segments,
        files,
        checksum: String::new(),
    };
    let prev_meta = p.meta.clone();
    drop(p);
    commit(dir, &meta, Some(&prev_meta))?;
    Ok(Summary {
        documents: meta.counts.documents,
        passages: meta.counts.passages,
        documents_unchanged: meta.counts.documents,
        passages_tombstoned: was_tombstoned,
        compacted: true,
        segments: meta.segments.len(),
        graph_seconds,
        seconds: started.elapsed().as_secs_f64(),
        ..Summary::default()
    })
}
