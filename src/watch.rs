//! Following folders: the OS's file notifications (inotify, FSEvents, ReadDirectoryChangesW through
//! the notify crate) turned into bursts, one index run per burst.
//!
//! The notify debouncer crates debounce per path (one event per file per interval); what an index
//! run needs is per tree: wait until the whole folder has been quiet for `QUIET`, so a `git
//! checkout` of 1,000 files, or an editor's save (write a temporary file, rename it over the old
//! one), is one run. That rule is the few lines of `Bursts::next`, over notify's raw events. A
//! burst that never goes quiet (a log written every 100 ms) is cut at `LONGEST`, so changes still
//! land. Waiting is a blocking receive: no CPU is spent while nothing changes.

use anyhow::Result;
use notify::event::{AccessKind, EventKind, MetadataKind, ModifyKind};
use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the folders must be quiet before a burst is over.
pub const QUIET: Duration = Duration::from_millis(300);
/// The longest a burst is waited on before an index run starts anyway.
pub const LONGEST: Duration = Duration::from_secs(3);

/// Changes under some folders, grouped into bursts.
pub struct Bursts {
    rx: mpsc::Receiver<notify::Result<notify::Event>>,
    // Kept for its notifications: dropping it stops them.
    _watcher: notify::RecommendedWatcher,
    roots: Vec<PathBuf>,
    ignored: Vec<PathBuf>,
    /// Each folder's `.gitignore` and `.ignore` rules (None: it has neither), read the first time
    /// a change under it is looked at and again after either file changes.
    rules: std::cell::RefCell<std::collections::HashMap<PathBuf, Option<ignore::gitignore::Gitignore>>>,
}

/// What one burst held.
#[derive(Debug, Default)]
pub struct Burst {
    /// Changed paths (files and folders), each once.
    pub paths: std::collections::BTreeSet<PathBuf>,
    /// Whether the OS lost events (its queue overflowed): only a full walk knows what changed.
    pub rescan: bool,
}

