//! `semsearch index PATH...`: indexes files and folders, re-embedding only what changed; `semsearch
//! watch PATH...` (and `serve --watch`) does so again after every burst of changes.

use crate::cli::args::IndexArgs;
use crate::cli::config::Config;
use anyhow::{Context, Result};
use semsearch::ann::HnswParams;
use semsearch::embed::Embedder;
use semsearch::indexer::{self, BuildOptions};
use std::path::Path;

pub fn run(config: &Config, a: IndexArgs) -> Result<i32> {
    let embedder = config.embedder(a.precision)?;
    // A first run that fails (a missing path, nothing to index) leaves no empty index folder behind.
    let fresh = !config.index_dir.exists();
    let result = index_into(&config.index_dir, config.quiet, &a, &embedder);
    if result.is_err() && fresh && !config.index_dir.join("meta.json").exists() {
        let _ = std::fs::remove_dir_all(&config.index_dir);
    }
    result.map(|_| 0)
}

/// `semsearch watch PATH...`: runs until interrupted.
pub fn watch(config: &Config, a: IndexArgs) -> Result<i32> {
    let embedder = config.embedder(a.precision)?;
    let bursts = begin_watching(&config.index_dir, &a)?;
    follow(&config.index_dir, config.quiet, &a, &embedder, bursts, false)?;
    Ok(0)
}

/// The watch of `a.paths` that `follow` reads, begun before any run so that a change made during
/// one is not missed; the index's own writes are not changes.
pub fn begin_watching(index_dir: &Path, a: &IndexArgs) -> Result<semsearch::watch::Bursts> {
    semsearch::watch::Bursts::watch(&a.paths, &[index_dir.to_path_buf()])
}

/// Indexes `a.paths`, then again after each burst of changes under them, until notifications
/// stop. A run that fails (a file locked, the index busy with another writer, nothing to index
/// yet) is reported and the watch goes on: the next change runs again. Interrupting it at any
/// point is interrupting `index`: the last committed generation stays.
/// `caught_up`: the index was made from the paths since `bursts` began (`serve --watch` on a new
/// index), so the first run, which catches up with changes made while nothing watched, is
/// skipped (it would read every file again to find nothing new).
pub fn follow(index_dir: &Path, quiet: bool, a: &IndexArgs, embedder: &Embedder, bursts: semsearch::watch::Bursts, caught_up: bool) -> Result<()> {
    let run = || {
        if let Err(e) = index_into(index_dir, quiet, a, embedder) {
            eprintln!("semsearch: error: {e:#} (watching on; the next change runs again)");
        }
    };
    if !caught_up {
        run();
    }
    if !quiet {
        eprintln!("semsearch: watching {} (Ctrl-C stops)", a.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    while let Some(burst) = bursts.next() {
        if !quiet {
            let what = if burst.rescan { "changes (some unreported by the OS)".to_string() } else { format!("{} changed paths", burst.paths.len()) };
            eprintln!("semsearch: {what}; indexing");
        }
        run();
    }
    Ok(())
}

fn index_into(index_dir: &Path, quiet: bool, a: &IndexArgs, embedder: &Embedder) -> Result<indexer::Summary> {
    std::fs::create_dir_all(index_dir).with_context(|| format!("cannot create index directory {}", index_dir.display()))?;
    let opts =
        BuildOptions { chunking: a.chunking.params(embedder.info().max_tokens), hnsw: HnswParams::default(), quiet, shard: a.shard, ..BuildOptions::default() };
    let (summary, report) = indexer::index_paths(index_dir, &a.paths, a.ingest.options(Some("skipped")), embedder, &opts)?;
    // The run is committed: its warnings are the ones the next run will not repeat.
    if let Err(e) = indexer::warnings::write(index_dir, &report.warnings) {
        eprintln!("semsearch: warning: {e:#} (the next run will repeat this run's warnings)");
    }
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else if !quiet {
        eprintln!(
            "semsearch: indexed {} files{}: {} documents{} ({} added, {} updated, {} renamed, {} unchanged, {} removed), {} passages; embedded {} passages in {:.1}s ({:.0}/s); total {:.1}s",
            summary.files,
            left_out(&summary),
            summary.documents,
            match summary.documents_other_parts {
                0 => String::new(),
                n => format!(" of this part, {n} read for the other parts"),
            },
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
    Ok(summary)
}

/// What the walk left out, by what happened: ` (3 skipped: 2 no text layer, 1 empty; 3 unsupported:
/// .pages ×2, .key)`, or nothing.
fn left_out(s: &indexer::Summary) -> String {
    let counted = |m: &std::collections::BTreeMap<String, usize>, sorted: bool| {
        let mut v: Vec<(&String, &usize)> = m.iter().collect();
        if sorted {
            v.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        }
        v.iter().map(|(k, n)| if **n == 1 { k.to_string() } else { format!("{k} ×{n}") }).collect::<Vec<_>>().join(", ")
    };
    let mut parts = Vec::new();
    if s.skipped > 0 {
        parts.push(format!("{} skipped: {}", s.skipped, counted(&s.skipped_by_reason, true)));
    }
    let unsupported: usize = s.unsupported.values().sum();
    if unsupported > 0 {
        parts.push(format!("{unsupported} unsupported: {}", counted(&s.unsupported, true)));
    }
    if s.warnings_not_repeated > 0 {
        parts.push(format!("{} warnings as in the last run not repeated, see `semsearch status --warnings`", s.warnings_not_repeated));
    }
    if parts.is_empty() {
        return String::new();
    }
    format!(" ({})", parts.join("; "))
}
