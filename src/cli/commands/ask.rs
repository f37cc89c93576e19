//! `semsearch ask QUESTION`: the passages that answer it, best first.

use super::print_answered;
use crate::cli::args::AskArgs;
use crate::cli::config::Config;
use anyhow::Result;
use semsearch::search;

pub fn run(config: &Config, a: AskArgs) -> Result<i32> {
    let question = a.words.join(" ");
    search::check_question(&question)?;
    let req = a.opts.params.check(Some(search::PER_DOC), usize::MAX, config.env.mode).map_err(|e| anyhow::anyhow!(e))?;
    let (embedder, store) = config.store(&a.opts.server)?;
    let answered = search::ask(&*store, &embedder, &question, &req.options, &req.filter)?;
    print_answered(&answered, a.opts.json, config.quiet)
}
