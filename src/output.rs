//! Output: results for people (a terminal, with the answer sentence highlighted) or for programs
//! (`--json`, one object per line).

use crate::ingest::squash;
use crate::search::Found;
use serde::Serialize;
use std::io::Write;

/// One result as `ask --json`, the API and the MCP tools give it.
#[derive(Serialize, schemars::JsonSchema)]
pub struct JsonHit<'a> {
    /// 1-based rank.
    pub rank: usize,
    /// The score it was ranked by (cosine, fused score or BM25, as the mode).
    pub score: f32,
    /// The passage's id (stable while its document is unchanged).
    pub id: &'a str,
    /// Its document's id.
    pub doc_id: &'a str,
    /// Its document's path.
    pub path: &'a str,
    /// Its first source line (1-based); for a PDF, its first page (a PDF has no source lines); for
    /// Word, OpenDocument and EPUB, its first paragraph (see `place`).
    pub line_start: u32,
    /// Its last source line, page or paragraph.
    pub line_end: u32,
    /// What `line_start`/`line_end` count: `line`, `page` (PDF) or `paragraph` (Word,
    /// OpenDocument, EPUB: paragraphs in reading order from 1, headings and table rows counted).
    pub place: Place,
    /// A PDF's passage: its first page (1-based); null for other formats.
    pub page_start: Option<u32>,
    /// A PDF's passage: its last page.
    pub page_end: Option<u32>,
    /// Where it starts in its file (a byte offset: `file[byte_start..byte_end]` is the passage's
    /// source); null where the text is not the file's (HTML, JSONL, PDF).
    pub byte_start: Option<u64>,
    /// Where it ends in its file (exclusive).
    pub byte_end: Option<u64>,
    /// Its document's title.
    pub title: &'a str,
    /// The headings above the passage, `Title › Heading` ("" where the document has none).
    pub section: &'a str,
    /// Its document's date (ISO 8601).
    pub date: Option<&'a str>,
    /// Its document's URL.
    pub url: Option<&'a str>,
    /// The source it was pushed as (`push --source`), for results from a server's collection;
    /// absent for the local index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'a str>,
    /// The passage text.
    pub text: &'a str,
    /// The sentence that best answers the question.
    pub answer: &'a str,
    /// That sentence's score.
    pub answer_score: f32,
    /// The probability that the passage is relevant, from its evidence (calibrated on labeled
    /// sets; under 0.5 it is shown as weak).
    pub confidence: f32,
    /// Rank and score on each side of the search; null where that side did not find the passage.
    pub semantic_rank: Option<usize>,
    /// Cosine with the question, where the semantic side found it.
    pub semantic_score: Option<f32>,
    /// Rank on the lexical side, where it found it.
    pub lexical_rank: Option<usize>,
    /// BM25 on the lexical side, where it found it.
    pub lexical_score: Option<f32>,
    /// Near-duplicate passages of other documents folded into this result.
    pub also: Vec<JsonAlso<'a>>,
}

/// A near-duplicate passage folded into a result.
#[derive(Serialize, schemars::JsonSchema)]
pub struct JsonAlso<'a> {
    /// The folded passage's id.
    pub id: &'a str,
    /// Its document's id.
    pub doc_id: &'a str,
    /// Its document's path.
    pub path: &'a str,
    /// Its first source line (for a PDF, its first page; for Word, OpenDocument, EPUB, paragraph).
    pub line_start: u32,
    /// Its last source line.
    pub line_end: u32,
    /// What `line_start`/`line_end` count (`line`, `page`, `paragraph`).
    pub place: Place,
    /// A PDF's passage: its first page; null for other formats.
    pub page_start: Option<u32>,
    /// Its document's title.
    pub title: &'a str,
    /// Its document's date.
    pub date: Option<&'a str>,
    /// Its source, for results from a server's collection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'a str>,
}

/// What a document's places count: source lines, pages (a PDF) or paragraphs (Word,
/// OpenDocument, EPUB). Decided by the reader its file was read with (`ingest`), from the stored
/// path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Place {
    /// Lines of the file.
    Line,
    /// Pages of a PDF.
    Page,
    /// Paragraphs in reading order.
    Paragraph,
}

impl Place {
    /// The places of a stored document.
    pub fn of(path: &str) -> Place {
        match crate::ingest::place(path) {
            crate::ingest::Place::Line => Place::Line,
            crate::ingest::Place::Page => Place::Page,
            crate::ingest::Place::Paragraph => Place::Paragraph,
        }
    }
}

