//! Markdown through pulldown-cmark (CommonMark with tables, footnotes, task lists and YAML front
//! matter): the text a reader sees, headings kept apart as section paths, front matter as metadata.
//!
//! What is embedded and shown is the rendered text: emphasis, link and code markers are gone (a
//! link keeps its words, an image and raw HTML are dropped), a list item or table row is its own
//! paragraph. Headings are not passage text: each one opens a section whose path
//! (`Title › Heading › Subheading`) the passages under it carry. Every byte of the text keeps the
//! source line it came from, so `path:line` stays exact.

use super::{meta, Document, LineMap};
use pulldown_cmark::{Event, HeadingLevel, MetadataBlockKind, Options, Parser, Tag, TagEnd};

pub use crate::index::SECTION_SEPARATOR;

/// What the parser found.
#[derive(Debug, Default)]
pub(super) struct Rendered {
    pub text: String,
    /// Source line (1-based) of every byte of `text`.
    pub line_of: Vec<u32>,
    /// The file's byte offset of each byte of `text` (see `push`).
    pub byte_of: Vec<u32>,
    /// The first level-1 heading, or the front matter's title.
    pub title: String,
    /// (offset in `text`, headings below the title in force from there).
    pub sections: Vec<(usize, Vec<String>)>,
    pub front_matter: FrontMatter,
}

#[derive(Debug, Default)]
pub(super) struct FrontMatter {
    pub title: Option<String>,
    /// The raw date and the line it is on.
    pub date: Option<(String, u32)>,
    pub url: Option<String>,
    /// The line of a front matter block that is not valid YAML, with the parser's message.
    pub invalid: Option<(u32, String)>,
}

/// A Markdown file as one document: title from front matter, else the first `#` heading, else the
/// first line; date and url from front matter (an unparseable date is reported to `warn` with its
/// line). `None` when nothing readable is left.
pub fn markdown_document(path: &str, source: &str, warn: &mut dyn FnMut(u32, String)) -> Option<Document> {
    let r = render(source, None);
    if let Some((line, why)) = &r.front_matter.invalid {
        warn(*line, format!("front matter is not valid YAML ({why}); its title, date and url are ignored"));
    }
    if r.text.trim().is_empty() {
        return None;
    }
    let date = r.front_matter.date.as_ref().and_then(|(raw, line)| {
        let d = meta::parse_date(raw);
        if d.is_none() {
            warn(*line, meta::bad_date(raw));
        }
        d
    });
    let url = meta::web_url(r.front_matter.url.clone(), &mut |why| warn(meta::line_of(source, r.front_matter.url.as_deref().unwrap_or("")), why));
    let mut doc = r.into_document(path);
    // Without a date in front matter, the one its dateline states.
    doc.date = date.or_else(|| meta::dateline(&doc.text));
    doc.url = url;
    Some(doc)
}

impl Rendered {
    /// The document: section paths are the title followed by the headings. A document with no
    /// title and no heading is titled by its first line (as plain text is).
    pub fn into_document(self, path: &str) -> Document {
        let title = if self.title.is_empty() {
            self.text.lines().map(str::trim).find(|l| !l.is_empty()).filter(|l| l.chars().count() <= 200).unwrap_or("").to_string()
        } else {
            self.title.clone()
        };
        let mut sections: Vec<(usize, String)> = Vec::new();
        if !self.title.is_empty() && self.sections.first().is_none_or(|(at, _)| *at > 0) {
            sections.push((0, self.title.clone()));
        }
        for (at, heads) in self.sections {
            let parts: Vec<&str> = (!self.title.is_empty()).then_some(self.title.as_str()).into_iter().chain(heads.iter().map(String::as_str)).collect();
            let path = parts.join(SECTION_SEPARATOR);
            match sections.last_mut() {
                // Two headings with no text between them: the later one is the section.
                Some(last) if last.0 == at => last.1 = path,
                _ => sections.push((at, path)),
            }
        }
        sections.retain(|(_, p)| !p.is_empty());
        Document {
            doc_id: path.to_string(),
            path: path.to_string(),
            title,
            text: self.text,
            lines: LineMap::Mapped(self.line_of),
            sections,
            date: None,
            url: None,
            bytes: Some(self.byte_of),
        }
    }
}

