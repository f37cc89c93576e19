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

/// One of N parts of a corpus (`index --shard I/N`): the documents whose key hashes to it, so N
/// machines can each embed a part of one corpus and push it as their own source, and the parts
/// together are the whole, each document in exactly one. The hash is XXH3-64 of the document's
/// key: a specified function, the same on every machine and in every version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// Which part, from 1.
    pub index: u32,
    /// Of how many.
    pub count: u32,
}

impl Shard {
    /// `I/N`, 1 ≤ I ≤ N.
    pub fn parse(s: &str) -> std::result::Result<Shard, String> {
        let parsed = s.split_once('/').and_then(|(i, n)| Some((i.trim().parse::<u32>().ok()?, n.trim().parse::<u32>().ok()?)));
        match parsed {
            Some((index, count)) if index >= 1 && index <= count => Ok(Shard { index, count }),
            _ => Err(format!("{s:?} is not a part of a corpus; write I/N with 1 ≤ I ≤ N, e.g. --shard 2/4")),
        }
    }

    /// Whether the document with key `doc_id` belongs to this part.
    pub fn holds(&self, doc_id: &str) -> bool {
        xxhash_rust::xxh3::xxh3_64(doc_id.as_bytes()) % u64::from(self.count) == u64::from(self.index - 1)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
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
    fn shards_split_documents_into_parts_each_in_exactly_one() {
        assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/4", "5/4", "1/0", "2", "a/b", "-1/3", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let parts: Vec<Shard> = (1..=4).map(|index| Shard { index, count: 4 }).collect();
        let mut sizes = [0usize; 4];
        for i in 0..10_000 {
            let key = format!("news/article-{i}.md");
            let holders: Vec<usize> = (0..4).filter(|&p| parts[p].holds(&key)).collect();
            assert_eq!(holders.len(), 1, "{key}");
            sizes[holders[0]] += 1;
        }
        // Even within a few percent, and fixed: the hash is XXH3's, not the process's.
        assert!(sizes.iter().all(|&n| (2_300..2_700).contains(&n)), "{sizes:?}");
        assert!(Shard { index: 1, count: 1 }.holds("anything"));
        assert_eq!(xxhash_rust::xxh3::xxh3_64(b"news/a.md") % 4, 2, "XXH3-64 changed; shards built by earlier versions would not match");
    }

    #[test]
    fn passage_ids_are_stable_and_distinct() {
        assert_eq!(passage_id("d", "h", 0), passage_id("d", "h", 0));
        assert_ne!(passage_id("d", "h", 0), passage_id("d", "h", 1));
        assert_ne!(passage_id("d", "h", 0), passage_id("d", "h2", 0));
        assert_eq!(passage_id("d", "h", 0).len(), 16);
    }
}
