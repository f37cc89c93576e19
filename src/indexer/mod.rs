//! The indexer: one `index` run, from paths to a committed generation. This is where passages get
//! embedded.
//!
//! ```text
//! Documents (ingest) ──► plan: added / updated / unchanged against the previous generation
//!        │ one document at a time            (plan.rs)
//!        ▼
//!   batch of ~4 MiB of text ──► chunk (rayon) ──► embed (Embed) ──► SegmentWriter::add
//!        ▼ after the last document
//!   tombstones for removed and replaced documents; merge if they pile up (policy below)
//!        ▼
//!   graph built over the new segment's vectors ──► commit (manifest swap)
//! ```
//!
//! Memory is bounded by a batch: documents are read one at a time (JSONL line by line), chunked and
//! embedded a batch at a time, and written to the new segment as they come. What grows with the
//! corpus is small per document (its id, and the previous generation's document list) and, while
//! the graph is built, the vectors of the one segment being built (hnsw_rs keeps a copy).

mod merge;
mod plan;
pub mod policy;
pub mod warnings;

pub use merge::compact;
use merge::{merge, FromPrevious};
use policy::SegmentSize;

pub use plan::{classify, content_hash, fate_of_unseen, passage_id, plan, Change, Plan, Shard};

use crate::ann::HnswParams;
use crate::chunk::{embedding_text, Chunk, ChunkParams, Chunker};
use crate::docpath::PathKeys;
use crate::embed::Embed;
use crate::error::Error;
use crate::index::{
    commit, next_free_segment, Counts, DocRecord, FileSum, Index, Meta, ModelMeta, PassageRecord, SegmentMeta, SegmentsWriter, WriterLock, WrittenSegment,
    FORMAT_VERSION, SEGMENTS_CURRENT_FROM,
};
use crate::ingest::{self, Document, IngestOptions, IngestReport, Sink};
use crate::model::ModelInfo;
use crate::search::answer;
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Share of tombstoned rows at which an `index` run merges the segments and rebuilds the graph.
/// Below it, the over-fetching that filtering costs is small; above it, searches walk mostly dead
/// rows and the files hold mostly dead vectors.
pub const COMPACT_AT: f64 = 0.2;
/// Rows at which a segment is full and the next one starts. The graph of a segment is built in
/// memory (hnsw_rs's link lists, ~2.5 KiB a row, beside the mapped vectors, 1.5 KiB a row at 384
/// dimensions), so this bounds the memory of a run whatever the corpus (~0.9 GB measured at
/// 131,072 rows, model included); a question searches one graph per full segment (and the few
/// small ones the merge policy leaves, `policy`), a fraction of a millisecond each.
pub const SEGMENT_ROWS: usize = 1 << 17;
/// Text gathered before a batch is chunked and embedded: a few thousand passages, enough for the
/// embedder to sort by length and keep both of its batches in flight full, small enough to bound
/// memory (text, passages and their vectors: tens of megabytes).
const BATCH_BYTES: usize = 4 << 20;

/// Where a run's documents come from.
pub trait Documents {
    /// Stored keys of the paths the run covers: previous documents under them that the run does
    /// not see again are removed.
    fn roots(&self) -> Vec<String>;
    /// Hands every document to `sink`, in order.
    fn read(&mut self, sink: &mut Sink) -> Result<IngestReport>;
}

/// Files and directories, read as `ingest` does.
pub struct Paths<'a> {
    /// The files and folders to index.
    pub paths: &'a [PathBuf],
    /// How their paths become stored keys.
    pub keys: PathKeys,
    /// How files are read.
    pub opts: IngestOptions,
    /// The last run's warnings (`ingest::Warning::key`), not printed again (`warnings`).
    pub known: HashSet<String>,
}

impl Documents for Paths<'_> {
    fn roots(&self) -> Vec<String> {
        ingest::roots(self.paths, &self.keys)
    }
    fn read(&mut self, sink: &mut Sink) -> Result<IngestReport> {
        ingest::ingest(self.paths, &self.keys, &self.opts, std::mem::take(&mut self.known), sink)
    }
}

