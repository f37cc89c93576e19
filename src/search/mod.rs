//! Search: a question (or a passage) -> ranked passages, each with its best-matching sentence.

//!
//! Written once over `store::Store`: the local index and a server's collection find candidates;
//! everything that decides what a reader sees (the candidates each side contributes, fusion, the
//! score floor, the per-document cap, folding, the answer sentence) is here.

use crate::ann::{dot, Hit};
use crate::embed::Embed;
use crate::index::Passage;
use crate::store::{Candidates, Except, Retrieval, Scope, Store, Walk};
use anyhow::{bail, Result};

pub mod answer;
pub mod request;
pub use crate::store::{filter, lexical, Filter, LexicalQuery, Target};

/// Which evidence ranks the passages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Both, fused (see `fuse`).
    Hybrid,
    /// Embedding similarity only.
    Semantic,
    /// BM25 over the words only.
    Lexical,
}

impl Mode {
    /// Its name, as `--mode` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Hybrid => "hybrid",
            Mode::Semantic => "semantic",
            Mode::Lexical => "lexical",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Mode, String> {
        match s {
            "hybrid" => Ok(Mode::Hybrid),
            "semantic" => Ok(Mode::Semantic),
            "lexical" => Ok(Mode::Lexical),
            _ => Err(format!("unknown mode {s:?}; use hybrid, semantic or lexical")),
        }
    }
}

/// The mode of a search that names none (`SEMSEARCH_MODE` or `--mode` change it), chosen by the
/// rule in the README ("Choosing the default mode"): the highest mean nDCG@10 over the shared
/// labeled sets, no set significantly worse than semantic-only.
pub const DEFAULT_MODE: Mode = Mode::Hybrid;

/// How hybrid search combines its two rankings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// Reciprocal rank fusion, 1/(60 + rank) summed.
    Rrf,
    /// Each side's scores min-max normalised over the candidates, then `semantic_weight` of the
    /// semantic and the rest of the lexical one. Every candidate has both scores: the cosine of a
    /// lexical-only candidate is computed from its stored vector, the BM25 of a semantic-only one
    /// by a lexical query restricted to it (0 when it has none of the words).
    Convex {
        /// The semantic side's share (0–1).
        semantic_weight: f32,
    },
    /// The cosine as it is (an absolute scale: a question the embedding cannot place scores low
    /// everywhere) plus `lexical_weight` times the BM25 scaled to [0, 1] over the candidates.
    RawCosine {
        /// The weight of the scaled BM25.
        lexical_weight: f32,
    },
    /// As `RawCosine`, with the lexical weight scaled by how unsure the semantic side is:
    /// `lexical_weight × (1 − best cosine)`. A question the embedding places well (best cosine
    /// near 1) ranks by meaning; one it cannot place (a bare name: best cosine 0.2) leans on the words.
    Adaptive {
        /// The weight of the scaled BM25 when the best cosine is 0.
        lexical_weight: f32,
    },
}

/// `bench --fusion` names: raw (the default), convex, adaptive, rrf.
impl std::str::FromStr for Fusion {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Fusion, String> {
        match s {
            "raw" => Ok(Fusion::default()),
            "convex" => Ok(Fusion::Convex { semantic_weight: 0.7 }),
            "adaptive" => Ok(Fusion::Adaptive { lexical_weight: 0.3 }),
            "rrf" => Ok(Fusion::Rrf),
            _ => Err(format!("unknown fusion {s:?}; use raw, convex, adaptive or rrf")),
        }
    }
}

/// Chosen by measurement (session note of issue 13, `bench --mode hybrid --fusion …` on both shared
/// sets, with and without chunking): the raw cosine plus 0.3 of the scaled BM25 was best or level on
/// three of four runs, and the only one of the three that ranks first the passage naming a person
/// the embedding cannot place ("Kenny Ng"): min-max scaling of the cosine turns the spread of
/// uniformly low similarities into a full-scale signal, and RRF ignores the scores altogether.
impl Default for Fusion {
    fn default() -> Self {
        Fusion::RawCosine { lexical_weight: 0.3 }
    }
}

