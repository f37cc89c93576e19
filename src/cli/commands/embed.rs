//! `semsearch embed [TEXT...]`: embeddings as JSON lines.

use crate::cli::args::EmbedArgs;
use crate::cli::config::Config;
use anyhow::{Context, Result};
use std::io::{BufRead, Write};

pub fn run(config: &Config, a: EmbedArgs) -> Result<i32> {
    let texts: Vec<String> = if a.texts.is_empty() {
        std::io::stdin().lock().lines().collect::<std::io::Result<_>>().context("<stdin>: cannot read (is it UTF-8 text?)")?
    } else {
        a.texts
    };
    if texts.is_empty() {
        return Ok(1);
    }
    let embedder = config.embedder(a.precision)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let bar = semsearch::progress::bar(refs.len() as u64, "embedding", config.quiet || refs.len() < 64);
    let vectors = embedder.embed(&refs, &mut |d| bar.set_position(d as u64))?;
    bar.finish_and_clear();
    let dim = embedder.dimensions();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (i, t) in texts.iter().enumerate() {
        let line = serde_json::json!({"text": t, "embedding": &vectors[i * dim..(i + 1) * dim]});
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(0)
}
