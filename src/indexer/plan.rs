//! Planning: what a run does to each document, decided against the previous generation: added,
//! updated (content hash differs), unchanged, removed (under the paths given but not seen again),
//! or kept (outside them). `index` acts on it; `status PATH...` only prints it.

use super::Documents;
use crate::docpath;
use crate::index::{DocRecord, Index, Meta};
use crate::ingest::{Document, IngestReport};
use anyhow::Result;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// What an `index` run does to a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// New to the index.
    Added,
    /// Its content changed.
    Updated,
    /// Left as it is.
    Unchanged,
    /// Gone from the paths given.
    Removed,
    /// Not seen in this run and not under its paths: left as it is.
    Kept,
}

/// A document's identity for change detection: its title and text.
pub fn content_hash(doc: &Document) -> String {
    let mut h = Sha256::new();
    h.update(doc.title.as_bytes());
    h.update([0]);
    h.update(doc.text.as_bytes());
    // Headings are embedded with the passages, and metadata is stored with the document: a change
    // to either is a change to the document.
    for (at, path) in &doc.sections {
        h.update([1]);
        h.update(at.to_le_bytes());
        h.update(path.as_bytes());
    }
    for field in [&doc.date, &doc.url] {
        h.update([2]);
        h.update(field.as_deref().unwrap_or("").as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// Passage ids depend only on the document's id, its content and the passage's place in it: they
/// stay the same while the document is unchanged.
pub fn passage_id(doc_id: &str, hash: &str, ordinal: usize) -> String {
    let mut h = Sha256::new();
    h.update(doc_id.as_bytes());
    h.update([0]);
    h.update(hash.as_bytes());
    h.update(ordinal.to_le_bytes());
    hex::encode(&h.finalize()[..8])
}

/// A document seen in this run, against the previous generation.
pub fn classify(prev: &HashMap<String, DocRecord>, doc_id: &str, hash: &str) -> Change {
    match prev.get(doc_id) {
        None => Change::Added,
        Some(o) if o.content_hash == hash => Change::Unchanged,
        Some(_) => Change::Updated,
    }
}

/// A previous document this run did not see: removed when it lies under one of the paths given
/// (its file is gone), kept otherwise, and kept when it lies under a file or folder this run could
/// not read or that is append-only (`keep`: `IngestReport::keeps`): a permission or I/O error is not
/// a deletion, and an item that fell off a feed is still news.
pub fn fate_of_unseen(doc: &DocRecord, roots: &[String], keep: &[String]) -> Change {
    let covered = |keys: &[String]| keys.iter().any(|r| docpath::covers(r, &doc.path));
    if covered(roots) && !covered(keep) {
        Change::Removed
    } else {
        Change::Kept
    }
}

/// What `index PATH...` would do, without doing it (no model needed).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Plan {
    /// Documents that would be added.
    pub added: Vec<String>,
    /// Documents that would be re-embedded.
    pub updated: Vec<String>,
    /// Documents that would be removed.
    pub removed: Vec<String>,
    /// Documents that would stay as they are.
    pub unchanged: usize,
    /// Documents outside the paths given, kept.
    pub kept: usize,
}

/// What `index` would do with `input`, without embedding or writing anything.
pub fn plan(dir: &Path, input: &mut dyn Documents) -> Result<(Plan, IngestReport)> {
    let prev_docs: Vec<DocRecord> = match Meta::read(dir)? {
        Some(_) => Index::open_any(dir)?.documents()?,
        None => Vec::new(),
    };
    let prev: HashMap<String, DocRecord> = prev_docs.iter().map(|d| (d.doc_id.clone(), d.clone())).collect();
    let roots = input.roots();
    // The last occurrence of a repeated id decides, as in `index`.
    let mut seen: HashMap<String, Change> = HashMap::new();
    let report = input.read(&mut |d| {
        let change = classify(&prev, &d.doc_id, &content_hash(&d));
        seen.insert(d.doc_id, change);
        Ok(())
    })?;
    let mut plan = Plan::default();
    let mut ids: Vec<(&String, &Change)> = seen.iter().collect();
    ids.sort_by(|a, b| a.0.cmp(b.0));
    for (id, change) in ids {
        match change {
            Change::Added => plan.added.push(id.clone()),
            Change::Updated => plan.updated.push(id.clone()),
            _ => plan.unchanged += 1,
        }
    }
    let seen: HashSet<&String> = seen.keys().collect();
    for d in &prev_docs {
        if seen.contains(&d.doc_id) {
            continue;
        }
        match fate_of_unseen(d, &roots, &report.keeps()) {
            Change::Removed => plan.removed.push(d.doc_id.clone()),
            _ => plan.kept += 1,
        }
    }
    Ok((plan, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passage_ids_are_stable_and_distinct() {
        assert_eq!(passage_id("d", "h", 0), passage_id("d", "h", 0));
        assert_ne!(passage_id("d", "h", 0), passage_id("d", "h", 1));
        assert_ne!(passage_id("d", "h", 0), passage_id("d", "h2", 0));
        assert_eq!(passage_id("d", "h", 0).len(), 16);
    }
}
