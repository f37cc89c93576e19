//! Peak memory of a whole `index` run over a large corpus, in minutes instead of hours: the same
//! `indexer::index_paths` the binary runs (streaming ingest, chunking with the real chunker,
//! segment writing, graph build, commit), with `HashingEmbedder` (384 dimensions, as the default
//! model) standing in for the model. Prints the run's summary and the process's peak RSS.
//!
//! Usage: cargo run --release --example index_rss -- INDEX_DIR PATH...
use semsearch::embed::HashingEmbedder;
use semsearch::indexer::{self, BuildOptions};
use semsearch::ingest::IngestOptions;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    semsearch::allocator::keep_freed_memory();
    let args: Vec<std::path::PathBuf> = std::env::args_os().skip(1).map(Into::into).collect();
    anyhow::ensure!(args.len() >= 2, "usage: index_rss INDEX_DIR PATH...");
    let embedder = HashingEmbedder::new(384)?;
    let opts = BuildOptions { quiet: true, ..BuildOptions::default() };
    let (summary, _) = indexer::index_paths(&args[0], &args[1..], IngestOptions::default(), &embedder, &opts)?;
    println!(
        "{}",
        serde_json::json!({"documents": summary.documents, "passages": summary.passages, "seconds": summary.seconds,
            "graph_seconds": summary.graph_seconds, "peak_rss_bytes": semsearch::bench::peak_rss_bytes()})
    );
    Ok(())
}
