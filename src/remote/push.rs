//! `semsearch push`: a local index to a collection on the server, in one transaction.
//!
//! Only documents whose content hash differs from the server's (or that it lacks) are sent, and
//! documents the local index no longer has are deleted, so a second push costs what changed. The
//! whole push is one transaction: a reader sees the previous state until it commits, and a push
//! that dies (killed, disconnected) leaves the previous state. Passages go by binary `COPY`, the
//! fastest way in; the HNSW and GIN indexes are maintained by the server as rows arrive.

use super::{check_meta, read_meta, Tables, SCHEMA_VERSION};
use crate::index::Index;
use crate::model::ModelInfo;
use anyhow::{Context, Result};
use pgvector::Vector;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{Kind, Type};
use postgres::Client;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// What a push did.
#[derive(Debug, Default, Serialize)]
pub struct PushSummary {
    /// The collection.
    pub collection: String,
    /// Documents there now.
    pub documents: usize,
    /// Passages there now.
    pub passages: usize,
    /// Documents sent (new or changed).
    pub documents_sent: usize,
    /// Their passages.
    pub passages_sent: usize,
    /// Documents deleted there (gone from the index).
    pub documents_deleted: usize,
    /// Documents already there as they are.
    pub documents_unchanged: usize,
    /// The collection's generation after the push.
    pub generation: u64,
    /// The push's wall time.
    pub seconds: f64,
}

/// Who pushes: a user publishing an index, or `bench`, which makes the collection a copy of the
/// benchmark's corpus (deleting every other document) and so may write only to a collection it
/// made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pusher {
    /// `semsearch push`.
    User,
    /// `semsearch bench --backend`.
    Bench,
}

