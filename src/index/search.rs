//! The local index as a `store::Store`: a filter becomes a bitset of allowed rows that both sides
//! consult while they search, the semantic side is the segments' exact or HNSW search, the lexical
//! side each segment's FTS5 table.

use super::fts;
use super::reader::{is_set, Index};
use super::store::{Passage, PassageRecord};
use crate::ann::Hit;
use crate::error::Error;
use crate::store::{Candidates, Except, Filter, InContext, LexicalQuery, Origin, Retrieval, Scope, Selection, Store, Target, Walk};
use anyhow::{anyhow, Result};
use std::cell::Cell;
use std::collections::{HashMap, HashSet};

/// The rows a filter allows, and what it let through.
struct Allowed {
    bits: Vec<u64>,
    tally: crate::store::filter::Tally,
}

impl Allowed {
    /// The rows of the documents that pass `filter`.
    fn of(index: &Index, filter: &Filter) -> Result<Allowed> {
        let mut counter = filter.counter()?;
        let mut bits = vec![0u64; index.rows().div_ceil(64)];
        for d in index.documents()? {
            if counter.admit(&d.doc_id, &d.path, d.date.as_deref()) != crate::store::filter::Admit::Yes {
                continue;
            }
            for r in d.first_row..d.first_row + d.n_passages {
                bits[r as usize / 64] |= 1u64 << (r % 64);
            }
        }
        Ok(Allowed { bits, tally: counter.tally() })
    }

    fn contains(&self, row: u32) -> bool {
        is_set(&self.bits, row)
    }
}

/// One search over the local index.
struct LocalSearch<'a> {
    index: &'a Index,
    allowed: Option<Allowed>,
    /// Rows `[a, b)` left out (`related`'s own passage or document).
    except: Option<(u32, u32)>,
    /// Whether every segment was found to have its lexical index.
    lexical_checked: Cell<bool>,
    /// What the last `lexical` call matched: its FTS5 query, or (when a selection narrowed it)
    /// the scores of every selected row, which fusion reads instead of asking FTS5 again.
    last: Last,
    /// The rows holding the current query's required phrases (FTS5 query, rows); `None` when it
    /// requires none.
    holding: Option<(String, HashSet<u32>)>,
}

enum Last {
    None,
    Fts(String),
    Selected(HashMap<u32, f32>),
}

/// Whether a search's scope leaves `r` out (a free function of the two, so the test can be shared
/// with the rayon pool that searches the segments).
fn excluded(allowed: &Option<Allowed>, except: Option<(u32, u32)>, r: u32) -> bool {
    except.is_some_and(|(a, b)| r >= a && r < b) || allowed.as_ref().is_some_and(|a| !a.contains(r))
}

impl LocalSearch<'_> {
    fn excluded(&self, r: u32) -> bool {
        excluded(&self.allowed, self.except, r)
    }

    fn need_lexical(&self) -> Result<()> {
        if self.lexical_checked.get() {
            return Ok(());
        }
        if !self.index.has_lexical()? {
            anyhow::bail!(
                "{} has no lexical index (it was built by an older semsearch); re-run `semsearch index` to add it (nothing is re-embedded), or use --mode semantic",
                self.index.dir.display()
            );
        }
        self.lexical_checked.set(true);
        Ok(())
    }

    /// Finds the rows in scope holding `words`' required phrases (kept in `holding`; `None` when
    /// none is required), once per query.
    fn find_holding(&mut self, words: &LexicalQuery) -> Result<()> {
        let Some(p) = fts::render(words).1 else {
            self.holding = None;
            return Ok(());
        };
        if self.holding.as_ref().is_none_or(|(q, _)| *q != p) {
            self.need_lexical()?;
            let rows = self.index.holding(&p)?.into_iter().filter(|&r| !self.excluded(r)).collect();
            self.holding = Some((p, rows));
        }
        Ok(())
    }
}

impl Candidates for LocalSearch<'_> {
    fn name(&self) -> String {
        Store::name(self.index)
    }
    fn vector(&self, row: u32) -> &[f32] {
        self.index.vector(row)
    }
    fn document_of(&self, row: u32) -> Result<u32> {
        Ok(self.index.document_first_row(row)?.unwrap_or(row))
    }
    fn doc_id(&self, row: u32) -> Result<String> {
        self.index.doc_id_of(row)?.ok_or_else(|| Error::damaged(&self.index.dir, format!("passage row {row} has no document")))
    }
    fn passage(&self, row: u32) -> Result<Option<Passage>> {
        self.index.passage(row)
    }
}

