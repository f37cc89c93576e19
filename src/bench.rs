//! Bench: index a labeled set, run its queries, and report quality, ANN recall, speed and size.

use crate::ann::Hit;
use crate::chunk::ChunkParams;
use crate::embed::Embedder;
use crate::eval::{self, Run};
use crate::index::{Index, Meta};
use crate::indexer::{self, BuildOptions, InMemory};
use crate::ingest;
use crate::search::{self, Strategy};
use crate::store::{Candidates, Filter, LexicalQuery, Scope, Store, Walk};
use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How `bench` runs.
pub struct BenchOptions {
    /// An index directory to build the corpus into, or reuse when its chunking matches (else a temporary one).
    pub index: Option<PathBuf>,
    /// Embed each document whole (title + text), as MTEB does, instead of cutting passages.
    pub no_chunk: bool,
    /// Exact search for the quality figures (else HNSW at the quality ef).
    pub exact: bool,
    /// ef values for the ANN recall sweep; quality is measured at the default ef when it is in
    /// the list, else at the first.
    pub efs: Vec<usize>,
    /// How passages are cut.
    pub chunking: ChunkParams,
    /// The graph's build parameters and default beam.
    pub hnsw: crate::ann::HnswParams,
    /// Where to write a TREC run file.
    pub run_file: Option<PathBuf>,
    /// No progress bars.
    pub quiet: bool,
    /// Which evidence ranks (semantic, lexical, hybrid).
    pub mode: search::Mode,
    /// How hybrid fuses the two sides.
    pub fusion: search::Fusion,
    /// Push the index to this PostgreSQL server (URL, collection) and search it there.
    pub backend: Option<(String, String)>,
    /// What to compare this run with, query by query.
    pub baseline: Option<Baseline>,
    /// Where to write each query's first ten results' evidence (JSON lines: query, rank, cosine,
    /// scaled BM25, relevant), for fitting `search::confidence`.
    pub evidence: Option<PathBuf>,
}

/// What `bench` compares its run with (`--baseline RUN_FILE`, `--compare MODE`).
#[derive(Debug, Clone)]
pub enum Baseline {
    /// A TREC run file of the same queries (an earlier `bench --run-file`, or another tool's).
    RunFile(PathBuf),
    /// The same index searched in another mode, in this process.
    Mode(search::Mode),
}

/// Documents retrieved per query for the metrics (Recall@100 and MAP@100 need 100).
const DEPTH: usize = 100;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// What `bench --json` prints: one object, its metric keys as in papers (`ndcg@10`), timings with
/// their unit in the key (`query_p50_ms`).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum BenchReport {
    /// A BEIR retrieval set.
    Retrieval(Box<RetrievalReport>),
    /// An STS set.
    Sts(StsReport),
}

/// Sentence similarity on an STS set: the correlation of cosines with the gold scores.
#[derive(Debug, Clone, Serialize)]
pub struct StsReport {
    /// The set's folder.
    pub dataset: String,
    /// `sts`.
    pub kind: &'static str,
    /// The model.
    pub model: String,
    /// How vectors were computed (f32 or int8).
    pub precision: crate::model::Precision,
    /// Sentence pairs.
    pub pairs: usize,
    /// Spearman's rank correlation with the gold scores.
    pub spearman: f64,
    /// Pearson's correlation with them.
    pub pearson: f64,
    /// Time spent embedding.
    pub embed_ms: f64,
    /// Sentences embedded per second.
    pub sentences_per_s: f64,
    /// The process's peak resident memory.
    pub peak_rss_bytes: u64,
}

