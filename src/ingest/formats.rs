//! Formats: a file's text turned into documents. Plain text and Markdown (an article, or one
//! document per line for a file of one-line briefs), JSONL records, and HTML's visible text.

use super::{Document, Format, LineMap};

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

pub(super) fn text_documents(path: &str, text: String, format: Format) -> Vec<Document> {
    if is_snippet_file(&text) {
        let mut docs = Vec::new();
        let mut offset = 0usize;
        for (i, line) in text.split_inclusive('\n').enumerate() {
            let body = line.trim_end_matches(['\n', '\r']);
            if !body.trim().is_empty() {
                docs.push(Document {
                    doc_id: format!("{path}:{}", i + 1),
                    path: path.to_string(),
                    title: String::new(),
                    text: body.to_string(),
                    lines: LineMap::Verbatim { first_line: (i + 1) as u32, base_byte: offset as u64 },
                });
            }
            offset += line.len();
        }
        return docs;
    }
    let title = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| if format == Format::Markdown { l.trim_start_matches('#').trim() } else { l })
        .filter(|l| l.chars().count() <= 200)
        .unwrap_or_default()
        .to_string();
    vec![Document {
        doc_id: path.to_string(),
        path: path.to_string(),
        title,
        text,
        lines: LineMap::Verbatim { first_line: 1, base_byte: 0 },
    }]
}

/// JSONL: BEIR corpus records `{"_id","title","text"}` or any object with a `text` field. Lines
/// that are not such records come back as (`file:line`, what is wrong), beside the documents of
/// the good ones.
pub fn jsonl_documents(path: &str, text: &str) -> (Vec<Document>, Vec<(String, String)>) {
    let mut docs = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        match jsonl_record(path, i + 1, line) {
            Ok(Some(d)) => docs.push(d),
            Ok(None) => {}
            Err(why) => bad.push((format!("{path}:{}", i + 1), why)),
        }
    }
    (docs, bad)
}

/// One JSONL line: a document, nothing (a blank line, a record with no text), or what is wrong.
pub fn jsonl_record(path: &str, line_no: usize, line: &str) -> std::result::Result<Option<Document>, String> {
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
    // The title leads the text (as its own paragraph) so that it is embedded with the first
    // passage: for entity-like records the title is often what a query names.
    let text = if title.is_empty() { body.to_string() } else { format!("{title}\n\n{body}") };
    Ok(Some(Document { doc_id: id, path: path.to_string(), title, text, lines: LineMap::Record { line: line_no as u32 } }))
}

/// HTML: the visible text (no script, style, head or template contents), block elements turned
/// into paragraph breaks, entities decoded, with every output byte mapped to its source line.
pub fn html_document(path: &str, html: &str) -> Option<Document> {
    const BLOCK: &[&str] = &[
        "p", "div", "br", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "td", "th", "section", "article",
        "header", "footer", "blockquote", "pre", "ul", "ol", "table", "hr", "main", "aside", "nav", "figure",
        "figcaption", "dd", "dt",
    ];
    const HIDDEN: &[&str] = &["script", "style", "template", "noscript", "svg"];
    let bytes = html.as_bytes();
    let mut text = String::new();
    let mut line_of: Vec<u32> = Vec::new();
    let mut title = String::new();
    let mut line = 1u32;
    let mut i = 0usize;
    let mut hidden_until: Option<String> = None;
    let mut in_title = false;
    let mut pending_space = false;
    let mut pending_break = false;
    let push = |text: &mut String, line_of: &mut Vec<u32>, s: &str, line: u32| {
        text.push_str(s);
        line_of.extend(std::iter::repeat_n(line, s.len()));
    };
    while i < bytes.len() {
        if bytes[i] == b'<' {
            let end = html[i..].find('>').map(|e| i + e).unwrap_or(bytes.len() - 1);
            let tag = &html[i + 1..end];
            line += tag.matches('\n').count() as u32;
            let comment = tag.starts_with("!--");
            if comment {
                let cend = html[i..].find("-->").map(|e| i + e + 3).unwrap_or(bytes.len());
                line += html[end.min(cend)..cend].matches('\n').count() as u32;
                i = cend;
                continue;
            }
            let closing = tag.starts_with('/');
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase();
            if let Some(h) = &hidden_until {
                if closing && &name == h {
                    hidden_until = None;
                }
            } else if name == "title" {
                in_title = !closing;
            } else if HIDDEN.contains(&name.as_str()) && !closing && !tag.ends_with('/') {
                hidden_until = Some(name.clone());
            } else if BLOCK.contains(&name.as_str()) {
                pending_break = true;
            }
            i = end + 1;
            continue;
        }
        let next = html[i..].find('<').map(|e| i + e).unwrap_or(bytes.len());
        let raw = &html[i..next];
        if hidden_until.is_none() {
            let decoded = html_escape::decode_html_entities(raw);
            if in_title {
                title.push_str(decoded.split_whitespace().collect::<Vec<_>>().join(" ").as_str());
            } else {
                // Walk the raw text word by word to keep line numbers right.
                let mut l = line;
                for piece in raw.split_inclusive(char::is_whitespace) {
                    let word = piece.trim_end();
                    if !word.is_empty() {
                        if !text.is_empty() {
                            if pending_break {
                                push(&mut text, &mut line_of, "\n\n", l);
                            } else if pending_space {
                                push(&mut text, &mut line_of, " ", l);
                            }
                        }
                        pending_break = false;
                        pending_space = false;
                        push(&mut text, &mut line_of, &html_escape::decode_html_entities(word), l);
                    }
                    if piece.ends_with(char::is_whitespace) {
                        pending_space = true;
                        if piece.ends_with('\n') {
                            l += 1;
                        }
                    }
                }
            }
        }
        line += raw.matches('\n').count() as u32;
        i = next;
    }
    if text.trim().is_empty() {
        return None;
    }
    Some(Document {
        doc_id: path.to_string(),
        path: path.to_string(),
        title: title.trim().to_string(),
        text,
        lines: LineMap::Mapped(line_of),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_file_gives_one_document_per_line() {
        let docs = text_documents("b.txt", "one brief.\ntwo brief.\nthree brief.\n".into(), Format::Text);
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[1].doc_id, "b.txt:2");
        assert_eq!(docs[1].text, "two brief.");
        assert!(matches!(docs[2].lines, LineMap::Verbatim { first_line: 3, base_byte: 22 }));
    }

    #[test]
    fn article_is_one_document_titled_by_first_line() {
        let docs = text_documents("a.md", "# Heading\n\nBody one.\n\nBody two.\n".into(), Format::Markdown);
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].title, "Heading");
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

    #[test]
    fn html_visible_text_with_lines() {
        let html = "<html><head><title>My  Page</title><style>p{}</style></head>\n<body>\n<p>Hello &amp; welcome.</p>\n<script>var x=1;</script>\n<p>Second\nline.</p></body></html>";
        let d = html_document("p.html", html).unwrap();
        assert_eq!(d.title, "My Page");
        assert_eq!(d.text, "Hello & welcome.\n\nSecond line.");
        let LineMap::Mapped(m) = &d.lines else { panic!() };
        assert_eq!(m[0], 3);
        let second = d.text.find("Second").unwrap();
        assert_eq!(m[second], 5);
        let line_word = d.text.find("line.").unwrap();
        assert_eq!(m[line_word], 6);
    }
}