/// Candidates each side contributes to a fused ranking (and to `--per-doc` and folding).
pub const FUSION_DEPTH: usize = 100;

/// A row with the evidence that ranked it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    /// The row (the store's number within one search).
    pub row: u32,
    /// The score it is ranked by.
    pub score: f32,
    /// (1-based rank, cosine) on the semantic side, where it found the row.
    pub semantic: Option<(usize, f32)>,
    /// (1-based rank, BM25) on the lexical side, where it found the row.
    pub lexical: Option<(usize, f32)>,
    /// Its BM25 scaled to [0, 1] over the search's candidates (0: none of the words), where the
    /// lexical side ran (hybrid and lexical mode): evidence for `confidence`.
    pub words: Option<f32>,
}

/// Min-max scaling to [0, 1] (all 1 when the values are equal).
fn scale(xs: &[f32]) -> Vec<f32> {
    let (lo, hi) = xs.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    xs.iter().map(|&x| if hi > lo { (x - lo) / (hi - lo) } else { 1.0 }).collect()
}

impl Ranked {
    /// One side's hits as a ranking of their own.
    pub fn from_side(hits: &[Hit], semantic_side: bool) -> Vec<Ranked> {
        let scaled = if semantic_side { Vec::new() } else { scale(&hits.iter().map(|h| h.score).collect::<Vec<_>>()) };
        hits.iter()
            .enumerate()
            .map(|(i, h)| {
                let side = Some((i + 1, h.score));
                Ranked {
                    row: h.row,
                    score: h.score,
                    semantic: side.filter(|_| semantic_side),
                    lexical: side.filter(|_| !semantic_side),
                    words: scaled.get(i).copied(),
                }
            })
            .collect()
    }
}

/// Below this many passages exact search costs well under a millisecond and is never wrong.
pub const EXACT_BELOW: usize = 20_000;

/// How the semantic side searches: exactly, through the graph, or by the store's size.
#[derive(Debug, Clone, Copy)]
pub enum Strategy {
    /// Exact for small indexes, HNSW above `EXACT_BELOW`.
    Auto {
        /// Beam width when the graph is used.
        ef: usize,
    },
    /// Every vector scored.
    Exact,
    /// Always through the graph.
    Hnsw {
        /// Beam width.
        ef: usize,
    },
}

/// One ranked result.
#[derive(Debug, Clone)]
pub struct Found {
    /// 1-based rank.
    pub rank: usize,
    /// The score it was ranked by.
    pub score: f32,
    /// (1-based rank, cosine) on the semantic side, where it found the passage.
    pub semantic: Option<(usize, f32)>,
    /// (1-based rank, BM25) on the lexical side, where it found the passage.
    pub lexical: Option<(usize, f32)>,
    /// Near-duplicate passages of other documents folded into this one (the same wire story in
    /// several files), best first.
    pub also: Vec<Passage>,
    /// The passage, with its document's fields.
    pub passage: Passage,
    /// The sentence of the passage closest to the query, as a byte range of `passage.record.text`.
    pub answer: (usize, usize),
    /// The answer sentence's score.
    pub answer_score: f32,
    /// The probability that the passage is relevant to the question, from its evidence (see
    /// `confidence`).
    pub confidence: f32,
}

impl Found {
    /// The answer sentence's text.
    pub fn answer_text(&self) -> &str {
        &self.passage.record.text[self.answer.0..self.answer.1]
    }
}

/// The probability that a passage is relevant given its evidence: its cosine with the question,
/// the share of the question's words it holds (`cover`, absolute: a bare name the embedding
/// cannot place is still found by its words) and, where the lexical side ran, its BM25 scaled over
/// the candidates (`Ranked::words`). Two logistic regressions (with and without the lexical side),
/// fitted on the shared labeled sets' first ten results per question, each set weighted equally
/// (`bench --evidence`; the calibration on held-out queries is in the README, "How sure it is").
pub fn confidence(cosine: f32, words: Option<f32>, cover: f32) -> f32 {
    let z = match words {
        Some(w) => -8.1741 + 10.004 * cosine + 1.3042 * w + 2.8883 * cover,
        None => -7.3606 + 9.9923 * cosine + 3.3336 * cover,
    };
    1.0 / (1.0 + (-z).exp())
}

