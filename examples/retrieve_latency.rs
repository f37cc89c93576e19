//! What hybrid search adds to retrieval on a large index: for each question, the semantic ranking
//! (HNSW, k=10) and the hybrid one (both sides' top 100, fused), timed in process. Works on an
//! index built by `index_rss` (the hashing stand-in embedder, so no model is needed and a
//! 400k-passage index builds in minutes): the vectors are not a model's, but the graph walk, the
//! FTS5 query and the fusion cost what they cost. Prints medians and p95 in milliseconds.
//!
//! Usage: cargo run --release --example retrieve_latency -- INDEX_DIR QUESTIONS.jsonl
use semsearch::embed::{Embed, HashingEmbedder};
use semsearch::index::Index;
use semsearch::search::{self, lexical, Mode, Strategy};
use semsearch::store::{Filter, Scope, Store};
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    semsearch::allocator::keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(args.len() == 2, "usage: retrieve_latency INDEX_DIR QUESTIONS.jsonl");
    let embedder = HashingEmbedder::new(384)?;
    let index = Index::open(std::path::Path::new(&args[0]), embedder.info())?;
    let questions: Vec<String> = std::fs::read_to_string(&args[1])?
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("q").or(v.get("text")).and_then(|x| x.as_str()).map(str::to_string))
        .collect();
    let everything = Filter::default();
    let (mut semantic, mut hybrid) = (Vec::new(), Vec::new());
    for round in 0..3 {
        for q in &questions {
            let v = embedder.embed(&[q.as_str()], &mut |_| {})?;
            let words = lexical::parse(q);
            for (mode, times) in [(Mode::Semantic, &mut semantic), (Mode::Hybrid, &mut hybrid)] {
                let opts = search::Options::plain(10, Strategy::Auto { ef: 64 }, mode);
                let t = Instant::now();
                let mut found = Store::open(&index, Scope { filter: &everything, except: None })?;
                let hits = search::retrieve(&mut *found, &v, &words, &opts)?;
                // The first round warms the page cache.
                if round > 0 {
                    times.push(t.elapsed().as_secs_f64() * 1e3);
                }
                anyhow::ensure!(hits.len() == 10);
            }
        }
    }
    let stat = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[v.len() * 95 / 100])
    };
    let (s50, s95) = stat(semantic);
    let (h50, h95) = stat(hybrid);
    println!(
        "{}",
        serde_json::json!({"passages": index.live(), "segments": index.segments.len(), "questions": questions.len(),
            "semantic_p50_ms": s50, "semantic_p95_ms": s95, "hybrid_p50_ms": h50, "hybrid_p95_ms": h95})
    );
    Ok(())
}
