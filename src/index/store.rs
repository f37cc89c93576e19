//! Passage store: documents and passages in SQLite (one database file per index segment).
//!
//! Passage `row` is the passage's row in the segment's vector file and graph. A document's passages have
//! consecutive rows, so an unchanged document can carry its vectors into the next generation as one
//! contiguous range.

use crate::error::Error;
use crate::store::lexical::cjk_spaced;
use crate::store::Selection;
use anyhow::{Context, Result};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// A document as a segment stores it.
#[derive(Debug, Clone)]
pub struct DocRecord {
    /// Its id (the path, or `path#record` for a JSONL record).
    pub doc_id: String,
    /// Its path, relative to the folder holding the index.
    pub path: String,
    /// Its title.
    pub title: String,
    /// XXH3 of its content (unchanged content is never re-embedded).
    pub content_hash: String,
    /// Its first passage's row.
    pub first_row: u32,
    /// Its passages (consecutive rows).
    pub n_passages: u32,
    /// Publication date, ISO 8601 as the source gave it.
    pub date: Option<String>,
    /// Its source URL (from front matter, a JSONL field or a page's canonical link).
    pub url: Option<String>,
}

/// A passage as a segment stores it.
#[derive(Debug, Clone)]
pub struct PassageRecord {
    /// Its row (in the segment, or index-wide once read through `Index`).
    pub row: u32,
    /// Its id: stable while its document is unchanged.
    pub id: String,
    /// Its document's id.
    pub doc_id: String,
    /// Its place in its document (0-based).
    pub ordinal: u32,
    /// Its first source line (1-based).
    pub line_start: u32,
    /// Its last source line.
    pub line_end: u32,
    /// Where it starts in its document's text.
    pub byte_start: u64,
    /// Where it ends.
    pub byte_end: u64,
    /// Its word pieces.
    pub n_tokens: u32,
    /// Its text.
    pub text: String,
    /// The headings above the passage (`Title › Heading`), or a record's title; may be empty.
    pub section: String,
    /// Its answer candidates' sentence vectors (`index::SentenceVectors`), for a passage
    /// with more than one; `None` also for passages stored before these were (see `sentences`).
    pub sentences: Option<Vec<u8>>,
}

/// A passage with its document's fields, as search results need it.
#[derive(Debug, Clone)]
pub struct Passage {
    /// The passage.
    pub record: PassageRecord,
    /// Its document's path.
    pub path: String,
    /// Its document's title.
    pub title: String,
    /// Its document's date (ISO 8601).
    pub date: Option<String>,
    /// Its document's URL.
    pub url: Option<String>,
    /// The source it was pushed as, on a server's collection (`push --source`); none locally.
    pub source: Option<String>,
}

/// A segment's SQLite store: documents, passages, the lexical index and sentence vectors.
pub struct PassageStore {
    conn: Connection,
    path: std::path::PathBuf,
    /// Whether the store has the `sentences` table (one written before it existed is read as is,
    /// every passage without sentence vectors).
    has_sentences: bool,
    /// Whether titles are indexed once per document, in the `titles` table (format 5); before,
    /// every passage's lexical row held its document's title.
    has_titles: bool,
    /// (first row, passages) of each document with passages, in row order: a passage's document
    /// for the title's score, read when first needed.
    spans: std::cell::OnceCell<Vec<(u32, u32)>>,
    /// Whether some document has a title to match (a corpus without titles skips the lookups).
    any_title: std::cell::OnceCell<bool>,
    /// The last title lookup (its queries and scores): fusion asks again for the query the
    /// lexical side just ran.
    last_titles: std::cell::RefCell<Option<TitleLookup>>,
}

/// A title lookup: its FTS5 queries and each matching document's summed BM25 (by first row).
type TitleLookup = (Vec<String>, HashMap<u32, f64>);

/// How much a document's title weighs against a passage's own words in the lexical score. The
/// title is the document's, the passage the unit ranked: a title match says the document is about
/// the question, its passage's words which part answers it. Its BM25 has its own statistics, over
/// documents (a word in every title of a set weighs little, a name in one title much). Measured on
/// the shared sets against format 4 (title in every passage's row), paired randomization test:
/// at 0.5 lexical nDCG@10 rose (DBpedia +0.029, p 0.04; SQuAD +0.002) and hybrid moved by under
/// 0.002 either way (no p under 0.28); at 1.0 hybrid lost on DBpedia (−0.013, p 0.22) and on SQuAD
/// whole documents (−0.0024, p 0.01). README, "Lexical evidence".
pub const TITLE_WEIGHT: f64 = 0.5;

