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

/// How paths are read.
#[derive(Debug, Clone, Copy)]
pub struct IngestOptions {
    /// Files larger than this are skipped (with a warning) before any byte is read, so memory stays
    /// bounded whatever the folder holds.
    pub max_file_bytes: u64,
    /// Follow symbolic links while walking directories (loops are detected and reported).
    pub follow_links: bool,
    /// Stop at the first file or record that cannot be indexed instead of skipping it.
    pub strict: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions { max_file_bytes: 100 << 20, follow_links: false, strict: false }
    }
}

/// At most this many malformed records of one JSONL file are named one by one; the rest are
/// counted in one more warning.
const RECORD_WARNINGS: usize = 5;

impl Ingested {
    /// Records a file or record that is not indexed; with `--strict` it is an error instead.
    fn skip(&mut self, opts: &IngestOptions, path: impl Into<String>, reason: impl Into<String>) -> Result<()> {
        let (path, reason) = (path.into(), reason.into());
        if opts.strict {
            bail!("{path}: {reason} (stopped by --strict; without it this is skipped with a warning)");
        }
        self.skipped.push(Skip { path, reason });
        Ok(())
    }
}

/// A size as people read it.
pub fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} bytes"),
    }
}

/// Reads every path (file, directory, or `-` for stdin). `root` is the directory paths are stored
/// relative to (the directory holding the index).
pub fn ingest(paths: &[PathBuf], root: &Path, opts: &IngestOptions) -> Result<Ingested> {
    let mut out = Ingested::default();
    for p in paths {
        if p.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::stdin().take(opts.max_file_bytes + 1).read_to_end(&mut bytes).context("<stdin>: cannot read")?;
            out.files += 1;
            out.roots.push("<stdin>".into());
            if bytes.len() as u64 > opts.max_file_bytes {
                out.skip(opts, "<stdin>", too_large(opts))?;
                continue;
            }
            if let Some(text) = decode(&mut out, opts, "<stdin>", bytes)? {
                out.documents.extend(text_documents("<stdin>", text, Format::Text));
            }
            continue;
        }
        let meta = match std::fs::metadata(p) {
            Ok(m) => m,
            Err(e) => {
                let why = if std::fs::symlink_metadata(p).is_ok() {
                    if e.raw_os_error() == Some(40) {
                        "symbolic link loop".to_string()
                    } else {
                        format!("broken symbolic link ({e})")
                    }
                } else if e.kind() == std::io::ErrorKind::NotFound {
                    "no such file or directory".to_string()
                } else {
                    e.to_string()
                };
                bail!("{}: {why}", p.display());
            }
        };
        out.roots.push(display_path(p, root));
        if meta.is_file() {
            read_file(p, root, true, opts, &mut out)?;
            continue;
        }
        if !meta.is_dir() {
            out.files += 1;
            out.skip(opts, display_path(p, root), "not a regular file (a FIFO, socket or device)")?;
            continue;
        }
        let walker = ignore::WalkBuilder::new(p).follow_links(opts.follow_links).sort_by_file_name(|a, b| a.cmp(b)).build();
        for entry in walker {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    // Unreadable directories, symlink loops (with --follow), broken links.
                    let (at, why) = walk_error(&e);
                    // The path as walked: canonicalising a link in a loop would name its target.
                    let at = at.unwrap_or(p).display().to_string();
                    out.skip(opts, at, why)?;
                    continue;
                }
            };
            if entry.file_type().is_some_and(|t| t.is_file()) {
                read_file(entry.path(), root, false, opts, &mut out)?;
            } else if entry.depth() > 0
                && entry.file_type().is_some_and(|t| !t.is_dir() && !t.is_symlink())
                && format_of(entry.path(), false).is_some()
            {
                out.files += 1;
                out.skip(opts, display_path(entry.path(), root), "not a regular file (a FIFO, socket or device)")?;
            }
        }
    }
    Ok(out)
}

/// The path a directory-walk error is about, and what went wrong, in words.
fn walk_error(e: &ignore::Error) -> (Option<&Path>, String) {
    match e {
        ignore::Error::WithPath { path, err } => {
            let (_, why) = walk_error(err);
            (Some(path.as_path()), why)
        }
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => walk_error(err),
        ignore::Error::Loop { ancestor, child } => {
            (Some(child.as_path()), format!("symbolic link loop (points back to {})", ancestor.display()))
        }
        // walkdir's errors arrive wrapped, with the OS error only in their text.
        ignore::Error::Io(io) if io.raw_os_error() == Some(40) || io.to_string().contains("(os error 40)") => {
            (None, "symbolic link loop".into())
        }
        ignore::Error::Io(io) => (None, format!("cannot read: {io}")),
        other => (None, other.to_string()),
    }
}

