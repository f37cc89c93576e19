//! A second home for an index: a collection on a PostgreSQL server with pgvector, which a team
//! shares. The model stays where the user is (questions and passages are embedded locally);
//! storage and search move to the server. `push` publishes a local index to it, incrementally and
//! in one transaction; `Remote` is a `store::Store`, so `search` ranks, shapes and answers its
//! candidates with the code it runs over the local index, and the results read the same.
//!
//! Tables, named after the collection `C`: `C_meta` (schema version, model name and checksum,
//! dimensions, graph parameters, generation), `C_sources` (each source's documents, passages and
//! BM25 lengths), `C_documents` and `C_passages` keyed by (`doc_id`, `source`[, `id`]) (passages
//! with `embedding vector(D)` under an HNSW index, `vector_cosine_ops`, the local graph's M and
//! ef_construction, and a generated `lexical tsvector` of its section and text under a GIN index),
//! `C_terms` (each lexeme's document frequency, for BM25); a document's title is indexed once, in
//! `C_documents.title_lexical`, with `C_title_terms` its frequencies over documents.

pub mod conn;
mod push;
mod search;
pub mod tls;

pub use push::{default_source, delete_source, push, source_name, PushSummary, Pusher, BENCH_SOURCE};
pub use search::Remote;

use crate::error::Error;
use anyhow::Result;

/// The layout of the tables; a collection of another version is refused, not guessed at (a push
/// upgrades version 1).
/// 1: passages' `lexical` held their document's title.
/// 2: the title once per document (`title_lexical`, `C_title_terms`), CJK characters spaced apart.
/// 3: sources (`source` in every key, `C_sources`); word statistics counted up and down by each
///    push instead of recounted.
pub const SCHEMA_VERSION: u32 = 3;

/// A collection name: it becomes part of table names, so only lowercase letters, digits and `_`.
pub fn collection_name(name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !ok {
        return Err(Error::Usage(format!(
            "collection {name:?} is not a valid name; use lowercase letters, digits and _ (at most 40, not starting with a digit), e.g. --collection team_news"
        ))
        .into());
    }
    Ok(name.to_string())
}

/// The default collection of an index directory: the directory's name, or for `.semsearch` the
/// name of the folder holding it, made a valid name.
pub fn default_collection(index_dir: &std::path::Path) -> String {
    let abs = std::path::absolute(index_dir).unwrap_or_else(|_| index_dir.to_path_buf());
    let name = abs.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let name = if name == crate::index::DEFAULT_DIR {
        abs.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    } else {
        name
    };
    let mut out: String = name.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    out.truncate(40);
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out = format!("c_{out}");
        out.truncate(40);
    }
    out
}

/// The collections on the server `client` is connected to: each `C` with tables `C_meta` and
/// `C_passages` in the current schema, by name.
pub fn collections(client: &mut postgres::Client) -> Result<Vec<String>> {
    let rows = client.query(
        "SELECT left(m.table_name, -5) FROM information_schema.tables m \
         JOIN information_schema.tables p ON p.table_schema = m.table_schema AND p.table_name = left(m.table_name, -5) || '_passages' \
         WHERE m.table_schema = current_schema() AND m.table_name LIKE '%\\_meta' ORDER BY 1",
        &[],
    )?;
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).filter(|c| collection_name(c).is_ok()).collect())
}

/// The collection a search (`ask`, `related`, `serve`, `mcp`, `status`) reads on the server at
/// `url`: the one `--collection` names; else the one named after the index folder
/// (`default_collection`) when the server has it; else the server's only collection. A server with
/// none, or with several and none of that name, is an error that lists them.
pub fn collection_to_read(url: &str, given: Option<&str>, index_dir: &std::path::Path) -> Result<String> {
    if let Some(name) = given {
        return collection_name(name);
    }
    let mut client = conn::connect(url)?;
    let all = collections(&mut client)?;
    let default = default_collection(index_dir);
    if all.contains(&default) {
        return Ok(default);
    }
    match &all[..] {
        [only] => Ok(only.clone()),
        [] => Err(Error::NotFound(format!("{} holds no collection; publish one with `semsearch push --to URL`", conn::redact(url))).into()),
        several => Err(Error::NotFound(format!(
            "{} holds {} collections and none is named {default} (after the index folder): {}; choose one with --collection NAME",
            conn::redact(url),
            several.len(),
            several.join(", ")
        ))
        .into()),
    }
}

/// Table names of a collection (quoted identifiers; the name is checked by `collection_name`).
pub(crate) struct Tables {
    pub meta: String,
    pub documents: String,
    pub passages: String,
    pub hnsw: String,
    pub gin: String,
    /// Version 2's index of passages by document (the keys of version 3 begin with the document).
    pub by_doc: String,
    /// Passages by id (`related ID`).
    pub by_id: String,
    /// Documents by source.
    pub by_source: String,
    /// Each source's figures.
    pub sources: String,
    /// BM25's document frequency of each lexeme (`lexeme`, `df`), counted up and down by every push.
    pub terms: String,
    /// The same over the documents' titles.
    pub title_terms: String,
    /// The GIN index of the documents' titles.
    pub title_gin: String,
}