/// Below this confidence the best result is no good match when no result holds any of the
/// question's words: `ask` says so and returns nothing (`--all` shows the results anyway). On the shared labeled sets no question whose first result
/// is relevant has it under 0.02 (lowest: 0.028 of 1,733 in hybrid mode, 0.021 of 1,493 in
/// semantic); a question nothing in the index is about (`?`, "purple elephants dancing on the
/// moon") scores under 0.005.
pub const NO_GOOD_MATCH: f32 = 0.02;

/// Results under this confidence are shown as weak (more likely not relevant than relevant).
pub const WEAK: f32 = 0.5;

/// The text whose words count as a passage's (`answer::QuestionWords::share_in`): its document's
/// title, its section and its text.
pub fn evidence_text(p: &Passage) -> String {
    format!("{} {} {}", p.title, p.record.section, p.record.text)
}

/// The semantic side's walk for `strategy` over a store of `live` passages.
pub fn walk(strategy: Strategy, live: usize) -> Walk {
    match strategy {
        Strategy::Exact => Walk::Exact,
        Strategy::Auto { .. } if live < EXACT_BELOW => Walk::Exact,
        Strategy::Auto { ef } | Strategy::Hnsw { ef } => Walk::Graph { ef },
    }
}

/// Looks the rows up and picks each passage's answer sentence (see `answer`): from the sentence
/// vectors stored with the passage; for passages stored without them (an index written before
/// they were, or by the reference engine) the sentences are embedded now, all in one batch.
pub fn resolve(index: &dyn Candidates, embedder: &dyn Embed, q: &[f32], question: &str, ranked: &[Ranked]) -> Result<Vec<Found>> {
    let mut passages = Vec::with_capacity(ranked.len());
    for h in ranked {
        match index.passage(h.row)? {
            Some(p) => passages.push(p),
            None => bail!("{}: passage row {} is missing; the index is damaged, re-run `semsearch index`", index.name(), h.row),
        }
    }
    let dim = embedder.info().dimensions;
    let words = answer::QuestionWords::new(question);
    let stored: Vec<Option<answer::SentenceVectors>> =
        passages.iter().map(|p| p.record.sentences.as_deref().and_then(|b| answer::SentenceVectors::decode(b, dim))).collect();
    let spans: Vec<Vec<(usize, usize)>> = passages
        .iter()
        .zip(&stored)
        .map(|(p, s)| match s {
            Some(s) => s.spans(),
            None => answer::candidates(&p.record.text),
        })
        .collect();
    let texts: Vec<&str> = passages
        .iter()
        .zip(&spans)
        .zip(&stored)
        .filter(|((_, s), v)| s.len() > 1 && v.is_none())
        .flat_map(|((p, s), _)| s.iter().map(move |&(a, b)| &p.record.text[a..b]))
        .collect();
    let vecs = if texts.is_empty() { Vec::new() } else { embedder.embed(&texts, &mut |_| {})? };
    let mut next = 0;
    let mut answers = Vec::with_capacity(ranked.len());
    for ((h, p), (s, v)) in ranked.iter().zip(&passages).zip(spans.iter().zip(&stored)) {
        let text = &p.record.text;
        answers.push(match (v, s.len()) {
            (_, 1) => (s[0], dot(q, index.vector(h.row))),
            (Some(v), _) => answer::choose(text, &p.title, s, &words, |j| v.cosine(j, q)),
            (None, n) => {
                let at = next;
                next += n;
                answer::choose(text, &p.title, s, &words, |j| dot(q, &vecs[(at + j) * dim..(at + j + 1) * dim]))
            }
        });
    }
    let out = ranked
        .iter()
        .zip(passages)
        .zip(answers)
        .enumerate()
        .map(|(i, ((h, p), (answer, answer_score)))| {
            let cosine = h.semantic.map_or_else(|| dot(q, index.vector(h.row)), |s| s.1);
            let confidence = confidence(cosine, h.words, words.share_in(&evidence_text(&p)));
            Found { rank: i + 1, score: h.score, semantic: h.semantic, lexical: h.lexical, also: Vec::new(), passage: p, answer, answer_score, confidence }
        })
        .collect();
    Ok(out)
}

