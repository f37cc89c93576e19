//! Ingest: paths in, `Document`s out, one at a time.
//!
//! Documents are handed to a sink as they are read (a JSONL file line by line), so a run holds one
//! file (or one JSONL record) at a time, never the corpus. Walks files and directories the way ripgrep does (the `ignore` crate: .gitignore, .ignore, hidden
//! files), reads each supported file and turns it into documents. A document's `text` is what gets
//! chunked and embedded; `lines` maps byte offsets in that text back to lines of the source file, so
//! results can point at `path:line`.

use crate::docpath::{self, PathKeys};
use crate::error::Error;
use anyhow::{Context, Result};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

/// A document read from a file (or a JSONL record): its text and where each byte came from.
#[derive(Debug, Clone)]
pub struct Document {
    /// Stable identity: the path (relative to the index root when inside it), `path:line` for one
    /// snippet of a line-per-snippet file, or the record's `_id` for JSONL.
    pub doc_id: String,
    /// Its path, as stored.
    pub path: String,
    /// Its title.
    pub title: String,
    /// Its text, as passages are cut from it.
    pub text: String,
    /// Source lines of its bytes.
    pub lines: LineMap,
    /// Where the headings above the text change: (byte offset in `text` where a section starts,
    /// its path `Title › Heading › Subheading`), in order. Empty for formats without headings.
    /// Headings are context, not passage text: a passage never spans two sections, carries its
    /// section's path, and is embedded with it as a prefix.
    pub sections: Vec<(usize, String)>,
    /// When the document was published, ISO 8601 as the source gave it (front matter, a JSONL
    /// field, an HTML meta tag).
    pub date: Option<String>,
    /// Where the document came from (front matter, a JSONL field, an HTML canonical link).
    pub url: Option<String>,
    /// For a text that is not a verbatim slice of its file (Markdown, rendered): the file's byte
    /// offset of each of its bytes, so a passage's offsets point into the file.
    pub bytes: Option<Vec<u32>>,
}

/// How byte offsets in `Document::text` map to 1-based lines of the source file.
#[derive(Debug, Clone)]
pub enum LineMap {
    /// `text` is a verbatim slice of the file beginning at `first_line`, `base_byte`.
    Verbatim {
        /// The line the text starts on.
        first_line: u32,
        /// The byte of the file the text starts at.
        base_byte: u64,
    },
    /// `text` came from one line (a JSONL record): every offset maps to it.
    Record {
        /// The record's line.
        line: u32,
    },
    /// `text` was extracted (HTML): the source line of every byte.
    Mapped(Vec<u32>),
}

impl Document {
    /// A document with no headings and no metadata.
    pub fn plain(doc_id: String, path: String, title: String, text: String, lines: LineMap) -> Document {
        Document { doc_id, path, title, text, lines, sections: Vec::new(), date: None, url: None, bytes: None }
    }

    /// The index in `sections` of the section in force at byte `off` of `text` (none before the
    /// first section).
    pub fn section_index(&self, off: usize) -> Option<usize> {
        self.sections.partition_point(|(s, _)| *s <= off).checked_sub(1)
    }

    /// The section path in force at byte `off` of `text` (empty before the first section).
    pub fn section_at(&self, off: usize) -> &str {
        self.section_index(off).map_or("", |i| &self.sections[i].1)
    }

    /// Byte offset in the source file where `text[off..]` begins (`end`: where `text[..off]`
    /// ends), for formats whose text is the file's (plain text, Markdown); for the others (HTML,
    /// JSONL, PDF: `output` shows none) the offset in `text`.
    pub fn source_byte(&self, off: usize, end: bool) -> u64 {
        match (&self.lines, &self.bytes) {
            (LineMap::Verbatim { base_byte, .. }, _) => base_byte + off as u64,
            (_, Some(b)) if end && off > 0 => b.get(off - 1).map_or(off as u64, |&x| x as u64 + 1),
            (_, Some(b)) => b.get(off).or(b.last()).map_or(off as u64, |&x| x as u64),
            _ => off as u64,
        }
    }
}

