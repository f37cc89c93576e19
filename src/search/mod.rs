//! Search: a question (or a passage) -> ranked passages, each with its best-matching sentence.

use crate::ann::{dot, Hit};
use crate::embed::Embedder;
use crate::index::Index;
use crate::index::Passage;
use anyhow::{bail, Result};
use unicode_segmentation::UnicodeSegmentation;

/// Below this many passages exact search costs well under a millisecond and is never wrong.
pub const EXACT_BELOW: usize = 20_000;

#[derive(Debug, Clone, Copy)]
pub enum Strategy {
    /// Exact for small indexes, HNSW above `EXACT_BELOW`.
    Auto { ef: usize },
    Exact,
    Hnsw { ef: usize },
}

/// One ranked result.
#[derive(Debug, Clone)]
pub struct Found {
    pub rank: usize,
    pub score: f32,
    pub passage: Passage,
    /// The sentence of the passage closest to the query, as a byte range of `passage.record.text`.
    pub answer: (usize, usize),
    pub answer_score: f32,
}

impl Found {
    pub fn answer_text(&self) -> &str {
        &self.passage.record.text[self.answer.0..self.answer.1]
    }
}

/// Rows to leave out of results.
pub type Exclude<'a> = &'a (dyn Fn(u32) -> bool + Sync);

pub fn nearest(index: &Index, q: &[f32], k: usize, strategy: Strategy, exclude: Exclude) -> Vec<Hit> {
    let accept = |r: u32| !exclude(r);
    match strategy {
        Strategy::Exact => index.exact(q, k, &accept),
        Strategy::Auto { .. } if index.live() < EXACT_BELOW => index.exact(q, k, &accept),
        Strategy::Auto { ef } | Strategy::Hnsw { ef } => index.hnsw(q, k, ef, &accept),
    }
}

/// A sentence with fewer words than this (a dateline, a byline, a label) is not offered as the
/// answer when the passage has a longer one: such fragments sit close to many questions in
/// embedding space ("Frankfurt, 6 March" to "when did the ECB cut?") while answering none.
const ANSWER_MIN_WORDS: usize = 4;

/// Sentences that may be a passage's answer: those of at least `ANSWER_MIN_WORDS` words, or all
/// of them when none is that long.
pub fn answer_candidates(text: &str) -> Vec<(usize, usize)> {
    let all = sentences(text);
    let long: Vec<(usize, usize)> =
        all.iter().copied().filter(|&(a, b)| text[a..b].split_whitespace().count() >= ANSWER_MIN_WORDS).collect();
    if long.is_empty() { all } else { long }
}

/// Sentence spans of `text` (trimmed, non-empty).
pub fn sentences(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (off, s) in text.split_sentence_bound_indices() {
        let lead = s.len() - s.trim_start().len();
        let body = s.trim();
        if !body.is_empty() {
            out.push((off + lead, off + lead + body.len()));
        }
    }
    if out.is_empty() {
        out.push((0, text.len()));
    }
    out
}

/// Look the hits up and pick, for each, the sentence closest to `q` (all sentences of all hits are
/// embedded in one batch).
pub fn resolve(index: &Index, embedder: &Embedder, q: &[f32], hits: &[Hit]) -> Result<Vec<Found>> {
    let mut passages = Vec::with_capacity(hits.len());
    for h in hits {
        match index.passage(h.row)? {
            Some(p) => passages.push(p),
            None => bail!(
                "{}: passage row {} is missing; the index is damaged, re-run `semsearch index`",
                index.dir.display(),
                h.row
            ),
        }
    }
    let spans: Vec<Vec<(usize, usize)>> = passages.iter().map(|p| answer_candidates(&p.record.text)).collect();
    let texts: Vec<&str> = passages
        .iter()
        .zip(&spans)
        .filter(|(_, s)| s.len() > 1)
        .flat_map(|(p, s)| s.iter().map(move |&(a, b)| &p.record.text[a..b]))
        .collect();
    let vecs = embedder.embed(&texts, &mut |_| {})?;
    let dim = embedder.dimensions();
    let mut next = 0;
    let mut out = Vec::with_capacity(hits.len());
    for (i, (p, s)) in passages.into_iter().zip(spans).enumerate() {
        let (answer, answer_score) = if s.len() == 1 {
            (s[0], hits[i].score)
        } else {
            let scored = s.iter().enumerate().map(|(j, &span)| (span, dot(q, &vecs[(next + j) * dim..(next + j + 1) * dim])));
            let best = scored.fold(((0, 0), f32::MIN), |a, b| if b.1 > a.1 { b } else { a });
            next += s.len();
            best
        };
        out.push(Found { rank: i + 1, score: hits[i].score, passage: p, answer, answer_score });
    }
    Ok(out)
}

