//! Word (.docx), OpenDocument text (.odt) and EPUB: documents that are zip packages of XML.
//!
//! - **Word** is read by office_oxide (the Office sibling of pdf_oxide, already built for PDF): it
//!   resolves styles to heading levels, lists, tables, text boxes and notes, and bounds what a
//!   package may inflate to (parts, package, entries, inflate ratio, a memory and a text budget;
//!   `Limits::strict` here: 64 MiB a part, 128 MiB of memory).
//! - **EPUB** is read by rbook (EPUB 2 and 3: container, package document, spine order,
//!   metadata with refinements). rbook inflates what it reads without a bound, so the package is
//!   first checked here (`Package::check`): every entry inflated once, through a bounded reader,
//!   to nowhere; a package with a part over `PART_BYTES` or more than `PACKAGE_BYTES` in all is
//!   refused before rbook sees it. A chapter's XHTML becomes blocks through html5ever (`xhtml`).
//! - **OpenDocument text** has no maintained reader crate (the few that exist are viewers or
//!   bundle dozens of formats); its `content.xml` and `meta.xml` are read here with quick-xml, each
//!   part through the same bounded reader. quick-xml expands no entity a document declares, so an
//!   entity bomb is text, not memory.
//!
//! The caller runs these inside `ingest::contained`: a panic in a crate (office_oxide has one on a
//! truncated `encoding=` declaration, found by the `docx` fuzz target) skips one file.
//!
//! All three become an `Outline` (headings, paragraphs, table rows in reading order) and then one
//! document, the way Markdown does: a heading opens a section whose path (`Title › Heading`) the
//! passages under it carry; a table row is a paragraph (`cell | cell | cell`). These formats have
//! no lines or pages of their own (pages are the word processor's layout), so a passage's place is
//! its paragraphs, numbered from 1 in reading order (headings and table rows count): results show
//! `report.docx:¶12-14`.

use super::{meta, Document, LineMap, SECTION_SEPARATOR};
use std::io::{Cursor, Read};

/// The most a part of a package (a chapter, `content.xml`) may inflate to: it is held whole.
pub const PART_BYTES: u64 = 64 << 20;
/// The most a whole package may inflate to (checked as it streams, never held).
pub const PACKAGE_BYTES: u64 = 512 << 20;
/// The most entries a package may list.
const PACKAGE_ENTRIES: usize = 20_000;

/// A document's structure before it becomes text.
#[derive(Debug, Default)]
pub(super) struct Outline {
    /// The title its metadata gives.
    pub title: Option<String>,
    /// The date its metadata gives, as written.
    pub date: Option<String>,
    /// Whether that date is the publication's (EPUB's `dc:date`), rather than when the file was
    /// made (Word, OpenDocument): a dateline in the text wins over the latter.
    pub date_is_publication: bool,
    pub blocks: Vec<Block>,
}

#[derive(Debug, PartialEq)]
pub(super) enum Block {
    /// A heading and its level (1 the highest).
    Heading(u8, String),
    /// A paragraph, list item or table row.
    Text(String),
}

impl Outline {
    fn text(&mut self, s: &str) {
        let s = super::squash(s);
        if !s.is_empty() {
            self.blocks.push(Block::Text(s));
        }
    }

    fn heading(&mut self, level: u8, s: &str) {
        let s = super::squash(s);
        if !s.is_empty() {
            self.blocks.push(Block::Heading(level.clamp(1, 9), s));
        }
    }