/// A file that was not indexed, and why.
#[derive(Debug, Clone)]
pub struct Skip {
    /// The file (or `file:line`).
    pub path: String,
    /// Why it was skipped.
    pub reason: String,
}

/// What reading the paths found, besides the documents handed to the sink.
#[derive(Debug, Default)]
pub struct IngestReport {
    /// Files read.
    pub files: usize,
    /// Files skipped, with why.
    pub skipped: Vec<Skip>,
    /// Keys of files and folders that exist but could not be read (permissions, I/O errors): the
    /// documents indexed from them are kept, not taken for deleted.
    pub unreadable: Vec<String>,
    /// Keys of files whose documents are kept when a later read no longer has them (a feed: an
    /// item that fell off its end is still news that was published).
    pub append_only: Vec<String>,
    /// Files of a walked folder in no format semsearch reads, by extension (`.pages`, or
    /// `(none)`): counted, so nothing is left out without a word.
    pub unsupported: std::collections::BTreeMap<String, usize>,
    /// Every warning of the run (skips and metadata), printed or not.
    pub warnings: Vec<Warning>,
    /// Warnings not printed because the last run printed the same (`known`).
    pub repeated: usize,
    /// The last run's warnings (`Warning::key`): the same one again is not printed again.
    pub known: std::collections::HashSet<String>,
}

/// A warning about a file (or `file:line`): a skip, or metadata it could not read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Warning {
    /// `file` or `file:line`.
    pub at: String,
    /// What is wrong and what to do.
    pub why: String,
    /// Whether the file (or record) was left out.
    pub skipped: bool,
}

impl Warning {
    /// What makes two warnings the same across runs.
    pub fn key(&self) -> String {
        format!("{}\u{1f}{}", self.at, self.why)
    }
}

/// Receives each document as it is read; an error stops the run.
pub type Sink<'a> = dyn FnMut(Document) -> Result<()> + 'a;

mod feed;
mod formats;
mod html;
mod markdown;
mod meta;
mod package;
mod pdf;
mod table;

pub use feed::feed_documents;
use formats::text_documents;
pub use formats::{jsonl_documents, jsonl_record};
pub use html::html_document;
pub use markdown::{markdown_document, squash, SECTION_SEPARATOR};
pub use meta::parse_date;
pub use package::{docx_document, epub_document, odt_document};
pub use pdf::{limit_streams as limit_pdf_streams, pdf_document};
pub use table::CsvColumns;

const TEXT_EXT: &[&str] = &["txt", "text", "md", "markdown", "rst"];
const JSONL_EXT: &[&str] = &["jsonl", "ndjson"];
const HTML_EXT: &[&str] = &["html", "htm", "xhtml"];
const PDF_EXT: &[&str] = &["pdf"];
const TABLE_EXT: &[&str] = &["csv", "tsv"];
/// Zip packages: Word, OpenDocument text, EPUB (`package`).
const PACKAGE_EXT: &[&str] = &["docx", "odt", "epub"];
/// Feeds by name; an `.xml` file is one when its first bytes say so (`feed::is_feed`).
const FEED_EXT: &[&str] = &["rss", "atom", "xml"];

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Format {
    Text,
    Markdown,
    Jsonl,
    Html,
    Pdf,
    /// CSV (`,`) or TSV (tab).
    Table(u8),
    /// RSS or Atom.
    Feed,
    Docx,
    Odt,
    Epub,
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
    } else if PDF_EXT.contains(&ext.as_str()) {
        Some(Format::Pdf)
    } else if FEED_EXT.contains(&ext.as_str()) {
        Some(Format::Feed)
    } else if PACKAGE_EXT.contains(&ext.as_str()) {
        Some(match ext.as_str() {
            "docx" => Format::Docx,
            "odt" => Format::Odt,
            _ => Format::Epub,
        })
    } else if TABLE_EXT.contains(&ext.as_str()) {
        Some(Format::Table(if ext == "tsv" { b'\t' } else { b',' }))
    } else if explicit {
        // A file named on the command line is read as text whatever its name.
        Some(Format::Text)
    } else {
        None
    }
}