impl Bursts {
    /// Watches `paths` (folders recursively, files alone); changes under `ignored` (the index
    /// itself, when it lives in a watched folder) are not changes.
    pub fn watch(paths: &[PathBuf], ignored: &[PathBuf]) -> Result<Bursts> {
        let (tx, rx) = mpsc::channel();
        let mut watcher = notify::recommended_watcher(move |e| {
            // The receiver is gone only when the watch is over.
            let _ = tx.send(e);
        })?;
        let mut roots = Vec::new();
        for p in paths {
            let root = std::fs::canonicalize(p).map_err(|e| crate::error::Error::bad_input(p.display().to_string(), format!("cannot watch: {e}")))?;
            let mode = if root.is_dir() { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
            watcher.watch(&root, mode).map_err(|e| watch_error(p, e))?;
            roots.push(root);
        }
        let ignored = ignored.iter().map(|p| canonical(p)).collect();
        Ok(Bursts { rx, _watcher: watcher, roots, ignored, rules: Default::default() })
    }

    /// Blocks until something changes, then until the folders have been quiet for `QUIET` (or
    /// `LONGEST` has passed): the burst. `None` when notifications have stopped.
    pub fn next(&self) -> Option<Burst> {
        let mut burst = Burst::default();
        while burst.paths.is_empty() && !burst.rescan {
            let event = self.rx.recv().ok()?;
            self.add(&mut burst, event);
        }
        // Quiet means no change that counts: reads of the index (a server answering) and of the
        // files (our own run) come all the time and must not keep a burst open.
        let (start, mut last) = (Instant::now(), Instant::now());
        while start.elapsed() < LONGEST {
            let left = QUIET.saturating_sub(last.elapsed());
            if left.is_zero() {
                break;
            }
            match self.rx.recv_timeout(left) {
                Ok(event) => {
                    if self.add(&mut burst, event) {
                        last = Instant::now();
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        Some(burst)
    }

    /// Adds what `event` changed to `burst`; whether it changed anything that counts.
    fn add(&self, burst: &mut Burst, event: notify::Result<notify::Event>) -> bool {
        let event = match event {
            Ok(e) => e,
            // An error of the OS's watch (its queue, a folder gone): rescan to be sure.
            Err(_) => {
                burst.rescan = true;
                return true;
            }
        };
        let mut counted = event.need_rescan();
        burst.rescan |= counted;
        if changes_content(&event.kind) {
            for p in event.paths {
                if self.counts(&p) {
                    burst.paths.insert(p);
                    counted = true;
                }
            }
        }
        counted
    }

    /// Whether a change at `path` can change the index: not inside an ignored folder (the
    /// index), nor under a watched root where the index's walk does not look: hidden files and
    /// folders (an editor's `.swp`, `.git`) and what a `.gitignore` or `.ignore` there leaves out
    /// (a build's output: without this, every build in a watched project ran the index again).
    /// A change to those rule files counts: it changes what the walk takes.
    fn counts(&self, path: &Path) -> bool {
        if self.ignored.iter().any(|i| path.starts_with(i)) {
            return false;
        }
        let Some((root, rel)) = self.roots.iter().find_map(|r| path.strip_prefix(r).ok().map(|rel| (r, rel))) else { return true };
        let hidden = |c: &std::ffi::OsStr| c.to_str().is_some_and(|s| s.starts_with('.') || s.ends_with('~'));
        let parts: Vec<&std::ffi::OsStr> = rel.iter().collect();
        let Some((name, folders)) = parts.split_last() else { return true };
        if folders.iter().any(|c| hidden(c)) {
            return false;
        }
        if *name == ".gitignore" || *name == ".ignore" {
            self.rules.borrow_mut().remove(path.parent().unwrap_or(root));
            return true;
        }
        !hidden(name) && !self.left_out(root, path)
    }

    /// Whether the rules of `root`'s folders down to `path`'s leave it out, the deepest folder's
    /// rules first (a `!pattern` there takes back what a folder above left out), as the walk
    /// decides. (Git's global and `.git/info/exclude` rules, which the walk also reads inside a
    /// repository, are not looked at here: a change they leave out still runs the index, which
    /// then finds nothing new.)
    fn left_out(&self, root: &Path, path: &Path) -> bool {
        let is_dir = path.is_dir();
        let mut rules = self.rules.borrow_mut();
        for dir in path.ancestors().skip(1).take_while(|d| d.starts_with(root)) {
            let matcher = rules.entry(dir.to_path_buf()).or_insert_with(|| folder_rules(dir));
            match matcher.as_ref().map(|m| m.matched_path_or_any_parents(path, is_dir)) {
                Some(ignore::Match::Ignore(_)) => return true,
                Some(ignore::Match::Whitelist(_)) => return false,
                _ => {}
            }
        }
        false
    }
}

/// `dir`'s `.gitignore` and `.ignore` rules, None where it has neither (or they cannot be read: the
/// change then counts, and the index run decides).
fn folder_rules(dir: &Path) -> Option<ignore::gitignore::Gitignore> {
    let files: Vec<PathBuf> = [".gitignore", ".ignore"].iter().map(|f| dir.join(f)).filter(|f| f.is_file()).collect();
    if files.is_empty() {
        return None;
    }
    let mut builder = ignore::gitignore::GitignoreBuilder::new(dir);
    for f in &files {
        // A line that is not a valid pattern leaves the others in force, as in the walk.
        let _ = builder.add(f);
    }
    builder.build().ok()
}

/// `path` made absolute and free of links as the OS reports events, also where it does not exist
/// yet (an index the first run will create): its parent's canonical form and its name.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|e| match (path.parent(), path.file_name()) {
            (Some(dir), Some(name)) => std::fs::canonicalize(if dir.as_os_str().is_empty() { Path::new(".") } else { dir }).map(|d| d.join(name)),
            _ => Err(e),
        })
        .unwrap_or_else(|_| path.to_path_buf())
}

/// Whether an event can change what a file holds: reads (our own index run opens every file)
/// and access-time updates cannot.
fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(notify::event::AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)) => false,
        _ => true,
    }
}

