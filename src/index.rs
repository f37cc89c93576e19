//! Index on disk: immutable segment files plus a small `meta.json` swapped atomically on commit.
//!
//! ```text
//! .semsearch/
//!   meta.json          format version, model, chunking, segments with their tombstones, and the
//!                      size and checksum of every file
//!   seg-<S>.sqlite     a segment's documents and passages (text, lines, bytes, ids)
//!   seg-<S>.f32        its row-major unit vectors, raw little-endian f32 (memory-mapped)
//!   seg-<S>.graph      its HNSW neighbour tables (memory-mapped)
//!   lock               held by the one writer
//!   verified.json      stat fields of files already checked against the manifest (a cache)
//! ```
//!
//! An `index` run never rewrites what it does not change. New and changed documents go into a new
//! segment; the passages of removed or changed documents become tombstones (row ranges recorded in
//! `meta.json`) that search filters out. When tombstones pass `COMPACT_AT` of all rows, or segments
//! pass `MAX_SEGMENTS`, or on `semsearch compact`, the live rows are merged into one new segment
//! and its graph is built afresh from the stored vectors (an HNSW graph cannot delete points).
//!
//! A writer writes its new segment files, fsyncs them, then renames `meta.json.tmp` over
//! `meta.json`. Until that rename, readers and a crash both see the previous generation; after it,
//! the new one. Files of the previous generation are kept one more run, so a reader that read the
//! old `meta.json` a moment before the swap can still open them.

use crate::ann::{self, AnnIndex, HnswParams, Hit};
use crate::chunk::{ChunkParams, Chunker};
use crate::embed::Embedder;
use crate::ingest::{Document, Ingested};
use crate::model::{ModelInfo, Pooling};
use crate::store::{DocRecord, Passage, PassageRecord, PassageStore};
use anyhow::{bail, Context, Result};
use fs2::FileExt;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub const FORMAT_VERSION: u32 = 2;
pub const DEFAULT_DIR: &str = ".semsearch";
/// Share of tombstoned rows at which an `index` run merges the segments and rebuilds the graph.
/// Below it, the over-fetching that filtering costs is small; above it, searches walk mostly dead
/// rows and the files hold mostly dead vectors.
pub const COMPACT_AT: f64 = 0.2;
/// Every segment is one more graph to search; past this many, an `index` run merges them.
pub const MAX_SEGMENTS: usize = 8;

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

/// Live documents and passages (tombstoned ones not counted).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Counts {
    pub documents: usize,
    pub passages: usize,
}

/// A file's size and XXH3-64 checksum, as recorded when it was written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileSum {
    pub bytes: u64,
    pub xxh3: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentMeta {
    pub id: u64,
    /// Documents and passage rows the segment's files hold, tombstoned ones included.
    pub documents: usize,
    pub rows: usize,
    /// Tombstones: `[first_row, count]` ranges of the passages of removed or replaced documents,
    /// sorted, one per document.
    pub deleted: Vec<[u32; 2]>,
}

impl SegmentMeta {
    pub fn passages_file(&self) -> String {
        format!("seg-{}.sqlite", self.id)
    }
    pub fn vectors_file(&self) -> String {
        format!("seg-{}.f32", self.id)
    }
    pub fn graph_file(&self) -> String {
        format!("seg-{}.graph", self.id)
    }
    pub fn files(&self) -> [String; 3] {
        [self.passages_file(), self.vectors_file(), self.graph_file()]
    }
    pub fn deleted_rows(&self) -> usize {
        self.deleted.iter().map(|r| r[1] as usize).sum()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub format_version: u32,
    pub generation: u64,
    pub model: ModelMeta,
    pub chunking: ChunkParams,
    pub hnsw: HnswParams,
    pub counts: Counts,
    pub next_segment: u64,
    pub segments: Vec<SegmentMeta>,
    /// Every file of every segment.
    pub files: BTreeMap<String, FileSum>,
    /// XXH3-64 of this manifest written compactly with this field empty (see `seal`): a changed
    /// byte that still parses is caught too.
    #[serde(default)]
    pub checksum: String,
}

/// The manifest exists but cannot be understood, or an index file does not match it. Unlike an
/// index of a newer format version, a damaged one is rebuilt by the next `index` run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Damaged(String);

fn damaged(path: &Path, why: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(Damaged(format!(
        "{}: {why}; the index is damaged, re-run `semsearch index` to rebuild it",
        path.display()
    )))
}

impl Meta {
    pub fn read(dir: &Path) -> Result<Option<Meta>> {
        let path = dir.join("meta.json");
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Err(damaged(&path, "not UTF-8 text")),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| damaged(&path, format!("not valid JSON ({e})")))?;
        let Some(version) = v["format_version"].as_u64() else {
            return Err(damaged(&path, "no format_version"));
        };
        if version > FORMAT_VERSION as u64 {
            // Never rebuilt silently: it is a newer semsearch's index.
            bail!(
                "{}: index format version {version}, this semsearch reads version {FORMAT_VERSION}; use a newer semsearch, or delete {} and re-run `semsearch index`",
                path.display(),
                dir.display()
            );
        }
        if version < FORMAT_VERSION as u64 {
            return Err(anyhow::Error::new(Damaged(format!(
                "{}: index format version {version} was written by an older semsearch; re-run `semsearch index` to rebuild it",
                path.display()
            ))));
        }
        let meta: Meta =
            serde_json::from_value(v).map_err(|e| damaged(&path, format!("unexpected contents ({e})")))?;
        if meta.checksum != meta.sealed_checksum() {
            return Err(damaged(&path, "checksum differs from its contents (the manifest was altered)"));
        }
        meta.validate().map_err(|e| damaged(&path, e))?;
        Ok(Some(meta))
    }

