//! The ranking rules — fusion, the per-document cap, folding, the score floor, filters, `related`'s
//! exclusions and the answer sentence — driven through `store::Store` over a real index on disk
//! built by the hashing test embedder (`embed::HashingEmbedder`: texts sharing words score high),
//! so they run in milliseconds without the model. (The real model's rankings are tested in
//! tests/search.rs and tests/cli.rs.)

use super::*;
use crate::chunk::ChunkParams;
use crate::embed::HashingEmbedder;
use crate::index::Index;
use crate::indexer::{index_paths, BuildOptions};
use crate::ingest::IngestOptions;
use std::path::Path;

fn embedder() -> HashingEmbedder {
    HashingEmbedder::new(256).unwrap()
}

/// Four documents: `a.txt` four passages about otters; `b.txt` and `c.txt` the same wire story
/// under different titles; `d.txt` one passage of three unrelated sentences.
fn corpus(root: &Path) -> Index {
    let docs = root.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let otters = [
        "River otters hunt small fish at dawn along the quiet river bend near the old mill.",
        "Otters in the river dig their dens into the soft bank under the willow roots.",
        "The river otters play and slide in the shallow river water on warm afternoons.",
        "Young otters learn to swim in the river every summer with their watchful mothers.",
    ];
    let wire = "Harbour cranes stood idle as dockers began a strike in Rotterdam over pay and shift patterns this week.";
    for (name, text) in [
        ("a.txt", format!("Otters of the river\n\n{}\n", otters.join("\n\n"))),
        ("b.txt", format!("Port news\n\n{wire}\n")),
        ("c.txt", format!("Shipping wire\n\n{wire}\n")),
        ("d.txt", "Bee notes\n\nLighthouse keepers trim the wick at dusk. Bee colonies swarm in late spring. Tram lines reopen after the storm.\n".to_string()),
    ] {
        std::fs::write(docs.join(name), text).unwrap();
    }
    let dir = root.join("idx");
    let opts = BuildOptions { quiet: true, chunking: ChunkParams { max_tokens: 32, overlap_tokens: 0, whole_documents: false }, ..BuildOptions::default() };
    index_paths(&dir, &[docs], IngestOptions::default(), &embedder(), &opts).unwrap();
    Index::open(&dir, embedder().info()).unwrap()
}

fn ask_in(store: &dyn Store, question: &str, opts: &Options, filter: &Filter) -> Vec<Found> {
    ask(store, &embedder(), question, opts, filter).unwrap().found
}

fn doc(f: &Found) -> &str {
    f.passage.path.rsplit('/').next().unwrap()
}

/// As a reader searches, without the "no good match" floor: the hashing embedder's cosines are
/// not the model's, which the confidence is calibrated on.
fn reader(k: usize, per_doc: Option<usize>, no_fold: bool) -> Options {
    Options { floor: false, ..Options::for_reader(k, Strategy::Exact, Mode::Semantic, None, per_doc, no_fold) }
}

#[test]
fn at_most_per_doc_passages_of_one_document() {
    let tmp = tempfile::tempdir().unwrap();
    let index = corpus(tmp.path());
    let all = Filter::default();
    let uncapped = ask_in(&index, "otters in the river", &reader(4, None, true), &all);
    assert_eq!(uncapped.iter().filter(|f| doc(f) == "a.txt").count(), 4, "every otter passage without a cap");
    let capped = ask_in(&index, "otters in the river", &reader(4, Some(2), true), &all);
    assert_eq!(capped.iter().filter(|f| doc(f) == "a.txt").count(), 2);
    assert_eq!(capped.len(), 4, "the cap makes room for other documents, k still come back");
    assert_eq!(capped.iter().map(|f| f.rank).collect::<Vec<_>>(), [1, 2, 3, 4]);
}

