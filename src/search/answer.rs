//! The answer sentence: which sentence of a found passage answers the question.
//!
//! Each sentence's vector is pooled at index time from the passage's own forward pass (the mean of
//! the final states of the sentence's tokens: what the sentence means in its passage, at no extra
//! model cost) and stored beside the passage, quantised to int8 (`SentenceVectors`). At query
//! time a sentence scores its cosine with the question, plus `OVERLAP_WEIGHT` × the share of the
//! question's words it holds (stemmed, each weighted by its rarity among the passage's sentences,
//! the title's words left out), plus `TYPE_WEIGHT` when it holds what the question asks for (a
//! figure, a date, a name), so no model runs on the hits. Measured with `bench` on
//! squad2-dev-half (`answer@gold`: the sentence chosen inside the gold paragraph holds a gold
//! answer; `--no-chunk --exact`): cosine alone 0.7717, cosine + 0.2 × plain word share (the rule
//! before) 0.8385, this rule 0.8745 — sentence-transformers embedding every sentence on its own
//! scores 0.8085 there, most shared words 0.8055. With default chunking 0.823 → 0.8385.

use super::lexical;
pub use crate::index::SentenceVectors;
use unicode_segmentation::UnicodeSegmentation;

/// A sentence with fewer words than this (a dateline, a byline, a label) is not offered as the
/// answer when the passage has a longer one: such fragments sit close to many questions in
/// embedding space ("Frankfurt, 6 March" to "when did the ECB cut?") while answering none.
const MIN_WORDS: usize = 4;

/// Weight of the question-word overlap (a share, 0–1, see `QuestionWords::overlaps`) beside the
/// sentence's cosine. Pooled sentence vectors share their passage's context, so cosines of one
/// passage's sentences lie closer together than those of separately embedded sentences; the words
/// the question names separate them again. Chosen on squad2-dev-half (`answer@gold`, split in two
/// halves by question id: 0.5 and 0.7 best on both halves, with and without chunking).
pub const OVERLAP_WEIGHT: f32 = 0.6;

/// Added when the sentence holds what the question's type asks for (a figure for "how many", a
/// date for "when", a name for "who"): a tie-breaker between sentences that share its words.
pub const TYPE_WEIGHT: f32 = 0.1;

/// Sentences that may be a passage's answer: those of at least `MIN_WORDS` words, or all of them
/// when none is that long.
pub fn candidates(text: &str) -> Vec<(usize, usize)> {
    let all = sentences(text);
    let long: Vec<(usize, usize)> = all.iter().copied().filter(|&(a, b)| text[a..b].split_whitespace().count() >= MIN_WORDS).collect();
    if long.is_empty() {
        all
    } else {
        long
    }
}

/// Sentence spans of `text` (trimmed, non-empty; the whole text when it has none).
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

/// What a question asks for, read off its first words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asks {
    /// "how many", "how much", "what percentage": a figure.
    Figure,
    /// "when", "what year": a date.
    Date,
    /// "who", "whose": a name.
    Name,
    /// Anything else.
    Other,
}

/// A question as the answer sentence is chosen for it: its content words, stemmed (stop words
/// dropped, unless it has only those), and what it asks for.
pub struct QuestionWords {
    /// Stemmed content words, distinct.
    stems: Vec<String>,
    /// Its words, lowercased (a name it already holds is not an answer to it).
    lower: Vec<String>,
    /// What it asks for.
    asks: Asks,
}

/// Snowball's English stemmer: "decided", "decides" and "deciding" meet "decide" where a question
/// and its answer use different forms of one word.
fn stemmer() -> &'static rust_stemmers::Stemmer {
    static STEMMER: std::sync::OnceLock<rust_stemmers::Stemmer> = std::sync::OnceLock::new();
    STEMMER.get_or_init(|| rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English))
}

/// Lowercased runs of letters and digits; CJK characters as the lexical side reads them, in
/// overlapping pairs (`store::lexical::cjk_bigrams`).
pub(crate) fn lower_words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).flat_map(|w| {
        // Most runs have no CJK character: one word, without building a list for it.
        let (one, pairs) = match !w.is_ascii() && w.chars().any(crate::store::lexical::is_cjk) {
            false => (Some(w.to_lowercase()), Vec::new()),
            true => (None, crate::store::lexical::cjk_bigrams(w)),
        };
        one.into_iter().chain(pairs.into_iter().map(|p| p.to_lowercase()))
    })
}

