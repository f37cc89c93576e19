//! `semsearch index PATH...`: indexes files and folders, re-embedding only what changed.

use crate::cli::args::IndexArgs;
use crate::cli::config::Config;
use anyhow::{Context, Result};
use semsearch::ann::HnswParams;
use semsearch::embed::Embedder;
use semsearch::indexer::{self, BuildOptions};

pub fn run(config: &Config, a: IndexArgs) -> Result<i32> {
    let embedder = config.embedder()?;
    // A first run that fails (a missing path, nothing to index) leaves no empty index folder behind.
    let fresh = !config.index_dir.exists();
    let result = index_into(config, a, &embedder);
    if result.is_err() && fresh && !config.index_dir.join("meta.json").exists() {
        let _ = std::fs::remove_dir_all(&config.index_dir);
    }
    result
}

fn index_into(config: &Config, a: IndexArgs, embedder: &Embedder) -> Result<i32> {
    std::fs::create_dir_all(&config.index_dir).with_context(|| format!("cannot create index directory {}", config.index_dir.display()))?;
    let opts =
        BuildOptions { chunking: a.chunking.params(embedder.info().max_tokens), hnsw: HnswParams::default(), quiet: config.quiet, ..BuildOptions::default() };
    let (summary, _) = indexer::index_paths(&config.index_dir, &a.paths, a.ingest.options(Some("skipped")), embedder, &opts)?;
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else if !config.quiet {
        eprintln!(
            "semsearch: indexed {} files ({} skipped): {} documents ({} added, {} updated, {} renamed, {} unchanged, {} removed), {} passages; embedded {} passages in {:.1}s ({:.0}/s); total {:.1}s",
            summary.files,
            summary.skipped,
            summary.documents,
            summary.documents_added,
            summary.documents_updated,
            summary.documents_renamed,
            summary.documents_unchanged,
            summary.documents_removed,
            summary.passages,
            summary.passages_embedded,
            summary.embed_seconds,
            summary.passages_embedded as f64 / summary.embed_seconds.max(1e-9),
            summary.seconds
        );
    }
    Ok(0)
}
