//! PDF: a report, a speech or a filing read as its reader sees it, page by page.
//!
//! - **Parsing** is pdf_oxide's (pure Rust, maintained): it repairs broken cross-reference tables
//!   and half-written files, decrypts files protected only by an owner password, and gives each
//!   page's text spans (text, position, font size) in reading order — the producer's structure
//!   tree for a tagged PDF, else its column-aware XY-cut. It was chosen over pdf-extract and lopdf
//!   after reading the same files with each (ARCHITECTURE.md, "Ingest"): on a truncated file it
//!   recovered 86 % of the text where pdf-extract failed and lopdf found 3 %; it tells an encrypted
//!   file from an empty one; and it exposes the spans the steps below need.
//! - **Lines** are assembled here from the spans in that order (the crate's own line assembly
//!   merged the two columns of a report into one line): a span starts a new line when its baseline
//!   moves by more than half its font size; a space goes between two spans of a line when they are
//!   apart by more than a fifth of the font size (kerned pairs like `W|eekly` are not).
//! - **Running headers and footers** (a line in the top or bottom 10 % of a page that repeats, digits
//!   aside, on at least half the pages and at least two) and **page numbers** (such a line that is
//!   only a number, `Page 3`, `3 of 12`, `- 3 -`) are dropped.
//! - **Hyphenation**: a line ending in a soft hyphen, or in a hyphen after a letter when the next
//!   line begins with a lowercase letter, is joined to the next without it.
//! - **Title**: the document information's `/Title` unless it is empty or a file name; else the
//!   first page's line in the largest type. **Date**: the dateline of the first lines
//!   (`meta::dateline`), else `/CreationDate` (the day).
//! - **Where**: a PDF has pages, not source lines: every byte of the text maps to its page, stored
//!   where other formats store lines, and results say `file.pdf:page N` (`output`).
//!
//! A file that is encrypted with a password, has no text layer (a scan), or cannot be parsed is
//! skipped with a warning saying what to do. Memory: the file's bytes (under `--max-file-size`),
//! pdf_oxide's copy of them, and one page's spans at a time beside the text.

use super::{meta, Document, LineMap};
use pdf_oxide::PdfDocument;

/// Most bytes one PDF stream may inflate to, in MiB (pdf_oxide's own default is 256): a page's
/// text streams are kilobytes, and a decompression bomb must not cost a run a gigabyte.
pub const MAX_STREAM_MIB: u32 = 64;

/// Caps what one PDF stream may inflate to (`MAX_STREAM_MIB`), unless the user set
/// `PDF_OXIDE_MAX_DECOMPRESS_MB`, through which pdf_oxide reads its limit. Call it at the start of
/// `main`, before any thread is started (setting the environment races with threads reading it).
pub fn limit_streams() {
    if std::env::var_os("PDF_OXIDE_MAX_DECOMPRESS_MB").is_none() {
        std::env::set_var("PDF_OXIDE_MAX_DECOMPRESS_MB", MAX_STREAM_MIB.to_string());
    }
}

/// Share of the page height at the top and at the bottom where running headers and footers live.
const BAND: f32 = 0.10;

/// One assembled line of a page.
struct Line {
    text: String,
    /// Baseline height from the page's bottom (PDF coordinates).
    y: f32,
    /// Largest font size on the line.
    size: f32,
    /// In the top or bottom band of its page.
    in_band: bool,
}

