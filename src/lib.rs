//! semsearch: local semantic search over articles.
//!
//! Data flows ingest → chunk → embed → index (store + ann) → search → output; see ARCHITECTURE.md.

pub mod allocator;
pub mod ann;
pub mod bench;
pub mod chunk;
pub mod cpu;
pub mod embed;
pub mod eval;
pub mod index;
pub mod ingest;
pub mod model;
pub mod output;
pub mod progress;
pub mod search;
pub mod store;

use std::path::{Path, PathBuf};

/// Document paths are stored relative to the directory that holds the index directory, so an
/// index answers with the same paths whatever the current directory is when it is asked.
pub fn root_of(index_dir: &Path) -> PathBuf {
    let abs = std::fs::canonicalize(index_dir).unwrap_or_else(|_| {
        std::env::current_dir().map(|c| c.join(index_dir)).unwrap_or_else(|_| index_dir.to_path_buf())
    });
    abs.parent().map(Path::to_path_buf).unwrap_or(abs)
}
