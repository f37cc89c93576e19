//! `semsearch push`: a local index into a collection on the server, as one source among others.
//!
//! A collection holds the documents of many sources (a colleague's folder, one machine's part of a
//! corpus). A push adds, replaces and deletes only its own source's documents, sending only those
//! whose content hash differs from the server's, so a second push costs what changed. Each push is
//! one transaction: a reader sees the previous state until it commits, and a push that dies
//! (killed, disconnected) leaves it. Passages go by binary `COPY`, the fastest way in; the HNSW and
//! GIN indexes are maintained by the server as rows arrive.
//!
//! Pushes of different sources run at once. Their documents and passages are different rows (the
//! source is part of every key); what they share, BM25's word statistics (`C_terms`,
//! `C_title_terms`: counted up by what a push adds and down by what it removes, so they stay exact
//! without a recount) and the generation, each push updates at its very end, in one statement per
//! table with its rows taken in lexeme order: concurrent pushes wait for each other only there, for
//! the time of a commit, and cannot deadlock. Two pushes of one source take turns (an advisory lock
//! on the source), as two writers of one folder would otherwise race.

use super::{check_meta, read_meta, SourceStats, Tables, SCHEMA_VERSION};
use crate::ann::HnswParams;
use crate::error::Error;
use crate::index::Index;
use crate::model::ModelInfo;
use anyhow::{Context, Result};
use pgvector::Vector;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{Kind, Type};
use postgres::{Client, Transaction};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

/// What a push did.
#[derive(Debug, Default, Serialize)]
pub struct PushSummary {
    /// The collection.
    pub collection: String,
    /// The source pushed (or deleted).
    pub source: String,
    /// Documents there now (every source).
    pub documents: usize,
    /// Passages there now (every source).
    pub passages: usize,
    /// Documents sent (new or changed).
    pub documents_sent: usize,
    /// Their passages.
    pub passages_sent: usize,
    /// Documents deleted there (gone from the index, or the source deleted).
    pub documents_deleted: usize,
    /// Documents already there as they are.
    pub documents_unchanged: usize,
    /// The collection's generation after the push.
    pub generation: u64,
    /// The push's wall time.
    pub seconds: f64,
}

/// Who pushes: a user publishing an index as a source, or `bench`, which makes the collection a
/// copy of the benchmark's corpus (deleting every other document, of every source) and so may
/// write only to a collection it made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pusher {
    /// `semsearch push`.
    User,
    /// `semsearch bench --backend`.
    Bench,
}

/// The source `bench` pushes as.
pub const BENCH_SOURCE: &str = "bench";

/// A source's name: any text a person can read (it is a value, never part of SQL text), at most
/// 200 characters, no control characters.
pub fn source_name(name: &str) -> Result<String> {
    if name.trim().is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Error::Usage(format!("source {name:?} is not a valid name; use up to 200 printable characters, e.g. --source laptop-ann")).into());
    }
    Ok(name.to_string())
}

/// The source a push from `index_dir` is without `--source`: this machine's name and the index's
/// folder (`ann-laptop:/home/ann/notes/.semsearch`), so two machines, or two indexes on one, never
/// overwrite each other, and `status --backend` says where each part came from.
pub fn default_source(index_dir: &std::path::Path) -> String {
    // The kernel's host name, as `hostname` prints it; no crate for one file read.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let dir = std::path::absolute(index_dir).unwrap_or_else(|_| index_dir.to_path_buf());
    let name: String = format!("{host}:{}", dir.display()).chars().filter(|c| !c.is_control()).collect();
    name.chars().take(200).collect()
}

/// Documents by key: parallel arrays of `doc_id` and `source`, as `unnest($1::text[], $2::text[])`
/// takes them.
#[derive(Default)]
struct DocKeys {
    doc_ids: Vec<String>,
    sources: Vec<String>,
}