/// Whether a document's places are pages rather than source lines (a PDF): its passages'
/// `line_start`/`line_end` then hold pages, and it has no byte offsets.
pub fn paged(path: &str) -> bool {
    Place::of(path) == Place::Page
}

/// Whether a document's byte offsets point into its file (`ingest::offsets_in_file`).
pub fn file_offsets(path: &str) -> bool {
    crate::ingest::offsets_in_file(path)
}

/// Where a passage is, as people (and editors) read it: `notes/a.md:12-14`, `report.pdf:page 3`,
/// `report.pdf:pages 3-4`, `memo.docx:¶12-14`.
pub fn location(path: &str, start: u32, end: u32) -> String {
    match (Place::of(path), start == end) {
        (Place::Line, true) => format!("{path}:{start}"),
        (Place::Line, false) => format!("{path}:{start}-{end}"),
        (Place::Page, true) => format!("{path}:page {start}"),
        (Place::Page, false) => format!("{path}:pages {start}-{end}"),
        (Place::Paragraph, true) => format!("{path}:¶{start}"),
        (Place::Paragraph, false) => format!("{path}:¶{start}-{end}"),
    }
}

impl<'a> From<&'a Found> for JsonHit<'a> {
    fn from(f: &'a Found) -> Self {
        let r = &f.passage.record;
        let pages = paged(&f.passage.path);
        JsonHit {
            rank: f.rank,
            score: f.score,
            id: &r.id,
            doc_id: &r.doc_id,
            path: &f.passage.path,
            line_start: r.line_start,
            line_end: r.line_end,
            place: Place::of(&f.passage.path),
            page_start: pages.then_some(r.line_start),
            page_end: pages.then_some(r.line_end),
            byte_start: file_offsets(&f.passage.path).then_some(r.byte_start),
            byte_end: file_offsets(&f.passage.path).then_some(r.byte_end),
            title: &f.passage.title,
            section: &r.section,
            date: f.passage.date.as_deref(),
            url: f.passage.url.as_deref(),
            source: f.passage.source.as_deref(),
            text: &r.text,
            answer: f.answer_text(),
            answer_score: f.answer_score,
            confidence: f.confidence,
            semantic_rank: f.semantic.map(|s| s.0),
            semantic_score: f.semantic.map(|s| s.1),
            lexical_rank: f.lexical.map(|s| s.0),
            lexical_score: f.lexical.map(|s| s.1),
            also: f
                .also
                .iter()
                .map(|p| JsonAlso {
                    id: &p.record.id,
                    doc_id: &p.record.doc_id,
                    path: &p.path,
                    line_start: p.record.line_start,
                    line_end: p.record.line_end,
                    place: Place::of(&p.path),
                    page_start: paged(&p.path).then_some(p.record.line_start),
                    title: &p.title,
                    date: p.date.as_deref(),
                    source: p.source.as_deref(),
                })
                .collect(),
        }
    }
}

/// A stored passage with its document's fields (the server's `/api/passage`).
#[derive(Serialize, schemars::JsonSchema)]
pub struct JsonPassage<'a> {
    /// The passage's id.
    pub id: &'a str,
    /// Its document's id.
    pub doc_id: &'a str,
    /// Its place in its document (0-based).
    pub ordinal: u32,
    /// Its document's path.
    pub path: &'a str,
    /// Its first source line (1-based); for a PDF, its first page; for Word, OpenDocument and
    /// EPUB, its first paragraph.
    pub line_start: u32,
    /// Its last source line, page or paragraph.
    pub line_end: u32,
    /// What `line_start`/`line_end` count (`line`, `page`, `paragraph`).
    pub place: Place,
    /// A PDF's passage: its first page; null for other formats.
    pub page_start: Option<u32>,
    /// A PDF's passage: its last page.
    pub page_end: Option<u32>,
    /// Its document's title.
    pub title: &'a str,
    /// The headings above it (`Title › Heading`).
    pub section: &'a str,
    /// Its document's date.
    pub date: Option<&'a str>,
    /// Its document's URL.
    pub url: Option<&'a str>,
    /// Its text.
    pub text: &'a str,
}

/// A passage with its neighbours in its document (`/api/passage/ID`).
#[derive(Serialize, schemars::JsonSchema)]
pub struct PassageInContext<'a> {
    /// The passage asked for.
    pub passage: JsonPassage<'a>,
    /// Up to `context` passages before it, in document order.
    pub before: Vec<JsonPassage<'a>>,
    /// Up to `context` passages after it, in document order.
    pub after: Vec<JsonPassage<'a>>,
}

