//! Eval: labeled sets (BEIR layout, STS) and the retrieval metrics, with trec_eval's definitions.
//!
//! - nDCG@k: linear gains (the qrel grade), discount log2(rank + 1), ideal DCG from the qrels.
//! - Recall@k: relevant documents in the top k over all relevant documents of the query.
//! - MRR@k: reciprocal rank of the first relevant document within the top k, else 0.
//! - MAP@k: sum of precision@r at each relevant document retrieved at rank r ≤ k, over all relevant
//!   documents of the query.
//!
//! Runs are ranked as trec_eval ranks them: score descending, ties broken by document id descending.
//! Relevant means grade ≥ 1. Metrics are averaged over every query that has qrels.

use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// query id -> document id -> grade
pub type Qrels = BTreeMap<String, HashMap<String, i32>>;

/// query id -> (document id, score); any order, duplicates allowed (the best score counts).
pub type Run = BTreeMap<String, Vec<(String, f32)>>;

/// A labeled retrieval set in BEIR's layout.
pub struct BeirSet {
    /// Its corpus.jsonl.
    pub corpus_path: std::path::PathBuf,
    /// (query id, text) pairs.
    pub queries: Vec<(String, String)>,
    /// The relevance judgements.
    pub qrels: Qrels,
    /// Each query's gold answer texts, where the set has `answers.jsonl` beside it (SQuAD's
    /// layout: `{"_id": query id, "answers": [text, …]}`).
    pub answers: Option<HashMap<String, Vec<String>>>,
}

/// Reads `answers.jsonl` (one object per line: the query's `_id` and its `answers`), when present.
fn load_answers(path: &Path) -> Result<Option<HashMap<String, Vec<String>>>> {
    if !path.is_file() {
        return Ok(None);
    }
    let mut out = HashMap::new();
    for (i, line) in read_lines(path)?.split('\n').enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        #[derive(serde::Deserialize)]
        struct Answers {
            #[serde(rename = "_id")]
            id: String,
            answers: Vec<String>,
        }
        let a: Answers = serde_json::from_str(line)
            .map_err(|e| anyhow::anyhow!("{}:{}: expected {{\"_id\": query id, \"answers\": [texts]}} ({e})", path.display(), i + 1))?;
        out.insert(a.id, a.answers);
    }
    Ok(Some(out))
}

/// Whether `sentence` holds one of the gold `answers`, case-insensitively (how SQuAD's answer
/// sentence is judged in the shared sets' REFERENCE.md).
pub fn holds_answer(sentence: &str, answers: &[String]) -> bool {
    let s = sentence.to_lowercase();
    answers.iter().any(|a| !a.trim().is_empty() && s.contains(&a.to_lowercase()))
}

fn read_lines(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}; a BEIR set needs corpus.jsonl, queries.jsonl and qrels/test.tsv", path.display()))
}

/// Reads `queries.jsonl` and `qrels/test.tsv`, and checks that every qrel names a known query and a
/// document of `corpus.jsonl` (read here for its ids only).
pub fn load_beir(dir: &Path) -> Result<BeirSet> {
    let corpus_path = dir.join("corpus.jsonl");
    let qpath = dir.join("queries.jsonl");
    let rpath = dir.join("qrels").join("test.tsv");
    let corpus = read_lines(&corpus_path)?;
    let mut doc_ids = HashSet::new();
    for (i, line) in corpus.split('\n').enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| anyhow::anyhow!("{}:{}: invalid JSON ({e})", corpus_path.display(), i + 1))?;
        match v.get("_id") {
            Some(serde_json::Value::String(s)) => doc_ids.insert(s.clone()),
            Some(serde_json::Value::Number(n)) => doc_ids.insert(n.to_string()),
            _ => bail!("{}:{}: record has no \"_id\"", corpus_path.display(), i + 1),
        };
    }
    let mut queries = Vec::new();
    for (i, line) in read_lines(&qpath)?.split('\n').enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| anyhow::anyhow!("{}:{}: invalid JSON ({e})", qpath.display(), i + 1))?;
        let id = match v.get("_id") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => bail!("{}:{}: query has no \"_id\"", qpath.display(), i + 1),
        };
        let text = v.get("text").and_then(|t| t.as_str()).with_context(|| format!("{}:{}: query has no \"text\"", qpath.display(), i + 1))?;
        queries.push((id, text.to_string()));
    }
    let known: HashSet<&str> = queries.iter().map(|(id, _)| id.as_str()).collect();
    let mut qrels = Qrels::new();
    for (i, line) in read_lines(&rpath)?.split('\n').enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || (i == 0 && line.starts_with("query-id")) {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 3 {
            bail!("{}:{}: expected query-id<TAB>corpus-id<TAB>score, got {} field(s)", rpath.display(), i + 1, f.len());
        }
        let grade: i32 = f[2].trim().parse().map_err(|_| anyhow::anyhow!("{}:{}: score {:?} is not an integer", rpath.display(), i + 1, f[2]))?;
        if !known.contains(f[0]) {
            bail!("{}:{}: query id {:?} is not in {}", rpath.display(), i + 1, f[0], qpath.display());
        }
        if !doc_ids.contains(f[1]) {
            bail!("{}:{}: corpus id {:?} is not in {}", rpath.display(), i + 1, f[1], corpus_path.display());
        }
        qrels.entry(f[0].to_string()).or_default().insert(f[1].to_string(), grade);
    }
    if qrels.is_empty() {
        bail!("{}: no relevance judgements", rpath.display());
    }
    let answers = load_answers(&dir.join("answers.jsonl"))?;
    Ok(BeirSet { corpus_path, queries, qrels, answers })
}