/// Documents already in memory (a labeled set's corpus, a synthetic one), covering `roots`.
pub struct InMemory {
    /// The documents.
    pub documents: Vec<Document>,
    /// The paths they count as coming from (documents there not seen are removed).
    pub roots: Vec<String>,
}

impl Documents for InMemory {
    fn roots(&self) -> Vec<String> {
        self.roots.clone()
    }
    fn read(&mut self, sink: &mut Sink) -> Result<IngestReport> {
        let n = self.documents.len();
        for d in self.documents.drain(..) {
            sink(d)?;
        }
        Ok(IngestReport { files: usize::from(n > 0), ..IngestReport::default() })
    }
}

/// How an `index` run builds.
pub struct BuildOptions {
    /// How passages are cut.
    pub chunking: ChunkParams,
    /// The graphs' parameters.
    pub hnsw: HnswParams,
    /// No progress bars or notices.
    pub quiet: bool,
    /// Rows at which a segment is full (`SEGMENT_ROWS`; smaller in tests of the roll-over).
    pub segment_rows: usize,
    /// Only this part of the documents (`--shard`); `None`: as the index was built before (a
    /// part, or everything).
    pub shard: Option<Shard>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions { chunking: ChunkParams::default(), hnsw: HnswParams::default(), quiet: false, segment_rows: SEGMENT_ROWS, shard: None }
    }
}

/// What an `index` run did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Summary {
    /// Files read.
    pub files: usize,
    /// Files skipped (with a warning).
    pub skipped: usize,
    /// Skipped files (and JSONL records) by what happened: `{"no text layer": 2}`.
    pub skipped_by_reason: BTreeMap<String, usize>,
    /// Files of the walked folders in no format semsearch reads, by extension: `{".pages": 2}`.
    pub unsupported: BTreeMap<String, usize>,
    /// Warnings the last run printed too, not printed again (`status --warnings` lists them).
    pub warnings_not_repeated: usize,
    /// Live documents after the run.
    pub documents: usize,
    /// Live passages after the run.
    pub passages: usize,
    /// Documents new to the index.
    pub documents_added: usize,
    /// Documents whose content changed.
    pub documents_updated: usize,
    /// Documents gone from the paths given.
    pub documents_removed: usize,
    /// Documents under a new id (a renamed or moved file) with the content of one this run
    /// removed: counted here, not as added and removed, and their vectors are reused.
    pub documents_renamed: usize,
    /// Documents left as they were.
    pub documents_unchanged: usize,
    /// Documents read that belong to the other parts of a sharded corpus (`--shard`).
    pub documents_other_parts: usize,
    /// Passages embedded by this run.
    pub passages_embedded: usize,
    /// Word pieces the model ran over (special tokens included, truncated at the window).
    pub tokens_embedded: usize,
    /// Passages tombstoned by this run (of removed and changed documents).
    pub passages_tombstoned: usize,
    /// Whether this run merged the segments and rebuilt the graph.
    pub compacted: bool,
    /// Segments after the run.
    pub segments: usize,
    /// The share of rows that are tombstones.
    pub tombstone_share: f64,
    /// Time spent embedding.
    pub embed_seconds: f64,
    /// Time spent building graphs.
    pub graph_seconds: f64,
    /// The run's wall time.
    pub seconds: f64,
}

/// The committed generation a run starts from, and the first segment number it may use.
struct Previous {
    index: Option<Index>,
    next_segment: u64,
}

/// Opens the committed generation. Only a damaged index (or one of an older format) is rebuilt
/// from the given paths, with a warning; any other failure (open files, permissions, memory, a
/// newer format, another model) stops the run before anything is written, since rebuilding would
/// drop every document not under this run's paths.
fn open_previous(dir: &Path, model: &ModelInfo) -> Result<Previous> {
    let stop = |e: anyhow::Error| e.context(format!("cannot open the index in {}; nothing was changed", dir.display()));
    let rebuild = |e: &anyhow::Error, next: u64| {
        eprintln!("semsearch: warning: {e:#}; rebuilding it from the given paths");
        Ok(Previous { index: None, next_segment: next_free_segment(dir, next) })
    };
    let meta = match Meta::read(dir) {
        Ok(None) => return Ok(Previous { index: None, next_segment: next_free_segment(dir, 0) }),
        Ok(Some(m)) => m,
        Err(e) if Error::calls_for_rebuild(&e) => return rebuild(&e, 0),
        Err(e) => return Err(stop(e)),
    };
    meta.check_model(dir, model)?;
    match Index::open(dir, model) {
        Ok(i) => Ok(Previous { next_segment: next_free_segment(dir, i.meta.next_segment), index: Some(i) }),
        Err(e) if Error::calls_for_rebuild(&e) => rebuild(&e, meta.next_segment),
        Err(e) => Err(stop(e)),
    }
}