impl DocKeys {
    fn push(&mut self, doc_id: &str, source: &str) {
        self.doc_ids.push(doc_id.to_string());
        self.sources.push(source.to_string());
    }
    fn len(&self) -> usize {
        self.doc_ids.len()
    }
}

/// What a set of documents holds, for the statistics a push keeps: per source, documents,
/// passages and the summed lexeme counts of passages and titles (BM25's lengths); and each
/// lexeme's number of passages (and of titles) holding it.
#[derive(Default)]
struct Counts {
    per_source: HashMap<String, SourceStats>,
    terms: HashMap<String, i64>,
    title_terms: HashMap<String, i64>,
}

impl Counts {
    /// Counted on the server, from the stored lexemes of `docs` (before they are deleted, or
    /// after they were sent).
    fn of(tx: &mut Transaction, t: &Tables, docs: &DocKeys) -> Result<Counts> {
        let mut c = Counts::default();
        if docs.len() == 0 {
            return Ok(c);
        }
        let keys = "(SELECT * FROM unnest($1::text[], $2::text[]) AS k(doc_id, source))";
        let params: [&(dyn postgres::types::ToSql + Sync); 2] = [&docs.doc_ids, &docs.sources];
        // Per source: rows, and the lexemes of `column` summed.
        let sums = |tx: &mut Transaction, table: &str, column: &str| -> Result<Vec<(String, i64, i64)>> {
            let sql =
                format!("SELECT x.source, count(*), coalesce(sum(length(x.{column})), 0)::int8 FROM {table} x JOIN {keys} k USING (doc_id, source) GROUP BY 1");
            Ok(tx.query(&sql, &params)?.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
        };
        for (source, n, length) in sums(tx, &t.documents, "title_lexical")? {
            let s = c.per_source.entry(source).or_default();
            (s.documents, s.title_length) = (n, length);
        }
        for (source, n, length) in sums(tx, &t.passages, "lexical")? {
            let s = c.per_source.entry(source).or_default();
            (s.passages, s.lexical_length) = (n, length);
        }
        let lexemes = |tx: &mut Transaction, table: &str, column: &str| -> Result<HashMap<String, i64>> {
            let sql =
                format!("SELECT u.lexeme, count(*) FROM {table} x JOIN {keys} k USING (doc_id, source) CROSS JOIN LATERAL unnest(x.{column}) u GROUP BY 1");
            Ok(tx.query(&sql, &params)?.iter().map(|r| (r.get(0), r.get(1))).collect())
        };
        c.terms = lexemes(tx, &t.passages, "lexical")?;
        c.title_terms = lexemes(tx, &t.documents, "title_lexical")?;
        Ok(c)
    }
}

/// Adds `added` and takes `removed` from a table of document frequencies, in one statement whose
/// rows are taken in lexeme order (every push takes them in that order: no deadlock), and drops
/// the lexemes no passage holds any more.
fn count_terms(tx: &mut Transaction, table: &str, added: &HashMap<String, i64>, removed: &HashMap<String, i64>) -> Result<()> {
    let mut delta: BTreeMap<&str, i64> = BTreeMap::new();
    for (w, n) in added {
        *delta.entry(w).or_default() += n;
    }
    for (w, n) in removed {
        *delta.entry(w).or_default() -= n;
    }
    delta.retain(|_, n| *n != 0);
    if delta.is_empty() {
        return Ok(());
    }
    let (words, counts): (Vec<&str>, Vec<i64>) = delta.into_iter().unzip();
    tx.execute(
        &format!(
            "INSERT INTO {table} (lexeme, df) SELECT w, n FROM unnest($1::text[], $2::int8[]) AS x(w, n) ORDER BY w
             ON CONFLICT (lexeme) DO UPDATE SET df = {table}.df + EXCLUDED.df"
        ),
        &[&words, &counts],
    )?;
    tx.execute(&format!("DELETE FROM {table} WHERE lexeme = ANY($1) AND df <= 0"), &[&words])?;
    Ok(())
}

/// Publishes `index` (built with `model`) into `collection` as `source`.
pub fn push(client: &mut Client, collection: &str, index: &Index, model: &ModelInfo, source: &str, quiet: bool, pusher: Pusher) -> Result<PushSummary> {
    let started = Instant::now();
    let t = Tables::of(collection);
    let source = source_name(source)?;
    prepare(client, collection, &t, model, index.meta.hnsw, &source, pusher)?;

    let mut tx = client.transaction()?;
    lock_source(&mut tx, collection, &source)?;
    let meta = read_meta(&mut tx, &t)?.ok_or_else(|| Error::NotFound(format!("collection {collection} was dropped while the push began")))?;
    check_meta(&meta, collection, model)?;

    // What the server has of this source (of every source, for bench), and what differs. Passages
    // cut another way than the local ones are all replaced (a document's hash says nothing of how
    // it was cut).
    let chunking = serde_json::to_string(&index.meta.chunking)?;
    let before = meta.sources.iter().find(|s| s.name == source).cloned().unwrap_or_default();
    let recut = before.chunking.as_ref().is_some_and(|c| *c != chunking);
    let (which, params): (&str, Vec<&(dyn postgres::types::ToSql + Sync)>) = match pusher {
        Pusher::User => ("WHERE source = $1", vec![&source]),
        Pusher::Bench => ("", vec![]),
    };
    let local = index.documents()?;
    let local_ids: HashSet<&str> = local.iter().map(|d| d.doc_id.as_str()).collect();
    let mut remote: HashMap<String, String> = HashMap::new();
    let mut stale = DocKeys::default();
    for r in tx.query(&format!("SELECT doc_id, source, content_hash FROM {} {which}", t.documents), &params)? {
        let (doc_id, from, hash): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        if from != source || !local_ids.contains(doc_id.as_str()) {
            stale.push(&doc_id, &from);
        } else {
            remote.insert(doc_id, if recut { String::new() } else { hash });
        }
    }
    let mut summary = PushSummary { collection: collection.to_string(), source: source.clone(), ..PushSummary::default() };
    summary.documents_deleted = stale.len();
    let send: Vec<&crate::index::DocRecord> = local
        .iter()
        .filter(|d| match remote.get(&d.doc_id) {
            Some(h) if *h == d.content_hash => {
                summary.documents_unchanged += 1;
                false
            }
            Some(_) => {
                stale.push(&d.doc_id, &source);
                true
            }
            None => true,
        })
        .collect();
    let removed = Counts::of(&mut tx, &t, &stale)?;
    delete_documents(&mut tx, &t, &stale)?;

    let bar = crate::progress::bar(send.iter().map(|d| d.n_passages as u64).sum(), "pushing passages", quiet);
    let mut sent = DocKeys::default();
    if !send.is_empty() {
        let mut w = BinaryCopyInWriter::new(
            tx.copy_in(&format!("COPY {} (doc_id, source, path, title, content_hash, date, url, n_passages) FROM STDIN BINARY", t.documents))?,
            &[Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::INT4],
        );
        for d in &send {
            w.write(&[&d.doc_id, &source, &d.path, &d.title, &d.content_hash, &d.date, &d.url, &(d.n_passages as i32)])?;
            sent.push(&d.doc_id, &source);
        }
        w.finish()?;
        let vector_type = vector_type(&mut tx)?;
        let mut w = BinaryCopyInWriter::new(
            tx.copy_in(&format!(
                "COPY {} (id, doc_id, source, ordinal, line_start, line_end, byte_start, byte_end, n_tokens, title, section, text, sentences, embedding) FROM STDIN BINARY",
                t.passages
            ))?,
            &[
                Type::TEXT,
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
                    &source,
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
    let added = Counts::of(&mut tx, &t, &sent)?;

    // The shared rows, last: word statistics, this source's figures, the generation.
    count_terms(&mut tx, &t.terms, &added.terms, &removed.terms)?;
    count_terms(&mut tx, &t.title_terms, &added.title_terms, &removed.title_terms)?;
    let mut after = before.clone();
    after.add(added.per_source.get(&source), 1);
    after.add(removed.per_source.get(&source), -1);
    tx.execute(
        &format!(
            "INSERT INTO {} (source, documents, passages, lexical_length, title_length, chunking, pushed_at) VALUES ($1, $2, $3, $4, $5, $6, now())
             ON CONFLICT (source) DO UPDATE SET documents = EXCLUDED.documents, passages = EXCLUDED.passages, lexical_length = EXCLUDED.lexical_length,
                 title_length = EXCLUDED.title_length, chunking = EXCLUDED.chunking, pushed_at = EXCLUDED.pushed_at",
            t.sources
        ),
        &[&source, &after.documents, &after.passages, &after.lexical_length, &after.title_length, &chunking],
    )?;
    if pusher == Pusher::Bench {
        // Every other source's documents were deleted above.
        tx.execute(&format!("DELETE FROM {} WHERE source <> $1", t.sources), &[&source])?;
    }
    finish(tx, &t, &mut summary)?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Removes every document of `source` from `collection` (`push --source NAME --delete`); the
/// other sources are not touched.
pub fn delete_source(client: &mut Client, collection: &str, source: &str) -> Result<PushSummary> {
    let started = Instant::now();
    let t = Tables::of(collection);
    let mut tx = client.transaction()?;
    lock_source(&mut tx, collection, source)?;
    let meta = read_meta(&mut tx, &t)?.ok_or_else(|| Error::NotFound(format!("the server has no collection {collection}")))?;
    if meta.schema_version != Some(SCHEMA_VERSION) {
        return Err(Error::Usage(format!(
            "collection {collection} has schema version {:?}; push to it with this semsearch first (it upgrades it)",
            meta.schema_version
        ))
        .into());
    }
    if !meta.sources.iter().any(|s| s.name == source) {
        let names: Vec<&str> = meta.sources.iter().map(|s| s.name.as_str()).collect();
        return Err(Error::NotFound(format!("collection {collection} has no source {source:?}; its sources: {}", names.join(", "))).into());
    }
    let mut stale = DocKeys::default();
    for r in tx.query(&format!("SELECT doc_id FROM {} WHERE source = $1", t.documents), &[&source])? {
        stale.push(r.get(0), source);
    }
    let removed = Counts::of(&mut tx, &t, &stale)?;
    tx.execute(&format!("DELETE FROM {} WHERE source = $1", t.documents), &[&source])?;
    let none = HashMap::new();
    count_terms(&mut tx, &t.terms, &none, &removed.terms)?;
    count_terms(&mut tx, &t.title_terms, &none, &removed.title_terms)?;
    tx.execute(&format!("DELETE FROM {} WHERE source = $1", t.sources), &[&source])?;
    let mut summary = PushSummary { collection: collection.to_string(), source: source.to_string(), documents_deleted: stale.len(), ..PushSummary::default() };
    finish(tx, &t, &mut summary)?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// One writer per source at a time: a second push of the same source waits for the first.
fn lock_source(tx: &mut Transaction, collection: &str, source: &str) -> Result<()> {
    tx.execute("SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))", &[&collection, &source])?;
    Ok(())
}

/// Deletes documents (their passages go with them: `ON DELETE CASCADE`).
fn delete_documents(tx: &mut Transaction, t: &Tables, docs: &DocKeys) -> Result<()> {
    if docs.len() > 0 {
        tx.execute(
            &format!("DELETE FROM {} WHERE (doc_id, source) IN (SELECT * FROM unnest($1::text[], $2::text[]))", t.documents),
            &[&docs.doc_ids, &docs.sources],
        )?;
    }
    Ok(())
}

/// Bumps the generation, reads the collection's totals into `summary`, and commits.
fn finish(mut tx: Transaction, t: &Tables, summary: &mut PushSummary) -> Result<()> {
    let generation: String =
        tx.query_one(&format!("UPDATE {} SET value = (value::int8 + 1)::text WHERE key = 'generation' RETURNING value", t.meta), &[])?.get(0);
    summary.generation = generation.parse().unwrap_or_default();
    let totals = tx.query_one(&format!("SELECT coalesce(sum(documents), 0)::int8, coalesce(sum(passages), 0)::int8 FROM {}", t.sources), &[])?;
    (summary.documents, summary.passages) = (totals.get::<_, i64>(0) as usize, totals.get::<_, i64>(1) as usize);
    tx.commit().context("the push could not be committed; the collection is as before")?;
    Ok(())
}

/// The key of the lock every setup on the server takes (any fixed number: "semsearc" in ASCII).
const SETUP_LOCK: i64 = 0x7365_6d73_6561_7263;

/// Creates the collection's tables, or upgrades an older layout (versions 1 and 2; nothing is
/// re-embedded or sent again), in a short transaction of its own under one lock for every setup:
/// two first pushes at once would otherwise race to create the same tables.
fn prepare(client: &mut Client, collection: &str, t: &Tables, model: &ModelInfo, hnsw: HnswParams, source: &str, pusher: Pusher) -> Result<()> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SETUP_LOCK])?;
    let meta = read_meta(&mut tx, t)?;
    if pusher == Pusher::Bench && meta.as_ref().is_some_and(|m| !m.bench) {
        // A user's collection is never a benchmark's: refused before anything is written.
        return Err(Error::Usage(format!(
            "collection {collection} was not made by `semsearch bench`, and a benchmark would delete every document of it that is not in the benchmark's corpus; give bench another --collection (or none)"
        ))
        .into());
    }
    match meta.as_ref().map(|m| m.schema_version) {
        None => {
            tx.batch_execute("CREATE EXTENSION IF NOT EXISTS vector").context("the server has no pgvector (CREATE EXTENSION vector failed)")?;
            create(&mut tx, t, model.dimensions, hnsw)?;
        }
        Some(Some(1)) => {
            upgrade_from_1(&mut tx, t)?;
            upgrade_from_2(&mut tx, t, source)?;
        }
        Some(Some(2)) => upgrade_from_2(&mut tx, t, source)?,
        _ => {}
    }
    if let Some(mut m) = meta {
        if matches!(m.schema_version, Some(1 | 2)) {
            m.schema_version = Some(SCHEMA_VERSION);
        }
        check_meta(&m, collection, model)?;
    }
    let pairs = [
        ("model", model.name.clone()),
        ("weights_sha256", model.weights_sha256.clone()),
        ("dimensions", model.dimensions.to_string()),
        ("precision", model.precision.to_string()),
        ("hnsw_m", hnsw.m.to_string()),
        ("hnsw_ef_construction", hnsw.ef_construction.to_string()),
        ("generation", "0".into()),
    ];
    let set = format!("INSERT INTO {} (key, value) VALUES ($1, $2) ON CONFLICT (key)", t.meta);
    for (k, v) in pairs {
        tx.execute(&format!("{set} DO NOTHING"), &[&k, &v])?;
    }
    tx.execute(&format!("{set} DO UPDATE SET value = EXCLUDED.value"), &[&"schema_version", &SCHEMA_VERSION.to_string()])?;
    if pusher == Pusher::Bench {
        tx.execute(&format!("{set} DO NOTHING"), &[&super::BENCH_MARK, &"true"])?;
    }
    tx.commit()?;
    Ok(())
}

/// The tables of a new collection. Every key holds `doc_id`, the column a distributed PostgreSQL
/// (Citus) would shard documents and passages by, so a document and its passages live together;
/// `C_meta`, `C_sources` and the word statistics are small tables it would copy to every node
/// (README, "A distributed PostgreSQL").
fn create(tx: &mut Transaction, t: &Tables, dim: usize, hnsw: HnswParams) -> Result<()> {
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {meta} (key text PRIMARY KEY, value text NOT NULL);
         CREATE TABLE IF NOT EXISTS {docs} (
             doc_id text NOT NULL, source text NOT NULL, path text NOT NULL, title text NOT NULL, content_hash text NOT NULL,
             date text, url text, n_passages integer NOT NULL, {title_lexical}, PRIMARY KEY (doc_id, source));
         CREATE TABLE IF NOT EXISTS {passages} (
             id text NOT NULL, doc_id text NOT NULL, source text NOT NULL,
             ordinal integer NOT NULL, line_start integer NOT NULL, line_end integer NOT NULL,
             byte_start bigint NOT NULL, byte_end bigint NOT NULL, n_tokens integer NOT NULL,
             title text NOT NULL, section text NOT NULL, text text NOT NULL, sentences bytea,
             embedding vector({dim}) NOT NULL, {lexical},
             PRIMARY KEY (doc_id, source, id), FOREIGN KEY (doc_id, source) REFERENCES {docs} (doc_id, source) ON DELETE CASCADE);
         CREATE INDEX IF NOT EXISTS {hnsw_ix} ON {passages} USING hnsw (embedding vector_cosine_ops) WITH (m = {m}, ef_construction = {efc});
         CREATE INDEX IF NOT EXISTS {gin} ON {passages} USING gin (lexical);
         CREATE INDEX IF NOT EXISTS {title_gin} ON {docs} USING gin (title_lexical);
         CREATE TABLE IF NOT EXISTS {terms} (lexeme text PRIMARY KEY, df integer NOT NULL);
         CREATE TABLE IF NOT EXISTS {title_terms} (lexeme text PRIMARY KEY, df integer NOT NULL);",
        meta = t.meta,
        docs = t.documents,
        passages = t.passages,
        hnsw_ix = t.hnsw,
        gin = t.gin,
        title_gin = t.title_gin,
        terms = t.terms,
        title_terms = t.title_terms,
        m = hnsw.m,
        efc = hnsw.ef_construction,
        title_lexical = title_lexical_column(),
        lexical = lexical_column(),
    ))?;
    create_source_tables(tx, t)
}

/// What version 3 added beside the documents: the sources and their figures, the indexes by
/// passage id and by source.
fn create_source_tables(tx: &mut Transaction, t: &Tables) -> Result<()> {
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {sources} (
             source text PRIMARY KEY, documents bigint NOT NULL, passages bigint NOT NULL,
             lexical_length bigint NOT NULL, title_length bigint NOT NULL, chunking text, pushed_at timestamptz NOT NULL);
         CREATE INDEX IF NOT EXISTS {by_id} ON {passages} (id);
         CREATE INDEX IF NOT EXISTS {by_source} ON {docs} (source);",
        sources = t.sources,
        by_id = t.by_id,
        by_source = t.by_source,
        passages = t.passages,
        docs = t.documents,
    ))?;
    Ok(())
}