impl Tables {
    pub fn of(collection: &str) -> Tables {
        Tables {
            meta: format!("\"{collection}_meta\""),
            documents: format!("\"{collection}_documents\""),
            passages: format!("\"{collection}_passages\""),
            hnsw: format!("\"{collection}_passages_hnsw\""),
            gin: format!("\"{collection}_passages_lexical\""),
            by_doc: format!("\"{collection}_passages_doc\""),
            by_id: format!("\"{collection}_passages_id\""),
            by_source: format!("\"{collection}_documents_source\""),
            sources: format!("\"{collection}_sources\""),
            terms: format!("\"{collection}_terms\""),
            title_terms: format!("\"{collection}_title_terms\""),
            title_gin: format!("\"{collection}_documents_title\""),
        }
    }
}

/// What a collection says about itself (`C_meta`).
#[derive(Debug, Clone, Default)]
pub struct CollectionMeta {
    /// The table layout's version.
    pub schema_version: Option<u32>,
    /// The model the vectors were made with.
    pub model: Option<String>,
    /// Its weights' SHA-256.
    pub weights_sha256: Option<String>,
    /// Dimensions of a vector.
    pub dimensions: Option<usize>,
    /// How the vectors were computed; absent in a collection pushed before int8 (f32).
    pub precision: Option<crate::model::Precision>,
    /// How the passages were cut (the local manifest's chunking, as JSON), where every source
    /// cut them alike.
    pub chunking: Option<String>,
    /// Bumped by every push.
    pub generation: u64,
    /// Passages, over every source.
    pub passages: Option<usize>,
    /// Mean lexemes per passage (BM25's average length); absent in a collection pushed before
    /// lexical search on the server.
    pub lexical_avg_length: Option<f64>,
    /// Documents (N of the titles' BM25).
    pub documents: Option<usize>,
    /// Mean lexemes per title.
    pub title_avg_length: Option<f64>,
    /// The sources (schema 3), by name.
    pub sources: Vec<SourceStats>,
    /// Whether `bench` made it (`BENCH_MARK`): only such a collection may a bench push into.
    pub bench: bool,
}

/// A source's row of `C_sources`: what it holds, kept by its pushes.
#[derive(Debug, Clone, Default)]
pub struct SourceStats {
    /// Its name (`push --source`).
    pub name: String,
    /// Its documents.
    pub documents: i64,
    /// Their passages.
    pub passages: i64,
    /// The passages' lexemes, summed (BM25's lengths).
    pub lexical_length: i64,
    /// The titles' lexemes, summed.
    pub title_length: i64,
    /// How its passages were cut (JSON).
    pub chunking: Option<String>,
    /// When it was last pushed (the server's clock, RFC 3339).
    pub pushed_at: Option<String>,
}

impl SourceStats {
    /// Adds (`sign` 1) or takes away (-1) another count's figures.
    pub(crate) fn add(&mut self, other: Option<&SourceStats>, sign: i64) {
        if let Some(o) = other {
            self.documents += sign * o.documents;
            self.passages += sign * o.passages;
            self.lexical_length += sign * o.lexical_length;
            self.title_length += sign * o.title_length;
        }
    }
}

/// The meta key that marks a collection `bench` made.
pub(crate) const BENCH_MARK: &str = "bench";

/// `read_meta` for a reader, in one read-only snapshot: `C_meta` and `C_sources` as one push
/// left them (in separate statements a push committing between them would pair one push's
/// generation and model with another's sources and BM25 statistics).
pub(crate) fn read_meta_snapshot(client: &mut postgres::Client, t: &Tables) -> Result<Option<CollectionMeta>> {
    let mut tx = client.build_transaction().isolation_level(postgres::IsolationLevel::RepeatableRead).read_only(true).start()?;
    let meta = read_meta(&mut tx, t)?;
    tx.commit()?;
    Ok(meta)
}

