//! The manifest (`meta.json`): what a committed generation holds (model, chunking, graph
//! parameters, segments with their tombstones, every file's size and checksum), sealed with a
//! checksum of its own so that a changed byte that still parses is caught.

use crate::ann::HnswParams;
use crate::error::Error;
use crate::model::{ModelInfo, Pooling, Precision};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// How passages were cut (`chunk` cuts them; recorded in the manifest, so a re-run with other
/// parameters re-cuts every document).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChunkParams {
    /// Budget per passage in word pieces, including the two special tokens.
    pub max_tokens: usize,
    /// Longest sentence (in word pieces) repeated at the start of the next passage.
    pub overlap_tokens: usize,
    /// One passage per document, truncated by the embedder at the model window (as MTEB embeds
    /// documents), instead of sentence packing.
    #[serde(default)]
    pub whole_documents: bool,
}

impl Default for ChunkParams {
    fn default() -> Self {
        ChunkParams { max_tokens: 128, overlap_tokens: 32, whole_documents: false }
    }
}

/// Bumped whenever the files change shape; an older index is rebuilt, a newer one refused.
/// 3: passages carry their section path, documents their date and url.
/// 4: each segment's store has the lexical (FTS5) index.
/// 5: a document's title is indexed once (the `titles` table), not in each passage's lexical row;
///    CJK characters are indexed one by one. A format-4 index is read as it is (its lexical scores
///    as before) until the next `index` rewrites its segments (nothing is re-embedded).
/// 6: a segment's graph file carries 8-bit copies of its vectors, which the walk reads (`ann::sq8`).
///    A format-5 index is read and extended as it is (its graphs walked on the f32 vectors) and
///    gets the copies segment by segment as merges (or `compact`) rewrite them.
pub const FORMAT_VERSION: u32 = 6;
/// The oldest format whose segments are kept as they are; an older index has every segment
/// rewritten by the next `index`.
pub const SEGMENTS_CURRENT_FROM: u32 = 5;
/// The oldest format read as is: a format-3 index lacks only the lexical index, which the next
/// `index` (or `compact`) adds by rewriting the segments from their stored passages and vectors.
pub const UPGRADABLE_FROM: u32 = 3;

/// The model the vectors were made with, as the manifest records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ModelMeta {
    /// Its name.
    pub name: String,
    /// Its weights' SHA-256 (an index answers only to the same weights).
    pub weights_sha256: String,
    /// Dimensions of a vector.
    pub dimensions: usize,
    /// Its window in word pieces.
    pub max_tokens: usize,
    /// How token states become a vector.
    pub pooling: Pooling,
    /// How the vectors were computed (`--precision`); absent: f32, what every index held before
    /// int8 (so their manifests, and checksums, are unchanged).
    #[serde(default, skip_serializing_if = "Precision::is_f32")]
    pub precision: Precision,
}

impl From<&ModelInfo> for ModelMeta {
    fn from(m: &ModelInfo) -> Self {
        ModelMeta {
            name: m.name.clone(),
            weights_sha256: m.weights_sha256.clone(),
            dimensions: m.dimensions,
            max_tokens: m.max_tokens,
            pooling: m.pooling,
            precision: m.precision,
        }
    }
}

/// Live documents and passages (tombstoned ones not counted).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Counts {
    /// Live documents.
    pub documents: usize,
    /// Live passages.
    pub passages: usize,
}

/// A file's size and XXH3-64 checksum, as recorded when it was written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileSum {
    /// The file's size.
    pub bytes: u64,
    /// Its XXH3-64 checksum, hex.
    pub xxh3: String,
}

/// One segment: its files, rows and tombstones.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentMeta {
    /// Its number (files are named `seg-<id>.*`).
    pub id: u64,
    /// Documents and passage rows the segment's files hold, tombstoned ones included.
    pub documents: usize,
    /// Rows in its files, tombstoned ones included.
    pub rows: usize,
    /// Tombstones: `[first_row, count]` ranges of the passages of removed or replaced documents,
    /// sorted, one per document.
    pub deleted: Vec<[u32; 2]>,
}

