//! `semsearch push --to URL`: publishes the index to a PostgreSQL collection.

use crate::cli::args::PushArgs;
use crate::cli::config::Config;
use anyhow::Result;
use semsearch::index::Index;
use semsearch::model::ModelInfo;

pub fn run(config: &Config, a: PushArgs) -> Result<i32> {
    config.ensure_model()?;
    let info = ModelInfo::read(&config.model)?;
    let index = Index::open(&config.index_dir, &info)?;
    let collection = config.collection(a.collection.as_deref())?;
    let mut client = semsearch::remote::conn::connect(&a.to)?;
    let s = semsearch::remote::push(&mut client, &collection, &index, &info, config.quiet, semsearch::remote::Pusher::User)?;
    if a.json {
        println!("{}", serde_json::to_string(&s)?);
    } else if !config.quiet {
        eprintln!(
            "semsearch: pushed to {} collection {}: {} documents sent ({} passages), {} deleted, {} unchanged; {} passages there now, generation {}; {:.1}s",
            semsearch::remote::conn::redact(&a.to),
            s.collection,
            s.documents_sent,
            s.passages_sent,
            s.documents_deleted,
            s.documents_unchanged,
            s.passages,
            s.generation,
            s.seconds
        );
    }
    Ok(0)
}
