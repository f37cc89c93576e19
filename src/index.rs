//! Index on disk: immutable generation files plus a small `meta.json` swapped atomically on commit.
//!
//! ```text
//! .semsearch/
//!   meta.json              format version, model, chunking, counts, and which files are current
//!   passages-<G>.sqlite    documents and passages (text, lines, bytes, ids)
//!   vectors-<G>.f32        row-major unit vectors, raw little-endian f32 (memory-mapped)
//!   graph-<G>.bin          HNSW neighbour tables (memory-mapped)
//!   lock                   held by the one writer
//! ```
//!
//! A writer builds generation G+1 in new files, fsyncs them, then renames `meta.json.tmp` over
//! `meta.json`. Until that rename, readers and a crash both see generation G; after it, G+1. The
//! generation before the current one is kept so a reader that read the old `meta.json` a moment
//! before the swap can still open its files.

use crate::ann::{self, AnnIndex, HnswParams};
use crate::chunk::{ChunkParams, Chunker};
use crate::embed::Embedder;
use crate::ingest::{Document, Ingested};
use crate::model::{ModelInfo, Pooling};
use crate::store::{DocRecord, PassageRecord, PassageStore};
use anyhow::{bail, Context, Result};
use fs2::FileExt;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub const FORMAT_VERSION: u32 = 1;
pub const DEFAULT_DIR: &str = ".semsearch";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelMeta {
    pub name: String,
    pub weights_sha256: String,
    pub dimensions: usize,
    pub max_tokens: usize,
    pub pooling: Pooling,
}

impl From<&ModelInfo> for ModelMeta {
    fn from(m: &ModelInfo) -> Self {
        ModelMeta {
            name: m.name.clone(),
            weights_sha256: m.weights_sha256.clone(),
            dimensions: m.dimensions,
            max_tokens: m.max_tokens,
            pooling: m.pooling,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Counts {
    pub documents: usize,
    pub passages: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub format_version: u32,
    pub generation: u64,
    pub model: ModelMeta,
    pub chunking: ChunkParams,
    pub hnsw: HnswParams,
    pub counts: Counts,
    pub passages_file: String,
    pub vectors_file: String,
    pub graph_file: String,
}

impl Meta {
    pub fn read(dir: &Path) -> Result<Option<Meta>> {
        let path = dir.join("meta.json");
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let damaged = |why: String| {
            anyhow::Error::new(DamagedMeta(format!(
                "{}: {why}; the index is damaged, re-run `semsearch index` to rebuild it",
                path.display()
            )))
        };
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| damaged(format!("not valid JSON ({e})")))?;
        let Some(version) = v["format_version"].as_u64() else {
            return Err(damaged("no format_version".into()));
        };
        if version != FORMAT_VERSION as u64 {
            // Never rebuilt silently: it may be a newer semsearch's index.
            bail!(
                "{}: index format version {version}, this semsearch reads version {FORMAT_VERSION}; delete {} and re-run `semsearch index`",
                path.display(),
                dir.display()
            );
        }
        let meta: Meta = serde_json::from_value(v).map_err(|e| damaged(format!("unexpected contents ({e})")))?;
        Ok(Some(meta))
    }

    fn check_model(&self, dir: &Path, model: &ModelInfo) -> Result<()> {
        if self.model.weights_sha256 != model.weights_sha256 || self.model.dimensions != model.dimensions {
            bail!(
                "index {} was built with model {} ({}…), not {} ({}…); use the same --model, or another --index, or delete {} to rebuild",
                dir.display(),
                self.model.name,
                &self.model.weights_sha256[..12.min(self.model.weights_sha256.len())],
                model.name,
                &model.weights_sha256[..12.min(model.weights_sha256.len())],
                dir.display()
            );
        }
        Ok(())
    }
}

/// The manifest exists but cannot be understood. Unlike an index of another format version, a
/// damaged one is rebuilt by the next `index` run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DamagedMeta(String);

/// An open, committed index generation.
pub struct Index {
    pub dir: PathBuf,
    pub meta: Meta,
    pub store: PassageStore,
    pub ann: AnnIndex,
}

impl Index {
    pub fn open(dir: &Path, model: &ModelInfo) -> Result<Index> {
        let meta = Meta::read(dir)?.with_context(|| {
            format!("no index in {}; build one with `semsearch index PATH...` (or pass --index DIR)", dir.display())
        })?;
        meta.check_model(dir, model)?;
        let store = PassageStore::open(&dir.join(&meta.passages_file))?;
        store.check(meta.counts.documents, meta.counts.passages)?;
        let ann = AnnIndex::open(
            &dir.join(&meta.vectors_file),
            &dir.join(&meta.graph_file),
            meta.counts.passages,
            meta.model.dimensions,
        )?;
        Ok(Index { dir: dir.to_path_buf(), meta, store, ann })
    }
}

/// What an `index` run did.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub files: usize,
    pub skipped: usize,
    pub documents: usize,
    pub passages: usize,
    pub documents_added: usize,
    pub documents_updated: usize,
    pub documents_removed: usize,
    pub documents_unchanged: usize,
    pub passages_embedded: usize,
    /// Word pieces the model ran over (special tokens included, truncated at the window).
    pub tokens_embedded: usize,
    pub embed_seconds: f64,
    pub graph_seconds: f64,
    pub seconds: f64,
}

/// A prepared document: its passages' ranges and, once known, their vectors' source.
struct Prepared<'a> {
    doc: &'a Document,
    hash: String,
    chunks: Vec<crate::chunk::Chunk>,
}

