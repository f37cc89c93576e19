//! Writing: `SegmentWriter` appends documents with their passages and vectors to a new segment as
//! they come (nothing of the run is held in memory but the ids of what it wrote); `WrittenSegment`
//! builds the segment's graph once its vectors are all on disk; `commit` swaps the manifest.

use super::integrity::{file_sum, sum_and_vouch, STAMP_AFTER};
use super::manifest::{FileSum, Meta, SegmentMeta};
use super::store::{DocRecord, PassageRecord, PassageStore};
use crate::ann::{self, HnswParams};
use anyhow::{bail, Context, Result};
use fs2::FileExt;
use memmap2::Mmap;
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Appends documents to segment `id`: passages to its SQLite store (one transaction), vectors to
/// its vector file, rows numbered from 0 in arrival order.
pub struct SegmentWriter {
    dir: PathBuf,
    meta: SegmentMeta,
    dim: usize,
    store: PassageStore,
    vectors: BufWriter<File>,
}

impl SegmentWriter {
    /// Starts segment `id` in `dir`. `id` must be one no committed manifest names (see
    /// `next_free_segment`); files left under that number by a run that died are replaced.
    pub fn create(dir: &Path, id: u64, dim: usize) -> Result<SegmentWriter> {
        let meta = SegmentMeta { id, documents: 0, rows: 0, deleted: Vec::new() };
        for f in meta.files() {
            let _ = fs::remove_file(dir.join(f));
        }
        let store = PassageStore::create(&dir.join(meta.passages_file()))?;
        let vpath = dir.join(meta.vectors_file());
        let vectors = BufWriter::with_capacity(1 << 20, File::create(&vpath).with_context(|| format!("cannot create {}", vpath.display()))?);
        Ok(SegmentWriter { dir: dir.to_path_buf(), meta, dim, store, vectors })
    }

    /// The segment's number.
    pub fn id(&self) -> u64 {
        self.meta.id
    }

    /// Appends a document and returns its first row: its rows are assigned here (`first_row`,
    /// `n_passages` and each passage's `row` are overwritten). `vectors` holds one row per
    /// passage. A document without passages is not stored (`None`).
    pub fn add(&mut self, mut doc: DocRecord, mut passages: Vec<PassageRecord>, vectors: &[f32]) -> Result<Option<u32>> {
        if vectors.len() != passages.len() * self.dim {
            bail!("{}: {} floats for {} passages of {} dimensions", doc.doc_id, vectors.len(), passages.len(), self.dim);
        }
        if passages.is_empty() {
            return Ok(None);
        }
        let first = self.meta.rows as u32;
        let n = passages.len() as u32;
        doc.first_row = first;
        doc.n_passages = n;
        for (i, p) in passages.iter_mut().enumerate() {
            p.row = first + i as u32;
        }
        self.store.insert(&doc, &passages)?;
        self.vectors.write_all(bytemuck::cast_slice(vectors)).with_context(|| format!("cannot write {}", self.dir.join(self.meta.vectors_file()).display()))?;
        self.meta.rows += n as usize;
        self.meta.documents += 1;
        Ok(Some(first))
    }

    /// Tombstones document `doc_id` written here earlier at `first` (`n` passages), for a later
    /// document of the same run with the same id (the last occurrence wins, as a later write
    /// would); its names are freed in the store for the one that supersedes it.
    pub fn supersede(&mut self, doc_id: &str, first: u32, n: u32) -> Result<()> {
        self.store.retire(doc_id, first)?;
        self.meta.deleted.push([first, n]);
        Ok(())
    }

    /// Rows written, superseded ones included.
    pub fn rows(&self) -> usize {
        self.meta.rows
    }

    /// Commits the store and flushes the vectors, both fsynced.
    pub fn finish(self) -> Result<WrittenSegment> {
        let SegmentWriter { dir, mut meta, dim, store, vectors, .. } = self;
        store.finish()?;
        let vpath = dir.join(meta.vectors_file());
        let f = vectors.into_inner().map_err(|e| e.into_error()).with_context(|| format!("cannot write {}", vpath.display()))?;
        f.sync_all()?;
        File::open(dir.join(meta.passages_file()))?.sync_all()?;
        meta.deleted.sort_unstable();
        Ok(WrittenSegment { dir, meta, dim })
    }
}

