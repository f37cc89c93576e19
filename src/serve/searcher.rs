//! `Searcher`: the model loaded once and the index kept open across requests, following the
//! generations `semsearch index` commits; or, with `--backend`, connections to a collection on a
//! PostgreSQL server kept open (at most one per core, its statistics re-read per request so a
//! push is followed without a restart). `serve` and `mcp` call only `ask`, `related`, `status`
//! and `passage`, the same for both.
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

use super::params::{RelatedRequest, SearchRequest};
use crate::embed::Embedder;
use crate::error::Error;
use crate::index::{DocRecord, Index, PassageRecord};
use crate::model::ModelInfo;
use crate::output::JsonPassage;
use crate::remote::Remote;
use crate::search::{self, Found};
use anyhow::{Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};

/// What `serve` and `mcp` answer from: the model, and the local index or a collection on a
/// PostgreSQL server (`--backend`), behind the same four calls.
pub struct Searcher {
    pub embedder: Embedder,
    source: Source,
}

enum Source {
    Local(LocalIndex),
    Server(ServerPool),
}

/// Connections to the server, kept open between requests (see `with_remote`).
struct ServerPool {
    url: String,
    collection: String,
    info: ModelInfo,
    connections: Mutex<Connections>,
    returned: Condvar,
    max_open: usize,
}

struct Connections {
    idle: Vec<Remote>,
    /// Connections of this pool, idle or in use.
    open: usize,
}

struct LocalIndex {
    dir: PathBuf,
    info: ModelInfo,
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
        let local = LocalIndex {
            dir: dir.to_path_buf(),
            info: info.clone(),
            current: RwLock::new(Arc::new(Generation::new(manifest, index))),
            reopening: Mutex::new(()),
            max_handles: std::thread::available_parallelism().map_or(2, |n| n.get()),
        };
        Ok(Searcher { embedder, source: Source::Local(local) })
    }

    /// Answers from `collection` on the PostgreSQL server at `url`; connects now, so a wrong URL,
    /// a server down or a missing collection is an error before the server starts.
    pub fn connect(url: &str, collection: &str, info: &ModelInfo, embedder: Embedder) -> Result<Searcher> {
        let first = Remote::open(url, collection, info)?;
        let pool = ServerPool {
            url: url.to_string(),
            collection: collection.to_string(),
            info: info.clone(),
            connections: Mutex::new(Connections { idle: vec![first], open: 1 }),
            returned: Condvar::new(),
            max_open: std::thread::available_parallelism().map_or(2, |n| n.get()),
        };
        Ok(Searcher { embedder, source: Source::Server(pool) })
    }

    /// `ask`: the results and how many undated documents a date filter left out.
    pub fn ask(&self, question: &str, req: &SearchRequest) -> Result<(Vec<Found>, usize)> {
        match &self.source {
            Source::Local(l) => l.with_index(|index| {
                let allowed = req.filter.allowed_rows(index)?;
                let found = search::ask(index, &self.embedder, question, &req.options, allowed.as_ref())?;
                Ok((found, allowed.as_ref().map_or(0, |a| a.undated)))
            }),
            Source::Server(s) => s.with_remote(|r| r.ask(&self.embedder, question, &req.options, &req.filter)),
        }
    }

    pub fn related(&self, req: &RelatedRequest) -> Result<Vec<Found>> {
        match &self.source {
            Source::Local(l) => l.with_index(|index| {
                let allowed = req.search.filter.allowed_rows(index)?;
                search::related(index, &self.embedder, &req.target, req.same_doc, &req.search.options, allowed.as_ref())
            }),
            Source::Server(s) => s.with_remote(|r| Ok(r.related(&self.embedder, &req.target, req.same_doc, &req.search.options, &req.search.filter)?.0)),
        }
    }

    /// What `semsearch status --json` reports (with `--backend` for a server).
    pub fn status(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        match &self.source {
            Source::Local(l) => crate::status::report(&l.dir, false)?.ok_or_else(|| Error::NotFound(format!("no index in {}", l.dir.display())).into()),
            Source::Server(s) => s.with_remote(|r| r.status(false)),
        }
    }

    /// A passage with up to `context` passages of its document before and after it.
    pub fn passage(&self, id: &str, context: usize) -> Result<serde_json::Value> {
        fn shown(before: &[PassageRecord], p: &PassageRecord, after: &[PassageRecord], doc: &DocRecord) -> serde_json::Value {
            let list = |rs: &[PassageRecord]| serde_json::Value::Array(rs.iter().map(|r| json!(JsonPassage::new(r, doc))).collect());
            json!({"passage": JsonPassage::new(p, doc), "before": list(before), "after": list(after)})
        }
        match &self.source {
            Source::Local(l) => l.with_index(|index| {
                let row = index.row_of_id(id)?.ok_or_else(|| Error::NotFound(format!("no passage with id {id}; ids come from /api/ask results")))?;
                let p = index.passage(row)?.ok_or_else(|| Error::NotFound(format!("no passage with id {id}")))?;
                let doc = index.document(&p.record.doc_id)?.ok_or_else(|| Error::damaged(&index.dir, format!("passage {id} has no document")))?;
                let all = index.passages_of(&doc)?;
                let at = p.record.ordinal as usize;
                let before = &all[at.saturating_sub(context).min(all.len())..at.min(all.len())];
                let after = all.get(at + 1..).unwrap_or(&[]);
                Ok(shown(before, &p.record, &after[..after.len().min(context)], &doc))
            }),
            Source::Server(s) => s.with_remote(|r| {
                let (before, p, after, doc) = r.passage_in_context(id, context)?;
                Ok(shown(&before, &p, &after, &doc))
            }),
        }
    }
}

impl ServerPool {
    /// Runs `f` with a connection of its own, its collection statistics re-read. At most
    /// `max_open` connections, as the local index has at most one handle per core: more searches at
    /// once only queue on the cores and take server connections (a server allows ~100 in all);
    /// requests beyond it wait for one. A connection that failed is not kept (the server may have
    /// restarted): the next request connects anew.
    fn with_remote<T>(&self, f: impl FnOnce(&Remote) -> Result<T>) -> Result<T> {
        let idle = {
            let mut c = self.lock();
            loop {
                if let Some(r) = c.idle.pop() {
                    break Some(r);
                }
                if c.open < self.max_open {
                    c.open += 1;
                    break None;
                }
                c = self.returned.wait(c).unwrap_or_else(|p| p.into_inner());
            }
        };
        // The slot is given back unless the connection goes back to the pool.
        let slot = Slot(self);
        let remote = match idle {
            Some(mut r) => match r.refresh(&self.info) {
                Ok(()) => r,
                Err(_) => Remote::open(&self.url, &self.collection, &self.info)?,
            },
            None => Remote::open(&self.url, &self.collection, &self.info)?,
        };
        let out = f(&remote);
        let broken = out.as_ref().err().is_some_and(|e| e.chain().any(|c| c.downcast_ref::<postgres::Error>().is_some_and(|p| p.is_closed())));
        if !broken {
            std::mem::forget(slot);
            self.lock().idle.push(remote);
            self.returned.notify_one();
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connections> {
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A connection slot taken from a `ServerPool`; dropping it frees the slot (the connection failed
/// or was never made, also when the search panicked).
struct Slot<'a>(&'a ServerPool);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.lock().open -= 1;
        self.0.returned.notify_one();
    }
}

impl LocalIndex {
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
    fn with_index<T>(&self, f: impl FnOnce(&Index) -> Result<T>) -> Result<T> {
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