/// Retrieval quality, ANN recall and speed on a BEIR set.
#[derive(Debug, Clone, Serialize)]
pub struct RetrievalReport {
    /// The set's folder.
    pub dataset: String,
    /// `retrieval`.
    pub kind: &'static str,
    /// The model.
    pub model: String,
    /// How vectors were computed (f32 or int8).
    pub precision: crate::model::Precision,
    /// How passages were cut.
    pub chunking: String,
    /// `exact` or `hnsw ef=N`.
    pub search: String,
    /// semantic, lexical or hybrid.
    pub mode: String,
    /// How hybrid fused (hybrid only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fusion: Option<String>,
    /// The index build, when this run built it.
    #[serde(flatten)]
    pub build: Option<BuildFigures>,
    /// The index reused instead (`--index` with the same chunking).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_reused: Option<String>,
    /// Documents indexed.
    pub documents: usize,
    /// Passages indexed.
    pub passages: usize,
    /// The index's size on disk.
    pub index_size_bytes: u64,
    /// The push to the server (`--backend`).
    #[serde(flatten)]
    pub push: Option<PushFigures>,
    /// Queries with judgements.
    pub queries: usize,
    /// nDCG@10 (trec_eval's definition).
    #[serde(rename = "ndcg@10")]
    pub ndcg_10: f64,
    /// Recall@1.
    #[serde(rename = "recall@1")]
    pub recall_1: f64,
    /// Recall@5.
    #[serde(rename = "recall@5")]
    pub recall_5: f64,
    /// Recall@10.
    #[serde(rename = "recall@10")]
    pub recall_10: f64,
    /// Recall@100.
    #[serde(rename = "recall@100")]
    pub recall_100: f64,
    /// MRR@10.
    #[serde(rename = "mrr@10")]
    pub mrr_10: f64,
    /// MAP@100.
    #[serde(rename = "map@100")]
    pub map_100: f64,
    /// Sets with gold answers (`answers.jsonl`): the share of queries whose answer sentence, as
    /// the tool would highlight it inside the gold passage (of a gold document's passages the one
    /// nearest the question), holds a gold answer.
    #[serde(rename = "answer@gold", skip_serializing_if = "Option::is_none")]
    pub answer_gold: Option<f64>,
    /// … and the share whose first result is relevant and its highlighted sentence holds one.
    #[serde(rename = "answer@1", skip_serializing_if = "Option::is_none")]
    pub answer_1: Option<f64>,
    /// The comparison with `--baseline` or `--compare`: per metric, the difference and its p-value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compared: Option<Comparison>,
    /// A query's embedding and search, median.
    pub query_p50_ms: f64,
    /// … 95th percentile.
    pub query_p95_ms: f64,
    /// … 99th percentile.
    pub query_p99_ms: f64,
    /// A query's embedding, median.
    pub query_embed_p50_ms: f64,
    /// … 95th percentile.
    pub query_embed_p95_ms: f64,
    /// … 99th percentile.
    pub query_embed_p99_ms: f64,
    /// A query's search, median.
    pub query_search_p50_ms: f64,
    /// … 95th percentile.
    pub query_search_p95_ms: f64,
    /// … 99th percentile.
    pub query_search_p99_ms: f64,
    /// HNSW recall@10 against exact search at the quality ef.
    #[serde(rename = "ann_recall@10")]
    pub ann_recall_10: f64,
    /// HNSW recall@10 and search latency per ef.
    pub ann_sweep: Vec<AnnPoint>,
    /// The process's peak resident memory.
    pub peak_rss_bytes: u64,
}

/// This run against a baseline, query by query (`--baseline`, `--compare`).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// What it is compared with: `run file PATH` or `mode semantic`.
    pub baseline: String,
    /// Queries compared (those with judgements; a query missing from a run scores 0 there).
    pub queries: usize,
    /// Sign flips of the paired randomization test.
    pub permutations: usize,
    /// Per metric (keys as in the report): the baseline's value, this run's minus it, and the
    /// two-sided p-value of that difference.
    pub metrics: std::collections::BTreeMap<String, Delta>,
}

/// One metric's difference from the baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Delta {
    /// The baseline's mean.
    pub baseline: f64,
    /// This run's mean minus the baseline's.
    pub delta: f64,
    /// Two-sided p-value of the paired randomization test (10,000 sign flips).
    pub p: f64,
}

/// Compares `run` with `baseline` query by query on `qrels`.
pub fn compare(run: &Run, baseline: &Run, qrels: &eval::Qrels, name: String) -> Comparison {
    let (ours, theirs) = (eval::per_query(run, qrels), eval::per_query(baseline, qrels));
    let n = qrels.len().max(1) as f64;
    let metrics = eval::METRICS
        .iter()
        .map(|&m| {
            let (a, b) = (&ours[m], &theirs[m]);
            let (mean_a, mean_b) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
            let delta = Delta { baseline: round(mean_b, 5), delta: round(mean_a - mean_b, 5), p: round(eval::randomization_p(a, b, eval::PERMUTATIONS), 4) };
            (m.to_string(), delta)
        })
        .collect();
    Comparison { baseline: name, queries: qrels.len(), permutations: eval::PERMUTATIONS, metrics }
}