/// What a stored document's `line_start`/`line_end` count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Lines of the file (text, Markdown, HTML, a JSONL record's or a table row's line).
    Line,
    /// Pages (PDF).
    Page,
    /// Paragraphs in reading order, from 1, headings and table rows counted (Word, OpenDocument,
    /// EPUB: their pages are the reader's layout, not the file's).
    Paragraph,
}

/// What a stored document's places count, by the format it was read as.
pub fn place(path: &str) -> Place {
    match format_of(Path::new(path), false) {
        Some(Format::Pdf) => Place::Page,
        Some(Format::Docx | Format::Odt | Format::Epub) => Place::Paragraph,
        _ => Place::Line,
    }
}

/// Whether a stored document's text is its file's own, so its passages' byte offsets point into
/// the file: plain text (also a file of another name given on the command line) and Markdown
/// (mapped back byte for byte, `Document::bytes`). An HTML page's text is extracted, a JSONL
/// record's was a JSON string, a table's a quoted cell, a feed item's HTML, a PDF's drawn.
pub fn offsets_in_file(path: &str) -> bool {
    matches!(format_of(Path::new(path), true), Some(Format::Text | Format::Markdown))
}

/// How paths are read.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Files larger than this are skipped (with a warning) before any byte is read, so memory stays
    /// bounded whatever the folder holds.
    pub max_file_bytes: u64,
    /// Follow symbolic links while walking directories (loops are detected and reported).
    pub follow_links: bool,
    /// Stop at the first file or record that cannot be indexed instead of skipping it.
    pub strict: bool,
    /// Print each skipped file as a warning the moment it is found, with this word ("skipped",
    /// "would be skipped"), so the warnings come out even when the run then fails.
    pub warn: Option<&'static str>,
    /// The columns of CSV/TSV files the user named (`--csv-text` …).
    pub csv: CsvColumns,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions { max_file_bytes: 100 << 20, follow_links: false, strict: false, warn: None, csv: CsvColumns::default() }
    }
}

/// At most this many malformed records of one JSONL file are named one by one; the rest are
/// counted in one more warning.
const RECORD_WARNINGS: usize = 5;

/// The malformed records (JSONL lines, table rows) of one file: the first `RECORD_WARNINGS` kept to
/// be named, the rest only counted, so a file of a million bad lines holds none of them.
#[derive(Default)]
struct Malformed {
    first: Vec<(String, String)>,
    count: usize,
}

impl Malformed {
    fn add(&mut self, at: String, why: String) {
        self.count += 1;
        if self.first.len() < RECORD_WARNINGS {
            self.first.push((at, why));
        }
    }
}

impl IngestReport {
    /// The files whose unseen documents are kept, not removed: unreadable ones and feeds.
    pub fn keeps(&self) -> Vec<String> {
        [&self.unreadable[..], &self.append_only[..]].concat()
    }

    /// Records a file or record that is not indexed; with `--strict` it is an error instead.
    fn skip(&mut self, opts: &IngestOptions, path: impl Into<String>, reason: impl Into<String>) -> Result<()> {
        let (path, reason) = (path.into(), reason.into());
        if opts.strict {
            return Err(Error::bad_input(path, format!("{reason} (stopped by --strict; without it this is skipped with a warning)")));
        }
        self.say(opts, Warning { at: path.clone(), why: reason.clone(), skipped: true });
        self.skipped.push(Skip { path, reason });
        Ok(())
    }

    /// Records a warning, and prints it (when `opts.warn` says to) unless the last run printed
    /// the same one: a file unchanged since then is not warned about on every run.
    fn say(&mut self, opts: &IngestOptions, w: Warning) {
        if let Some(word) = opts.warn {
            if self.known.contains(&w.key()) {
                self.repeated += 1;
            } else if w.skipped {
                eprintln!("semsearch: warning: {}: {word}: {}", w.at, w.why);
            } else {
                eprintln!("semsearch: warning: {}: {}", w.at, w.why);
            }
        }
        self.warnings.push(w);
    }

