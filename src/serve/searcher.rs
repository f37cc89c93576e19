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

use crate::embed::Embedder;
use crate::error::Error;
use crate::index::{Index, PassageRecord};
use crate::model::ModelInfo;
use crate::output::{JsonPassage, PassageInContext};
use crate::remote::Remote;
use crate::search;
use crate::search::request::{Related as RelatedRequest, SearchRequest};
use crate::status::StatusReport;
use crate::store::Store;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};

/// Whether the request a search is for is still wanted. The request's future holds the guard from
/// `on_drop`; when its client closes the connection, hyper drops the future and the flag is set,
/// so the search skips what it has not begun: waiting for a handle, and the search itself once a
/// handle is free. A search already running finishes (it takes milliseconds; a statement on a
/// server is bounded by `statement_timeout`).
#[derive(Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

/// Sets its `Cancel` when dropped (see `Cancel::on_drop`).
pub struct CancelOnDrop(Cancel);

impl Cancel {
    /// A guard that cancels when dropped: keep it in the future that awaits the search, and
    /// `disarm` it once the answer is in.
    pub fn on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(self.clone())
    }

    /// Whether the request was cancelled.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Error::Cancelled` once the request was cancelled.
    pub fn check(&self) -> Result<()> {
        if self.is_set() {
            return Err(Error::Cancelled.into());
        }
        Ok(())
    }
}

impl CancelOnDrop {
    /// The search answered: dropping the guard no longer cancels anything.
    pub fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        (self.0).0.store(true, Ordering::Relaxed);
    }
}

/// What `serve` and `mcp` answer from: the model, and the local index or a collection on a
/// PostgreSQL server (`--backend`), behind the same four calls.
pub struct Searcher {
    /// The model, loaded once.
    pub embedder: Embedder,
    /// The mode of a request that names none (`serve --mode`, `SEMSEARCH_MODE`).
    pub default_mode: search::Mode,
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
    connections: Handles<Remote>,
}

struct LocalIndex {
    dir: PathBuf,
    info: ModelInfo,
    current: RwLock<Arc<Generation>>,
    /// Held while a new generation is opened, so a burst of requests opens it once.
    reopening: Mutex<()>,
}

struct Generation {
    manifest: Vec<u8>,
    handles: Handles<Index>,
}

/// Handles one thread at a time may use (a generation's opened indexes, server connections), at
/// most `max` open: a request takes an idle one, or opens another while under `max`, or waits for
/// one to come back. No lock is held while a handle is in use, only while taking or returning it.
struct Handles<T> {
    state: Mutex<Pool<T>>,
    returned: Condvar,
    max: usize,
    /// Whether a handle whose search panicked goes back to the pool (an index: it holds nothing
    /// of the search) or is closed (a server connection, which may be mid-conversation).
    reuse_after_panic: bool,
    /// How long a lease waits for a handle to come back (`POOL_WAIT`).
    wait: std::time::Duration,
}

struct Pool<T> {
    idle: Vec<T>,
    /// Handles open, idle or in use.
    open: usize,
}

/// How long a request waits for a free handle before it is answered 503 (with `Retry-After`).
pub const POOL_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// How often a request waiting for a handle looks whether its client left.
const CANCEL_CHECK: std::time::Duration = std::time::Duration::from_millis(50);

impl<T> Handles<T> {
    fn new(first: T, max: usize, reuse_after_panic: bool) -> Handles<T> {
        Handles { state: Mutex::new(Pool { idle: vec![first], open: 1 }), returned: Condvar::new(), max, reuse_after_panic, wait: POOL_WAIT }
    }

    /// A handle to use alone: `ready` is given an idle one (`None`: a free slot to open one in)
    /// and returns the handle to use; when it fails, the slot is freed.
    /// A request cancelled meanwhile stops waiting (its wait is checked every `CANCEL_CHECK`).
    fn lease(&self, cancel: &Cancel, ready: impl FnOnce(Option<T>) -> Result<T>) -> Result<Lease<'_, T>> {
        let waited = std::time::Instant::now();
        let idle = {
            let mut pool = self.lock();
            loop {
                cancel.check()?;
                if let Some(h) = pool.idle.pop() {
                    break Some(h);
                }
                if pool.open < self.max {
                    pool.open += 1;
                    break None;
                }
                let left = self.wait.saturating_sub(waited.elapsed());
                if left.is_zero() {
                    return Err(crate::error::Error::Busy(format!(
                        "all {} search handles stayed busy for {:.1} s; try again shortly",
                        self.max,
                        self.wait.as_secs_f64()
                    ))
                    .into());
                }
                pool = self.returned.wait_timeout(pool, left.min(CANCEL_CHECK)).unwrap_or_else(|p| p.into_inner()).0;
            }
        };
        // From here the slot is the lease's: dropped without a handle, it frees the slot.
        let mut lease = Lease { handles: self, handle: None };
        lease.handle = Some(ready(idle)?);
        Ok(lease)
    }

    /// The pool, also after a request panicked while holding it (the pool itself is still whole).
    fn lock(&self) -> std::sync::MutexGuard<'_, Pool<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A handle taken from `Handles`, returned when dropped (when the search panicked, as
