//! Chunker properties with the real tokenizer: every non-whitespace byte of a document lies in some
//! passage; no passage exceeds its budget (so never the model window); line ranges point at the
//! lines that hold the passage.

use crate::common;

use proptest::prelude::*;
use semsearch::chunk::{ChunkParams, Chunker};
use semsearch::embed::load_tokenizer;
use semsearch::ingest::{Document, LineMap};
use std::sync::OnceLock;

fn chunker(params: ChunkParams) -> Chunker {
    static TOK: OnceLock<tokenizers::Tokenizer> = OnceLock::new();
    let tok = TOK.get_or_init(|| load_tokenizer(&common::model_info()).unwrap());
    Chunker::new(tok, params).unwrap()
}

fn doc(text: &str) -> Document {
    Document::plain("d".into(), "d.txt".into(), String::new(), text.to_string(), LineMap::Verbatim { first_line: 1, base_byte: 0 })
}

/// Checks every property on one document; returns the passages' texts.
fn check(text: &str, params: ChunkParams) -> Vec<String> {
    let c = chunker(params);
    let chunks = c.chunk(&doc(text)).unwrap();
    let mut covered = vec![false; text.len()];
    // Lines counted independently of the chunker: newlines before each byte.
    let mut newlines_before = Vec::with_capacity(text.len() + 1);
    let mut n = 0u32;
    for &b in text.as_bytes() {
        newlines_before.push(n);
        n += u32::from(b == b'\n');
    }
    newlines_before.push(n);
    let line_of = |off: usize| 1 + newlines_before[off];
    for ch in &chunks {
        assert!(ch.byte_start < ch.byte_end && ch.byte_end <= text.len());
        let body = &text[ch.byte_start..ch.byte_end];
        assert_eq!(body.trim(), body, "passages are trimmed");
        let tokens = c.count_tokens(body);
        assert!(tokens + 2 <= params.max_tokens, "passage of {tokens} tokens over budget {}: {body:?}", params.max_tokens);
        assert!(tokens + 2 <= 256, "passage exceeds the model window");
        assert_eq!(ch.line_start, line_of(ch.byte_start));
        assert_eq!(ch.line_end, line_of(ch.byte_end - 1));
        covered[ch.byte_start..ch.byte_end].iter_mut().for_each(|b| *b = true);
    }
    for (i, ch) in text.char_indices() {
        if !ch.is_whitespace() {
            assert!(covered[i], "byte {i} ({ch:?}) lies in no passage");
        }
    }
    for w in chunks.windows(2) {
        assert!(w[0].byte_start < w[1].byte_start, "passages advance through the document");
    }
    chunks.iter().map(|ch| text[ch.byte_start..ch.byte_end].to_string()).collect()
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-z]{1,9}",
        1 => "[A-Z][a-z]{2,8}",
        1 => "[0-9]{1,6}",
        1 => "(über|naïve|日本語|中文|😀|Ωμέγα|—|“quoted”)",
        1 => "[a-z]{30,120}",
    ]
}

fn sentence() -> impl Strategy<Value = String> {
    (prop::collection::vec(word(), 1..40), prop_oneof![Just("."), Just("?"), Just("!"), Just("")]).prop_map(|(w, end)| format!("{}{end}", w.join(" ")))
}

fn paragraph() -> impl Strategy<Value = String> {
    (prop::collection::vec(sentence(), 1..8), prop_oneof![Just(" "), Just("\n"), Just("  ")]).prop_map(|(s, sep)| s.join(sep))
}

fn document() -> impl Strategy<Value = String> {
    (prop::collection::vec(paragraph(), 1..8), prop_oneof![Just("\n\n"), Just("\n\n\n"), Just("\r\n\r\n"), Just("\n \n")]).prop_map(|(p, sep)| p.join(sep))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn passages_cover_fit_and_point_at_their_lines(text in document(), budget in prop_oneof![Just(24usize), Just(64), Just(128), Just(256)]) {
        check(&text, ChunkParams { max_tokens: budget, overlap_tokens: 16, whole_documents: false });
    }
}

#[test]
fn sample_articles_chunk_by_paragraph_with_titles_kept_whole() {
    let text = std::fs::read_to_string(common::repo().join("examples/news/alibaba-ai-investment.txt")).unwrap();
    let passages = check(&text, ChunkParams::default());
    assert!(passages.len() >= 5, "a 40-line article makes several passages, got {}", passages.len());
    let with_figure: Vec<&String> = passages.iter().filter(|p| p.contains("US$52.4 billion")).collect();
    assert_eq!(with_figure.len(), 1);
    assert!(with_figure[0].contains("over the next three years."), "the sentence is whole: {}", with_figure[0]);
}