/// Writes documents into consecutive segments from a first id on, starting the next one once a
/// segment holds `cap` rows: the one place a run, and a merge, roll over.
pub struct SegmentsWriter {
    dir: PathBuf,
    dim: usize,
    cap: usize,
    current: SegmentWriter,
    full: Vec<WrittenSegment>,
}

impl SegmentsWriter {
    /// Starts writing segments numbered from `first_id` up, at most `cap` rows each.
    pub fn create(dir: &Path, first_id: u64, dim: usize, cap: usize) -> Result<SegmentsWriter> {
        let current = SegmentWriter::create(dir, first_id, dim)?;
        Ok(SegmentsWriter { dir: dir.to_path_buf(), dim, cap: cap.max(1), current, full: Vec::new() })
    }

    /// Appends a document (see `SegmentWriter::add`) and returns the segment and first row it
    /// landed at (`None` for a document without passages).
    pub fn add(&mut self, doc: DocRecord, passages: Vec<PassageRecord>, vectors: &[f32]) -> Result<Option<(u64, u32)>> {
        let id = self.current.id();
        let first = self.current.add(doc, passages, vectors)?;
        if self.current.rows() >= self.cap {
            let next = SegmentWriter::create(&self.dir, id + 1, self.dim)?;
            self.full.push(std::mem::replace(&mut self.current, next).finish()?);
        }
        Ok(first.map(|f| (id, f)))
    }

    /// Tombstones document `doc_id`, written by this writer into `segment` at `first` (`n`
    /// passages), for a later document with the same id.
    pub fn supersede(&mut self, segment: u64, doc_id: &str, first: u32, n: u32) -> Result<()> {
        if segment == self.current.id() {
            self.current.supersede(doc_id, first, n)?;
        } else if let Some(w) = self.full.iter_mut().find(|w| w.meta.id == segment) {
            w.supersede(first, n);
        }
        Ok(())
    }

    /// Finishes the last segment; returns the segments that hold rows (an empty last one is
    /// removed).
    pub fn finish(self) -> Result<Vec<WrittenSegment>> {
        let mut all = self.full;
        let last = self.current.finish()?;
        if last.meta.rows > 0 {
            all.push(last);
        } else {
            last.discard();
        }
        Ok(all)
    }
}

/// A segment whose passages and vectors are on disk but which has no graph yet and is named by no
/// manifest: it becomes part of the index when `build_graph` and `commit` have run, or it is read
/// back into a merge and left for `commit` to clean up. A document of it superseded by a later one
/// of the same run (in another segment) is tombstoned with `supersede`.
pub struct WrittenSegment {
    dir: PathBuf,
    /// Its manifest entry.
    pub meta: SegmentMeta,
    dim: usize,
}

impl WrittenSegment {
    /// Builds the HNSW graph over the segment's vectors (read through a memory map, so the vector
    /// file is never copied into the heap; the build holds their 8-bit codes, a quarter of it),
    /// and returns the segment's manifest entry, its files' sums and the seconds the graph took.
    pub fn build_graph(self, hnsw: &HnswParams, quiet: bool) -> Result<(SegmentMeta, BTreeMap<String, FileSum>, f64)> {
        let spinner = crate::progress::spinner(&format!("building the HNSW graph over {} vectors", self.meta.rows), quiet);
        let t = Instant::now();
        let vectors = self.map_vectors()?;
        let floats: &[f32] = if self.meta.rows == 0 { &[] } else { bytemuck::cast_slice(&vectors[..]) };
        ann::build_graph(&self.dir.join(self.meta.graph_file()), floats, self.dim, hnsw)?;
        let graph_seconds = t.elapsed().as_secs_f64();
        drop(vectors);
        spinner.finish_and_clear();
        let mut sums = BTreeMap::new();
        for f in self.meta.files() {
            let sum = if f == self.meta.vectors_file() { sum_and_vouch(&self.dir, &f, STAMP_AFTER)? } else { file_sum(&self.dir.join(&f))? };
            sums.insert(f, sum);
        }
        Ok((self.meta, sums, graph_seconds))
    }