/// `reuse_after_panic` says), or discarded.
struct Lease<'a, T> {
    handles: &'a Handles<T>,
    handle: Option<T>,
}

impl<T> Lease<'_, T> {
    /// Closes the handle instead of returning it (a connection that failed), freeing its slot.
    fn discard(mut self) {
        self.handle = None;
    }
}

impl<T> std::ops::Deref for Lease<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.handle.as_ref().expect("a lease holds its handle until dropped")
    }
}

impl<T> Drop for Lease<'_, T> {
    fn drop(&mut self) {
        let mut handle = self.handle.take();
        if std::thread::panicking() && !self.handles.reuse_after_panic {
            handle = None;
        }
        let mut pool = self.handles.lock();
        match handle {
            Some(h) => pool.idle.push(h),
            None => pool.open -= 1,
        }
        drop(pool);
        self.handles.returned.notify_one();
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
            current: RwLock::new(Arc::new(Generation { manifest, handles: Handles::new(index, cores(), true) })),
            reopening: Mutex::new(()),
        };
        Ok(Searcher { embedder, default_mode: search::DEFAULT_MODE, source: Source::Local(local) })
    }

    /// Answers from `collection` on the PostgreSQL server at `url`; connects now, so a wrong URL,
    /// a server down or a missing collection is an error before the server starts. The model is
    /// loaded by `load`, given the model as the collection's vectors were computed (in
    /// `precision`, where given and the collection's, else an error naming both).
    pub fn connect(
        url: &str,
        collection: &str,
        identity: &ModelInfo,
        precision: Option<crate::model::Precision>,
        load: impl FnOnce(&ModelInfo) -> Result<Embedder>,
    ) -> Result<Searcher> {
        let first = Remote::open_any_precision(url, collection, identity)?;
        let info = identity.clone().with_precision(precision.unwrap_or(first.precision()));
        first.check_precision(info.precision)?;
        let embedder = load(&info)?;
        let pool = ServerPool { url: url.to_string(), collection: collection.to_string(), info, connections: Handles::new(first, cores(), false) };
        Ok(Searcher { embedder, default_mode: search::DEFAULT_MODE, source: Source::Server(pool) })
    }

    /// Runs `f` with the store to answer from: a local index of the current generation, or a
    /// server connection, to itself; not at all once `cancel` is set (also while waiting for one).
    fn with_store<T>(&self, cancel: &Cancel, f: impl FnOnce(&dyn Store) -> Result<T>) -> Result<T> {
        cancel.check()?;
        let f = |store: &dyn Store| {
            cancel.check()?;
            f(store)
        };
        match &self.source {
            Source::Local(l) => l.with_index(cancel, |index| f(index)),
            Source::Server(s) => s.with_remote(cancel, |r| f(r)),
        }
    }

    /// `ask`: the results, how many undated documents a date filter left out, and the notices.
    pub fn ask(&self, question: &str, req: &SearchRequest, cancel: &Cancel) -> Result<search::Answered> {
        self.with_store(cancel, |store| search::ask(store, &self.embedder, question, &req.options, &req.filter))
    }

    /// `related`: the passages like the target, and the notices.
    pub fn related(&self, req: &RelatedRequest, cancel: &Cancel) -> Result<search::Answered> {
        self.with_store(cancel, |store| search::related(store, &self.embedder, &req.target, req.same_doc, &req.search.options, &req.search.filter))
    }

    /// What `semsearch status --json` reports (with `--backend` for a server).
    pub fn status(&self, cancel: &Cancel) -> Result<StatusReport> {
        match &self.source {
            // The index removed while serving: nothing to report (404), not a failure to open it.
            Source::Local(l) if !l.dir.join("meta.json").exists() => Err(Error::NotFound(format!("no index in {}", l.dir.display())).into()),
            _ => self.with_store(cancel, |store| store.status(false)),
        }
    }

    /// A passage with up to `context` passages of its document before and after it, as
    /// `/api/passage` answers (`output::PassageInContext`).
    pub fn passage(&self, id: &str, context: usize, cancel: &Cancel) -> Result<serde_json::Value> {
        let c = self.with_store(cancel, |store| store.passage_in_context(id, context))?;
        fn list<'a>(rs: &'a [PassageRecord], doc: &'a crate::index::DocRecord) -> Vec<JsonPassage<'a>> {
            rs.iter().map(|r| JsonPassage::new(r, doc)).collect()
        }
        let d = &c.document;
        Ok(serde_json::to_value(PassageInContext { passage: JsonPassage::new(&c.passage, d), before: list(&c.before, d), after: list(&c.after, d) })?)
    }
}