impl<'a> JsonPassage<'a> {
    /// A stored passage with its document's fields.
    pub fn new(r: &'a crate::index::PassageRecord, doc: &'a crate::index::DocRecord) -> JsonPassage<'a> {
        JsonPassage {
            id: &r.id,
            doc_id: &r.doc_id,
            ordinal: r.ordinal,
            path: &doc.path,
            line_start: r.line_start,
            line_end: r.line_end,
            place: Place::of(&doc.path),
            page_start: paged(&doc.path).then_some(r.line_start),
            page_end: paged(&doc.path).then_some(r.line_end),
            title: &doc.title,
            section: &r.section,
            date: doc.date.as_deref(),
            url: doc.url.as_deref(),
            text: &r.text,
        }
    }
}

/// Results as JSON, one object per line.
pub fn write_json(out: &mut dyn Write, found: &[Found]) -> std::io::Result<()> {
    for f in found {
        serde_json::to_writer(&mut *out, &JsonHit::from(f))?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Results for people: path:lines, score, id, title, the passage with its answer sentence (highlighted with `color`).
pub fn write_human(out: &mut dyn Write, found: &[Found], color: bool) -> std::io::Result<()> {
    let (bold, dim, green, yellow, reset) = if color { ("\x1b[1m", "\x1b[2m", "\x1b[32m", "\x1b[1;33m", "\x1b[0m") } else { ("", "", "", "", "") };
    // Everything from a document goes through `shown`: a document's control bytes never reach the
    // terminal (they could set its title or colours, or hide text).
    let line = |s: &str| shown(&squash(s)).into_owned();
    for f in found {
        let r = &f.passage.record;
        let weak = if f.confidence < crate::search::WEAK { " (weak)" } else { "" };
        let from = f.passage.source.as_deref().map(|s| format!("  from {}", line(s))).unwrap_or_default();
        writeln!(
            out,
            "{bold}{}.{reset} {green}{}{reset}  {dim}score {:.3}  confidence {:.2}{weak}  id {}{from}{reset}",
            f.rank,
            shown(&location(&f.passage.path, r.line_start, r.line_end)),
            f.score,
            f.confidence,
            shown(&r.id)
        )?;
        // The section path starts with the title where the document has headings.
        let heading = if r.section.is_empty() { &f.passage.title } else { &r.section };
        let mut about = Vec::new();
        if let Some(d) = &f.passage.date {
            about.push(line(d));
        }
        if let Some(u) = &f.passage.url {
            about.push(line(u));
        }
        if !heading.is_empty() {
            writeln!(out, "   {bold}{}{reset}", line(heading))?;
        }
        if !about.is_empty() {
            writeln!(out, "   {dim}{}{reset}", about.join("  "))?;
        }
        let (a, b) = f.answer;
        let before = line(&r.text[..a]);
        let answer = line(&r.text[a..b]);
        let after = line(&r.text[b..]);
        let mut body = String::new();
        if !before.is_empty() {
            body.push_str(&before);
            body.push(' ');
        }
        body.push_str(&format!("{yellow}{answer}{reset}"));
        if !after.is_empty() {
            body.push(' ');
            body.push_str(&after);
        }
        if !color {
            // Without colour the answer is still marked, so it can be told apart in a pipe.
            writeln!(out, "   > {answer}")?;
        }
        writeln!(out, "   {body}")?;
        for p in &f.also {
            let date = p.date.as_deref().map(|d| format!(", {}", line(d))).unwrap_or_default();
            let title = if p.title.is_empty() { String::new() } else { format!("  {}", line(&p.title)) };
            let date = match &p.source {
                Some(s) => format!("{date}  from {}", line(s)),
                None => date,
            };
            writeln!(out, "   {dim}also in {}{title}{date}{reset}", shown(&location(&p.path, p.record.line_start, p.record.line_start)))?;
        }
        writeln!(out)?;
    }
    out.flush()
}

/// Text from a document as a terminal may show it: control characters (C0 but tab and newline,
/// DEL, C1) and the bidirectional overrides that reorder what is shown ("Trojan Source") written as
/// visible escapes (`\x1b`, `\u{202e}`), as ripgrep and git never pass a document's control bytes
/// to a terminal. `--json` carries the text exactly.
pub fn shown(s: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| (c.is_control() && c != '\t' && c != '\n') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !s.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            c if hidden(c) && (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if hidden(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}
/// `status` for people: the index's manifest in short, then what `index PATH...` would change.
pub fn write_status(out: &mut dyn Write, v: &crate::status::IndexStatus, compact_at: f64) -> std::io::Result<()> {
    writeln!(out, "index       {}", v.index)?;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    match &v.built {
        Some(b) => {
            writeln!(out, "generation  {} (format {})", b.generation, b.format_version)?;
            let m = &b.model;
            let pooling = match m.pooling {
                crate::model::Pooling::Mean => "mean",
                crate::model::Pooling::Cls => "cls",
            };
            writeln!(
                out,
                "model       {} (sha256 {}…), {} dimensions, {} tokens, {pooling} pooling, {}",
                m.name,
                &m.weights_sha256[..12.min(m.weights_sha256.len())],
                m.dimensions,
                m.max_tokens,
                m.precision
            )?;
            if b.chunking.whole_documents {
                writeln!(out, "chunking    whole documents")?;
            } else {
                writeln!(out, "chunking    {} tokens, overlap {}", b.chunking.max_tokens, b.chunking.overlap_tokens)?;
            }
            match (b.documents_with_date, b.documents_without_date) {
                (Some(d), Some(u)) => writeln!(out, "documents   {} ({d} with a date, {u} without)", b.documents)?,
                _ => writeln!(out, "documents   {}", b.documents)?,
            }
            writeln!(out, "passages    {}", b.passages)?;
            if let Some(part) = &b.shard {
                writeln!(out, "part        {part} of its corpus (index --shard)")?;
            }
            writeln!(
                out,
                "segments    {} ({} deleted passages awaiting compaction, {:.1}% of rows; a segment is merged past {:.0}% of its own)",
                b.segments,
                b.deleted_passages,
                b.tombstone_share * 100.0,
                compact_at * 100.0
            )?;
            let f = &b.file_bytes;
            writeln!(
                out,
                "size        {:.2} MiB (passages {:.2}, vectors {:.2}, graph {:.2})",
                mib(b.size_bytes),
                mib(f.passages),
                mib(f.vectors),
                mib(f.graph)
            )?;
            if let Some(files) = &b.files {
                writeln!(out, "documents:")?;
                for f in files {
                    // A document's id is its path unless it is one of several in a file (path:line, JSONL ids).
                    let which = if f.doc_id == f.path { String::new() } else { format!("  [{}]", shown(&f.doc_id)) };
                    let title = if f.title.is_empty() { String::new() } else { format!("  \"{}\"", shown(&squash(&f.title))) };
                    let date = f.date.as_deref().map(|d| format!("  {}", shown(d))).unwrap_or_default();
                    writeln!(out, "  {}{which}{title}{date}  {} passages", shown(&f.path), f.passages)?;
                }
            }
        }
        None => writeln!(out, "            (no index yet)")?,
    }
    match &v.warning_list {
        Some(list) => {
            writeln!(out, "warnings    {} from the last index run:", list.len())?;
            for w in list {
                let what = if w.skipped { "skipped: " } else { "" };
                writeln!(out, "  {}: {what}{}", shown(&w.at), shown(&w.why))?;
            }
        }
        None if v.warnings > 0 => writeln!(out, "warnings    {} from the last index run (`semsearch status --warnings` lists them)", v.warnings)?,
        None => {}
    }
    if let Some(w) = &v.would {
        writeln!(
            out,
            "index would add {}, update {}, remove {} documents ({} unchanged, {} outside these paths kept)",
            w.added.len(),
            w.updated.len(),
            w.removed.len(),
            w.unchanged,
            w.kept
        )?;
        for (items, sign) in [(&w.added, "+"), (&w.updated, "~"), (&w.removed, "-")] {
            for d in items.iter().take(10) {
                writeln!(out, "  {sign} {}", shown(d))?;
            }
            if items.len() > 10 {
                writeln!(out, "  {sign} … and {} more", items.len() - 10)?;
            }
        }
    }
    Ok(())
}

/// `status --backend` for people.
pub fn write_collection_status(out: &mut dyn Write, v: &crate::status::CollectionStatus) -> std::io::Result<()> {
    writeln!(out, "backend     {} collection {}", v.backend, v.collection)?;
    writeln!(out, "connection  {}", v.tls.as_deref().map_or("not encrypted".to_string(), |t| format!("encrypted ({t})")))?;
    writeln!(out, "generation  {}", v.generation)?;
    let dims = v.model.dimensions.map_or("null".to_string(), |d| d.to_string());
    writeln!(out, "model       {} ({dims} dimensions)", v.model.name.as_deref().unwrap_or(""))?;
    writeln!(out, "documents   {} ({} with a date, {} without)", v.documents, v.documents_with_date, v.documents_without_date)?;
    writeln!(out, "passages    {}", v.passages)?;
    writeln!(out, "size        {:.1} MiB on the server", v.size_bytes as f64 / (1024.0 * 1024.0))?;
    writeln!(out, "sources     {}", v.sources.len())?;
    for s in &v.sources {
        let when = s.pushed_at.as_deref().map(|t| format!(", pushed {t}")).unwrap_or_default();
        writeln!(out, "  {}  {} documents, {} passages{when}", shown(&s.name), s.documents, s.passages)?;
    }
    // Files grouped by source (they come ordered by source, then path).
    let mut source = None;
    for f in v.files.iter().flatten() {
        if f.source.as_deref() != source {
            source = f.source.as_deref();
            writeln!(out, "{}:", shown(source.unwrap_or("")))?;
        }
        writeln!(out, "  {}  {} passages  {}", shown(&f.path), f.passages, shown(&squash(&f.title)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{Passage, PassageRecord};
    use proptest::prelude::*;

    fn passage(path: &str, title: &str, section: &str, date: Option<&str>, url: Option<&str>, text: &str) -> Passage {
        let record = PassageRecord {
            row: 0,
            id: "0123456789abcdef".into(),
            doc_id: path.into(),
            ordinal: 0,
            line_start: 3,
            line_end: 4,
            byte_start: 0,
            byte_end: text.len() as u64,
            n_tokens: 10,
            text: text.into(),
            section: section.into(),
            sentences: None,
        };
        Passage { record, path: path.into(), title: title.into(), date: date.map(str::to_string), url: url.map(str::to_string), source: None }
    }

    fn found(p: Passage, also: Vec<Passage>) -> Found {
        let text = &p.record.text;
        // The answer: the text's first half, cut at a character boundary.
        let mut mid = text.len() / 2;
        while !text.is_char_boundary(mid) {
            mid -= 1;
        }
        Found { rank: 1, score: 0.5, semantic: None, lexical: None, also, passage: p, answer: (0, mid), answer_score: 0.5, confidence: 0.5 }
    }

    /// What a human printer wrote, our own colour sequences taken out.
    fn printed(f: &[Found], color: bool) -> String {
        let mut out = Vec::new();
        write_human(&mut out, f, color).unwrap();
        let mut s = String::from_utf8(out).unwrap();
        for sgr in ["\x1b[1m", "\x1b[2m", "\x1b[32m", "\x1b[1;33m", "\x1b[0m"] {
            s = s.replace(sgr, "");
        }
        s
    }

    fn reaches_terminal(s: &str) -> Option<char> {
        s.chars().find(|&c| (c.is_control() && c != '\n' && c != '\t') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
    }

    #[test]
    fn a_document_s_escape_sequences_are_shown_not_sent() {
        let title = "Markets \x1b]0;pwned\x07 today";
        let text = "Stocks \x1b[31mrose\x1b[0m. Gold fell\u{202e}.";
        let f = found(passage("notes/a\x1b[2J.md", title, "", Some("2025\x1b[5m"), Some("https://x.example/\x07"), text), Vec::new());
        for color in [false, true] {
            let out = printed(std::slice::from_ref(&f), color);
            assert_eq!(reaches_terminal(&out), None, "{out:?}");
            assert!(out.contains("Markets \\x1b]0;pwned\\x07 today"), "{out}");
            assert!(out.contains("notes/a\\x1b[2J.md:3-4"), "{out}");
            assert!(out.contains("\\u{202e}"), "{out}");
        }
        // JSON carries the text exactly.
        let mut json = Vec::new();
        write_json(&mut json, std::slice::from_ref(&f)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["title"], title);
        assert_eq!(v["text"], text);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
        /// Whatever bytes a document holds in any field, only newlines and our own colours reach
        /// the terminal.
        #[test]
        fn the_human_printer_sends_no_control_character(
            path in "\\PC*|[\\x00-\\x1f\\x7f-\\u{9f}a-z/.]{0,20}",
            title in any::<String>(),
            section in any::<String>(),
            date in proptest::option::of(any::<String>()),
            url in proptest::option::of(any::<String>()),
            text in any::<String>(),
            also_title in any::<String>(),
            color in any::<bool>(),
        ) {
            let also = passage(&path, &also_title, "", date.as_deref(), None, "x");
            let f = found(passage(&path, &title, &section, date.as_deref(), url.as_deref(), &text), vec![also]);
            let out = printed(&[f], color);
            prop_assert_eq!(reaches_terminal(&out), None, "{:?}", out);
        }
    }
}