    /// Tombstones `n` rows from `first` (a document this run replaced or removed).
    pub fn supersede(&mut self, first: u32, n: u32) {
        self.meta.deleted.push([first, n]);
        self.meta.deleted.sort_unstable();
    }

    /// Reads the segment back (for a merge): its store and its vectors.
    pub fn open(&self) -> Result<(PassageStore, Mmap)> {
        Ok((PassageStore::open(&self.dir.join(self.meta.passages_file()))?, self.map_vectors()?))
    }

    fn map_vectors(&self) -> Result<Mmap> {
        let path = self.dir.join(self.meta.vectors_file());
        let f = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        if f.metadata()?.len() != (self.meta.rows * self.dim * 4) as u64 {
            bail!("{}: not the {} vectors just written", path.display(), self.meta.rows);
        }
        // SAFETY: this run wrote the file and holds the writer lock; nothing else writes it.
        let map = unsafe { Mmap::map(&f) }.with_context(|| format!("cannot map {}", path.display()))?;
        Ok(map)
    }

    /// Removes the segment's files (a run that ends without committing it).
    pub fn discard(self) {
        for f in self.meta.files() {
            let _ = fs::remove_file(self.dir.join(f));
        }
    }
}

/// The first segment number no file in `dir` uses and no manifest has handed out: numbers only
/// grow, even over a damaged manifest, so no live file is ever overwritten before the commit
/// that replaces it.
pub fn next_free_segment(dir: &Path, manifest_next: u64) -> u64 {
    let mut next = manifest_next;
    if let Ok(entries) = fs::read_dir(dir) {
        for n in entries.flatten().filter_map(|e| segment_number(&e.file_name().to_string_lossy())) {
            next = next.max(n + 1);
        }
    }
    next
}

/// The segment a file of the index directory belongs to (`seg-N.*`).
fn segment_number(name: &str) -> Option<u64> {
    name.strip_prefix("seg-").and_then(|r| r.split('.').next()).and_then(|n| n.parse().ok())
}

/// Swaps `meta.json` atomically, then removes files that neither this generation nor the previous
/// one names (older segments, segments only written to be merged, leftovers of interrupted runs,
/// files of an older format).
pub fn commit(dir: &Path, meta: &Meta, prev: Option<&Meta>) -> Result<()> {
    let mut meta = meta.clone();
    meta.seal();
    let tmp = dir.join("meta.json.tmp");
    fs::write(&tmp, meta.to_json()).with_context(|| format!("cannot write {}", tmp.display()))?;
    File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, dir.join("meta.json")).with_context(|| format!("cannot replace {}", dir.join("meta.json").display()))?;
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

/// Holds the writer lock for the index directory while alive.
pub struct WriterLock {
    dir: PathBuf,
    _file: File,
}

impl WriterLock {
    /// Takes the index's writer lock (waiting, with a notice, while another run holds it).
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
        remove_uncommitted(dir);
        Ok(WriterLock { dir: dir.to_path_buf(), _file: file })
    }
}

/// A run that fails (a full disk, above all) takes its unfinished segments with it, instead of
/// leaving them to fill the disk until a later run commits; one killed outright leaves them to
/// the next writer, which removes them when it takes the lock.
impl Drop for WriterLock {
    fn drop(&mut self) {
        remove_uncommitted(&self.dir);
    }
}

/// Removes the segment files no committed manifest can name: numbers from the manifest's
/// `next_segment` up (each run writes above it, and a manifest names only segments below its own),
/// or every segment file when nothing was ever committed. Only the writer-lock holder calls this, so
/// no other run is writing them; readers open only files a manifest names. With a manifest that
/// cannot be read, nothing is removed (the run that follows decides what to rebuild).
fn remove_uncommitted(dir: &Path) {
    let first = match Meta::read(dir) {
        Ok(Some(m)) => m.next_segment,
        Ok(None) => 0,
        Err(_) => return,
    };
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        if segment_number(&e.file_name().to_string_lossy()).is_some_and(|n| n >= first) {
            let _ = fs::remove_file(e.path());
        }
    }
}
