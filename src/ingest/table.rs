//! CSV and TSV: one document per row, when a column holds prose.
//!
//! Parsing is BurntSushi's csv crate (quoted fields, embedded newlines and delimiters, a ragged
//! row). Which column is the text: the one `--csv-text` names (where the table has it), else one
//! named like a text
//! (`text`, `body`, `content`, `description`, `summary`…), else the column whose values in the first
//! rows are longest on average, if they read as prose (30 characters or more, most of three words or
//! more). Title, date, url and id likewise (`--csv-title`, `--csv-date`, or a column named so). A
//! table with no such column (prices, figures) is a warning naming the file and its columns, so the
//! user can name one. Rows are read one at a time: `--max-file-size` bounds a row, not the file
//! (`Bounded`), so a 1 GB export is indexed in bounded memory.

use super::meta;
use super::{Document, LineMap};
use std::io::Read;

/// The columns a user named (`--csv-text`, `--csv-title`, `--csv-date`); unnamed ones are guessed.
#[derive(Debug, Clone, Default)]
pub struct CsvColumns {
    /// The column holding each row's text.
    pub text: Option<String>,
    /// The column holding its title.
    pub title: Option<String>,
    /// The column holding its date.
    pub date: Option<String>,
}

/// Where each field of a document is, by column index.
#[derive(Debug, PartialEq)]
pub(super) struct Columns {
    pub text: usize,
    pub title: Option<usize>,
    pub date: Option<usize>,
    pub url: Option<usize>,
    pub id: Option<usize>,
}

const TEXT_NAMES: &[&str] =
    &["text", "body", "content", "description", "summary", "abstract", "article", "notes", "note", "message", "comment", "comments", "snippet"];
const TITLE_NAMES: &[&str] = &["title", "headline", "subject", "heading", "name"];
const DATE_NAMES: &[&str] = &["date", "published", "published_at", "publishedat", "pubdate", "created", "created_at", "timestamp"];
const URL_NAMES: &[&str] = &["url", "link", "canonical_url"];
const ID_NAMES: &[&str] = &["id", "_id"];

/// Rows read before the text column is guessed (fewer when they pass `SAMPLE_BYTES`).
pub(super) const SAMPLE_ROWS: usize = 100;
/// Bytes of rows read before the text column is guessed.
pub(super) const SAMPLE_BYTES: usize = 1 << 20;

/// The columns of a table with `headers`, given what the user named and the first rows; or why it
/// has no text column (the caller names the file).
pub(super) fn columns(headers: &[String], sample: &[csv::StringRecord], named: &CsvColumns) -> Result<Columns, String> {
    let listed = || headers.iter().map(|h| format!("{h:?}")).collect::<Vec<_>>().join(", ");
    let find = |name: &str| headers.iter().position(|h| h.trim().eq_ignore_ascii_case(name.trim()));
    let by_names = |names: &[&str]| names.iter().find_map(|n| find(n));
    // A column the user named is taken where the table has it; a table without it (one run can
    // read several tables) falls back to the names and the guess.
    let named_or = |given: &Option<String>, names: &[&str]| given.as_deref().and_then(find).or_else(|| by_names(names));
    let text = match named_or(&named.text, TEXT_NAMES).or_else(|| prose_column(headers.len(), sample)) {
        Some(t) => t,
        None => {
            let flag = named.text.as_ref().map_or(String::new(), |t| format!("no column {t:?} (--csv-text) and "));
            return Err(format!("{flag}no column of text to index (columns: {}); name one with --csv-text COLUMN, or leave the file out", listed()));
        }
    };
    let other = |c: Option<usize>| c.filter(|&c| c != text);
    Ok(Columns {
        text,
        title: other(named_or(&named.title, TITLE_NAMES)),
        date: other(named_or(&named.date, DATE_NAMES)),
        url: other(by_names(URL_NAMES)),
        id: other(by_names(ID_NAMES)),
    })
}

/// The column whose values read most like prose, if any does.
fn prose_column(n: usize, sample: &[csv::StringRecord]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for c in 0..n {
        let values: Vec<&str> = sample.iter().filter_map(|r| r.get(c)).map(str::trim).filter(|v| !v.is_empty()).collect();
        if values.is_empty() {
            continue;
        }
        let mean = values.iter().map(|v| v.chars().count()).sum::<usize>() as f64 / values.len() as f64;
        let wordy = values.iter().filter(|v| v.split_whitespace().count() >= 3).count() * 2 >= values.len();
        if mean >= 30.0 && wordy && best.is_none_or(|(_, m)| mean > m) {
            best = Some((c, mean));
        }
    }
    best.map(|(c, _)| c)
}

