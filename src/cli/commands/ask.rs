//! `semsearch ask QUESTION`: the passages that answer it, best first.

use super::{print_results, undated_note};
use crate::cli::args::AskArgs;
use crate::cli::config::Config;
use anyhow::Result;
use semsearch::search;

pub fn run(config: &Config, a: AskArgs) -> Result<i32> {
    search::check_question(&a.question)?;
    let req = a.opts.params.check(Some(search::PER_DOC), usize::MAX).map_err(|e| anyhow::anyhow!(e))?;
    let (embedder, store) = config.store(&a.opts.server)?;
    let (found, undated) = search::ask(&*store, &embedder, &a.question, &req.options, &req.filter)?;
    undated_note(undated, config.quiet);
    print_results(&found, a.opts.json)
}