pub struct BuildOptions {
    pub chunking: ChunkParams,
    pub hnsw: HnswParams,
    pub quiet: bool,
}

/// Holds the writer lock for the index directory while alive.
pub struct WriterLock {
    _file: File,
}

impl WriterLock {
    pub fn acquire(dir: &Path, quiet: bool) -> Result<WriterLock> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create index directory {}", dir.display()))?;
        let path = dir.join("lock");
        let file = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        if file.try_lock_exclusive().is_err() {
            if !quiet {
                eprintln!("semsearch: another `semsearch index` is writing {}; waiting for it to finish", dir.display());
            }
            file.lock_exclusive().with_context(|| format!("cannot lock {}", path.display()))?;
        }
        Ok(WriterLock { _file: file })
    }
}

fn content_hash(doc: &Document) -> String {
    let mut h = Sha256::new();
    h.update(doc.title.as_bytes());
    h.update([0]);
    h.update(doc.text.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// Passage ids depend only on the document's id, its content and the passage's place in it: they
/// stay the same while the document is unchanged.
fn passage_id(doc_id: &str, hash: &str, ordinal: usize) -> String {
    let mut h = Sha256::new();
    h.update(doc_id.as_bytes());
    h.update([0]);
    h.update(hash.as_bytes());
    h.update(ordinal.to_le_bytes());
    hex::encode(&h.finalize()[..8])
}

/// What an `index` run does to a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Updated,
    Unchanged,
    Removed,
    /// Not seen in this run and not under its paths: left as it is.
    Kept,
}

/// A document seen in this run, against the previous generation.
pub fn classify(prev: &HashMap<String, DocRecord>, doc_id: &str, hash: &str) -> Change {
    match prev.get(doc_id) {
        None => Change::Added,
        Some(o) if o.content_hash == hash => Change::Unchanged,
        Some(_) => Change::Updated,
    }
}

/// A previous document: `None` if this run saw it again, else removed (its file is gone from the
/// paths given) or kept (outside them).
pub fn fate_of_unseen(doc: &DocRecord, seen: &HashSet<&str>, roots: &[String]) -> Option<Change> {
    if seen.contains(doc.doc_id.as_str()) {
        None
    } else if under_root(&doc.path, roots) {
        Some(Change::Removed)
    } else {
        Some(Change::Kept)
    }
}

/// The documents of a run, one per id: the last occurrence of a repeated id wins, as a later write
/// would.
pub fn unique_documents(input: &Ingested) -> (Vec<&Document>, HashSet<&str>) {
    let mut seen = HashSet::new();
    let mut docs: Vec<&Document> = Vec::new();
    for d in &input.documents {
        if seen.insert(d.doc_id.as_str()) {
            docs.push(d);
        } else if let Some(i) = docs.iter().position(|x| x.doc_id == d.doc_id) {
            docs[i] = d;
        }
    }
    (docs, seen)
}

/// What `index PATH...` would do, without doing it (no model needed).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Plan {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: usize,
    pub kept: usize,
}

