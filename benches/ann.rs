//! Distance function and graph search over synthetic unit vectors (clustered, fixed seed).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use semsearch::ann::{build_graph, clustered_unit_vectors, dot, write_vectors, AnnIndex, HnswParams};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let dim = 384;
    let a: Vec<f32> = (0..dim).map(|i| (i as f32).sin()).collect();
    let b: Vec<f32> = (0..dim).map(|i| (i as f32).cos()).collect();
    c.bench_function("dot_384", |bch| bch.iter(|| dot(black_box(&a), black_box(&b))));

    let n = 20_000;
    let v = clustered_unit_vectors(n, dim, 100, 0.3, 0x2545F4914F6CDD1D);
    let dir = tempfile::tempdir().unwrap();
    write_vectors(&dir.path().join("v"), &v).unwrap();
    build_graph(&dir.path().join("g"), &v, dim, &HnswParams::default()).unwrap();
    let idx = AnnIndex::open(&dir.path().join("v"), &dir.path().join("g"), n, dim).unwrap();
    let queries: Vec<&[f32]> = (0..64).map(|i| &v[(i * 311 % n) * dim..(i * 311 % n + 1) * dim]).collect();
    let mut g = c.benchmark_group("search_20k");
    for ef in [32usize, 64, 128] {
        g.bench_with_input(BenchmarkId::new("hnsw", ef), &ef, |bch, &ef| {
            let mut i = 0;
            bch.iter(|| {
                i = (i + 1) % queries.len();
                idx.search(queries[i], 10, ef, &|_| true)
            })
        });
    }
    g.bench_function("exact", |bch| {
        let mut i = 0;
        bch.iter(|| {
            i = (i + 1) % queries.len();
            idx.exact(queries[i], 10, &|_| true)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
