//! Free text to a lexical query that cannot fail, in no engine's syntax.
//!
//! A question is words, not query syntax: it becomes runs of letters and digits, so `AND`, `NOT`,
//! `*`, `-`, `:`, `^`, `&`, `|`, parentheses and stray quotes are plain text. Each store renders
//! the words in its engine's syntax (`LexicalQuery::render`: FTS5 in `index::fts`, `tsquery` on
//! the server), the words joined with OR, so BM25 ranks the passages by how many of the rarer words
//! they hold. A `"quoted phrase"` stays a phrase and is required. Common English function words are
//! left out of the OR: they would match nearly every passage (costing time on a large index) while
//! BM25 gives them almost no weight; on a large index, passages holding only words common there are
//! not scored (`selection`).

/// A question's words: the required phrases, and the figures and words any of which may match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexicalQuery {
    /// The required phrases, each its words (letters and digits only)…
    pub required: Vec<Vec<String>>,
    /// … the figures written with punctuation inside (`3.75%`, `US$52.4bn`, `5–2–2`, `411,000`),
    /// matched as a phrase of their runs of letters and digits (FTS5 splits them at the
    /// punctuation, and as separate words `3.75%` would match `0.75%` on its `75`; PostgreSQL's
    /// parser reads `3.75` as one token, so the server lexes the figure's text itself)…
    pub figures: Vec<Figure>,
    /// … and the words any of which may match.
    pub words: Vec<String>,
}

/// A figure of a question, as written from its first run of letters and digits to its last
/// (`3.75`, `US$52.4bn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figure {
    /// Its text.
    pub text: String,
}

impl Figure {
    /// Its runs of letters and digits (`3`, `75`), the phrase FTS5 matches.
    pub fn runs(&self) -> Vec<String> {
        words(&self.text).map(str::to_string).collect()
    }
}

/// The most distinct words (and figures) of a question the lexical side looks for, in the
/// question's order: each costs a count and a term in every scored passage, and a question of
/// more words is a pasted text, which the semantic side reads better anyway.
pub const MAX_WORDS: usize = 64;

/// Words too common to look for (the classic English stop list, as in Lucene's default).
const STOP: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not", "of", "on", "or", "such", "that", "the",
    "their", "then", "there", "these", "they", "this", "to", "was", "will", "with", "what", "which", "who", "whom", "how", "when", "where", "why", "did", "do",
    "does", "has", "have", "had", "were", "been", "its", "from", "about", "can", "could", "would", "should",
];

/// Whether `word` (lowercase) is on the stop list.
pub(crate) fn is_stop_word(word: &str) -> bool {
    STOP.contains(&word)
}

/// Words of `text` as the FTS5 unicode61 tokenizer sees them: runs of letters and digits.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty())
}

/// The lexical query of plain text, with no syntax at all: quotation marks are text like any other
/// punctuation. `bench` reads a labeled set's questions so (published figures are computed on the
/// raw text: a quoted title in a question must not restrict the search).
pub fn plain(text: &str) -> LexicalQuery {
    let (figures, words) = any_words(text);
    LexicalQuery { required: Vec::new(), figures, words }
}

