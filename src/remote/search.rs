//! Searching a collection on the server: the question embedded here, the nearest passages found by
//! the server (pgvector's HNSW index, or an exact scan), then shaped and answered by the code the
//! local index uses (`search::shape_and_resolve` over the fetched candidates).

use super::{check_meta, conn, read_meta, CollectionMeta, Tables};
use crate::ann::dot;
use crate::embed::Embedder;
use crate::error::Error;
use crate::index::{Passage, PassageRecord};
use crate::search::{self, Candidates, Found, Mode, Options, Ranked, Strategy};
use anyhow::Result;
use pgvector::Vector;
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

fn semantic_only(mode: Mode) -> Result<()> {
    if mode != Mode::Semantic {
        return Err(Error::Usage("with --backend, only --mode semantic is served so far; search the local index for hybrid and lexical".into()).into());
    }
    Ok(())
}

/// Passages the server returned for one search, numbered 0.. in the order it ranked them.
struct Fetched {
    name: String,
    passages: Vec<Passage>,
    vectors: Vec<Vec<f32>>,
    documents: Vec<u32>,
}

impl Candidates for Fetched {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn vector(&self, row: u32) -> &[f32] {
        &self.vectors[row as usize]
    }
    fn document_of(&self, row: u32) -> Result<u32> {
        Ok(self.documents[row as usize])
    }
    fn passage(&self, row: u32) -> Result<Option<Passage>> {
        Ok(self.passages.get(row as usize).cloned())
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

    /// `ask` against the server, semantic ranking (hybrid and lexical mode are not served from a
    /// server yet, and say so), filters applied inside the search. Also returns how many undated
    /// documents a date filter left out.
    pub fn ask(&self, embedder: &Embedder, question: &str, opts: &Options, filter: &search::Filter) -> Result<(Vec<Found>, usize)> {
        search::check_question(question)?;
        semantic_only(opts.mode)?;
        let (allowed, undated) = self.allowed(filter)?;
        let q = embedder.embed_one(question)?;
        let found = self.search(embedder, &q, question, opts, Scope { allowed: allowed.as_deref(), except: None })?;
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
                semantic_only(opts.mode)?;
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
        // From a stored passage: leave out its document, or (with same_doc) only itself.
        let except = except.map(|(doc, id)| if same_doc { Except::Passage(id) } else { Except::Document(doc) });
        let found = self.search(embedder, &q, &question, opts, Scope { allowed: allowed.as_deref(), except: except.as_ref() })?;
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
        let mut m = serde_json::Map::new();
        m.insert("backend".into(), json!(self.url));
        m.insert("collection".into(), json!(self.collection));
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

    /// The `k` nearest passages' documents with their cosines, best first (`bench`).
    pub fn nearest_documents(&self, q: &[f32], k: usize, strategy: Strategy) -> Result<Vec<(String, f32)>> {
        let f = self.nearest(q, k, strategy, &Scope { allowed: None, except: None })?;
        Ok(f.passages.into_iter().zip(&f.vectors).map(|(p, v)| (p.record.doc_id, dot(q, v))).collect())
    }

    /// The ids of the `k` nearest passages, best first (`bench`'s ANN recall).
    pub fn nearest_passages(&self, q: &[f32], k: usize, strategy: Strategy) -> Result<Vec<String>> {
        Ok(self.nearest(q, k, strategy, &Scope { allowed: None, except: None })?.passages.into_iter().map(|p| p.record.id).collect())
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

    fn search(&self, embedder: &Embedder, q: &[f32], question: &str, opts: &Options, scope: Scope) -> Result<Vec<Found>> {
        let fetched = self.nearest(q, opts.depth(), opts.strategy, &scope)?;
        let ranked: Vec<Ranked> = (0..fetched.passages.len())
            .map(|i| {
                let score = dot(q, &fetched.vectors[i]);
                Ranked { row: i as u32, score, semantic: Some((i + 1, score)), lexical: None }
            })
            .collect();
        search::shape_and_resolve(&fetched, embedder, q, question, ranked, opts)
    }

    /// The `k` passages nearest to `q`: through the HNSW index with `hnsw.ef_search` = ef (at
    /// least k: pgvector returns no more than its beam), or an exact scan (`Strategy::Exact`, and
    /// `Auto` under `search::EXACT_BELOW` passages, as locally).
    fn nearest(&self, q: &[f32], k: usize, strategy: Strategy, scope: &Scope) -> Result<Fetched> {
        let t = &self.tables;
        let mut client = self.client.borrow_mut();
        let mut tx = client.transaction()?;
        let passages: i64 = tx.query_one(&format!("SELECT count(*) FROM {}", t.passages), &[])?.get(0);
        let exact = match strategy {
            Strategy::Exact => true,
            Strategy::Auto { .. } => (passages as usize) < search::EXACT_BELOW,
            Strategy::Hnsw { .. } => false,
        };
        if exact {
            tx.batch_execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off")?;
        } else {
            let ef = match strategy {
                Strategy::Auto { ef } | Strategy::Hnsw { ef } => ef,
                Strategy::Exact => unreachable!(),
            };
            tx.batch_execute(&format!("SET LOCAL hnsw.ef_search = {}", ef.max(k).min(1000)))?;
            if scope.allowed.is_some() || scope.except.is_some() {
                // Filtered rows are skipped while the graph is walked, not after: k still come back.
                tx.batch_execute("SET LOCAL hnsw.iterative_scan = strict_order")?;
            }
        }
        let vector = Vector::from(q.to_vec());
        let limit = k as i64;
        let none: Vec<String> = Vec::new();
        let allowed = scope.allowed.map(|a| a.to_vec()).unwrap_or(none);
        let (except_doc, except_id) = match scope.except {
            Some(Except::Document(d)) => (d.clone(), String::new()),
            Some(Except::Passage(p)) => (String::new(), p.clone()),
            None => (String::new(), String::new()),
        };
        let restricted = scope.allowed.is_some();
        let rows = tx.query(
            &format!(
                "WITH hits AS (
                     SELECT id, doc_id, ordinal, line_start, line_end, byte_start, byte_end, n_tokens, section, text, sentences,
                            embedding, embedding <=> $1 AS distance
                     FROM {passages}
                     WHERE ($3 = false OR doc_id = ANY($4)) AND doc_id <> $5 AND id <> $6
                     ORDER BY embedding <=> $1 LIMIT $2)
                 SELECT h.*, d.path, d.title, d.date, d.url FROM hits h JOIN {docs} d USING (doc_id) ORDER BY h.distance, h.id",
                passages = t.passages,
                docs = t.documents
            ),
            &[&vector, &limit, &restricted, &allowed, &except_doc, &except_id],
        )?;
        tx.commit()?;
        let mut fetched = Fetched { name: format!("{} collection {}", self.url, self.collection), passages: Vec::new(), vectors: Vec::new(), documents: Vec::new() };
        let mut doc_numbers: HashMap<String, u32> = HashMap::new();
        for (i, r) in rows.iter().enumerate() {
            let doc_id: String = r.get("doc_id");
            let n = doc_numbers.len() as u32;
            fetched.documents.push(*doc_numbers.entry(doc_id.clone()).or_insert(n));
            let v: Vector = r.get("embedding");
            fetched.vectors.push(v.to_vec());
            fetched.passages.push(Passage {
                record: PassageRecord {
                    row: i as u32,
                    id: r.get("id"),
                    doc_id,
                    ordinal: r.get::<_, i32>("ordinal") as u32,
                    line_start: r.get::<_, i32>("line_start") as u32,
                    line_end: r.get::<_, i32>("line_end") as u32,
                    byte_start: r.get::<_, i64>("byte_start") as u64,
                    byte_end: r.get::<_, i64>("byte_end") as u64,
                    n_tokens: r.get::<_, i32>("n_tokens") as u32,
                    text: r.get("text"),
                    section: r.get("section"),
                    sentences: r.get("sentences"),
                },
                path: r.get("path"),
                title: r.get("title"),
                date: r.get("date"),
                url: r.get("url"),
            });
        }
        Ok(fetched)
    }
}
