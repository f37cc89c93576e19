//! Opening time and warm query latency on an index: the model and index loaded once, then 200 questions, each
//! embedded and searched (and, separately timed, the whole `ask`: passages looked up and the best
//! sentence of each picked). Prints one JSON object with medians and p95 in milliseconds.
//!
//! Usage: cargo run --release --example ask_latency -- INDEX_DIR
use semsearch::embed::Embedder;
use semsearch::index::Index;
use semsearch::model::{ModelInfo, ModelLocation};
use semsearch::search::{self, Strategy};
use std::time::Instant;

// The allocator and its setting as in the semsearch binary, so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    semsearch::allocator::keep_freed_memory();
    let dir = std::env::args().nth(1).ok_or_else(|| anyhow::anyhow!("usage: ask_latency INDEX_DIR"))?;
    let loc = ModelLocation::resolve(std::env::var_os("SEMSEARCH_MODEL_DIR").map(std::path::PathBuf::from).as_deref())?;
    let info = ModelInfo::read(&loc)?;
    let embedder = Embedder::load(&info)?;
    let t = Instant::now();
    let index = Index::open(std::path::Path::new(&dir), &info)?;
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let topics = ["the flight from new york to paris", "alibaba's investment in AI", "symptoms of the flu", "the price of gold", "how tall is mount everest"];
    let (mut search_ms, mut ask_ms) = (Vec::new(), Vec::new());
    for i in 0..200 {
        let q = format!("what about {} ({i})?", topics[i % topics.len()]);
        let t = Instant::now();
        let v = embedder.embed_one(&q)?;
        let hits = search::nearest(&index, &v, 10, Strategy::Auto { ef: 64 }, &|_| false);
        search_ms.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(hits.len() == 10.min(index.live()));
        let t = Instant::now();
        let found = search::ask(&index, &embedder, &q, 10, Strategy::Auto { ef: 64 })?;
        ask_ms.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(!found.is_empty());
    }
    let stat = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[v.len() * 95 / 100])
    };
    let (s50, s95) = stat(search_ms);
    let (a50, a95) = stat(ask_ms);
    println!(
        "{}",
        serde_json::json!({"passages": index.live(), "open_ms": open_ms, "embed_search_p50_ms": s50, "embed_search_p95_ms": s95, "ask_p50_ms": a50, "ask_p95_ms": a95})
    );
    Ok(())
}