/// A PDF as one document, or why it has none.
pub fn pdf_document(path: &str, bytes: Vec<u8>, warn: &mut dyn FnMut(u32, String)) -> Result<Option<Document>, String> {
    // pdf_oxide panics on some damaged files (the `pdf` fuzz target found one: a string sliced
    // inside a character while it recovers an object); one file is skipped, not the run.
    let (pages, title, created) = match super::contained(|| read(bytes)) {
        Some(r) => r?,
        None => return Err("the PDF reader failed on this file; it was skipped (please report it)".into()),
    };
    let kept = drop_running_lines(pages);
    // The cover's title line (the first page's largest type) is the title, not a section of it.
    let cover = largest_line(kept.first().map_or(&[][..], |p| &p[..]));
    let title = title.filter(|t| !looks_like_a_file_name(t)).or_else(|| cover.clone()).unwrap_or_default();
    let (text, page_of, sections) = assemble(&kept, &title, cover.as_deref());
    if text.trim().is_empty() {
        return Err("no text layer (a scanned PDF?); OCR it first, e.g. `ocrmypdf in.pdf out.pdf`, and index the result".into());
    }
    // The date the report states on its first page, else when the file was made.
    let date = meta::dateline(&text).or_else(|| {
        created.and_then(|raw| {
            let d = pdf_date(&raw);
            if d.is_none() {
                warn(1, meta::bad_date(&raw));
            }
            d
        })
    });
    let mut doc = Document::plain(path.to_string(), path.to_string(), title, text, LineMap::Mapped(page_of));
    doc.sections = sections;
    doc.date = date;
    Ok(Some(doc))
}

type Pages = Vec<Vec<Line>>;

/// The pages' lines, the `/Title` and the `/CreationDate`.
fn read(bytes: Vec<u8>) -> Result<(Pages, Option<String>, Option<String>), String> {
    let doc = PdfDocument::from_bytes(bytes).map_err(|e| format!("not a readable PDF ({e}); if it opens in a viewer, print it to a new PDF"))?;
    if doc.is_encrypted() && !doc.is_authenticated() {
        return Err("encrypted with a password; save a copy without it (e.g. `qpdf --decrypt --password=PASSWORD in.pdf out.pdf`) and index that".into());
    }
    let (title, created) = info(&doc);
    let n = doc.page_count().map_err(|e| format!("not a readable PDF ({e})"))?;
    let mut pages = Vec::with_capacity(n);
    for p in 0..n {
        // A page the crate cannot read (a broken content stream) is a page without text; the
        // others are kept.
        let spans = doc.extract_spans_with_reading_order(p, pdf_oxide::ReadingOrder::Structure).unwrap_or_default();
        let height = doc.get_page_media_box(p).map(|(_, y0, _, y1)| (y0, y1)).unwrap_or((0.0, 792.0));
        pages.push(lines_of(&spans, height));
    }
    Ok((pages, title, created))
}

/// `/Title` and `/CreationDate` of the document information dictionary, where present.
fn info(doc: &PdfDocument) -> (Option<String>, Option<String>) {
    let Some(entry) = doc.trailer().as_dict().and_then(|d| d.get("Info")).cloned() else {
        return (None, None);
    };
    let object = match entry.as_reference() {
        Some(r) => match doc.load_object(r) {
            Ok(o) => o,
            Err(_) => return (None, None),
        },
        None => entry,
    };
    let info = pdf_oxide::editor::DocumentInfo::from_object(&object);
    let clean = |s: Option<String>| s.map(|t| t.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|t| !t.is_empty() && t.chars().count() <= 300);
    (clean(info.title), clean(info.creation_date))
}