pub fn ask(index: &Index, embedder: &Embedder, question: &str, k: usize, strategy: Strategy) -> Result<Vec<Found>> {
    if question.trim().is_empty() {
        bail!("the question is empty; ask something, e.g. semsearch ask \"what did Alibaba announce?\"");
    }
    let q = embedder.embed_one(question)?;
    let hits = nearest(index, &q, k, strategy, &|_| false);
    resolve(index, embedder, &q, &hits)
}

/// What `related` starts from.
pub enum Target {
    Passage(String),
    PathLine(String, u32),
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

pub fn related(
    index: &Index,
    embedder: &Embedder,
    target: &Target,
    k: usize,
    same_doc: bool,
    strategy: Strategy,
) -> Result<Vec<Found>> {
    let row = match target {
        Target::Text(t) => {
            if t.trim().is_empty() {
                bail!("--text is empty; give the text to find related passages for");
            }
            None
        }
        Target::Passage(id) => Some(index.row_of_id(id)?.ok_or_else(|| {
            anyhow::anyhow!("no passage with id {id} in {}; ids come from `semsearch ask --json` (they change when a document changes)", index.dir.display())
        })?),
        Target::PathLine(path, line) => {
            let stored = crate::docpath::PathKeys::for_index(&index.dir).key(std::path::Path::new(path));
            let row = match index.row_at_line(&stored, *line)? {
                Some(r) => Some(r),
                None => index.row_at_line(path, *line)?,
            };
            Some(row.ok_or_else(|| {
                anyhow::anyhow!("{path}:{line} is not inside an indexed passage of {}; check the path and line (see `semsearch ask --json`)", index.dir.display())
            })?)
        }
    };
    let (q, exclude_range) = match row {
        Some(r) => {
            let p = index.passage(r)?.expect("a live row from the store");
            let range = if same_doc {
                (r, r + 1)
            } else {
                let d = index.document(&p.record.doc_id)?.ok_or_else(|| {
                    anyhow::anyhow!("{}: passage {} has no document; the index is damaged, re-run `semsearch index`", index.dir.display(), p.record.id)
                })?;
                (d.first_row, d.first_row + d.n_passages)
            };
            (index.vector(r).to_vec(), Some(range))
        }
        None => match target {
            Target::Text(t) => (embedder.embed_one(t)?, None),
            _ => unreachable!(),
        },
    };
    let exclude = |r: u32| exclude_range.is_some_and(|(a, b)| r >= a && r < b);
    let hits = nearest(index, &q, k, strategy, &exclude);
    resolve(index, embedder, &q, &hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_are_trimmed_spans() {
        let t = "First one.  Second one?\nThird";
        let s: Vec<&str> = sentences(t).into_iter().map(|(a, b)| &t[a..b]).collect();
        assert_eq!(s, vec!["First one.", "Second one?", "Third"]);
        assert_eq!(sentences("   "), vec![(0, 3)]);
    }

    #[test]
    fn fragments_are_not_answers_unless_nothing_else() {
        let t = "Frankfurt, 6 March\n\nThe bank lowered its rate by a quarter point.";
        let a: Vec<&str> = answer_candidates(t).into_iter().map(|(a, b)| &t[a..b]).collect();
        assert_eq!(a, vec!["The bank lowered its rate by a quarter point."]);
        assert_eq!(answer_candidates("Rates cut."), vec![(0, 10)]);
    }

    #[test]
    fn target_parsing() {
        assert!(matches!(Target::parse("a/b.txt:12"), Target::PathLine(p, 12) if p == "a/b.txt"));
        assert!(matches!(Target::parse("0123abcd"), Target::Passage(_)));
        assert!(matches!(Target::parse("c:\\x"), Target::Passage(_)));
    }
}