    fn sealed_checksum(&self) -> String {
        let mut m = self.clone();
        m.checksum.clear();
        let text = serde_json::to_string(&m).expect("a manifest serialises");
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
    }

    /// Sets `checksum` for the current contents; done on every commit.
    pub fn seal(&mut self) {
        self.checksum = self.sealed_checksum();
    }

    /// The manifest as written to `meta.json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a manifest serialises")
    }

    /// The manifest agrees with itself: every segment's files are listed, tombstones lie inside
    /// their segment, and the live counts add up.
    fn validate(&self) -> std::result::Result<(), String> {
        let mut live = 0usize;
        for s in &self.segments {
            for f in s.files() {
                if !self.files.contains_key(&f) {
                    return Err(format!("segment {} has no entry for {f}", s.id));
                }
            }
            if s.id >= self.next_segment {
                return Err(format!("segment {} is not below next_segment {}", s.id, self.next_segment));
            }
            let mut end = 0u64;
            for r in &s.deleted {
                if (r[0] as u64) < end || r[0] as u64 + r[1] as u64 > s.rows as u64 {
                    return Err(format!("segment {} has a tombstone outside its rows", s.id));
                }
                end = r[0] as u64 + r[1] as u64;
            }
            live += s.rows - s.deleted_rows();
        }
        if live != self.counts.passages {
            return Err(format!("{live} live passages in the segments, counts say {}", self.counts.passages));
        }
        Ok(())
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

    /// Passage rows held in the files, tombstoned ones included.
    pub fn rows(&self) -> usize {
        self.segments.iter().map(|s| s.rows).sum()
    }

    pub fn deleted_rows(&self) -> usize {
        self.segments.iter().map(|s| s.deleted_rows()).sum()
    }

    pub fn tombstone_share(&self) -> f64 {
        self.deleted_rows() as f64 / self.rows().max(1) as f64
    }

    pub fn size_bytes(&self) -> u64 {
        self.files.values().map(|f| f.bytes).sum()
    }
}

/// Size and XXH3-64 of a file, read through a 1 MiB buffer: hashing a large vector file through a
/// memory map would count every page of it in the process's resident memory.
pub fn file_sum(path: &Path) -> Result<FileSum> {
    use std::io::Read;
    let mut f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let got = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(got) => got,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        hasher.update(&buf[..got]);
        bytes += got as u64;
    }
    Ok(FileSum { bytes, xxh3: format!("{:016x}", hasher.digest()) })
}

/// `verified.json`: files whose content was hashed and matched the manifest, each with the stat
/// fields that change whenever its content does (device, inode, size, mtime, ctime), as git's
/// index does. While a file's stat fields are unchanged it is not hashed again, so opening a large
/// index costs a `stat` per file instead of reading hundreds of megabytes. ctime cannot be set from
/// user space, and a file is recorded only once its ctime is `STAMP_AFTER` in the past, so a write
/// landing within the same clock tick as the recording cannot go unnoticed ("racy git"). A missing,
/// unreadable or unwritable stamp only means hashing again.
const VERIFIED: &str = "verified.json";
const STAMP_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Stamp {
    xxh3: String,
    dev: u64,
    ino: u64,
    bytes: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    #[cfg(unix)]
    fn of(path: &Path, xxh3: &str) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let m = fs::metadata(path).ok()?;
        Some(Stamp {
            xxh3: xxh3.to_string(),
            dev: m.dev(),
            ino: m.ino(),
            bytes: m.size(),
            mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            ctime_ns: m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
        })
    }

    #[cfg(not(unix))]
    fn of(_path: &Path, _xxh3: &str) -> Option<Stamp> {
        None
    }

    /// Old enough to be recorded: its ctime is `settle` or more before now.
    fn settled(&self, settle: std::time::Duration) -> bool {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0);
        self.ctime_ns + (settle.as_nanos() as i128) <= now
    }
}

