//! `semsearch compact`: merges the index's segments, dropping deleted passages.

use crate::cli::args::CompactArgs;
use crate::cli::config::Config;
use anyhow::Result;
use semsearch::ann::HnswParams;
use semsearch::indexer;

pub fn run(config: &Config, a: CompactArgs) -> Result<i32> {
    let info = config.model_info()?;
    let summary = indexer::compact(&config.index_dir, &info, &HnswParams::default(), config.quiet)?;
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else if !config.quiet {
        eprintln!(
            "semsearch: compacted {}: {} documents, {} passages in {} segment(s) ({} deleted passages dropped); {:.1}s",
            config.index_dir.display(),
            summary.documents,
            summary.passages,
            summary.segments,
            summary.passages_tombstoned,
            summary.seconds
        );
    }
    Ok(0)
}
