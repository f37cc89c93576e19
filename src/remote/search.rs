//! Searching a collection on the server: the question embedded here, the nearest passages found by
//! the server (pgvector's HNSW index, or an exact scan) and its best BM25 matches, as a
//! `store::Store`; `search` ranks, shapes and answers them as it does the local index's.

use super::{check_meta, conn, read_meta_snapshot, CollectionMeta, Tables};
use crate::ann::{dot, Hit};
use crate::error::Error;
use crate::index::{DocRecord, Passage, PassageRecord};
use crate::status::{CollectionModel, CollectionStatus, FileEntry};
use crate::store::{Candidates, Except, Filter, InContext, LexicalQuery, Origin, Retrieval, Scope, Selection, Store, Target, Walk};
use anyhow::Result;
use pgvector::Vector;
use postgres::types::ToSql;
use postgres::Client;
use std::cell::RefCell;
use std::collections::HashMap;

/// How long one statement of a search may run on the server.
pub const STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// A collection on a server, connected.
pub struct Remote {
    client: RefCell<Client>,
    collection: String,
    tables: Tables,
    /// What the collection says about itself.
    pub meta: CollectionMeta,
    /// The server's URL, without its password.
    pub url: String,
}

/// A statement and its parameters, numbered as they are bound (`$1`, `$2`, … in the order the
/// text asks for them), so optional conditions can be added without renumbering by hand.
#[derive(Default)]
struct Sql {
    params: Vec<Box<dyn ToSql + Sync>>,
}

impl Sql {
    /// The placeholder of `value`.
    fn bind(&mut self, value: impl ToSql + Sync + 'static) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
    }

    /// A search's scope as a condition on a passages table: its filters, and the passage or
    /// document left out; and with a required phrase (`to_tsquery` text), only the passages
    /// holding it in their text or their document's title.
    fn scope(&mut self, search: &RemoteSearch, required: Option<&str>) -> String {
        let mut conds = vec![self.documents_scope(search)];
        if let Some(Except::Passage(p)) = &search.except {
            conds.push(format!("id <> {}", self.bind(p.clone())));
        }
        if let Some(r) = required {
            let r = self.bind(r.to_string());
            conds.push(format!(
                "(lexical @@ to_tsquery('english', {r}) OR (doc_id, source) IN (SELECT doc_id, source FROM {} WHERE title_lexical @@ to_tsquery('english', {r})))",
                search.remote.tables.documents
            ));
        }
        conds.join(" AND ")
    }

    /// The scope's condition on documents (`doc_id`, `source`): the filters and the document left
    /// out (by its `doc_id`: the same path in another source is the same document).
    fn documents_scope(&mut self, search: &RemoteSearch) -> String {
        let mut conds = vec!["TRUE".to_string()];
        if let Some((ids, sources)) = &search.allowed {
            let (ids, sources) = (self.bind(ids.clone()), self.bind(sources.clone()));
            conds.push(format!("(doc_id, source) IN (SELECT * FROM unnest({ids}::text[], {sources}::text[]))"));
        }
        if let Some(Except::Document(d)) = &search.except {
            conds.push(format!("doc_id <> {}", self.bind(d.clone())));
        }
        conds.join(" AND ")
    }
}

/// A question's words as the server's full-text search takes them: the `to_tsquery` text of any
/// of the words and that of the required phrases, applied apart (a phrase in a title holds for
/// every passage of its document).
/// `LexicalQuery` holds only runs of letters and digits, so nothing in it is tsquery syntax; a
/// figure's text goes only to `to_tsvector` and `phraseto_tsquery`, which read it as text.
struct TsQuery {
    any: Option<String>,
    required: Option<String>,
    /// Every word and figure, for BM25's query terms (`to_tsvector` stems and lexes them as the
    /// passages were: `3.75` is one token there).
    words: String,
}

/// `to_tsquery` syntax. The collection indexes CJK characters one by one, so a word of them (a
/// question's pair, or a run in a phrase) is the phrase of its characters.
const TSQUERY: crate::store::lexical::Syntax = crate::store::lexical::Syntax {
    phrase: |p| format!("({})", p.iter().map(|w| ts_word(w)).collect::<Vec<_>>().join(" <-> ")),
    word: |w| match w.chars().any(crate::store::lexical::is_cjk) {
        true => format!("({})", ts_word(w)),
        false => w.to_string(),
    },
    and: " & ",
    or: " | ",
};

/// A word in `to_tsquery` text: itself, or its characters in sequence where it has CJK ones.
fn ts_word(w: &str) -> String {
    match w.chars().any(crate::store::lexical::is_cjk) {
        true => crate::store::lexical::cjk_spaced(w).split_whitespace().collect::<Vec<_>>().join(" <-> "),
        false => w.to_string(),
    }
}