/// An index build's figures.
#[derive(Debug, Clone, Serialize)]
pub struct BuildFigures {
    /// The whole build.
    pub index_build_ms: f64,
    /// Embedding.
    pub embed_ms: f64,
    /// Building the graphs.
    pub graph_build_ms: f64,
    /// Passages embedded per second.
    pub passages_per_s: f64,
    /// Word pieces embedded per second.
    pub tokens_per_s: f64,
}

/// A push's figures (`--backend`).
#[derive(Debug, Clone, Serialize)]
pub struct PushFigures {
    /// The server (without its password) and collection.
    pub backend: String,
    /// The push's wall time.
    pub push_ms: f64,
    /// Passages sent.
    pub push_passages_sent: usize,
    /// Passages sent per second.
    pub push_passages_per_s: f64,
}

/// HNSW recall and latency at one beam width.
#[derive(Debug, Clone, Serialize)]
pub struct AnnPoint {
    /// The beam width.
    pub ef: usize,
    /// Recall@10 against exact search.
    #[serde(rename = "ann_recall@10")]
    pub ann_recall_10: f64,
    /// Median graph search time.
    pub search_p50_ms: f64,
}

/// The median, 95th and 99th percentiles of `v`, in ms rounded to µs.
fn ms_stats(mut v: Vec<f64>) -> [f64; 3] {
    v.sort_by(f64::total_cmp);
    [0.5, 0.95, 0.99].map(|q| round(percentile(&v, q), 3))
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// Peak resident set size of this process, from /proc (Linux); 0 elsewhere.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Runs the benchmark of `dataset` (a BEIR folder or an STS-B file) and returns its report.
pub fn run(dataset: &Path, embedder: &Embedder, opts: &BenchOptions) -> Result<BenchReport> {
    if !dataset.is_dir() {
        anyhow::bail!("{}: not a directory; give a folder with corpus.jsonl, queries.jsonl and qrels/test.tsv (or sts-test.tsv)", dataset.display());
    }
    let sts = dataset.join("sts-test.tsv");
    if sts.is_file() {
        return run_sts(&sts, embedder, opts).map(BenchReport::Sts);
    }
    run_retrieval(dataset, embedder, opts).map(|r| BenchReport::Retrieval(Box::new(r)))
}

fn run_sts(path: &Path, embedder: &Embedder, opts: &BenchOptions) -> Result<StsReport> {
    let pairs = eval::load_sts(path)?;
    let texts: Vec<&str> = pairs.iter().flat_map(|(_, a, b)| [a.as_str(), b.as_str()]).collect();
    let bar = crate::progress::bar(texts.len() as u64, "embedding", opts.quiet);
    let t = Instant::now();
    let v = embedder.embed(&texts, &mut |d| bar.set_position(d as u64))?;
    bar.finish_and_clear();
    let secs = t.elapsed().as_secs_f64();
    let dim = embedder.dimensions();
    let cos: Vec<f64> =
        (0..pairs.len()).map(|i| crate::ann::dot(&v[2 * i * dim..(2 * i + 1) * dim], &v[(2 * i + 1) * dim..(2 * i + 2) * dim]) as f64).collect();
    let gold: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    Ok(StsReport {
        dataset: path.parent().unwrap_or(path).display().to_string(),
        kind: "sts",
        model: embedder.info().name.clone(),
        precision: embedder.info().precision,
        pairs: pairs.len(),
        spearman: round(eval::spearman(&cos, &gold), 5),
        pearson: round(eval::pearson(&cos, &gold), 5),
        embed_ms: round(secs * 1000.0, 1),
        sentences_per_s: round(texts.len() as f64 / secs, 1),
        peak_rss_bytes: peak_rss_bytes(),
    })
}

fn run_retrieval(dataset: &Path, embedder: &Embedder, opts: &BenchOptions) -> Result<RetrievalReport> {
    let set = eval::load_beir(dataset)?;
    let tmp;
    let dir = match &opts.index {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::Builder::new().prefix("semsearch-bench-").tempdir()?;
            tmp.path().join("index")
        }
    };
    let chunking_shown = if opts.no_chunk {
        "none (whole documents, title + text)".to_string()
    } else {
        format!("{} tokens, overlap {}", opts.chunking.max_tokens, opts.chunking.overlap_tokens)
    };
    let default_ef = opts.hnsw.ef_search;
    let quality_ef = if opts.efs.contains(&default_ef) { default_ef } else { opts.efs[0] };
    let search_shown = if opts.exact { "exact".to_string() } else { format!("hnsw ef={quality_ef}") };
    let fusion = (opts.mode == search::Mode::Hybrid).then(|| format!("{:?}", opts.fusion));

    // Index (or reuse) the corpus.
    let chunking = ChunkParams { whole_documents: opts.no_chunk, ..opts.chunking };
    let existing = if opts.index.is_some() { Meta::read(&dir)? } else { None };
    if let Some(m) = &existing {
        if m.chunking.whole_documents != opts.no_chunk || (!opts.no_chunk && m.chunking != chunking) {
            anyhow::bail!(
                "{}: this index was built with other chunking ({}); give another --index, or the same options",
                dir.display(),
                if m.chunking.whole_documents {
                    "--no-chunk".to_string()
                } else {
                    format!("--max-tokens {} --overlap {}", m.chunking.max_tokens, m.chunking.overlap_tokens)
                }
            );
        }
    }
    // An index of an older format is brought up to date by the indexer, which re-embeds nothing
    // that is unchanged (the corpus is read again for it).
    let reuse = existing.as_ref().is_some_and(|m| m.format_version == crate::index::FORMAT_VERSION);
    let (mut build, mut index_reused) = (None, None);
    if !reuse {
        let text = std::fs::read_to_string(&set.corpus_path).with_context(|| format!("cannot read {}", set.corpus_path.display()))?;
        // A labeled set must be whole: a malformed corpus line would skew every metric.
        let (mut docs, bad) = ingest::jsonl_documents(&set.corpus_path.display().to_string(), &text);
        if let Some((at, why)) = bad.first() {
            anyhow::bail!("{at}: {why}; fix or remove that line ({} malformed lines in the corpus)", bad.len());
        }
        if opts.no_chunk {
            // As MTEB embeds documents: title + " " + text, stripped, truncated at the window (the
            // title joins the text instead of being its section prefix).
            for d in &mut docs {
                if !d.title.is_empty() && !d.sections.is_empty() {
                    d.text = format!("{} {}", d.title, d.text).trim().to_string();
                    d.sections.clear();
                }
            }
        }
        let mut input = InMemory { documents: docs, roots: Vec::new() };
        let (summary, _) = indexer::run(&dir, &mut input, embedder, &BuildOptions { chunking, hnsw: opts.hnsw, quiet: opts.quiet, ..BuildOptions::default() })?;
        let embed_s = summary.embed_seconds.max(1e-9);
        build = Some(BuildFigures {
            index_build_ms: round(summary.seconds * 1000.0, 1),
            embed_ms: round(summary.embed_seconds * 1000.0, 1),
            graph_build_ms: round(summary.graph_seconds * 1000.0, 1),
            passages_per_s: round(summary.passages_embedded as f64 / embed_s, 1),
            tokens_per_s: round(summary.tokens_embedded as f64 / embed_s, 0),
        });
    } else {
        index_reused = Some(dir.display().to_string());
    }
    let index = Index::open(&dir, embedder.info())?;
    let docs = index.documents()?;

    // On a server: the index pushed (timed), then searched there.
    let mut push = None;
    let remote = match &opts.backend {
        None => None,
        Some((url, collection)) => {
            let mut client = crate::remote::conn::connect(url)?;
            let t = Instant::now();
            let pushed =
                crate::remote::push(&mut client, collection, &index, embedder.info(), crate::remote::BENCH_SOURCE, opts.quiet, crate::remote::Pusher::Bench)?;
            let secs = t.elapsed().as_secs_f64();
            push = Some(PushFigures {
                backend: format!("{} collection {collection}", crate::remote::conn::redact(url)),
                push_ms: round(secs * 1000.0, 1),
                push_passages_sent: pushed.passages_sent,
                push_passages_per_s: round(pushed.passages_sent as f64 / secs.max(1e-9), 1),
            });
            Some(crate::remote::Remote::open(url, collection, embedder.info())?)
        }
    };
    let store: &dyn Store = match &remote {
        Some(r) => r,
        None => &index,
    };
    let everything = Filter::default();
    let scope = Scope { filter: &everything, except: None };

    // Queries: embed each (timed), search (timed), aggregate passages to documents.
    let queries: Vec<&(String, String)> = set.queries.iter().filter(|(id, _)| set.qrels.contains_key(id)).collect();
    let strategy = if opts.exact { Strategy::Exact } else { Strategy::Hnsw { ef: quality_ef } };
    let per_doc = index.live().div_ceil(docs.len().max(1));
    let k_passages = (DEPTH * per_doc + 50).min(index.live());
    let (mut t_embed, mut t_search) = (Vec::new(), Vec::new());
    let mut run = Run::new();
    let mut qvecs = Vec::with_capacity(queries.len());
    // Answer sentences, judged on the local index's passages (the server's are the same records).
    let mut answers = set.answers.as_ref().map(|a| AnswerTally::new(&index, a)).transpose()?;
    let local = Store::open(&index, scope)?;
    let strategy = match strategy {
        Strategy::Hnsw { ef } => Strategy::Hnsw { ef: ef.max(k_passages) },
        s => s,
    };
    // One query's ranking in `mode`. A labeled set's questions are plain text: no phrase or
    // operator of `ask` applies.
    let rank = |found: &mut dyn crate::store::Retrieval, q: &[f32], text: &str, mode| {
        let options = search::Options { fusion: opts.fusion, ..search::Options::plain(k_passages, strategy, mode) };
        search::retrieve(found, q, &search::lexical::plain(text), &options)
    };
    // The ranked passages' documents and scores.
    let doc_scores = |found: &dyn crate::store::Retrieval, hits: &[search::Ranked]| -> Result<Vec<(String, f32)>> {
        hits.iter().map(|h| Ok((found.doc_id(h.row)?, h.score))).collect()
    };
    // A query's passages to its documents, best first, as many as the metrics read.
    let documents = |results: &[(String, f32)]| {
        let mut ranked = eval::ranked(results);
        ranked.truncate(DEPTH);
        ranked
    };
    let mut evidence = match &opts.evidence {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?)),
        None => None,
    };
    let bar = crate::progress::bar(queries.len() as u64, "queries", opts.quiet);
    for (qid, text) in &queries {
        let t = Instant::now();
        let q = embedder.embed_one(text)?;
        t_embed.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let mut found = store.open(scope)?;
        let hits = rank(&mut *found, &q, text, opts.mode)?;
        t_search.push(t.elapsed().as_secs_f64() * 1000.0);
        let results = doc_scores(&*found, &hits)?;
        if let Some(out) = &mut evidence {
            let relevant = &set.qrels[qid.as_str()];
            let words = search::answer::QuestionWords::new(text);
            for (i, (h, (doc, _))) in hits.iter().zip(&results).take(10).enumerate() {
                let cosine = h.semantic.map_or_else(|| crate::ann::dot(&q, found.vector(h.row)), |s| s.1);
                let cover = found.passage(h.row)?.map_or(0.0, |p| words.share_in(&search::evidence_text(&p)));
                let line = serde_json::json!({"qid": qid, "rank": i + 1, "cosine": cosine, "words": h.words, "cover": cover, "relevant": relevant.get(doc).is_some_and(|&g| g > 0)});
                writeln!(out, "{line}")?;
            }
        }
        if let Some(tally) = &mut answers {
            let relevant = &set.qrels[qid.as_str()];
            tally.add(qid, text, &q, relevant, &*local, &*found, hits.first(), results.first().map(|r| r.0.as_str()), embedder)?;
        }
        run.insert(qid.clone(), documents(&results));
        qvecs.push(q);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let metrics = eval::evaluate(&run, &set.qrels);
    let compared = match &opts.baseline {
        None => None,
        Some(Baseline::RunFile(path)) => Some(compare(&run, &eval::load_run(path)?, &set.qrels, format!("run file {}", path.display()))),
        Some(Baseline::Mode(mode)) => {
            let mut other = Run::new();
            for ((qid, text), q) in queries.iter().zip(&qvecs) {
                let mut found = store.open(scope)?;
                let hits = rank(&mut *found, q, text, *mode)?;
                other.insert(qid.clone(), documents(&doc_scores(&*found, &hits)?));
            }
            Some(compare(&run, &other, &set.qrels, format!("mode {}", mode.name())))
        }
    };
    let metric = |key: &str| round(metrics[key], 5);
    let total: Vec<f64> = t_embed.iter().zip(&t_search).map(|(a, b)| a + b).collect();
    let (query, query_embed, query_search) = (ms_stats(total), ms_stats(t_embed), ms_stats(t_search));

    // ANN recall@10 against exact search over the same vectors (the local index's), per ef; a
    // server's graph is compared by passage id.
    let passage_ids = |found: &dyn Candidates, hits: &[Hit]| -> Result<Vec<String>> {
        found.prefetch(&hits.iter().map(|h| h.row).collect::<Vec<_>>())?;
        hits.iter().filter_map(|h| found.passage(h.row).transpose()).map(|p| Ok(p?.record.id)).collect()
    };
    let mut exact = Vec::with_capacity(qvecs.len());
    for q in &qvecs {
        let mut found = Store::open(&index, scope)?;
        let hits = found.nearest(q, 10, Walk::Exact, &LexicalQuery::none())?;
        exact.push(passage_ids(&*found, &hits)?);
    }
    let mut sweep = Vec::new();
    for &ef in &opts.efs {
        let mut agree = 0usize;
        let mut total = 0usize;
        let mut lat = Vec::new();
        for (q, exact) in qvecs.iter().zip(&exact) {
            let mut found = store.open(scope)?;
            let t = Instant::now();
            let hits = found.nearest(q, 10, Walk::Graph { ef }, &LexicalQuery::none())?;
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            let approx = passage_ids(&*found, &hits)?;
            agree += approx.iter().filter(|r| exact.contains(r)).count();
            total += exact.len();
        }
        lat.sort_by(f64::total_cmp);
        sweep.push(AnnPoint { ef, ann_recall_10: round(agree as f64 / total.max(1) as f64, 5), search_p50_ms: round(percentile(&lat, 0.5), 4) });
    }
    let at_quality_ef = sweep.iter().find(|r| r.ef == quality_ef).unwrap_or(&sweep[0]).ann_recall_10;
    let report = RetrievalReport {
        dataset: dataset.display().to_string(),
        kind: "retrieval",
        model: embedder.info().name.clone(),
        precision: embedder.info().precision,
        chunking: chunking_shown,
        search: search_shown,
        mode: opts.mode.name().to_string(),
        fusion,
        build,
        index_reused,
        documents: docs.len(),
        passages: index.live(),
        index_size_bytes: index_size(&index),
        push,
        queries: queries.len(),
        ndcg_10: metric("ndcg@10"),
        recall_1: metric("recall@1"),
        recall_5: metric("recall@5"),
        recall_10: metric("recall@10"),
        recall_100: metric("recall@100"),
        mrr_10: metric("mrr@10"),
        map_100: metric("map@100"),
        answer_gold: answers.as_ref().map(|a| round(a.at_gold as f64 / a.queries.max(1) as f64, 5)),
        answer_1: answers.as_ref().map(|a| round(a.at_1 as f64 / a.queries.max(1) as f64, 5)),
        compared,
        query_p50_ms: query[0],
        query_p95_ms: query[1],
        query_p99_ms: query[2],
        query_embed_p50_ms: query_embed[0],
        query_embed_p95_ms: query_embed[1],
        query_embed_p99_ms: query_embed[2],
        query_search_p50_ms: query_search[0],
        query_search_p95_ms: query_search[1],
        query_search_p99_ms: query_search[2],
        ann_recall_10: at_quality_ef,
        ann_sweep: sweep,
        peak_rss_bytes: peak_rss_bytes(),
    };

    if let Some(path) = &opts.run_file {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?);
        for (qid, ranked) in &run {
            for (i, (doc, score)) in ranked.iter().enumerate() {
                writeln!(f, "{qid} Q0 {doc} {} {score:.6} semsearch", i + 1)?;
            }
        }
        f.flush()?;
    }
    Ok(report)
}

