//! `semsearch completions SHELL`: a completion script generated from the clap schema.

use crate::cli::args::Cli;
use anyhow::Result;
use std::io::Write;

pub fn run(shell: clap_complete::Shell) -> Result<i32> {
    use clap::CommandFactory;
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "semsearch", &mut out);
    std::io::stdout().lock().write_all(&out)?;
    Ok(0)
}