impl TsQuery {
    /// `q` with its figures as the server lexed them (`figures`, `to_tsquery` text; one that
    /// lexed to nothing is left out): its parser reads `3.75` as one token where FTS5 reads two.
    fn of(q: &LexicalQuery, figures: &[String]) -> TsQuery {
        let figures: Vec<String> = figures.iter().filter(|f| !f.is_empty()).map(|f| format!("({f})")).collect();
        let (any, required) = q.render_parts_with(&TSQUERY, &figures);
        let words = q.required.iter().flatten().chain(q.figures.iter().map(|f| &f.text)).chain(&q.words).cloned().collect::<Vec<_>>().join(" ");
        TsQuery { any, required, words: crate::store::lexical::cjk_spaced(&words).into_owned() }
    }
}

/// BM25 as SQLite's FTS5 computes it (k1 = 1.2, b = 0.75, idf = ln((N − df + 0.5) / (df + 0.5)),
/// at least 1e-6), over the server's stemmed lexemes: PostgreSQL ranks full text by `ts_rank`,
/// which has no inverse document frequency, so a common word would count as much as a name. A
/// passage's length is its number of distinct lexemes (`length(tsvector)`), the collection's mean
/// of it stored by `push`.
const K1: f64 = 1.2;
const B: f64 = 0.75;

/// One search of the collection. Candidates the server returned are numbered 0.. as they arrive:
/// what ranking, `--per-doc` and folding need (document, vector) is kept for all of them, the
/// passages' text and metadata fetched only for the ones shown (`prefetch`).
struct RemoteSearch<'a> {
    remote: &'a Remote,
    /// The documents the filter lets through (`None`: no filter) as `doc_id`s and their sources,
    /// and its tally.
    allowed: Option<(Vec<String>, Vec<String>)>,
    tally: Option<crate::store::filter::Tally>,
    except: Option<Except>,
    passages_total: usize,
    /// A candidate is a passage of a source: (`id`, `source`); the same passage in two sources is
    /// two candidates (folded as one text found twice).
    by_id: HashMap<(String, String), u32>,
    ids: Vec<(String, String)>,
    doc_ids: Vec<String>,
    /// A number per document (`doc_id`, `source`), in order of first sight.
    doc_numbers: HashMap<(String, String), u32>,
    /// Each row's document number (`Candidates::document_of`), found once when the row is added.
    doc_of_row: Vec<u32>,
    vectors: Vec<Vec<f32>>,
    passages: RefCell<HashMap<u32, Passage>>,
    /// The last `lexical` call's BM25 query terms, `to_tsquery` text and required phrases, for
    /// `bm25_of`.
    last: Option<(String, String, Option<String>)>,
}

impl RemoteSearch<'_> {
    /// The row of a candidate (numbered on first sight), from a row with its `id`, `source`,
    /// `doc_id` and `embedding` (of the collection's dimensions: anything else is a tampered row).
    fn add_row(&mut self, r: &postgres::Row) -> Result<u32> {
        let c = &self.remote.collection;
        let key = (col(r, "id", c)?, col(r, "source", c)?);
        self.add(key, col(r, "doc_id", c)?, col(r, "embedding", c)?)
    }

    /// The row of a candidate (numbered on first sight); its vector must have the collection's
    /// dimensions.
    fn add(&mut self, key: (String, String), doc_id: String, vector: Vector) -> Result<u32> {
        if let Some(&row) = self.by_id.get(&key) {
            return Ok(row);
        }
        let vector = self.remote.checked_vector(&key.0, vector)?;
        let row = self.ids.len() as u32;
        let n = self.doc_numbers.len() as u32;
        let document = *self.doc_numbers.entry((doc_id.clone(), key.1.clone())).or_insert(n);
        self.doc_of_row.push(document);
        self.doc_ids.push(doc_id);
        self.vectors.push(vector);
        self.by_id.insert(key.clone(), row);
        self.ids.push(key);
        Ok(row)
    }

    /// The `id`s and sources of `rows`, as two arrays for `unnest`.
    fn keys(&self, rows: impl Iterator<Item = u32>) -> (Vec<String>, Vec<String>) {
        rows.map(|r| self.ids[r as usize].clone()).unzip()
    }

    /// Lexical search needs the word statistics `push` keeps since the server got BM25.
    fn need_lexical(&self) -> Result<()> {
        if self.remote.meta.lexical_avg_length.is_none() {
            return Err(Error::Usage(format!(
                "collection {} was pushed by a semsearch without lexical search on the server; push it again (nothing is re-sent but the word statistics) or use --mode semantic",
                self.remote.collection
            ))
            .into());
        }
        Ok(())
    }
}