/// Checks every file of `meta` against its size and checksum, hashing only those whose stat fields
/// changed since they were last found good. Returns how many files were hashed.
fn verify_files(dir: &Path, meta: &Meta, settle: std::time::Duration) -> Result<usize> {
    let stamp_path = dir.join(VERIFIED);
    let known: BTreeMap<String, Stamp> =
        fs::read(&stamp_path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    let checked: Vec<(String, Option<Stamp>, bool)> = meta
        .files
        .par_iter()
        .map(|(name, want)| {
            let path = dir.join(name);
            let before = Stamp::of(&path, &want.xxh3);
            if before.is_some() && before.as_ref() == known.get(name) {
                return Ok((name.clone(), before, false));
            }
            verify_file(dir, name, want)?;
            let after = Stamp::of(&path, &want.xxh3);
            // Recorded only if nothing touched the file while it was hashed.
            let stamp = after.filter(|a| Some(a) == before.as_ref() && a.settled(settle));
            Ok((name.clone(), stamp, true))
        })
        .collect::<Result<_>>()?;
    let hashed = checked.iter().filter(|c| c.2).count();
    let stamps: BTreeMap<String, Stamp> = checked.into_iter().filter_map(|(name, s, _)| s.map(|s| (name, s))).collect();
    if stamps != known {
        let tmp = dir.join(format!("{VERIFIED}.tmp.{}", std::process::id()));
        if let Ok(json) = serde_json::to_vec(&stamps) {
            if fs::write(&tmp, json).is_ok() && fs::rename(&tmp, &stamp_path).is_err() {
                let _ = fs::remove_file(&tmp);
            }
        }
    }
    Ok(hashed)
}

/// A file of a committed index matches what the manifest recorded: same size, same checksum.
fn verify_file(dir: &Path, name: &str, want: &FileSum) -> Result<()> {
    let path = dir.join(name);
    let got = match file_sum(&path) {
        Ok(s) => s,
        Err(e) if e.root_cause().downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) => {
            return Err(e.context(Missing(path.display().to_string())));
        }
        Err(e) => return Err(e),
    };
    if got.bytes != want.bytes {
        return Err(damaged(&path, format!("{} bytes, the manifest says {} (truncated or overwritten)", got.bytes, want.bytes)));
    }
    if got.xxh3 != want.xxh3 {
        return Err(damaged(&path, format!("checksum {} differs from the manifest's {} (the file was altered)", got.xxh3, want.xxh3)));
    }
    Ok(())
}

/// A file the manifest names is gone: a writer may have committed twice while this reader opened.
#[derive(Debug, thiserror::Error)]
#[error("{0} is missing")]
struct Missing(String);

/// One segment of an open index: its passages, vectors and graph, and its tombstones as a bitset.
pub struct Segment {
    pub meta: SegmentMeta,
    /// Its first row in the index-wide row numbering.
    pub base: u32,
    pub store: PassageStore,
    pub ann: AnnIndex,
    deleted: Vec<u64>,
}

impl Segment {
    fn is_deleted(&self, local: u32) -> bool {
        self.deleted.get(local as usize / 64).is_some_and(|w| w & (1u64 << (local % 64)) != 0)
    }

    fn live(&self) -> usize {
        self.meta.rows - self.meta.deleted_rows()
    }
}

