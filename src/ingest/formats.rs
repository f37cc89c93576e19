//! Formats: a file's text turned into documents. Plain text (an article, or one document per
//! line for a file of one-line briefs) and JSONL records; Markdown and HTML have their own files.

use super::{meta, Document, LineMap};

/// A file whose non-empty lines are not separated by blank lines, with several lines, is a list of
/// snippets (one news brief per line): each line is its own document. Otherwise the file is one
/// document made of paragraphs.
fn is_snippet_file(text: &str) -> bool {
    let lines: Vec<&str> = text.lines().collect();
    let non_empty = lines.iter().filter(|l| !l.trim().is_empty()).count();
    let first = lines.iter().position(|l| !l.trim().is_empty()).unwrap_or(0);
    let last = lines.iter().rposition(|l| !l.trim().is_empty()).unwrap_or(0);
    non_empty >= 3 && lines[first..=last].iter().all(|l| !l.trim().is_empty())
}

pub(super) fn text_documents(path: &str, text: String) -> Vec<Document> {
    if is_snippet_file(&text) {
        let mut docs = Vec::new();
        let mut offset = 0usize;
        for (i, line) in text.split_inclusive('\n').enumerate() {
            let body = line.trim_end_matches(['\n', '\r']);
            if !body.trim().is_empty() {
                let mut d = Document::plain(
                    format!("{path}:{}", i + 1),
                    path.to_string(),
                    String::new(),
                    body.to_string(),
                    LineMap::Verbatim { first_line: (i + 1) as u32, base_byte: offset as u64 },
                );
                // A brief that begins with its date (`2025-02-03 Copper jumps…`).
                d.date = meta::dateline_at_start(body);
                docs.push(d);
            }
            offset += line.len();
        }
        return docs;
    }
    let title = text.lines().map(str::trim).find(|l| !l.is_empty()).filter(|l| l.chars().count() <= 200).unwrap_or_default().to_string();
    let date = meta::dateline(&text);
    let mut doc = Document::plain(path.to_string(), path.to_string(), title, text, LineMap::Verbatim { first_line: 1, base_byte: 0 });
    doc.date = date;
    vec![doc]
}

/// JSONL: BEIR corpus records `{"_id","title","text"}` or any object with a `text` field. Lines
/// that are not such records come back as (`file:line`, what is wrong), beside the documents of
/// the good ones. (Metadata warnings are dropped here: this reads labeled sets.)
pub fn jsonl_documents(path: &str, text: &str) -> (Vec<Document>, Vec<(String, String)>) {
    let mut docs = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        match jsonl_record(path, i + 1, line, &mut |_| {}) {
            Ok(Some(d)) => docs.push(d),
            Ok(None) => {}
            Err(why) => bad.push((format!("{path}:{}", i + 1), why)),
        }
    }
    (docs, bad)
}

/// JSONL field names read as a document's date and url, first found wins.
const DATE_FIELDS: &[&str] = &["date", "published", "published_at", "publishedAt", "pubDate"];
const URL_FIELDS: &[&str] = &["url", "link", "canonical_url"];