pub(crate) fn read_meta(client: &mut impl postgres::GenericClient, t: &Tables) -> Result<Option<CollectionMeta>> {
    let exists: bool = client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&t.meta])?.get(0);
    if !exists {
        return Ok(None);
    }
    let mut m = CollectionMeta::default();
    for row in client.query(&format!("SELECT key, value FROM {}", t.meta), &[])? {
        let (k, v): (String, String) = (row.get(0), row.get(1));
        match k.as_str() {
            "schema_version" => m.schema_version = v.parse().ok(),
            "model" => m.model = Some(v),
            "weights_sha256" => m.weights_sha256 = Some(v),
            "dimensions" => m.dimensions = v.parse().ok(),
            "precision" => m.precision = v.parse().ok(),
            "generation" => m.generation = v.parse().unwrap_or(0),
            "chunking" => m.chunking = Some(v),
            "passages" => m.passages = v.parse().ok(),
            "lexical_avg_length" => m.lexical_avg_length = v.parse().ok(),
            "documents" => m.documents = v.parse().ok(),
            "title_avg_length" => m.title_avg_length = v.parse().ok(),
            BENCH_MARK => m.bench = v == "true",
            _ => {}
        }
    }
    if m.schema_version == Some(SCHEMA_VERSION) {
        // The collection's figures are its sources' (each push keeps its own row).
        let sql = format!(
            "SELECT source, documents, passages, lexical_length, title_length, chunking, to_char(pushed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM {} ORDER BY source",
            t.sources
        );
        for r in client.query(&sql, &[])? {
            m.sources.push(SourceStats {
                name: r.try_get(0)?,
                documents: r.try_get(1)?,
                passages: r.try_get(2)?,
                lexical_length: r.try_get(3)?,
                title_length: r.try_get(4)?,
                chunking: r.try_get(5)?,
                pushed_at: r.try_get(6)?,
            });
        }
        let mut all = SourceStats::default();
        for s in &m.sources {
            all.add(Some(s), 1);
        }
        m.passages = Some(all.passages.max(0) as usize);
        m.documents = Some(all.documents.max(0) as usize);
        m.lexical_avg_length = Some(if all.passages > 0 { all.lexical_length as f64 / all.passages as f64 } else { 1.0 });
        m.title_avg_length = Some(if all.documents > 0 { all.title_length as f64 / all.documents as f64 } else { 1.0 });
        let mut cuts = m.sources.iter().filter_map(|s| s.chunking.clone());
        m.chunking = cuts.next().filter(|first| cuts.all(|c| c == *first));
    }
    Ok(Some(m))
}

/// Refuses a collection of another schema version, model or precision than `model`.
pub(crate) fn check_meta(m: &CollectionMeta, collection: &str, model: &crate::model::ModelInfo) -> Result<()> {
    check_model(m, collection, model)?;
    check_precision(m, collection, model.precision)
}

/// Refuses a collection of another schema version or model than `model` (whatever the precision
/// of its vectors).
pub(crate) fn check_model(m: &CollectionMeta, collection: &str, model: &crate::model::ModelInfo) -> Result<()> {
    if let Some(old @ (1 | 2)) = m.schema_version {
        return Err(Error::Usage(format!(
            "collection {collection} was pushed by an older semsearch (schema version {old}); push it again with this one to upgrade it (nothing is re-embedded or sent again)"
        ))
        .into());
    }
    if m.schema_version.is_some_and(|v| v != SCHEMA_VERSION) {
        return Err(Error::Usage(format!(
            "collection {collection} has schema version {}, this semsearch writes {SCHEMA_VERSION}; use another --collection or a matching semsearch",
            m.schema_version.unwrap_or_default()
        ))
        .into());
    }
    if let (Some(name), Some(sha)) = (&m.model, &m.weights_sha256) {
        if *sha != model.weights_sha256 {
            return Err(Error::Usage(format!(
                "collection {collection} holds vectors of model {name} ({}…), not {} ({}…); push to another --collection, or search it with --model {name}",
                &sha[..sha.len().min(12)],
                model.name,
                &model.weights_sha256[..model.weights_sha256.len().min(12)]
            ))
            .into());
        }
    }
    Ok(())
}

/// An error unless the collection's vectors were computed in `precision` (one with no vectors yet
/// takes any).
pub(crate) fn check_precision(m: &CollectionMeta, collection: &str, precision: crate::model::Precision) -> Result<()> {
    let held = m.precision.unwrap_or_default();
    if m.model.is_some() && held != precision {
        return Err(Error::Usage(format!(
            "collection {collection} holds vectors computed in {held}, not {precision}; push an index made with --precision {held} to it, or use another --collection"
        ))
        .into());
    }
    Ok(())
}

/// SQL of `column` with a space on each side of every CJK character, as the local index has them
/// (`store::lexical::cjk_spaced`): PostgreSQL's parser reads a run of them as one word.
pub(crate) fn cjk_spaced_sql(column: &str) -> String {
    format!("regexp_replace({column}, '([\\u3040-\\u30ff\\u3400-\\u4dbf\\u4e00-\\u9fff\\uac00-\\ud7af\\uf900-\\ufaff\\U00020000-\\U0002fa1f])', ' \\1 ', 'g')")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_names_are_safe_identifiers() {
        assert!(collection_name("team_news").is_ok());
        for bad in ["", "News", "a-b", "x\"; drop table y; --", "1abc", &"a".repeat(41)] {
            assert!(collection_name(bad).is_err(), "{bad}");
        }
        assert_eq!(default_collection(std::path::Path::new("/home/ann/notes/.semsearch")), "notes");
        assert_eq!(default_collection(std::path::Path::new("/tmp/My Index")), "my_index");
        assert_eq!(default_collection(std::path::Path::new("/tmp/2025")), "c_2025");
    }
}
