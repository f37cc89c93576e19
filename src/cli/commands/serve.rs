//! `semsearch serve` (HTTP API and search page) and `semsearch mcp` (Model Context Protocol on
//! stdio): the model and the index, or a server's collection, kept warm.

use crate::cli::args::{BackendArgs, ServeArgs};
use crate::cli::config::Config;
use anyhow::Result;

pub fn run(config: &Config, a: ServeArgs) -> Result<i32> {
    if !a.watch.is_empty() && a.backend.backend.is_some() {
        return Err(semsearch::error::Error::Usage("--watch indexes into the local index; it cannot go with --backend (push the index instead)".into()).into());
    }
    if !a.watch.is_empty() && !config.index_dir.join("meta.json").exists() {
        // The server opens the index before it listens: make the first generation now.
        super::index::run(config, watch_args(&a.watch, a.precision)?)?;
    }
    let searcher = std::sync::Arc::new(config.searcher(&a.backend, a.precision)?);
    if !a.watch.is_empty() {
        // The server's own model embeds what changed: one model in memory, not two.
        let (searcher, index_dir, quiet, args) = (searcher.clone(), config.index_dir.clone(), config.quiet, watch_args(&a.watch, a.precision)?);
        std::thread::Builder::new().name("watch".into()).spawn(move || {
            if let Err(e) = super::index::follow(&index_dir, quiet, &args, &searcher.embedder) {
                eprintln!("semsearch: error: {e:#}; the server goes on without following the folders");
            }
        })?;
    }
    semsearch::serve::run(
        searcher,
        &semsearch::serve::ServeOptions { addr: a.addr, cors: a.cors, allow_hosts: a.allow_hosts, token: a.token, quiet: config.quiet },
    )?;
    Ok(0)
}

/// `serve --watch PATH`'s index flags: those of `semsearch watch PATH` with nothing else given.
fn watch_args(paths: &[std::path::PathBuf], precision: Option<semsearch::model::Precision>) -> Result<crate::cli::args::IndexArgs> {
    use clap::Parser;
    #[derive(Parser)]
    struct Watch {
        #[command(flatten)]
        a: crate::cli::args::IndexArgs,
    }
    let mut a = Watch::try_parse_from(std::iter::once("watch".into()).chain(paths.iter().map(|p| p.as_os_str().to_owned())))?.a;
    a.precision = precision;
    Ok(a)
}

pub fn mcp(config: &Config, b: BackendArgs) -> Result<i32> {
    semsearch::serve::mcp::run(config.searcher(&b, None)?)?;
    Ok(0)
}