#[test]
fn one_huge_word_and_one_long_sentence_are_cut_to_fit() {
    let huge = "x".repeat(3000);
    check(&huge, ChunkParams::default());
    let long: String = (0..900).map(|i| format!("word{i} ")).collect::<String>().trim_end().to_string() + ".";
    let parts = check(&long, ChunkParams::default());
    assert!(parts.len() > 5);
}

#[test]
fn overlap_repeats_a_short_sentence_inside_a_paragraph() {
    let s: Vec<String> = (0..30).map(|i| format!("Sentence number {i} talks about topic {i}.")).collect();
    let text = s.join(" ");
    let parts = check(&text, ChunkParams { max_tokens: 64, overlap_tokens: 16, whole_documents: false });
    assert!(parts.len() >= 3);
    for w in parts.windows(2) {
        let last_sentence = w[0].rsplit_once(". ").map(|(_, l)| l).unwrap();
        assert!(w[1].starts_with(last_sentence), "{:?} should start with {:?}", w[1], last_sentence);
    }
}

#[test]
fn empty_and_whitespace_documents_have_no_passages() {
    assert!(check("", ChunkParams::default()).is_empty());
    assert!(check(" \n\n \t", ChunkParams::default()).is_empty());
}

#[test]
fn a_ten_megabyte_line_is_cut_to_fit_without_tokenizing_it_whole() {
    // One line, no sentence break: words, then a run with no whitespace at all.
    let words = ["harbour", "crane", "unloads", "containers", "at", "night", "while", "gulls", "circle", "überall", "水獭", "🦦"];
    let mut line = String::with_capacity(10 << 20);
    let mut i = 0usize;
    while line.len() < 9 << 20 {
        line.push_str(words[i % words.len()]);
        line.push_str(if i.is_multiple_of(17) { "," } else { "" });
        line.push(' ');
        i += 1;
    }
    line.push_str(&"x".repeat(1 << 20));
    line.push('\n');
    assert!(line.len() >= 10 << 20);
    let t = std::time::Instant::now();
    let texts = check(&line, ChunkParams::default());
    assert!(texts.len() > 10_000, "{} passages", texts.len());
    eprintln!("10 MiB line: {} passages in {:?}", texts.len(), t.elapsed());
}

#[test]
fn control_characters_before_the_first_token_stay_in_a_passage() {
    // Found by the chunker fuzz target: a long sentence starting with NULs (which the tokenizer
    // drops) lost them from every passage when it was cut.
    let text = "Hello lwodr. This is a test\0\0\u{10}\u{1}\0\0\0\0\0\0\n\0\0\0\0\0\0\0\0=econd pt top private sector entrepreneurs, including Alibaba's Jack Ma, signaling a policy change after stricaragraph here";
    check(text, ChunkParams { max_tokens: 24, overlap_tokens: 3, whole_documents: false });
}

/// Headings: a passage never spans two sections, and a passage with its section path as prefix
/// still fits the budget.
#[test]
fn passages_stay_inside_sections_and_fit_with_their_prefix() {
    let c = chunker(ChunkParams { max_tokens: 48, overlap_tokens: 8, whole_documents: false });
    let para = |w: &str| (0..6).map(|i| format!("The {w} report number {i} says prices rose again this week.")).collect::<Vec<_>>().join(" ");
    let text = format!("{}\n\n{}\n\n{}", para("first"), para("second"), para("third"));
    let second = text.find("The second").unwrap();
    let third = text.find("The third").unwrap();
    let mut d = doc(&text);
    d.sections =
        vec![(0, "Markets".into()), (second, "Markets › A much longer heading about energy prices in the winter".into()), (third, "Markets › Outlook".into())];
    let chunks = c.chunk(&d).unwrap();
    assert!(chunks.len() >= 3);
    for ch in &chunks {
        let s = ch.section.expect("every passage is in a section");
        let (start, end) = (d.sections[s].0, d.sections.get(s + 1).map_or(text.len(), |x| x.0));
        assert!(ch.byte_start >= start && ch.byte_end <= end, "{ch:?} crosses a section boundary");
        let embedded = semsearch::chunk::embedding_text(&d.sections[s].1, &text[ch.byte_start..ch.byte_end]);
        assert!(c.count_tokens(&embedded) + 2 <= 48, "{embedded:?} is over the budget");
    }
}