const SCHEMA: &str = "
CREATE TABLE documents(
    doc_id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    title TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    first_row INTEGER NOT NULL,
    n_passages INTEGER NOT NULL,
    date TEXT,
    url TEXT
);
CREATE INDEX documents_path ON documents(path);
CREATE TABLE passages(
    row INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id),
    ordinal INTEGER NOT NULL,
    line_start INTEGER NOT NULL,
    line_end INTEGER NOT NULL,
    byte_start INTEGER NOT NULL,
    byte_end INTEGER NOT NULL,
    n_tokens INTEGER NOT NULL,
    text TEXT NOT NULL,
    section TEXT NOT NULL
);
CREATE INDEX passages_doc ON passages(doc_id);
-- Added after format 4 without a format change: older stores lack it and are read without it;
-- older readers ignore it.
CREATE TABLE sentences(row INTEGER PRIMARY KEY, vectors BLOB NOT NULL);
-- Format 5: a passage's section and text; its document's title once, in `titles` (rowid = the
-- document's first row). Format 4's `lexical` had the title as a first column of every row.
CREATE VIRTUAL TABLE lexical USING fts5(section, text, content='', tokenize='porter unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE titles USING fts5(title, content='', tokenize='porter unicode61 remove_diacritics 2');
";

impl PassageStore {
    /// A new, empty store at `path` (which must not exist). Durability comes from the generation
    /// commit (fsync, then the manifest swap), so SQLite's own journal is not needed while building.
    pub fn create(path: &Path) -> Result<PassageStore> {
        let conn = Connection::open(path).with_context(|| format!("cannot create {}", path.display()))?;
        let create = |sql: &str| conn.execute_batch(sql).with_context(|| format!("cannot create {}", path.display()));
        create("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")?;
        create(SCHEMA)?;
        // One transaction for the whole segment: a segment is committed by the manifest, never
        // piecemeal, and SQLite spills pages to the file as its cache fills, so memory stays flat.
        create("BEGIN")?;
        Ok(PassageStore {
            conn,
            path: path.to_path_buf(),
            has_sentences: true,
            has_titles: true,
            spans: Default::default(),
            any_title: Default::default(),
            last_titles: Default::default(),
        })
    }

    /// Opens a committed segment's store read-only.
    pub fn open(path: &Path) -> Result<PassageStore> {
        let conn = match Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX) {
            Ok(c) => c,
            Err(e) => {
                // SQLite says only "unable to open database file"; opening it ourselves names the
                // OS's reason (too many open files, permissions), which decides what happens next.
                let why = match std::fs::File::open(path) {
                    Err(io) => anyhow::Error::new(io),
                    Ok(_) => anyhow::Error::new(e),
                };
                return Err(why.context(format!("cannot open {}", path.display())));
            }
        };
        // A committed generation is never modified: tell SQLite so it takes no locks.
        conn.execute_batch("PRAGMA query_only=ON;")?;
        // A file that is not a database fails here or in `check`, with the damaged-index message.
        let has_table = |name: &str| {
            conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", [name], |r| r.get::<_, i64>(0))
                .map(|n| n > 0)
                .unwrap_or(false)
        };
        let (has_sentences, has_titles) = (has_table("sentences"), has_table("titles"));
        Ok(PassageStore {
            conn,
            path: path.to_path_buf(),
            has_sentences,
            has_titles,
            spans: Default::default(),
            any_title: Default::default(),
            last_titles: Default::default(),
        })
    }

    /// A cheap consistency check against the manifest's counts: reads the schema, the whole
    /// documents table and the last passage row, so a file that is not a database, is truncated in
    /// the documents table or disagrees with the manifest is caught on open.
    pub fn check(&self, documents: usize, passages: usize) -> Result<()> {
        let counted: rusqlite::Result<(i64, i64, i64)> = self.conn.query_row(
            "SELECT (SELECT count(*) FROM documents), (SELECT coalesce(sum(n_passages), 0) FROM documents),
                    (SELECT coalesce(max(row) + 1, 0) FROM passages)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        );
        let (d, n, rows) = self.damaged(counted)?;
        if d as usize != documents || n as usize != passages || rows as usize != passages {
            return Err(Error::damaged(&self.path, format!("holds {d} documents and {rows} passages, the manifest says {documents} and {passages}")));
        }
        Ok(())
    }

    /// Errors reading a committed store: a file that is not a database or is corrupt was damaged
    /// after it was written; anything else (I/O, locks, memory) may pass and is reported as is.
    fn damaged<T>(&self, r: rusqlite::Result<T>) -> Result<T> {
        r.map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => Error::damaged(&self.path, &e),
            _ => anyhow::Error::new(e).context(format!("cannot read {}", self.path.display())),
        })
    }

    /// Write one document with its passages (rows already assigned), inside the transaction that
    /// `create` opened and `finish` commits.
    pub fn insert(&mut self, doc: &DocRecord, passages: &[PassageRecord]) -> Result<()> {
        let mut d = self
            .conn
            .prepare_cached("INSERT INTO documents(doc_id, path, title, content_hash, first_row, n_passages, date, url) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)")?;
        d.execute(params![doc.doc_id, doc.path, doc.title, doc.content_hash, doc.first_row, doc.n_passages, doc.date, doc.url])
            .with_context(|| format!("{}: cannot store document {}", self.path.display(), doc.doc_id))?;
        let mut p = self.conn.prepare_cached(
            "INSERT INTO passages(row, id, doc_id, ordinal, line_start, line_end, byte_start, byte_end, n_tokens, text, section)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
        )?;
        // The lexical index: contentless (the words are indexed, the text itself is only stored
        // once, in `passages`), rowid = passage row, so tombstones apply to it as to vectors.
        let mut lex = self.conn.prepare_cached("INSERT INTO lexical(rowid, section, text) VALUES (?1,?2,?3)")?;
        if doc.n_passages > 0 {
            // CJK characters are tokens of their own (see `store::lexical::cjk_spaced`).
            let mut title = self.conn.prepare_cached("INSERT INTO titles(rowid, title) VALUES (?1,?2)")?;
            title
                .execute(params![doc.first_row, cjk_spaced(&doc.title)])
                .with_context(|| format!("{}: cannot store document {}", self.path.display(), doc.doc_id))?;
        }
        let mut sent = self.conn.prepare_cached("INSERT INTO sentences(row, vectors) VALUES (?1,?2)")?;
        for r in passages {
            p.execute(params![
                r.row,
                r.id,
                r.doc_id,
                r.ordinal,
                r.line_start,
                r.line_end,
                r.byte_start as i64,
                r.byte_end as i64,
                r.n_tokens,
                r.text,
                r.section
            ])
            .with_context(|| format!("{}: cannot store passage {}", self.path.display(), r.id))?;
            lex.execute(params![r.row, cjk_spaced(section_below_title(&r.section, &doc.title)), cjk_spaced(&r.text)])
                .with_context(|| format!("{}: cannot store passage {}", self.path.display(), r.id))?;
            if let Some(v) = &r.sentences {
                sent.execute(params![r.row, v]).with_context(|| format!("{}: cannot store passage {}", self.path.display(), r.id))?;
            }
        }
        Ok(())
    }

    /// Renames document `doc_id` (and its passages' ids) out of the way, for a later document of
    /// the same run with the same id: its rows stay (rows are never renumbered), tombstoned by the
    /// writer, and the names are free for the document that supersedes it.
    pub fn retire(&mut self, doc_id: &str, first_row: u32) -> Result<()> {
        let hidden = format!("{doc_id} (superseded at row {first_row})");
        // Passages reference their document: the new name exists before they move to it.
        self.conn.execute(
            "INSERT INTO documents(doc_id, path, title, content_hash, first_row, n_passages, date, url)
             SELECT ?2, path, title, content_hash, first_row, n_passages, date, url FROM documents WHERE doc_id = ?1",
            params![doc_id, hidden],
        )?;
        self.conn.execute("UPDATE passages SET doc_id = ?2, id = id || ?3 WHERE doc_id = ?1", params![doc_id, hidden, format!("@{first_row}")])?;
        self.conn.execute("DELETE FROM documents WHERE doc_id = ?1", params![doc_id])?;
        Ok(())
    }

    /// Commit and close; the file is then complete on disk (not yet fsynced).
    pub fn finish(self) -> Result<()> {
        self.conn.execute_batch("COMMIT").with_context(|| format!("cannot write {}", self.path.display()))?;
        self.conn.close().map_err(|(_, e)| e)?;
        Ok(())
    }

    /// Its documents, in row order.
    pub fn documents(&self) -> Result<Vec<DocRecord>> {
        let mut st = self.conn.prepare(&format!("{SELECT_DOCUMENT} ORDER BY first_row"))?;
        let rows = self.damaged(st.query_map([], doc_from_row))?;
        self.damaged(rows.collect::<rusqlite::Result<Vec<_>>>())
    }

    /// Whether the store has the lexical index (segments written before format 4 have not).
    pub fn has_lexical(&self) -> Result<bool> {
        self.damaged(self.conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'lexical'", [], |r| r.get::<_, i64>(0))).map(|n| n > 0)
    }

    /// Rows matching the FTS5 query `fts`, best first with their lexical score (higher is better:
    /// the BM25 of the passage's section and text plus `TITLE_WEIGHT` × that of its document's
    /// title; in a store of format 4 and before, SQLite's BM25 of the row, title included),
    /// keeping those `accept` takes, at most `k`. Rows are read in the order of
    /// their own BM25 and reading stops once no later row can reach the best `k` even with the
    /// best title's score added (with no title matching, after `k` rows), so rejected (tombstoned,
    /// filtered) rows cost one step each and the rest are never read. A document whose title
    /// alone matches enters as its first passage; had it a passage past the stop, that passage's
    /// own BM25 plus the title would be under the `k`-th best, and so is the title alone.
    pub fn lexical(&self, fts: &str, k: usize, accept: &dyn Fn(u32) -> bool) -> Result<Vec<(u32, f32)>> {
        let titles = self.title_scores(&[fts])?;
        let best_title = TITLE_WEIGHT * titles.values().copied().fold(0.0, f64::max);
        let spans = if titles.is_empty() { &[][..] } else { self.spans()? };
        let mut st = self.damaged(self.conn.prepare_cached("SELECT rowid, bm25(lexical) FROM lexical WHERE lexical MATCH ?1 ORDER BY bm25(lexical)"))?;
        let mut rows = self.damaged(st.query([fts]))?;
        let mut out: Vec<(u32, f64)> = Vec::new();
        // The best k scores so far, as a min-heap of their bits: scores are never negative, and
        // non-negative floats order as their bit patterns do.
        let mut top: std::collections::BinaryHeap<std::cmp::Reverse<u64>> = std::collections::BinaryHeap::new();
        let mut seen: HashSet<u32> = HashSet::new();
        let mut keep = |out: &mut Vec<(u32, f64)>, row: u32, score: f64| {
            out.push((row, score));
            top.push(std::cmp::Reverse(score.max(0.0).to_bits()));
            if top.len() > k {
                top.pop();
            }
            (top.len() >= k).then(|| f64::from_bits(top.peek().map_or(0, |r| r.0)))
        };
        let mut kth: Option<f64> = None;
        while let Some(r) = self.damaged(rows.next())? {
            let row: u32 = self.damaged(r.get(0))?;
            // SQLite's bm25() is negative, lower is better.
            let text = -self.damaged(r.get::<_, f64>(1))?;
            if kth.is_some_and(|kth| text + best_title < kth) {
                break;
            }
            let first = document_start(spans, row).map(|&(f, _)| f);
            seen.extend(first);
            if accept(row) {
                let title = first.and_then(|f| titles.get(&f)).copied().unwrap_or(0.0);
                kth = keep(&mut out, row, text + TITLE_WEIGHT * title).or(kth);
            }
        }
        for (&first, &t) in &titles {
            if !seen.contains(&first) && accept(first) {
                out.push((first, TITLE_WEIGHT * t));
            }
        }
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out.truncate(k);
        Ok(out.into_iter().map(|(r, s)| (r, s as f32)).collect())
    }

    /// `text` scores with their documents' title scores for the queries `fts` (summed) added, and
    /// the first passage of each document whose title alone matches.
    fn with_titles(&self, text: Vec<(u32, f64)>, fts: &[&str]) -> Result<Vec<(u32, f32)>> {
        let titles = self.title_scores(fts)?;
        if titles.is_empty() {
            return Ok(text.into_iter().map(|(r, s)| (r, s as f32)).collect());
        }
        let spans = self.spans()?;
        let mut seen: HashSet<u32> = HashSet::new();
        let mut out: Vec<(u32, f32)> = Vec::with_capacity(text.len());
        for (row, s) in text {
            let first = document_start(spans, row).map(|(f, _)| f);
            let t = first.and_then(|f| titles.get(f)).copied().unwrap_or(0.0);
            seen.extend(first);
            out.push((row, (s + TITLE_WEIGHT * t) as f32));
        }
        for (first, t) in titles {
            if !seen.contains(&first) {
                out.push((first, (TITLE_WEIGHT * t) as f32));
            }
        }
        Ok(out)
    }

    /// BM25 of the documents' titles (keyed by first row) for each query of `fts`, summed.
    fn title_scores(&self, fts: &[&str]) -> Result<HashMap<u32, f64>> {
        let mut out: HashMap<u32, f64> = HashMap::new();
        if !self.has_titles {
            return Ok(out);
        }
        if self.any_title.get().is_none() {
            let n: i64 = self.damaged(self.conn.query_row("SELECT count(*) FROM (SELECT 1 FROM titles LIMIT 1)", [], |r| r.get(0)))?;
            let _ = self.any_title.set(n > 0);
        }
        if self.any_title.get() == Some(&false) {
            return Ok(out);
        }
        if let Some((queries, scores)) = &*self.last_titles.borrow() {
            if queries.iter().map(String::as_str).eq(fts.iter().copied()) {
                return Ok(scores.clone());
            }
        }
        let mut st = self.damaged(self.conn.prepare_cached("SELECT rowid, bm25(titles) FROM titles WHERE titles MATCH ?1"))?;
        for q in fts {
            let rows = self.damaged(st.query_map([q], |r| Ok((r.get::<_, u32>(0)?, -r.get::<_, f64>(1)?))))?;
            for r in rows {
                let (first, s) = self.damaged(r)?;
                *out.entry(first).or_default() += s;
            }
        }
        *self.last_titles.borrow_mut() = Some((fts.iter().map(|q| q.to_string()).collect(), out.clone()));
        Ok(out)
    }

    /// (first row, passages) of each document with passages, in row order.
    fn spans(&self) -> Result<&[(u32, u32)]> {
        if let Some(s) = self.spans.get() {
            return Ok(s);
        }
        let mut st = self.conn.prepare("SELECT first_row, n_passages FROM documents WHERE n_passages > 0 ORDER BY first_row")?;
        let rows = self.damaged(st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))))?;
        let spans = self.damaged(rows.collect::<rusqlite::Result<Vec<_>>>())?;
        Ok(self.spans.get_or_init(|| spans))
    }

    /// The rows holding the FTS5 query `fts` (a required phrase): the passages whose section or
    /// text holds it, and every passage of a document whose title does.
    pub fn holding(&self, fts: &str) -> Result<Vec<u32>> {
        let mut st = self.damaged(self.conn.prepare_cached("SELECT rowid FROM lexical WHERE lexical MATCH ?1"))?;
        let rows = self.damaged(st.query_map([fts], |r| r.get::<_, u32>(0)))?;
        let mut out = self.damaged(rows.collect::<rusqlite::Result<Vec<u32>>>())?;
        if self.has_titles {
            let spans = self.spans()?;
            for first in self.title_scores(&[fts])?.into_keys() {
                if let Some(&(f, n)) = document_start(spans, first) {
                    out.extend(f..f + n);
                }
            }
            out.sort_unstable();
            out.dedup();
        }
        Ok(out)
    }

    /// Every row of `split`'s rare words with the whole query's lexical score (see `Selection`),
    /// unordered: those holding a common word too, then those holding none, each row scored once.
    /// A title counts where it holds a rare word.
    pub fn lexical_selected(&self, split: &Selection) -> Result<Vec<(u32, f32)>> {
        let mut st = self.damaged(self.conn.prepare_cached("SELECT rowid, bm25(lexical) FROM lexical WHERE lexical MATCH ?1"))?;
        let mut text = Vec::new();
        let queries: Vec<String> =
            ["AND", "NOT"].iter().map(|op| format!("({}) {op} ({})", super::fts::any_of(&split.rare), super::fts::any_of(&split.common))).collect();
        for fts in &queries {
            let rows = self.damaged(st.query_map([fts], |r| Ok((r.get::<_, u32>(0)?, -r.get::<_, f64>(1)?))))?;
            text.extend(self.damaged(rows.collect::<rusqlite::Result<Vec<_>>>())?);
        }
        let queries: Vec<&str> = queries.iter().map(String::as_str).collect();
        self.with_titles(text, &queries)
    }

    /// How many rows match the FTS5 query `fts` (walking its postings: well under a millisecond per
    /// 10,000, against about ten to score them).
    pub fn lexical_count(&self, fts: &str) -> Result<u64> {
        let mut st = self.damaged(self.conn.prepare_cached("SELECT count(*) FROM lexical WHERE lexical MATCH ?1"))?;
        self.damaged(st.query_row([fts], |r| r.get(0)))
    }

    /// Lexical scores (as `lexical` gives them) for `fts` of the rows in `rows` that match it.
    pub fn lexical_of(&self, fts: &str, rows: &[u32]) -> Result<Vec<(u32, f32)>> {
        // Not `MATCH ?1 AND rowid IN (…)`: FTS5 looks each listed row up by walking the terms'
        // postings again (~1 ms a row for common words at 200,000 passages); one walk over the
        // matches, scoring only the listed rows, costs what one lookup did.
        let list = serde_json::to_string(rows)?;
        let mut st = self.damaged(self.conn.prepare_cached(
            "SELECT rowid, s FROM (SELECT rowid, CASE WHEN rowid IN (SELECT value FROM json_each(?2)) THEN bm25(lexical) END AS s
                                   FROM lexical WHERE lexical MATCH ?1)
             WHERE s IS NOT NULL",
        ))?;
        let found = self.damaged(st.query_map(params![fts, list], |r| Ok((r.get::<_, u32>(0)?, -r.get::<_, f64>(1)?))))?;
        let text = self.damaged(found.collect::<rusqlite::Result<Vec<_>>>())?;
        if !self.has_titles {
            return Ok(text.into_iter().map(|(r, s)| (r, s as f32)).collect());
        }
        // A listed row whose text does not match still has its document's title.
        let titles = self.title_scores(&[fts])?;
        let spans = self.spans()?;
        let text: HashMap<u32, f64> = text.into_iter().collect();
        Ok(rows
            .iter()
            .filter_map(|&r| {
                let t = document_start(spans, r).and_then(|(f, _)| titles.get(f)).copied();
                match (text.get(&r), t) {
                    (None, None) => None,
                    (s, t) => Some((r, (s.copied().unwrap_or(0.0) + TITLE_WEIGHT * t.unwrap_or(0.0)) as f32)),
                }
            })
            .collect())
    }

    /// The first row of the document that holds passage `row`.
    pub fn first_row_of(&self, row: u32) -> Result<Option<u32>> {
        let mut st = self.damaged(self.conn.prepare_cached("SELECT d.first_row FROM passages p JOIN documents d ON d.doc_id = p.doc_id WHERE p.row = ?1"))?;
        self.damaged(st.query_row([row], |r| r.get(0)).optional())
    }

    /// The id of the document holding passage `row`.
    pub fn doc_id_of(&self, row: u32) -> Result<Option<String>> {
        let mut st = self.damaged(self.conn.prepare_cached("SELECT doc_id FROM passages WHERE row = ?1"))?;
        self.damaged(st.query_row([row], |r| r.get(0)).optional())
    }

    /// (first row, passages) of the documents that have a date.
    pub fn dated_documents(&self) -> Result<Vec<(u32, u32)>> {
        let mut st = self.conn.prepare("SELECT first_row, n_passages FROM documents WHERE date IS NOT NULL")?;
        let rows = self.damaged(st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))))?;
        self.damaged(rows.collect::<rusqlite::Result<Vec<_>>>())
    }

    /// The document `doc_id`.
    pub fn document(&self, doc_id: &str) -> Result<Option<DocRecord>> {
        let found = self.conn.query_row(&format!("{SELECT_DOCUMENT} WHERE doc_id = ?1"), [doc_id], doc_from_row).optional();
        self.damaged(found)
    }

    /// A document's passages, in order.
    pub fn passages_of(&self, doc_id: &str) -> Result<Vec<PassageRecord>> {
        let mut st = self.conn.prepare(&format!("{} WHERE p.doc_id = ?1 ORDER BY p.row", select_passage(self.has_sentences)))?;
        let rows = self.damaged(st.query_map([doc_id], |r| Ok(passage_from_row(r)?.record)))?;
        self.damaged(rows.collect::<rusqlite::Result<Vec<_>>>())
    }

    /// The passage at `row`.
    pub fn passage(&self, row: u32) -> Result<Option<Passage>> {
        let mut st = self.damaged(self.conn.prepare_cached(&format!("{} WHERE p.row = ?1", select_passage(self.has_sentences))))?;
        self.damaged(st.query_row([row], passage_from_row).optional())
    }

    /// The sentence vectors of rows `first..first + n`, one entry per row (`None` where a row has
    /// none): what a reused document carries into the next generation beside its vectors.
    pub fn sentences(&self, first: u32, n: u32) -> Result<Vec<Option<Vec<u8>>>> {
        let mut out = vec![None; n as usize];
        if !self.has_sentences {
            return Ok(out);
        }
        let mut st = self.conn.prepare_cached("SELECT row, vectors FROM sentences WHERE row >= ?1 AND row < ?2")?;
        let rows = self.damaged(st.query_map(params![first, first + n], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, Vec<u8>>(1)?))))?;
        for r in rows {
            let (row, v) = self.damaged(r)?;
            out[(row - first) as usize] = Some(v);
        }
        Ok(out)
    }

    /// The row of passage `id`.
    pub fn row_of_id(&self, id: &str) -> Result<Option<u32>> {
        self.damaged(self.conn.query_row("SELECT row FROM passages WHERE id = ?1", [id], |r| r.get(0)).optional())
    }

    /// The passages of document `path` whose line ranges hold `line`, in row order (passages can
    /// overlap, and a tombstoned copy of the document may sit beside a live one).
    pub fn rows_at_line(&self, path: &str, line: u32) -> Result<Vec<u32>> {
        let mut st = self.conn.prepare_cached(
            "SELECT p.row FROM passages p JOIN documents d ON d.doc_id = p.doc_id
             WHERE d.path = ?1 AND p.line_start <= ?2 AND p.line_end >= ?2 ORDER BY p.row",
        )?;
        let rows = self.damaged(st.query_map(params![path, line], |r| r.get(0)))?;
        self.damaged(rows.collect::<rusqlite::Result<Vec<u32>>>())
    }
}