/// One row as a document (None: a row with neither text nor title). A date that does not parse
/// goes to `warn` and is left out; a url that is not a web address too.
pub(super) fn row_document(path: &str, row: &csv::StringRecord, line: u32, cols: &Columns, warn: &mut dyn FnMut(String)) -> Option<Document> {
    let cell = |c: Option<usize>| c.and_then(|c| row.get(c)).map(str::trim).filter(|v| !v.is_empty());
    let body = cell(Some(cols.text)).unwrap_or("");
    let title = cell(cols.title).map(|t| t.split_whitespace().collect::<Vec<_>>().join(" ")).unwrap_or_default();
    if body.is_empty() && title.is_empty() {
        return None;
    }
    let date = cell(cols.date).and_then(|raw| {
        let d = meta::parse_date(raw);
        if d.is_none() {
            warn(meta::bad_date(raw));
        }
        d
    });
    let url = meta::web_url(cell(cols.url).map(str::to_string), &mut |why| warn(why));
    let doc_id = cell(cols.id).map_or_else(|| format!("{path}:{line}"), |id| format!("{path}#{id}"));
    // As a JSONL record: the title is the section of the row's passages (embedded with them).
    let (text, sections) = match (body.is_empty(), title.is_empty()) {
        (true, _) => (title.clone(), Vec::new()),
        (false, true) => (body.to_string(), Vec::new()),
        (false, false) => (body.to_string(), vec![(0, title.clone())]),
    };
    Some(Document { doc_id, path: path.to_string(), title, text, lines: LineMap::Record { line }, sections, date, url, bytes: None })
}

/// A reader that fails once more than `limit` bytes are read since the last `mark`: a row of a
/// table is bounded without the csv crate (which grows its buffer to any field) ever holding more.
/// Written here because the csv crate has no such limit and `Read::take` bounds the whole file.
pub(super) struct Bounded<R> {
    inner: R,
    read: u64,
    mark: std::rc::Rc<std::cell::Cell<u64>>,
    limit: u64,
}

impl<R: Read> Bounded<R> {
    /// `inner`, and the handle through which the caller marks where a row ends.
    pub(super) fn new(inner: R, limit: u64) -> (Bounded<R>, std::rc::Rc<std::cell::Cell<u64>>) {
        let mark = std::rc::Rc::new(std::cell::Cell::new(0));
        (Bounded { inner, read: 0, mark: mark.clone(), limit }, mark)
    }
}

/// What the csv reader may have read past a row's start beyond the row: its buffer (8 KiB), twice.
const READ_AHEAD: u64 = 16 << 10;

/// The error `Bounded` gives past its limit (found again by its message's start).
pub(super) const TOO_LONG: &str = "row longer than the limit";

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // The mark is where the current row starts; the csv reader reads ahead by its buffer.
        if self.read.saturating_sub(self.mark.get()) > self.limit + READ_AHEAD {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, TOO_LONG));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(src: &str) -> (Vec<String>, Vec<csv::StringRecord>) {
        let mut r = csv::ReaderBuilder::new().flexible(true).from_reader(src.as_bytes());
        let h = r.headers().unwrap().iter().map(str::to_string).collect();
        (h, r.records().map(Result::unwrap).collect())
    }

    #[test]
    fn the_text_column_is_named_or_guessed_and_figures_have_none() {
        let (h, rows) = table("Date,Headline,Body\n2025-02-03,Copper jumps,\"Copper rose 3% as Chilean output fell, traders said.\"\n");
        assert_eq!(columns(&h, &rows, &CsvColumns::default()).unwrap(), Columns { text: 2, title: Some(1), date: Some(0), url: None, id: None });
        let (h, rows) = table("when,what\n2025-02-03,Copper rose three percent as Chilean output fell for a fourth month\n2025-02-04,Aluminium slipped on rising Chinese smelter exports\n");
        assert_eq!(columns(&h, &rows, &CsvColumns::default()).unwrap().text, 1, "the column that reads as prose");
        let (h, rows) = table("date,metal,price\n2025-02-03,copper,9100\n");
        let err = columns(&h, &rows, &CsvColumns::default()).unwrap_err();
        assert!(err.contains("no column of text") && err.contains("\"price\"") && err.contains("--csv-text"), "{err}");
        let named = CsvColumns { text: Some("metal".into()), ..CsvColumns::default() };
        assert_eq!(columns(&h, &rows, &named).unwrap().text, 1);
        let wrong = CsvColumns { text: Some("body".into()), ..CsvColumns::default() };
        assert!(columns(&h, &rows, &wrong).unwrap_err().starts_with("no column \"body\" (--csv-text) and no column of text"));
    }

    #[test]
    fn a_row_longer_than_the_limit_stops_the_reader() {
        let long = format!("text\n\"{}\"\nshort\n", "x".repeat(200_000));
        let (reader, _mark) = Bounded::new(long.as_bytes(), 1000);
        let mut r = csv::Reader::from_reader(reader);
        let err = r.records().find_map(Result::err).expect("an error");
        assert!(err.to_string().contains(TOO_LONG), "{err}");
    }
}
