//! Ingest: paths in, `Document`s out.
//!
//! Walks files and directories the way ripgrep does (the `ignore` crate: .gitignore, .ignore, hidden
//! files), reads each supported file and turns it into documents. A document's `text` is what gets
//! chunked and embedded; `lines` maps byte offsets in that text back to lines of the source file, so
//! results can point at `path:line`.

use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Document {
    /// Stable identity: the path (relative to the index root when inside it), `path:line` for one
    /// snippet of a line-per-snippet file, or the record's `_id` for JSONL.
    pub doc_id: String,
    pub path: String,
    pub title: String,
    pub text: String,
    pub lines: LineMap,
}

/// How byte offsets in `Document::text` map to 1-based lines of the source file.
#[derive(Debug, Clone)]
pub enum LineMap {
    /// `text` is a verbatim slice of the file beginning at `first_line`, `base_byte`.
    Verbatim { first_line: u32, base_byte: u64 },
    /// `text` came from one line (a JSONL record): every offset maps to it.
    Record { line: u32 },
    /// `text` was extracted (HTML): the source line of every byte.
    Mapped(Vec<u32>),
}

impl Document {
    /// Byte offset in the source file of `text[off]`, where that is meaningful.
    pub fn source_byte(&self, off: usize) -> u64 {
        match &self.lines {
            LineMap::Verbatim { base_byte, .. } => base_byte + off as u64,
            _ => off as u64,
        }
    }
}

/// A file that was not indexed, and why.
#[derive(Debug, Clone)]
pub struct Skip {
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Ingested {
    pub documents: Vec<Document>,
    pub files: usize,
    pub skipped: Vec<Skip>,
    /// Every root path given (relative form), so that documents under them that disappeared can be
    /// dropped from the index.
    pub roots: Vec<String>,
}

const TEXT_EXT: &[&str] = &["txt", "text", "md", "markdown", "rst"];
const JSONL_EXT: &[&str] = &["jsonl", "ndjson"];
const HTML_EXT: &[&str] = &["html", "htm", "xhtml"];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Text,
    Markdown,
    Jsonl,
    Html,
}

fn format_of(path: &Path, explicit: bool) -> Option<Format> {
    let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).unwrap_or_default();
    if ext == "md" || ext == "markdown" {
        Some(Format::Markdown)
    } else if TEXT_EXT.contains(&ext.as_str()) {
        Some(Format::Text)
    } else if JSONL_EXT.contains(&ext.as_str()) {
        Some(Format::Jsonl)
    } else if HTML_EXT.contains(&ext.as_str()) {
        Some(Format::Html)
    } else if explicit {
        // A file named on the command line is read as text whatever its name.
        Some(Format::Text)
    } else {
        None
    }
}

/// Turns a filesystem path into the form stored in the index: relative to `root` when inside it.
pub fn display_path(path: &Path, root: &Path) -> String {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match abs.strip_prefix(root) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.to_string_lossy().into_owned(),
        _ => abs.to_string_lossy().into_owned(),
    }
}

/// Reads every path (file, directory, or `-` for stdin). `root` is the directory paths are stored
/// relative to (the directory holding the index).
pub fn ingest(paths: &[PathBuf], root: &Path) -> Result<Ingested> {
    let mut out = Ingested::default();
    for p in paths {
        if p.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("<stdin>: input is not UTF-8 text")?;
            out.files += 1;
            out.roots.push("<stdin>".into());
            if text.trim().is_empty() {
                out.skipped.push(Skip { path: "<stdin>".into(), reason: "empty".into() });
                continue;
            }
            out.documents.extend(text_documents("<stdin>", text, Format::Text));
            continue;
        }
        if !p.exists() {
            bail!("{}: no such file or directory", p.display());
        }
        out.roots.push(display_path(p, root));
        if p.is_file() {
            read_file(p, root, true, &mut out)?;
            continue;
        }
        let walker = ignore::WalkBuilder::new(p).sort_by_file_name(|a, b| a.cmp(b)).build();
        for entry in walker {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    out.skipped.push(Skip { path: p.display().to_string(), reason: e.to_string() });
                    continue;
                }
            };
            if entry.file_type().is_some_and(|t| t.is_file()) {
                read_file(entry.path(), root, false, &mut out)?;
            }
        }
    }
    Ok(out)
}

