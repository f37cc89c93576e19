//! `semsearch status [PATH...]`: the index (or a server's collection), and what `index PATH...`
//! would change.

use crate::cli::args::StatusArgs;
use crate::cli::config::Config;
use anyhow::Result;
use semsearch::error::Error;
use semsearch::indexer;
use semsearch::output;
use semsearch::status::IndexStatus;

pub fn run(config: &Config, a: StatusArgs) -> Result<i32> {
    let dir = &config.index_dir;
    if let Some(url) = &a.backend {
        // A collection's status, whatever precision its vectors (or the local index's) are in.
        let identity = config.model_identity()?;
        let status =
            semsearch::remote::Remote::open_any_precision(url, &config.collection_to_read(url, a.collection.as_deref())?, &identity)?.status(a.files)?;
        return super::print_report(&status, a.json, output::write_collection_status);
    }
    let mut status = match semsearch::status::report(dir, a.files)? {
        Some(s) => s,
        None if a.paths.is_empty() => return Err(Error::NoIndex { dir: dir.clone() }.into()),
        None => IndexStatus { index: dir.display().to_string(), built: None, would: None, warnings: 0, warning_list: None },
    };
    if a.warnings {
        status.warning_list = Some(indexer::warnings::read(dir));
    }
    if !a.paths.is_empty() {
        let mut input = indexer::Paths {
            paths: &a.paths,
            keys: semsearch::docpath::PathKeys::for_index(dir),
            opts: a.ingest.options(Some("would be skipped")),
            known: indexer::warnings::known(dir),
        };
        let (plan, _) = indexer::plan(dir, &mut input)?;
        status.would = Some(plan);
    }
    super::print_report(&status, a.json, |out, s| output::write_status(out, s, semsearch::indexer::COMPACT_AT))
}
