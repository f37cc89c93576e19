//! `semsearch status [PATH...]`: the index (or a server's collection), and what `index PATH...`
//! would change.

use crate::cli::args::StatusArgs;
use crate::cli::config::Config;
use anyhow::Result;
use semsearch::error::Error;
use semsearch::indexer;
use semsearch::model::ModelInfo;
use semsearch::output;
use std::io::Write;

pub fn run(config: &Config, a: StatusArgs) -> Result<i32> {
    let dir = &config.index_dir;
    if let Some(url) = &a.backend {
        config.ensure_model()?;
        let info = ModelInfo::read(&config.model)?;
        let status = semsearch::remote::Remote::open(url, &config.collection(a.collection.as_deref())?, &info)?.status(a.files)?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        if a.json {
            serde_json::to_writer(&mut out, &status)?;
            out.write_all(b"\n")?;
        } else {
            let v = serde_json::Value::Object(status);
            writeln!(out, "backend     {} collection {}", v["backend"].as_str().unwrap_or(""), v["collection"].as_str().unwrap_or(""))?;
            writeln!(out, "connection  {}", v["tls"].as_str().map_or("not encrypted".to_string(), |t| format!("encrypted ({t})")))?;
            writeln!(out, "generation  {}", v["generation"])?;
            writeln!(out, "model       {} ({} dimensions)", v["model"]["name"].as_str().unwrap_or(""), v["model"]["dimensions"])?;
            writeln!(out, "documents   {} ({} with a date, {} without)", v["documents"], v["documents_with_date"], v["documents_without_date"])?;
            writeln!(out, "passages    {}", v["passages"])?;
            writeln!(out, "size        {:.1} MiB on the server", v["size_bytes"].as_f64().unwrap_or(0.0) / (1024.0 * 1024.0))?;
            for f in v["files"].as_array().into_iter().flatten() {
                writeln!(out, "  {}  {} passages  {}", f["path"].as_str().unwrap_or(""), f["passages"], f["title"].as_str().unwrap_or(""))?;
            }
        }
        return Ok(0);
    }
    let mut status = match semsearch::status::report(dir, a.files)? {
        Some(s) => s,
        None if a.paths.is_empty() => return Err(Error::NoIndex { dir: dir.clone() }.into()),
        None => {
            let mut s = serde_json::Map::new();
            s.insert("index".into(), serde_json::json!(dir.display().to_string()));
            s
        }
    };
    if !a.paths.is_empty() {
        let mut input =
            indexer::Paths { paths: &a.paths, keys: semsearch::docpath::PathKeys::for_index(dir), opts: a.ingest.options(Some("would be skipped")) };
        let (plan, _) = indexer::plan(dir, &mut input)?;
        status.insert("would".into(), serde_json::to_value(plan)?);
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if a.json {
        serde_json::to_writer(&mut out, &status)?;
        out.write_all(b"\n")?;
        return Ok(0);
    }
    output::write_status(&mut out, &serde_json::Value::Object(status), semsearch::indexer::COMPACT_AT)?;
    out.flush()?;
    Ok(0)
}
