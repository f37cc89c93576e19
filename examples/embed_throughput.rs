//! semsearch's side of `../shared/baselines/embed.py`: passages/s and tokens/s of embedding every
//! line of TEXTS_FILE (model load excluded; length-sorted batches, as the Embedder always
//! does; truncation at the model's 256 tokens). Prints one JSON object with embed.py's fields.
//!
//! Usage: cargo run --release --example embed_throughput -- packed|int8|reference TEXTS_FILE
use semsearch::embed::{Embedder, EngineKind, Precision};
use semsearch::model::{ModelInfo, ModelLocation};

// The allocator and its setting as in the semsearch binary, so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    semsearch::allocator::keep_freed_memory();
    // SEMSEARCH_SIMD as the binary reads it, so each instruction path can be measured.
    semsearch::settings::EnvSettings::from_env()?.apply();
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 3, "usage: embed_throughput packed|int8|reference TEXTS_FILE");
    let (kind, precision) = match args[1].as_str() {
        "packed" => (EngineKind::Packed, Precision::F32),
        "int8" => (EngineKind::Packed, Precision::Int8),
        "reference" => (EngineKind::Reference, Precision::F32),
        other => anyhow::bail!("engine {other}: use packed, int8 or reference"),
    };
    let body = std::fs::read_to_string(&args[2])?;
    let texts: Vec<&str> = body.lines().filter(|l| !l.trim().is_empty()).collect();
    let loc = ModelLocation::resolve(std::env::var_os("SEMSEARCH_MODEL_DIR").map(std::path::PathBuf::from).as_deref())?;
    let info = ModelInfo::read(&loc)?;
    let embedder = Embedder::load_with(&info, kind, None, precision)?;
    let real_tokens: usize =
        embedder.tokenizer().encode_batch(texts.clone(), true).map_err(|e| anyhow::anyhow!("{e}"))?.iter().map(|e| e.get_ids().len()).sum();
    let t = std::time::Instant::now();
    let v = embedder.embed(&texts, &mut |_| {})?;
    let s = t.elapsed().as_secs_f64();
    anyhow::ensure!(v.len() == texts.len() * info.dimensions);
    println!(
        "{}",
        serde_json::json!({"engine": format!("semsearch-{}", args[1]), "n": texts.len(), "real_tokens": real_tokens, "seconds": s,
            "passages_per_s": texts.len() as f64 / s, "tokens_per_s": real_tokens as f64 / s})
    );
    Ok(())
}