/// Version 1 indexed the title in every passage's `lexical`: the column is generated again
/// (PostgreSQL recomputes it from the stored text; no vector is touched), the title gets its own,
/// and the word statistics are counted afresh.
fn upgrade_from_1(tx: &mut Transaction, t: &Tables) -> Result<()> {
    tx.batch_execute(&format!(
        "ALTER TABLE {passages} DROP COLUMN lexical; ALTER TABLE {passages} ADD COLUMN {lexical};
         ALTER TABLE {docs} ADD COLUMN {title_lexical};
         CREATE INDEX IF NOT EXISTS {gin} ON {passages} USING gin (lexical);
         CREATE INDEX IF NOT EXISTS {title_gin} ON {docs} USING gin (title_lexical);
         CREATE TABLE IF NOT EXISTS {title_terms} (lexeme text PRIMARY KEY, df integer NOT NULL);
         DELETE FROM {terms}; INSERT INTO {terms} (lexeme, df) SELECT word, ndoc FROM ts_stat('SELECT lexical FROM {passages_lit}');
         DELETE FROM {title_terms}; INSERT INTO {title_terms} (lexeme, df) SELECT word, ndoc FROM ts_stat('SELECT title_lexical FROM {docs_lit}');",
        passages = t.passages,
        docs = t.documents,
        gin = t.gin,
        title_gin = t.title_gin,
        terms = t.terms,
        title_terms = t.title_terms,
        passages_lit = t.passages.replace('\'', "''"),
        docs_lit = t.documents.replace('\'', "''"),
        lexical = lexical_column(),
        title_lexical = title_lexical_column(),
    ))?;
    Ok(())
}

