//! `semsearch serve` (HTTP API and search page) and `semsearch mcp` (Model Context Protocol on
//! stdio): the model and the index, or a server's collection, kept warm.

use crate::cli::args::{BackendArgs, ServeArgs};
use crate::cli::config::Config;
use anyhow::Result;

pub fn run(config: &Config, a: ServeArgs) -> Result<i32> {
    semsearch::serve::run(
        config.searcher(&a.backend)?,
        &semsearch::serve::ServeOptions { addr: a.addr, cors: a.cors, allow_hosts: a.allow_hosts, token: a.token, quiet: config.quiet },
    )?;
    Ok(0)
}

pub fn mcp(config: &Config, b: BackendArgs) -> Result<i32> {
    semsearch::serve::mcp::run(config.searcher(&b)?)?;
    Ok(0)
}