impl SegmentMeta {
    /// Its SQLite store's file name.
    pub fn passages_file(&self) -> String {
        format!("seg-{}.sqlite", self.id)
    }
    /// Its vectors' file name.
    pub fn vectors_file(&self) -> String {
        format!("seg-{}.f32", self.id)
    }
    /// Its graph's file name.
    pub fn graph_file(&self) -> String {
        format!("seg-{}.graph", self.id)
    }
    /// Its three files' names.
    pub fn files(&self) -> [String; 3] {
        [self.passages_file(), self.vectors_file(), self.graph_file()]
    }
    /// Tombstoned rows.
    pub fn deleted_rows(&self) -> usize {
        self.deleted.iter().map(|r| r[1] as usize).sum()
    }
}

/// The manifest (`meta.json`): everything a reader needs to trust and open a generation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    /// The layout's version (`FORMAT_VERSION` when written by this semsearch).
    pub format_version: u32,
    /// Bumped by every commit.
    pub generation: u64,
    /// The model the vectors were made with.
    pub model: ModelMeta,
    /// How passages were cut.
    pub chunking: ChunkParams,
    /// The graphs' parameters.
    pub hnsw: HnswParams,
    /// The part of its corpus the index holds (`index --shard I/N`); absent: all of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::indexer::Shard>,
    /// Live documents and passages.
    pub counts: Counts,
    /// The next free segment number (files numbered from it up belong to no manifest).
    pub next_segment: u64,
    /// The segments, in row order.
    pub segments: Vec<SegmentMeta>,
    /// Every file of every segment.
    pub files: BTreeMap<String, FileSum>,
    /// XXH3-64 of this manifest written compactly with this field empty (see `seal`): a changed
    /// byte that still parses is caught too.
    #[serde(default)]
    pub checksum: String,
}