    /// One document: blocks joined by blank lines, each byte mapped to its block's number.
    fn into_document(self, path: &str, warn: &mut dyn FnMut(u32, String)) -> Option<Document> {
        let meta_title = self.title.map(|t| super::squash(&t)).filter(|t| !t.is_empty());
        let mut title = meta_title.clone().unwrap_or_default();
        let mut text = String::new();
        let mut para_of: Vec<u32> = Vec::new();
        let mut sections: Vec<(usize, String)> = Vec::new();
        let mut open: Vec<(u8, String)> = Vec::new();
        for (i, block) in self.blocks.into_iter().enumerate() {
            let para = i as u32 + 1;
            match block {
                Block::Heading(level, h) => {
                    // The first heading before any text is the document's headline: its title (or
                    // the metadata title's twin), not a section below it.
                    if text.is_empty() && open.is_empty() && (title.is_empty() || title == h) {
                        title = h;
                        continue;
                    }
                    open.retain(|(l, _)| *l < level);
                    open.push((level, h));
                    let path: Vec<&str> = std::iter::once(title.as_str()).filter(|t| !t.is_empty()).chain(open.iter().map(|(_, h)| h.as_str())).collect();
                    let at = if text.is_empty() { 0 } else { text.len() + 2 };
                    match sections.last_mut() {
                        // Two headings with no text between them: the later one is the section.
                        Some(last) if last.0 == at => last.1 = path.join(SECTION_SEPARATOR),
                        _ => sections.push((at, path.join(SECTION_SEPARATOR))),
                    }
                }
                Block::Text(t) => {
                    if !text.is_empty() {
                        text.push_str("\n\n");
                    }
                    text.push_str(&t);
                    para_of.resize(text.len(), para);
                }
            }
        }
        if text.trim().is_empty() {
            return None;
        }
        // Headings after the last text open no section: nothing is under them.
        sections.retain(|(at, _)| *at < text.len());
        if title.is_empty() {
            title = text.lines().next().filter(|l| l.chars().count() <= 200).unwrap_or("").to_string();
        }
        if !title.is_empty() && sections.first().is_none_or(|(at, _)| *at > 0) {
            sections.insert(0, (0, title.clone()));
        }
        let stated = self.date.as_deref().and_then(|raw| {
            let d = meta::parse_date(raw);
            if d.is_none() {
                warn(0, meta::bad_date(raw));
            }
            d
        });
        let date = if self.date_is_publication { stated.or_else(|| meta::dateline(&text)) } else { meta::dateline(&text).or(stated) };
        let mut doc = Document::plain(path.to_string(), path.to_string(), title, text, LineMap::Mapped(para_of));
        doc.sections = sections;
        doc.date = date;
        Some(doc)
    }
}

/// A zip package held in memory (the file, already bounded by `--max-file-size`), whose parts are
/// inflated through a bounded reader.
struct Package {
    zip: zip::ZipArchive<Cursor<Vec<u8>>>,
}

impl Package {
    fn open(bytes: Vec<u8>, what: &str) -> Result<Package, String> {
        let zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("not a readable {what} (a zip package: {e})"))?;
        if zip.len() > PACKAGE_ENTRIES {
            return Err(format!("a package of {} entries (more than {PACKAGE_ENTRIES}); not read", zip.len()));
        }
        Ok(Package { zip })
    }

    /// Inflates every entry once, to nowhere, through the bounded reader: a package none of whose
    /// parts exceeds `PART_BYTES` and whose whole stays under `PACKAGE_BYTES`, whatever its
    /// headers claim.
    fn check(&mut self) -> Result<(), String> {
        let mut total = 0u64;
        for i in 0..self.zip.len() {
            let mut entry = self.zip.by_index(i).map_err(|e| format!("a damaged package ({e})"))?;
            if entry.is_dir() {
                continue;
            }
            let name = entry.name().map(|n| n.to_string()).unwrap_or_else(|_| format!("entry {i}"));
            let n = std::io::copy(&mut (&mut entry).take(PART_BYTES + 1), &mut std::io::sink()).map_err(|e| format!("cannot inflate {name} ({e})"))?;
            total += n;
            if n > PART_BYTES || total > PACKAGE_BYTES {
                return Err(bomb(&name));
            }
        }
        Ok(())
    }

    /// A part's bytes (`None` when the package has no such part).
    fn part(&mut self, name: &str) -> Result<Option<Vec<u8>>, String> {
        let mut entry = match self.zip.by_name(name) {
            Ok(e) => e,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(format!("cannot read {name} ({e})")),
        };
        // A header that admits to a bomb is believed at once; one that lies is caught by the bound.
        if entry.size() > PART_BYTES {
            return Err(bomb(name));
        }
        let mut out = Vec::with_capacity(entry.size() as usize);
        (&mut entry).take(PART_BYTES + 1).read_to_end(&mut out).map_err(|e| format!("cannot inflate {name} ({e})"))?;
        if out.len() as u64 > PART_BYTES {
            return Err(bomb(name));
        }
        Ok(Some(out))
    }

    fn into_bytes(self) -> Vec<u8> {
        self.zip.into_inner().into_inner()
    }
}

