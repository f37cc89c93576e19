//! `bench` end to end: on the small labeled set in tests/fixtures/news-qa (made from the sample
//! articles), and on the shared labeled sets where ../shared/data is present.

use crate::common;

use common::shared;
use predicates::prelude::*;
use std::path::PathBuf;

fn fixture() -> PathBuf {
    common::repo().join("tests/fixtures/news-qa")
}

fn bench_json(args: &[&str]) -> serde_json::Value {
    // bench uses a temporary index unless --index is given.
    let out = assert_cmd::Command::cargo_bin("semsearch")
        .unwrap()
        .env("SEMSEARCH_MODEL_DIR", &common::model_location().dir)
        .env_remove("SEMSEARCH_INDEX")
        .args(["-q", "bench", "--json"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "one JSON object");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn bench_on_fixture_reports_every_figure() {
    let run_file = tempfile::NamedTempFile::new().unwrap();
    let r = bench_json(&[fixture().to_str().unwrap(), "--exact", "--ef", "4,64", "--run-file", run_file.path().to_str().unwrap()]);
    assert_eq!(r["documents"], 31);
    assert_eq!(r["queries"], 10);
    for key in [
        "ndcg@10",
        "recall@1",
        "recall@5",
        "recall@10",
        "recall@100",
        "mrr@10",
        "map@100",
        "ann_recall@10",
        "query_p50_ms",
        "query_p95_ms",
        "query_p99_ms",
        "query_embed_p50_ms",
        "query_search_p50_ms",
        "passages_per_s",
        "tokens_per_s",
        "index_build_ms",
        "peak_rss_bytes",
        "index_size_bytes",
    ] {
        assert!(r[key].is_number(), "{key} missing: {r}");
    }
    // The questions were written to be answerable: a good model ranks an answer near the top.
    assert!(r["ndcg@10"].as_f64().unwrap() > 0.7, "{r}");
    assert!(r["mrr@10"].as_f64().unwrap() > 0.7, "{r}");
    assert_eq!(r["recall@100"], 1.0, "every relevant paragraph is within 100 of 31 documents");
    let sweep = r["ann_sweep"].as_array().unwrap();
    assert_eq!(sweep.len(), 2);
    assert_eq!(sweep[1]["ef"], 64);
    assert_eq!(sweep[1]["ann_recall@10"], 1.0, "ef 64 over 31 points visits them all");
    // The run file is what trec_eval reads: qid Q0 docid rank score tag, ranks from 1, 31 docs each.
    let run = std::fs::read_to_string(run_file.path()).unwrap();
    let lines: Vec<Vec<&str>> = run.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), 10 * 31);
    assert!(lines.iter().all(|f| f.len() == 6 && f[1] == "Q0" && f[5] == "semsearch"));
    assert_eq!(lines[0][3], "1");
    // The report's MRR@10 agrees with the run file.
    let qrels = std::fs::read_to_string(fixture().join("qrels/test.tsv")).unwrap();
    let relevant: std::collections::HashSet<(String, String)> = qrels
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[1].to_string())
        })
        .collect();
    let mut mrr = 0.0;
    for q in 1..=10 {
        let qid = format!("q{q}");
        if let Some(f) = lines.iter().filter(|f| f[0] == qid).take(10).find(|f| relevant.contains(&(qid.clone(), f[2].to_string()))) {
            mrr += 1.0 / f[3].parse::<f64>().unwrap();
        }
    }
    assert!((mrr / 10.0 - r["mrr@10"].as_f64().unwrap()).abs() < 1e-4);
}

/// `--no-chunk` embeds each document whole: one passage per document. (HNSW against exact search
/// is not compared here: bench's beam is at least its depth, more than these 31 passages, so the
/// walk would be the whole index; the graph is tested in `ann::build` and by `the_graph_walk_…`.)
#[test]
fn bench_no_chunk_embeds_each_document_whole() {
    let exact = bench_json(&[fixture().to_str().unwrap(), "--no-chunk", "--exact"]);
    assert_eq!(exact["passages"], 31, "one passage per document");
    assert_eq!(exact["chunking"].as_str().map(|c| c.starts_with("none")), Some(true), "{exact}");
}

#[test]
fn malformed_datasets_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("set");
    std::fs::create_dir_all(d.join("qrels")).unwrap();
    std::fs::copy(fixture().join("corpus.jsonl"), d.join("corpus.jsonl")).unwrap();
    std::fs::copy(fixture().join("queries.jsonl"), d.join("queries.jsonl")).unwrap();
    let run = |qrels: &str| {
        std::fs::write(d.join("qrels/test.tsv"), qrels).unwrap();
        assert_cmd::Command::cargo_bin("semsearch")
            .unwrap()
            .env("SEMSEARCH_MODEL_DIR", &common::model_location().dir)
            .args(["-q", "bench"])
            .arg(&d)
            .assert()
            .code(2)
    };
    run("query-id\tcorpus-id\tscore\nq1\tnope\t1\n").stderr(predicate::str::contains("test.tsv:2: corpus id \"nope\" is not in"));
    run("query-id\tcorpus-id\tscore\nq1\ta4\t1\nq99\ta4\t1\n").stderr(predicate::str::contains("test.tsv:3: query id \"q99\""));
    run("query-id\tcorpus-id\tscore\nq1 a4 1\n").stderr(predicate::str::contains("test.tsv:2: expected query-id"));
    std::fs::remove_file(d.join("queries.jsonl")).unwrap();
    run("query-id\tcorpus-id\tscore\nq1\ta4\t1\n").stderr(predicate::str::contains("queries.jsonl"));
}

