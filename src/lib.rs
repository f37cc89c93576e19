//! semsearch: local semantic search over articles.
//!
//! Data flows ingest → chunk → embed → indexer → index (store + ann) → search → output; see
//! ARCHITECTURE.md.

// Every public item says what it is (clippy -D warnings in .ci/run makes this an error).
#![warn(missing_docs)]

pub mod allocator;
pub mod ann;
pub mod bench;
pub mod chunk;
pub mod cpu;
pub mod docpath;
pub mod embed;
pub mod error;
pub mod eval;
pub mod index;
pub mod indexer;
pub mod ingest;
pub mod model;
pub mod output;
pub mod progress;
pub mod remote;
pub mod search;
pub mod serve;
pub mod settings;
pub mod status;
pub mod store;
pub mod watch;
