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

    /// `ask` against the server: semantic ranking (hybrid and lexical modes and filters are not
    /// served from a server yet, and say so).
    pub fn ask(&self, embedder: &Embedder, question: &str, opts: &Options, filter: &search::Filter) -> Result<Vec<Found>> {
        if question.trim().is_empty() {
            anyhow::bail!("the question is empty; ask something, e.g. semsearch ask \"what did Alibaba announce?\"");
        }
        if opts.mode != Mode::Semantic || !filter.is_empty() {
            return Err(Error::Usage("with --backend, only --mode semantic without --path/--doc/--since/--until is served so far; search the local index for the rest".into()).into());
        }
        let q = embedder.embed_one(question)?;
        let fetched = self.nearest(&q, opts.depth(), opts.strategy)?;
        let ranked: Vec<Ranked> = (0..fetched.passages.len())
            .map(|i| {
                let score = dot(&q, &fetched.vectors[i]);
                Ranked { row: i as u32, score, semantic: Some((i + 1, score)), lexical: None }
            })
            .collect();
        search::shape_and_resolve(&fetched, embedder, &q, question, ranked, opts)
    }

    /// The `k` passages nearest to `q`: through the HNSW index with `hnsw.ef_search` = ef (at
    /// least k: pgvector returns no more than its beam), or an exact scan (`Strategy::Exact`, and
    /// `Auto` under `search::EXACT_BELOW` passages, as locally).
    fn nearest(&self, q: &[f32], k: usize, strategy: Strategy) -> Result<Fetched> {
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
        }
        let rows = tx.query(
            &format!(
                "WITH hits AS (
                     SELECT id, doc_id, ordinal, line_start, line_end, byte_start, byte_end, n_tokens, section, text, sentences,
                            embedding, embedding <=> $1 AS distance
                     FROM {passages} ORDER BY embedding <=> $1 LIMIT $2)
                 SELECT h.*, d.path, d.title, d.date, d.url FROM hits h JOIN {docs} d USING (doc_id) ORDER BY h.distance, h.id",
                passages = t.passages,
                docs = t.documents
            ),
            &[&Vector::from(q.to_vec()), &(k as i64)],
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
