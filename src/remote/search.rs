//! Searching a collection on the server: the question embedded here, the nearest passages found by
//! the server (pgvector's HNSW index, or an exact scan), then shaped and answered by the code the
//! local index uses (`search::shape_and_resolve` over the fetched candidates).

use super::{check_meta, conn, read_meta, CollectionMeta, Tables};
use crate::ann::{dot, Hit};
use crate::embed::Embedder;
use crate::error::Error;
use crate::index::{DocRecord, Passage, PassageRecord};
use crate::search::{self, Candidates, Found, LexicalQuery, Mode, Options, Ranked, Strategy};
use anyhow::Result;
use pgvector::Vector;
use postgres::types::ToSql;
use postgres::Client;
use std::cell::RefCell;
use std::collections::HashMap;

/// A collection on a server, connected.
pub struct Remote {
    client: RefCell<Client>,
    collection: String,
    tables: Tables,
    pub meta: CollectionMeta,
    pub url: String,
}

/// `related` without --text: what to leave out.
enum Except {
    Document(String),
    Passage(String),
}

/// Which passages a search may return.
struct Scope<'a> {
    allowed: Option<&'a [String]>,
    except: Option<&'a Except>,
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

    /// `scope` as a condition on a passages table: its filters, and the passage or document left out.
    fn scope(&mut self, scope: &Scope) -> String {
        let mut conds = vec!["TRUE".to_string()];
        if let Some(a) = scope.allowed {
            conds.push(format!("doc_id = ANY({})", self.bind(a.to_vec())));
        }
        match scope.except {
            Some(Except::Document(d)) => conds.push(format!("doc_id <> {}", self.bind(d.clone()))),
            Some(Except::Passage(p)) => conds.push(format!("id <> {}", self.bind(p.clone()))),
            None => {}
        }
        conds.join(" AND ")
    }
}

/// A question's words as the server's full-text search takes them: the `to_tsquery` text that
/// matches (required phrases AND any of the words) and the one for the required phrases alone.
/// `LexicalQuery` holds only runs of letters and digits, so nothing in it is tsquery syntax.
struct TsQuery {
    any: Option<String>,
    required: Option<String>,
    /// Every word, for BM25's query terms (`to_tsvector` stems them as the passages were).
    words: String,
}

impl TsQuery {
    fn of(q: &LexicalQuery) -> TsQuery {
        let syntax = search::lexical::Syntax { phrase: |p| format!("({})", p.join(" <-> ")), word: str::to_string, and: " & ", or: " | " };
        let (any, required) = q.render(&syntax);
        let words = q.required.iter().flatten().chain(&q.words).cloned().collect::<Vec<_>>().join(" ");
        TsQuery { any, required, words }
    }
}

/// BM25 as SQLite's FTS5 computes it (k1 = 1.2, b = 0.75, idf = ln((N − df + 0.5) / (df + 0.5)),
/// at least 1e-6), over the server's stemmed lexemes: PostgreSQL ranks full text by `ts_rank`,
/// which has no inverse document frequency, so a common word would count as much as a name. A
/// passage's length is its number of distinct lexemes (`length(tsvector)`), the collection's mean
/// of it stored by `push`.
const K1: f64 = 1.2;
const B: f64 = 0.75;

/// Candidates the server returned for one search, numbered 0.. as they arrived: what ranking,
/// `--per-doc` and folding need (document, vector) for all of them, the passages' text and
/// metadata fetched only for the ones shown (`prefetch`).
struct Pool<'a> {
    remote: &'a Remote,
    by_id: HashMap<String, u32>,
    ids: Vec<String>,
    doc_ids: Vec<String>,
    /// A number per document, in order of first sight (`Candidates::document_of`).
    doc_numbers: HashMap<String, u32>,
    vectors: Vec<Vec<f32>>,
    passages: RefCell<HashMap<u32, Passage>>,
}