/// How a search ranks and how many it returns.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Results to return.
    pub k: usize,
    /// How the semantic side searches.
    pub strategy: Strategy,
    /// Which evidence ranks.
    pub mode: Mode,
    /// How hybrid fuses the two sides.
    pub fusion: Fusion,
    /// Results under this score are dropped.
    pub min_score: Option<f32>,
    /// At most this many passages of one document.
    pub per_doc: Option<usize>,
    /// Fold passages of other documents at least this similar (cosine) into the first.
    pub fold: Option<f32>,
    /// Return nothing when the best result's confidence is under `NO_GOOD_MATCH` (a question
    /// from text; `--all` turns it off).
    pub floor: bool,
}

impl Options {
    /// Ranking as a reader sees it: results under `min_score` dropped, at most `per_doc` passages of
    /// one document (0: no limit), near-duplicates folded unless `no_fold`.
    pub fn for_reader(k: usize, strategy: Strategy, mode: Mode, min_score: Option<f32>, per_doc: Option<usize>, no_fold: bool) -> Options {
        Options { min_score, per_doc: per_doc.filter(|&n| n > 0), fold: (!no_fold).then_some(FOLD_COSINE), floor: true, ..Options::plain(k, strategy, mode) }
    }

    /// How many candidates to retrieve for `k` results: more when results are capped, folded or
    /// floored, so that `k` still come back.
    pub fn depth(&self) -> usize {
        let shaping = self.per_doc.is_some() || self.fold.is_some() || self.min_score.is_some();
        if shaping {
            (self.k * 5).max(50)
        } else {
            self.k
        }
    }

    /// Ranking as a labeled set is scored: no score floor, no capping, no folding.
    pub fn plain(k: usize, strategy: Strategy, mode: Mode) -> Options {
        Options { k, strategy, mode, fusion: Fusion::default(), min_score: None, per_doc: None, fold: None, floor: false }
    }
}

/// Passages of different documents at least this similar are one story told twice. Set on the
/// sample articles' briefs: the three briefs about Alibaba's $52bn investment are 0.80–0.84 from
/// the article's passage on it, while the closest pair of different stories (the investment and
/// Alibaba's quarterly results) is 0.74.
pub const FOLD_COSINE: f32 = 0.78;

/// Default `--per-doc` for `ask`: two passages of one article, then other articles.
pub const PER_DOC: usize = 2;

/// What `present` keeps, and the rows it folded as `(kept index, row)`.
pub type Presented = (Vec<Ranked>, Vec<(usize, u32)>);

/// The `k` results a reader sees from a longer ranking: weak hits dropped, at most `per_doc`
/// passages per document, and near-duplicates of an earlier result (another document's passage at
/// cosine ≥ `fold`) folded into it as `(kept index, row)` pairs instead of taking a place.
pub fn present(index: &dyn Candidates, ranked: Vec<Ranked>, opts: &Options) -> Result<Presented> {
    let mut kept: Vec<Ranked> = Vec::with_capacity(opts.k);
    let mut kept_docs: Vec<u32> = Vec::with_capacity(opts.k);
    let mut folded: Vec<(usize, u32)> = Vec::new();
    let mut per: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
    let doc_of = |row: u32| index.document_of(row);
    for r in ranked {
        if opts.min_score.is_some_and(|m| r.score < m) {
            continue;
        }
        let doc = doc_of(r.row)?;
        if let Some(t) = opts.fold {
            let v = index.vector(r.row);
            if let Some(i) = kept.iter().zip(&kept_docs).position(|(k, &d)| d != doc && dot(v, index.vector(k.row)) >= t) {
                folded.push((i, r.row));
                continue;
            }
        }
        if kept.len() == opts.k {
            // Only folding can still use the rest of the ranking.
            if opts.fold.is_none() {
                break;
            }
            continue;
        }
        let n = per.entry(doc).or_default();
        if opts.per_doc.is_some_and(|cap| *n >= cap) {
            continue;
        }
        *n += 1;
        kept.push(r);
        kept_docs.push(doc);
    }
    Ok((kept, folded))
}