    /// Metadata warnings a reader gave (`line` 0 when `at` already names the line).
    /// Runs a reader with a `warn` that gathers its metadata warnings (`line` 0: the file's), then
    /// says them at `at`.
    fn noted<T>(&mut self, opts: &IngestOptions, at: &str, read: impl FnOnce(&mut dyn FnMut(u32, String)) -> T) -> T {
        let mut notes = Vec::new();
        let out = read(&mut |line, why| notes.push((line, why)));
        self.say_all(opts, at, notes);
        out
    }

    fn say_all(&mut self, opts: &IngestOptions, at: &str, notes: Vec<(u32, String)>) {
        for (line, why) in notes {
            let at = if line == 0 { at.to_string() } else { format!("{at}:{line}") };
            self.say(opts, Warning { at, why, skipped: false });
        }
    }

    /// Skips by what happened, most first: `("no text layer", 2)`. A skip's reason up to its
    /// first `;` or `(` names what happened (the rest says what to do).
    pub fn skipped_by_reason(&self) -> Vec<(String, usize)> {
        let mut n: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
        for s in &self.skipped {
            let what = s.reason.split([';', '(']).next().unwrap_or("").trim();
            *n.entry(what.to_string()).or_default() += 1;
        }
        let mut v: Vec<(String, usize)> = n.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
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

/// Stored keys of the paths given, without reading them (what `index` will count as "under these
/// paths" when it decides which documents were removed).
pub fn roots(paths: &[PathBuf], keys: &PathKeys) -> Vec<String> {
    paths.iter().map(|p| keys.key(p)).collect()
}

/// Reads every path (file, directory, or `-` for stdin), handing each document to `sink` as it
/// is read. Paths are stored as `keys` says (relative to the folder holding the index).
/// `known`: the last run's warnings (`Warning::key`), not printed again.
pub fn ingest(paths: &[PathBuf], keys: &PathKeys, opts: &IngestOptions, known: std::collections::HashSet<String>, sink: &mut Sink) -> Result<IngestReport> {
    let mut out = IngestReport { known, ..IngestReport::default() };
    let mut r = Reader { keys, opts, out: &mut out, sink };
    for p in paths {
        if p.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::stdin().take(opts.max_file_bytes + 1).read_to_end(&mut bytes).context("<stdin>: cannot read")?;
            r.out.files += 1;
            if bytes.len() as u64 > opts.max_file_bytes {
                r.out.skip(opts, docpath::STDIN, too_large(opts))?;
                continue;
            }
            if let Some(text) = decode(r.out, opts, docpath::STDIN, bytes)? {
                r.emit_all(text_documents(docpath::STDIN, text))?;
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
                return Err(Error::bad_input(p.display().to_string(), why));
            }
        };
        if meta.is_file() {
            r.read_file(p, true)?;
            continue;
        }
        if !meta.is_dir() {
            r.out.files += 1;
            r.out.skip(opts, keys.key(p), "not a regular file (a FIFO, socket or device)")?;
            continue;
        }
        // `.gitignore` is honoured in any folder, not only inside a git repository: a notes folder
        // is rarely one, and a private note listed there must stay out of the index.
        let walker = ignore::WalkBuilder::new(p).follow_links(opts.follow_links).require_git(false).sort_by_file_name(|a, b| a.cmp(b)).build();
        for entry in walker {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    // The process's own limits are not the folder's fault: skipping would make
                    // `index` remove every document under it.
                    if let Some(io) = e.io_error().filter(|io| is_resource_limit(io)) {
                        let at = walk_error(&e).0.unwrap_or(p).display().to_string();
                        let own = os_code(io).map(std::io::Error::from_raw_os_error).unwrap_or_else(|| std::io::Error::new(io.kind(), io.to_string()));
                        return Err(anyhow::Error::new(own).context(format!("{at}: cannot read")));
                    }
                    // Unreadable directories, symlink loops (with --follow), broken links.
                    let (at, why) = walk_error(&e);
                    let at = at.unwrap_or(p);
                    if e.io_error().is_some() && !why.contains("symbolic link") {
                        r.out.unreadable.push(keys.key(at));
                    }
                    // The path as walked: canonicalising a link in a loop would name its target.
                    r.out.skip(opts, at.display().to_string(), why)?;
                    continue;
                }
            };
            if entry.file_type().is_some_and(|t| t.is_file()) {
                r.read_file(entry.path(), false)?;
            } else if entry.depth() > 0 && entry.file_type().is_some_and(|t| !t.is_dir() && !t.is_symlink()) && format_of(entry.path(), false).is_some() {
                r.out.files += 1;
                r.out.skip(opts, keys.key(entry.path()), "not a regular file (a FIFO, socket or device)")?;
            }
        }
    }
    Ok(out)
}