/// How a document of this run was taken, for a later document with the same id.
#[derive(Clone, Copy, PartialEq)]
enum Taken {
    Unchanged,
    /// Waiting in the batch.
    Pending,
    /// Written to segment `segment` at rows `first..first + n`.
    Written {
        segment: u64,
        first: u32,
        n: u32,
    },
}

/// The state of one run while documents stream through it.
struct Run<'a> {
    embedder: &'a dyn Embed,
    chunker: Chunker,
    prev: Option<&'a Index>,
    /// The previous generation's live documents, by id (None when nothing can be reused).
    prev_docs: HashMap<String, DocRecord>,
    reusable: bool,
    seen: HashMap<String, Taken>,
    /// Live previous documents by content hash (when chunking is unchanged): a document with the
    /// same content under another id (a renamed file, a copy) reuses their vectors.
    prev_by_hash: HashMap<String, (u32, u32)>,
    /// Content hashes of this run's added documents, for counting renames.
    added_hashes: HashMap<String, usize>,
    /// Index-wide row ranges of previous documents this run retires.
    retired: Vec<(u32, u32)>,
    pending: Vec<(Document, String)>,
    pending_bytes: usize,
    /// This run's new segments (each at most `segment_rows` rows).
    writer: SegmentsWriter,
    summary: Summary,
    progress: indicatif::ProgressBar,
    read: usize,
}