/// Renders `source`. `title` is a title already known (HTML metadata): a level-1 heading equal to it
/// is not repeated as a section.
pub(super) fn render(source: &str, title: Option<&str>) -> Rendered {
    let newlines: Vec<usize> = source.match_indices('\n').map(|(i, _)| i).collect();
    let line_at = |off: usize| 1 + newlines.partition_point(|&n| n < off) as u32;
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS;
    let mut out = Rendered { title: title.unwrap_or("").to_string(), ..Rendered::default() };
    let mut gap = Gap::None;
    // Headings in force below the title, with their levels.
    let mut stack: Vec<(HeadingLevel, String)> = Vec::new();
    let mut heading: Option<String> = None;
    let mut front: Option<(String, u32)> = None;
    let mut hidden = 0usize;
    let mut section_pending = false;
    for (event, range) in Parser::new_ext(source, options).into_offset_iter() {
        match event {
            Event::Start(Tag::MetadataBlock(MetadataBlockKind::YamlStyle)) => {
                front = Some((String::new(), line_at(range.start) + 1));
            }
            Event::End(TagEnd::MetadataBlock(_)) => {
                if let Some((yaml, first_line)) = front.take() {
                    // Only a block at the very top is front matter; a later one is dropped as markup.
                    if source[..range.start].trim().is_empty() {
                        out.front_matter = front_matter(&yaml, first_line);
                        if let Some(t) = &out.front_matter.title {
                            if out.title.is_empty() {
                                out.title = t.clone();
                            }
                        }
                    }
                }
            }
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::End(TagEnd::Heading(level)) => {
                let text = squash(&heading.take().unwrap_or_default());
                if text.is_empty() {
                    continue;
                }
                // The first level-1 heading, before any text, is the document's own headline: the
                // title (or, under a front-matter title worded otherwise, that title's twin), not
                // a section below it (`FOMC June 2025 — hold › FOMC June 2025 › Decision`).
                let headline = level == HeadingLevel::H1 && stack.is_empty() && (out.title.is_empty() || out.title == text || out.text.is_empty());
                if headline {
                    if out.title.is_empty() {
                        out.title = text;
                    }
                } else {
                    while stack.last().is_some_and(|(l, _)| *l >= level) {
                        stack.pop();
                    }
                    stack.push((level, text));
                }
                section_pending = true;
                gap = Gap::Paragraph;
            }
            Event::Start(Tag::Image { .. }) | Event::Start(Tag::HtmlBlock) => hidden += 1,
            Event::End(TagEnd::Image) | Event::End(TagEnd::HtmlBlock) => hidden = hidden.saturating_sub(1),
            Event::Text(t) | Event::Code(t) => {
                if let Some((yaml, _)) = front.as_mut() {
                    yaml.push_str(&t);
                } else if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                } else if hidden == 0 {
                    if section_pending {
                        // The section starts where its first text does (after the gap).
                        let at = out.text.len() + if out.text.is_empty() { 0 } else { gap.len() };
                        out.sections.push((at, stack.iter().map(|(_, h)| h.clone()).collect()));
                        section_pending = false;
                    }
                    // Where each byte is in the file: text the parser took verbatim maps byte for
                    // byte; an entity or escape (`&amp;` → `&`) maps to where it starts.
                    let verbatim = source.get(range.clone()) == Some(&*t);
                    push(&mut out, &mut gap, &t, line_at(range.start), (range.start, verbatim));
                }
            }
            Event::SoftBreak => {
                if let Some(h) = heading.as_mut() {
                    h.push(' ');
                } else {
                    gap = gap.max(Gap::Space);
                }
            }
            Event::HardBreak => gap = gap.max(Gap::Line),
            Event::End(TagEnd::Paragraph | TagEnd::Item | TagEnd::CodeBlock | TagEnd::TableRow | TagEnd::TableHead)
            | Event::End(TagEnd::BlockQuote(_) | TagEnd::List(_) | TagEnd::FootnoteDefinition | TagEnd::Table)
            | Event::Start(Tag::Item)
            | Event::Rule => gap = Gap::Paragraph,
            Event::End(TagEnd::TableCell) => gap = gap.max(Gap::Cell),
            _ => {}
        }
    }
    out
}

/// What separates the next text from the last: nothing, a space, a line break, a table cell, a
/// paragraph break. Ordered so that the stronger one wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Gap {
    None,
    Space,
    Cell,
    Line,
    Paragraph,
}

impl Gap {
    fn as_str(self) -> &'static str {
        match self {
            Gap::None => "",
            Gap::Space => " ",
            Gap::Cell => " | ",
            Gap::Line => "\n",
            Gap::Paragraph => "\n\n",
        }
    }

    fn len(self) -> usize {
        self.as_str().len()
    }
}

fn push(out: &mut Rendered, gap: &mut Gap, s: &str, line: u32, (at, verbatim): (usize, bool)) {
    if !out.text.is_empty() {
        let g = gap.as_str();
        out.text.push_str(g);
        out.line_of.extend(std::iter::repeat_n(line, g.len()));
        // A gap is no text of the file: its bytes sit where the next text starts.
        out.byte_of.extend(std::iter::repeat_n(offset(at), g.len()));
    }
    *gap = Gap::None;
    // A code block's text holds its own line breaks: each byte after one is on the next line.
    for (l, piece) in (line..).zip(s.split_inclusive('\n')) {
        out.text.push_str(piece);
        out.line_of.extend(std::iter::repeat_n(l, piece.len()));
    }
    if verbatim {
        out.byte_of.extend((at..at + s.len()).map(offset));
    } else {
        out.byte_of.extend(std::iter::repeat_n(offset(at), s.len()));
    }
}