/// Distinct stems of `text`'s words.
fn stem_set(text: &str) -> Vec<String> {
    let mut out: Vec<String> = lower_words(text).map(|w| stemmer().stem(&w).into_owned()).collect();
    out.sort_unstable();
    out.dedup();
    out
}

impl QuestionWords {
    /// The question's content words and type, as answers are scored against them.
    pub fn new(question: &str) -> QuestionWords {
        let lower: Vec<String> = lower_words(question).collect();
        let content: Vec<&String> = lower.iter().filter(|w| !lexical::is_stop_word(w)).collect();
        let chosen: Vec<&String> = if content.is_empty() { lower.iter().collect() } else { content };
        let mut stems: Vec<String> = Vec::new();
        for w in chosen {
            let s = stemmer().stem(w).into_owned();
            if !stems.contains(&s) {
                stems.push(s);
            }
        }
        QuestionWords { asks: asks(&lower), stems, lower }
    }

    /// For each of `sentences`, the share of the question's words it holds, each word weighted by
    /// how rare it is among the sentences (ln((n + 1) / (df + 0.5))): a word every sentence holds
    /// says little about which one answers. Words of the document's `title` are left out (they
    /// name the document, not the sentence) unless the question has no others.
    pub fn overlaps(&self, sentences: &[&str], title: &str) -> Vec<f32> {
        let title = stem_set(title);
        let own: Vec<&String> = self.stems.iter().filter(|w| title.binary_search(w).is_err()).collect();
        let words: Vec<&String> = if own.is_empty() { self.stems.iter().collect() } else { own };
        let sets: Vec<Vec<String>> = sentences.iter().map(|s| stem_set(s)).collect();
        let n = sets.len() as f32;
        let weights: Vec<f32> = words
            .iter()
            .map(|w| {
                let df = sets.iter().filter(|s| s.binary_search(w).is_ok()).count() as f32;
                ((n + 1.0) / (df + 0.5)).ln()
            })
            .collect();
        let total: f32 = weights.iter().sum();
        sets.iter()
            .map(|s| {
                if total <= 0.0 {
                    return 0.0;
                }
                words.iter().zip(&weights).filter(|(w, _)| s.binary_search(w).is_ok()).map(|(_, x)| x).sum::<f32>() / total
            })
            .collect()
    }

    /// The share of the question's words (stemmed) that `text` holds: how much of what was asked
    /// a passage mentions at all, an absolute measure where BM25 is relative to the index.
    pub fn share_in(&self, text: &str) -> f32 {
        if self.stems.is_empty() {
            return 0.0;
        }
        let held = stem_set(text);
        self.stems.iter().filter(|w| held.binary_search(w).is_ok()).count() as f32 / self.stems.len() as f32
    }

    /// Whether `sentence` holds what the question asks for (`Asks`); always false for `Other`.
    pub fn typed(&self, sentence: &str) -> bool {
        match self.asks {
            Asks::Figure => sentence.chars().any(|c| c.is_ascii_digit()),
            Asks::Date => lower_words(sentence).any(|w| is_year(&w) || MONTHS.contains(&w.as_str()) || w == "century"),
            // A capitalised word after the first that the question does not hold.
            Asks::Name => sentence.split_whitespace().skip(1).any(|w| {
                let w = w.trim_matches(|c: char| !c.is_alphanumeric());
                let mut cs = w.chars();
                cs.next().is_some_and(char::is_uppercase) && cs.any(char::is_lowercase) && !self.lower.contains(&w.to_lowercase())
            }),
            Asks::Other => false,
        }
    }
}

const MONTHS: &[&str] = &["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"];

fn is_year(w: &str) -> bool {
    w.len() == 4 && w.bytes().all(|b| b.is_ascii_digit()) && (w.starts_with('1') || w.starts_with("20"))
}