impl Run<'_> {
    fn accept(&mut self, doc: Document) -> Result<()> {
        self.read += 1;
        let hash = content_hash(&doc);
        let earlier = self.seen.get(&doc.doc_id).copied();
        let old = self.prev_docs.get(&doc.doc_id);
        match (earlier, old) {
            // A repeated id: the last occurrence wins, as a later write would.
            (Some(Taken::Unchanged), Some(o)) if o.content_hash == hash => return Ok(()),
            (Some(Taken::Unchanged), Some(o)) => {
                self.summary.documents_unchanged -= 1;
                self.summary.documents_updated += 1;
                self.retired.push((o.first_row, o.n_passages));
            }
            (Some(_), _) => {} // written earlier in this run: superseded when this one is written
            (None, None) => {
                self.summary.documents_added += 1;
                *self.added_hashes.entry(hash.clone()).or_default() += 1;
            }
            (None, Some(o)) if self.reusable && o.content_hash == hash => {
                self.summary.documents_unchanged += 1;
                self.seen.insert(doc.doc_id, Taken::Unchanged);
                return Ok(());
            }
            (None, Some(o)) => {
                self.summary.documents_updated += 1;
                self.retired.push((o.first_row, o.n_passages));
            }
        }
        self.seen
            .entry(doc.doc_id.clone())
            .and_modify(|t| {
                if *t == Taken::Unchanged {
                    *t = Taken::Pending
                }
            })
            .or_insert(Taken::Pending);
        self.pending_bytes += doc.text.len();
        self.pending.push((doc, hash));
        if self.pending_bytes >= BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Chunks and embeds the pending documents and appends them to the new segment.
    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let chunker = &self.chunker;
        let chunks: Vec<Vec<crate::chunk::Chunk>> = pending.par_iter().map(|(d, _)| chunker.chunk(d)).collect::<Result<_>>()?;
        // Content the previous generation already embedded, cut the same way: its vectors are
        // copied instead of computed.
        let prev = self.prev;
        let reused: Vec<Option<Reused>> = pending
            .iter()
            .zip(&chunks)
            .map(|((_, hash), cs)| {
                let &(first, n) = self.prev_by_hash.get(hash).filter(|(_, n)| *n as usize == cs.len())?;
                let (segment, local) = prev?.locate(first)?;
                Some(Reused { segment, local, n })
            })
            .collect();
        // With each embedded passage, the vectors of its answer candidates (`search::answer`),
        // pooled in the same forward pass; spans are of the embedded text (section prefix first).
        let embedded: Vec<ToEmbed> = pending
            .iter()
            .zip(&chunks)
            .zip(&reused)
            .filter(|(_, r)| r.is_none())
            .flat_map(|(((d, _), cs), _)| {
                cs.iter().map(move |c| {
                    let body = &d.text[c.byte_start..c.byte_end];
                    let full = embedding_text(section_of(d, c), body);
                    let shift = full.len() - body.len();
                    let candidates = answer::candidates(body);
                    ToEmbed { text: full, candidates: if candidates.len() > 1 { candidates } else { Vec::new() }, shift }
                })
            })
            .collect();
        let spans: Vec<Vec<(usize, usize)>> = embedded.iter().map(|e| e.candidates.iter().map(|&(a, b)| (a + e.shift, b + e.shift)).collect()).collect();
        let texts: Vec<&str> = embedded.iter().map(|e| e.text.as_ref()).collect();
        let max_tokens = self.embedder.info().max_tokens;
        self.summary.tokens_embedded +=
            chunks.iter().zip(&reused).filter(|(_, r)| r.is_none()).flat_map(|(cs, _)| cs).map(|c| (c.n_tokens + 2).min(max_tokens)).sum::<usize>();
        let t = Instant::now();
        let done_before = self.summary.passages_embedded;
        let (bar, read) = (&self.progress, self.read);
        let embed_seconds = self.summary.embed_seconds;
        let (vectors, sentence_vectors) = self.embedder.embed_with_spans(&texts, &spans, &mut |done| {
            let n = done_before + done;
            let secs = embed_seconds + t.elapsed().as_secs_f64();
            bar.set_message(format!("{read} documents read, {n} passages embedded ({:.0}/s)", n as f64 / secs.max(1e-9)));
        })?;
        let dim = self.embedder.info().dimensions;
        if vectors.len() != texts.len() * dim {
            bail!("embedding returned {} floats for {} passages of {dim} dimensions", vectors.len(), texts.len());
        }
        self.summary.embed_seconds += t.elapsed().as_secs_f64();
        self.summary.passages_embedded += texts.len();
        // Stored relative to the passage text, int8.
        let sentences: Vec<Option<Vec<u8>>> = embedded
            .iter()
            .zip(sentence_vectors)
            .map(|(e, v)| (!e.candidates.is_empty() && v.len() == e.candidates.len() * dim).then(|| answer::SentenceVectors::encode(&e.candidates, &v, dim)))
            .collect();
        drop(texts);
        drop(embedded);
        let mut sentences = sentences.into_iter();
        let mut at = 0usize;
        for (((doc, hash), cs), reused) in pending.into_iter().zip(chunks).zip(reused) {
            let stored: Vec<Option<Vec<u8>>> = match &reused {
                // Copied with the vectors from the previous generation (none if it had none).
                Some(r) => r.segment.store.sentences(r.local, r.n)?,
                None => sentences.by_ref().take(cs.len()).collect(),
            };
            let mut stored = stored.into_iter();
            let records: Vec<PassageRecord> = cs
                .iter()
                .enumerate()
                .map(|(i, c)| PassageRecord {
                    row: 0,
                    id: passage_id(&doc.doc_id, &hash, i),
                    doc_id: doc.doc_id.clone(),
                    ordinal: i as u32,
                    line_start: c.line_start,
                    line_end: c.line_end,
                    byte_start: doc.source_byte(c.byte_start, false),
                    byte_end: doc.source_byte(c.byte_end, true),
                    n_tokens: c.n_tokens as u32,
                    text: doc.text[c.byte_start..c.byte_end].to_string(),
                    section: section_of(&doc, c).to_string(),
                    sentences: stored.next().flatten(),
                })
                .collect();
            let n = records.len();
            let rec = DocRecord {
                doc_id: doc.doc_id,
                path: doc.path,
                title: doc.title,
                content_hash: hash,
                first_row: 0,
                n_passages: n as u32,
                date: doc.date,
                url: doc.url,
            };
            let v = match reused {
                Some(r) => r.segment.ann.vectors(r.local, r.n),
                None => {
                    at += n;
                    &vectors[(at - n) * dim..at * dim]
                }
            };
            self.write(rec, records, v)?;
        }
        Ok(())
    }

    /// Appends a document to the current segment, superseding an earlier copy of this run, and
    /// starts the next segment once this one holds `SEGMENT_ROWS` rows.
    fn write(&mut self, rec: DocRecord, records: Vec<PassageRecord>, vectors: &[f32]) -> Result<()> {
        let id = rec.doc_id.clone();
        let n = records.len() as u32;
        if let Some(&Taken::Written { segment, first, n }) = self.seen.get(&id) {
            self.writer.supersede(segment, &id, first, n)?;
        }
        if let Some((segment, first)) = self.writer.add(rec, records, vectors)? {
            self.seen.insert(id, Taken::Written { segment, first, n });
        }
        Ok(())
    }
}

