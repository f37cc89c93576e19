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

/// Prints a search's results on stdout and its notices on stderr (always, even with `-q`: they
/// say why nothing came back, or that a quoted phrase was dropped); the exit code says whether
/// there were results.
pub fn print_answered(a: &search::Answered, json: bool, quiet: bool) -> Result<i32> {
    if a.undated > 0 && !quiet {
        eprintln!("semsearch: note: {} documents without a date were left out by --since/--until", a.undated);
    }
    for n in &a.notices {
        eprintln!("semsearch: {n}");
    }
    let stdout = std::io::stdout();
    let color = !json && stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut out = stdout.lock();
    if json {
        output::write_json(&mut out, &a.found)?;
    } else {
        output::write_human(&mut out, &a.found, color)?;
    }
    Ok(if a.found.is_empty() { 1 } else { 0 })
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
