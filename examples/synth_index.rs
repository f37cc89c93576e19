//! A real semsearch index of the synthetic ANN set, for timing `ask` at 200k passages: one document
//! per vector ("synth/N.txt", text "Synthetic passage N."), chunked, stored and graphed by the same
//! code path `semsearch index` uses, with the vectors taken from `base.f32` instead of the model
//! (embedding 200k passages would take an hour and measure nothing new). Questions asked of it get
//! meaningless answers, but every step of `ask` does its full work at full size.
//!
//! Neither the documents nor the vectors are held in memory (documents are made as the indexer
//! asks for them, vectors read from `base.f32` by position), so the process's peak resident memory
//! is the indexer's own.
//!
//! Usage: cargo run --release --example synth_index -- SYNTH_DIR INDEX_DIR [N]
//! (SYNTH_DIR from `python3 ../shared/baselines/synth.py SYNTH_DIR`, or benches/ann-vs-baselines.sh;
//! N: only the first N vectors; SEGMENT_ROWS=R: segments of R rows instead of the indexer's own)
use semsearch::embed::{Embed, Embedder};
use semsearch::indexer::{self, BuildOptions, Documents};
use semsearch::ingest::{Document, IngestReport, LineMap, Sink};
use semsearch::model::{ModelInfo, ModelLocation};
use std::os::unix::fs::FileExt;

/// The model's identity and tokenizer, with vectors read from `base.f32` by passage number.
struct FromBase {
    embedder: Embedder,
    base: std::fs::File,
}

/// Documents "synth/N.txt" for N in 0..n, made one at a time.
struct Synthetic {
    n: usize,
}

impl Documents for Synthetic {
    fn roots(&self) -> Vec<String> {
        vec!["synth".into()]
    }
    fn read(&mut self, sink: &mut Sink) -> anyhow::Result<IngestReport> {
        for i in 0..self.n {
            let key = format!("synth/{i}.txt");
            sink(Document::plain(key.clone(), key, String::new(), format!("Synthetic passage {i}."), LineMap::Verbatim { first_line: 1, base_byte: 0 }))?;
        }
        Ok(IngestReport { files: usize::from(self.n > 0), ..IngestReport::default() })
    }
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
        let mut out = vec![0f32; texts.len() * dim];
        for (t, v) in texts.iter().zip(out.chunks_exact_mut(dim)) {
            let i: usize = t.trim_start_matches("Synthetic passage ").trim_end_matches('.').parse()?;
            self.base.read_exact_at(bytemuck::cast_slice_mut(v), (i * dim * 4) as u64)?;
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
    anyhow::ensure!(args.len() == 3 || args.len() == 4, "usage: synth_index SYNTH_DIR INDEX_DIR [N]");
    let base = std::fs::File::open(std::path::Path::new(&args[1]).join("base.f32"))?;
    let loc = ModelLocation::resolve(std::env::var_os("SEMSEARCH_MODEL_DIR").map(std::path::PathBuf::from).as_deref())?;
    let info = ModelInfo::read(&loc)?;
    let embedder = Embedder::load(&info)?;
    let all = base.metadata()?.len() as usize / (info.dimensions * 4);
    let n = match args.get(3) {
        Some(n) => n.parse::<usize>()?.min(all),
        None => all,
    };
    let mut input = Synthetic { n };
    let mut opts = BuildOptions::default();
    if let Some(rows) = std::env::var_os("SEGMENT_ROWS") {
        opts.segment_rows = rows.to_str().and_then(|r| r.parse().ok()).ok_or_else(|| anyhow::anyhow!("SEGMENT_ROWS: a number of rows"))?;
    }
    let from_base = FromBase { embedder, base };
    let (summary, _) = indexer::run(std::path::Path::new(&args[2]), &mut input, &from_base, &opts)?;
    println!("{}", serde_json::json!({"passages": summary.passages, "seconds": summary.seconds, "graph_seconds": summary.graph_seconds}));
    Ok(())
}