/// One query's documents in trec_eval order, duplicates reduced to their best score.
pub fn ranked(results: &[(String, f32)]) -> Vec<(String, f32)> {
    let mut best: HashMap<&str, f32> = HashMap::new();
    for (d, s) in results {
        let e = best.entry(d.as_str()).or_insert(f32::NEG_INFINITY);
        if *s > *e {
            *e = *s;
        }
    }
    let mut v: Vec<(String, f32)> = best.into_iter().map(|(d, s)| (d.to_string(), s)).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    v
}

/// nDCG@k as trec_eval computes it (graded, linear gains).
pub fn ndcg_at(ranked: &[(String, f32)], rel: &HashMap<String, i32>, k: usize) -> f64 {
    let dcg: f64 = ranked.iter().take(k).enumerate().map(|(i, (d, _))| rel.get(d).copied().unwrap_or(0).max(0) as f64 / (i as f64 + 2.0).log2()).sum();
    let mut ideal: Vec<i32> = rel.values().copied().filter(|&g| g > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal.iter().take(k).enumerate().map(|(i, &g)| g as f64 / (i as f64 + 2.0).log2()).sum();
    if idcg == 0.0 {
        0.0
    } else {
        dcg / idcg
    }
}

fn n_relevant(rel: &HashMap<String, i32>) -> usize {
    rel.values().filter(|&&g| g >= 1).count()
}

fn is_rel(rel: &HashMap<String, i32>, d: &str) -> bool {
    rel.get(d).is_some_and(|&g| g >= 1)
}

/// The share of relevant documents among the first k.
pub fn recall_at(ranked: &[(String, f32)], rel: &HashMap<String, i32>, k: usize) -> f64 {
    let n = n_relevant(rel);
    if n == 0 {
        return 0.0;
    }
    ranked.iter().take(k).filter(|(d, _)| is_rel(rel, d)).count() as f64 / n as f64
}

/// The reciprocal rank of the first relevant document within k (0 if none).
pub fn mrr_at(ranked: &[(String, f32)], rel: &HashMap<String, i32>, k: usize) -> f64 {
    ranked.iter().take(k).position(|(d, _)| is_rel(rel, d)).map(|i| 1.0 / (i + 1) as f64).unwrap_or(0.0)
}

/// Average precision within the first k.
pub fn map_at(ranked: &[(String, f32)], rel: &HashMap<String, i32>, k: usize) -> f64 {
    let n = n_relevant(rel);
    if n == 0 {
        return 0.0;
    }
    let mut hits = 0;
    let mut sum = 0.0;
    for (i, (d, _)) in ranked.iter().take(k).enumerate() {
        if is_rel(rel, d) {
            hits += 1;
            sum += hits as f64 / (i + 1) as f64;
        }
    }
    sum / n as f64
}

/// The metrics `bench` reports, in its order.
pub const METRICS: [&str; 7] = ["ndcg@10", "recall@1", "recall@5", "recall@10", "recall@100", "mrr@10", "map@100"];

/// Each metric of each query with qrels, the queries in the qrels' order (a query missing from
/// the run scores 0): what a paired test compares.
pub fn per_query(run: &Run, qrels: &Qrels) -> BTreeMap<&'static str, Vec<f64>> {
    let mut out: BTreeMap<&'static str, Vec<f64>> = METRICS.iter().map(|&m| (m, Vec::with_capacity(qrels.len()))).collect();
    let empty = Vec::new();
    for (qid, rel) in qrels {
        let r = ranked(run.get(qid).unwrap_or(&empty));
        let mut add = |k: &'static str, v: f64| out.get_mut(k).expect("a metric of METRICS").push(v);
        add("ndcg@10", ndcg_at(&r, rel, 10));
        add("recall@1", recall_at(&r, rel, 1));
        add("recall@5", recall_at(&r, rel, 5));
        add("recall@10", recall_at(&r, rel, 10));
        add("recall@100", recall_at(&r, rel, 100));
        add("mrr@10", mrr_at(&r, rel, 10));
        add("map@100", map_at(&r, rel, 100));
    }
    out
}