/// The ranking of one search: the semantic side looks for `vector`, the lexical side for `words`,
/// in the store's scope. A required phrase in `words` restricts both sides to the passages that
/// hold it.
pub fn retrieve(store: &mut dyn Retrieval, vector: &[f32], words: &LexicalQuery, opts: &Options) -> Result<Vec<Ranked>> {
    let k = opts.k;
    let depth = if opts.mode == Mode::Hybrid { k.max(FUSION_DEPTH) } else { k };
    let semantic = match opts.mode {
        Mode::Lexical => Vec::new(),
        _ => {
            let walk = walk(opts.strategy, store.live());
            store.nearest(vector, depth, walk, words)?
        }
    };
    let lexical = match opts.mode {
        Mode::Lexical | Mode::Hybrid if words.has_words() => {
            // On a large store, passages holding only its common words are not scored (see
            // `LexicalQuery::selection`): the rest are scored once, for the ranking and for fusion.
            let selection = match words.may_select() {
                true => words.selection(lexical::SCORED_BUDGET, &store.word_counts(&words.words)?),
                false => None,
            };
            store.lexical(words, selection.as_ref(), depth)?
        }
        _ => Vec::new(),
    };
    let ranked = Ranked::from_side;
    Ok(match opts.mode {
        Mode::Semantic => ranked(&semantic, true),
        Mode::Lexical => ranked(&lexical, false),
        Mode::Hybrid if lexical.is_empty() => ranked(&semantic[..semantic.len().min(k)], true),
        Mode::Hybrid => {
            let store = &*store;
            let cosine = |r: u32| dot(vector, store.vector(r));
            let mut fused = fuse(&semantic, &lexical, opts.fusion, &cosine, &mut |rows: &[u32]| store.bm25_of(rows))?;
            fused.truncate(k);
            fused
        }
    })
}