/// An open, committed index generation. Rows are numbered across segments (a segment's rows start
/// at its `base`); tombstoned rows are never returned.
pub struct Index {
    pub dir: PathBuf,
    pub meta: Meta,
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
                Err(e2) if e2.chain().any(|c| c.downcast_ref::<Missing>().is_some()) => {
                    Err(damaged(&dir.join("meta.json"), format!("{e2:#}")))
                }
                other => other,
            },
            other => other,
        }
    }

    fn open_once(dir: &Path, model: Option<&ModelInfo>) -> Result<Index> {
        let meta = Meta::read(dir)?.with_context(|| {
            format!("no index in {}; build one with `semsearch index PATH...` (or pass --index DIR)", dir.display())
        })?;
        if let Some(model) = model {
            meta.check_model(dir, model)?;
        }
        // Every file is checked against its recorded size and checksum before it is parsed or
        // mapped, so a damaged file is an error naming it, never a wrong answer.
        verify_files(dir, &meta, STAMP_AFTER)?;
        let mut segments = Vec::with_capacity(meta.segments.len());
        let mut base = 0u32;
        for s in &meta.segments {
            let store = PassageStore::open(&dir.join(s.passages_file()))?;
            store.check(s.documents, s.rows)?;
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

    fn locate(&self, row: u32) -> Option<(&Segment, u32)> {
        let i = self.segments.partition_point(|s| s.base <= row).checked_sub(1)?;
        let s = &self.segments[i];
        ((row - s.base) < s.meta.rows as u32).then_some((s, row - s.base))
    }

    pub fn vector(&self, row: u32) -> &[f32] {
        let (s, local) = self.locate(row).expect("row inside the index");
        s.ann.vector(local)
    }

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
        let mut out = Vec::with_capacity(self.meta.counts.documents);
        for s in &self.segments {
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

    /// Exact search: every live vector scored; `accept` filters rows out of the results.
    pub fn exact(&self, q: &[f32], k: usize, accept: &dyn Fn(u32) -> bool) -> Vec<Hit> {
        let per: Vec<Vec<Hit>> = self
            .segments
            .iter()
            .map(|s| {
                let ok = |l: u32| !s.is_deleted(l) && accept(s.base + l);
                s.ann.exact(q, k, &ok).into_iter().map(|h| Hit { row: h.row + s.base, score: h.score }).collect()
            })
            .collect();
        merge_hits(per, k)
    }

    /// HNSW search of every segment's graph with beam `ef`. Tombstoned and rejected rows still
    /// guide the walk but the beam keeps going until it holds `ef` accepted rows, which is the
    /// over-fetching that keeps `k` results coming back; a segment whose graph still comes back
    /// short (a filter that rejects most of it) is searched exactly.
    pub fn hnsw(&self, q: &[f32], k: usize, ef: usize, accept: &dyn Fn(u32) -> bool) -> Vec<Hit> {
        let per: Vec<Vec<Hit>> = self
            .segments
            .iter()
            .map(|s| {
                let ok = |l: u32| !s.is_deleted(l) && accept(s.base + l);
                let mut hits = s.ann.search(q, k, ef, &ok);
                if hits.len() < k.min(s.live()) {
                    hits = s.ann.exact(q, k, &ok);
                }
                hits.into_iter().map(|h| Hit { row: h.row + s.base, score: h.score }).collect()
            })
            .collect();
        merge_hits(per, k)
    }
}

/// The best `k` of several segments' hits, best first (ties by row, as within a segment).
fn merge_hits(per: Vec<Vec<Hit>>, k: usize) -> Vec<Hit> {
    let mut all: Vec<Hit> = per.into_iter().flatten().collect();
    all.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
    all.truncate(k);
    all
}

/// What an `index` run did.
#[derive(Debug, Clone, Serialize, Default)]
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
    /// Passages tombstoned by this run (of removed and changed documents).
    pub passages_tombstoned: usize,
    /// Whether this run merged the segments and rebuilt the graph.
    pub compacted: bool,
    pub segments: usize,
    pub tombstone_share: f64,
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
    let mut at: HashMap<&str, usize> = HashMap::new();
    let mut docs: Vec<&Document> = Vec::new();
    for d in &input.documents {
        match at.get(d.doc_id.as_str()) {
            Some(&i) => docs[i] = d,
            None => {
                at.insert(d.doc_id.as_str(), docs.len());
                docs.push(d);
            }
        }
    }
    let seen = at.into_keys().collect();
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
    let prev_docs: Vec<DocRecord> = match Meta::read(dir)? {
        Some(_) => Index::open_any(dir)?.documents()?,
        None => Vec::new(),
    };
    let prev: HashMap<String, DocRecord> = prev_docs.iter().map(|d| (d.doc_id.clone(), d.clone())).collect();
    let (docs, seen) = unique_documents(input);
    let mut plan = Plan::default();
    for d in docs {
        match classify(&prev, &d.doc_id, &content_hash(d)) {
            Change::Added => plan.added.push(d.doc_id.clone()),
            Change::Updated => plan.updated.push(d.doc_id.clone()),
            _ => plan.unchanged += 1,
        }
    }
    for d in &prev_docs {
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

/// The committed generation a writer starts from: `None` when there is none, or when it is damaged
/// or of an older format (it is then rebuilt from the given paths, with a warning).
fn open_previous(dir: &Path, model: &ModelInfo) -> Result<Option<Index>> {
    match Meta::read(dir) {
        Ok(Some(m)) => m.check_model(dir, model)?,
        Ok(None) => return Ok(None),
        Err(e) if e.downcast_ref::<Damaged>().is_some() => {
            eprintln!("semsearch: warning: {e:#}; rebuilding it from the given paths");
            return Ok(None);
        }
        Err(e) => return Err(e),
    }
    match Index::open(dir, model) {
        Ok(i) => Ok(Some(i)),
        Err(e) => {
            // A damaged generation is replaced, not patched: index what was given afresh.
            eprintln!("semsearch: warning: the current index cannot be read ({e:#}); rebuilding it from the given paths");
            Ok(None)
        }
    }
}

/// A document's rows in the segment being written, and where its vectors come from.
enum Source {
    /// Index-wide rows of the previous generation.
    Old(u32),
    /// Offset (in passages) into this run's embeddings.
    New(usize),
}

/// Build the next generation from `input`: documents that are new or changed are chunked, embedded
/// and written to a new segment; the passages of changed documents, and of documents of the
/// previous generation under one of the given roots that were not seen again, become tombstones;
/// everything else stays where it is. Merges the segments when tombstones or segments pile up.
pub fn build(dir: &Path, input: &Ingested, embedder: &Embedder, opts: &BuildOptions) -> Result<Summary> {
    build_with(dir, input, embedder.info(), embedder.tokenizer(), &mut |texts, progress| embedder.embed(texts, progress), opts)
}

/// Vectors for passage texts, in order (`dimensions` floats each), reporting texts done.
pub type EmbedFn<'a> = dyn FnMut(&[&str], &mut dyn FnMut(usize)) -> Result<Vec<f32>> + 'a;

/// `build` with the vectors supplied by `embed` instead of an `Embedder`: for benchmarks that need
/// an index of a size no one wants to embed (a 200k-passage index over the synthetic ANN vectors),
/// built by exactly the code path `index` uses.
pub fn build_with(
    dir: &Path,
    input: &Ingested,
    model: &ModelInfo,
    tokenizer: &tokenizers::Tokenizer,
    embed: &mut EmbedFn,
    opts: &BuildOptions,
) -> Result<Summary> {
    let started = Instant::now();
    let _lock = WriterLock::acquire(dir, opts.quiet)?;
    let prev = open_previous(dir, model)?;
    // Unchanged documents keep their vectors only if passages were cut the same way.
    let reusable = prev.as_ref().filter(|p| p.meta.chunking == opts.chunking);
    let prev_docs: HashMap<String, DocRecord> = match &prev {
        Some(p) => p.documents()?.into_iter().map(|d| (d.doc_id.clone(), d)).collect(),
        None => HashMap::new(),
    };

    let chunker = Chunker::new(tokenizer, opts.chunking)?;
    let (docs, seen) = unique_documents(input);
    let prepared: Vec<Prepared> = docs
        .par_iter()
        .map(|doc| Ok(Prepared { doc, hash: content_hash(doc), chunks: chunker.chunk(doc)? }))
        .collect::<Result<_>>()?;

    let mut summary = Summary { files: input.files, skipped: input.skipped.len(), ..Summary::default() };
    // Index-wide row ranges of previous documents that this run retires.
    let mut retired: Vec<(u32, u32)> = Vec::new();
    let mut sorted_prev: Vec<&DocRecord> = prev_docs.values().collect();
    sorted_prev.sort_by_key(|d| d.first_row);
    for d in sorted_prev {
        match fate_of_unseen(d, &seen, &input.roots) {
            None => {}
            Some(Change::Removed) => {
                summary.documents_removed += 1;
                retired.push((d.first_row, d.n_passages));
            }
            Some(_) if reusable.is_none() => {
                // Chunking changed, and this document's text is not at hand to cut again: dropping
                // it silently would lose it, so the run stops before writing anything.
                let old = prev.as_ref().map(|p| p.meta.chunking).unwrap_or_default();
                bail!(
                    "index {} was built with --max-tokens {} --overlap {}; {} is not under the paths given, so it cannot be re-cut with new options: give every indexed path, or the same options, or another --index",
                    dir.display(),
                    old.max_tokens,
                    old.overlap_tokens,
                    d.path
                );
            }
            Some(_) => {}
        }
    }
    // This run's new and changed documents, in input order.
    let mut fresh: Vec<(DocRecord, Vec<PassageRecord>, Source)> = Vec::new();
    let mut to_embed: Vec<&str> = Vec::new();
    for p in &prepared {
        let old = prev_docs.get(&p.doc.doc_id);
        match old {
            None => summary.documents_added += 1,
            Some(_) if reusable.is_some() && classify(&prev_docs, &p.doc.doc_id, &p.hash) == Change::Unchanged => {
                summary.documents_unchanged += 1;
                continue;
            }
            Some(o) => {
                summary.documents_updated += 1;
                retired.push((o.first_row, o.n_passages));
            }
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
        if records.is_empty() {
            continue;
        }
        let start = to_embed.len();
        to_embed.extend(p.chunks.iter().map(|c| &p.doc.text[c.byte_start..c.byte_end]));
        summary.tokens_embedded += p.chunks.iter().map(|c| (c.n_tokens + 2).min(model.max_tokens)).sum::<usize>();
        let rec = DocRecord {
            doc_id: p.doc.doc_id.clone(),
            path: p.doc.path.clone(),
            title: p.doc.title.clone(),
            content_hash: p.hash.clone(),
            first_row: 0,
            n_passages: records.len() as u32,
        };
        fresh.push((rec, records, Source::New(start)));
    }

    // Nothing changed: keep the committed generation as it is (no new files, no commit).
    let changed = summary.documents_added + summary.documents_updated + summary.documents_removed > 0;
    if !changed && reusable.is_some_and(|p| p.meta.hnsw == opts.hnsw) {
        let p = reusable.unwrap();
        summary.documents = p.meta.counts.documents;
        summary.passages = p.meta.counts.passages;
        summary.segments = p.meta.segments.len();
        summary.tombstone_share = p.meta.tombstone_share();
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }

    // Embed what is new, all at once so batches are sorted by length across the whole corpus.
    let t = Instant::now();
    let bar = crate::progress::bar(to_embed.len() as u64, "embedding", opts.quiet);
    let new_vectors = embed(&to_embed, &mut |done| bar.set_position(done as u64))?;
    if new_vectors.len() != to_embed.len() * model.dimensions {
        bail!("embedding returned {} floats for {} passages of {} dimensions", new_vectors.len(), to_embed.len(), model.dimensions);
    }
    bar.finish_and_clear();
    summary.embed_seconds = t.elapsed().as_secs_f64();
    summary.passages_embedded = to_embed.len();
    summary.passages_tombstoned = retired.iter().map(|r| r.1 as usize).sum();

    // The previous segments with this run's tombstones added (none when everything is re-cut).
    let mut segments: Vec<SegmentMeta> = reusable.map(|p| p.meta.segments.clone()).unwrap_or_default();
    if let Some(p) = reusable {
        for &(first, n) in &retired {
            if n == 0 {
                continue;
            }
            let (s, local) = p.locate(first).context("a retired document lies outside the index")?;
            let i = p.segments.iter().position(|x| std::ptr::eq(x, s)).unwrap();
            segments[i].deleted.push([local, n]);
        }
        for s in &mut segments {
            s.deleted.sort_unstable();
        }
    }
    let old_rows: usize = segments.iter().map(|s| s.rows).sum();
    let old_deleted: usize = segments.iter().map(|s| s.deleted_rows()).sum();
    let share_after = old_deleted as f64 / (old_rows + to_embed.len()).max(1) as f64;
    let hnsw_changed = reusable.is_some_and(|p| p.meta.hnsw != opts.hnsw);
    let compact = !segments.is_empty()
        && (share_after > COMPACT_AT || segments.len() + usize::from(!fresh.is_empty()) > MAX_SEGMENTS || hnsw_changed);

    let generation = prev.as_ref().map(|m| m.meta.generation + 1).unwrap_or(1);
    let mut next_segment = prev.as_ref().map(|m| m.meta.next_segment).unwrap_or(0);
    let dim = model.dimensions;
    let fresh_docs = fresh.len();
    let mut new_segments = Vec::new();
    if compact {
        // Merge: the live rows of every segment, then this run's documents, into one segment.
        let p = reusable.unwrap();
        let mut rows: Vec<(DocRecord, Vec<PassageRecord>, Source)> = Vec::new();
        let retired_first: HashSet<u32> = retired.iter().map(|r| r.0).collect();
        for d in p.documents()? {
            if retired_first.contains(&d.first_row) {
                continue;
            }
            let passages = p.passages_of(&d)?;
            let first = d.first_row;
            rows.push((d, passages, Source::Old(first)));
        }
        rows.extend(fresh);
        summary.compacted = true;
        new_segments.push(write_segment(dir, next_segment, rows, Some(p), &new_vectors, dim, &opts.hnsw, opts.quiet)?);
        next_segment += 1;
    } else if !fresh.is_empty() {
        new_segments.push(write_segment(dir, next_segment, fresh, None, &new_vectors, dim, &opts.hnsw, opts.quiet)?);
        next_segment += 1;
    }
    let mut files: BTreeMap<String, FileSum> = BTreeMap::new();
    if compact {
        segments.clear();
    } else if let Some(p) = reusable {
        for s in &segments {
            for f in s.files() {
                files.insert(f.clone(), p.meta.files[&f].clone());
            }
        }
    }
    for (seg, sums, secs) in new_segments {
        summary.graph_seconds += secs;
        files.extend(sums);
        segments.push(seg);
    }
    let live_docs: usize = match reusable {
        Some(p) if !compact => p.meta.counts.documents - retired.len() + fresh_docs,
        _ => segments.iter().map(|s| s.documents - s.deleted.len()).sum(),
    };
    let live_rows: usize = segments.iter().map(|s| s.rows - s.deleted_rows()).sum();
    summary.documents = live_docs;
    summary.passages = live_rows;
    if live_docs == 0 {
        bail!(
            "nothing to index: {} file(s) read, {} skipped, no documents with text",
            input.files,
            input.skipped.len()
        );
    }
    let meta = Meta {
        format_version: FORMAT_VERSION,
        generation,
        model: ModelMeta::from(model),
        chunking: opts.chunking,
        hnsw: opts.hnsw,
        counts: Counts { documents: live_docs, passages: live_rows },
        next_segment,
        segments,
        files,
        checksum: String::new(),
    };
    summary.segments = meta.segments.len();
    summary.tombstone_share = meta.tombstone_share();
    let prev_meta = prev.map(|p| p.meta);
    commit(dir, &meta, prev_meta.as_ref())?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Merge every segment of the committed index into one, dropping tombstoned rows and building the
/// graph afresh from the stored vectors (nothing is embedded). Returns the summary of the run.
pub fn compact(dir: &Path, model: &ModelInfo, hnsw: &HnswParams, quiet: bool) -> Result<Summary> {
    let started = Instant::now();
    let _lock = WriterLock::acquire(dir, quiet)?;
    let p = Index::open(dir, model)?;
    let mut rows = Vec::new();
    for d in p.documents()? {
        let passages = p.passages_of(&d)?;
        let first = d.first_row;
        rows.push((d, passages, Source::Old(first)));
    }
    let was_tombstoned = p.meta.deleted_rows();
    let (seg, files, graph_seconds) =
        write_segment(dir, p.meta.next_segment, rows, Some(&p), &[], p.meta.model.dimensions, hnsw, quiet)?;
    let meta = Meta {
        format_version: FORMAT_VERSION,
        generation: p.meta.generation + 1,
        model: p.meta.model.clone(),
        chunking: p.meta.chunking,
        hnsw: *hnsw,
        counts: Counts { documents: seg.documents, passages: seg.rows },
        next_segment: p.meta.next_segment + 1,
        segments: vec![seg],
        files,
        checksum: String::new(),
    };
    let summary = Summary {
        documents: meta.counts.documents,
        passages: meta.counts.passages,
        documents_unchanged: meta.counts.documents,
        passages_tombstoned: was_tombstoned,
        compacted: true,
        segments: 1,
        graph_seconds,
        ..Summary::default()
    };
    let prev_meta = p.meta.clone();
    drop(p);
    commit(dir, &meta, Some(&prev_meta))?;
    Ok(Summary { seconds: started.elapsed().as_secs_f64(), ..summary })
}

/// Write segment `id`: its documents and passages (rows renumbered from 0), vectors and graph, each
/// fsynced, and return its manifest entry with the files' sums and the graph build time.
#[allow(clippy::too_many_arguments)]
fn write_segment(
    dir: &Path,
    id: u64,
    docs: Vec<(DocRecord, Vec<PassageRecord>, Source)>,
    prev: Option<&Index>,
    new_vectors: &[f32],
    dim: usize,
    hnsw: &HnswParams,
    quiet: bool,
) -> Result<(SegmentMeta, BTreeMap<String, FileSum>, f64)> {
    let mut seg = SegmentMeta { id, documents: docs.len(), rows: 0, deleted: Vec::new() };
    for f in seg.files() {
        // Leftovers of a run that died before committing this segment number.
        let _ = fs::remove_file(dir.join(f));
    }
    let mut vectors: Vec<f32> = Vec::with_capacity(docs.iter().map(|d| d.1.len()).sum::<usize>() * dim);
    let mut rows: Vec<(DocRecord, Vec<PassageRecord>)> = Vec::with_capacity(docs.len());
    let mut next_row = 0u32;
    for (mut rec, mut passages, source) in docs {
        let n = passages.len();
        match source {
            Source::Old(first) => {
                let p = prev.expect("old rows come from the previous generation");
                for r in 0..n as u32 {
                    vectors.extend_from_slice(p.vector(first + r));
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
    seg.rows = next_row as usize;
    let spinner = crate::progress::spinner("writing passages", quiet);
    let passages_path = dir.join(seg.passages_file());
    let mut store = PassageStore::create(&passages_path)?;
    store.insert_all(&rows)?;
    store.finish()?;
    File::open(&passages_path)?.sync_all()?;
    spinner.set_message("writing vectors");
    ann::write_vectors(&dir.join(seg.vectors_file()), &vectors)?;
    spinner.set_message(format!("building the HNSW graph over {} vectors", seg.rows));
    let t = Instant::now();
    ann::build_graph(&dir.join(seg.graph_file()), &vectors, dim, hnsw)?;
    let graph_seconds = t.elapsed().as_secs_f64();
    spinner.finish_and_clear();
    let mut sums = BTreeMap::new();
    for f in seg.files() {
        let sum = file_sum(&dir.join(&f))?;
        sums.insert(f, sum);
    }
    Ok((seg, sums, graph_seconds))
}

/// Swap `meta.json` atomically, then remove files that neither this generation nor the previous
/// one names (older segments, leftovers of interrupted runs, files of an older format).
fn commit(dir: &Path, meta: &Meta, prev: Option<&Meta>) -> Result<()> {
    let mut meta = meta.clone();
    meta.seal();
    let tmp = dir.join("meta.json.tmp");
    fs::write(&tmp, meta.to_json()).with_context(|| format!("cannot write {}", tmp.display()))?;
    File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, dir.join("meta.json"))?;
    File::open(dir)?.sync_all()?;
    let keep: HashSet<&String> = meta.files.keys().chain(prev.into_iter().flat_map(|p| p.files.keys())).collect();
    for entry in fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = ["seg-", "passages-", "vectors-", "graph-", "verified.json.tmp"].iter().any(|p| name.starts_with(p));
        if ours && !keep.contains(&name) {
            let _ = fs::remove_file(entry.path());
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

    fn meta_with(segments: Vec<SegmentMeta>, passages: usize) -> Meta {
        let files = segments
            .iter()
            .flat_map(|s| s.files())
            .map(|f| (f, FileSum { bytes: 1, xxh3: "0".into() }))
            .collect();
        Meta {
            format_version: FORMAT_VERSION,
            generation: 1,
            model: ModelMeta { name: "m".into(), weights_sha256: "x".into(), dimensions: 4, max_tokens: 8, pooling: Pooling::Mean },
            chunking: ChunkParams::default(),
            hnsw: HnswParams::default(),
            counts: Counts { documents: 1, passages },
            next_segment: segments.iter().map(|s| s.id + 1).max().unwrap_or(0),
            segments,
            files,
            checksum: String::new(),
        }
    }

    #[test]
    fn manifest_validation_catches_inconsistent_tombstones_and_counts() {
        let seg = |deleted: Vec<[u32; 2]>| SegmentMeta { id: 0, documents: 3, rows: 10, deleted };
        assert!(meta_with(vec![seg(vec![[2, 3]])], 7).validate().is_ok());
        assert_eq!(meta_with(vec![seg(vec![[2, 3]])], 7).tombstone_share(), 0.3);
        assert!(meta_with(vec![seg(vec![[2, 3]])], 10).validate().is_err(), "live count disagrees");
        assert!(meta_with(vec![seg(vec![[8, 3]])], 7).validate().is_err(), "tombstone past the rows");
        assert!(meta_with(vec![seg(vec![[2, 3], [4, 1]])], 6).validate().is_err(), "overlapping tombstones");
        let mut m = meta_with(vec![seg(vec![])], 10);
        m.files.clear();
        assert!(m.validate().is_err(), "a segment file missing from the manifest");
    }

    #[test]
    fn sealed_manifest_detects_any_change() {
        let mut m = meta_with(vec![SegmentMeta { id: 0, documents: 1, rows: 2, deleted: vec![] }], 2);
        m.seal();
        assert_eq!(m.checksum, m.sealed_checksum());
        m.counts.documents = 2;
        assert_ne!(m.checksum, m.sealed_checksum());
    }

    #[test]
    fn verified_files_are_not_hashed_again_until_they_change() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = meta_with(vec![SegmentMeta { id: 0, documents: 1, rows: 2, deleted: vec![] }], 2);
        for (i, name) in m.segments[0].files().iter().enumerate() {
            fs::write(dir.path().join(name), vec![i as u8 + 1; 5000]).unwrap();
            m.files.insert(name.clone(), file_sum(&dir.path().join(name)).unwrap());
        }
        let settle = std::time::Duration::ZERO;
        assert_eq!(verify_files(dir.path(), &m, settle).unwrap(), 3, "first open hashes every file");
        assert_eq!(verify_files(dir.path(), &m, settle).unwrap(), 0, "unchanged files are trusted by their stat fields");
        // Same size, one byte altered, a clock tick later: the stat fields change, the hash catches it.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let victim = dir.path().join(m.segments[0].vectors_file());
        let mut bytes = fs::read(&victim).unwrap();
        bytes[2500] ^= 0xff;
        fs::write(&victim, &bytes).unwrap();
        let err = verify_files(dir.path(), &m, settle).unwrap_err();
        assert!(err.downcast_ref::<Damaged>().is_some() && format!("{err:#}").contains("seg-0.f32"), "{err:#}");
        // A stamp that does not parse is ignored, never trusted.
        bytes[2500] ^= 0xff;
        fs::write(&victim, &bytes).unwrap();
        fs::write(dir.path().join(VERIFIED), b"{not json").unwrap();
        assert_eq!(verify_files(dir.path(), &m, settle).unwrap(), 3);
        // Files too fresh to be recorded are hashed every time.
        fs::remove_file(dir.path().join(VERIFIED)).unwrap();
        assert_eq!(verify_files(dir.path(), &m, std::time::Duration::from_secs(3600)).unwrap(), 3);
        assert_eq!(verify_files(dir.path(), &m, std::time::Duration::from_secs(3600)).unwrap(), 3);
    }

    #[test]
    fn merged_hits_are_the_best_k_across_segments() {
        let h = |row, score| Hit { row, score };
        let merged = merge_hits(vec![vec![h(0, 0.9), h(1, 0.5)], vec![h(10, 0.7), h(11, 0.9)]], 3);
        assert_eq!(merged, vec![h(0, 0.9), h(11, 0.9), h(10, 0.7)]);
    }

    #[test]
    fn passage_ids_are_stable_and_distinct() {
        assert_eq!(passage_id("d", "h", 0), passage_id("d", "h", 0));
        assert_ne!(passage_id("d", "h", 0), passage_id("d", "h", 1));
        assert_ne!(passage_id("d", "h", 0), passage_id("d", "h2", 0));
        assert_eq!(passage_id("d", "h", 0).len(), 16);
    }
}
