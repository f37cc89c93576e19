//! Opening time and warm query latency on an index: the model and index loaded once, then 200 questions, each
//! embedded and searched (and, separately timed, the whole `ask`: passages looked up and the best
//! sentence of each picked), in semantic and (where the index has its lexical index) hybrid mode.
//! Prints one JSON object with medians and p95 in milliseconds.
//!
//! With SYNTH_DIR (an index built by `synth_index` from it), also the graph search of its own
//! queries against its ground truth: recall@10 and latency at ef=64 (and 48, 32), over every segment,
//! walking the graphs' 8-bit vectors as `ask` does and then (keys `synth_f32_…`) the f32 vectors.
//!
//! Usage: cargo run --release --example ask_latency -- INDEX_DIR [SYNTH_DIR]
use semsearch::ann::Hit;
use semsearch::embed::Embedder;
use semsearch::index::Index;
use semsearch::model::{ModelInfo, ModelLocation};
use semsearch::search::{self, Strategy};
use semsearch::store::{Scope, Store, Walk};
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
    let (mut search_ms, mut ask_ms, mut hybrid_ms) = (Vec::new(), Vec::new(), Vec::new());
    // Retrieval alone (the question already embedded), semantic vs hybrid: what fusion costs
    // before the answer sentences are chosen.
    let (mut retrieve_semantic_ms, mut retrieve_hybrid_ms) = (Vec::new(), Vec::new());
    let opts = |mode| search::Options::plain(10, Strategy::Auto { ef: 64 }, mode);
    let lexical = index.has_lexical()?;
    let everything = search::Filter::default();
    for i in 0..200 {
        let q = format!("what about {} ({i})?", topics[i % topics.len()]);
        let t = Instant::now();
        let v = embedder.embed_one(&q)?;
        let hits = nearest(&index, &v, Strategy::Auto { ef: 64 });
        search_ms.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(hits.len() == 10.min(index.live()));
        let t = Instant::now();
        let found = search::ask(&index, &embedder, &q, &opts(search::Mode::Semantic), &everything)?.found;
        ask_ms.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(!found.is_empty());
        if lexical {
            let words = search::lexical::parse(&q);
            for (mode, times) in [(search::Mode::Semantic, &mut retrieve_semantic_ms), (search::Mode::Hybrid, &mut retrieve_hybrid_ms)] {
                let t = Instant::now();
                let mut found = Store::open(&index, Scope { filter: &everything, except: None })?;
                let ranked = search::retrieve(&mut *found, &v, &words, &opts(mode))?;
                times.push(t.elapsed().as_secs_f64() * 1e3);
                anyhow::ensure!(!ranked.is_empty());
            }
            let t = Instant::now();
            let found = search::ask(&index, &embedder, &q, &opts(search::Mode::Hybrid), &everything)?.found;
            hybrid_ms.push(t.elapsed().as_secs_f64() * 1e3);
            anyhow::ensure!(!found.is_empty());
        }
    }
    // The graph search alone (query vectors embedded beforehand), and its recall@10 against exact
    // search over the same index: with several segments, their merged hits.
    let queries: Vec<Vec<f32>> =
        (0..200).map(|i| embedder.embed_one(&format!("what about {} ({i})?", topics[i % topics.len()]))).collect::<anyhow::Result<_>>()?;
    let (mut hnsw_us, mut agree) = (Vec::new(), 0usize);
    for q in &queries {
        let t = Instant::now();
        let hits = nearest(&index, q, Strategy::Hnsw { ef: 64 });
        hnsw_us.push(t.elapsed().as_secs_f64() * 1e6);
        let exact = nearest(&index, q, Strategy::Exact);
        agree += hits.iter().filter(|h| exact.iter().any(|e| e.row == h.row)).count();
    }
    let mut synth = serde_json::Map::new();
    if let Some(sd) = std::env::args().nth(2).map(std::path::PathBuf::from) {
        let floats = |b: Vec<u8>| -> Vec<f32> { b.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect() };
        let qs = floats(std::fs::read(sd.join("queries.f32"))?);
        let gt: Vec<u32> = std::fs::read(sd.join("gt10.u32"))?.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let dim = info.dimensions;
        // The same index walked on the f32 vectors instead of the graphs' 8-bit copies (keys
        // `synth_f32_…`), for the ratio between the two walks on the same files.
        let mut f32_walk = Index::open(std::path::Path::new(&dir), &info)?;
        f32_walk.segments.iter_mut().for_each(|s| s.ann.forget_codes());
        // ef 64 is the default (`synth_hnsw_p50_us`, `synth_recall@10`); narrower beams show
        // what latency each recall costs.
        for (walk, index) in [("", &index), ("f32_", &f32_walk)] {
            for ef in [64, 48, 32] {
                let (mut us, mut hit) = (Vec::new(), 0usize);
                for (i, q) in qs.chunks_exact(dim).enumerate() {
                    let t = Instant::now();
                    let hits = nearest(index, q, Strategy::Hnsw { ef });
                    us.push(t.elapsed().as_secs_f64() * 1e6);
                    // synth_index writes passage i at row i, across segments too.
                    hit += hits.iter().filter(|h| gt[i * 10..i * 10 + 10].contains(&h.row)).count();
                }
                us.sort_by(f64::total_cmp);
                let recall = hit as f64 / (10 * us.len()) as f64;
                if ef == 64 {
                    synth.insert("synth_queries".into(), serde_json::json!(us.len()));
                    synth.insert(format!("synth_{walk}hnsw_p50_us"), serde_json::json!(us[us.len() / 2]));
                    synth.insert(format!("synth_{walk}recall@10"), serde_json::json!(recall));
                } else {
                    synth.insert(format!("synth_{walk}ef{ef}_p50_us"), serde_json::json!(us[us.len() / 2]));
                    synth.insert(format!("synth_{walk}ef{ef}_recall@10"), serde_json::json!(recall));
                }
            }
        }
    }
    let stat = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[v.len() * 95 / 100])
    };
    let (s50, s95) = stat(search_ms);
    let (a50, a95) = stat(ask_ms);
    let (h50, h95) = stat(hnsw_us);
    let mut out = serde_json::json!({"passages": index.live(), "open_ms": open_ms, "embed_search_p50_ms": s50, "embed_search_p95_ms": s95, "ask_p50_ms": a50, "ask_p95_ms": a95,
            "segments": index.segments.len(), "hnsw_p50_us": h50, "hnsw_p95_us": h95, "hnsw_recall@10": agree as f64 / (10 * queries.len()) as f64});
    if !hybrid_ms.is_empty() {
        let (y50, y95) = stat(hybrid_ms);
        synth.insert("ask_hybrid_p50_ms".into(), y50.into());
        synth.insert("ask_hybrid_p95_ms".into(), y95.into());
        let (r50, _) = stat(retrieve_semantic_ms);
        let (rh50, rh95) = stat(retrieve_hybrid_ms);
        synth.insert("retrieve_semantic_p50_ms".into(), r50.into());
        synth.insert("retrieve_hybrid_p50_ms".into(), rh50.into());
        synth.insert("retrieve_hybrid_p95_ms".into(), rh95.into());
    }
    out.as_object_mut().expect("an object").extend(synth);
    println!("{out}");
    Ok(())
}

/// The semantic side alone, as `search` walks the index for `strategy`.
fn nearest(index: &Index, q: &[f32], strategy: Strategy) -> Vec<Hit> {
    match search::walk(strategy, index.live()) {
        Walk::Exact => index.exact(q, 10, &|_| true),
        Walk::Graph { ef } => index.hnsw(q, 10, ef, &|_| true),
    }
}