impl<'a> Pool<'a> {
    fn new(remote: &'a Remote) -> Pool<'a> {
        Pool {
            remote,
            by_id: HashMap::new(),
            ids: Vec::new(),
            doc_ids: Vec::new(),
            doc_numbers: HashMap::new(),
            vectors: Vec::new(),
            passages: RefCell::new(HashMap::new()),
        }
    }

    /// The row of a candidate (numbered on first sight).
    fn add(&mut self, id: String, doc_id: String, vector: Vector) -> u32 {
        if let Some(&row) = self.by_id.get(&id) {
            return row;
        }
        let row = self.ids.len() as u32;
        let n = self.doc_numbers.len() as u32;
        self.doc_numbers.entry(doc_id.clone()).or_insert(n);
        self.doc_ids.push(doc_id);
        self.vectors.push(vector.to_vec());
        self.by_id.insert(id.clone(), row);
        self.ids.push(id);
        row
    }
}

impl Candidates for Pool<'_> {
    fn name(&self) -> String {
        format!("{} collection {}", self.remote.url, self.remote.collection)
    }
    fn vector(&self, row: u32) -> &[f32] {
        &self.vectors[row as usize]
    }
    fn document_of(&self, row: u32) -> Result<u32> {
        Ok(self.doc_numbers[&self.doc_ids[row as usize]])
    }
    fn passage(&self, row: u32) -> Result<Option<Passage>> {
        if !self.passages.borrow().contains_key(&row) {
            self.prefetch(&[row])?;
        }
        Ok(self.passages.borrow().get(&row).cloned())
    }
    fn prefetch(&self, rows: &[u32]) -> Result<()> {
        let ids: Vec<String> = rows.iter().filter(|r| !self.passages.borrow().contains_key(r)).map(|&r| self.ids[r as usize].clone()).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let t = &self.remote.tables;
        let found = self.remote.client.borrow_mut().query(
            &format!(
                "SELECT p.id, p.doc_id, p.ordinal, p.line_start, p.line_end, p.byte_start, p.byte_end, p.n_tokens, p.section, p.text,
                        p.sentences, d.path, d.title, d.date, d.url
                 FROM {} p JOIN {} d USING (doc_id) WHERE p.id = ANY($1)",
                t.passages, t.documents
            ),
            &[&ids],
        )?;
        let mut passages = self.passages.borrow_mut();
        for r in found {
            let row = self.by_id[&r.get::<_, String>("id")];
            passages.insert(
                row,
                Passage {
                    record: passage_record(&r, row),
                    path: r.get("path"),
                    title: r.get("title"),
                    date: r.get("date"),
                    url: r.get("url"),
                },
            );
        }
        Ok(())
    }
}

impl Remote {
    /// Connects to `url` and opens `collection`, which must hold vectors of `model`.
    pub fn open(url: &str, collection: &str, model: &crate::model::ModelInfo) -> Result<Remote> {
        let collection = super::collection_name(collection)?;
        let mut client = conn::connect(url)?;
        let tables = Tables::of(&collection);
        let meta = read_meta(&mut client, &tables)?.ok_or_else(|| {
            Error::NotFound(format!("{} has no collection {collection}; publish one with `semsearch push --to URL --collection {collection}`", conn::redact(url)))
        })?;
        check_meta(&meta, &collection, model)?;
        Ok(Remote { client: RefCell::new(client), collection, tables, meta, url: conn::redact(url) })
    }

    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// `ask` against the server, in any mode, filters applied inside the search. Also returns how
    /// many undated documents a date filter left out.
    pub fn ask(&self, embedder: &Embedder, question: &str, opts: &Options, filter: &search::Filter) -> Result<(Vec<Found>, usize)> {
        search::check_question(question)?;
        let (allowed, undated) = self.allowed(filter)?;
        let q = embedder.embed_one(question)?;
        let words = search::lexical::parse(question);
        let found = self.search(embedder, &q, question, &words, opts, Scope { allowed: allowed.as_deref(), except: None })?;
        Ok((found, undated))
    }

