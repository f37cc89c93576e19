//! `Searcher`: the model loaded once and the index kept open across requests, following the
//! generations `semsearch index` commits.
//!
//! An `Index` holds SQLite connections, which one thread at a time may use, so requests do not
//! share one: each generation keeps a pool of opened indexes, a request takes one (opening another
//! when all are busy, up to one per core) and puts it back. No lock is held while searching, only
//! while taking or returning a handle. The cap: a search is CPU work, so more searches at once
//! than cores only add handles (each maps the vectors and keeps SQLite's page cache: ~20 MB on
//! 5,000 passages) without answering sooner; requests beyond it wait for a handle. Before each request the manifest (`meta.json`, a few hundred bytes) is read
//! and compared with the one the current generation was opened at; when `index` has committed a
//! new one, the next request opens it and later requests use it, while requests already running
//! finish on the old one, whose files stay readable until its last handle is dropped (a committed
//! file is unlinked, never rewritten).

use crate::embed::Embedder;
use crate::index::Index;
use crate::model::ModelInfo;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};

pub struct Searcher {
    dir: PathBuf,
    info: ModelInfo,
    pub embedder: Embedder,
    current: RwLock<Arc<Generation>>,
    /// Held while a new generation is opened, so a burst of requests opens it once.
    reopening: Mutex<()>,
    max_handles: usize,
}

struct Generation {
    manifest: Vec<u8>,
    pool: Mutex<Pool>,
    returned: Condvar,
}

struct Pool {
    idle: Vec<Index>,
    /// Handles of this generation, idle or in use.
    opened: usize,
}

impl Generation {
    fn new(manifest: Vec<u8>, index: Index) -> Generation {
        Generation { manifest, pool: Mutex::new(Pool { idle: vec![index], opened: 1 }), returned: Condvar::new() }
    }
}

impl Searcher {
    /// Loads nothing itself: `embedder` is the loaded model; the index at `dir` is opened now, so
    /// a missing or damaged index is an error before the server starts.
    pub fn open(dir: &Path, info: &ModelInfo, embedder: Embedder) -> Result<Searcher> {
        let (manifest, index) = open_generation(dir, info)?;
        Ok(Searcher {
            dir: dir.to_path_buf(),
            info: info.clone(),
            embedder,
            current: RwLock::new(Arc::new(Generation::new(manifest, index))),
            reopening: Mutex::new(()),
            max_handles: std::thread::available_parallelism().map_or(2, |n| n.get()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The generation to answer from: the current one, or the one `index` committed since.
    fn generation(&self) -> Result<Arc<Generation>> {
        let manifest = read_manifest(&self.dir)?;
        let current = self.current.read().unwrap_or_else(|p| p.into_inner()).clone();
        if current.manifest == manifest {
            return Ok(current);
        }
        let _one = self.reopening.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.current.read().unwrap_or_else(|p| p.into_inner()).clone();
        if current.manifest == read_manifest(&self.dir)? {
            return Ok(current);
        }
        let (manifest, index) = open_generation(&self.dir, &self.info)?;
        let fresh = Arc::new(Generation::new(manifest, index));
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        Ok(fresh)
    }

    /// Runs `f` with an index of the current generation to itself.
    pub fn with_index<T>(&self, f: impl FnOnce(&Index) -> Result<T>) -> Result<T> {
        let generation = self.generation()?;
        let idle = {
            let mut pool = lock(&generation.pool);
            loop {
                if let Some(i) = pool.idle.pop() {
                    break Some(i);
                }
                if pool.opened < self.max_handles {
                    pool.opened += 1;
                    break None;
                }
                pool = generation.returned.wait(pool).unwrap_or_else(|p| p.into_inner());
            }
        };
        let index = match idle {
            Some(i) => i,
            None => Index::open(&self.dir, &self.info).inspect_err(|_| {
                lock(&generation.pool).opened -= 1;
                generation.returned.notify_one();
            })?,
        };
        let lease = Lease { generation: &generation, index: Some(index) };
        f(lease.index.as_ref().expect("leased"))
    }
}

/// A handle taken from a generation's pool, returned when dropped (also when the search panics).
struct Lease<'a> {
    generation: &'a Generation,
    index: Option<Index>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.index.take() {
            lock(&self.generation.pool).idle.push(i);
            self.generation.returned.notify_one();
        }
    }
}

/// The pool, also after a request panicked while holding it (the pool itself is still whole).
fn lock(m: &Mutex<Pool>) -> std::sync::MutexGuard<'_, Pool> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read_manifest(dir: &Path) -> Result<Vec<u8>> {
    let path = dir.join("meta.json");
    std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
}

/// The manifest and an index opened at it. `index` may commit between the two reads: then the
/// index is opened again, so the manifest kept is the one the index was opened at.
fn open_generation(dir: &Path, info: &ModelInfo) -> Result<(Vec<u8>, Index)> {
    loop {
        let before = match read_manifest(dir) {
            Ok(m) => m,
            // No index, or no access: opening says which, as `ask` would.
            Err(e) => {
                Index::open(dir, info)?;
                return Err(e);
            }
        };
        let index = Index::open(dir, info)?;
        if read_manifest(dir)? == before {
            return Ok((before, index));
        }
    }
}
