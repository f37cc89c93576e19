//! One file per subcommand; what several of them print is here.

pub mod ask;
pub mod bench;
pub mod compact;
pub mod completions;
pub mod embed;
pub mod index;
pub mod model;
pub mod push;
pub mod related;
pub mod serve;
pub mod status;

use anyhow::Result;
use semsearch::output;
use semsearch::search;
use std::io::{IsTerminal, Write};

/// Says on stderr how many undated documents a date filter left out.
pub fn undated_note(undated: usize, quiet: bool) {
    if undated > 0 && !quiet {
        eprintln!("semsearch: note: {undated} documents without a date were left out by --since/--until");
    }
}

pub fn print_results(found: &[search::Found], json: bool) -> Result<i32> {
    let stdout = std::io::stdout();
    let color = !json && stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut out = stdout.lock();
    if json {
        output::write_json(&mut out, found)?;
    } else {
        output::write_human(&mut out, found, color)?;
    }
    Ok(if found.is_empty() { 1 } else { 0 })
}

/// A report on stdout: one JSON object with `--json`, else as `human` writes it for people.
pub fn print_report<T: serde::Serialize>(report: &T, json: bool, human: impl FnOnce(&mut dyn Write, &T) -> std::io::Result<()>) -> Result<i32> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json {
        serde_json::to_writer(&mut out, report)?;
        out.write_all(b"\n")?;
    } else {
        human(&mut out, report)?;
    }
    out.flush()?;
    Ok(0)
}