pub fn plan(dir: &Path, input: &Ingested) -> Result<Plan> {
    let prev: HashMap<String, DocRecord> = match Meta::read(dir)? {
        Some(meta) => PassageStore::open(&dir.join(&meta.passages_file))?
            .documents()?
            .into_iter()
            .map(|d| (d.doc_id.clone(), d))
            .collect(),
        None => HashMap::new(),
    };
    let (docs, seen) = unique_documents(input);
    let mut plan = Plan::default();
    for d in docs {
        match classify(&prev, &d.doc_id, &content_hash(d)) {
            Change::Added => plan.added.push(d.doc_id.clone()),
            Change::Updated => plan.updated.push(d.doc_id.clone()),
            _ => plan.unchanged += 1,
        }
    }
    let mut prev_sorted: Vec<&DocRecord> = prev.values().collect();
    prev_sorted.sort_by_key(|d| d.first_row);
    for d in prev_sorted {
        match fate_of_unseen(d, &seen, &input.roots) {
            Some(Change::Removed) => plan.removed.push(d.doc_id.clone()),
            Some(_) => plan.kept += 1,
            None => {}
        }
    }
    Ok(plan)
}

fn under_root(path: &str, roots: &[String]) -> bool {
    roots.iter().any(|r| path == r || path.strip_prefix(r.as_str()).is_some_and(|rest| rest.starts_with('/')))
}