impl Meta {
    /// The committed manifest in `dir`, `None` if there is none; a damaged one is an error.
    pub fn read(dir: &Path) -> Result<Option<Meta>> {
        let path = dir.join("meta.json");
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Err(Error::damaged(&path, "not UTF-8 text")),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::damaged(&path, format!("not valid JSON ({e})")))?;
        let Some(version) = v["format_version"].as_u64() else {
            return Err(Error::damaged(&path, "no format_version"));
        };
        if version > FORMAT_VERSION as u64 {
            // Never rebuilt silently: it is a newer semsearch's index.
            return Err(Error::NewerFormat { path, dir: dir.to_path_buf(), version, supported: FORMAT_VERSION }.into());
        }
        if version < UPGRADABLE_FROM as u64 {
            return Err(Error::OlderFormat { path, version }.into());
        }
        let meta: Meta = serde_json::from_value(v).map_err(|e| Error::damaged(&path, format!("unexpected contents ({e})")))?;
        if meta.checksum != meta.sealed_checksum() {
            return Err(Error::damaged(&path, "checksum differs from its contents (the manifest was altered)"));
        }
        meta.validate().map_err(|e| Error::damaged(&path, e))?;
        Ok(Some(meta))
    }

    pub(super) fn sealed_checksum(&self) -> String {
        let mut m = self.clone();
        m.checksum.clear();
        let text = serde_json::to_string(&m).expect("a manifest serialises");
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
    }

    /// Sets `checksum` for the current contents; done on every commit.
    pub fn seal(&mut self) {
        self.checksum = self.sealed_checksum();
    }

    /// The manifest as written to `meta.json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a manifest serialises")
    }

    /// The manifest agrees with itself: every segment's files are listed, tombstones lie inside
    /// their segment, and the live counts add up.
    pub(super) fn validate(&self) -> std::result::Result<(), String> {
        let mut live = 0usize;
        for s in &self.segments {
            for f in s.files() {
                if !self.files.contains_key(&f) {
                    return Err(format!("segment {} has no entry for {f}", s.id));
                }
            }
            if s.id >= self.next_segment {
                return Err(format!("segment {} is not below next_segment {}", s.id, self.next_segment));
            }
            let mut end = 0u64;
            for r in &s.deleted {
                if (r[0] as u64) < end || r[0] as u64 + r[1] as u64 > s.rows as u64 {
                    return Err(format!("segment {} has a tombstone outside its rows", s.id));
                }
                end = r[0] as u64 + r[1] as u64;
            }
            live += s.rows - s.deleted_rows();
        }
        if live != self.counts.passages {
            return Err(format!("{live} live passages in the segments, counts say {}", self.counts.passages));
        }
        Ok(())
    }

    /// An error unless the index was built with `model` (same weights).
    pub fn check_model(&self, dir: &Path, model: &ModelInfo) -> Result<()> {
        if self.model.weights_sha256 != model.weights_sha256 || self.model.dimensions != model.dimensions {
            let short = |s: &str| s[..12.min(s.len())].to_string();
            return Err(Error::OtherModel {
                dir: dir.to_path_buf(),
                built: self.model.name.clone(),
                built_sha: short(&self.model.weights_sha256),
                loaded: model.name.clone(),
                loaded_sha: short(&model.weights_sha256),
            }
            .into());
        }
        if self.model.precision != model.precision {
            return Err(Error::OtherPrecision { dir: dir.to_path_buf(), built: self.model.precision, loaded: model.precision }.into());
        }
        Ok(())
    }

    /// The committed manifest, or `Error::NoIndex`.
    pub fn read_existing(dir: &Path) -> Result<Meta> {
        Meta::read(dir)?.ok_or_else(|| Error::NoIndex { dir: dir.to_path_buf() }.into())
    }

    /// Passage rows held in the files, tombstoned ones included.
    pub fn rows(&self) -> usize {
        self.segments.iter().map(|s| s.rows).sum()
    }

    /// Tombstoned rows in all segments.
    pub fn deleted_rows(&self) -> usize {
        self.segments.iter().map(|s| s.deleted_rows()).sum()
    }

    /// The share of rows that are tombstones.
    pub fn tombstone_share(&self) -> f64 {
        self.deleted_rows() as f64 / self.rows().max(1) as f64
    }

    /// The segment files' total size.
    pub fn size_bytes(&self) -> u64 {
        self.files.values().map(|f| f.bytes).sum()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::index) fn meta_with(segments: Vec<SegmentMeta>, passages: usize) -> Meta {
        let files = segments.iter().flat_map(|s| s.files()).map(|f| (f, FileSum { bytes: 1, xxh3: "0".into() })).collect();
        Meta {
            format_version: FORMAT_VERSION,
            generation: 1,
            model: ModelMeta { name: "m".into(), weights_sha256: "x".into(), dimensions: 4, max_tokens: 8, pooling: Pooling::Mean, precision: Precision::F32 },
            chunking: ChunkParams::default(),
            hnsw: HnswParams::default(),
            shard: None,
            counts: Counts { documents: 1, passages },
            next_segment: segments.iter().map(|s| s.id + 1).max().unwrap_or(0),
            segments,
            files,
            checksum: String::new(),
        }
    }

    #[test]
    fn manifest_validation_catches_inconsistent_tombstones_and_counts() {
        let seg = |deleted: Vec<[u32; 2]>| SegmentMeta { id: 0, documents: 3, rows: 10, deleted };
        assert!(meta_with(vec![seg(vec![[2, 3]])], 7).validate().is_ok());
        assert_eq!(meta_with(vec![seg(vec![[2, 3]])], 7).tombstone_share(), 0.3);
        assert!(meta_with(vec![seg(vec![[2, 3]])], 10).validate().is_err(), "live count disagrees");
        assert!(meta_with(vec![seg(vec![[8, 3]])], 7).validate().is_err(), "tombstone past the rows");
        assert!(meta_with(vec![seg(vec![[2, 3], [4, 1]])], 6).validate().is_err(), "overlapping tombstones");
        let mut m = meta_with(vec![seg(vec![])], 10);
        m.files.clear();
        assert!(m.validate().is_err(), "a segment file missing from the manifest");
    }

    #[test]
    fn sealed_manifest_detects_any_change() {
        let mut m = meta_with(vec![SegmentMeta { id: 0, documents: 1, rows: 2, deleted: vec![] }], 2);
        m.seal();
        assert_eq!(m.checksum, m.sealed_checksum());
        m.counts.documents = 2;
        assert_ne!(m.checksum, m.sealed_checksum());
    }
}