/// One JSONL line: a document, nothing (a blank line, a record with no text), or what is wrong.
/// A date that is not ISO 8601 (or RFC 2822) goes to `warn` and is left out; the record is kept.
pub fn jsonl_record(path: &str, line_no: usize, line: &str, warn: &mut dyn FnMut(String)) -> std::result::Result<Option<Document>, String> {
    let line = line.trim_end_matches(['\n', '\r']);
    if line.trim().is_empty() {
        return Ok(None);
    }
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("invalid JSON ({e})"))?;
    let Some(obj) = v.as_object() else {
        return Err("expected a JSON object with a \"text\" field".into());
    };
    let Some(body) = obj.get("text").and_then(|t| t.as_str()) else {
        return Err("record has no string \"text\" field".into());
    };
    let id = match obj.get("_id").or_else(|| obj.get("id")) {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => format!("{path}:{line_no}"),
    };
    let title = obj.get("title").and_then(|t| t.as_str()).unwrap_or("").trim().to_string();
    if body.trim().is_empty() && title.is_empty() {
        return Ok(None);
    }
    let field = |names: &[&str]| {
        names.iter().find_map(|n| match obj.get(*n) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
    };
    let date = field(DATE_FIELDS).and_then(|raw| {
        let parsed = meta::parse_date(&raw);
        if parsed.is_none() {
            warn(meta::bad_date(&raw));
        }
        parsed
    });
    // The title is the section of every passage of the record (embedded as their prefix): for
    // entity-like records the title is often what a query names. A record with only a title is
    // its own text.
    let (text, sections) = if body.trim().is_empty() {
        (title.clone(), Vec::new())
    } else if title.is_empty() {
        (body.to_string(), Vec::new())
    } else {
        (body.to_string(), vec![(0, title.clone())])
    };
    Ok(Some(Document {
        doc_id: id,
        path: path.to_string(),
        title,
        text,
        lines: LineMap::Record { line: line_no as u32 },
        sections,
        date,
        url: super::meta::web_url(field(URL_FIELDS), &mut |why| warn(why)),
        bytes: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_file_gives_one_document_per_line() {
        let docs = text_documents("b.txt", "one brief.\ntwo brief.\nthree brief.\n".into());
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[1].doc_id, "b.txt:2");
        assert_eq!(docs[1].text, "two brief.");
        assert!(matches!(docs[2].lines, LineMap::Verbatim { first_line: 3, base_byte: 22 }));
    }

    #[test]
    fn article_is_one_document_titled_by_first_line() {
        let docs = text_documents("a.txt", "Heading\n\nBody one.\n\nBody two.\n".into());
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].title, "Heading");
    }

    #[test]
    fn jsonl_metadata_and_title_as_section() {
        let mut warned = Vec::new();
        let line = r#"{"id":"a","title":"T","text":"Body.","published_at":"2025-02-27T06:10:00+02:00","link":"https://x.example/a"}"#;
        let d = jsonl_record("e.jsonl", 4, line, &mut |w| warned.push(w)).unwrap().unwrap();
        assert_eq!((d.text.as_str(), d.section_at(0)), ("Body.", "T"));
        assert_eq!(d.date.as_deref(), Some("2025-02-27T06:10:00+02:00"));
        assert_eq!(d.url.as_deref(), Some("https://x.example/a"));
        let line = r#"{"id":"b","text":"Body.","date":"last Tuesday"}"#;
        let d = jsonl_record("e.jsonl", 5, line, &mut |w| warned.push(w)).unwrap().unwrap();
        assert_eq!(d.date, None);
        assert_eq!(warned.len(), 1);
        assert!(warned[0].contains("last Tuesday"), "{warned:?}");
    }

    #[test]
    fn jsonl_error_names_file_and_line() {
        let (docs, bad) = jsonl_documents("c.jsonl", "{\"_id\":\"1\",\"text\":\"ok\"}\n{broken\n[1]\n");
        assert_eq!(docs.len(), 1);
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].0, "c.jsonl:2");
        assert!(bad[0].1.starts_with("invalid JSON"), "{bad:?}");
        assert_eq!(bad[1].0, "c.jsonl:3");
        assert!(bad[1].1.starts_with("expected a JSON object"), "{bad:?}");
        let (docs, bad) = jsonl_documents("c.jsonl", "{\"_id\":\"1\"}\n");
        assert!(docs.is_empty());
        assert_eq!(bad[0], ("c.jsonl:1".to_string(), "record has no string \"text\" field".to_string()));
        let (docs, bad) = jsonl_documents("c.jsonl", "{\"_id\":7,\"title\":\"T\",\"text\":\"x\"}\n\n{\"text\":\"y\"}");
        assert!(bad.is_empty());
        assert_eq!(docs[0].doc_id, "7");
        assert_eq!(docs[0].title, "T");
        assert_eq!(docs[1].doc_id, "c.jsonl:3");
    }
}