/// Build the next generation from `input`: documents that are new or changed are chunked and
/// embedded; unchanged ones keep their vectors; documents of the previous generation under one of
/// the given roots that were not seen again are dropped; others are kept.
pub fn build(dir: &Path, input: &Ingested, embedder: &Embedder, opts: &BuildOptions) -> Result<Summary> {
    let started = Instant::now();
    let _lock = WriterLock::acquire(dir, opts.quiet)?;
    let model = embedder.info();
    let prev_meta = match Meta::read(dir) {
        Ok(m) => m,
        Err(e) if e.downcast_ref::<DamagedMeta>().is_some() => {
            eprintln!("semsearch: warning: {e:#}; rebuilding it from the given paths");
            None
        }
        Err(e) => return Err(e),
    };
    if let Some(m) = &prev_meta {
        m.check_model(dir, model)?;
    }
    // The previous generation, if its chunking matches (otherwise everything is re-embedded).
    let prev = match &prev_meta {
        Some(_) => match Index::open(dir, model) {
            Ok(i) => Some(i),
            Err(e) => {
                // A damaged generation is replaced, not patched: index what was given afresh.
                eprintln!("semsearch: warning: the current index cannot be read ({e:#}); rebuilding it from the given paths");
                None
            }
        },
        None => None,
    };
    let reusable = prev.as_ref().filter(|p| p.meta.chunking == opts.chunking);
    let prev_docs: HashMap<String, DocRecord> = match &prev {
        Some(p) => p.store.documents()?.into_iter().map(|d| (d.doc_id.clone(), d)).collect(),
        None => HashMap::new(),
    };

    let chunker = Chunker::new(embedder.tokenizer(), opts.chunking)?;
    let (docs, seen) = unique_documents(input);
    let prepared: Vec<Prepared> = docs
        .par_iter()
        .map(|doc| Ok(Prepared { doc, hash: content_hash(doc), chunks: chunker.chunk(doc)? }))
        .collect::<Result<_>>()?;

    // Plan rows: kept previous documents first (in their old order), then this run's documents.
    let mut summary = Summary {
        files: input.files,
        skipped: input.skipped.len(),
        documents: 0,
        passages: 0,
        documents_added: 0,
        documents_updated: 0,
        documents_removed: 0,
        documents_unchanged: 0,
        passages_embedded: 0,
        tokens_embedded: 0,
        embed_seconds: 0.0,
        graph_seconds: 0.0,
        seconds: 0.0,
    };
    enum Source {
        Old(u32),
        New(usize),
    }
    let mut plan: Vec<(DocRecord, Vec<PassageRecord>, Source)> = Vec::new();
    let mut to_embed: Vec<&str> = Vec::new();
    let mut sorted_prev: Vec<&DocRecord> = prev_docs.values().collect();
    sorted_prev.sort_by_key(|d| d.first_row);
    for d in sorted_prev {
        match fate_of_unseen(d, &seen, &input.roots) {
            None => continue,
            Some(Change::Removed) => {
                summary.documents_removed += 1;
                continue;
            }
            Some(_) => {}
        }
        if reusable.is_none() {
            // Chunking changed, and this document's text is not at hand to cut again: dropping it
            // silently would lose it, so the run stops before writing anything.
            let old = prev.as_ref().map(|p| p.meta.chunking).unwrap_or_default();
            bail!(
                "index {} was built with --max-tokens {} --overlap {}; {} is not under the paths given, so it cannot be re-cut with new options: give every indexed path, or the same options, or another --index",
                dir.display(),
                old.max_tokens,
                old.overlap_tokens,
                d.path
            );
        }
        let passages = prev.as_ref().unwrap().store.passages_of(&d.doc_id)?;
        plan.push((d.clone(), passages, Source::Old(d.first_row)));
    }
    for p in &prepared {
        let old = prev_docs.get(&p.doc.doc_id);
        // Unchanged text keeps its vectors only if passages were cut the same way.
        let unchanged = reusable.is_some() && classify(&prev_docs, &p.doc.doc_id, &p.hash) == Change::Unchanged;
        match old {
            None => summary.documents_added += 1,
            Some(_) if unchanged => summary.documents_unchanged += 1,
            Some(_) => summary.documents_updated += 1,
        }
        let records: Vec<PassageRecord> = p
            .chunks
            .iter()
            .enumerate()
            .map(|(i, c)| PassageRecord {
                row: 0,
                id: passage_id(&p.doc.doc_id, &p.hash, i),
                doc_id: p.doc.doc_id.clone(),
                ordinal: i as u32,
                line_start: c.line_start,
                line_end: c.line_end,
                byte_start: p.doc.source_byte(c.byte_start),
                byte_end: p.doc.source_byte(c.byte_end),
                n_tokens: c.n_tokens as u32,
                text: p.doc.text[c.byte_start..c.byte_end].to_string(),
            })
            .collect();
        let source = if unchanged {
            Source::Old(old.unwrap().first_row)
        } else {
            let start = to_embed.len();
            to_embed.extend(p.chunks.iter().map(|c| &p.doc.text[c.byte_start..c.byte_end]));
            summary.tokens_embedded += p.chunks.iter().map(|c| (c.n_tokens + 2).min(model.max_tokens)).sum::<usize>();
            Source::New(start)
        };
        let rec = DocRecord {
            doc_id: p.doc.doc_id.clone(),
            path: p.doc.path.clone(),
            title: p.doc.title.clone(),
            content_hash: p.hash.clone(),
            first_row: 0,
            n_passages: records.len() as u32,
        };
        plan.push((rec, records, source));
    }

    // Nothing changed: keep the committed generation as it is (no new files, no commit), before any
    // vector is copied.
    let unchanged_run = summary.documents_added + summary.documents_updated + summary.documents_removed == 0;
    if unchanged_run && reusable.is_some_and(|p| p.meta.hnsw == opts.hnsw) {
        summary.documents = plan.len();
        summary.passages = plan.iter().map(|(_, p, _)| p.len()).sum();
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }

    // Embed what is new, all at once so batches are sorted by length across the whole corpus.
    let dim = model.dimensions;
    let t = Instant::now();
    let bar = crate::progress::bar(to_embed.len() as u64, "embedding", opts.quiet);
    let new_vectors = embedder.embed(&to_embed, &mut |done| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    summary.embed_seconds = t.elapsed().as_secs_f64();
    summary.passages_embedded = to_embed.len();

    let mut vectors: Vec<f32> = Vec::new();
    let mut next_row = 0u32;
    let mut rows: Vec<(DocRecord, Vec<PassageRecord>)> = Vec::with_capacity(plan.len());
    for (mut rec, mut passages, source) in plan {
        let n = passages.len();
        match source {
            Source::Old(first) => {
                let ann = &prev.as_ref().unwrap().ann;
                for r in 0..n as u32 {
                    vectors.extend_from_slice(ann.vector(first + r));
                }
            }
            Source::New(start) => vectors.extend_from_slice(&new_vectors[start * dim..(start + n) * dim]),
        }
        rec.first_row = next_row;
        for (i, p) in passages.iter_mut().enumerate() {
            p.row = next_row + i as u32;
        }
        next_row += n as u32;
        rows.push((rec, passages));
    }
    summary.documents = rows.len();
    summary.passages = next_row as usize;
    if summary.documents == 0 {
        bail!(
            "nothing to index: {} file(s) read, {} skipped, no documents with text",
            input.files,
            input.skipped.len()
        );
    }

    // Write the new generation, then commit it.
    let generation = prev_meta.as_ref().map(|m| m.generation + 1).unwrap_or(1);
    let meta = Meta {
        format_version: FORMAT_VERSION,
        generation,
        model: ModelMeta::from(model),
        chunking: opts.chunking,
        hnsw: opts.hnsw,
        counts: Counts { documents: summary.documents, passages: summary.passages },
        passages_file: format!("passages-{generation}.sqlite"),
        vectors_file: format!("vectors-{generation}.f32"),
        graph_file: format!("graph-{generation}.bin"),
    };
    drop(prev);
    for f in [&meta.passages_file, &meta.vectors_file, &meta.graph_file] {
        // Leftovers of a run that died before committing this generation number.
        let _ = fs::remove_file(dir.join(f));
    }
    let spinner = crate::progress::spinner("writing passages", opts.quiet);
    let passages_path = dir.join(&meta.passages_file);
    let mut store = PassageStore::create(&passages_path)?;
    store.insert_all(&rows)?;
    store.finish()?;
    File::open(&passages_path)?.sync_all()?;
    spinner.set_message("writing vectors");
    ann::write_vectors(&dir.join(&meta.vectors_file), &vectors)?;
    spinner.set_message(format!("building the HNSW graph over {} vectors", summary.passages));
    let t = Instant::now();
    ann::build_graph(&dir.join(&meta.graph_file), &vectors, dim, &opts.hnsw)?;
    summary.graph_seconds = t.elapsed().as_secs_f64();
    spinner.finish_and_clear();
    commit(dir, &meta)?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Swap `meta.json` atomically, then remove files of generations older than the previous one and
/// any leftovers of interrupted runs.
fn commit(dir: &Path, meta: &Meta) -> Result<()> {
    let tmp = dir.join("meta.json.tmp");
    fs::write(&tmp, serde_json::to_string_pretty(meta)?)?;
    File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, dir.join("meta.json"))?;
    File::open(dir)?.sync_all()?;
    let keep = [meta.generation, meta.generation.saturating_sub(1)];
    for entry in fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let generation = name
            .split_once('-')
            .and_then(|(kind, rest)| {
                ["passages", "vectors", "graph"].contains(&kind).then_some(rest)
            })
            .and_then(|rest| rest.split('.').next())
            .and_then(|g| g.parse::<u64>().ok());
        if let Some(g) = generation {
            if !keep.contains(&g) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_match_whole_path_components() {
        let roots = vec!["news".to_string(), "a.txt".to_string()];
        assert!(under_root("news/x.txt", &roots));
        assert!(under_root("a.txt", &roots));
        assert!(!under_root("newsletter/x.txt", &roots));
        assert!(!under_root("b.txt", &roots));
    }

    #[test]
    fn passage_ids_are_stable_and_distinct() {
        assert_eq!(passage_id("d", "h", 0), passage_id("d", "h", 0));
        assert_ne!(passage_id("d", "h", 0), passage_id("d", "h", 1));
        assert_ne!(passage_id("d", "h", 0), passage_id("d", "h2", 0));
        assert_eq!(passage_id("d", "h", 0).len(), 16);
    }
}