/// The span (first row, passages) of the document holding `row`.
fn document_start(spans: &[(u32, u32)], row: u32) -> Option<&(u32, u32)> {
    let i = spans.partition_point(|&(f, _)| f <= row);
    spans[..i].last().filter(|&&(f, n)| row < f + n)
}

/// Separator of a section path's parts.
pub const SECTION_SEPARATOR: &str = " › ";

/// What a passage's section adds to its document's title (the title is indexed in its own column).
fn section_below_title<'a>(section: &'a str, title: &str) -> &'a str {
    if section == title {
        return "";
    }
    section.strip_prefix(title).and_then(|rest| rest.strip_prefix(SECTION_SEPARATOR)).unwrap_or(section)
}

const SELECT_DOCUMENT: &str = "SELECT doc_id, path, title, content_hash, first_row, n_passages, date, url FROM documents";

fn select_passage(with_sentences: bool) -> String {
    let (column, join) = if with_sentences { ("s.vectors", "LEFT JOIN sentences s ON s.row = p.row") } else { ("NULL", "") };
    format!(
        "SELECT p.row, p.id, p.doc_id, p.ordinal, p.line_start, p.line_end, p.byte_start, p.byte_end, p.n_tokens, p.text,
         p.section, d.path, d.title, d.date, d.url, {column} FROM passages p JOIN documents d ON d.doc_id = p.doc_id {join}"
    )
}

