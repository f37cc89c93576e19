//! The storage engine: immutable segment files plus a small `meta.json` swapped atomically on
//! commit. It stores and finds passages; it does not read files, cut passages or run the model
//! (that is the `indexer`, which feeds it through `SegmentWriter`).
//!
//! ```text
//! .semsearch/
//!   meta.json          format version, model, chunking, segments with their tombstones, and the
//!                      size and checksum of every file                        (manifest.rs)
//!   seg-<S>.sqlite     a segment's documents and passages (text, lines, ids)  (store.rs)
//!   seg-<S>.f32        its row-major unit vectors, raw little-endian f32 (memory-mapped)
//!   seg-<S>.graph      its HNSW neighbour tables (memory-mapped)              (crate::ann)
//!   lock               held by the one writer                                 (writer.rs)
//!   verified.json      stat fields of files already checked against the manifest (integrity.rs)
//! ```
//!
//! A writer writes a new segment's files, fsyncs them, then renames `meta.json.tmp` over
//! `meta.json` (`commit`). Until that rename, readers and a crash both see the previous
//! generation; after it, the new one. Segment numbers only grow (even when a damaged index is
//! rebuilt), so a writer never deletes a file a committed manifest names before the commit that
//! replaces it; files of the previous generation are kept one more run, so a reader that read the
//! old `meta.json` a moment before the swap can still open them. Deleted documents are tombstones
//! (row ranges in the manifest) that search filters out until a merge drops them.

pub mod fts;
mod integrity;
mod manifest;
mod reader;
mod search;
mod sentences;
pub mod store;
mod writer;

pub use integrity::file_sum;
pub use manifest::{ChunkParams, Counts, FileSum, Meta, ModelMeta, SegmentMeta, FORMAT_VERSION, SEGMENTS_CURRENT_FROM};
pub use reader::{Index, Segment};
pub use sentences::SentenceVectors;
pub use store::{DocRecord, Passage, PassageRecord, PassageStore, SECTION_SEPARATOR, TITLE_WEIGHT};
pub use writer::{commit, next_free_segment, SegmentWriter, SegmentsWriter, WriterLock, WrittenSegment};

/// The index directory's name when `--index` is not given.
pub const DEFAULT_DIR: &str = ".semsearch";