#[test]
fn compare_and_baseline_give_each_metric_its_difference_and_p_value() {
    let tmp = tempfile::tempdir().unwrap();
    let (index, run) = (tmp.path().join("qa"), tmp.path().join("semantic.run"));
    let (index, run) = (index.to_str().unwrap(), run.to_str().unwrap());
    let fixture = fixture();
    let set = fixture.to_str().unwrap();
    let semantic = bench_json(&[set, "--exact", "--index", index, "--mode", "semantic", "--run-file", run]);
    let against_file = bench_json(&[set, "--exact", "--index", index, "--mode", "hybrid", "--baseline", run]);
    let against_mode = bench_json(&[set, "--exact", "--index", index, "--mode", "hybrid", "--compare", "semantic"]);
    for key in ["ndcg@10", "recall@100", "mrr@10", "map@100", "recall@1"] {
        let d = &against_file["compared"]["metrics"][key];
        assert_eq!(d["baseline"], semantic[key], "{key}: {against_file}");
        let delta = against_file[key].as_f64().unwrap() - semantic[key].as_f64().unwrap();
        assert!((d["delta"].as_f64().unwrap() - delta).abs() < 2e-5, "{key}: {d}");
        let p = d["p"].as_f64().unwrap();
        assert!(p > 0.0 && p <= 1.0, "{key}: {d}");
        assert_eq!(d, &against_mode["compared"]["metrics"][key], "a run file and the mode it came from compare alike");
    }
    assert_eq!(against_file["compared"]["queries"], 10);
    assert!(against_mode["compared"]["baseline"].as_str().unwrap() == "mode semantic");
    // A run against itself: no difference, p = 1.
    let same = bench_json(&[set, "--exact", "--index", index, "--mode", "semantic", "--baseline", run]);
    assert_eq!(same["compared"]["metrics"]["ndcg@10"]["delta"], 0.0);
    assert_eq!(same["compared"]["metrics"]["ndcg@10"]["p"], 1.0);
    // A malformed run file names its line.
    std::fs::write(tmp.path().join("bad.run"), "q1 Q0 d1 1 0.5 tag\nq2 Q0 d2\n").unwrap();
    let out = assert_cmd::Command::cargo_bin("semsearch")
        .unwrap()
        .env("SEMSEARCH_MODEL_DIR", &common::model_location().dir)
        .args(["-q", "bench", set, "--index", index, "--baseline", tmp.path().join("bad.run").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.run:2: expected `qid Q0 docid rank score tag`"), "{out:?}");
}

/// The value of `| name | value |` in a labeled set's REFERENCE.md.
fn reference_figure(set: &std::path::Path, name: &str) -> f64 {
    let text = std::fs::read_to_string(set.join("REFERENCE.md")).unwrap();
    let row = format!("| {name} |");
    let line = text.lines().find(|l| l.starts_with(&row)).unwrap_or_else(|| panic!("no {name} in {}/REFERENCE.md", set.display()));
    line.trim_end_matches('|').rsplit('|').next().unwrap().trim().parse().unwrap()
}

#[test]
fn bench_reads_questions_as_plain_text_and_equals_the_reference() {
    // 17 of squad2-dev-half's questions hold quotation marks (`"Hey Jude"`-like titles): read as
    // `ask` syntax they would become required phrases and move the figure off the reference's.
    let Some(d) = shared("squad2-dev-half") else { return };
    let quoted = std::fs::read_to_string(d.join("queries.jsonl")).unwrap().lines().filter(|l| l.contains("\\\"")).count();
    assert!(quoted > 0, "the set has quoted questions");
    let r = bench_json(&[d.to_str().unwrap(), "--no-chunk", "--exact", "--mode", "semantic", "--precision", "f32"]);
    assert_eq!(r["queries"], 2000);
    let (got, want) = (r["ndcg@10"].as_f64().unwrap(), reference_figure(&d, "ndcg@10"));
    assert!((got - want).abs() < 0.00005, "nDCG@10 {got}, sentence-transformers {want}");
}

#[test]
fn stsb_spearman_matches_the_reference() {
    let Some(d) = shared("stsb") else { return };
    let r = bench_json(&[d.to_str().unwrap()]);
    assert_eq!(r["pairs"], 1379);
    let s = r["spearman"].as_f64().unwrap();
    assert!((s - 0.82032).abs() <= 0.002, "spearman {s}");
    let p = r["pearson"].as_f64().unwrap();
    assert!((p - 0.82741).abs() <= 0.002, "pearson {p}");
}

#[test]
fn bench_reuses_a_given_index_only_with_the_same_chunking() {
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("idx");
    let idx_s = idx.to_str().unwrap();
    let first = bench_json(&["--index", idx_s, fixture().to_str().unwrap(), "--no-chunk", "--exact"]);
    assert!(first["index_build_ms"].is_number());
    let again = bench_json(&["--index", idx_s, fixture().to_str().unwrap(), "--no-chunk", "--exact"]);
    assert_eq!(again["index_reused"], idx_s);
    assert_eq!(again["ndcg@10"], first["ndcg@10"]);
    assert_cmd::Command::cargo_bin("semsearch")
        .unwrap()
        .env("SEMSEARCH_MODEL_DIR", &common::model_location().dir)
        .args(["-q", "bench", "--index", idx_s])
        .arg(fixture())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("built with other chunking (--no-chunk)"));
}
