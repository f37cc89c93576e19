//! `semsearch related ID|PATH:LINE` or `--text TEXT`: passages like a stored one, or like the text.

use super::print_answered;
use crate::cli::args::RelatedArgs;
use crate::cli::config::Config;
use anyhow::Result;
use semsearch::search::{self, Target};

pub fn run(config: &Config, a: RelatedArgs) -> Result<i32> {
    let target = match (&a.text, &a.target) {
        (Some(t), _) => Target::Text(t.clone()),
        (None, Some(t)) => Target::parse(t),
        (None, None) => unreachable!("clap requires one"),
    };
    if !matches!(target, Target::Text(_)) && a.opts.params.mode.is_some_and(|m| m != search::Mode::Semantic) && !config.quiet {
        eprintln!("semsearch: note: --mode applies to --text; from a stored passage the search is by its vector (semantic)");
    }
    let req = a.opts.params.check(None, usize::MAX, config.env.mode).map_err(|e| anyhow::anyhow!(e))?;
    let (embedder, store) = config.store(&a.opts.server)?;
    let answered = search::related(&*store, &embedder, &target, a.same_doc, &req.options, &req.filter)?;
    print_answered(&answered, a.opts.json, config.quiet)
}