impl Candidates for RemoteSearch<'_> {
    fn name(&self) -> String {
        self.remote.name()
    }
    fn vector(&self, row: u32) -> &[f32] {
        &self.vectors[row as usize]
    }
    fn document_of(&self, row: u32) -> Result<u32> {
        Ok(self.doc_of_row[row as usize])
    }
    fn doc_id(&self, row: u32) -> Result<String> {
        Ok(self.doc_ids[row as usize].clone())
    }
    fn passage(&self, row: u32) -> Result<Option<Passage>> {
        if !self.passages.borrow().contains_key(&row) {
            self.prefetch(&[row])?;
        }
        Ok(self.passages.borrow().get(&row).cloned())
    }
    fn prefetch(&self, rows: &[u32]) -> Result<()> {
        let (ids, sources) = self.keys(rows.iter().copied().filter(|r| !self.passages.borrow().contains_key(r)));
        if ids.is_empty() {
            return Ok(());
        }
        let t = &self.remote.tables;
        let found = self.remote.client.borrow_mut().query(
            &format!(
                "SELECT p.id, p.doc_id, p.source, p.ordinal, p.line_start, p.line_end, p.byte_start, p.byte_end, p.n_tokens, p.section, p.text,
                        p.sentences, d.path, d.title, d.date, d.url
                 FROM {} p JOIN {} d USING (doc_id, source) WHERE (p.id, p.source) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
                t.passages, t.documents
            ),
            &[&ids, &sources],
        )?;
        let mut passages = self.passages.borrow_mut();
        let (collection, dim) = (&self.remote.collection, self.remote.meta.dimensions.unwrap_or(0));
        for r in found {
            let (id, source): (String, String) = (col(&r, "id", collection)?, col(&r, "source", collection)?);
            let Some(&row) = self.by_id.get(&(id.clone(), source.clone())) else {
                return Err(tampered(collection, format!("passage {id} was not asked for")));
            };
            let record = passage_record(&r, row, collection, dim)?;
            passages.insert(
                row,
                Passage {
                    record,
                    path: col(&r, "path", collection)?,
                    title: col(&r, "title", collection)?,
                    date: col(&r, "date", collection)?,
                    url: col(&r, "url", collection)?,
                    source: Some(source),
                },
            );
        }
        Ok(())
    }
}