fn doc_from_row(r: &rusqlite::Row) -> rusqlite::Result<DocRecord> {
    Ok(DocRecord {
        doc_id: r.get(0)?,
        path: r.get(1)?,
        title: r.get(2)?,
        content_hash: r.get(3)?,
        first_row: r.get(4)?,
        n_passages: r.get(5)?,
        date: r.get(6)?,
        url: r.get(7)?,
    })
}

fn passage_from_row(r: &rusqlite::Row) -> rusqlite::Result<Passage> {
    Ok(Passage {
        record: PassageRecord {
            row: r.get(0)?,
            id: r.get(1)?,
            doc_id: r.get(2)?,
            ordinal: r.get(3)?,
            line_start: r.get(4)?,
            line_end: r.get(5)?,
            byte_start: r.get::<_, i64>(6)? as u64,
            byte_end: r.get::<_, i64>(7)? as u64,
            n_tokens: r.get(8)?,
            text: r.get(9)?,
            section: r.get(10)?,
            sentences: r.get(15)?,
        },
        path: r.get(11)?,
        title: r.get(12)?,
        date: r.get(13)?,
        url: r.get(14)?,
        source: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(row: u32, doc: &str, lines: (u32, u32)) -> PassageRecord {
        PassageRecord {
            row,
            id: format!("p{row}"),
            doc_id: doc.into(),
            ordinal: row,
            line_start: lines.0,
            line_end: lines.1,
            byte_start: 0,
            byte_end: 1,
            n_tokens: 3,
            text: format!("text {row}"),
            section: String::new(),
            sentences: None,
        }
    }

    #[test]
    fn round_trip_and_lookups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.sqlite");
        let mut s = PassageStore::create(&path).unwrap();
        let doc = DocRecord {
            doc_id: "a.txt".into(),
            path: "a.txt".into(),
            title: "A".into(),
            content_hash: "h".into(),
            first_row: 0,
            n_passages: 2,
            date: Some("2025-03-06".into()),
            url: None,
        };
        s.insert(&doc, &[rec(0, "a.txt", (1, 3)), rec(1, "a.txt", (3, 9))]).unwrap();
        s.finish().unwrap();
        let s = PassageStore::open(&path).unwrap();
        assert_eq!(s.documents().unwrap().len(), 1);
        let p = s.passage(1).unwrap().unwrap();
        assert_eq!(p.record.text, "text 1");
        assert_eq!(p.title, "A");
        assert_eq!(p.date.as_deref(), Some("2025-03-06"));
        assert_eq!(s.row_of_id("p1").unwrap(), Some(1));
        assert_eq!(s.row_of_id("nope").unwrap(), None);
        assert_eq!(s.rows_at_line("a.txt", 3).unwrap(), vec![0, 1]);
        assert_eq!(s.rows_at_line("a.txt", 5).unwrap(), vec![1]);
        assert!(s.rows_at_line("a.txt", 10).unwrap().is_empty());
        assert!(s.passage(7).unwrap().is_none());
        assert_eq!(s.passages_of("a.txt").unwrap().len(), 2);
        assert!(s.has_lexical().unwrap());
        let all = |_: u32| true;
        // Porter stemming: "texts" finds "text"; a title is matched too.
        assert_eq!(s.lexical("texts", 10, &all).unwrap().len(), 2);
        assert_eq!(s.lexical("\"text 1\"", 10, &all).unwrap().iter().map(|h| h.0).collect::<Vec<_>>(), vec![1]);
        assert_eq!(s.lexical("a", 10, &|r| r == 0).unwrap().iter().map(|h| h.0).collect::<Vec<_>>(), vec![0]);
        assert!(s.lexical("nothing", 10, &all).unwrap().is_empty());
        // Scored within a selection, or picked by row: the same BM25 as the whole query gives.
        let whole = s.lexical("\"text\" OR \"1\"", 10, &all).unwrap();
        assert_eq!(whole.len(), 2);
        let split = crate::store::Selection { rare: vec!["1".into()], common: vec!["text".into()] };
        assert_eq!(s.lexical_selected(&split).unwrap(), whole.iter().filter(|h| h.0 == 1).copied().collect::<Vec<_>>());
        let split = crate::store::Selection { rare: vec!["text".into()], common: vec!["1".into()] };
        let mut selected = s.lexical_selected(&split).unwrap();
        selected.sort_by_key(|h| h.0);
        let mut picked = s.lexical_of("\"text\" OR \"1\"", &[0, 1, 5]).unwrap();
        picked.sort_by_key(|h| h.0);
        let mut whole_by_row = whole.clone();
        whole_by_row.sort_by_key(|h| h.0);
        assert_eq!(picked, whole_by_row);
        assert_eq!(selected, whole_by_row);
        assert_eq!(s.lexical_count("\"text\"").unwrap(), 2);
    }

    /// A title is a field of its document, counted once: its words give no passage an edge over
    /// its siblings (a one-line passage used to win on them by its shortness), a document found by
    /// its title alone is its first passage, and a phrase in the title holds for every passage.
    #[test]
    fn a_title_counts_once_per_document() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.sqlite");
        let mut s = PassageStore::create(&path).unwrap();
        let doc = |id: &str, title: &str, first_row, n_passages| DocRecord {
            doc_id: id.into(),
            path: id.into(),
            title: title.into(),
            content_hash: "h".into(),
            first_row,
            n_passages,
            date: None,
            url: None,
        };
        let with_text = |mut r: PassageRecord, text: &str| {
            r.text = text.into();
            r
        };
        let long = "The survey counted forty kestrel nests along the ridge this spring, up from thirty-one, and the wardens credit the new hedgerows.";
        s.insert(
            &doc("k.md", "Kestrel survey of the ridge", 0, 3),
            &[
                with_text(rec(0, "k.md", (1, 1)), "Wardens walked at dawn."),
                with_text(rec(1, "k.md", (2, 2)), long),
                with_text(rec(2, "k.md", (3, 3)), "Photos below."),
            ],
        )
        .unwrap();
        s.insert(&doc("o.md", "Otters", 3, 1), &[with_text(rec(3, "o.md", (1, 1)), "Otters returned to the weir.")]).unwrap();
        s.insert(&doc("empty.md", "Kestrel", 4, 0), &[]).unwrap();
        s.finish().unwrap();
        let s = PassageStore::open(&path).unwrap();
        let all = |_: u32| true;
        let rows = |q: &str| s.lexical(q, 10, &all).unwrap().iter().map(|h| h.0).collect::<Vec<_>>();
        // Title words alone: the document once, as its first passage, whatever its passages' lengths.
        assert_eq!(rows("\"survey\""), vec![1], "the passage holding the word itself, with its title's score");
        assert_eq!(rows("\"wardens\" OR \"kestrel\""), vec![1, 0], "both hold wardens, the title adds the same to each");
        assert_eq!(rows("\"ridge\""), vec![1], "in the title and one passage: that passage");
        let mut r = rows("\"kestrel\" OR \"photos\"");
        r.sort();
        assert_eq!(r, [1, 2], "the one-line passage for its own word, not for the title's");
        assert_eq!(rows("\"kestrel\" OR \"otters\""), vec![3, 1]);
        // Scores agree whichever way they are asked for.
        let whole = s.lexical("\"kestrel\" OR \"photos\"", 10, &all).unwrap();
        let mut picked = s.lexical_of("\"kestrel\" OR \"photos\"", &[0, 1, 2]).unwrap();
        picked.sort_by(|a, b| b.1.total_cmp(&a.1));
        assert_eq!(picked[0], whole[0]);
        assert_eq!(picked.len(), 3, "a listed passage that lacks the words still has its document's title");
        // A phrase of the title holds for every passage of its document.
        assert_eq!(s.holding("\"kestrel survey\"").unwrap(), vec![0, 1, 2]);
        assert_eq!(s.holding("\"weir\"").unwrap(), vec![3]);
        // CJK text is matched by its characters.
        drop(s);
        let path = dir.path().join("cjk.sqlite");
        let mut s = PassageStore::create(&path).unwrap();
        s.insert(&doc("c.md", "央行", 0, 1), &[with_text(rec(0, "c.md", (1, 1)), "中国人民银行下调存款准备金率0.5个百分点。")]).unwrap();
        s.finish().unwrap();
        let s = PassageStore::open(&path).unwrap();
        let q = crate::store::lexical::plain("存款准备金");
        let (any, _) = crate::index::fts::render(&q);
        assert_eq!(s.lexical(&any.unwrap(), 10, &all).unwrap().len(), 1);
        assert!(s.lexical(&crate::index::fts::render(&crate::store::lexical::plain("准备好")).0.unwrap(), 10, &all).unwrap().len() == 1, "准备 is in it");
        assert!(s.lexical(&crate::index::fts::render(&crate::store::lexical::plain("存钱")).0.unwrap(), 10, &all).unwrap().is_empty());
    }

    #[test]
    fn the_title_is_not_indexed_twice() {
        assert_eq!(section_below_title("T › Costs › Fees", "T"), "Costs › Fees");
        assert_eq!(section_below_title("T", "T"), "");
        assert_eq!(section_below_title("Other › X", "T"), "Other › X");
    }
}
