//! The errors a user acts on differently, as one type. Code below `main` returns `anyhow::Error`
//! (for the context it adds along the way: which file, which step) with one of these at its root
//! where the kind matters; `main` alone turns them into exit codes and `index` alone decides that
//! only `Damaged` and `OlderFormat` are worth rebuilding over.

use std::path::PathBuf;

/// The errors that call for different action by the user; `main` maps them to exit codes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file of the index does not match what the manifest recorded, or the manifest itself is
    /// unreadable: the next `index` run rebuilds it.
    #[error("{path}: {why}; the index is damaged, re-run `semsearch index` to rebuild it")]
    Damaged {
        /// The file (or the index directory).
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// Written by an older semsearch: rebuilt by the next `index` run.
    #[error("{path}: index format version {version} was written by an older semsearch; re-run `semsearch index` to rebuild it")]
    OlderFormat {
        /// The manifest.
        path: PathBuf,
        /// The version it records.
        version: u64,
    },
    /// Written by a newer semsearch: never touched.
    #[error(
        "{path}: index format version {version}, this semsearch reads version {supported}; use a newer semsearch, or delete {dir} and re-run `semsearch index`"
    )]
    NewerFormat {
        /// The manifest.
        path: PathBuf,
        /// The index directory.
        dir: PathBuf,
        /// The version it records.
        version: u64,
        /// The version this semsearch reads.
        supported: u32,
    },
    #[error("no index in {dir}; build one with `semsearch index PATH...` (or pass --index DIR)")]
    /// No index where one was looked for.
    NoIndex {
        /// Where.
        dir: PathBuf,
    },
    /// The index was built with another model than the one loaded.
    #[error("index {dir} was built with model {built} ({built_sha}…), not {loaded} ({loaded_sha}…); use the same --model, or another --index, or delete {dir} to rebuild")]
    OtherModel {
        /// The index directory.
        dir: PathBuf,
        /// The model that built it.
        built: String,
        /// Its weights' checksum.
        built_sha: String,
        /// The model loaded.
        loaded: String,
        /// Its weights' checksum.
        loaded_sha: String,
    },
    /// The index's vectors were computed in another precision than this run's (`--precision`):
    /// questions must be embedded as its passages were, and one index holds one kind of vector.
    #[error("index {dir} holds vectors computed in {built}, not {loaded}; use --precision {built} (or leave it out), another --index, or delete {dir} to rebuild it in {loaded}")]
    OtherPrecision {
        /// The index directory.
        dir: PathBuf,
        /// The precision of its vectors.
        built: crate::model::Precision,
        /// This run's.
        loaded: crate::model::Precision,
    },
    /// Input the user can fix: `at` names the file (and line) or the flag.
    #[error("{at}: {why}")]
    BadInput {
        /// `file`, `file:line` or the flag.
        at: String,
        /// What is wrong and what to do.
        why: String,
    },
    /// Settings that cannot be used (a flag or a SEMSEARCH_* variable).
    #[error("{0}")]
    Usage(String),
    /// What the user named (a passage id, a path:line) is not in the index.
    #[error("{0}")]
    NotFound(String),
    /// Every handle is in use and none came back in time (`serve`): try again shortly.
    #[error("{0}")]
    Busy(String),
    /// The request a search was for is gone (its client closed the connection): the work not yet
    /// begun was skipped.
    #[error("the request was cancelled: its client left")]
    Cancelled,
}

impl Error {
    /// A `Damaged` error for `path`.
    pub fn damaged(path: impl Into<PathBuf>, why: impl std::fmt::Display) -> anyhow::Error {
        Error::Damaged { path: path.into(), why: why.to_string() }.into()
    }

    /// A `BadInput` error at `at`.
    pub fn bad_input(at: impl Into<String>, why: impl Into<String>) -> anyhow::Error {
        Error::BadInput { at: at.into(), why: why.into() }.into()
    }

    /// The typed error somewhere in `e`'s chain, if any.
    pub fn find(e: &anyhow::Error) -> Option<&Error> {
        e.chain().find_map(|c| c.downcast_ref::<Error>())
    }

    /// Whether `index` should rebuild over an index that fails to open with `e`: only when its
    /// files are damaged or of an older format. Anything else (too many open files, permissions,
    /// memory, a newer format, another model) may pass or needs the user, and throwing the index
    /// away would lose every document not given to this run.
    pub fn calls_for_rebuild(e: &anyhow::Error) -> bool {
        matches!(Self::find(e), Some(Error::Damaged { .. } | Error::OlderFormat { .. }))
    }
}

/// SQLite's "database or disk is full" (it reports ENOSPC as its own code, not as an OS error).
pub fn disk_full(e: &anyhow::Error) -> bool {
    e.chain().any(|c| matches!(c.downcast_ref::<rusqlite::Error>(), Some(rusqlite::Error::SqliteFailure(f, _)) if f.code == rusqlite::ErrorCode::DiskFull))
}

/// The OS error behind `e`, if it is one (for `main`'s hints and exit codes).
pub fn io_error(e: &anyhow::Error) -> Option<&std::io::Error> {
    e.chain().find_map(|c| c.downcast_ref::<std::io::Error>())
}