    /// `related` against the server: from a passage (id, or path and line as stored), or text.
    pub fn related(&self, embedder: &Embedder, target: &search::Target, same_doc: bool, opts: &Options, filter: &search::Filter) -> Result<(Vec<Found>, usize)> {
        let (allowed, undated) = self.allowed(filter)?;
        let t = &self.tables;
        let from = |sql: String, params: &[&(dyn postgres::types::ToSql + Sync)], what: String| -> Result<(Vec<f32>, String, String)> {
            let row = self.client.borrow_mut().query_opt(&sql, params)?.ok_or(Error::NotFound(what))?;
            Ok((row.get::<_, Vector>(0).to_vec(), row.get(1), row.get(2)))
        };
        let (q, question, except) = match target {
            search::Target::Text(text) => {
                search::check_text(text)?;
                (embedder.embed_one(text)?, text.clone(), None)
            }
            search::Target::Passage(id) => {
                let (v, doc, pid) = from(
                    format!("SELECT embedding, doc_id, id FROM {} WHERE id = $1", t.passages),
                    &[id],
                    format!("no passage with id {id} in collection {}; ids come from `semsearch ask --json`", self.collection),
                )?;
                (v, String::new(), Some((doc, pid)))
            }
            search::Target::PathLine(path, line) => {
                let (v, doc, pid) = from(
                    format!(
                        "SELECT p.embedding, p.doc_id, p.id FROM {} p JOIN {} d USING (doc_id)
                         WHERE d.path = $1 AND p.line_start <= $2 AND p.line_end >= $2 ORDER BY p.ordinal LIMIT 1",
                        t.passages, t.documents
                    ),
                    &[path, &(*line as i32)],
                    format!("{path}:{line} is not inside a passage of collection {}; give the path as results show it", self.collection),
                )?;
                (v, String::new(), Some((doc, pid)))
            }
        };
        // From a stored passage: leave out its document, or (with same_doc) only itself, and search
        // by its vector (its words would find its own near copies first), as locally.
        let except = except.map(|(doc, id)| if same_doc { Except::Passage(id) } else { Except::Document(doc) });
        let (words, opts) = match target {
            search::Target::Text(t) => (search::lexical::parse(t), *opts),
            _ => (LexicalQuery::none(), Options { mode: Mode::Semantic, ..*opts }),
        };
        let found = self.search(embedder, &q, &question, &words, &opts, Scope { allowed: allowed.as_deref(), except: except.as_ref() })?;
        Ok((found, undated))
    }