/// Version 2 was one index's mirror: its documents become the source of the push that upgrades it
/// (which, under version 2, would have owned them all). `source` is added with a constant default
/// (PostgreSQL stores that in the catalogue: no row, vector or index entry is rewritten), the keys
/// are rebuilt with it, and the figures that were the collection's become that source's.
fn upgrade_from_2(tx: &mut Transaction, t: &Tables, source: &str) -> Result<()> {
    let literal = format!("'{}'", source.replace('\'', "''"));
    let mut sql = format!(
        "ALTER TABLE {docs} ADD COLUMN source text NOT NULL DEFAULT {literal}; ALTER TABLE {docs} ALTER COLUMN source DROP DEFAULT;
         ALTER TABLE {passages} ADD COLUMN source text NOT NULL DEFAULT {literal}; ALTER TABLE {passages} ALTER COLUMN source DROP DEFAULT;",
        docs = t.documents,
        passages = t.passages,
    );
    // The keys of version 2 (`id`; `doc_id`; the passages' reference), by the names the server gave them.
    for (table, kinds) in [(&t.passages, vec!["f", "p"]), (&t.documents, vec!["p"])] {
        for r in
            tx.query("SELECT conname::text FROM pg_constraint WHERE conrelid = $1::text::regclass AND contype::text = ANY($2::text[])", &[table, &kinds])?
        {
            sql.push_str(&format!("ALTER TABLE {table} DROP CONSTRAINT \"{}\";", r.get::<_, String>(0).replace('"', "\"\"")));
        }
    }
    sql.push_str(&format!(
        "ALTER TABLE {docs} ADD PRIMARY KEY (doc_id, source);
         ALTER TABLE {passages} ADD PRIMARY KEY (doc_id, source, id),
             ADD FOREIGN KEY (doc_id, source) REFERENCES {docs} (doc_id, source) ON DELETE CASCADE;
         DROP INDEX IF EXISTS {by_doc};",
        docs = t.documents,
        passages = t.passages,
        by_doc = t.by_doc,
    ));
    tx.batch_execute(&sql)?;
    create_source_tables(tx, t)?;
    let chunking: Option<String> = tx.query_opt(&format!("SELECT value FROM {} WHERE key = 'chunking'", t.meta), &[])?.map(|r| r.get(0));
    tx.execute(
        &format!(
            "INSERT INTO {sources} (source, documents, passages, lexical_length, title_length, chunking, pushed_at)
             SELECT $1, (SELECT count(*) FROM {docs}), (SELECT count(*) FROM {passages}), (SELECT coalesce(sum(length(lexical)), 0)::int8 FROM {passages}),
                    (SELECT coalesce(sum(length(title_lexical)), 0)::int8 FROM {docs}), $2, now()
             WHERE EXISTS (SELECT 1 FROM {docs})",
            sources = t.sources,
            docs = t.documents,
            passages = t.passages,
        ),
        &[&source, &chunking],
    )?;
    tx.execute(&format!("DELETE FROM {} WHERE key IN ('passages', 'lexical_avg_length', 'documents', 'title_avg_length', 'chunking')", t.meta), &[])?;
    Ok(())
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