/// What a question asks for, from its lowercased words.
fn asks(words: &[String]) -> Asks {
    const FIGURE_AFTER_HOW: &[&str] = &["many", "much", "long", "old", "far", "large", "big", "tall", "high"];
    const FIGURE_NOUNS: &[&str] = &["percentage", "percent", "number", "amount"];
    const DATE_NOUNS: &[&str] = &["year", "date", "month", "day", "century", "decade"];
    let pairs = || words.windows(2).map(|p| (p[0].as_str(), p[1].as_str()));
    if pairs().any(|(a, b)| (a == "how" && FIGURE_AFTER_HOW.contains(&b)) || ((a == "what" || a == "which") && FIGURE_NOUNS.contains(&b))) {
        Asks::Figure
    } else if words.iter().any(|w| w == "when") || pairs().any(|(a, b)| (a == "what" || a == "which") && DATE_NOUNS.contains(&b)) {
        Asks::Date
    } else if words.iter().any(|w| w == "who" || w == "whom" || w == "whose") {
        Asks::Name
    } else {
        Asks::Other
    }
}

/// The best of `spans` (sentences of `text`, of a document titled `title`) for a question: highest
/// cosine (`cosine(i)` of span i) plus the weighted overlap of its words and the type bonus.
/// Returns the span and its cosine.
pub fn choose(text: &str, title: &str, spans: &[(usize, usize)], words: &QuestionWords, cosine: impl Fn(usize) -> f32) -> ((usize, usize), f32) {
    let sentences: Vec<&str> = spans.iter().map(|&(a, b)| &text[a..b]).collect();
    let overlaps = words.overlaps(&sentences, title);
    let mut best = (spans[0], f32::MIN, f32::MIN);
    for (i, &span) in spans.iter().enumerate() {
        let c = cosine(i);
        let s = c + OVERLAP_WEIGHT * overlaps[i] + if words.typed(sentences[i]) { TYPE_WEIGHT } else { 0.0 };
        if s > best.2 {
            best = (span, c, s);
        }
    }
    (best.0, best.1)
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
        let a: Vec<&str> = candidates(t).into_iter().map(|(a, b)| &t[a..b]).collect();
        assert_eq!(a, vec!["The bank lowered its rate by a quarter point."]);
        assert_eq!(candidates("Rates cut."), vec![(0, 10)]);
    }

    #[test]
    fn the_overlap_breaks_near_ties_toward_the_words_asked_about() {
        let t = "The strike ended on Monday. Shippers lost 40 million euros to the strike.";
        let spans = candidates(t);
        let words = QuestionWords::new("How much did the strike cost shippers?");
        // Cosines a hair apart, the first ahead: the sentence naming shippers wins.
        let (span, cos) = choose(t, "", &spans, &words, |i| [0.50, 0.48][i]);
        assert_eq!(&t[span.0..span.1], "Shippers lost 40 million euros to the strike.");
        assert_eq!(cos, 0.48);
        // A clear cosine lead is not overturned by one shared word.
        let (span, _) = choose(t, "", &spans, &words, |i| [0.80, 0.40][i]);
        assert_eq!(&t[span.0..span.1], "The strike ended on Monday.");
    }

    #[test]
    fn words_meet_in_other_forms_and_rare_ones_weigh_more() {
        let words = QuestionWords::new("When was the tariff decided?");
        let s = ["Officials decide on tariffs in June.", "The tariffs were criticised.", "Tariffs rose."];
        let o = words.overlaps(&s, "");
        // "decided" meets "decide", "tariff" "tariffs"; "tariff", in every sentence, weighs least.
        assert!(o[0] > 0.99 && o[1] > 0.0 && o[1] < 0.5 && o[1] == o[2], "{o:?}");
        // Words of the title name the document, not the sentence.
        let o = QuestionWords::new("What did Novatra decide?").overlaps(&["Novatra fell.", "The board decided to sell."], "Novatra shares");
        assert_eq!(o, vec![0.0, 1.0]);
    }

    #[test]
    fn what_the_question_asks_for() {
        let figure = QuestionWords::new("How much does the detour cost per day?");
        assert!(figure.typed("It costs $98,000 a day.") && !figure.typed("It costs a lot."));
        let date = QuestionWords::new("When will the bank slow its buying?");
        assert!(date.typed("It slows from July.") && date.typed("Buying slows in 2027.") && !date.typed("It slows soon."));
        let name = QuestionWords::new("Who leads the Bank of England?");
        assert!(name.typed("The governor is Andrew Bailey.") && !name.typed("The Bank of England is led by its governor."));
        assert!(!QuestionWords::new("What did the Fed decide?").typed("The vote was 12-0."));
    }
}