#[test]
fn the_same_story_in_two_documents_is_one_result_with_also() {
    let tmp = tempfile::tempdir().unwrap();
    let index = corpus(tmp.path());
    let all = Filter::default();
    let q = "dockers strike in Rotterdam";
    let plain = ask_in(&index, q, &reader(3, None, true), &all);
    let top2: Vec<&str> = plain[..2].iter().map(doc).collect();
    assert!(top2.contains(&"b.txt") && top2.contains(&"c.txt"), "unfolded, both copies rank first: {top2:?}");
    let folded = ask_in(&index, q, &reader(3, None, false), &all);
    let first = doc(&folded[0]);
    let other = if first == "b.txt" { "c.txt" } else { "b.txt" };
    assert_eq!(folded[0].also.len(), 1);
    assert!(folded[0].also[0].path.ends_with(other));
    assert!(folded.iter().all(|f| doc(f) != other), "the copy takes no place of its own");
}

#[test]
fn the_answer_is_the_sentence_that_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let index = corpus(tmp.path());
    let found = ask_in(&index, "Which colonies swarm in spring?", &reader(1, None, false), &Filter::default());
    assert_eq!(doc(&found[0]), "d.txt");
    assert_eq!(found[0].answer_text(), "Bee colonies swarm in late spring.");
    let found = ask_in(&index, "When do keepers trim the wick?", &reader(1, None, false), &Filter::default());
    assert_eq!(found[0].answer_text(), "Lighthouse keepers trim the wick at dusk.");
}

#[test]
fn a_score_floor_drops_weak_results() {
    let tmp = tempfile::tempdir().unwrap();
    let index = corpus(tmp.path());
    let all = Filter::default();
    let unfloored = ask_in(&index, "otters in the river", &reader(10, None, true), &all);
    assert!(unfloored.len() >= 5, "every passage shares a word or two: {}", unfloored.len());
    // A floor between the fourth and fifth scores keeps the first four.
    let floor = (unfloored[3].score + unfloored[4].score) / 2.0;
    assert!(unfloored[3].score > unfloored[4].score);
    let opts = Options { min_score: Some(floor), ..reader(10, None, true) };
    let found = ask_in(&index, "otters in the river", &opts, &all);
    assert_eq!(found.iter().map(|f| &f.passage.record.id).collect::<Vec<_>>(), unfloored[..4].iter().map(|f| &f.passage.record.id).collect::<Vec<_>>());
    let opts = Options { min_score: Some(1.01), ..reader(10, None, true) };
    assert!(ask_in(&index, "otters in the river", &opts, &all).is_empty());
}

#[test]
fn filters_apply_inside_the_search() {
    let tmp = tempfile::tempdir().unwrap();
    let index = corpus(tmp.path());
    // Paths are stored relative to the folder holding the index.
    let only_d = Filter { paths: vec!["docs/d.txt".into()], ..Filter::default() };
    let found = ask_in(&index, "otters in the river", &reader(3, None, true), &only_d);
    assert_eq!(found.iter().map(doc).collect::<Vec<_>>(), ["d.txt"], "k results from what the filter allows, however weak");
    let dated = Filter { since: Some("2025".into()), ..Filter::default() };
    let a = ask(&index, &embedder(), "otters", &reader(3, None, true), &dated).unwrap();
    assert!(a.found.is_empty());
    assert_eq!(a.undated, 4, "none of the four has a date");
    assert_eq!(a.notices, ["no indexed document passes --since 2025 (4 undated documents left out)"], "an empty result says why");
    let nowhere = Filter { paths: vec!["docs".into(), "nosuchdir".into()], ..Filter::default() };
    assert!(ask(&index, &embedder(), "otters", &reader(3, None, true), &nowhere).unwrap().notices.is_empty(), "one pattern matched");
    let nowhere = Filter { paths: vec!["nosuchdir".into(), "*.pdf".into()], ..Filter::default() };
    let a = ask(&index, &embedder(), "otters", &reader(3, None, true), &nowhere).unwrap();
    assert!(a.found.is_empty() && a.notices[0].starts_with("no indexed document's path matches --path nosuchdir, --path *.pdf;"), "{:?}", a.notices);
}