/// Mean of each metric over the queries with qrels (a query missing from the run scores 0).
pub fn evaluate(run: &Run, qrels: &Qrels) -> BTreeMap<String, f64> {
    let n = qrels.len().max(1) as f64;
    per_query(run, qrels).into_iter().map(|(k, v)| (k.to_string(), v.iter().sum::<f64>() / n)).collect()
}

/// Reads a TREC run file (`qid Q0 docid rank score tag`, as `bench --run-file` writes it).
pub fn load_run(path: &Path) -> Result<Run> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}; give a TREC run file, as bench --run-file writes", path.display()))?;
    let mut run = Run::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 6 {
            bail!("{}:{}: expected `qid Q0 docid rank score tag`, got {} field(s)", path.display(), i + 1, f.len());
        }
        let score: f32 = f[4].parse().map_err(|_| anyhow::anyhow!("{}:{}: score {:?} is not a number", path.display(), i + 1, f[4]))?;
        run.entry(f[0].to_string()).or_default().push((f[2].to_string(), score));
    }
    if run.is_empty() {
        bail!("{}: the run file is empty", path.display());
    }
    Ok(run)
}

/// Permutations of the paired randomization test.
pub const PERMUTATIONS: usize = 10_000;

/// Two-sided p-value of the paired randomization (sign-flip) test of the mean difference between
/// `a` and `b` (one value per query, paired): the share of `permutations` random sign flips of the
/// per-query differences whose mean is at least as far from 0 as the observed one, counting the
/// observed itself ((hits + 1) / (permutations + 1), so never 0). Seeded: the same inputs give
/// the same p. Smucker, Allan and Carterette (2007) recommend it for IR metrics.
pub fn randomization_p(a: &[f64], b: &[f64], permutations: usize) -> f64 {
    use rand::{Rng, SeedableRng};
    assert_eq!(a.len(), b.len(), "paired samples");
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let observed = d.iter().sum::<f64>().abs();
    // A tolerance so that a permutation equal to the observed (up to rounding) counts as reaching it.
    let reach = observed - 1e-9 * (1.0 + observed);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5e55_5ea2);
    let mut hits = 0usize;
    for _ in 0..permutations {
        let sum: f64 = d.iter().map(|&x| if rng.random::<bool>() { x } else { -x }).sum();
        hits += usize::from(sum.abs() >= reach);
    }
    (hits + 1) as f64 / (permutations + 1) as f64
}

/// STS: (gold score, sentence 1, sentence 2) from a TSV with a header line.
pub fn load_sts(path: &Path) -> Result<Vec<(f64, String, String)>> {
    let text = read_lines(path)?;
    let mut out = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || (i == 0 && line.starts_with("score")) {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 3 {
            bail!("{}:{}: expected score<TAB>sentence1<TAB>sentence2", path.display(), i + 1);
        }
        let score: f64 = f[0].parse().map_err(|_| anyhow::anyhow!("{}:{}: score {:?} is not a number", path.display(), i + 1, f[0]))?;
        out.push((score, f[1].to_string(), f[2].to_string()));
    }
    Ok(out)
}

/// Pearson's correlation coefficient.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