impl Retrieval for LocalSearch<'_> {
    fn tally(&self) -> Option<&crate::store::filter::Tally> {
        self.allowed.as_ref().map(|a| &a.tally)
    }

    fn live(&self) -> usize {
        self.index.live()
    }

    fn nearest(&mut self, q: &[f32], k: usize, walk: Walk, words: &LexicalQuery) -> Result<Vec<Hit>> {
        // A required phrase restricts the semantic side to the rows holding it.
        self.find_holding(words)?;
        let phrase_rows = self.holding.as_ref().map(|(_, rows)| rows);
        let (allowed, except) = (&self.allowed, self.except);
        let accept = |r: u32| !excluded(allowed, except, r) && phrase_rows.is_none_or(|rows| rows.contains(&r));
        Ok(match walk {
            Walk::Exact => self.index.exact(q, k, &accept),
            Walk::Graph { ef } => self.index.hnsw(q, k, ef, &accept),
        })
    }

    fn word_counts(&mut self, words: &[String]) -> Result<Vec<u64>> {
        self.need_lexical()?;
        words.iter().map(|w| self.index.lexical_count(&fts::literal(w))).collect()
    }

    fn lexical(&mut self, words: &LexicalQuery, selection: Option<&Selection>, k: usize) -> Result<Vec<Hit>> {
        self.last = Last::None;
        let (Some(fts), _) = fts::render(words) else { return Ok(Vec::new()) };
        self.need_lexical()?;
        self.find_holding(words)?;
        let required = self.holding.as_ref().map(|(_, rows)| rows);
        let in_scope = |r: u32| !self.excluded(r) && required.is_none_or(|rows| rows.contains(&r));
        match selection {
            Some(split) => {
                let scored: HashMap<u32, f32> = self.index.lexical_selected(split, &in_scope)?.into_iter().map(|h| (h.row, h.score)).collect();
                let mut best: Vec<Hit> = scored.iter().map(|(&row, &score)| Hit { row, score }).collect();
                best.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
                best.truncate(k);
                self.last = Last::Selected(scored);
                Ok(best)
            }
            None => {
                let hits = self.index.lexical(&fts, k, &in_scope)?;
                self.last = Last::Fts(fts);
                Ok(hits)
            }
        }
    }

    fn bm25_of(&self, rows: &[u32]) -> Result<Vec<Hit>> {
        match &self.last {
            Last::None => Ok(Vec::new()),
            Last::Selected(scored) => Ok(rows.iter().filter_map(|r| scored.get(r).map(|&score| Hit { row: *r, score })).collect()),
            Last::Fts(fts) => self.index.lexical_scores(fts, rows),
        }
    }
}

impl Store for Index {
    fn name(&self) -> String {
        self.dir.display().to_string()
    }

    fn open(&self, scope: Scope<'_>) -> Result<Box<dyn Retrieval + '_>> {
        let allowed = if scope.filter.is_empty() { None } else { Some(Allowed::of(self, scope.filter)?) };
        let except = match scope.except {
            None => None,
            Some(Except::Passage(id)) => {
                let r = self.row_of_id(id)?.ok_or_else(|| Error::NotFound(format!("no passage with id {id} in {}", self.dir.display())))?;
                Some((r, r + 1))
            }
            Some(Except::Document(doc_id)) => {
                let d = self
                    .document(doc_id)?
                    .ok_or_else(|| anyhow!("{}: document {doc_id} is missing; the index is damaged, re-run `semsearch index`", self.dir.display()))?;
                Some((d.first_row, d.first_row + d.n_passages))
            }
        };
        Ok(Box::new(LocalSearch { index: self, allowed, except, lexical_checked: Cell::new(false), last: Last::None, holding: None }))
    }

    fn origin(&self, target: &Target) -> Result<Origin> {
        let row = match target {
            Target::Text(_) => anyhow::bail!("free text is embedded, not looked up"),
            Target::Passage(id) => self.row_of_id(id)?.ok_or_else(|| {
                Error::NotFound(format!(
                    "no passage with id {id} in {}; ids come from `semsearch ask --json` (they change when a document changes)",
                    self.dir.display()
                ))
            })?,
            Target::PathLine(path, line) => {
                let stored = crate::docpath::PathKeys::for_index(&self.dir).key(std::path::Path::new(path));
                let row = match self.row_at_line(&stored, *line)? {
                    Some(r) => Some(r),
                    None => self.row_at_line(path, *line)?,
                };
                row.ok_or_else(|| {
                    Error::NotFound(format!(
                        "{path}:{line} is not inside an indexed passage of {}; check the path and line (see `semsearch ask --json`)",
                        self.dir.display()
                    ))
                })?
            }
        };
        let p = self.passage(row)?.ok_or_else(|| Error::damaged(&self.dir, format!("live row {row} has no passage")))?;
        Ok(Origin { vector: self.vector(row).to_vec(), id: p.record.id, doc_id: p.record.doc_id })
    }

    fn status(&self, files: bool) -> Result<crate::status::StatusReport> {
        let report = crate::status::report(&self.dir, files)?.ok_or_else(|| Error::NoIndex { dir: self.dir.clone() })?;
        Ok(crate::status::StatusReport::Index(report))
    }

    fn passage_in_context(&self, id: &str, context: usize) -> Result<InContext> {
        let row = self.row_of_id(id)?.ok_or_else(|| Error::NotFound(format!("no passage with id {id}; ids come from /api/ask results")))?;
        let p = self.passage(row)?.ok_or_else(|| Error::NotFound(format!("no passage with id {id}")))?;
        let document = self.document(&p.record.doc_id)?.ok_or_else(|| Error::damaged(&self.dir, format!("passage {id} has no document")))?;
        let all: Vec<PassageRecord> = self.passages_of(&document)?;
        let at = p.record.ordinal as usize;
        let before = all[at.saturating_sub(context).min(all.len())..at.min(all.len())].to_vec();
        let after = all.get(at + 1..).unwrap_or(&[]);
        let after = after[..after.len().min(context)].to_vec();
        Ok(InContext { before, passage: p.record, after, document })
    }
}