/// One ranking from the two sides' candidates (see `Fusion`), wherever they were found (the local
/// index or a server): `cosine` gives a row's similarity to the question, `bm25_of` the BM25
/// scores of the rows given (those it finds the words in; called once, for the candidates the
/// lexical side did not return).
pub fn fuse(
    semantic: &[Hit],
    lexical: &[Hit],
    fusion: Fusion,
    cosine: &dyn Fn(u32) -> f32,
    bm25_of: &mut dyn FnMut(&[u32]) -> Result<Vec<Hit>>,
) -> Result<Vec<Ranked>> {
    let mut all: Vec<Ranked> = Vec::with_capacity(semantic.len() + lexical.len());
    let mut at: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
    for (i, h) in semantic.iter().enumerate() {
        at.insert(h.row, all.len());
        all.push(Ranked { row: h.row, score: 0.0, semantic: Some((i + 1, h.score)), lexical: None, words: None });
    }
    for (i, h) in lexical.iter().enumerate() {
        match at.get(&h.row) {
            Some(&j) => all[j].lexical = Some((i + 1, h.score)),
            None => {
                at.insert(h.row, all.len());
                all.push(Ranked { row: h.row, score: 0.0, semantic: None, lexical: Some((i + 1, h.score)), words: None });
            }
        }
    }
    // Both scores for every candidate (cosine as it is, BM25 scaled to [0, 1] over the candidates),
    // for the fusions that use scores.
    let mut both = |all: &[Ranked]| -> Result<(Vec<f32>, Vec<f32>)> {
        let cosines: Vec<f32> = all.iter().map(|r| r.semantic.map_or_else(|| cosine(r.row), |s| s.1)).collect();
        let missing: Vec<u32> = all.iter().filter(|r| r.lexical.is_none()).map(|r| r.row).collect();
        let found: std::collections::HashMap<u32, f32> = bm25_of(&missing)?.into_iter().map(|h| (h.row, h.score)).collect();
        let bm25: Vec<f32> = all.iter().map(|r| r.lexical.map(|l| l.1).or_else(|| found.get(&r.row).copied()).unwrap_or(0.0)).collect();
        Ok((cosines, scale(&bm25)))
    };
    let rrf = |side: Option<(usize, f32)>| side.map_or(0.0, |(rank, _)| 1.0 / (60.0 + rank as f32));
    let weighted = |cosine: &[f32], b: &[f32], w: f32| -> Vec<f32> { cosine.iter().zip(b).map(|(c, b)| c + w * b).collect() };
    // Each fusion's scores, and the scaled BM25 of every candidate where it was computed (RRF
    // uses the ranks alone and asks for no score).
    let (scores, words): (Vec<f32>, Option<Vec<f32>>) = match fusion {
        Fusion::Rrf => (all.iter().map(|r| rrf(r.semantic) + rrf(r.lexical)).collect(), None),
        Fusion::Convex { semantic_weight: w } => {
            let (cosine, b) = both(&all)?;
            (scale(&cosine).iter().zip(&b).map(|(c, b)| w * c + (1.0 - w) * b).collect(), Some(b))
        }
        Fusion::RawCosine { lexical_weight: w } => {
            let (cosine, b) = both(&all)?;
            (weighted(&cosine, &b, w), Some(b))
        }
        Fusion::Adaptive { lexical_weight } => {
            let (cosine, b) = both(&all)?;
            let best = cosine.iter().copied().fold(0.0f32, f32::max).min(1.0);
            (weighted(&cosine, &b, lexical_weight * (1.0 - best)), Some(b))
        }
    };
    for (i, (r, score)) in all.iter_mut().zip(scores).enumerate() {
        r.score = score;
        r.words = words.as_ref().map(|b| b[i]);
    }
    all.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
    Ok(all)
}

/// A question must have something in it (checked before anything loads, and by every store).
pub fn check_question(question: &str) -> Result<()> {
    if question.trim().is_empty() {
        bail!("the question is empty; ask something, e.g. semsearch ask \"what did Alibaba announce?\"");
    }
    Ok(())
}

/// `related --text` must have something in it.
pub fn check_text(text: &str) -> Result<()> {
    if text.trim().is_empty() {
        bail!("--text is empty; give the text to find related passages for");
    }
    Ok(())
}

/// What a search returned, and what its reader is told about it.
#[derive(Debug, Default)]
pub struct Answered {
    /// The results, best first.
    pub found: Vec<Found>,
    /// Documents without a date that a date filter left out.
    pub undated: usize,
    /// One line each, for stderr, the page, the API's `notices` and MCP: a quoted phrase no
    /// passage holds (the results are then the closest without it), and, when nothing came back,
    /// why.
    pub notices: Vec<String>,
}

/// `ask`: the question embedded, searched in `store` under `filter`, shaped for a reader.
pub fn ask(store: &dyn Store, embedder: &dyn Embed, question: &str, opts: &Options, filter: &Filter) -> Result<Answered> {
    check_question(question)?;
    let q = embedder.embed_one(question)?;
    let mut search = store.open(Scope { filter, except: None })?;
    search_text(&mut *search, embedder, &q, question, opts, filter, None)
}

