//! Distance function and graph search over synthetic unit vectors (clustered, fixed seed).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use semsearch::ann::{build_graph, dot, write_vectors, AnnIndex, HnswParams};
use std::hint::black_box;

fn clustered(n: usize, dim: usize) -> Vec<f32> {
    let mut s = 0x2545F4914F6CDD1Du64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
    };
    let centres: Vec<Vec<f32>> = (0..100).map(|_| (0..dim).map(|_| next()).collect()).collect();
    let mut v = Vec::with_capacity(n * dim);
    for i in 0..n {
        let mut x: Vec<f32> = centres[i % 100].iter().map(|c| c + 0.3 * next()).collect();
        let norm = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        x.iter_mut().for_each(|a| *a /= norm);
        v.extend(x);
    }
    v
}

fn bench(c: &mut Criterion) {
    let dim = 384;
    let a: Vec<f32> = (0..dim).map(|i| (i as f32).sin()).collect();
    let b: Vec<f32> = (0..dim).map(|i| (i as f32).cos()).collect();
    c.bench_function("dot_384", |bch| bch.iter(|| dot(black_box(&a), black_box(&b))));

    let n = 20_000;
    let v = clustered(n, dim);
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