impl Retrieval for RemoteSearch<'_> {
    fn tally(&self) -> Option<&crate::store::filter::Tally> {
        self.tally.as_ref()
    }

    fn live(&self) -> usize {
        self.passages_total
    }

    /// Through the HNSW index with `hnsw.ef_search` = ef (at least k: pgvector returns no more than
    /// its beam), or an exact scan. With required phrases, only passages holding them.
    fn nearest(&mut self, q: &[f32], k: usize, walk: Walk, words: &LexicalQuery) -> Result<Vec<Hit>> {
        let phrases = TsQuery::of(words, &[]).required;
        if phrases.is_some() {
            self.need_lexical()?;
        }
        let mut sql = Sql::default();
        let vector = sql.bind(Vector::from(q.to_vec()));
        let filter = sql.scope(self, phrases.as_deref());
        let limit = sql.bind(k as i64);
        let statement = format!(
            "SELECT * FROM (SELECT id, source, doc_id, embedding, embedding <=> {vector} AS distance FROM {passages}
                            WHERE {filter} ORDER BY embedding <=> {vector} LIMIT {limit}) h
             ORDER BY distance, id, source",
            passages = self.remote.tables.passages
        );
        let rows = {
            let mut client = self.remote.client.borrow_mut();
            let mut tx = client.transaction()?;
            match walk {
                Walk::Exact => tx.batch_execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off")?,
                Walk::Graph { ef } => {
                    // Through the graph as asked: on a small or freshly analysed table the planner
                    // may otherwise prefer a sequential scan and sort (exact, and slower).
                    tx.batch_execute(&format!("SET LOCAL hnsw.ef_search = {}; SET LOCAL enable_seqscan = off", ef.max(k).min(1000)))?;
                    if filter != "TRUE" {
                        // Filtered rows are skipped while the graph is walked, not after: k still come back.
                        tx.batch_execute("SET LOCAL hnsw.iterative_scan = strict_order")?;
                    }
                }
            }
            let rows = tx.query(&statement, &sql.params())?;
            tx.commit()?;
            rows
        };
        rows.iter()
            .map(|r| {
                let row = self.add_row(r)?;
                Ok(Hit { row, score: dot(q, self.vector(row)) })
            })
            .collect()
    }

    /// From the document frequencies `push` counted.
    fn word_counts(&mut self, words: &[String]) -> Result<Vec<u64>> {
        self.need_lexical()?;
        let rows = self.remote.client.borrow_mut().query(
            &format!(
                "SELECT w, (SELECT coalesce(sum(df), 0)::int8 FROM {} WHERE lexeme = ANY(tsvector_to_array(to_tsvector('english', w))))
                 FROM unnest($1::text[]) AS w",
                self.remote.tables.terms
            ),
            &[&words],
        )?;
        let df: HashMap<String, u64> = rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64)).collect();
        Ok(words.iter().map(|w| df.get(w).copied().unwrap_or(0)).collect())
    }

    fn lexical(&mut self, words: &LexicalQuery, selection: Option<&Selection>, k: usize) -> Result<Vec<Hit>> {
        self.last = None;
        if !words.has_words() {
            return Ok(Vec::new());
        }
        self.need_lexical()?;
        let figures: Vec<String> = words.figures.iter().map(|f| f.text.clone()).collect();
        let lexed: Vec<String> = match figures.is_empty() {
            true => Vec::new(),
            false => self
                .remote
                .client
                .borrow_mut()
                .query("SELECT phraseto_tsquery('english', f)::text FROM unnest($1::text[]) f", &[&figures])?
                .iter()
                .map(|r| r.get(0))
                .collect(),
        };
        let ts = TsQuery::of(words, &lexed);
        let Some(any) = ts.any else { return Ok(Vec::new()) };
        // On a large collection the rare words select, all words score (`LexicalQuery::selection`).
        let matching = selection.map_or(any, |s| s.rare.join(" | "));
        let scored = self.remote.bm25(self, &ts.words, &matching, ts.required.as_deref(), Lexical::Best(k))?;
        let mut hits = Vec::with_capacity(scored.len());
        for (key, score, found) in scored {
            let (doc_id, vector) = found.ok_or_else(|| anyhow::anyhow!("the best matches came back without their documents and vectors"))?;
            hits.push(Hit { row: self.add(key, doc_id, vector)?, score });
        }
        self.last = Some((ts.words, matching, ts.required));
        Ok(hits)
    }

    fn bm25_of(&self, rows: &[u32]) -> Result<Vec<Hit>> {
        let Some((words, matching, required)) = &self.last else { return Ok(Vec::new()) };
        let scored = self.remote.bm25(self, words, matching, required.as_deref(), Lexical::Of(self.keys(rows.iter().copied())))?;
        scored
            .into_iter()
            .map(|(key, score, _)| match self.by_id.get(&key) {
                Some(&row) => Ok(Hit { row, score }),
                None => Err(tampered(&self.remote.collection, format!("passage {} was not asked for", key.0))),
            })
            .collect()
    }
}

impl Remote {
    /// Connects to `url` and opens `collection`, which must hold vectors of `model`.
    pub fn open(url: &str, collection: &str, model: &crate::model::ModelInfo) -> Result<Remote> {
        let remote = Remote::open_any_precision(url, collection, model)?;
        remote.check_precision(model.precision)?;
        Ok(remote)
    }

    /// As `open`, whatever precision the collection's vectors were computed in (`precision()`
    /// tells, so that a reader loads the model to embed its questions alike).
    pub fn open_any_precision(url: &str, collection: &str, model: &crate::model::ModelInfo) -> Result<Remote> {
        let collection = super::collection_name(collection)?;
        let mut client = conn::connect(url)?;
        // A search is milliseconds; one the server cannot finish in this time (a lock held by a
        // push gone astray, a plan gone wrong) is stopped there, not left running for a client that
        // has given up. Pushes use their own connection, without it.
        client.batch_execute(&format!("SET statement_timeout = {}", STATEMENT_TIMEOUT.as_millis()))?;
        let tables = Tables::of(&collection);
        let meta = read_meta_snapshot(&mut client, &tables)?.ok_or_else(|| {
            Error::NotFound(format!(
                "{} has no collection {collection}; publish one with `semsearch push --to URL --collection {collection}`",
                conn::redact(url)
            ))
        })?;
        super::check_model(&meta, &collection, model)?;
        Ok(Remote { client: RefCell::new(client), collection, tables, meta, url: conn::redact(url) })
    }

    /// How the collection's vectors were computed.
    pub fn precision(&self) -> crate::model::Precision {
        self.meta.precision.unwrap_or_default()
    }

    /// An error unless the collection's vectors were computed in `precision`.
    pub fn check_precision(&self, precision: crate::model::Precision) -> Result<()> {
        super::check_precision(&self.meta, &self.collection, precision)
    }

    /// Passage `id`'s vector as read from the server, which must have the collection's dimensions
    /// (anything else is a tampered row: vectors of different lengths would be compared).
    fn checked_vector(&self, id: &str, vector: Vector) -> Result<Vec<f32>> {
        let (n, dim) = (vector.as_slice().len(), self.meta.dimensions.unwrap_or(vector.as_slice().len()));
        if n != dim {
            return Err(tampered(&self.collection, format!("passage {id}: a vector of {n} dimensions, not {dim}")));
        }
        Ok(vector.to_vec())
    }