/// Spans (in reading order) gathered into lines.
fn lines_of(spans: &[pdf_oxide::layout::TextSpan], (bottom, top): (f32, f32)) -> Vec<Line> {
    let height = (top - bottom).abs().max(1.0);
    let band = |y: f32| y - bottom < BAND * height || top - y < BAND * height;
    let mut lines: Vec<Line> = Vec::new();
    // Where the last span of the current line ended, horizontally.
    let mut right = f32::MIN;
    for s in spans {
        if s.text.is_empty() {
            continue;
        }
        let size = s.font_size.abs().max(1.0);
        let y = s.bbox.y;
        let same_line = lines.last().is_some_and(|l| (l.y - y).abs() <= 0.5 * size.min(l.size) && s.bbox.x >= right - 0.5 * size);
        if same_line {
            let line = lines.last_mut().expect("checked");
            let gap = s.bbox.x - right;
            if gap > 0.2 * size && !line.text.ends_with(char::is_whitespace) && !s.text.starts_with(char::is_whitespace) {
                line.text.push(' ');
            }
            line.text.push_str(&s.text);
            line.size = line.size.max(size);
        } else {
            lines.push(Line { text: s.text.clone(), y, size, in_band: band(y) });
        }
        right = s.bbox.x + s.bbox.width;
    }
    for l in &mut lines {
        l.text = l.text.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    lines.retain(|l| !l.text.is_empty());
    lines
}

/// A line's text with its digits taken out: the key under which running headers repeat
/// (`Page 3 of 12` and `Page 4 of 12` are the same footer).
fn running_key(text: &str) -> String {
    text.chars().filter(|c| !c.is_ascii_digit()).collect::<String>().trim().to_lowercase()
}

/// A page number as printed: `3`, `- 3 -`, `Page 3`, `3 of 12`, `iv`.
fn is_page_number(text: &str) -> bool {
    let t = text.trim_matches(|c: char| c == '-' || c == '–' || c == '—' || c.is_whitespace()).to_lowercase();
    let t = t.strip_prefix("page").map_or(t.as_str(), str::trim);
    let words: Vec<&str> = t.split_whitespace().collect();
    let number = |w: &str| !w.is_empty() && (w.chars().all(|c| c.is_ascii_digit()) || (w.len() <= 6 && w.chars().all(|c| "ivxlc".contains(c))));
    match words.as_slice() {
        [n] => number(n) || n.split('/').all(number),
        [n, "of", m] => number(n) && number(m),
        _ => false,
    }
}

/// Every page without its running headers, footers and page numbers.
fn drop_running_lines(pages: Pages) -> Pages {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for page in &pages {
        let keys: std::collections::HashSet<String> = page.iter().filter(|l| l.in_band).map(|l| running_key(&l.text)).filter(|k| !k.is_empty()).collect();
        for k in keys {
            *seen.entry(k).or_default() += 1;
        }
    }
    let need = pages.len().div_ceil(2).max(2);
    pages
        .into_iter()
        .map(|page| {
            page.into_iter().filter(|l| !(l.in_band && (is_page_number(&l.text) || seen.get(&running_key(&l.text)).is_some_and(|&n| n >= need)))).collect()
        })
        .collect()
}

/// The text of all pages, and the page (1-based) of each of its bytes. A PDF's line breaks are
/// layout, not content: the lines of a paragraph are joined by a space, so sentences read (and are
/// split) as the author wrote them. A vertical gap of more than 1.6 lines, a jump up the page (the
/// next column) or a new page is a paragraph break (a blank line, where the chunker prefers to
/// cut) — unless the text plainly goes on: the line before ends without a stop and the next begins
/// in lowercase.
///
/// Headings (`heading_levels`) stand alone as paragraphs and open sections, as in Markdown:
/// `(byte where the section starts, "Title › Heading › Subheading")`.
fn assemble(pages: &[Vec<Line>], title: &str, cover: Option<&str>) -> (String, Vec<u32>, Vec<(usize, String)>) {
    let levels = heading_levels(pages, &[Some(title), cover]);
    let mut open: Vec<(usize, String)> = Vec::new();
    let mut sections = Vec::new();
    let mut text = String::new();
    let mut page_of: Vec<u32> = Vec::new();
    let push = |text: &mut String, page_of: &mut Vec<u32>, s: &str, page: u32| {
        text.push_str(s);
        page_of.resize(text.len(), page);
    };
    for (p, lines) in pages.iter().enumerate() {
        let page = p as u32 + 1;
        let mut previous: Option<(&Line, Option<usize>)> = None;
        for (i, line) in lines.iter().enumerate() {
            let level = levels[p][i];
            let mut s = line.text.as_str();
            if !text.is_empty() {
                let broken = level.is_some()
                    || previous.is_none_or(|(prev, prev_level)| {
                        let gap = prev.y - line.y;
                        prev_level.is_some() || gap > 1.6 * prev.size.max(line.size) || gap < -0.5 * line.size
                    });
                let goes_on = s.starts_with(char::is_lowercase) && !text.trim_end_matches('\u{ad}').ends_with(['.', '!', '?', ':', ';']);
                let hyphenated = text.ends_with('\u{ad}')
                    || (text.ends_with('-') && text[..text.len() - 1].ends_with(char::is_alphabetic) && s.starts_with(char::is_lowercase));
                if hyphenated && (!broken || goes_on) {
                    // The hyphen was only there to break the word across lines.
                    let cut = text.len() - text.chars().next_back().map_or(0, char::len_utf8);
                    text.truncate(cut);
                    page_of.truncate(cut);
                } else {
                    push(&mut text, &mut page_of, if broken && !goes_on { "\n\n" } else { " " }, page);
                }
            }
            s = s.trim_end_matches('\u{ad}').trim_end();
            let s = if line.text.ends_with('\u{ad}') { format!("{s}\u{ad}") } else { s.to_string() };
            previous = Some((line, level));
            if let Some(level) = level {
                // A heading is context, not passage text (as in Markdown): it opens a section.
                open.retain(|(l, _)| *l < level);
                open.push((level, s));
                let path: Vec<&str> = std::iter::once(title).filter(|t| !t.is_empty()).chain(open.iter().map(|(_, h)| h.as_str())).collect();
                sections.push((text.len(), path.join(super::SECTION_SEPARATOR)));
                continue;
            }
            push(&mut text, &mut page_of, &s, page);
        }
    }
    // Soft hyphens not at a line's end are invisible in print: drop them too.
    if text.contains('\u{ad}') {
        let mut clean = String::with_capacity(text.len());
        let mut map = Vec::with_capacity(page_of.len());
        for (i, c) in text.char_indices() {
            if c != '\u{ad}' {
                clean.push(c);
                map.resize(clean.len(), page_of[i]);
            }
        }
        // Offsets move by the hyphens before them.
        let shift = |at: usize| at - text[..at].matches('\u{ad}').count() * '\u{ad}'.len_utf8();
        let sections = sections.into_iter().map(|(at, p)| (shift(at), p)).collect();
        return (clean, map, sections);
    }
    (text, page_of, sections)
}

/// The heading level of each line (0 the largest type), or `None` for body text: a line set
/// clearly larger than the body (the most common size, by characters), short, not ending like a
/// sentence, outside the header and footer bands; the title's own lines (`not`) are not headings.
fn heading_levels(pages: &[Vec<Line>], not: &[Option<&str>]) -> Vec<Vec<Option<usize>>> {
    let key = |size: f32| (size * 2.0).round() as i32;
    let mut chars: std::collections::HashMap<i32, usize> = std::collections::HashMap::new();
    for l in pages.iter().flatten() {
        *chars.entry(key(l.size)).or_default() += l.text.len();
    }
    let body = chars.iter().max_by_key(|(k, n)| (**n, -**k)).map_or(0, |(k, _)| *k);
    let is_heading = |l: &Line| {
        let words = l.text.split_whitespace().count();
        key(l.size) as f32 >= body as f32 * 1.15
            && !l.in_band
            && (1..=12).contains(&words)
            && !l.text.ends_with(['.', ',', ';'])
            && !not.contains(&Some(l.text.as_str()))
    };
    let mut sizes: Vec<i32> = pages.iter().flatten().filter(|l| is_heading(l)).map(|l| key(l.size)).collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes.dedup();
    pages.iter().map(|p| p.iter().map(|l| if is_heading(l) { sizes.iter().position(|&s| s == key(l.size)) } else { None }).collect()).collect()
}

/// The first page's line in the largest type, when it reads as a title (a few words).
fn largest_line(lines: &[Line]) -> Option<String> {
    let biggest = lines.iter().map(|l| l.size).fold(0.0f32, f32::max);
    let body = {
        let mut sizes: Vec<f32> = lines.iter().map(|l| l.size).collect();
        sizes.sort_by(f32::total_cmp);
        sizes.get(sizes.len() / 2).copied().unwrap_or(0.0)
    };
    if biggest <= body * 1.15 {
        return None;
    }
    let line = lines.iter().find(|l| l.size >= biggest * 0.98)?;
    let words = line.text.split_whitespace().count();
    ((1..=30).contains(&words)).then(|| line.text.clone())
}

/// A `/Title` that names a file instead of the document (`Microsoft Word - report.docx`,
/// `untitled`, `scan0001.pdf`).
fn looks_like_a_file_name(title: &str) -> bool {
    let t = title.trim().to_lowercase();
    t == "untitled" || t.starts_with("microsoft word - ") || [".pdf", ".doc", ".docx", ".odt", ".tex", ".dvi", ".indd", ".rtf"].iter().any(|e| t.ends_with(e))
}

/// A PDF date (`D:20250714093000+02'00'`, any prefix of it) as an ISO day (`2025-07-14`), or a
/// month or a year when that is all it gives.
fn pdf_date(raw: &str) -> Option<String> {
    let s = raw.trim().strip_prefix("D:").unwrap_or(raw.trim());
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    let iso = match digits.len() {
        n if n >= 8 => format!("{}-{}-{}", &digits[..4], &digits[4..6], &digits[6..8]),
        6 => format!("{}-{}", &digits[..4], &digits[4..6]),
        4 => digits.clone(),
        _ => return None,
    };
    meta::parse_date(&iso)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, y: f32, size: f32, in_band: bool) -> Line {
        Line { text: text.into(), y, size, in_band }
    }

    #[test]
    fn page_numbers_and_running_lines_go_hyphens_join_paragraphs_break() {
        let page = |n: u32| {
            vec![
                line("Northbridge Research — Metals Weekly", 800.0, 9.0, true),
                line(&format!("Body of page {n} about infla-"), 700.0, 11.0, false),
                line("tionary pressure and the third-", 687.0, 11.0, false),
                line("Quarter outlook.", 674.0, 11.0, false),
                line("A new paragraph.", 640.0, 11.0, false),
                line(&format!("Page {n} of 3"), 30.0, 9.0, true),
            ]
        };
        let kept = drop_running_lines(vec![page(1), page(2), page(3)]);
        assert!(kept.iter().all(|p| p.len() == 4), "headers and page numbers dropped");
        let (text, pages, _) = assemble(&kept, "", None);
        assert!(
            text.starts_with("Body of page 1 about inflationary pressure and the third- Quarter outlook.\n\nA new paragraph.\n\nBody of page 2"),
            "{text:?}"
        );
        assert_eq!(pages.len(), text.len());
        let second = text.find("Body of page 2").unwrap();
        assert_eq!((pages[0], pages[second - 1], pages[second], *pages.last().unwrap()), (1, 2, 2, 3));
    }

    #[test]
    fn a_line_seen_once_in_the_band_is_kept() {
        let kept = drop_running_lines(vec![
            vec![line("Copper Outlook", 800.0, 20.0, true), line("Text.", 700.0, 11.0, false)],
            vec![line("More text.", 700.0, 11.0, false)],
        ]);
        assert_eq!(kept[0].len(), 2);
    }

    #[test]
    fn page_numbers_dates_and_titles() {
        for n in ["3", "- 3 -", "Page 3", "page 3 of 12", "iv", "3/12"] {
            assert!(is_page_number(n), "{n}");
        }
        for n in ["3 tonnes", "Copper", "2025 outlook"] {
            assert!(!is_page_number(n), "{n}");
        }
        assert_eq!(pdf_date("D:20250714093000+02'00'").as_deref(), Some("2025-07-14"));
        assert_eq!(pdf_date("D:2025").as_deref(), Some("2025"));
        assert_eq!(pdf_date("yesterday"), None);
        assert!(looks_like_a_file_name("Microsoft Word - brief.docx"));
        assert!(!looks_like_a_file_name("Copper Outlook Q3 2025"));
        let lines = [line("Copper Outlook", 740.0, 20.0, false), line("Body.", 700.0, 11.0, false), line("More.", 690.0, 11.0, false)];
        assert_eq!(largest_line(&lines).as_deref(), Some("Copper Outlook"));
    }

    #[test]
    fn a_parser_panic_is_contained() {
        assert_eq!(crate::ingest::contained(|| 7), Some(7));
        assert_eq!(crate::ingest::contained(|| -> u32 { panic!("a parser bug on one file") }), None);
        assert_eq!(crate::ingest::contained(|| 8), Some(8), "the next file is read as usual");
    }
}