/// Counts of answer sentences that hold a gold answer (`answer@gold`, `answer@1`).
struct AnswerTally<'a> {
    /// Gold answer texts by query id.
    gold: &'a std::collections::HashMap<String, Vec<String>>,
    /// The local index's live rows by document id.
    rows_of: std::collections::HashMap<String, Vec<u32>>,
    /// Queries with gold answers.
    queries: usize,
    /// … whose sentence in the gold passage holds one.
    at_gold: usize,
    /// … whose first result is relevant and its sentence holds one.
    at_1: usize,
}

impl<'a> AnswerTally<'a> {
    fn new(index: &Index, gold: &'a std::collections::HashMap<String, Vec<String>>) -> Result<AnswerTally<'a>> {
        let rows_of =
            index.documents()?.into_iter().map(|d| (d.doc_id, (d.first_row..d.first_row + d.n_passages).filter(|&r| index.is_live(r)).collect())).collect();
        Ok(AnswerTally { gold, rows_of, queries: 0, at_gold: 0, at_1: 0 })
    }

    /// Judges one query: the answer sentence of the gold passage nearest `q` in `local`, and that
    /// of the first result `top` (of document `top_doc`) in `found`.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        qid: &str,
        question: &str,
        q: &[f32],
        relevant: &std::collections::HashMap<String, i32>,
        local: &dyn Candidates,
        found: &dyn Candidates,
        top: Option<&search::Ranked>,
        top_doc: Option<&str>,
        embedder: &dyn crate::embed::Embed,
    ) -> Result<()> {
        let Some(gold) = self.gold.get(qid) else { return Ok(()) };
        self.queries += 1;
        let holds = |store: &dyn Candidates, row: u32| -> Result<bool> {
            let ranked = search::Ranked { row, score: 0.0, semantic: None, lexical: None, words: None };
            let found = search::resolve(store, embedder, q, question, &[ranked])?;
            Ok(eval::holds_answer(found[0].answer_text(), gold))
        };
        let gold_rows = relevant.iter().filter(|(_, &g)| g > 0).flat_map(|(d, _)| self.rows_of.get(d).into_iter().flatten().copied());
        if let Some(row) = gold_rows.max_by(|&a, &b| crate::ann::dot(q, local.vector(a)).total_cmp(&crate::ann::dot(q, local.vector(b)))) {
            self.at_gold += usize::from(holds(local, row)?);
        }
        if let (Some(top), Some(doc)) = (top, top_doc) {
            if relevant.get(doc).is_some_and(|&g| g > 0) {
                self.at_1 += usize::from(holds(found, top.row)?);
            }
        }
        Ok(())
    }
}

