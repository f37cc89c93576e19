//! A real semsearch index of the synthetic ANN set, for timing `ask` at 200k passages: one document
//! per vector ("synth/N.txt", text "Synthetic passage N."), chunked, stored and graphed by the same
//! code path `semsearch index` uses, with the vectors taken from `base.f32` instead of the model
//! (embedding 200k passages would take an hour and measure nothing new). Questions asked of it get
//! meaningless answers, but every step of `ask` does its full work at full size.
//!
//! Usage: cargo run --release --example synth_index -- SYNTH_DIR INDEX_DIR
//! (SYNTH_DIR from `python3 ../shared/baselines/synth.py SYNTH_DIR`, or benches/ann-vs-baselines.sh)
use semsearch::embed::{Embed, Embedder};
use semsearch::indexer::{self, BuildOptions, InMemory};
use semsearch::ingest::{Document, LineMap};
use semsearch::model::{ModelInfo, ModelLocation};

/// The model's identity and tokenizer, with vectors looked up in `base.f32` by passage number.
struct FromBase {
    embedder: Embedder,
    base: Vec<f32>,
}

impl Embed for FromBase {
    fn info(&self) -> &ModelInfo {
        self.embedder.info()
    }
    fn tokenizer(&self) -> &tokenizers::Tokenizer {
        self.embedder.tokenizer()
    }
    fn embed(&self, texts: &[&str], progress: &mut dyn FnMut(usize)) -> anyhow::Result<Vec<f32>> {
        let dim = self.embedder.dimensions();
        let mut out = Vec::with_capacity(texts.len() * dim);
        for t in texts {
            let i: usize = t.trim_start_matches("Synthetic passage ").trim_end_matches('.').parse()?;
            out.extend_from_slice(&self.base[i * dim..(i + 1) * dim]);
        }
        progress(texts.len());
        Ok(out)
    }
}

// The allocator and its setting as in the semsearch binary, so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    semsearch::allocator::keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 3, "usage: synth_index SYNTH_DIR INDEX_DIR");
    let bytes = std::fs::read(std::path::Path::new(&args[1]).join("base.f32"))?;
    let base: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let loc = ModelLocation::resolve(std::env::var_os("SEMSEARCH_MODEL_DIR").map(std::path::PathBuf::from).as_deref())?;
    let info = ModelInfo::read(&loc)?;
    let embedder = Embedder::load(&info)?;
    let dim = info.dimensions;
    let n = base.len() / dim;
    let documents: Vec<Document> = (0..n)
        .map(|i| {
            Document::plain(
                format!("synth/{i}.txt"),
                format!("synth/{i}.txt"),
                String::new(),
                format!("Synthetic passage {i}."),
                LineMap::Verbatim { first_line: 1, base_byte: 0 },
            )
        })
        .collect();
    let mut input = InMemory { documents, roots: vec!["synth".into()] };
    let opts = BuildOptions::default();
    let from_base = FromBase { embedder, base };
    let (summary, _) = indexer::run(std::path::Path::new(&args[2]), &mut input, &from_base, &opts)?;
    println!("{}", serde_json::json!({"passages": summary.passages, "seconds": summary.seconds, "graph_seconds": summary.graph_seconds}));
    Ok(())
}