#[test]
fn related_leaves_out_its_own_document_or_passage() {
    let tmp = tempfile::tempdir().unwrap();
    let index = corpus(tmp.path());
    let all = Filter::default();
    let first = &ask_in(&index, "otters dig dens in the bank", &reader(1, None, true), &all)[0];
    assert_eq!(doc(first), "a.txt");
    let id = Target::Passage(first.passage.record.id.clone());
    let other_docs = related(&index, &embedder(), &id, false, &reader(5, None, true), &all).unwrap().found;
    assert!(!other_docs.is_empty() && other_docs.iter().all(|f| doc(f) != "a.txt"));
    let same_doc = related(&index, &embedder(), &id, true, &reader(5, None, true), &all).unwrap().found;
    assert_eq!(doc(&same_doc[0]), "a.txt", "its own document's other passages are nearest");
    assert!(same_doc.iter().all(|f| f.passage.record.id != first.passage.record.id), "never itself");
    // By path and line, as the human output shows them.
    let at = Target::PathLine(first.passage.path.clone(), first.passage.record.line_start);
    assert_eq!(index.origin(&at).unwrap().id, first.passage.record.id);
    let missing = index.origin(&Target::Passage("0000".into())).unwrap_err();
    assert!(matches!(crate::error::Error::find(&missing), Some(crate::error::Error::NotFound(_))));
}

#[test]
fn hybrid_adds_the_passage_only_the_words_find() {
    let tmp = tempfile::tempdir().unwrap();
    let index = corpus(tmp.path());
    let all = Filter::default();
    let hybrid = Options { mode: Mode::Hybrid, ..Options::plain(10, Strategy::Exact, Mode::Hybrid) };
    let found = ask_in(&index, "Rotterdam", &hybrid, &all);
    let top: Vec<&str> = found[..2].iter().map(doc).collect();
    assert!(top.contains(&"b.txt") && top.contains(&"c.txt"), "{top:?}");
    assert!(found[0].lexical.is_some() && found[0].semantic.is_some(), "both sides found it");
    let lexical = ask_in(&index, "Rotterdam", &Options::plain(10, Strategy::Exact, Mode::Lexical), &all);
    assert_eq!(lexical.len(), 2, "only the two passages hold the word");
    assert!(lexical.iter().all(|f| f.semantic.is_none() && f.lexical.is_some()));
}

/// Fusion on its own: each candidate gets both scores (the cosine of a lexical-only candidate from
/// its vector, the BM25 of a semantic-only one asked for), BM25 scaled to [0, 1] over the
/// candidates, and the raw cosine + 0.3 × that ranks them.
#[test]
fn raw_cosine_fusion_scores_every_candidate_on_both_sides() {
    let h = |row, score| Hit { row, score };
    let semantic = [h(1, 0.9), h(2, 0.5)];
    let lexical = [h(3, 10.0), h(2, 4.0)];
    let cosine = |r: u32| match r {
        3 => 0.6,
        _ => unreachable!("semantic candidates carry their cosine"),
    };
    let mut asked = Vec::new();
    let mut bm25_of = |rows: &[u32]| -> Result<Vec<Hit>> {
        asked.extend_from_slice(rows);
        Ok(rows.iter().filter(|&&r| r == 1).map(|&r| h(r, 2.0)).collect())
    };
    let fused = fuse(&semantic, &lexical, Fusion::default(), &cosine, &mut bm25_of).unwrap();
    assert_eq!(asked, [1], "BM25 asked only for the candidate the lexical side did not score");
    // BM25 2, 4, 10 scale to 0, 0.25, 1.
    let got: Vec<(u32, f32)> = fused.iter().map(|r| (r.row, r.score)).collect();
    let want = [(3, 0.6 + 0.3), (1, 0.9), (2, 0.5 + 0.3 * 0.25)];
    for ((row, score), (wrow, wscore)) in got.iter().zip(want) {
        assert_eq!(*row, wrow, "{got:?}");
        assert!((score - wscore).abs() < 1e-6, "{got:?}");
    }
    assert_eq!(fused[0].lexical, Some((1, 10.0)));
    assert_eq!(fused[0].semantic, None);
    assert_eq!(fused[2].semantic, Some((2, 0.5)));
    assert_eq!(fused[2].lexical, Some((2, 4.0)));
    // Reciprocal rank fusion uses the ranks alone.
    let rrf = fuse(&semantic, &lexical, Fusion::Rrf, &cosine, &mut |_| unreachable!("RRF needs no scores")).unwrap();
    assert_eq!(rrf[0].row, 2, "on both sides");
}