fn index_size(index: &Index) -> u64 {
    index.meta.size_bytes() + std::fs::metadata(index.dir.join("meta.json")).map(|m| m.len()).unwrap_or(0)
}

/// The report as an aligned two-column table (its JSON keys and values, the ANN sweep as a table
/// of its own).
pub fn write_human(out: &mut dyn Write, report: &BenchReport) -> std::io::Result<()> {
    let Ok(Value::Object(map)) = serde_json::to_value(report) else { return Ok(()) };
    let width = map.keys().map(|k| k.len()).max().unwrap_or(0);
    for (k, v) in &map {
        if k == "ann_sweep" || k == "compared" {
            continue;
        }
        let shown = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        writeln!(out, "{k:<width$}  {shown}")?;
    }
    if let BenchReport::Retrieval(r) = report {
        if let Some(c) = &r.compared {
            writeln!(out, "\nagainst {} ({} queries, paired randomization test, {} sign flips)", c.baseline, c.queries, c.permutations)?;
            writeln!(out, "{:>10}  {:>9}  {:>9}  {:>9}  {:>7}", "metric", "baseline", "this", "delta", "p")?;
            for (m, d) in eval::METRICS.iter().filter_map(|&m| c.metrics.get(m).map(|d| (m, d))) {
                writeln!(out, "{m:>10}  {:>9.5}  {:>9.5}  {:>+9.5}  {:>7.4}", d.baseline, round(d.baseline + d.delta, 5), d.delta, d.p)?;
            }
        }
        writeln!(out, "\n{:>6}  {:>14}  {:>14}", "ef", "ann_recall@10", "search_p50_ms")?;
        for p in &r.ann_sweep {
            let sweep = serde_json::to_value(p).unwrap_or_default();
            let cell = |k: &str| sweep[k].to_string();
            writeln!(out, "{:>6}  {:>14}  {:>14}", cell("ef"), cell("ann_recall@10"), cell("search_p50_ms"))?;
        }
    }
    out.flush()
}
