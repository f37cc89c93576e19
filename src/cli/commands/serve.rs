//! `semsearch serve` (HTTP API and search page) and `semsearch mcp` (Model Context Protocol on
//! stdio): the model and the index, or a server's collection, kept warm.

use crate::cli::args::{BackendArgs, ServeArgs};
use crate::cli::config::Config;
use anyhow::Result;

pub fn run(config: &Config, a: ServeArgs) -> Result<i32> {
    if !a.watch.is_empty() && a.backend.backend.is_some() {
        return Err(semsearch::error::Error::Usage("--watch indexes into the local index; it cannot go with --backend (push the index instead)".into()).into());
    }
    let watching = if a.watch.is_empty() {
        None
    } else {
        let args = watch_args(&a.watch, a.precision)?;
        let bursts = super::index::begin_watching(&config.index_dir, &args)?;
        // The server opens the index before it listens: a new one's first generation is made
        // now, and the watch then has nothing to catch up with.
        let new = !config.index_dir.join("meta.json").exists();
        if new {
            super::index::run(config, watch_args(&a.watch, a.precision)?)?;
        }
        Some((args, bursts, new))
    };
    let searcher = std::sync::Arc::new(config.searcher(&a.backend, a.precision)?);
    if let Some((args, bursts, caught_up)) = watching {
        // The server's own model embeds what changed: one model in memory, not two.
        let (searcher, index_dir, quiet) = (searcher.clone(), config.index_dir.clone(), config.quiet);
        std::thread::Builder::new().name("watch".into()).spawn(move || {
            if let Err(e) = super::index::follow(&index_dir, quiet, &args, &searcher.embedder, bursts, caught_up) {
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