/// A reader of a format read whole from its bytes (PDF, Word, OpenDocument, EPUB): a document, none
/// (no text), or why the file is skipped; metadata warnings to `warn`.
type WholeReader = fn(&str, Vec<u8>, &mut dyn FnMut(u32, String)) -> Result<Option<Document>, String>;

/// One `ingest` call's state: where documents go and what was found.
struct Reader<'a, 's> {
    keys: &'a PathKeys,
    opts: &'a IngestOptions,
    out: &'a mut IngestReport,
    sink: &'a mut Sink<'s>,
}

impl Reader<'_, '_> {
    fn emit(&mut self, d: Document) -> Result<()> {
        (self.sink)(d)
    }

    fn emit_all(&mut self, docs: Vec<Document>) -> Result<()> {
        docs.into_iter().try_for_each(|d| self.emit(d))
    }

    fn read_file(&mut self, path: &Path, explicit: bool) -> Result<()> {
        let Some(format) = format_of(path, explicit) else {
            let ext = path.extension().map_or_else(|| "(none)".to_string(), |e| format!(".{}", e.to_string_lossy().to_lowercase()));
            *self.out.unsupported.entry(ext).or_default() += 1;
            return Ok(());
        };
        let opts = self.opts;
        let shown = self.keys.key(path);
        self.out.files += 1;
        if format == Format::Jsonl {
            return self.read_jsonl(path, &shown);
        }
        if let Format::Table(delimiter) = format {
            return self.read_table(path, &shown, delimiter);
        }
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
            Ok(None) => return self.out.skip(opts, shown, too_large(opts)),
            Err(e) => return self.read_error(shown, e),
        };
        if let Format::Pdf | Format::Docx | Format::Odt | Format::Epub = format {
            // Documents read whole from their bytes, each by its crate (see their modules).
            let (reader, name): (WholeReader, &str) = match format {
                Format::Pdf => (pdf_document, "PDF"),
                Format::Docx => (docx_document, "Word"),
                Format::Odt => (odt_document, "OpenDocument"),
                _ => (epub_document, "EPUB"),
            };
            let read = self.out.noted(opts, &shown, |warn| contained(|| reader(&shown, bytes, warn)));
            return match read.unwrap_or_else(|| Err(format!("the {name} reader failed on this file; it was skipped (please report it)"))) {
                Ok(Some(d)) => self.emit(d),
                Ok(None) => self.out.skip(opts, shown, "no text"),
                Err(why) => self.out.skip(opts, shown, why),
            };
        }
        if format == Format::Feed {
            if !feed::is_feed(&bytes) {
                // An `.xml` file that is not a feed (a configuration, a sitemap): not ours to read.
                *self.out.unsupported.entry(".xml (not a feed)".into()).or_default() += 1;
                self.out.files -= 1;
                return Ok(());
            }
            // A group of items at a time (`feed::FeedItems`): memory is the file and one group.
            let mut items = feed::FeedItems::new(&shown, &bytes);
            let mut failed = None;
            self.out.append_only.push(shown.clone());
            loop {
                match self.out.noted(opts, &shown, |warn| contained(|| items.next_group(warn))) {
                    Some(None) => break,
                    Some(Some(Ok(docs))) => self.emit_all(docs)?,
                    Some(Some(Err(why))) => {
                        failed = Some(why);
                        break;
                    }
                    None => {
                        failed = Some("the feed reader failed on this file; it was skipped (please report it)".to_string());
                        break;
                    }
                }
            }
            return match failed {
                Some(why) => self.out.skip(opts, shown, why),
                None => Ok(()),
            };
        }
        if format == Format::Html {
            if bytes[..bytes.len().min(8192)].contains(&0) {
                return self.out.skip(opts, shown, "binary file (contains NUL bytes)");
            }
            let read = self.out.noted(opts, &shown, |warn| html_document(&shown, &bytes, warn));
            return match read {
                Ok(Some(d)) => self.emit(d),
                Ok(None) => self.out.skip(opts, shown, "no visible text"),
                Err(why) => self.out.skip(opts, shown, why),
            };
        }
        let Some(text) = decode(self.out, opts, &shown, bytes)? else {
            return Ok(());
        };
        match format {
            Format::Text => self.emit_all(text_documents(&shown, text)),
            Format::Markdown => {
                let doc = self.out.noted(opts, &shown, |warn| markdown_document(&shown, &text, warn));
                match doc {
                    Some(d) => self.emit(d),
                    None => self.out.skip(opts, shown, "no text (only markup)"),
                }
            }
            Format::Html | Format::Jsonl | Format::Pdf | Format::Table(_) | Format::Feed | Format::Docx | Format::Odt | Format::Epub => {
                unreachable!("read above")
            }
        }
    }

    /// A file that cannot be read is skipped with a warning, unless the failure is the process's
    /// own limits (open files, memory): skipping would make `index` remove the documents it held.
    fn read_error(&mut self, shown: String, e: std::io::Error) -> Result<()> {
        if is_resource_limit(&e) {
            return Err(anyhow::Error::new(e).context(format!("{shown}: cannot read")));
        }
        self.out.unreadable.push(shown.clone());
        self.out.skip(self.opts, shown, format!("cannot read: {e}"))
    }

    /// CSV/TSV, streamed: one row in memory at a time (after the first rows, read to find the text
    /// column); `--max-file-size` bounds a row. Rows that cannot be read (not UTF-8) are named as
    /// JSONL lines are; a row past the limit ends the file, the rows before it kept.
    fn read_table(&mut self, path: &Path, shown: &str, delimiter: u8) -> Result<()> {
        let opts = self.opts;
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) => return self.read_error(shown.to_string(), e),
        };
        let (bounded, mark) = table::Bounded::new(std::io::BufReader::with_capacity(1 << 16, file), opts.max_file_bytes);
        let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(bounded);
        let headers: Vec<String> = match reader.headers() {
            Ok(h) => h.iter().map(|c| c.trim_start_matches('\u{feff}').to_string()).collect(),
            Err(e) => return self.out.skip(opts, shown, format!("not a readable table ({e})")),
        };
        let mut records = reader.records();
        let mut sample = Vec::new();
        let mut bad = Malformed::default();
        let mut sampled = 0usize;
        let mut stopped: Option<String> = None;
        let mut next = |bad: &mut Malformed, stopped: &mut Option<String>| -> Option<csv::StringRecord> {
            loop {
                match records.next()? {
                    Ok(r) => {
                        mark.set(r.position().map_or(0, |p| p.byte()));
                        return Some(r);
                    }
                    Err(e) if e.to_string().contains(table::TOO_LONG) => {
                        *stopped = Some(format!(
                            "a row longer than the {} limit; the rest of the file is skipped (raise --max-file-size)",
                            human_bytes(opts.max_file_bytes)
                        ));
                        return None;
                    }
                    Err(e) => {
                        let line = e.position().map_or(0, |p| p.line());
                        bad.add(format!("{shown}:{line}"), format!("cannot read this row ({e})"));
                        if let csv::ErrorKind::Io(_) = e.kind() {
                            *stopped = Some(format!("cannot read: {e}"));
                            return None;
                        }
                    }
                }
            }
        };
        while sample.len() < table::SAMPLE_ROWS && sampled < table::SAMPLE_BYTES {
            let Some(r) = next(&mut bad, &mut stopped) else { break };
            sampled += r.as_slice().len();
            sample.push(r);
        }
        let columns = match table::columns(&headers, &sample, &opts.csv) {
            Ok(c) => c,
            Err(why) => return self.out.skip(opts, shown, why),
        };
        let mut rows = 0usize;
        let mut pending = sample.into_iter();
        while let Some(row) = pending.next().or_else(|| next(&mut bad, &mut stopped)) {
            let line = row.position().map_or(0, |p| p.line()) as u32;
            let doc = self.out.noted(opts, &format!("{shown}:{line}"), |warn| table::row_document(shown, &row, line, &columns, &mut |why| warn(0, why)));
            if let Some(d) = doc {
                rows += 1;
                self.emit(d)?;
            }
        }
        self.name_malformed(shown, &bad, "row", "unreadable rows")?;
        if let Some(why) = stopped {
            self.out.skip(opts, shown, why)?;
        } else if rows == 0 && bad.count == 0 {
            self.out.skip(opts, shown, "no rows with text")?;
        }
        Ok(())
    }

    /// JSONL, streamed: one record in memory at a time. `--max-file-size` bounds each record
    /// (line) instead of the file, since the file is never held whole.
    fn read_jsonl(&mut self, path: &Path, shown: &str) -> Result<()> {
        let opts = self.opts;
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) => return self.read_error(shown.to_string(), e),
        };
        let mut lines = std::io::BufReader::with_capacity(1 << 16, file);
        let mut buf = Vec::new();
        let mut bad = Malformed::default();
        let mut good = 0usize;
        let mut line_no = 0usize;
        loop {
            buf.clear();
            let got = (&mut lines).take(opts.max_file_bytes + 1).read_until(b'\n', &mut buf);
            let got = match got {
                Ok(n) => n,
                Err(e) => return self.read_error(shown.to_string(), e),
            };
            if got == 0 {
                break;
            }
            line_no += 1;
            let at = format!("{shown}:{line_no}");
            if buf.len() as u64 > opts.max_file_bytes && !buf.ends_with(b"\n") {
                // Skip the rest of an over-long line without holding it.
                loop {
                    buf.clear();
                    match (&mut lines).take(1 << 20).read_until(b'\n', &mut buf) {
                        Ok(0) => break,
                        Ok(_) if buf.ends_with(b"\n") => break,
                        Ok(_) => continue,
                        Err(e) => return self.read_error(shown.to_string(), e),
                    }
                }
                bad.add(at, format!("record longer than the {} limit; raise --max-file-size", human_bytes(opts.max_file_bytes)));
                continue;
            }
            if line_no == 1 && buf.starts_with(b"\xef\xbb\xbf") {
                buf.drain(..3);
            }
            if line_no == 1 && buf[..buf.len().min(8192)].contains(&0) {
                return self.out.skip(opts, shown, "binary file (contains NUL bytes)");
            }
            let line = match std::str::from_utf8(&buf) {
                Ok(l) => l,
                Err(e) => {
                    bad.add(at, format!("not UTF-8 (invalid byte at offset {}); convert it to UTF-8", e.valid_up_to()));
                    continue;
                }
            };
            let record = self.out.noted(opts, &at, |warn| jsonl_record(shown, line_no, line, &mut |why| warn(0, why)));
            match record {
                Ok(Some(d)) => {
                    good += 1;
                    self.emit(d)?;
                }
                Ok(None) => {}
                Err(why) => {
                    if opts.strict {
                        return self.out.skip(opts, at, format!("{why}; fix or remove that line"));
                    }
                    bad.add(at, why);
                }
            }
        }
        if good == 0 && bad.count > 0 {
            let (at, why) = &bad.first[0];
            return self.out.skip(opts, shown, format!("no valid JSONL record ({} malformed lines; first {at}: {why})", bad.count));
        }
        if good == 0 && bad.count == 0 {
            return self.out.skip(opts, shown, "empty");
        }
        self.name_malformed(shown, &bad, "line", "malformed lines")
    }

    /// Names a file's first malformed records (`what`: line, row) and counts the rest.
    fn name_malformed(&mut self, shown: &str, bad: &Malformed, what: &str, rest: &str) -> Result<()> {
        for (at, why) in &bad.first {
            self.out.skip(self.opts, at.clone(), format!("{why}; fix or remove that {what}"))?;
        }
        if bad.count > RECORD_WARNINGS {
            self.out.skip(self.opts, shown, format!("{} more {rest} skipped", bad.count - RECORD_WARNINGS))?;
        }
        Ok(())
    }
}

