//! The answer sentence: which sentence of a found passage answers the question.
//!
//! Each sentence's vector is pooled at index time from the passage's own forward pass (the mean of
//! the final states of the sentence's tokens: what the sentence means in its passage, at no extra
//! model cost) and stored beside the passage, quantised to int8 (`SentenceVectors`). At query
//! time a sentence scores its cosine with the question plus `OVERLAP_WEIGHT` × the share of the
//! question's content words it holds, so no model runs on the hits. Measured on
//! `examples/analyst` (10 questions with expected sentences, `examples/answer_pooling`): pooled
//! vectors alone pick the expected sentence 9/10, with the overlap 10/10, the same as embedding
//! every sentence separately at query time, which cost ~70 ms of a warm `ask`.

use super::lexical;
pub use crate::index::SentenceVectors;
use unicode_segmentation::UnicodeSegmentation;

/// A sentence with fewer words than this (a dateline, a byline, a label) is not offered as the
/// answer when the passage has a longer one: such fragments sit close to many questions in
/// embedding space ("Frankfurt, 6 March" to "when did the ECB cut?") while answering none.
const MIN_WORDS: usize = 4;

/// Weight of the question-word overlap (a share, 0–1) beside the sentence's cosine. Pooled
/// sentence vectors share their passage's context, so cosines of one passage's sentences lie
/// closer together than those of separately embedded sentences; the words the question names
/// separate them again. Set on `examples/analyst` (0.1 and 0.2 tried; 0.2 the better).
pub const OVERLAP_WEIGHT: f32 = 0.2;

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

/// A question's content words, lowercased (stop words dropped, unless it has only those).
pub struct QuestionWords(Vec<String>);

impl QuestionWords {
    /// The question's content words, as answers are scored against them.
    pub fn new(question: &str) -> QuestionWords {
        let all: Vec<String> = word_set(question);
        let content: Vec<String> = all.iter().filter(|w| !lexical::is_stop_word(w)).cloned().collect();
        QuestionWords(if content.is_empty() { all } else { content })
    }

    /// The share of the question's words that `sentence` holds.
    pub fn overlap(&self, sentence: &str) -> f32 {
        if self.0.is_empty() {
            return 0.0;
        }
        let words = word_set(sentence);
        self.0.iter().filter(|w| words.contains(w)).count() as f32 / self.0.len() as f32
    }
}

/// Distinct lowercased runs of letters and digits.
fn word_set(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The best of `spans` (sentences of `text`) for a question: highest cosine (`cosine(i)` of span
/// i) plus the overlap bonus. Returns the span and its cosine.
pub fn choose(text: &str, spans: &[(usize, usize)], words: &QuestionWords, cosine: impl Fn(usize) -> f32) -> ((usize, usize), f32) {
    let mut best = (spans[0], f32::MIN, f32::MIN);
    for (i, &(a, b)) in spans.iter().enumerate() {
        let c = cosine(i);
        let s = c + OVERLAP_WEIGHT * words.overlap(&text[a..b]);
        if s > best.2 {
            best = ((a, b), c, s);
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
        let (span, cos) = choose(t, &spans, &words, |i| [0.50, 0.48][i]);
        assert_eq!(&t[span.0..span.1], "Shippers lost 40 million euros to the strike.");
        assert_eq!(cos, 0.48);
        // A clear cosine lead is not overturned by one shared word.
        let (span, _) = choose(t, &spans, &words, |i| [0.80, 0.40][i]);
        assert_eq!(&t[span.0..span.1], "The strike ended on Monday.");
    }
}
