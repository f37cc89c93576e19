//! The `semsearch` command: parses the flags (`cli::args`), runs the subcommand (`cli::run`, one
//! file per subcommand under `cli/commands/`), and maps every error to an exit code here, in one
//! place: 0 results, 1 no results, 2 error (as ripgrep). A closed stdout (broken pipe) is success.

mod cli;

use clap::Parser;
use semsearch::error::Error;

// The embedder allocates and frees large activation tensors per batch (candle gives every product
// a new output); the system allocator returns them to the kernel and faults them back in each time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    semsearch::allocator::keep_freed_memory();
    // Before any thread starts: it sets an environment variable (see there).
    semsearch::ingest::limit_pdf_streams();
    // A parser's panic on one file is a warning naming the file, not a backtrace.
    semsearch::ingest::quiet_parser_panics();
    let cli = cli::args::Cli::try_parse().unwrap_or_else(|e| with_suggestion(e).exit());
    let code = match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            let code = exit_code(&e);
            if code != 0 {
                eprintln!("semsearch: error: {e:#}{}", hint(&e));
            }
            code
        }
    };
    std::process::exit(code);
}

/// clap suggests a subcommand only above a Jaro similarity of 0.7, which a swapped pair of letters
/// in a short name misses (`aks`: 0.56 to `ask`); the nearest subcommand within two edits
/// (transpositions counted once) is suggested instead.
fn with_suggestion(mut e: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::InvalidSubcommand || e.get(ContextKind::SuggestedSubcommand).is_some() {
        return e;
    }
    let Some(ContextValue::String(typed)) = e.get(ContextKind::InvalidSubcommand).cloned() else { return e };
    let command = <cli::args::Cli as clap::CommandFactory>::command();
    let nearest = command.get_subcommands().map(|c| (strsim::osa_distance(&typed, c.get_name()), c.get_name().to_string())).filter(|(d, _)| *d <= 2).min();
    if let Some((_, name)) = nearest {
        e.insert(ContextKind::SuggestedSubcommand, ContextValue::String(name));
    }
    e
}

/// Every error's exit code, decided here alone (ripgrep's convention): a closed stdout (broken
/// pipe, `semsearch ask ... | head -1`) is success; every other error is 2. Results and their
/// absence (0 and 1) come back from `run` as values, not errors.
fn exit_code(e: &anyhow::Error) -> i32 {
    if semsearch::error::io_error(e).is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) {
        return 0;
    }
    match Error::find(e) {
        Some(
            Error::Damaged { .. }
            | Error::OlderFormat { .. }
            | Error::NewerFormat { .. }
            | Error::NoIndex { .. }
            | Error::OtherModel { .. }
            | Error::OtherPrecision { .. }
            | Error::BadInput { .. }
            | Error::Usage(_)
            | Error::NotFound(_)
            | Error::Busy(_)
            | Error::Cancelled,
        )
        | None => 2,
    }
}

const DISK_FULL: &str = " (the disk is full: free space and re-run; the index is unchanged)";

/// What to do about an error the message alone does not say how to fix.
fn hint(e: &anyhow::Error) -> &'static str {
    match semsearch::error::io_error(e) {
        Some(io) if matches!(io.raw_os_error(), Some(23 | 24)) => {
            " (the open-files limit is too low: raise it, e.g. `ulimit -n 4096`, and re-run; the index is unchanged)"
        }
        Some(io) if io.kind() == std::io::ErrorKind::PermissionDenied => " (check the permissions of that path)",
        Some(io) if io.kind() == std::io::ErrorKind::StorageFull => DISK_FULL,
        _ if semsearch::error::disk_full(e) => DISK_FULL,
        _ => "",
    }
}
