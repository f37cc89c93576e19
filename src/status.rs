//! What `status` (and the server's `/api/status`) reports about an index: the manifest's counts,
//! sizes and settings, document dates, and with `files` every document.

use crate::index::{Index, Meta};
use anyhow::Result;
use serde_json::{json, Map, Value};
use std::path::Path;

/// The report for the index at `dir`, or `None` when there is none. The manifest alone answers
/// most of it: a store that cannot be opened only costs the date counts (`ask` and `index` report
/// what is wrong with it), except with `files`, which needs the documents.
pub fn report(dir: &Path, files: bool) -> Result<Option<Map<String, Value>>> {
    let mut status = Map::new();
    status.insert("index".into(), json!(dir.display().to_string()));
    let Some(m) = Meta::read(dir)? else { return Ok(None) };
    let kind_bytes = |ext: &str| m.files.iter().filter(|(n, _)| n.ends_with(ext)).map(|(_, f)| f.bytes).sum::<u64>();
    let meta_bytes = std::fs::metadata(dir.join("meta.json")).map(|m| m.len()).unwrap_or(0);
    status.insert("generation".into(), json!(m.generation));
    status.insert("format_version".into(), json!(m.format_version));
    status.insert("model".into(), serde_json::to_value(&m.model)?);
    status.insert("chunking".into(), serde_json::to_value(m.chunking)?);
    status.insert("documents".into(), json!(m.counts.documents));
    status.insert("passages".into(), json!(m.counts.passages));
    status.insert("segments".into(), json!(m.segments.len()));
    status.insert("deleted_passages".into(), json!(m.deleted_rows()));
    status.insert("tombstone_share".into(), json!((m.tombstone_share() * 1e4).round() / 1e4));
    status.insert("size_bytes".into(), json!(m.size_bytes() + meta_bytes));
    status.insert(
        "file_bytes".into(),
        json!({"passages": kind_bytes(".sqlite"), "vectors": kind_bytes(".f32"), "graph": kind_bytes(".graph"), "meta": meta_bytes}),
    );
    let opened = Index::open_any(dir);
    if let Ok(dated) = opened.as_ref().map_err(|_| ()).and_then(|i| i.dated_documents().map_err(|_| ())) {
        status.insert("documents_with_date".into(), json!(dated));
        status.insert("documents_without_date".into(), json!(m.counts.documents.saturating_sub(dated)));
    }
    if files {
        let list: Vec<Value> = opened?
            .documents()?
            .iter()
            .map(|d| json!({"path": d.path, "doc_id": d.doc_id, "title": d.title, "date": d.date, "url": d.url, "passages": d.n_passages}))
            .collect();
        status.insert("files".into(), Value::Array(list));
    }
    Ok(Some(status))
}