/// Searches for a question (or `related`'s free text): with its quoted phrases required, and, when
/// no passage holds them, again as plain words, saying so.
fn search_text(
    search: &mut dyn Retrieval,
    embedder: &dyn Embed,
    q: &[f32],
    question: &str,
    opts: &Options,
    filter: &Filter,
    except: Option<&Except>,
) -> Result<Answered> {
    let words = lexical::parse(question);
    let (mut found, mut best) = finish(search, embedder, q, question, &words, opts)?;
    let mut notices = Vec::new();
    let nothing_admitted = search.tally().is_some_and(|t| t.admitted == 0);
    if found.is_empty() && words.has_phrases() && !nothing_admitted {
        let phrases: Vec<String> = words.required.iter().map(|p| format!("\"{}\"", p.join(" "))).collect();
        let together = if phrases.len() > 1 { " together" } else { "" };
        notices.push(format!("no passage contains {}{together}; showing the closest without it", phrases.join(" and ")));
        (found, best) = finish(search, embedder, q, question, &lexical::plain(question), opts)?;
    }
    if found.is_empty() {
        notices.push(why_empty(&*search, &lexical::plain(question), opts, filter, except, best));
    } else if opts.floor && found[0].confidence < NO_GOOD_MATCH && !holds_any_word(&found, question) {
        notices.push(format!(
            "no good match: the best result's confidence is {:.3}, under {NO_GOOD_MATCH}; --all (all=1) shows the {} results anyway",
            found[0].confidence,
            found.len()
        ));
        found.clear();
    }
    Ok(Answered { found, undated: search.undated(), notices })
}

/// Whether some result holds one of the question's words: a keyword search whose words are in the
/// index is answered, however low the model's confidence (a name the embedding cannot place).
fn holds_any_word(found: &[Found], question: &str) -> bool {
    let words = answer::QuestionWords::new(question);
    found.iter().any(|f| words.share_in(&evidence_text(&f.passage)) > 0.0)
}

/// One line saying why a search came back empty: the index is empty, the filter let no document
/// through (naming the pattern that matched no path), every result was under `--min-score`, or the
/// words are in no passage (lexical mode).
fn why_empty(search: &dyn Retrieval, words: &LexicalQuery, opts: &Options, filter: &Filter, except: Option<&Except>, best: Option<f32>) -> String {
    if search.live() == 0 {
        return "the index holds no passages; add documents with `semsearch index PATH`".into();
    }
    if let Some(t) = search.tally().filter(|t| t.admitted == 0) {
        let undated = match t.undated {
            0 => String::new(),
            n => format!(" ({n} undated documents left out)"),
        };
        return match t.unmatched_paths.as_slice() {
            [] => format!("no indexed document passes {}{undated}", filter.describe()),
            globs => format!("no indexed document's path matches --path {}; `semsearch status --files` lists the indexed paths", globs.join(", --path ")),
        };
    }
    if let (Some(floor), Some(best)) = (opts.min_score, best) {
        return format!("every result scored under --min-score {floor} (the best: {best:.3}); lower it, or leave it out");
    }
    if opts.mode == Mode::Lexical {
        if !words.has_words() {
            return "the question has no words to look up in lexical mode; use words, or --mode semantic".into();
        }
        return format!("no passage holds any of the words {}; try --mode hybrid or semantic", words.words.join(", "));
    }
    match except {
        Some(Except::Document(_)) => "no passage outside its own document is in the search (the index holds one document, or the filter allows only it)".into(),
        Some(Except::Passage(_)) => "no other passage is in the search".into(),
        None => "nothing matched".into(),
    }
}

/// Retrieves enough candidates for what `present` drops or folds, presents them, and resolves
/// the results with their folded passages. Also returns the best score retrieved (before the
/// score floor).
fn finish(
    search: &mut dyn Retrieval,
    embedder: &dyn Embed,
    q: &[f32],
    question: &str,
    words: &LexicalQuery,
    opts: &Options,
) -> Result<(Vec<Found>, Option<f32>)> {
    let ranked = retrieve(search, q, words, &Options { k: opts.depth(), ..*opts })?;
    let best = ranked.first().map(|r| r.score);
    Ok((shape_and_resolve(search, embedder, q, question, ranked, opts)?, best))
}