/// Ranks with ties given their average rank (as scipy's spearmanr).
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rank correlation (ties get their mean rank).
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(v: &[(&str, f32)]) -> Vec<(String, f32)> {
        ranked(&v.iter().map(|(d, s)| (d.to_string(), *s)).collect::<Vec<_>>())
    }

    fn rel(v: &[(&str, i32)]) -> HashMap<String, i32> {
        v.iter().map(|(d, g)| (d.to_string(), *g)).collect()
    }

    #[test]
    fn the_randomization_test_tells_a_real_difference_from_noise() {
        // Identical samples: every flip reaches a zero difference.
        let a = [0.5, 0.7, 0.2, 0.9];
        assert_eq!(randomization_p(&a, &a, 1000), 1.0);
        // Six queries all better by 0.1: exactly the all-positive and all-negative flips reach it,
        // 2 of 64 sign patterns, so p ≈ 1/32.
        let b = [0.4, 0.6, 0.1, 0.8, 0.3, 0.5];
        let c: Vec<f64> = b.iter().map(|x| x + 0.1).collect();
        let p = randomization_p(&c, &b, PERMUTATIONS);
        assert!((p - 2.0 / 64.0).abs() < 0.01, "{p}");
        // Differences that cancel out: far from significant.
        let d = [0.5, 0.3, 0.5, 0.3];
        let e = [0.3, 0.5, 0.3, 0.5];
        assert!(randomization_p(&d, &e, PERMUTATIONS) > 0.9);
        // Seeded: the same inputs, the same p.
        assert_eq!(randomization_p(&c, &b, 500), randomization_p(&c, &b, 500));
    }

    #[test]
    fn ndcg_graded_by_hand() {
        // ranks: a(3) b(0) c(2); qrels a=3, c=2, d=1
        let r = run(&[("a", 0.9), ("b", 0.8), ("c", 0.7)]);
        let q = rel(&[("a", 3), ("c", 2), ("d", 1)]);
        let dcg = 3.0 / 2f64.log2() + 0.0 + 2.0 / 4f64.log2();
        let idcg = 3.0 / 2f64.log2() + 2.0 / 3f64.log2() + 1.0 / 4f64.log2();
        assert!((ndcg_at(&r, &q, 10) - dcg / idcg).abs() < 1e-12);
        // @1 only a counts, ideal is also 3 at rank 1
        assert!((ndcg_at(&r, &q, 1) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn ties_are_broken_by_doc_id_descending_like_trec_eval() {
        let r = run(&[("a", 0.5), ("b", 0.5), ("c", 0.5)]);
        let order: Vec<&str> = r.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(order, vec!["c", "b", "a"]);
        let q = rel(&[("a", 1)]);
        assert!((mrr_at(&r, &q, 10) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(mrr_at(&r, &q, 2), 0.0);
    }

    #[test]
    fn nothing_relevant_retrieved_scores_zero() {
        let r = run(&[("x", 0.9), ("y", 0.8)]);
        let q = rel(&[("a", 2)]);
        assert_eq!(ndcg_at(&r, &q, 10), 0.0);
        assert_eq!(recall_at(&r, &q, 100), 0.0);
        assert_eq!(mrr_at(&r, &q, 10), 0.0);
        assert_eq!(map_at(&r, &q, 100), 0.0);
        let mut runs = Run::new();
        runs.insert("q1".into(), vec![("x".into(), 0.9)]);
        let mut qrels = Qrels::new();
        qrels.insert("q1".into(), q.clone());
        qrels.insert("q2".into(), rel(&[("x", 1)])); // q2 has no run at all: counts as 0
        let m = evaluate(&runs, &qrels);
        assert_eq!(m["ndcg@10"], 0.0);
        assert_eq!(m["recall@100"], 0.0);
    }

    #[test]
    fn duplicate_ids_keep_the_best_score() {
        let r = run(&[("a", 0.2), ("b", 0.5), ("a", 0.9), ("b", 0.1)]);
        assert_eq!(r, vec![("a".to_string(), 0.9), ("b".to_string(), 0.5)]);
        let q = rel(&[("b", 1)]);
        assert_eq!(mrr_at(&r, &q, 10), 0.5);
        assert_eq!(recall_at(&r, &q, 1), 0.0);
        assert_eq!(recall_at(&r, &q, 5), 1.0);
    }

    #[test]
    fn map_and_recall_by_hand() {
        // relevant: a, c, e (e never retrieved); retrieved a x c
        let r = run(&[("a", 0.9), ("x", 0.8), ("c", 0.7)]);
        let q = rel(&[("a", 1), ("c", 2), ("e", 1)]);
        assert!((map_at(&r, &q, 100) - (1.0 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        assert!((recall_at(&r, &q, 1) - 1.0 / 3.0).abs() < 1e-12);
        assert!((recall_at(&r, &q, 10) - 2.0 / 3.0).abs() < 1e-12);
        assert!((map_at(&r, &q, 2) - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn correlations_by_hand() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let y = [2.0, 4.0, 6.0, 8.5];
        assert!(pearson(&x, &y) > 0.99);
        assert!((spearman(&x, &y) - 1.0).abs() < 1e-12);
        assert!((spearman(&x, &[4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // ties get average ranks: ranks of [1,1,2] are [1.5,1.5,3]
        assert_eq!(ranks(&[1.0, 1.0, 2.0]), vec![1.5, 1.5, 3.0]);
        let s = spearman(&[1.0, 1.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 4.0]);
        assert!((s - 0.9486832980505138).abs() < 1e-12, "{s}");
    }
}
