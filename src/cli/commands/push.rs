//! `semsearch push --to URL`: publishes the index to a PostgreSQL collection.

use crate::cli::args::PushArgs;
use crate::cli::config::Config;
use anyhow::Result;
use semsearch::index::Index;

pub fn run(config: &Config, a: PushArgs) -> Result<i32> {
    let collection = config.collection(a.collection.as_deref())?;
    let source = match &a.source {
        Some(s) => semsearch::remote::source_name(s)?,
        None => semsearch::remote::default_source(&config.index_dir),
    };
    if a.delete {
        let mut client = semsearch::remote::conn::connect(&a.to)?;
        let s = semsearch::remote::delete_source(&mut client, &collection, &source)?;
        if a.json {
            println!("{}", serde_json::to_string(&s)?);
        } else if !config.quiet {
            eprintln!(
                "semsearch: deleted source {:?} from {} collection {}: {} documents; {} passages there now, generation {}; {:.1}s",
                s.source,
                semsearch::remote::conn::redact(&a.to),
                s.collection,
                s.documents_deleted,
                s.passages,
                s.generation,
                s.seconds
            );
        }
        return Ok(0);
    }
    let info = config.model_info()?;
    let index = Index::open(&config.index_dir, &info)?;
    let mut client = semsearch::remote::conn::connect(&a.to)?;
    let s = semsearch::remote::push(&mut client, &collection, &index, &info, &source, config.quiet, semsearch::remote::Pusher::User)?;
    if a.json {
        println!("{}", serde_json::to_string(&s)?);
    } else if !config.quiet {
        eprintln!(
            "semsearch: pushed source {:?} to {} collection {}: {} documents sent ({} passages), {} deleted, {} unchanged; {} passages there now, generation {}; {:.1}s",
            s.source,
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