/// `present` and `resolve`, with the folded passages looked up: the part of a search after
/// retrieval. When folding, results whose answer sentences read the same (`same_sentence`) fold
/// too, so `present` keeps up to `k` more candidates to fill the places they free.
fn shape_and_resolve(index: &dyn Candidates, embedder: &dyn Embed, q: &[f32], question: &str, ranked: Vec<Ranked>, opts: &Options) -> Result<Vec<Found>> {
    let spare = if opts.fold.is_some() { opts.k } else { 0 };
    let (kept, folded) = present(index, ranked, &Options { k: opts.k + spare, ..*opts })?;
    let rows: Vec<u32> = kept.iter().map(|r| r.row).chain(folded.iter().map(|f| f.1)).collect();
    index.prefetch(&rows)?;
    let mut found = resolve(index, embedder, q, question, &kept)?;
    for (i, row) in folded {
        if let Some(p) = index.passage(row)? {
            found[i].also.push(p);
        }
    }
    if opts.fold.is_some() {
        found = fold_sentences(found);
    }
    found.truncate(opts.k);
    Ok(found)
}

/// Folds each result whose answer sentence reads the same as an earlier result's of another
/// document (one wire sentence in two outlets' stories, the rest of each passage different, so
/// their vectors stay apart) into that result, as `also`. Ranks are renumbered.
fn fold_sentences(found: Vec<Found>) -> Vec<Found> {
    let mut out: Vec<Found> = Vec::with_capacity(found.len());
    for f in found {
        let same = out.iter().position(|o| o.passage.record.doc_id != f.passage.record.doc_id && same_sentence(o.answer_text(), f.answer_text()));
        match same {
            Some(i) => {
                let Found { passage, also, .. } = f;
                out[i].also.push(passage);
                out[i].also.extend(also);
            }
            None => out.push(f),
        }
    }
    for (i, f) in out.iter_mut().enumerate() {
        f.rank = i + 1;
    }
    out
}

/// Sentences of at least `SAME_SENTENCE_WORDS` words read the same when their sets of lowercased
/// words overlap by at least `SAME_SENTENCE_JACCARD` (a wire sentence copied with a word changed,
/// a dateline dropped): near-identical, not merely on one subject.
fn same_sentence(a: &str, b: &str) -> bool {
    let set = |s: &str| -> std::collections::HashSet<String> { answer::lower_words(s).collect() };
    let (a, b) = (set(a), set(b));
    if a.len() < SAME_SENTENCE_WORDS || b.len() < SAME_SENTENCE_WORDS {
        return false;
    }
    let shared = a.intersection(&b).count();
    shared as f32 / (a.len() + b.len() - shared) as f32 >= SAME_SENTENCE_JACCARD
}

/// See `same_sentence`: shorter sentences ("Shares fell.") repeat by chance.
const SAME_SENTENCE_WORDS: usize = 6;
/// See `same_sentence`.
const SAME_SENTENCE_JACCARD: f32 = 0.8;

/// `related`: passages like a stored one (by its vector, its own document left out, or with
/// `same_doc` only itself) or like free text (searched as `ask` searches it).
pub fn related(store: &dyn Store, embedder: &dyn Embed, target: &Target, same_doc: bool, opts: &Options, filter: &Filter) -> Result<Answered> {
    // From a stored passage the search is by its vector (its words would find the passage's own
    // near copies first); from free text, as `ask` searches.
    match target {
        Target::Text(t) => {
            check_text(t)?;
            let q = embedder.embed_one(t)?;
            let mut search = store.open(Scope { filter, except: None })?;
            search_text(&mut *search, embedder, &q, t, opts, filter, None)
        }
        _ => {
            let origin = store.origin(target)?;
            let except = if same_doc { Except::Passage(origin.id) } else { Except::Document(origin.doc_id) };
            let opts = Options { mode: Mode::Semantic, ..*opts };
            let mut search = store.open(Scope { filter, except: Some(&except) })?;
            let (found, best) = finish(&mut *search, embedder, &origin.vector, "", &LexicalQuery::none(), &opts)?;
            let notices = if found.is_empty() { vec![why_empty(&*search, &LexicalQuery::none(), &opts, filter, Some(&except), best)] } else { Vec::new() };
            Ok(Answered { found, undated: search.undated(), notices })
        }
    }
}

#[cfg(test)]
mod tests;