    /// The collection's name.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// What `status --backend` reports: the collection's identity and counts, and its size on the
    /// server (tables and their indexes); with `files`, every document.
    pub fn status(&self, files: bool) -> Result<CollectionStatus> {
        let t = &self.tables;
        let mut c = self.client.borrow_mut();
        let row = c.query_one(
            &format!(
                "SELECT (SELECT count(*) FROM {d}), (SELECT count(*) FROM {d} WHERE date IS NOT NULL), (SELECT count(*) FROM {p}),
                        pg_total_relation_size('{d}') + pg_total_relation_size('{p}') + pg_total_relation_size('{m}')
                        + pg_total_relation_size('{s}') + pg_total_relation_size('{w}') + pg_total_relation_size('{tw}')",
                d = t.documents,
                p = t.passages,
                m = t.meta,
                s = t.sources,
                w = t.terms,
                tw = t.title_terms,
            ),
            &[],
        )?;
        let (documents, dated, passages, bytes): (i64, i64, i64, i64) = (row.get(0), row.get(1), row.get(2), row.get(3));
        // The server's view of this connection: whether TLS is in use, and which version.
        let tls: Option<String> = c.query_opt("SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl", &[])?.map(|r| r.get(0));
        let files = match files {
            true => Some(
                c.query(&format!("SELECT source, path, doc_id, title, date, url, n_passages FROM {} ORDER BY source, path, doc_id", t.documents), &[])?
                    .iter()
                    .map(|r| {
                        let coll = &self.collection;
                        Ok(FileEntry {
                            path: col(r, "path", coll)?,
                            doc_id: col(r, "doc_id", coll)?,
                            title: col(r, "title", coll)?,
                            date: col(r, "date", coll)?,
                            url: col(r, "url", coll)?,
                            passages: count(r, "n_passages", coll)?,
                            source: Some(col(r, "source", coll)?),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            false => None,
        };
        Ok(CollectionStatus {
            backend: self.url.clone(),
            collection: self.collection.clone(),
            tls,
            generation: self.meta.generation,
            schema_version: self.meta.schema_version,
            model: CollectionModel { name: self.meta.model.clone(), weights_sha256: self.meta.weights_sha256.clone(), dimensions: self.meta.dimensions },
            chunking: self.meta.chunking.as_ref().map(|ch| serde_json::from_str(ch).unwrap_or(serde_json::json!(ch))),
            documents,
            documents_with_date: dated,
            documents_without_date: documents - dated,
            passages,
            size_bytes: bytes,
            sources: self
                .meta
                .sources
                .iter()
                .map(|s| crate::status::CollectionSource { name: s.name.clone(), documents: s.documents, passages: s.passages, pushed_at: s.pushed_at.clone() })
                .collect(),
            files,
        })
    }

    /// Reads the collection's statistics again (its passage count and mean length, which BM25
    /// uses, change with each push): for a connection kept open across requests (`serve`).
    pub fn refresh(&mut self, model: &crate::model::ModelInfo) -> Result<()> {
        let meta = read_meta_snapshot(self.client.get_mut(), &self.tables)?
            .ok_or_else(|| Error::NotFound(format!("{} has no collection {} any more", self.url, self.collection)))?;
        check_meta(&meta, &self.collection, model)?;
        self.meta = meta;
        Ok(())
    }

    /// The documents `filter` lets through (`None`: no filter), and its tally.
    #[allow(clippy::type_complexity)]
    fn allowed(&self, filter: &Filter) -> Result<(Option<(Vec<String>, Vec<String>)>, Option<crate::store::filter::Tally>)> {
        if filter.is_empty() {
            return Ok((None, None));
        }
        let mut counter = filter.counter()?;
        let rows = self.client.borrow_mut().query(&format!("SELECT doc_id, source, path, date FROM {}", self.tables.documents), &[])?;
        let (mut ids, mut sources) = (Vec::new(), Vec::new());
        for r in rows {
            let c = &self.collection;
            let (id, path, date): (String, String, Option<String>) = (col(&r, "doc_id", c)?, col(&r, "path", c)?, col(&r, "date", c)?);
            if counter.admit(&id, &path, date.as_deref()) == crate::store::filter::Admit::Yes {
                ids.push(id);
                sources.push(col(&r, "source", c)?);
            }
        }
        Ok((Some((ids, sources)), Some(counter.tally())))
    }

    /// Lexical scores of the passages matching `tsquery` (`to_tsquery` text) within `search`'s
    /// scope (and holding `required`): BM25 (see `K1`) of their section and text plus
    /// `index::TITLE_WEIGHT` × that of their document's title, as the local index scores them; a
    /// document matched by its title alone is its first passage. The best `Lexical::Best(k)` with
    /// their document and vector, or those of `Lexical::Of(ids)` that match. `words` are the
    /// question's words, BM25's query terms.
    #[allow(clippy::type_complexity)]
    fn bm25(
        &self,
        search: &RemoteSearch,
        words: &str,
        tsquery: &str,
        required: Option<&str>,
        which: Lexical,
    ) -> Result<Vec<((String, String), f32, Option<(String, Vector)>)>> {
        let t = &self.tables;
        let mut sql = Sql::default();
        let n = sql.bind(self.meta.passages.unwrap_or(0) as f64);
        let avg = sql.bind(self.meta.lexical_avg_length.unwrap_or(1.0).max(1.0));
        let n_docs = sql.bind(self.meta.documents.unwrap_or(0) as f64);
        let title_avg = sql.bind(self.meta.title_avg_length.unwrap_or(1.0).max(1.0));
        let words = sql.bind(words.to_string());
        let tsquery = sql.bind(tsquery.to_string());
        let mut filter = sql.scope(search, required);
        let doc_filter = sql.documents_scope(search);
        let wide = matches!(which, Lexical::Best(_));
        // Which passages a title stands for where none of its document's passages matched: the
        // first (the best k), or those listed (scores of given passages: `filter` names them).
        let (limit, title_only) = match which {
            Lexical::Best(k) => (format!("LIMIT {}", sql.bind(k as i64)), "ordinal = 0"),
            Lexical::Of((ids, sources)) => {
                let (ids, sources) = (sql.bind(ids), sql.bind(sources));
                filter.push_str(&format!(" AND (id, source) IN (SELECT * FROM unnest({ids}::text[], {sources}::text[]))"));
                (String::new(), "TRUE")
            }
        };
        // BM25 of a tsvector column against the question's lexemes in `$q` (their arrays of
        // lexemes and idf): only those lexemes are unnested (`setweight` marks them, `ts_filter`
        // keeps the marked: both C loops over the tsvector) and summed in place, each lexeme's idf
        // found by its position in the array: no row per lexeme and no hash join and regrouping.
        // At 220,000 passages, for words in 23,680 of them: 75 ms, against 210–237 ms when every
        // lexeme of each passage was unnested and joined with the question's.
        let bm25 = |q: &str, column: &str, avg: &str| {
            format!(
                "(SELECT sum({q}.idf[array_position({q}.lx, u.lexeme)] * cardinality(u.positions) * {k1_1}
                          / (cardinality(u.positions) + {K1} * ({one_b} + {B} * length({column}) / {avg}::float8)))
                  FROM unnest(ts_filter(setweight({column}, 'A', {q}.lx), '{{a}}')) u)",
                k1_1 = K1 + 1.0,
                one_b = 1.0 - B,
            )
        };
        let idf = |table: &str, n: &str| {
            format!(
                "SELECT coalesce(array_agg(lexeme), '{{}}') AS lx, coalesce(array_agg(greatest(ln(({n}::float8 - df + 0.5) / (df + 0.5)), 1e-6)), '{{}}') AS idf
                 FROM {table} WHERE lexeme = ANY(tsvector_to_array(to_tsvector('english', {words})))"
            )
        };
        let statement = format!(
            "WITH q AS ({q_idf}), qt AS ({qt_idf}),
                  t AS (SELECT d.doc_id, d.source, {title_score} AS score FROM {documents} d CROSS JOIN qt
                        WHERE d.title_lexical @@ to_tsquery('english', {tsquery}) AND {doc_filter}),
                  s AS (SELECT m.id, m.doc_id, m.source, {text_score} AS score FROM {passages} m CROSS JOIN q
                        WHERE m.lexical @@ to_tsquery('english', {tsquery}) AND {filter}),
                  c AS (SELECT s.id, s.source, coalesce(s.score, 0) + {W} * coalesce(t.score, 0) AS score FROM s LEFT JOIN t USING (doc_id, source)
                        UNION ALL
                        SELECT p.id, source, {W} * t.score FROM t JOIN {passages} p USING (doc_id, source)
                        WHERE {title_only} AND NOT EXISTS (SELECT 1 FROM s WHERE s.doc_id = t.doc_id AND s.source = t.source) AND {filter}),
                  b AS (SELECT id, source, score FROM c WHERE score > 0 ORDER BY score DESC, id, source {limit})
             SELECT b.id, b.source, b.score {columns} FROM b {join} ORDER BY b.score DESC, b.id, b.source",
            q_idf = idf(&t.terms, &n),
            qt_idf = idf(&t.title_terms, &n_docs),
            title_score = bm25("qt", "d.title_lexical", &title_avg),
            text_score = bm25("q", "m.lexical", &avg),
            documents = t.documents,
            passages = t.passages,
            W = crate::index::TITLE_WEIGHT,
            columns = if wide { ", p.doc_id, p.embedding" } else { "" },
            join = if wide { format!("JOIN {} p USING (id, source)", t.passages) } else { String::new() },
        );
        let mut client = self.client.borrow_mut();
        let mut tx = client.transaction()?;
        // On a small collection the planner misjudges how many passages a tsquery matches and reads
        // them all (4–10 ms at 5,500 passages, against under 1.5 ms through the GIN index); on a
        // large one it picks the index itself.
        tx.batch_execute("SET LOCAL enable_seqscan = off")?;
        let rows = tx.query(&statement, &sql.params())?;
        tx.commit()?;
        let c = &self.collection;
        rows.iter()
            .map(|r| {
                let found = match wide {
                    true => Some((col(r, "doc_id", c)?, col(r, "embedding", c)?)),
                    false => None,
                };
                Ok(((col(r, "id", c)?, col(r, "source", c)?), col::<f64>(r, "score", c)? as f32, found))
            })
            .collect()
    }
}

impl Store for Remote {
    fn status(&self, files: bool) -> Result<crate::status::StatusReport> {
        Ok(crate::status::StatusReport::Collection(Remote::status(self, files)?))
    }

    fn name(&self) -> String {
        format!("{} collection {}", self.url, self.collection)
    }

    fn open(&self, scope: Scope<'_>) -> Result<Box<dyn Retrieval + '_>> {
        let (allowed, tally) = self.allowed(scope.filter)?;
        let passages_total = match self.meta.passages {
            Some(n) => n,
            None => self.client.borrow_mut().query_one(&format!("SELECT count(*) FROM {}", self.tables.passages), &[])?.get::<_, i64>(0) as usize,
        };
        Ok(Box::new(RemoteSearch {
            remote: self,
            allowed,
            tally,
            except: scope.except.cloned(),
            passages_total,
            by_id: HashMap::new(),
            ids: Vec::new(),
            doc_ids: Vec::new(),
            doc_numbers: HashMap::new(),
            doc_of_row: Vec::new(),
            vectors: Vec::new(),
            passages: RefCell::new(HashMap::new()),
            last: None,
        }))
    }

    fn origin(&self, target: &Target) -> Result<Origin> {
        let t = &self.tables;
        let from = |sql: String, params: &[&(dyn ToSql + Sync)], what: String| -> Result<Origin> {
            let row = self.client.borrow_mut().query_opt(&sql, params)?.ok_or(Error::NotFound(what))?;
            let c = &self.collection;
            let id: String = col(&row, "id", c)?;
            let vector = self.checked_vector(&id, col(&row, "embedding", c)?)?;
            Ok(Origin { vector, doc_id: col(&row, "doc_id", c)?, id })
        };
        match target {
            Target::Text(_) => anyhow::bail!("free text is embedded, not looked up"),
            // The same passage in several sources is the same text and vector: any of them.
            Target::Passage(id) => from(
                format!("SELECT embedding, doc_id, id FROM {} WHERE id = $1 ORDER BY source LIMIT 1", t.passages),
                &[id],
                format!("no passage with id {id} in collection {}; ids come from `semsearch ask --json`", self.collection),
            ),
            Target::PathLine(path, line) => from(
                format!(
                    "SELECT p.embedding, p.doc_id, p.id FROM {} p JOIN {} d USING (doc_id, source)
                     WHERE d.path = $1 AND p.line_start <= $2 AND p.line_end >= $2 ORDER BY p.ordinal, source LIMIT 1",
                    t.passages, t.documents
                ),
                &[path, &(*line as i32)],
                format!("{path}:{line} is not inside a passage of collection {}; give the path as results show it", self.collection),
            ),
        }
    }

    fn passage_in_context(&self, id: &str, context: usize) -> Result<InContext> {
        let t = &self.tables;
        let mut c = self.client.borrow_mut();
        let doc = c
            .query_opt(
                &format!(
                    "SELECT d.doc_id, d.source, d.path, d.title, d.content_hash, d.date, d.url, d.n_passages, p.ordinal
                     FROM {} p JOIN {} d USING (doc_id, source) WHERE p.id = $1 ORDER BY source LIMIT 1",
                    t.passages, t.documents
                ),
                &[&id],
            )?
            .ok_or_else(|| Error::NotFound(format!("no passage with id {id}; ids come from /api/ask results")))?;
        let coll = &self.collection;
        let at: i32 = col(&doc, "ordinal", coll)?;
        let document = DocRecord {
            doc_id: col(&doc, "doc_id", coll)?,
            path: col(&doc, "path", coll)?,
            title: col(&doc, "title", coll)?,
            content_hash: col(&doc, "content_hash", coll)?,
            first_row: 0,
            n_passages: count(&doc, "n_passages", coll)?,
            date: col(&doc, "date", coll)?,
            url: col(&doc, "url", coll)?,
        };
        let rows = c.query(
            &format!(
                "SELECT id, doc_id, ordinal, line_start, line_end, byte_start, byte_end, n_tokens, section, text, NULL::bytea AS sentences
                 FROM {} WHERE doc_id = $1 AND source = $4 AND ordinal BETWEEN $2 AND $3 ORDER BY ordinal",
                t.passages
            ),
            &[&document.doc_id, &(at - context as i32), &(at + context as i32), &col::<String>(&doc, "source", coll)?],
        )?;
        let (mut before, mut this, mut after) = (Vec::new(), None, Vec::new());
        for r in rows {
            let ordinal: i32 = col(&r, "ordinal", coll)?;
            let record = passage_record(&r, 0, coll, self.meta.dimensions.unwrap_or(0))?;
            match ordinal.cmp(&at) {
                std::cmp::Ordering::Less => before.push(record),
                std::cmp::Ordering::Equal => this = Some(record),
                std::cmp::Ordering::Greater => after.push(record),
            }
        }
        let passage = this.ok_or_else(|| Error::NotFound(format!("no passage with id {id}")))?;
        Ok(InContext { before, passage, after, document })
    }
}

/// A column of a row the server returned, or an error naming the collection and the column: a
/// NULL where a value must be, a value of another type. What comes back from a server is input
/// (a collection changed by hand or by another program), never a reason to panic.
fn col<'a, T: postgres::types::FromSql<'a>>(r: &'a postgres::Row, column: &str, collection: &str) -> Result<T> {
    r.try_get(column).map_err(|e| tampered(collection, format!("column {column}: {e}")))
}

/// The error for a collection whose rows are not what `push` writes.
fn tampered(collection: &str, what: String) -> anyhow::Error {
    Error::Usage(format!("collection {collection} holds a row semsearch did not write ({what}); push the index to it again, or to a new --collection")).into()
}

/// A non-negative integer column as `u32`/`u64`.
fn count<T: TryFrom<i64>>(r: &postgres::Row, column: &str, collection: &str) -> Result<T> {
    let v: i64 = match r.columns().iter().find(|c| c.name() == column).map(|c| c.type_().clone()) {
        Some(postgres::types::Type::INT8) => col::<i64>(r, column, collection)?,
        _ => col::<i32>(r, column, collection)? as i64,
    };
    T::try_from(v).map_err(|_| tampered(collection, format!("{column} is {v}")))
}

/// A passage as the server stores it (a row with its columns by name), numbered `row` here,
/// checked as it is read: counts not negative, line and byte ranges in order, and the stored
/// answer sentences' spans inside its text on character boundaries (they slice it) with vectors of
/// `dim` dimensions.
fn passage_record(r: &postgres::Row, row: u32, collection: &str, dim: usize) -> Result<PassageRecord> {
    let record = PassageRecord {
        row,
        id: col(r, "id", collection)?,
        doc_id: col(r, "doc_id", collection)?,
        ordinal: count(r, "ordinal", collection)?,
        line_start: count(r, "line_start", collection)?,
        line_end: count(r, "line_end", collection)?,
        byte_start: count(r, "byte_start", collection)?,
        byte_end: count(r, "byte_end", collection)?,
        n_tokens: count(r, "n_tokens", collection)?,
        text: col(r, "text", collection)?,
        section: col(r, "section", collection)?,
        sentences: col(r, "sentences", collection)?,
    };
    let bad = |what: &str| tampered(collection, format!("passage {}: {what}", record.id));
    if record.line_start > record.line_end || record.byte_start > record.byte_end {
        return Err(bad("its line or byte range ends before it starts"));
    }
    if let Some(b) = &record.sentences {
        let v = crate::search::answer::SentenceVectors::decode(b, dim).ok_or_else(|| bad("its answer sentences are not vectors of the collection's model"))?;
        let text = &record.text;
        if v.spans().iter().any(|&(a, z)| a >= z || z > text.len() || !text.is_char_boundary(a) || !text.is_char_boundary(z)) {
            return Err(bad("an answer sentence lies outside its text"));
        }
    }
    Ok(record)
}

/// Which passages `bm25` scores.
enum Lexical {
    /// The best `k`.
    Best(usize),
    /// These (by `id` and source), where they match.
    Of((Vec<String>, Vec<String>)),
}