fn read_file(path: &Path, root: &Path, explicit: bool, out: &mut Ingested) -> Result<()> {
    let Some(format) = format_of(path, explicit) else {
        return Ok(());
    };
    let shown = display_path(path, root);
    out.files += 1;
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            out.skipped.push(Skip { path: shown, reason: format!("cannot read: {e}") });
            return Ok(());
        }
    };
    let head = &bytes[..bytes.len().min(8192)];
    if head.contains(&0) {
        out.skipped.push(Skip { path: shown, reason: "binary file (contains NUL bytes)".into() });
        return Ok(());
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            out.skipped.push(Skip { path: shown, reason: format!("not UTF-8 (invalid byte at offset {at}); convert it to UTF-8") });
            return Ok(());
        }
    };
    let text = text.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(text);
    if text.trim().is_empty() {
        out.skipped.push(Skip { path: shown, reason: "empty".into() });
        return Ok(());
    }
    match format {
        Format::Text | Format::Markdown => out.documents.extend(text_documents(&shown, text, format)),
        Format::Jsonl => out.documents.extend(jsonl_documents(&shown, &text)?),
        Format::Html => {
            if let Some(d) = html_document(&shown, &text) {
                out.documents.push(d);
            } else {
                out.skipped.push(Skip { path: shown, reason: "no visible text".into() });
            }
        }
    }
    Ok(())
}

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

fn text_documents(path: &str, text: String, format: Format) -> Vec<Document> {
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

/// JSONL: BEIR corpus records `{"_id","title","text"}` or any object with a `text` field.
/// A line that is not such a record is an error naming the file and line.
pub fn jsonl_documents(path: &str, text: &str) -> Result<Vec<Document>> {
    let mut docs = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| anyhow::anyhow!("{path}:{line_no}: invalid JSON ({e}); fix or remove that line"))?;
        let Some(obj) = v.as_object() else {
            bail!("{path}:{line_no}: expected a JSON object with a \"text\" field; fix or remove that line");
        };
        let Some(body) = obj.get("text").and_then(|t| t.as_str()) else {
            bail!("{path}:{line_no}: record has no string \"text\" field; fix or remove that line");
        };
        let id = match obj.get("_id").or_else(|| obj.get("id")) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => format!("{path}:{line_no}"),
        };
        let title = obj.get("title").and_then(|t| t.as_str()).unwrap_or("").trim().to_string();
        if body.trim().is_empty() && title.is_empty() {
            continue;
        }
        // The title leads the text (as its own paragraph) so that it is embedded with the first
        // passage: for entity-like records the title is often what a query names.
        let text = if title.is_empty() { body.to_string() } else { format!("{title}\n\n{body}") };
        docs.push(Document {
            doc_id: id,
            path: path.to_string(),
            title,
            text,
            lines: LineMap::Record { line: line_no as u32 },
        });
    }
    Ok(docs)
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
        let err = jsonl_documents("c.jsonl", "{\"_id\":\"1\",\"text\":\"ok\"}\n{broken\n").unwrap_err().to_string();
        assert!(err.starts_with("c.jsonl:2: invalid JSON"), "{err}");
        let err = jsonl_documents("c.jsonl", "{\"_id\":\"1\"}\n").unwrap_err().to_string();
        assert!(err.starts_with("c.jsonl:1: record has no string \"text\""), "{err}");
        let docs = jsonl_documents("c.jsonl", "{\"_id\":7,\"title\":\"T\",\"text\":\"x\"}\n\n{\"text\":\"y\"}").unwrap();
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
