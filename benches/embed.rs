//! The embedder on real passages: one short query, and a batch of 32 sample-corpus paragraphs.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use semsearch::embed::Embedder;
use semsearch::model::{ModelInfo, ModelLocation};

fn bench(c: &mut Criterion) {
    let explicit = std::env::var_os("SEMSEARCH_MODEL_DIR").map(std::path::PathBuf::from);
    let loc = ModelLocation::resolve(explicit.as_deref()).unwrap();
    loc.ensure(true).expect("model present or fetchable (semsearch model fetch)");
    let embedder = Embedder::load(&ModelInfo::read(&loc).unwrap()).unwrap();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/news/alibaba-ai-investment.txt")).unwrap();
    let paras: Vec<&str> = text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()).cycle().take(32).collect();
    c.bench_function("embed_query", |b| b.iter(|| embedder.embed_one("How much will Alibaba invest in AI?").unwrap()));
    let mut g = c.benchmark_group("embed_batch");
    g.throughput(Throughput::Elements(paras.len() as u64));
    g.bench_function("32_paragraphs", |b| b.iter(|| embedder.embed(&paras, &mut |_| {}).unwrap()));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