thread_local! {
    /// Set while a third-party parser runs under `contained`.
    static PARSING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs a third-party parser (html5ever, pdf_oxide) so that a panic in it skips one file instead
/// of ending the run: `None` when it panicked. With `quiet_parser_panics` installed, the panic's
/// message and backtrace are not printed either (the caller's warning names the file).
pub(crate) fn contained<T>(f: impl FnOnce() -> T) -> Option<T> {
    let outer = PARSING.with(|p| p.replace(true));
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    PARSING.with(|p| p.set(outer));
    out.ok()
}

/// Makes the panic hook silent for panics inside `contained` (the CLI: a parser's bug is one
/// warning line, not a backtrace); every other panic is reported as before. Left out where every
/// panic must be seen (the fuzz targets install a hook that aborts).
pub fn quiet_parser_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // office_oxide parses on a thread of its own, catches a panic there and returns it as an
        // error (`internal error: parsing panicked`), which the file's warning shows: its
        // backtrace, printed from that thread, would only be noise.
        let in_own_thread = info.location().is_some_and(|l| l.file().contains("/office_oxide-"));
        if !PARSING.with(|p| p.get()) && !in_own_thread {
            previous(info);
        }
    }));
}

/// Errors that come from the process's limits rather than the file: retrying later may work, and
/// they must never be taken for "this file is gone".
pub fn is_resource_limit(e: &std::io::Error) -> bool {
    const LIMITS: [i32; 3] = [23 /* ENFILE */, 24 /* EMFILE */, 12 /* ENOMEM */];
    os_code(e).is_some_and(|c| LIMITS.contains(&c)) || e.kind() == std::io::ErrorKind::OutOfMemory
}

