//! What `status` (and the server's `/api/status`, and the MCP `status` tool) reports: about a local
//! index, its manifest's counts, sizes and settings, document dates and with `files` every document
//! (`IndexStatus`); about a collection on a server, the same facts as the server holds them
//! (`CollectionStatus`, built in `remote`). Typed, so the JSON, the human form and the API's
//! description (`/api/openapi.json`) come from one definition.

use crate::index::{ChunkParams, Index, Meta, ModelMeta};
use anyhow::Result;
use schemars::JsonSchema;
use serde::Serialize;
use std::path::Path;

/// A local index's status. Without an index (`status PATH...` before the first `index`) only
/// `index` and `would` are there.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct IndexStatus {
    /// The index directory.
    pub index: String,
    /// The committed generation's figures, when there is one.
    #[serde(flatten)]
    pub built: Option<IndexFigures>,
    /// What `index PATH...` would change (`status PATH...`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub would: Option<crate::indexer::Plan>,
    /// How many warnings the last `index` run gave (files skipped, metadata it could not read).
    pub warnings: usize,
    /// Those warnings (`status --warnings`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub warning_list: Option<Vec<crate::ingest::Warning>>,
}

/// A committed generation's figures.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct IndexFigures {
    /// Bumped by every commit.
    pub generation: u64,
    /// The layout's version.
    pub format_version: u32,
    /// The model the vectors were made with.
    pub model: ModelMeta,
    /// How they were computed (`model.precision`, which the manifest leaves out for f32, always
    /// said here).
    pub precision: crate::model::Precision,
    /// How passages were cut.
    pub chunking: ChunkParams,
    /// The part of its corpus the index holds (`index --shard`, `I/N`); absent: all of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Live documents.
    pub documents: usize,
    /// Live passages.
    pub passages: usize,
    /// Segments (one per 131,072 passages at most, and the few small ones the merge policy leaves).
    pub segments: usize,
    /// Tombstoned passages awaiting a merge.
    pub deleted_passages: usize,
    /// Their share of all rows.
    pub tombstone_share: f64,
    /// The index's size on disk.
    pub size_bytes: u64,
    /// That size by kind of file.
    pub file_bytes: FileBytes,
    /// Documents with a publication date (absent when the stores cannot be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documents_with_date: Option<usize>,
    /// Documents without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documents_without_date: Option<usize>,
    /// Every document (`--files`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileEntry>>,
}

/// An index's size by kind of file.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FileBytes {
    /// The segments' SQLite stores (documents, passages, lexical index).
    pub passages: u64,
    /// The vectors.
    pub vectors: u64,
    /// The graphs.
    pub graph: u64,
    /// `meta.json`.
    pub meta: u64,
}

/// One indexed document (`status --files`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FileEntry {
    /// Its path.
    pub path: String,
    /// Its id.
    pub doc_id: String,
    /// Its title.
    pub title: String,
    /// Its date (ISO 8601).
    pub date: Option<String>,
    /// Its URL.
    pub url: Option<String>,
    /// Its passages.
    pub passages: u32,
    /// The source it was pushed as (a server's collection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A collection's status on a PostgreSQL server (`status --backend`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CollectionStatus {
    /// The server's URL, without its password.
    pub backend: String,
    /// The collection.
    pub collection: String,
    /// The TLS version of this connection as the server sees it; null when not encrypted.
    pub tls: Option<String>,
    /// Bumped by every push.
    pub generation: u64,
    /// The table layout's version.
    pub schema_version: Option<u32>,
    /// The model the vectors were made with.
    pub model: CollectionModel,
    /// How the passages were cut, as the pushing index recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunking: Option<serde_json::Value>,
    /// Documents there.
    pub documents: i64,
    /// Documents with a publication date.
    pub documents_with_date: i64,
    /// Documents without one.
    pub documents_without_date: i64,
    /// Passages there.
    pub passages: i64,
    /// Its tables' and indexes' size on the server.
    pub size_bytes: i64,
    /// The sources pushed into it, by name.
    pub sources: Vec<CollectionSource>,
    /// Every document (`--files`), by source and path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileEntry>>,
}

/// A source of a collection (`push --source`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CollectionSource {
    /// Its name.
    pub name: String,
    /// Its documents.
    pub documents: i64,
    /// Their passages.
    pub passages: i64,
    /// When it was last pushed (UTC).
    pub pushed_at: Option<String>,
}

/// A collection's model, as its meta table records it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CollectionModel {
    /// Its name.
    pub name: Option<String>,
    /// Its weights' SHA-256.
    pub weights_sha256: Option<String>,
    /// Dimensions of a vector.
    pub dimensions: Option<usize>,
}

/// What `/api/status` and the MCP `status` tool answer: the local index's status or the
/// collection's.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum StatusReport {
    /// `serve` over a local index.
    Index(IndexStatus),
    /// `serve --backend`.
    Collection(CollectionStatus),
}

/// The report for the index at `dir`, or `None` when there is none. The manifest alone answers
/// most of it: a store that cannot be opened only costs the date counts (`ask` and `index` report
/// what is wrong with it), except with `files`, which needs the documents.
pub fn report(dir: &Path, files: bool) -> Result<Option<IndexStatus>> {
    let Some(m) = Meta::read(dir)? else { return Ok(None) };
    let kind_bytes = |ext: &str| m.files.iter().filter(|(n, _)| n.ends_with(ext)).map(|(_, f)| f.bytes).sum::<u64>();
    let meta_bytes = std::fs::metadata(dir.join("meta.json")).map(|m| m.len()).unwrap_or(0);
    let opened = Index::open_any(dir);
    let dated = opened.as_ref().ok().and_then(|i| i.dated_documents().ok());
    let files = match files {
        true => Some(
            opened?
                .documents()?
                .into_iter()
                .map(|d| FileEntry { path: d.path, doc_id: d.doc_id, title: d.title, date: d.date, url: d.url, passages: d.n_passages, source: None })
                .collect(),
        ),
        false => None,
    };
    let figures = IndexFigures {
        shard: m.shard.map(|s| s.to_string()),
        generation: m.generation,
        format_version: m.format_version,
        model: m.model.clone(),
        precision: m.model.precision,
        chunking: m.chunking,
        documents: m.counts.documents,
        passages: m.counts.passages,
        segments: m.segments.len(),
        deleted_passages: m.deleted_rows(),
        tombstone_share: (m.tombstone_share() * 1e4).round() / 1e4,
        size_bytes: m.size_bytes() + meta_bytes,
        file_bytes: FileBytes { passages: kind_bytes(".sqlite"), vectors: kind_bytes(".f32"), graph: kind_bytes(".graph"), meta: meta_bytes },
        documents_with_date: dated,
        documents_without_date: dated.map(|d| m.counts.documents.saturating_sub(d)),
        files,
    };
    let warnings = crate::indexer::warnings::read(dir).len();
    Ok(Some(IndexStatus { index: dir.display().to_string(), built: Some(figures), would: None, warnings, warning_list: None }))
}
