//! The ANN side of the speed comparison, on the very vectors the baselines use: reads the set that
//! `../shared/baselines/synth.py DIR` writes (base.f32, queries.f32, gt10.u32), builds semsearch's
//! graph (hnsw_rs, M=16, efC=200, exported to flat tables), opens it as `ask` does, checksums the
//! files as `Index::open` does, and searches every query at ef 32/48/64/128, walking the graph file's
//! 8-bit vectors as the product does and then the f32 vectors. Prints one JSON object.
//!
//! Usage: cargo run --release --example ann_synth -- DIR [WORK_DIR] (WORK_DIR holding vectors.f32 and graph.bin
//! from an earlier run: they are searched without building again)
use semsearch::ann::{build_graph, write_vectors, AnnIndex, HnswParams};
use std::time::Instant;

// The allocator and its setting as in the semsearch binary, so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn read_f32(path: &std::path::Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}; run synth.py first", path.display()));
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn main() {
    semsearch::allocator::keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).expect("usage: ann_synth DIR [WORK_DIR]"));
    let dim = 384;
    let base = read_f32(&dir.join("base.f32"));
    let queries = read_f32(&dir.join("queries.f32"));
    let gt: Vec<u32> = std::fs::read(dir.join("gt10.u32")).unwrap().chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let n = base.len() / dim;
    let nq = queries.len() / dim;
    let tmp = tempfile::tempdir().unwrap();
    let work = args.get(2).map(std::path::PathBuf::from).unwrap_or_else(|| tmp.path().to_path_buf());
    let (vp, gp) = (work.join("vectors.f32"), work.join("graph.bin"));
    let built = AnnIndex::open(&vp, &gp, n, dim).is_ok_and(|i| i.walks_on_codes());
    let (mut build_s, mut unreachable_linked) = (None, None);
    if !built {
        write_vectors(&vp, &base).unwrap();
        let t = Instant::now();
        unreachable_linked = Some(build_graph(&gp, &base, dim, &HnswParams::default()).unwrap());
        build_s = Some(t.elapsed().as_secs_f64());
    }
    let t = Instant::now();
    let idx = AnnIndex::open(&vp, &gp, n, dim).unwrap();
    let open_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    for p in [&vp, &gp] {
        semsearch::index::file_sum(p).unwrap();
    }
    let checksum_ms = t.elapsed().as_secs_f64() * 1000.0;
    // The product's walk (on the graph file's 8-bit copies, re-scored in f32), then the same graph
    // walked on the f32 vectors, for the ratio between the two.
    let mut f32_walk = AnnIndex::open(&vp, &gp, n, dim).unwrap();
    f32_walk.forget_codes();
    let mut sweeps = Vec::new();
    for (walk, idx) in [("sq8", &idx), ("f32", &f32_walk)] {
        let mut sweep = Vec::new();
        for ef in [32usize, 48, 64, 128] {
            let mut lat = Vec::with_capacity(nq);
            let mut hit = 0usize;
            for qi in 0..nq {
                let q = &queries[qi * dim..(qi + 1) * dim];
                let t = Instant::now();
                let res = idx.search(q, 10, ef, &|_| true);
                lat.push(t.elapsed().as_secs_f64() * 1e6);
                let truth = &gt[qi * 10..qi * 10 + 10];
                hit += res.iter().filter(|h| truth.contains(&h.row)).count();
            }
            lat.sort_by(f64::total_cmp);
            sweep.push(
                serde_json::json!({"ef": ef, "recall@10": hit as f64 / (nq * 10) as f64, "search_p50_us": lat[nq / 2], "search_p95_us": lat[nq * 95 / 100]}),
            );
        }
        sweeps.push(serde_json::json!({"walk": walk, "sweep": sweep}));
    }
    println!(
        "{}",
        serde_json::json!({"n": n, "queries": nq, "build_s": build_s, "unreachable_linked": unreachable_linked, "open_ms": open_ms, "checksum_ms": checksum_ms,
            "vectors_bytes": std::fs::metadata(&vp).unwrap().len(), "graph_bytes": std::fs::metadata(&gp).unwrap().len(), "walks": sweeps})
    );
}