/// The OS error code in `e`, from its code or (for the walker's wrapped errors) its text.
fn os_code(e: &std::io::Error) -> Option<i32> {
    e.raw_os_error().or_else(|| {
        let t = e.to_string();
        let at = t.rfind("(os error ")? + "(os error ".len();
        t[at..].split(')').next()?.parse().ok()
    })
}

/// The path a directory-walk error is about, and what went wrong, in words.
fn walk_error(e: &ignore::Error) -> (Option<&Path>, String) {
    match e {
        ignore::Error::WithPath { path, err } => {
            let (_, why) = walk_error(err);
            (Some(path.as_path()), why)
        }
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => walk_error(err),
        ignore::Error::Loop { ancestor, child } => (Some(child.as_path()), format!("symbolic link loop (points back to {})", ancestor.display())),
        // walkdir's errors arrive wrapped, with the OS error only in their text.
        ignore::Error::Io(io) if os_code(io) == Some(40 /* ELOOP */) => (None, "symbolic link loop".into()),
        ignore::Error::Io(io) => (None, format!("cannot read: {io}")),
        other => (None, other.to_string()),
    }
}

fn too_large(opts: &IngestOptions) -> String {
    format!("larger than the {} limit; split it, or raise --max-file-size", human_bytes(opts.max_file_bytes))
}

/// The file's text, if it is text: binary (NUL bytes), non-UTF-8 and empty input is skipped.
fn decode(out: &mut IngestReport, opts: &IngestOptions, shown: &str, bytes: Vec<u8>) -> Result<Option<String>> {
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