fn watch_error(path: &Path, e: notify::Error) -> anyhow::Error {
    let shown = path.display().to_string();
    if let notify::ErrorKind::Io(io) = &e.kind {
        if io.raw_os_error() == Some(28 /* ENOSPC: inotify's watch limit */) {
            return crate::error::Error::bad_input(
                shown,
                "too many folders to watch (the OS's inotify limit); raise it: sudo sysctl fs.inotify.max_user_watches=524288".to_string(),
            );
        }
        if io.raw_os_error() == Some(24 /* EMFILE: inotify instances */) {
            return crate::error::Error::bad_input(
                shown,
                "too many watches open (fs.inotify.max_user_instances); close other watchers or raise it".to_string(),
            );
        }
    }
    crate::error::Error::bad_input(shown, format!("cannot watch: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_writes_is_one_burst_and_reads_and_the_index_are_not_changes() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join(".semsearch");
        std::fs::create_dir_all(&index).unwrap();
        // A project's build output, left out by its .gitignore (one level down, taken back in
        // part by a `!` rule in a deeper folder).
        std::fs::create_dir_all(dir.path().join("docs/build/keep")).unwrap();
        std::fs::write(dir.path().join(".gitignore"), "build/\n*.log\n").unwrap();
        std::fs::write(dir.path().join("docs/build/keep/.gitignore"), "!*.md\n").unwrap();
        let b = Bursts::watch(&[dir.path().to_path_buf()], std::slice::from_ref(&index)).unwrap();
        // Reads, hidden files, the index and what the rules leave out: nothing to wait for.
        std::fs::write(dir.path().join(".note.md.swp"), "x").unwrap();
        std::fs::write(index.join("meta.json"), "{}").unwrap();
        std::fs::write(dir.path().join("docs/build/out.html"), "x").unwrap();
        std::fs::write(dir.path().join("docs/run.log"), "x").unwrap();
        std::fs::write(dir.path().join("a.md"), "# A\n\nfirst").unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let names = |b: &Burst| b.paths.iter().map(|p| p.strip_prefix(&root).unwrap().to_str().unwrap().to_string()).collect::<Vec<_>>();
        let first = b.next().unwrap();
        assert_eq!(names(&first), ["a.md"], "{first:?}");
        // What a deeper rule takes back counts; so does a change to the rules themselves.
        std::fs::write(dir.path().join("docs/build/keep/b.md"), "# B").unwrap();
        assert_eq!(names(&b.next().unwrap()), ["docs/build/keep/b.md"]);
        std::fs::write(dir.path().join(".gitignore"), "*.log\n").unwrap();
        assert_eq!(names(&b.next().unwrap()), [".gitignore"]);
        // Read again after that change: build/ is no longer left out.
        std::fs::write(dir.path().join("docs/build/out.html"), "y").unwrap();
        assert_eq!(names(&b.next().unwrap()), ["docs/build/out.html"]);
        // 200 files written 2 ms apart while the index is read all the time (a server answering):
        // one burst, over once the writes stop.
        let reader = {
            let i = index.join("meta.json");
            std::thread::spawn(move || {
                let t = Instant::now();
                while t.elapsed() < Duration::from_secs(2) {
                    let _ = std::fs::read(&i);
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        let writer = {
            let d = dir.path().to_path_buf();
            std::thread::spawn(move || {
                for i in 0..200 {
                    std::fs::write(d.join(format!("f{i}.md")), "x").unwrap();
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        let t = Instant::now();
        let burst = b.next().unwrap();
        writer.join().unwrap();
        let took = t.elapsed();
        reader.join().unwrap();
        assert_eq!(burst.paths.len(), 200, "all 200 writes are one burst: {burst:?}");
        // The writes take ~0.5 s; the burst ends QUIET after the last, while the reads go on.
        assert!(took >= QUIET && took < Duration::from_millis(1600), "{took:?}");
    }
}