/// A passage as embedded: its text with the section prefix, its answer candidates as spans of the
/// passage text (none when it has only one), and where the passage text starts in `text`.
struct ToEmbed<'a> {
    text: std::borrow::Cow<'a, str>,
    candidates: Vec<(usize, usize)>,
    shift: usize,
}

/// A document of the previous generation whose passages (vectors and sentence vectors) are copied.
struct Reused<'a> {
    segment: &'a crate::index::Segment,
    local: u32,
    n: u32,
}

fn section_of<'d>(doc: &'d Document, c: &Chunk) -> &'d str {
    c.section.map_or("", |i| doc.sections[i].1.as_str())
}

/// Builds the next generation from `input`: documents that are new or changed are chunked,
/// embedded and written to a new segment as they stream in; the passages of changed documents,
/// and of previous documents under the run's paths that were not seen again, become tombstones;
/// everything else stays where it is. Merges the segments when tombstones or segments pile up.
pub fn run(dir: &Path, input: &mut dyn Documents, embedder: &dyn Embed, opts: &BuildOptions) -> Result<(Summary, IngestReport)> {
    let started = Instant::now();
    let model = embedder.info();
    let _lock = WriterLock::acquire(dir, opts.quiet)?;
    let prev = open_previous(dir, model)?;
    let shard = match (opts.shard, prev.index.as_ref().map(|p| p.meta.shard)) {
        (None, Some(kept)) => kept,
        (given, None) => given,
        (given, Some(kept)) if given == kept => given,
        (Some(given), Some(kept)) => bail!(
            "index {} holds {}; --shard {given} would drop the documents of the rest: build part {given} in another --index",
            dir.display(),
            kept.map_or("a whole corpus".to_string(), |k| format!("part {k} of its corpus"))
        ),
    };
    let reusable = prev.index.as_ref().filter(|p| p.meta.chunking == opts.chunking);
    let prev_docs: HashMap<String, DocRecord> = match &prev.index {
        Some(p) => p.documents()?.into_iter().map(|d| (d.doc_id.clone(), d)).collect(),
        None => HashMap::new(),
    };
    let roots = input.roots();
    if let (Some(p), None) = (&prev.index, reusable) {
        // Chunking changed: every document is cut again, so its text must be at hand. One outside
        // the paths given cannot be, and dropping it silently would lose it: stop before any work.
        if let Some(d) = prev_docs.values().find(|d| fate_of_unseen(d, &roots, &[]) == Change::Kept) {
            let old = p.meta.chunking;
            bail!(
                "index {} was built with --max-tokens {} --overlap {}; {} is not under the paths given, so it cannot be re-cut with new options: give every indexed path, or the same options, or another --index",
                dir.display(),
                old.max_tokens,
                old.overlap_tokens,
                d.path
            );
        }
    }
    let segment = prev.next_segment;
    let prev_by_hash: HashMap<String, (u32, u32)> = match reusable {
        Some(_) => prev_docs.values().map(|d| (d.content_hash.clone(), (d.first_row, d.n_passages))).collect(),
        None => HashMap::new(),
    };
    let mut run = Run {
        embedder,
        chunker: Chunker::new(embedder.tokenizer(), opts.chunking)?,
        prev: prev.index.as_ref(),
        prev_docs,
        reusable: reusable.is_some(),
        seen: HashMap::new(),
        prev_by_hash,
        added_hashes: HashMap::new(),
        retired: Vec::new(),
        pending: Vec::new(),
        pending_bytes: 0,
        writer: SegmentsWriter::create(dir, segment, model.dimensions, opts.segment_rows)?,
        summary: Summary::default(),
        progress: crate::progress::spinner("reading", opts.quiet),
        read: 0,
    };
    let report = input.read(&mut |d| match shard.is_none_or(|s| s.holds(&d.doc_id)) {
        true => run.accept(d),
        false => {
            run.summary.documents_other_parts += 1;
            Ok(())
        }
    })?;
    run.flush()?;
    run.progress.finish_and_clear();
    let Run { writer, mut summary, mut retired, prev_docs, seen, prev: prev_index, mut added_hashes, .. } = run;
    let written = writer.finish()?;
    let discard = |written: Vec<WrittenSegment>| written.into_iter().for_each(WrittenSegment::discard);
    let keeps = report.keeps();
    summary.files = report.files;
    summary.skipped = report.skipped.len();
    summary.skipped_by_reason = report.skipped_by_reason().into_iter().collect();
    summary.unsupported = report.unsupported.clone();
    summary.warnings_not_repeated = report.repeated;
    let mut unseen: Vec<&DocRecord> = prev_docs.values().filter(|d| !seen.contains_key(&d.doc_id)).collect();
    unseen.sort_by_key(|d| d.first_row);
    for d in unseen {
        if fate_of_unseen(d, &roots, &keeps) == Change::Removed {
            retired.push((d.first_row, d.n_passages));
            match added_hashes.get_mut(&d.content_hash).filter(|n| **n > 0) {
                Some(n) => {
                    *n -= 1;
                    summary.documents_added -= 1;
                    summary.documents_renamed += 1;
                }
                None => summary.documents_removed += 1,
            }
        }
    }
    if prev.index.is_some() && reusable.is_none() {
        // Chunking changed and a document could not be read again to be re-cut: keeping it is
        // impossible and dropping it would lose it.
        if let Some(d) = prev_docs.values().find(|d| !seen.contains_key(&d.doc_id) && fate_of_unseen(d, &roots, &keeps) == Change::Kept) {
            let path = d.path.clone();
            discard(written);
            bail!("{path} could not be read again to be cut with the new --max-tokens/--overlap; fix the error above and re-run (the index is unchanged)");
        }
    }
    drop(seen);
    summary.passages_tombstoned = retired.iter().map(|r| r.1 as usize).sum();

    // Nothing changed: keep the committed generation as it is (no new files, no commit), unless its
    // segments are of a format this run must rewrite.
    let changed = summary.documents_added + summary.documents_updated + summary.documents_removed + summary.documents_renamed > 0;
    if let Some(p) = reusable.filter(|p| !changed && p.meta.hnsw == opts.hnsw && p.meta.format_version >= SEGMENTS_CURRENT_FROM) {
        discard(written);
        summary.documents = p.meta.counts.documents;
        summary.passages = p.meta.counts.passages;
        summary.segments = p.meta.segments.len();
        summary.tombstone_share = p.meta.tombstone_share();
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok((summary, report));
    }

    // The previous segments with this run's tombstones added (none kept when everything was re-cut).
    let mut segments: Vec<SegmentMeta> = reusable.map(|p| p.meta.segments.clone()).unwrap_or_default();
    if let Some(p) = reusable {
        for &(first, n) in retired.iter().filter(|r| r.1 > 0) {
            let (s, local) = p.locate(first).context("a retired document lies outside the index")?;
            let i = p.segments.iter().position(|x| std::ptr::eq(x, s)).expect("a segment of this index");
            segments[i].deleted.push([local, n]);
        }
        for s in &mut segments {
            s.deleted.sort_unstable();
        }
    }
    let all = || segments.iter().chain(written.iter().map(|w| &w.meta));
    let live_docs: usize = all().map(|s| s.documents - s.deleted.len()).sum();
    let hnsw_changed = reusable.is_some_and(|p| p.meta.hnsw != opts.hnsw);
    // Segments of an older format are rewritten into the current one (format 3 → 4 adds the
    // lexical index from the stored passages; nothing is re-embedded). Format-5 segments are kept:
    // they lack only the graph's 8-bit copies, which a merge of them adds.
    let older_format = reusable.is_some_and(|p| p.meta.format_version < SEGMENTS_CURRENT_FROM);
    // Which segments (the previous ones, then this run's) are merged: all of them when the graphs'
    // parameters or the format changed, else what the merge policy says.
    let chosen: HashSet<usize> = if !segments.is_empty() && (hnsw_changed || older_format) {
        (0..segments.len() + written.len()).collect()
    } else {
        let sizes: Vec<SegmentSize> = all().map(|s| SegmentSize { rows: s.rows, live: s.rows - s.deleted_rows() }).collect();
        policy::choose(&sizes, opts.segment_rows).into_iter().collect()
    };
    if live_docs == 0 {
        discard(written);
        bail!("nothing to index: {} file(s) read, {} skipped, no documents with text", report.files, report.skipped.len());
    }

    let mut files: BTreeMap<String, FileSum> = BTreeMap::new();
    let mut next_segment = written.last().map(|w| w.meta.id + 1).unwrap_or(segment + 1);
    let n_prev = segments.len();
    // Kept segments keep their files; chosen ones (previous, then this run's) are merged.
    let mut merge_prev: HashSet<u64> = HashSet::new();
    let mut kept = Vec::new();
    for (i, s) in segments.into_iter().enumerate() {
        if chosen.contains(&i) {
            merge_prev.insert(s.id);
        } else {
            kept.push(s);
        }
    }
    let mut segments = kept;
    if let Some(p) = reusable {
        for s in &segments {
            for f in s.files() {
                files.insert(f.clone(), p.meta.files[&f].clone());
            }
        }
    }
    let (mut to_graph, mut merge_new) = (Vec::new(), Vec::new());
    for (i, w) in written.into_iter().enumerate() {
        if chosen.contains(&(n_prev + i)) {
            merge_new.push(w);
        } else {
            to_graph.push(w);
        }
    }
    if !chosen.is_empty() {
        let retired_first: HashSet<u32> = retired.iter().map(|r| r.0).collect();
        let from = reusable.map(|index| FromPrevious { index, segments: merge_prev, skip: retired_first });
        let merged = merge(dir, next_segment, model.dimensions, from, &merge_new, opts)?;
        discard(merge_new);
        next_segment = merged.last().map(|w| w.meta.id + 1).unwrap_or(next_segment);
        summary.compacted = true;
        to_graph.extend(merged);
    }
    for w in to_graph {
        let (seg, sums, secs) = w.build_graph(&opts.hnsw, opts.quiet)?;
        summary.graph_seconds += secs;
        files.extend(sums);
        segments.push(seg);
    }
    let live_rows: usize = segments.iter().map(|s| s.rows - s.deleted_rows()).sum();
    let live_docs: usize = segments.iter().map(|s| s.documents - s.deleted.len()).sum();
    let meta = Meta {
        format_version: FORMAT_VERSION,
        generation: prev_index.map(|p| p.meta.generation + 1).unwrap_or(1),
        model: ModelMeta::from(model),
        chunking: opts.chunking,
        hnsw: opts.hnsw,
        shard,
        counts: Counts { documents: live_docs, passages: live_rows },
        next_segment,
        segments,
        files,
        checksum: String::new(),
    };
    summary.documents = live_docs;
    summary.passages = live_rows;
    summary.segments = meta.segments.len();
    summary.tombstone_share = meta.tombstone_share();
    commit(dir, &meta, prev_index.map(|p| &p.meta))?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok((summary, report))
}

/// `index PATH...`: the paths read as `ingest` does, stored relative to the folder holding `dir`.
pub fn index_paths(dir: &Path, paths: &[PathBuf], ingest: IngestOptions, embedder: &dyn Embed, opts: &BuildOptions) -> Result<(Summary, IngestReport)> {
    let mut input = Paths { paths, keys: PathKeys::for_index(dir), opts: ingest, known: warnings::known(dir) };
    run(dir, &mut input, embedder, opts)
}

#[cfg(test)]
mod tests;