/// Publishes `index` (built with `model`) into `collection`.
pub fn push(client: &mut Client, collection: &str, index: &Index, model: &ModelInfo, quiet: bool, pusher: Pusher) -> Result<PushSummary> {
    let started = Instant::now();
    let t = Tables::of(collection);
    let dim = model.dimensions;
    let hnsw = index.meta.hnsw;
    let mut tx = client.transaction()?;
    if pusher == Pusher::Bench {
        // A user's collection is never a benchmark's: refused before anything is written.
        if read_meta(&mut tx, &t)?.is_some_and(|m| !m.bench) {
            return Err(crate::error::Error::Usage(format!(
                "collection {collection} was not made by `semsearch bench`, and a benchmark would delete every document of it that is not in the benchmark's corpus; give bench another --collection (or none)"
            ))
            .into());
        }
    }
    tx.batch_execute("CREATE EXTENSION IF NOT EXISTS vector").context("the server has no pgvector (CREATE EXTENSION vector failed)")?;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {meta} (key text PRIMARY KEY, value text NOT NULL);
         CREATE TABLE IF NOT EXISTS {docs} (
             doc_id text PRIMARY KEY, path text NOT NULL, title text NOT NULL, content_hash text NOT NULL,
             date text, url text, n_passages integer NOT NULL, {title_lexical});
         CREATE TABLE IF NOT EXISTS {passages} (
             id text PRIMARY KEY, doc_id text NOT NULL REFERENCES {docs} ON DELETE CASCADE,
             ordinal integer NOT NULL, line_start integer NOT NULL, line_end integer NOT NULL,
             byte_start bigint NOT NULL, byte_end bigint NOT NULL, n_tokens integer NOT NULL,
             title text NOT NULL, section text NOT NULL, text text NOT NULL, sentences bytea,
             embedding vector({dim}) NOT NULL, {lexical});
         CREATE INDEX IF NOT EXISTS {by_doc} ON {passages} (doc_id);
         CREATE INDEX IF NOT EXISTS {hnsw_ix} ON {passages} USING hnsw (embedding vector_cosine_ops) WITH (m = {m}, ef_construction = {efc});
         CREATE TABLE IF NOT EXISTS {terms} (lexeme text PRIMARY KEY, df integer NOT NULL);
         LOCK TABLE {meta} IN EXCLUSIVE MODE;",
        meta = t.meta,
        docs = t.documents,
        passages = t.passages,
        by_doc = t.by_doc,
        hnsw_ix = t.hnsw,
        terms = t.terms,
        m = hnsw.m,
        efc = hnsw.ef_construction,
        title_lexical = title_lexical_column(),
        lexical = lexical_column(),
    ))?;
    let mut meta = read_meta(&mut tx, &t)?.unwrap_or_default();
    if meta.schema_version == Some(1) {
        // Version 1 indexed the title in every passage's `lexical`: the column is generated again
        // (PostgreSQL recomputes it from the stored text; no vector is touched) and the title gets
        // its own; the word statistics are recounted below.
        tx.batch_execute(&format!(
            "ALTER TABLE {passages} DROP COLUMN lexical; ALTER TABLE {passages} ADD COLUMN {lexical};
             ALTER TABLE {docs} ADD COLUMN {title_lexical};",
            passages = t.passages,
            docs = t.documents,
            lexical = lexical_column(),
            title_lexical = title_lexical_column(),
        ))?;
        meta.schema_version = Some(SCHEMA_VERSION);
        meta.lexical_avg_length = None;
    }
    tx.batch_execute(&format!(
        "CREATE INDEX IF NOT EXISTS {gin} ON {passages} USING gin (lexical);
         CREATE INDEX IF NOT EXISTS {title_gin} ON {docs} USING gin (title_lexical);
         CREATE TABLE IF NOT EXISTS {title_terms} (lexeme text PRIMARY KEY, df integer NOT NULL);",
        gin = t.gin,
        title_gin = t.title_gin,
        passages = t.passages,
        docs = t.documents,
        title_terms = t.title_terms,
    ))?;
    check_meta(&meta, collection, model)?;

    // What the server has, and what differs. Passages cut another way than the local ones are all
    // replaced (a document's hash says nothing of how it was cut).
    let chunking = serde_json::to_string(&index.meta.chunking)?;
    let recut = meta.chunking.as_ref().is_some_and(|c| *c != chunking);
    let remote: HashMap<String, String> = tx
        .query(&format!("SELECT doc_id, content_hash FROM {}", t.documents), &[])?
        .iter()
        .map(|r| (r.get(0), if recut { String::new() } else { r.get(1) }))
        .collect();
    let local = index.documents()?;
    let local_ids: HashSet<&str> = local.iter().map(|d| d.doc_id.as_str()).collect();
    let mut stale: Vec<String> = remote.keys().filter(|id| !local_ids.contains(id.as_str())).cloned().collect();
    let mut summary = PushSummary { collection: collection.to_string(), documents: local.len(), ..PushSummary::default() };
    summary.documents_deleted = stale.len();
    let send: Vec<&crate::index::DocRecord> = local
        .iter()
        .filter(|d| match remote.get(&d.doc_id) {
            Some(h) if *h == d.content_hash => {
                summary.documents_unchanged += 1;
                false
            }
            Some(_) => {
                stale.push(d.doc_id.clone());
                true
            }
            None => true,
        })
        .collect();
    if !stale.is_empty() {
        tx.execute(&format!("DELETE FROM {} WHERE doc_id = ANY($1)", t.documents), &[&stale])?;
    }

    let bar = crate::progress::bar(send.iter().map(|d| d.n_passages as u64).sum(), "pushing passages", quiet);
    if !send.is_empty() {
        let mut w = BinaryCopyInWriter::new(
            tx.copy_in(&format!("COPY {} (doc_id, path, title, content_hash, date, url, n_passages) FROM STDIN BINARY", t.documents))?,
            &[Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::INT4],
        );
        for d in &send {
            w.write(&[&d.doc_id, &d.path, &d.title, &d.content_hash, &d.date, &d.url, &(d.n_passages as i32)])?;
        }
        w.finish()?;
        let vector_type = vector_type(&mut tx)?;
        let mut w = BinaryCopyInWriter::new(
            tx.copy_in(&format!(
                "COPY {} (id, doc_id, ordinal, line_start, line_end, byte_start, byte_end, n_tokens, title, section, text, sentences, embedding) FROM STDIN BINARY",
                t.passages
            ))?,
            &[
                Type::TEXT,
                Type::TEXT,
                Type::INT4,
                Type::INT4,
                Type::INT4,
                Type::INT8,
                Type::INT8,
                Type::INT4,
                Type::TEXT,
                Type::TEXT,
                Type::TEXT,
                Type::BYTEA,
                vector_type,
            ],
        );
        for d in &send {
            for p in index.passages_of(d)? {
                let v = Vector::from(index.vector(p.row).to_vec());
                w.write(&[
                    &p.id,
                    &p.doc_id,
                    &(p.ordinal as i32),
                    &(p.line_start as i32),
                    &(p.line_end as i32),
                    &(p.byte_start as i64),
                    &(p.byte_end as i64),
                    &(p.n_tokens as i32),
                    &d.title,
                    &p.section,
                    &p.text,
                    &p.sentences,
                    &v,
                ])?;
                summary.passages_sent += 1;
                bar.inc(1);
            }
            summary.documents_sent += 1;
        }
        w.finish()?;
    }
    bar.finish_and_clear();
    summary.generation = meta.generation + 1;
    let totals = tx.query_one(
        &format!(
            "SELECT (SELECT count(*) FROM {p}), (SELECT coalesce(avg(length(lexical)), 0)::float8 FROM {p}),
                    (SELECT count(*) FROM {d}), (SELECT coalesce(avg(length(title_lexical)), 0)::float8 FROM {d})",
            p = t.passages,
            d = t.documents
        ),
        &[],
    )?;
    summary.passages = totals.get::<_, i64>(0) as usize;
    let avg_length: f64 = totals.get(1);
    let (documents, title_avg_length): (i64, f64) = (totals.get(2), totals.get(3));
    // BM25's document frequencies, recounted from the stored lexemes (ts_stat: one pass over the
    // tsvectors, ~40 ms per 5,000 passages; counting only what changed would need each removed
    // passage's lexemes, which the server no longer has once the rows are deleted).
    if summary.documents_sent > 0 || summary.documents_deleted > 0 || meta.lexical_avg_length.is_none() {
        tx.batch_execute(&format!(
            "DELETE FROM {terms}; INSERT INTO {terms} (lexeme, df) SELECT word, ndoc FROM ts_stat('SELECT lexical FROM {passages}');
             DELETE FROM {title_terms}; INSERT INTO {title_terms} (lexeme, df) SELECT word, ndoc FROM ts_stat('SELECT title_lexical FROM {docs}');",
            terms = t.terms,
            passages = t.passages.replace('\'', "''"),
            title_terms = t.title_terms,
            docs = t.documents.replace('\'', "''"),
        ))?;
    }
    let pairs = [
        ("schema_version", SCHEMA_VERSION.to_string()),
        ("model", model.name.clone()),
        ("weights_sha256", model.weights_sha256.clone()),
        ("dimensions", dim.to_string()),
        ("hnsw_m", hnsw.m.to_string()),
        ("hnsw_ef_construction", hnsw.ef_construction.to_string()),
        ("generation", summary.generation.to_string()),
        ("chunking", chunking),
        ("passages", summary.passages.to_string()),
        ("lexical_avg_length", avg_length.to_string()),
        ("documents", documents.to_string()),
        ("title_avg_length", title_avg_length.to_string()),
    ];
    if pusher == Pusher::Bench {
        tx.execute(&format!("INSERT INTO {} (key, value) VALUES ($1, 'true') ON CONFLICT (key) DO NOTHING", t.meta), &[&super::BENCH_MARK])?;
    }
    for (k, v) in pairs {
        tx.execute(&format!("INSERT INTO {} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", t.meta), &[&k, &v])?;
    }
    tx.commit().context("the push could not be committed; the collection is as before")?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// A passage's words for BM25: its section below its document's title (which has a field of its
/// own) and its text, CJK characters spaced apart, as the local index has them.
fn lexical_column() -> String {
    let section = format!(
        "CASE WHEN section = title THEN '' WHEN starts_with(section, title || '{sep}') THEN substr(section, char_length(title) + {n}) ELSE section END",
        sep = crate::index::SECTION_SEPARATOR,
        n = crate::index::SECTION_SEPARATOR.chars().count() + 1
    );
    format!(
        "lexical tsvector GENERATED ALWAYS AS (to_tsvector('english', {} || ' ' || {})) STORED",
        super::cjk_spaced_sql(&section),
        super::cjk_spaced_sql("text")
    )
}

/// A document's title, once.
fn title_lexical_column() -> String {
    format!("title_lexical tsvector GENERATED ALWAYS AS (to_tsvector('english', {})) STORED", super::cjk_spaced_sql("title"))
}

/// pgvector's `vector` type as this server numbers it (an extension's type has no fixed OID).
fn vector_type(tx: &mut postgres::Transaction) -> Result<Type> {
    let row = tx.query_one("SELECT t.oid, n.nspname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typname = 'vector'", &[])?;
    Ok(Type::new("vector".into(), row.get(0), Kind::Simple, row.get(1)))
}