fn too_large(opts: &IngestOptions) -> String {
    format!(
        "larger than the {} limit; split it, or raise --max-file-size",
        human_bytes(opts.max_file_bytes)
    )
}

/// The file's text, if it is text: binary (NUL bytes), non-UTF-8 and empty input is skipped.
fn decode(out: &mut Ingested, opts: &IngestOptions, shown: &str, bytes: Vec<u8>) -> Result<Option<String>> {
    let head = &bytes[..bytes.len().min(8192)];
    if head.contains(&0) {
        out.skip(opts, shown, "binary file (contains NUL bytes)")?;
        return Ok(None);
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            out.skip(opts, shown, format!("not UTF-8 (invalid byte at offset {at}); convert it to UTF-8"))?;
            return Ok(None);
        }
    };
    let text = text.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(text);
    if text.trim().is_empty() {
        out.skip(opts, shown, "empty")?;
        return Ok(None);
    }
    Ok(Some(text))
}

fn read_file(path: &Path, root: &Path, explicit: bool, opts: &IngestOptions, out: &mut Ingested) -> Result<()> {
    let Some(format) = format_of(path, explicit) else {
        return Ok(());
    };
    let shown = display_path(path, root);
    out.files += 1;
    // The size is checked before reading, and the read itself is bounded (a file can grow, and
    // special files report no size).
    let read = std::fs::File::open(path).and_then(|f| {
        if f.metadata()?.len() > opts.max_file_bytes {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        f.take(opts.max_file_bytes + 1).read_to_end(&mut bytes)?;
        Ok((bytes.len() as u64 <= opts.max_file_bytes).then_some(bytes))
    });
    let bytes = match read {
        Ok(Some(b)) => b,
        Ok(None) => return out.skip(opts, shown, too_large(opts)),
        Err(e) => return out.skip(opts, shown, format!("cannot read: {e}")),
    };
    let Some(text) = decode(out, opts, &shown, bytes)? else {
        return Ok(());
    };
    match format {
        Format::Text | Format::Markdown => out.documents.extend(text_documents(&shown, text, format)),
        Format::Jsonl => {
            let (docs, bad) = jsonl_documents(&shown, &text);
            if docs.is_empty() && !bad.is_empty() && !opts.strict {
                let (at, why) = &bad[0];
                out.skip(opts, shown.clone(), format!("no valid JSONL record ({} malformed lines; first {at}: {why})", bad.len()))?;
                return Ok(());
            }
            for (at, why) in bad.iter().take(RECORD_WARNINGS) {
                out.skip(opts, at.clone(), format!("{why}; fix or remove that line"))?;
            }
            if bad.len() > RECORD_WARNINGS {
                out.skip(opts, shown.clone(), format!("{} more malformed lines skipped", bad.len() - RECORD_WARNINGS))?;
            }
            out.documents.extend(docs);
        }
        Format::Html => {
            if let Some(d) = html_document(&shown, &text) {
                out.documents.push(d);
            } else {
                out.skip(opts, shown, "no visible text")?;
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

/// JSONL: BEIR corpus records `{"_id","title","text"}` or any object with a `text` field. Lines
/// that are not such records come back as (`file:line`, what is wrong), beside the documents of
/// the good ones.
pub fn jsonl_documents(path: &str, text: &str) -> (Vec<Document>, Vec<(String, String)>) {
    let mut docs = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                bad.push((format!("{path}:{line_no}"), format!("invalid JSON ({e})")));
                continue;
            }
        };
        let Some(obj) = v.as_object() else {
            bad.push((format!("{path}:{line_no}"), "expected a JSON object with a \"text\" field".into()));
            continue;
        };
        let Some(body) = obj.get("text").and_then(|t| t.as_str()) else {
            bad.push((format!("{path}:{line_no}"), "record has no string \"text\" field".into()));
            continue;
        };
        let id = match obj.get("_id").or_else(|| obj.get("id")) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.clone(),
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
    (docs, bad)
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