/// Runs of letters and digits of `text`, each with whether a single punctuation character (not a
/// space, quote or bracket) joins it to the run before (`3` `.` `75`).
fn joined_runs(text: &str) -> Vec<(usize, usize, bool)> {
    let mut out: Vec<(usize, usize, bool)> = Vec::new();
    let mut start: Option<usize> = None;
    let mut end: Option<usize> = None;
    for (i, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        match (c.is_alphanumeric() && i < text.len(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                let joined = end.is_some_and(|e| {
                    let mut gap = text[e..s].chars();
                    matches!((gap.next(), gap.next()), (Some(g), None) if !g.is_whitespace() && !"\"'“”‘’()[]{}<>«»".contains(g))
                });
                out.push((s, i, joined));
                end = Some(i);
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// The figures (runs joined by punctuation, one of them holding a digit) and the other distinct
/// words of `text` any of which may match: function words dropped, unless there is nothing else.
fn any_words(text: &str) -> (Vec<Figure>, Vec<String>) {
    let runs = joined_runs(text);
    let mut figures: Vec<Figure> = Vec::new();
    let mut all: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < runs.len() {
        let mut j = i + 1;
        while j < runs.len() && runs[j].2 {
            j += 1;
        }
        let group = &runs[i..j];
        if group.len() > 1 && group.iter().any(|&(a, b, _)| text[a..b].chars().any(|c| c.is_ascii_digit())) {
            let f = Figure { text: text[group[0].0..group[group.len() - 1].1].to_string() };
            if !figures.contains(&f) {
                figures.push(f);
            }
        } else {
            all.extend(group.iter().map(|&(a, b, _)| &text[a..b]));
        }
        i = j;
    }
    let content: Vec<&str> = all.iter().copied().filter(|w| !STOP.contains(&w.to_lowercase().as_str())).collect();
    let mut plain: Vec<String> = Vec::new();
    // A question of only function words still searches for them.
    for w in if content.is_empty() { &all } else { &content } {
        for w in cjk_bigrams(w) {
            if !plain.contains(&w) && plain.len() < MAX_WORDS {
                plain.push(w);
            }
        }
    }
    figures.truncate(MAX_WORDS);
    (figures, plain)
}

/// Whether `c` is a Han, Hiragana, Katakana or Hangul character: scripts written without spaces
/// between words (Korean has spaces, but its particles are written onto the nouns).
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// A run of letters as the query's words: itself, or where it holds CJK characters, its other
/// letters and the overlapping pairs of its CJK characters (a lone one stays a word). The stores
/// index every CJK character as a token of its own (`cjk_spaced`), and a pair is matched as a
/// phrase of two, which is how Lucene's CJK analyzer and most engines without a dictionary segment
/// Chinese and Japanese: a word of two characters or more is found wherever it is written, and
/// pairs across a word boundary are rare enough that BM25's idf weighs them down.
pub(crate) fn cjk_bigrams(run: &str) -> Vec<String> {
    if run.is_ascii() || !run.chars().any(is_cjk) {
        return vec![run.to_string()];
    }
    let mut out = Vec::new();
    let mut other = String::new();
    let mut cjk: Vec<char> = Vec::new();
    let flush = |cjk: &mut Vec<char>, out: &mut Vec<String>| {
        match cjk.len() {
            0 => {}
            1 => out.push(cjk[0].to_string()),
            _ => out.extend(cjk.windows(2).map(|p| p.iter().collect::<String>())),
        }
        cjk.clear();
    };
    for c in run.chars() {
        if is_cjk(c) {
            if !other.is_empty() {
                out.push(std::mem::take(&mut other));
            }
            cjk.push(c);
        } else {
            flush(&mut cjk, &mut out);
            other.push(c);
        }
    }
    flush(&mut cjk, &mut out);
    if !other.is_empty() {
        out.push(other);
    }
    out
}

/// `text` with a space on each side of every CJK character, so that a tokenizer splitting at
/// spaces and punctuation makes each one a token (see `cjk_bigrams`); other text unchanged.
pub fn cjk_spaced(text: &str) -> std::borrow::Cow<'_, str> {
    if text.is_ascii() || !text.chars().any(is_cjk) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if is_cjk(c) {
            out.push(' ');
            out.push(c);
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The lexical query of a question: its quoted phrases required, its other words any of which may match (function words dropped).
pub fn parse(question: &str) -> LexicalQuery {
    // Quoted stretches are phrases; an unpaired quote is text.
    let mut required: Vec<Vec<String>> = Vec::new();
    let mut free = String::new();
    let mut rest = question;
    while let Some(open) = rest.find('"') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('"') else { break };
        free.push_str(&rest[..open]);
        free.push(' ');
        let phrase: Vec<&str> = words(&after[..close]).collect();
        if !phrase.is_empty() {
            required.push(phrase.iter().map(|w| w.to_string()).collect());
        }
        rest = &after[close + 1..];
    }
    free.push_str(rest);
    let (figures, words) = any_words(&free);
    LexicalQuery { required, figures, words }
}

/// How a query engine writes a phrase, a word, and its AND and OR (with the spaces around them).
pub struct Syntax {
    /// Writes a phrase.
    pub phrase: fn(&[String]) -> String,
    /// Writes a word.
    pub word: fn(&str) -> String,
    /// Joins what all must match.
    pub and: &'static str,
    /// Joins what any may match.
    pub or: &'static str,
}

/// A question's words split on a large index (see `LexicalQuery::selection`): the rare words, which
/// select the passages to rank, and the common ones. Together they are the question's OR query: a
/// selected passage's BM25 is that of `rare AND common` where it holds a common word (each word
/// once in the query, so FTS5's bm25() is the whole query's), else that of `rare` alone. Both cost
/// what the rare words match, not what the common ones do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The rare words, which select the passages to score.
    pub rare: Vec<String>,
    /// The common words, which only add to the score.
    pub common: Vec<String>,
}

/// About how many matching passages the lexical side may score. FTS5 computes BM25 for every
/// passage a query matches (about a microsecond each: it looks up the passage's length), so an OR
/// of common words over a large index costs 100 ms and more. Measured (`benches/lexical.rs`,
/// 200,000 passages, 2 cores): scoring every match 100–130 ms, within this budget 30–34 ms. At
/// the same fraction of the shared labeled sets (275 of 5,500) lexical nDCG@10 moved by ≤ 0.001
/// and hybrid's by ≤ 0.007 either way; half of it (2.5 %) cost lexical search 0.014–0.03.
pub const SCORED_BUDGET: u64 = 10_000;

impl LexicalQuery {
    /// Whether there is anything to look for.
    pub fn has_words(&self) -> bool {
        !self.required.is_empty() || !self.figures.is_empty() || !self.words.is_empty()
    }

    /// Whether some phrase is required.
    pub fn has_phrases(&self) -> bool {
        !self.required.is_empty()
    }

    /// The query in another engine's syntax: the query that matches (the required phrases AND any
    /// of the phrases and words) and the required phrases alone; `None` where there is nothing.
    pub fn render(&self, s: &Syntax) -> (Option<String>, Option<String>) {
        let figures: Vec<String> = self.figures.iter().map(|f| (s.phrase)(&f.runs())).collect();
        self.render_with(s, &figures)
    }

    /// As `render`, with the figures already written in the engine's syntax, one alternative each
    /// (for a server that lexes them with its own parser).
    pub fn render_with(&self, s: &Syntax, figures: &[String]) -> (Option<String>, Option<String>) {
        let (any, required) = self.render_parts_with(s, figures);
        let matching = match (&required, any) {
            (Some(r), Some(any)) => Some(format!("({r}){}({any})", s.and)),
            (None, any) => any,
            (Some(_), None) => unreachable!("a required phrase is among the alternatives"),
        };
        (matching, required)
    }

    /// The query in another engine's syntax as its two parts: any of the phrases, figures and
    /// words, and the required phrases alone (a store that matches the required phrases in a
    /// field of its own, such as a document's title, applies them apart).
    pub fn render_parts(&self, s: &Syntax) -> (Option<String>, Option<String>) {
        let figures: Vec<String> = self.figures.iter().map(|f| (s.phrase)(&f.runs())).collect();
        self.render_parts_with(s, &figures)
    }

    /// As `render_parts`, with the figures already written in the engine's syntax (see `render_with`).
    pub fn render_parts_with(&self, s: &Syntax, figures: &[String]) -> (Option<String>, Option<String>) {
        let phrases: Vec<String> = self.required.iter().map(|p| (s.phrase)(p)).collect();
        let required = (!phrases.is_empty()).then(|| phrases.join(s.and));
        let figures = figures.iter().cloned();
        let any: Vec<String> = phrases.into_iter().chain(figures).chain(self.words.iter().map(|w| (s.word)(w))).collect();
        ((!any.is_empty()).then(|| any.join(s.or)), required)
    }

    /// Whether `selection` can narrow the passages scored at all: two words or more, and no
    /// required phrase (which narrows the search already) or figure (the selection is of words).
    /// A store may skip counting otherwise.
    pub fn may_select(&self) -> bool {
        self.has_words() && self.required.is_empty() && self.figures.is_empty() && self.words.len() >= 2
    }

    /// Which passages the lexical side scores, on a store where `counts[i]` passages hold
    /// `words[i]` (`Retrieval::word_counts`): `None`, all that match, when the words match at most
    /// `budget` passages together (or a required phrase narrows the search already); otherwise the
    /// rarest words that stay within the budget (at least the rarest one) select the passages,
    /// which are ranked by the whole query's BM25. Passages holding only the other, common words are
    /// not ranked — they would rank low: those words weigh least in BM25 (idf ≈ ln(N / n)) and cost
    /// most to score.
    pub fn selection(&self, budget: u64, counts: &[u64]) -> Option<Selection> {
        if !self.may_select() || counts.len() != self.words.len() {
            return None;
        }
        let mut counted: Vec<(u64, usize)> = counts.iter().copied().zip(0..).collect();
        if counted.iter().map(|c| c.0).sum::<u64>() <= budget {
            return None;
        }
        counted.sort();
        let mut keep = vec![false; self.words.len()];
        let mut sum = 0;
        for (n, i) in counted {
            if sum > 0 && sum + n > budget {
                break;
            }
            sum += n;
            keep[i] = true;
        }
        let side = |rare: bool| -> Vec<String> { self.words.iter().zip(&keep).filter(|(_, &k)| k == rare).map(|(w, _)| w.clone()).collect() };
        Some(Selection { rare: side(true), common: side(false) })
    }

    /// No words to look for.
    pub fn none() -> LexicalQuery {
        LexicalQuery { required: Vec::new(), figures: Vec::new(), words: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn words_are_kept_and_function_words_dropped() {
        let q = parse("What did Everbright Securities say?");
        assert_eq!(q.words, strings(&["Everbright", "Securities", "say"]));
        assert!(q.required.is_empty() && q.has_words() && !q.has_phrases());
    }

    #[test]
    fn syntax_in_user_text_is_text() {
        let q = parse(r#"NOT a* -b c:d ^e (f OR g) "unpaired"#);
        assert_eq!(q.words, strings(&["b", "c", "d", "e", "f", "g", "unpaired"]));
        assert!(!parse("?? -- ()").has_words());
        assert_eq!(parse("the of").words, strings(&["the", "of"]), "a question of only function words still searches for them");
    }

    #[test]
    fn quoted_phrases_are_required() {
        let q = parse(r#"why did "Kenny Ng" sell "" stocks"#);
        assert_eq!(q.required, vec![strings(&["Kenny", "Ng"])]);
        assert_eq!(q.words, strings(&["sell", "stocks"]));
        let tsquery = Syntax { phrase: |p| format!("({})", p.join(" <-> ")), word: str::to_string, and: " & ", or: " | " };
        assert_eq!(q.render(&tsquery), (Some("((Kenny <-> Ng)) & ((Kenny <-> Ng) | sell | stocks)".to_string()), Some("(Kenny <-> Ng)".to_string())));
    }

    #[test]
    fn figures_are_phrases_of_their_runs() {
        let q = parse("Did the Fed hold at 3.75%, and US$52.4bn or 5–2–2 or 411,000 jobs in 2025-06? (XLNX, Fed's)");
        let f: Vec<Vec<String>> =
            [&["3", "75"][..], &["US", "52", "4bn"], &["5", "2", "2"], &["411", "000"], &["2025", "06"]].iter().map(|f| strings(f)).collect();
        assert_eq!(q.figures.iter().map(Figure::runs).collect::<Vec<_>>(), f);
        assert_eq!(q.figures.iter().map(|f| f.text.as_str()).collect::<Vec<_>>(), ["3.75", "US$52.4bn", "5–2–2", "411,000", "2025-06"]);
        assert_eq!(q.words, strings(&["Fed", "hold", "jobs", "XLNX", "s"]));
        assert!(!q.may_select(), "the selection is of words");
        let fts = Syntax { phrase: |p| format!("\"{}\"", p.join(" ")), word: |w| format!("\"{w}\""), and: " AND ", or: " OR " };
        assert_eq!(parse("3.75% rate").render(&fts).0.unwrap(), r#""3 75" OR "rate""#);
        assert!(plain("1968 and 12 - 0").figures.is_empty(), "spaces do not join");
    }

    #[test]
    fn cjk_runs_are_looked_for_by_their_pairs_of_characters() {
        assert_eq!(plain("阿里巴巴投资了什么？").words, strings(&["阿里", "里巴", "巴巴", "巴投", "投资", "资了", "了什", "什么"]));
        assert_eq!(plain("DeepSeek的创始人 是 谁").words, strings(&["DeepSeek", "的创", "创始", "始人", "是", "谁"]));
        assert_eq!(cjk_spaced("DeepSeek的创始人, ok"), "DeepSeek 的  创  始  人 , ok");
        assert!(matches!(cjk_spaced("plain text"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn a_pasted_text_is_looked_for_by_its_first_words() {
        let long: String = (0..9000).map(|i| format!("word{i} ")).collect();
        let q = plain(&long);
        assert_eq!(q.words.len(), MAX_WORDS);
        assert_eq!(q.words[0], "word0");
    }

    #[test]
    fn plain_text_has_no_syntax() {
        let q = plain(r#"who sang "Hey Jude" in 1968*"#);
        assert!(q.required.is_empty(), "quotes are text");
        assert_eq!(q.words, strings(&["sang", "Hey", "Jude", "1968"]));
    }

    #[test]
    fn on_a_large_index_passages_with_only_common_words_are_not_scored() {
        let q = parse("time people Everbright year");
        let df = |q: &LexicalQuery| -> Vec<u64> {
            q.words
                .iter()
                .map(|w| match w.as_str() {
                    "time" => 16_000,
                    "people" => 3_000,
                    "Everbright" => 2,
                    _ => 9_000,
                })
                .collect()
        };
        // Within the budget: every match is scored. Over it: those of the rarest words that fit,
        // in the question's order.
        assert_eq!(q.selection(100_000, &df(&q)), None);
        let split = q.selection(10_000, &df(&q)).unwrap();
        assert_eq!((split.rare, split.common), (strings(&["people", "Everbright"]), strings(&["time", "year"])));
        // Even a word over the budget alone selects when it is the rarest.
        let q = parse("time year");
        let split = q.selection(10, &df(&q)).unwrap();
        assert_eq!((split.rare, split.common), (strings(&["year"]), strings(&["time"])));
        // A required phrase narrows the search already.
        let q = parse(r#""Kenny Ng" time year"#);
        assert_eq!(q.selection(10, &df(&q)), None);
    }
}