impl ServerPool {
    /// Runs `f` with a connection of its own, its collection statistics re-read. At most one
    /// connection per core, as local index handles: more searches at once only queue on the cores
    /// and take server connections (a server allows ~100 in all); requests beyond it wait for one. A connection that failed is not kept (the server may have
    /// restarted): the next request connects anew.
    fn with_remote<T>(&self, cancel: &Cancel, f: impl FnOnce(&Remote) -> Result<T>) -> Result<T> {
        let remote = self.connections.lease(cancel, |idle| match idle {
            Some(mut r) => match r.refresh(&self.info) {
                Ok(()) => Ok(r),
                Err(_) => Remote::open(&self.url, &self.collection, &self.info),
            },
            None => Remote::open(&self.url, &self.collection, &self.info),
        })?;
        let out = f(&remote);
        let broken = out.as_ref().err().is_some_and(|e| e.chain().any(|c| c.downcast_ref::<postgres::Error>().is_some_and(|p| p.is_closed())));
        if broken {
            remote.discard();
        }
        out
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
        let fresh = Arc::new(Generation { manifest, handles: Handles::new(index, cores(), true) });
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        Ok(fresh)
    }

    /// Runs `f` with an index of the current generation to itself.
    fn with_index<T>(&self, cancel: &Cancel, f: impl FnOnce(&Index) -> Result<T>) -> Result<T> {
        let generation = self.generation()?;
        let index = generation.handles.lease(cancel, |idle| match idle {
            Some(i) => Ok(i),
            None => Index::open(&self.dir, &self.info),
        })?;
        f(&index)
    }
}

/// The cap on handles: a search is CPU work, so more at once than cores only add handles.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// With every handle in use, a request waits its time and is then told the server is busy (a
    /// `Busy` error: 503 with `Retry-After`), instead of waiting forever; a handle that comes back
    /// in time is taken.
    #[test]
    fn a_request_that_waits_too_long_for_a_handle_is_told_busy() {
        let mut pool = Handles::new(1u32, 1, true);
        pool.wait = std::time::Duration::from_millis(50);
        let go = Cancel::default();
        let held = pool.lease(&go, |h| Ok(h.unwrap())).unwrap();
        let started = std::time::Instant::now();
        let err = pool.lease(&go, |h| Ok(h.unwrap_or(2))).err().expect("busy");
        assert!(matches!(crate::error::Error::find(&err), Some(crate::error::Error::Busy(_))), "{err:#}");
        assert!(started.elapsed() >= std::time::Duration::from_millis(50) && started.elapsed() < std::time::Duration::from_secs(5));
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(std::time::Duration::from_millis(10));
                drop(held);
            });
            assert_eq!(*pool.lease(&go, |h| Ok(h.unwrap())).unwrap(), 1, "the handle given back in time");
        });
    }

    /// A request whose client leaves while it waits for a handle stops waiting at once (not at the
    /// end of the pool's wait) and never runs; one cancelled before it asks is refused before it
    /// takes a free handle; an answered request's disarmed guard cancels nothing.
    #[test]
    fn a_request_whose_client_left_stops_waiting_and_never_runs() {
        let pool = Handles::new(1u32, 1, true);
        let go = Cancel::default();
        let held = pool.lease(&go, |h| Ok(h.unwrap())).unwrap();
        let gone = Cancel::default();
        let guard = gone.on_drop();
        let started = std::time::Instant::now();
        std::thread::scope(|s| {
            let waiting = s.spawn(|| pool.lease(&gone, |_| -> Result<u32> { panic!("a cancelled request never gets a handle") }).err().expect("cancelled"));
            std::thread::sleep(std::time::Duration::from_millis(120));
            drop(guard);
            let err = waiting.join().unwrap();
            assert!(matches!(Error::find(&err), Some(Error::Cancelled)), "{err:#}");
        });
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "stopped well before POOL_WAIT: {:?}", started.elapsed());
        drop(held);
        let err = pool.lease(&gone, |h| Ok(h.unwrap())).err().expect("cancelled before asking");
        assert!(matches!(Error::find(&err), Some(Error::Cancelled)));
        let answered = Cancel::default();
        answered.on_drop().disarm();
        assert!(!answered.is_set());
        assert_eq!(*pool.lease(&answered, |h| Ok(h.unwrap())).unwrap(), 1, "the handle is free again");
    }
}