/// A file offset as kept per byte (u32: files past 4 GiB, far over `--max-file-size`'s default,
/// point at the last offset it can hold).
fn offset(at: usize) -> u32 {
    u32::try_from(at).unwrap_or(u32::MAX)
}

/// Runs of whitespace as one space, ends trimmed (headings and titles here; passages for display in
/// `output`).
pub fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The front matter's title, date and url (first of a few common names each).
fn front_matter(yaml: &str, first_line: u32) -> FrontMatter {
    use yaml_rust2::{Yaml, YamlLoader};
    let docs = match YamlLoader::load_from_str(yaml) {
        Ok(d) => d,
        Err(e) => {
            let line = first_line + e.marker().line().saturating_sub(1) as u32;
            return FrontMatter { invalid: Some((line, e.info().to_string())), ..FrontMatter::default() };
        }
    };
    let Some(Yaml::Hash(map)) = docs.into_iter().next() else {
        return FrontMatter::default();
    };
    let get = |names: &[&str]| {
        names.iter().find_map(|n| match map.get(&Yaml::String((*n).to_string()))? {
            Yaml::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Yaml::Integer(i) => Some(i.to_string()),
            Yaml::Real(r) => Some(r.clone()),
            _ => None,
        })
    };
    // The line of the date key, for a warning that points at it.
    let date_line = |key: &str| yaml.lines().position(|l| l.trim_start().starts_with(&format!("{key}:"))).map_or(first_line, |i| first_line + i as u32);
    let date_keys = ["date", "published", "published_at", "pubDate"];
    let date = date_keys.iter().find_map(|k| get(&[k]).map(|v| (v, date_line(k))));
    FrontMatter { title: get(&["title"]), date, url: get(&["url", "link", "canonical_url"]), invalid: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(src: &str) -> (Document, Vec<(u32, String)>) {
        let mut warned = Vec::new();
        let d = markdown_document("a.md", src, &mut |l, w| warned.push((l, w))).unwrap();
        (d, warned)
    }

    #[test]
    fn headings_become_sections_and_markup_goes() {
        let src = "# ECB cuts rates\n\n*Frankfurt, 6 March*\n\nThe bank **lowered** its rate,\nsee [the note](https://x.example).\n\n## Market reaction\n\nThe `euro` slipped.\n\n### Bonds\n\nYields fell.\n\n## Next\n\n- one item\n- two ![chart](c.png) items\n";
        let (d, warned) = doc(src);
        assert!(warned.is_empty());
        assert_eq!(d.title, "ECB cuts rates");
        assert_eq!(d.text, "Frankfurt, 6 March\n\nThe bank lowered its rate, see the note.\n\nThe euro slipped.\n\nYields fell.\n\none item\n\ntwo  items");
        let at = |s: &str| d.text.find(s).unwrap();
        assert_eq!(d.section_at(0), "ECB cuts rates");
        assert_eq!(d.section_at(at("The euro")), "ECB cuts rates › Market reaction");
        assert_eq!(d.section_at(at("Yields")), "ECB cuts rates › Market reaction › Bonds");
        assert_eq!(d.section_at(at("one item")), "ECB cuts rates › Next");
        let LineMap::Mapped(lines) = &d.lines else { panic!() };
        assert_eq!(lines[at("Frankfurt")], 3);
        assert_eq!(lines[at("see the")], 6);
        assert_eq!(lines[at("Yields")], 14);
        assert_eq!(lines[at("two")], 19);
    }

    #[test]
    fn front_matter_is_metadata_not_text() {
        let src = "---\ntitle: \"Dutch chip rules\"\ndate: 2025-01-15\nurl: https://x.example/chips\ntags: [a, b]\n---\n\nBody text here.\n";
        let (d, warned) = doc(src);
        assert!(warned.is_empty(), "{warned:?}");
        assert_eq!(d.title, "Dutch chip rules");
        assert_eq!(d.date.as_deref(), Some("2025-01-15"));
        assert_eq!(d.url.as_deref(), Some("https://x.example/chips"));
        assert_eq!(d.text, "Body text here.");
        let LineMap::Mapped(lines) = &d.lines else { panic!() };
        assert_eq!(lines[0], 8);
        let (d, warned) = doc("---\ndate: soon\n---\nText.\n");
        assert_eq!(d.date, None);
        assert_eq!(warned.len(), 1);
        assert_eq!(warned[0].0, 2, "{warned:?}");
        let (_, warned) = doc("---\ntitle: [unclosed\n---\nText.\n");
        assert!(warned[0].1.starts_with("front matter is not valid YAML"), "{warned:?}");
    }

    #[test]
    fn a_document_of_only_markup_is_nothing() {
        assert!(markdown_document("e.md", "![x](y.png)\n\n<div></div>\n", &mut |_, _| {}).is_none());
    }
}