fn bomb(part: &str) -> String {
    format!(
        "{part} inflates past {} (a part) or the package past {} (a zip bomb, or a document too large to index); not read",
        super::human_bytes(PART_BYTES),
        super::human_bytes(PACKAGE_BYTES)
    )
}

/// A Word document (.docx) as one document, or why it has none.
pub fn docx_document(path: &str, bytes: Vec<u8>, warn: &mut dyn FnMut(u32, String)) -> Result<Option<Document>, String> {
    use office_oxide::ir::{Element, InlineContent};
    if bytes.starts_with(b"\xd0\xcf\x11\xe0") {
        // An OLE container under a .docx name: a password-protected Word file is one.
        return Err("encrypted (password-protected) or a legacy .doc; save it unprotected as .docx".into());
    }
    let mut options = office_oxide::options::ParseOptions::default();
    options.limits = office_oxide::limits::Limits::strict();
    let doc = office_oxide::Document::from_reader_with(Cursor::new(bytes), office_oxide::DocumentFormat::Docx, &options).map_err(|e| {
        // A panic it caught on its own parsing thread: a bug of the reader, not of the file.
        if e.to_string().contains("panicked") {
            "the Word reader failed on this file; it was skipped (please report it)".to_string()
        } else {
            format!("not a readable Word document ({e})")
        }
    })?;
    let (ir, damage) = (doc.to_ir(), doc.damage());
    for d in damage.iter().filter(|d| d.is_loss()).take(3) {
        warn(0, format!("part of it could not be read ({d}); the rest is indexed"));
    }
    fn inline(content: &[InlineContent]) -> String {
        let mut s = String::new();
        for c in content {
            match c {
                InlineContent::Text(t) => s.push_str(&t.text),
                InlineContent::LineBreak => s.push(' '),
                _ => {}
            }
        }
        s
    }
    /// Flattened text of blocks (a table cell's).
    fn flat(elements: &[Element]) -> String {
        let mut o = Outline::default();
        walk(elements, &mut o);
        o.blocks
            .iter()
            .map(|b| match b {
                Block::Heading(_, s) | Block::Text(s) => s.as_str(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
    fn walk(elements: &[Element], o: &mut Outline) {
        // An explicit stack: nesting (lists in tables in text boxes) is the file's to choose.
        let mut stack: Vec<&Element> = elements.iter().rev().collect();
        while let Some(e) = stack.pop() {
            match e {
                Element::Heading(h) => o.heading(h.level, &inline(&h.content)),
                Element::Paragraph(p) => o.text(&inline(&p.content)),
                Element::Table(t) => {
                    for row in &t.rows {
                        let cells: Vec<String> = row.cells.iter().map(|c| flat(&c.content)).filter(|c| !c.is_empty()).collect();
                        o.text(&cells.join(" | "));
                    }
                }
                Element::List(l) => {
                    let mut lists = vec![l];
                    let mut items = Vec::new();
                    while let Some(l) = lists.pop() {
                        for item in l.items.iter().rev() {
                            items.push(item);
                        }
                        while let Some(item) = items.pop() {
                            o.text(&flat(&item.content));
                            if let Some(n) = &item.nested {
                                for it in n.items.iter().rev() {
                                    items.push(it);
                                }
                            }
                        }
                    }
                }
                Element::TextBox(b) => stack.extend(b.content.iter().rev()),
                Element::Footnote(n) | Element::Endnote(n) => stack.extend(n.content.iter().rev()),
                Element::CodeBlock(c) => o.text(&c.content),
                _ => {}
            }
        }
    }
    let mut outline = Outline { title: ir.metadata.title.clone(), date: ir.metadata.created.clone(), ..Outline::default() };
    for section in &ir.sections {
        walk(&section.elements, &mut outline);
    }
    Ok(outline.into_document(path, warn))
}

/// An EPUB book as one document: its chapters in reading order (the spine), each chapter's
/// headings opening sections.
pub fn epub_document(path: &str, bytes: Vec<u8>, warn: &mut dyn FnMut(u32, String)) -> Result<Option<Document>, String> {
    let mut package = Package::open(bytes, "EPUB")?;
    package.check()?;
    let bytes = package.into_bytes();
    let read = || -> Result<Outline, String> {
        let book = rbook::Epub::options().skip_toc(true).read(Cursor::new(bytes)).map_err(|e| {
            let e = e.to_string();
            if e.contains("encrypt") {
                "encrypted (DRM); it cannot be read".to_string()
            } else {
                format!("not a readable EPUB ({e})")
            }
        })?;
        let metadata = book.metadata();
        let mut outline = Outline {
            title: metadata.title().map(|t| t.value().to_string()),
            date: metadata.published_entry().map(|d| d.value().to_string()),
            date_is_publication: true,
            blocks: Vec::new(),
        };
        for chapter in book.reader() {
            match chapter {
                Ok(c) => xhtml(c.content(), &mut outline),
                Err(e) => warn(0, format!("a chapter could not be read ({e}); the rest is indexed")),
            }
        }
        Ok(outline)
    };
    let outline = read()?;
    Ok(outline.into_document(path, warn))
}

/// A chapter's XHTML as blocks: headings, paragraphs (a block element's own text), table rows;
/// scripts, styles and navigation left out.
///
/// Read as the XML it is, with quick-xml, leniently (a mismatched or missing end tag does not stop
/// it): one pass whatever the nesting. An HTML parser (html5ever) checks scopes against every open
/// element, so a 7 KB chapter of 100,000 nested `<div>`s took it 30 s.
fn xhtml(html: &str, o: &mut Outline) {
    use quick_xml::events::Event;
    const BLOCKS: &[&str] = &[
        "p",
        "div",
        "section",
        "article",
        "main",
        "header",
        "footer",
        "aside",
        "li",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "blockquote",
        "pre",
        "figure",
        "figcaption",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "caption",
        "address",
        "hr",
        "body",
        "td",
        "th",
        "tr",
    ];
    const SKIP: &[&str] = &["script", "style", "head", "nav", "template", "svg", "math", "noscript", "title"];
    let mut reader = quick_xml::Reader::from_str(html);
    let config = reader.config_mut();
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    // Open elements by name, innermost last: what an end tag closes (and whether we are in a
    // heading, a table row or skipped content) is looked up here, not in the parser.
    let mut open: Vec<String> = Vec::new();
    let mut buf = String::new();
    // The heading being read (its level), and the table row being read (its cells so far).
    let mut heading: Option<u8> = None;
    let mut row: Option<Vec<String>> = None;
    let mut skipping = 0usize;
    let flush = |buf: &mut String, o: &mut Outline, heading: &mut Option<u8>| {
        match heading.take() {
            Some(level) => o.heading(level, buf),
            None => o.text(buf),
        }
        buf.clear();
    };
    // Past an error (a stray `<`, bad markup) the rest is not read; what came before is kept.
    while let Ok(event) = reader.read_event() {
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_ascii_lowercase();
                if ["br", "hr", "img", "meta", "link", "input", "wbr", "col", "area", "source"].contains(&name.as_str()) {
                    // Void elements: HTML habits (`<br>`) leave them open; they hold nothing.
                    if name == "br" && skipping == 0 {
                        buf.push(' ');
                    }
                    continue;
                }
                open.push(name.clone());
                if skipping > 0 || SKIP.contains(&name.as_str()) {
                    skipping += 1;
                    continue;
                }
                match name.as_str() {
                    "h1" | "h2" | "h3" | "h4" | "h5" | "h6" if row.is_none() => {
                        flush(&mut buf, o, &mut heading);
                        heading = Some(name.as_bytes()[1] - b'0');
                    }
                    "tr" => {
                        flush(&mut buf, o, &mut heading);
                        row = Some(Vec::new());
                    }
                    "td" | "th" if row.is_some() => buf.clear(),
                    n if BLOCKS.contains(&n) && row.is_none() && heading.is_none() => flush(&mut buf, o, &mut heading),
                    _ => {}
                }
            }
            Event::End(e) => {
                let name = e.local_name().as_ref().to_ascii_lowercase();
                // The innermost open element of that name closes, with what is open inside it;
                // looked for among the innermost 256 only, so stray end tags under deep nesting
                // stay linear (as browsers cap the depth they build).
                let Some(at) = open.iter().rev().take(256).position(|n| *n == name).map(|i| open.len() - 1 - i) else { continue };
                let closed = open.split_off(at);
                if skipping > 0 {
                    skipping = skipping.saturating_sub(closed.len());
                    continue;
                }
                for n in closed.iter().rev() {
                    match n.as_str() {
                        "td" | "th" if row.is_some() => {
                            let cell = super::squash(&buf);
                            if let (false, Some(r)) = (cell.is_empty(), row.as_mut()) {
                                r.push(cell);
                            }
                            buf.clear();
                        }
                        "tr" => {
                            if let Some(r) = row.take() {
                                o.text(&r.join(" | "));
                            }
                            buf.clear();
                        }
                        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" if heading.is_some() => flush(&mut buf, o, &mut heading),
                        n if BLOCKS.contains(&n) && row.is_none() && heading.is_none() => flush(&mut buf, o, &mut heading),
                        _ => {}
                    }
                }
            }
            Event::Empty(e) if skipping == 0 && e.local_name().as_ref().eq_ignore_ascii_case("br") => buf.push(' '),
            Event::Text(t) if skipping == 0 => buf.push_str(&t.xml10_content()),
            Event::CData(t) if skipping == 0 => buf.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if skipping == 0 => buf.push_str(&entity(&r)),
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(r) = row.take() {
        o.text(&r.join(" | "));
    }
    flush(&mut buf, o, &mut heading);
}

/// An OpenDocument text (.odt) as one document.
pub fn odt_document(path: &str, bytes: Vec<u8>, warn: &mut dyn FnMut(u32, String)) -> Result<Option<Document>, String> {
    let mut package = Package::open(bytes, "OpenDocument file")?;
    if package.part("META-INF/manifest.xml")?.is_some_and(|m| String::from_utf8_lossy(&m).contains("encryption-data")) {
        return Err("encrypted (password-protected); save it without a password".into());
    }
    let content = package.part("content.xml")?.ok_or("not an OpenDocument text (no content.xml)")?;
    let mut outline = Outline::default();
    if let Some(m) = package.part("meta.xml")? {
        let (title, date) = odf_meta(&utf8(m));
        outline.title = title;
        outline.date = date;
    }
    odf_content(&utf8(content), &mut outline).map_err(|e| format!("content.xml is not well-formed XML ({e})"))?;
    Ok(outline.into_document(path, warn))
}

/// A part's text (invalid bytes as U+FFFD), without a copy when it is valid UTF-8.
fn utf8(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `dc:title` and `meta:creation-date` of an ODF `meta.xml`.
fn odf_meta(xml: &str) -> (Option<String>, Option<String>) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut title, mut date) = (None, None);
    let mut field: Option<&str> = None;
    let mut value = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                field = match e.local_name().as_ref() {
                    "title" => Some("title"),
                    "creation-date" => Some("date"),
                    _ => None,
                };
                value.clear();
            }
            Ok(Event::Text(t)) if field.is_some() => value.push_str(&t.xml10_content()),
            Ok(Event::GeneralRef(r)) if field.is_some() => value.push_str(&entity(&r)),
            Ok(Event::End(_)) => match field.take() {
                Some("title") => title = Some(value.clone()),
                Some(_) => date = Some(value.clone()),
                None => {}
            },
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    (title.filter(|t| !t.trim().is_empty()), date)
}

/// The text of a numeric, XML or HTML5 entity reference (`&#233;`, `&amp;`, `&nbsp;`: XHTML
/// chapters use HTML's names); any other (declared in a DTD) is dropped, never expanded.
fn entity(r: &quick_xml::events::BytesRef) -> String {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return c.to_string();
    }
    quick_xml::escape::resolve_html5_entity(&r.xml10_content()).unwrap_or("").to_string()
}

/// An element's attribute (by local name) as a number.
fn number_attr<T: std::str::FromStr>(e: &quick_xml::events::BytesStart, name: &str) -> Option<T> {
    e.attributes().flatten().find(|a| a.key.local_name().as_ref() == name).and_then(|a| a.value.trim().parse().ok())
}

/// The body of an ODF `content.xml`: `text:h` headings (their outline level), `text:p`
/// paragraphs, `table:table-row` rows; notes' bodies after the text; tracked deletions, the table
/// of contents and annotations left out.
fn odf_content(xml: &str, o: &mut Outline) -> Result<(), quick_xml::Error> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    // Open paragraphs (a text box's paragraph sits inside another's), innermost last, with the
    // heading level of each (0: a paragraph).
    let mut open: Vec<(u8, String)> = Vec::new();
    let mut row: Option<Vec<String>> = None;
    let mut cell: Option<String> = None;
    let mut skipping = 0usize;
    let mut in_note = 0usize;
    let mut notes = Outline::default();
    loop {
        let event = reader.read_event()?;
        match &event {
            Event::Start(_) if skipping > 0 => skipping += 1,
            Event::End(_) if skipping > 0 => skipping -= 1,
            _ if skipping > 0 => {}
            Event::Start(e) => match e.local_name().as_ref() {
                "tracked-changes" | "table-of-content" | "annotation" | "note-citation" | "illustration-index" | "alphabetical-index" | "bibliography" => {
                    skipping = 1
                }
                "note-body" => in_note += 1,
                "h" => {
                    let level: u8 = number_attr(e, "outline-level").unwrap_or(1);
                    open.push((level.max(1), String::new()));
                }
                "p" => open.push((0, String::new())),
                "table-row" => row = Some(Vec::new()),
                "table-cell" if row.is_some() => cell = Some(String::new()),
                _ => {}
            },
            Event::Empty(e) => {
                let space = match e.local_name().as_ref() {
                    "s" => Some(" ".repeat(number_attr(e, "c").unwrap_or(1usize).min(8))),
                    "tab" | "line-break" => Some(" ".to_string()),
                    _ => None,
                };
                if let (Some(s), Some((_, p))) = (space, open.last_mut()) {
                    p.push_str(&s);
                }
            }
            Event::Text(t) => {
                if let Some((_, p)) = open.last_mut() {
                    p.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if let Some((_, p)) = open.last_mut() {
                    p.push_str(&entity(r));
                }
            }
            Event::End(e) => match e.local_name().as_ref() {
                "note-body" => in_note = in_note.saturating_sub(1),
                "h" | "p" => {
                    let Some((level, p)) = open.pop() else { continue };
                    let target = if in_note > 0 { &mut notes } else { &mut *o };
                    if let Some(c) = cell.as_mut().filter(|_| in_note == 0) {
                        c.push(' ');
                        c.push_str(&p);
                    } else if level > 0 {
                        target.heading(level, &p);
                    } else {
                        target.text(&p);
                    }
                }
                "table-cell" => {
                    if let (Some(c), Some(r)) = (cell.take(), row.as_mut()) {
                        let c = super::squash(&c);
                        if !c.is_empty() {
                            r.push(c);
                        }
                    }
                }
                "table-row" => {
                    if let Some(r) = row.take() {
                        o.text(&r.join(" | "));
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    o.blocks.extend(notes.blocks);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outline(xml: &str) -> Vec<Block> {
        let mut o = Outline::default();
        odf_content(xml, &mut o).unwrap();
        o.blocks
    }

    #[test]
    fn odf_headings_paragraphs_rows_and_notes() {
        let xml = r#"<office:document-content xmlns:office="o" xmlns:text="t" xmlns:table="tb"><office:body><office:text>
            <text:table-of-content><text:p>Contents 1</text:p></text:table-of-content>
            <text:h text:outline-level="2">Outlook</text:h>
            <text:p>Copper<text:s text:c="2"/>rose &amp; fell<text:note><text:note-citation>1</text:note-citation><text:note-body><text:p>LME data.</text:p></text:note-body></text:note> today.</text:p>
            <text:tracked-changes><text:changed-region><text:p>deleted words</text:p></text:changed-region></text:tracked-changes>
            <table:table><table:table-row><table:table-cell><text:p>Metal</text:p></table:table-cell><table:table-cell><text:p>Price</text:p></table:table-cell></table:table-row>
            <table:table-row><table:table-cell><text:p>Cu</text:p></table:table-cell><table:table-cell><text:p>9,120</text:p></table:table-cell></table:table-row></table:table>
        </office:text></office:body></office:document-content>"#;
        assert_eq!(
            outline(xml),
            vec![
                Block::Heading(2, "Outlook".into()),
                Block::Text("Copper rose & fell today.".into()),
                Block::Text("Metal | Price".into()),
                Block::Text("Cu | 9,120".into()),
                Block::Text("LME data.".into()),
            ]
        );
    }

    #[test]
    fn xhtml_blocks_in_order_without_scripts() {
        let mut o = Outline::default();
        xhtml(
            "<html><head><title>x</title></head><body><nav><p>toc</p></nav><h2>Chapter 1</h2><div>Loose <em>words</em><p>A para.</p>tail</div><script>alert(1)</script><table><tr><td>a</td><td>b</td></tr></table><ul><li>one</li><li>two<br/>lines</li></ul></body></html>",
            &mut o,
        );
        let texts: Vec<String> = o.blocks.iter().map(|b| format!("{b:?}")).collect();
        assert_eq!(
            texts,
            [
                r#"Heading(2, "Chapter 1")"#,
                r#"Text("Loose words")"#,
                r#"Text("A para.")"#,
                r#"Text("tail")"#,
                r#"Text("a | b")"#,
                r#"Text("one")"#,
                r#"Text("two lines")"#
            ]
        );
    }

    #[test]
    fn xhtml_written_as_html_is_read_leniently_and_deep_nesting_is_linear() {
        let mut o = Outline::default();
        xhtml("<body><p>Caf&eacute;&nbsp;prices<br>rose<p>Next &#8220;para&#8221;</div></p><p>Last</body>", &mut o);
        let texts: Vec<String> = o.blocks.iter().map(|b| format!("{b:?}")).collect();
        assert_eq!(texts, [r#"Text("Café prices rose")"#, r#"Text("Next “para”")"#, r#"Text("Last")"#]);
        let deep = format!("<body>{}<p>deep</p>{}{}</body>", "<div>".repeat(200_000), "</span>".repeat(200_000), "</div>".repeat(200_000));
        let t = std::time::Instant::now();
        let mut o = Outline::default();
        xhtml(&deep, &mut o);
        assert_eq!(o.blocks, vec![Block::Text("deep".into())]);
        assert!(t.elapsed() < std::time::Duration::from_secs(2), "{:?}", t.elapsed());
    }

    #[test]
    fn outline_titles_sections_and_paragraph_numbers() {
        let o = Outline {
            title: None,
            date: Some("2025-03-02T10:00:00Z".into()),
            date_is_publication: false,
            blocks: vec![
                Block::Heading(1, "Copper outlook".into()),
                Block::Text("Prices rose.".into()),
                Block::Heading(2, "Risks".into()),
                Block::Text("Chile strikes.".into()),
                // A heading with nothing under it (found by the fuzzer: its section began past the end).
                Block::Heading(2, "Appendix".into()),
            ],
        };
        let d = o.into_document("r.docx", &mut |_, _| {}).unwrap();
        assert_eq!(d.title, "Copper outlook");
        assert_eq!(d.text, "Prices rose.\n\nChile strikes.");
        assert_eq!(d.section_at(0), "Copper outlook");
        assert_eq!(d.section_at(d.text.find("Chile").unwrap()), "Copper outlook › Risks");
        assert!(d.sections.iter().all(|(at, _)| *at < d.text.len()), "{:?}", d.sections);
        let LineMap::Mapped(p) = &d.lines else { panic!() };
        assert_eq!((p[0], p[d.text.find("Chile").unwrap()]), (2, 4));
        assert_eq!(d.date.as_deref(), Some("2025-03-02T10:00:00Z"));
    }
}
