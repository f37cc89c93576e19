//! `Searcher`: the model loaded once and the index kept open across requests, following the
//! generations `semsearch index` commits.
//!
//! An `Index` holds SQLite connections, which one thread at a time may use, so requests do not
//! share one: each generation keeps a pool of opened indexes, a request takes one (opening another
//! when all are busy) and puts it back. No lock is held while searching, only while taking or
//! returning a handle. Before each request the manifest (`meta.json`, a few hundred bytes) is read
//! and compared with the one the current generation was opened at; when `index` has committed a
//! new one, the next request opens it and later requests use it, while requests already running
//! finish on the old one, whose files stay readable until its last handle is dropped (a committed
//! file is unlinked, never rewritten).

use crate::embed::Embedder;
use crate::index::Index;
use crate::model::ModelInfo;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

pub struct Searcher {
    dir: PathBuf,
    info: ModelInfo,
    pub embedder: Embedder,
    current: RwLock<Arc<Generation>>,
    /// Held while a new generation is opened, so a burst of requests opens it once.
    reopening: Mutex<()>,
}

struct Generation {
    manifest: Vec<u8>,
    idle: Mutex<Vec<Index>>,
}

impl Searcher {
    /// Loads nothing itself: `embedder` is the loaded model; the index at `dir` is opened now, so
    /// a missing or damaged index is an error before the server starts.
    pub fn open(dir: &Path, info: &ModelInfo, embedder: Embedder) -> Result<Searcher> {
        let (manifest, index) = open_generation(dir, info)?;
        let generation = Generation { manifest, idle: Mutex::new(vec![index]) };
        Ok(Searcher {
            dir: dir.to_path_buf(),
            info: info.clone(),
            embedder,
            current: RwLock::new(Arc::new(generation)),
            reopening: Mutex::new(()),
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
        let fresh = Arc::new(Generation { manifest, idle: Mutex::new(vec![index]) });
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        Ok(fresh)
    }

    /// Runs `f` with an index of the current generation to itself.
    pub fn with_index<T>(&self, f: impl FnOnce(&Index) -> Result<T>) -> Result<T> {
        let generation = self.generation()?;
        let taken = generation.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let index = match taken {
            Some(i) => i,
            None => Index::open(&self.dir, &self.info)?,
        };
        let out = f(&index);
        generation.idle.lock().unwrap_or_else(|p| p.into_inner()).push(index);
        out
    }
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
