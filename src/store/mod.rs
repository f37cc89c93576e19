//! Where passages live, as search sees them: the `Store` trait that the local index
//! (`index::Index`) and a collection on a PostgreSQL server (`remote::Remote`) implement, and the
//! engine-neutral values a search hands them (the question's words, a filter, what to leave out).
//!
//! The ranking rules — which candidates each side contributes, fusion, the score floor, the
//! per-document cap, folding and the answer sentence — are written once, in `search`, over these
//! traits. A store only finds candidates and reads passages: adding a backend is one
//! implementation of `Store` (and of `Retrieval` for one search) plus its connection code.

use crate::ann::Hit;
use crate::index::{DocRecord, Passage, PassageRecord};
use anyhow::Result;

pub mod filter;
pub mod lexical;

pub use filter::Filter;
pub use lexical::{LexicalQuery, Selection, Syntax};

/// What `related` starts from.
#[derive(Debug, Clone)]
pub enum Target {
    /// A stored passage, by id.
    Passage(String),
    /// The passage of a stored document holding this line.
    PathLine(String, u32),
    /// Free text, embedded and searched as a question.
    Text(String),
}

impl Target {
    /// `ID`, `PATH:LINE`, or (with `--text`) free text.
    pub fn parse(s: &str) -> Target {
        if let Some((path, line)) = s.rsplit_once(':') {
            if let Ok(line) = line.parse::<u32>() {
                return Target::PathLine(path.to_string(), line);
            }
        }
        Target::Passage(s.to_string())
    }
}

/// A stored passage that `related` starts from.
#[derive(Debug, Clone)]
pub struct Origin {
    /// Its stored vector (the search is by it).
    pub vector: Vec<f32>,
    /// Its id.
    pub id: String,
    /// Its document's id.
    pub doc_id: String,
}

/// What a search leaves out besides what the filter does (`related` from a stored passage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Except {
    /// Every passage of this document.
    Document(String),
    /// This passage alone.
    Passage(String),
}

/// The passages one search may return.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The documents it may return.
    pub filter: &'a Filter,
    /// What it leaves out besides.
    pub except: Option<&'a Except>,
}

/// How the semantic side walks the vectors (`search::Strategy` resolved against the store's size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// Every vector scored.
    Exact,
    /// Through the HNSW graph with beam `ef`.
    Graph {
        /// Beam width.
        ef: usize,
    },
}

/// A passage with up to `context` passages of its document before and after it, in document
/// order, and the document.
pub struct InContext {
    /// Passages before it, in document order.
    pub before: Vec<PassageRecord>,
    /// The passage.
    pub passage: PassageRecord,
    /// Passages after it, in document order.
    pub after: Vec<PassageRecord>,
    /// Its document.
    pub document: DocRecord,
}

/// A place passages are stored and searched: the local index, or a collection on a server.
pub trait Store {
    /// For messages: where the passages are (a directory, or a server and collection; never a
    /// password).
    fn name(&self) -> String;

    /// Starts one search over the passages `scope` allows. The filter is applied inside the search
    /// (both sides skip what it leaves out, so `k` results still come back).
    fn open(&self, scope: Scope<'_>) -> Result<Box<dyn Retrieval + '_>>;

    /// The stored passage `target` names (`Target::Passage` or `Target::PathLine`), or a
    /// `NotFound` error saying where ids and lines come from.
    fn origin(&self, target: &Target) -> Result<Origin>;

    /// The passage `id` in its document's context (`/api/passage`).
    fn passage_in_context(&self, id: &str, context: usize) -> Result<InContext>;

    /// What `status` reports about it (with `files`, every document).
    fn status(&self, files: bool) -> Result<crate::status::StatusReport>;
}

/// What shaping results (`search::present`) and choosing their answers (`search::resolve`) need of
/// the passages one search found. Rows are numbers the store gives its candidates within one
/// search (the local index's row numbers; a server's candidates numbered as they arrive).
pub trait Candidates {
    /// For messages: where the passages are.
    fn name(&self) -> String;
    /// The stored unit vector of `row`.
    fn vector(&self, row: u32) -> &[f32];
    /// A number naming the passage's document (passages of one document share it).
    fn document_of(&self, row: u32) -> Result<u32>;
    /// The id of the passage's document.
    fn doc_id(&self, row: u32) -> Result<String>;
    /// The passage at `row`, with its document's fields.
    fn passage(&self, row: u32) -> Result<Option<Passage>>;
    /// `passage` of these rows will follow: a store that fetches them from elsewhere gets them all
    /// in one go.
    fn prefetch(&self, _rows: &[u32]) -> Result<()> {
        Ok(())
    }
}

/// One search's access to a store: the two sides' candidates under the search's scope.
pub trait Retrieval: Candidates {
    /// What the search's filter let through of the store's documents (`None`: no filter).
    fn tally(&self) -> Option<&filter::Tally>;

    /// Documents without a date that the filter's `--since`/`--until` left out.
    fn undated(&self) -> usize {
        self.tally().map_or(0, |t| t.undated)
    }

    /// Passages the store holds (for choosing exact search on small stores).
    fn live(&self) -> usize;

    /// The `k` passages nearest to `q`, best first by cosine. Where `words` has required
    /// phrases, only passages holding them.
    fn nearest(&mut self, q: &[f32], k: usize, walk: Walk, words: &LexicalQuery) -> Result<Vec<Hit>>;

    /// For each of `words`, how many passages hold it (for `LexicalQuery::selection`).
    fn word_counts(&mut self, words: &[String]) -> Result<Vec<u64>>;

    /// The `k` best passages by BM25 for `words` (higher is better); with `selection`, among the
    /// passages holding its rare words only, still scored by the whole query.
    fn lexical(&mut self, words: &LexicalQuery, selection: Option<&Selection>, k: usize) -> Result<Vec<Hit>>;

    /// BM25 of the given rows for the query of the last `lexical` call (rows it does not match
    /// are absent; a selection leaves out the rows outside it, as `lexical` did).
    fn bm25_of(&self, rows: &[u32]) -> Result<Vec<Hit>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_parsing() {
        assert!(matches!(Target::parse("a/b.txt:12"), Target::PathLine(p, 12) if p == "a/b.txt"));
        assert!(matches!(Target::parse("0123abcd"), Target::Passage(_)));
        assert!(matches!(Target::parse("c:\\x"), Target::Passage(_)));
    }
}