    /// What `status --backend` reports: the collection's identity and counts, and its size on the
    /// server (tables and their indexes); with `files`, every document.
    pub fn status(&self, files: bool) -> Result<serde_json::Map<String, serde_json::Value>> {
        use serde_json::json;
        let t = &self.tables;
        let mut c = self.client.borrow_mut();
        let row = c.query_one(
            &format!(
                "SELECT (SELECT count(*) FROM {d}), (SELECT count(*) FROM {d} WHERE date IS NOT NULL), (SELECT count(*) FROM {p}),
                        pg_total_relation_size('{d}') + pg_total_relation_size('{p}') + pg_total_relation_size('{m}')",
                d = t.documents,
                p = t.passages,
                m = t.meta
            ),
            &[],
        )?;
        let (documents, dated, passages, bytes): (i64, i64, i64, i64) = (row.get(0), row.get(1), row.get(2), row.get(3));
        // The server's view of this connection: whether TLS is in use, and which version.
        let tls: Option<String> =
            c.query_opt("SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl", &[])?.map(|r| r.get(0));
        let mut m = serde_json::Map::new();
        m.insert("backend".into(), json!(self.url));
        m.insert("collection".into(), json!(self.collection));
        m.insert("tls".into(), json!(tls));
        m.insert("generation".into(), json!(self.meta.generation));
        m.insert("schema_version".into(), json!(self.meta.schema_version));
        m.insert("model".into(), json!({"name": self.meta.model, "weights_sha256": self.meta.weights_sha256, "dimensions": self.meta.dimensions}));
        if let Some(ch) = &self.meta.chunking {
            m.insert("chunking".into(), serde_json::from_str(ch).unwrap_or(json!(ch)));
        }
        m.insert("documents".into(), json!(documents));
        m.insert("documents_with_date".into(), json!(dated));
        m.insert("documents_without_date".into(), json!(documents - dated));
        m.insert("passages".into(), json!(passages));
        m.insert("size_bytes".into(), json!(bytes));
        if files {
            let rows = c.query(&format!("SELECT path, doc_id, title, date, url, n_passages FROM {} ORDER BY path, doc_id", t.documents), &[])?;
            let list: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    json!({"path": r.get::<_, String>(0), "doc_id": r.get::<_, String>(1), "title": r.get::<_, String>(2),
                           "date": r.get::<_, Option<String>>(3), "url": r.get::<_, Option<String>>(4), "passages": r.get::<_, i32>(5)})
                })
                .collect();
            m.insert("files".into(), serde_json::Value::Array(list));
        }
        Ok(m)
    }

    /// Reads the collection's statistics again (its passage count and mean length, which BM25
    /// uses, change with each push): for a connection kept open across requests (`serve`).
    pub fn refresh(&mut self, model: &crate::model::ModelInfo) -> Result<()> {
        let meta = read_meta(self.client.get_mut(), &self.tables)?
            .ok_or_else(|| Error::NotFound(format!("{} has no collection {} any more", self.url, self.collection)))?;
        check_meta(&meta, &self.collection, model)?;
        self.meta = meta;
        Ok(())
    }

    /// The passage `id` with up to `context` passages of its document before and after it, in
    /// document order, and its document: (before, passage, after, document).
    pub fn passage_in_context(&self, id: &str, context: usize) -> Result<(Vec<PassageRecord>, PassageRecord, Vec<PassageRecord>, DocRecord)> {
        let t = &self.tables;
        let mut c = self.client.borrow_mut();
        let doc = c
            .query_opt(
                &format!(
                    "SELECT d.doc_id, d.path, d.title, d.content_hash, d.date, d.url, d.n_passages, p.ordinal
                     FROM {} p JOIN {} d USING (doc_id) WHERE p.id = $1",
                    t.passages, t.documents
                ),
                &[&id],
            )?
            .ok_or_else(|| Error::NotFound(format!("no passage with id {id}; ids come from /api/ask results")))?;
        let at: i32 = doc.get("ordinal");
        let document = DocRecord {
            doc_id: doc.get("doc_id"),
            path: doc.get("path"),
            title: doc.get("title"),
            content_hash: doc.get("content_hash"),
            first_row: 0,
            n_passages: doc.get::<_, i32>("n_passages") as u32,
            date: doc.get("date"),
            url: doc.get("url"),
        };
        let rows = c.query(
            &format!(
                "SELECT id, doc_id, ordinal, line_start, line_end, byte_start, byte_end, n_tokens, section, text, NULL::bytea AS sentences
                 FROM {} WHERE doc_id = $1 AND ordinal BETWEEN $2 AND $3 ORDER BY ordinal",
                t.passages
            ),
            &[&document.doc_id, &(at - context as i32), &(at + context as i32)],
        )?;
        let (mut before, mut this, mut after) = (Vec::new(), None, Vec::new());
        for r in rows {
            let ordinal: i32 = r.get("ordinal");
            let record = passage_record(&r, 0);
            match ordinal.cmp(&at) {
                std::cmp::Ordering::Less => before.push(record),
                std::cmp::Ordering::Equal => this = Some(record),
                std::cmp::Ordering::Greater => after.push(record),
            }
        }
        let this = this.ok_or_else(|| Error::NotFound(format!("no passage with id {id}")))?;
        Ok((before, this, after, document))
    }

    /// The `k` best passages' documents with their scores, best first, ranked as `opts` says (`bench`).
    pub fn rank_documents(&self, q: &[f32], text: &str, opts: &Options) -> Result<Vec<(String, f32)>> {
        let mut pool = Pool::new(self);
        let ranked = self.retrieve(&mut pool, q, &search::lexical::parse(text), opts, &Scope { allowed: None, except: None })?;
        Ok(ranked.iter().map(|r| (pool.doc_ids[r.row as usize].clone(), r.score)).collect())
    }

    /// The ids of the `k` nearest passages, best first (`bench`'s ANN recall).
    pub fn nearest_passages(&self, q: &[f32], k: usize, strategy: Strategy) -> Result<Vec<String>> {
        let mut pool = Pool::new(self);
        let hits = self.semantic(&mut pool, q, k, strategy, &Scope { allowed: None, except: None }, None)?;
        Ok(hits.iter().map(|h| pool.ids[h.row as usize].clone()).collect())
    }

    /// The documents `filter` lets through (`None`: no filter), and the undated ones it left out.
    fn allowed(&self, filter: &search::Filter) -> Result<(Option<Vec<String>>, usize)> {
        if filter.is_empty() {
            return Ok((None, 0));
        }
        let admits = filter.admitter()?;
        let rows = self.client.borrow_mut().query(&format!("SELECT doc_id, path, date FROM {}", self.tables.documents), &[])?;
        let (mut ids, mut undated) = (Vec::new(), 0);
        for r in rows {
            let (id, path, date): (String, String, Option<String>) = (r.get(0), r.get(1), r.get(2));
            match admits(&id, &path, date.as_deref()) {
                search::filter::Admit::Yes => ids.push(id),
                search::filter::Admit::Undated => undated += 1,
                search::filter::Admit::No => {}
            }
        }
        Ok((Some(ids), undated))
    }

    fn search(&self, embedder: &Embedder, q: &[f32], question: &str, words: &LexicalQuery, opts: &Options, scope: Scope) -> Result<Vec<Found>> {
        let mut pool = Pool::new(self);
        let ranked = self.retrieve(&mut pool, q, words, &Options { k: opts.depth(), ..*opts }, &scope)?;
        search::shape_and_resolve(&pool, embedder, q, question, ranked, opts)
    }

    /// The ranking of one search, as `search::retrieve` ranks the local index: the semantic side
    /// by the server's vector search, the lexical side by BM25 over its full-text index, fused
    /// here by the same `search::fuse`. A required phrase restricts both sides.
    fn retrieve(&self, pool: &mut Pool, q: &[f32], words: &LexicalQuery, opts: &Options, scope: &Scope) -> Result<Vec<Ranked>> {
        let k = opts.k;
        let ts = TsQuery::of(words);
        let needs_lexical = (opts.mode != Mode::Semantic && ts.any.is_some()) || ts.required.is_some();
        if needs_lexical && self.meta.lexical_avg_length.is_none() {
            return Err(Error::Usage(format!(
                "collection {} was pushed by a semsearch without lexical search on the server; push it again (nothing is re-sent but the word statistics) or use --mode semantic",
                self.collection
            ))
            .into());
        }
        let depth = if opts.mode == Mode::Hybrid { k.max(search::FUSION_DEPTH) } else { k };
        let semantic = match opts.mode {
            Mode::Lexical => Vec::new(),
            _ => self.semantic(pool, q, depth, opts.strategy, scope, ts.required.as_deref())?,
        };
        // On a large collection, passages holding only its common words are not scored, as
        // locally (`LexicalQuery::selection`): the rare words select, all words score.
        let selecting = match (&ts.any, opts.mode) {
            (Some(_), Mode::Lexical | Mode::Hybrid) => self.selection(words)?,
            _ => None,
        };
        let matching = selecting.as_deref().or(ts.any.as_deref());
        let lexical = match (matching, opts.mode) {
            (Some(any), Mode::Lexical | Mode::Hybrid) => {
                let scored = self.bm25(Some(&mut *pool), &ts.words, any, scope, Lexical::Best(depth))?;
                scored.into_iter().map(|(id, score)| Hit { row: pool.by_id[&id], score }).collect()
            }
            _ => Vec::new(),
        };
        Ok(match opts.mode {
            Mode::Semantic => Ranked::from_side(&semantic, true),
            Mode::Lexical => Ranked::from_side(&lexical, false),
            Mode::Hybrid if lexical.is_empty() => Ranked::from_side(&semantic[..semantic.len().min(k)], true),
            Mode::Hybrid => {
                let any = matching.unwrap_or("");
                let pool = &*pool;
                let cosine = |r: u32| dot(q, pool.vector(r));
                let mut bm25_of = |rows: &[u32]| -> Result<Vec<Hit>> {
                    let ids: Vec<String> = rows.iter().map(|&r| pool.ids[r as usize].clone()).collect();
                    let scored = self.bm25(None, &ts.words, any, scope, Lexical::Of(ids))?;
                    Ok(scored.into_iter().map(|(id, score)| Hit { row: pool.by_id[&id], score }).collect())
                };
                let mut fused = search::fuse(&semantic, &lexical, opts.fusion, &cosine, &mut bm25_of)?;
                fused.truncate(k);
                fused
            }
        })
    }

    /// The `to_tsquery` text of the words that select the passages to score, when the question's
    /// words match too many passages together (see `LexicalQuery::selection`), from the document
    /// frequencies `push` counted.
    fn selection(&self, words: &LexicalQuery) -> Result<Option<String>> {
        if !words.may_select() {
            return Ok(None);
        }
        let rows = self.client.borrow_mut().query(
            &format!(
                "SELECT w, (SELECT coalesce(sum(df), 0)::int8 FROM {} WHERE lexeme = ANY(tsvector_to_array(to_tsvector('english', w))))
                 FROM unnest($1::text[]) AS w",
                self.tables.terms
            ),
            &[&words.words],
        )?;
        let df: HashMap<String, u64> = rows.iter().map(|r| (format!("\"{}\"", r.get::<_, String>(0)), r.get::<_, i64>(1) as u64)).collect();
        let split = words.selection(search::lexical::SCORED_BUDGET, &mut |literal: &str| Ok(df.get(literal).copied().unwrap_or(0)))?;
        Ok(split.map(|s| s.rare.join(" | ")))
    }

    /// The `k` passages nearest to `q`, added to `pool`, best first: through the HNSW index with
    /// `hnsw.ef_search` = ef (at least k: pgvector returns no more than its beam), or an exact scan
    /// (`Strategy::Exact`, and `Auto` under `search::EXACT_BELOW` passages, as locally). With
    /// `phrases`, only passages holding them.
    fn semantic(&self, pool: &mut Pool, q: &[f32], k: usize, strategy: Strategy, scope: &Scope, phrases: Option<&str>) -> Result<Vec<Hit>> {
        let t = &self.tables;
        let passages = match self.meta.passages {
            Some(n) => n,
            None => self.client.borrow_mut().query_one(&format!("SELECT count(*) FROM {}", t.passages), &[])?.get::<_, i64>(0) as usize,
        };
        let exact = match strategy {
            Strategy::Exact => true,
            Strategy::Auto { .. } => passages < search::EXACT_BELOW,
            Strategy::Hnsw { .. } => false,
        };
        let mut sql = Sql::default();
        let vector = sql.bind(Vector::from(q.to_vec()));
        let mut filter = sql.scope(scope);
        if let Some(p) = phrases {
            filter.push_str(&format!(" AND lexical @@ to_tsquery('english', {})", sql.bind(p.to_string())));
        }
        let limit = sql.bind(k as i64);
        let statement = format!(
            "SELECT * FROM (SELECT id, doc_id, embedding, embedding <=> {vector} AS distance FROM {passages}
                            WHERE {filter} ORDER BY embedding <=> {vector} LIMIT {limit}) h
             ORDER BY distance, id",
            passages = t.passages
        );
        let mut client = self.client.borrow_mut();
        let mut tx = client.transaction()?;
        if exact {
            tx.batch_execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off")?;
        } else {
            let ef = match strategy {
                Strategy::Auto { ef } | Strategy::Hnsw { ef } => ef,
                Strategy::Exact => unreachable!(),
            };
            // Through the graph as asked: on a small or freshly analysed table the planner may
            // otherwise prefer a sequential scan and sort (exact, and slower).
            tx.batch_execute(&format!("SET LOCAL hnsw.ef_search = {}; SET LOCAL enable_seqscan = off", ef.max(k).min(1000)))?;
            if filter != "TRUE" {
                // Filtered rows are skipped while the graph is walked, not after: k still come back.
                tx.batch_execute("SET LOCAL hnsw.iterative_scan = strict_order")?;
            }
        }
        let rows = tx.query(&statement, &sql.params())?;
        tx.commit()?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let row = pool.add(r.get("id"), r.get("doc_id"), r.get("embedding"));
                Hit { row, score: dot(q, pool.vector(row)) }
            })
            .collect())
    }

    /// BM25 scores (see `K1`) of the passages matching `tsquery` (`to_tsquery` text) within
    /// `scope`: the best `Lexical::Best(k)`, added to `pool`, or those of `Lexical::Of(ids)` that
    /// match. `words` are the question's words, BM25's query terms.
    fn bm25(&self, pool: Option<&mut Pool>, words: &str, tsquery: &str, scope: &Scope, which: Lexical) -> Result<Vec<(String, f32)>> {
        let t = &self.tables;
        let mut sql = Sql::default();
        let n = sql.bind(self.meta.passages.unwrap_or(0) as f64);
        let avg = sql.bind(self.meta.lexical_avg_length.unwrap_or(1.0).max(1.0));
        let words = sql.bind(words.to_string());
        let tsquery = sql.bind(tsquery.to_string());
        let mut filter = sql.scope(scope);
        let limit = match which {
            Lexical::Best(k) => format!("LIMIT {}", sql.bind(k as i64)),
            Lexical::Of(ids) => {
                filter.push_str(&format!(" AND id = ANY({})", sql.bind(ids)));
                String::new()
            }
        };
        let wide = pool.is_some();
        // Per matching passage, only the question's lexemes are unnested (`setweight` marks them,
        // `ts_filter` keeps the marked: both C loops over the tsvector) and summed in place, with each
        // lexeme's idf found by its position in the question's array: no row per lexeme of the
        // passage and no hash join and regrouping. At 220,000 passages, for words in 23,680 of
        // them: 75 ms, against 210–237 ms when every lexeme of each passage was unnested and joined
        // with the question's.
        let statement = format!(
            "WITH q AS (SELECT array_agg(lexeme) AS lx, array_agg(greatest(ln(({n}::float8 - df + 0.5) / (df + 0.5)), 1e-6)) AS idf
                        FROM {terms} WHERE lexeme = ANY(tsvector_to_array(to_tsvector('english', {words})))),
                  m AS (SELECT id, lexical FROM {passages} WHERE lexical @@ to_tsquery('english', {tsquery}) AND {filter}),
                  s AS (SELECT m.id, x.score FROM m CROSS JOIN q CROSS JOIN LATERAL (
                            SELECT sum(q.idf[array_position(q.lx, u.lexeme)] * cardinality(u.positions) * {k1_1}
                                       / (cardinality(u.positions) + {K1} * ({one_b} + {B} * length(m.lexical) / {avg}::float8))) AS score
                            FROM unnest(ts_filter(setweight(m.lexical, 'A', q.lx), '{{a}}')) u) x
                        WHERE x.score IS NOT NULL
                        ORDER BY x.score DESC, m.id {limit})
             SELECT s.id, s.score {columns} FROM s {join} ORDER BY s.score DESC, s.id",
            terms = t.terms,
            passages = t.passages,
            k1_1 = K1 + 1.0,
            one_b = 1.0 - B,
            columns = if wide { ", p.doc_id, p.embedding" } else { "" },
            join = if wide { format!("JOIN {} p USING (id)", t.passages) } else { String::new() },
        );
        let mut client = self.client.borrow_mut();
        let mut tx = client.transaction()?;
        // On a small collection the planner misjudges how many passages a tsquery matches and reads
        // them all (4–10 ms at 5,500 passages, against under 1.5 ms through the GIN index); on a
        // large one it picks the index itself.
        tx.batch_execute("SET LOCAL enable_seqscan = off")?;
        let rows = tx.query(&statement, &sql.params())?;
        tx.commit()?;
        drop(client);
        let mut out = Vec::with_capacity(rows.len());
        match pool {
            Some(pool) => {
                for r in rows {
                    let id: String = r.get(0);
                    pool.add(id.clone(), r.get(2), r.get(3));
                    out.push((id, r.get::<_, f64>(1) as f32));
                }
            }
            None => out.extend(rows.into_iter().map(|r| (r.get::<_, String>(0), r.get::<_, f64>(1) as f32))),
        }
        Ok(out)
    }
}

/// A passage as the server stores it (a row with its columns by name), numbered `row` here.
fn passage_record(r: &postgres::Row, row: u32) -> PassageRecord {
    PassageRecord {
        row,
        id: r.get("id"),
        doc_id: r.get("doc_id"),
        ordinal: r.get::<_, i32>("ordinal") as u32,
        line_start: r.get::<_, i32>("line_start") as u32,
        line_end: r.get::<_, i32>("line_end") as u32,
        byte_start: r.get::<_, i64>("byte_start") as u64,
        byte_end: r.get::<_, i64>("byte_end") as u64,
        n_tokens: r.get::<_, i32>("n_tokens") as u32,
        text: r.get("text"),
        section: r.get("section"),
        sentences: r.get("sentences"),
    }
}

/// Which passages `bm25` scores.
enum Lexical {
    /// The best `k`.
    Best(usize),
    /// These, where they match.
    Of(Vec<String>),
}
