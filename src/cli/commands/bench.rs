//! `semsearch bench DATASET`: retrieval quality, ANN recall and speed on a labeled set.

use crate::cli::args::BenchArgs;
use crate::cli::config::Config;
use anyhow::Result;
use semsearch::ann::HnswParams;

pub fn run(config: &Config, a: BenchArgs) -> Result<i32> {
    if a.ef.is_empty() || a.ef.contains(&0) {
        anyhow::bail!("--ef takes positive beam widths, e.g. --ef 16,32,64,128");
    }
    // A bench index of its own (the default) is made in --precision or the default; one given
    // with --index keeps its own, as `index` does.
    let precision = a.precision.unwrap_or_else(|| if config.index_explicit.is_some() { config.precision(None) } else { config.default_precision() });
    let embedder = config.load_embedder(&config.model_identity()?.with_precision(precision))?;
    let opts = semsearch::bench::BenchOptions {
        index: config.index_explicit.clone(),
        no_chunk: a.no_chunk,
        exact: a.exact,
        efs: a.ef,
        chunking: a.chunking.params(embedder.info().max_tokens),
        hnsw: HnswParams::default(),
        run_file: a.run_file,
        quiet: config.quiet,
        mode: a.mode.unwrap_or(config.env.mode),
        fusion: a.fusion,
        evidence: a.evidence,
        baseline: match (a.baseline, a.compare) {
            (Some(path), _) => Some(semsearch::bench::Baseline::RunFile(path)),
            (None, Some(mode)) => Some(semsearch::bench::Baseline::Mode(mode)),
            (None, None) => None,
        },
        backend: match a.backend {
            None => None,
            Some(url) => {
                let name = a.collection.clone().unwrap_or_else(|| {
                    let dataset = a.dataset.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    let mut cut = if a.no_chunk { "_whole".to_string() } else { format!("_{}_{}", a.chunking.max_tokens, a.chunking.overlap) };
                    // One collection holds one kind of vector.
                    if precision != semsearch::model::Precision::F32 {
                        cut.push_str(&format!("_{precision}"));
                    }
                    let mut c = format!("bench_{}", semsearch::remote::default_collection(std::path::Path::new(&dataset)));
                    c.truncate(40 - cut.len());
                    c.push_str(&cut);
                    c
                });
                Some((url, semsearch::remote::collection_name(&name)?))
            }
        },
    };
    let report = semsearch::bench::run(&a.dataset, &embedder, &opts)?;
    super::print_report(&report, a.json, semsearch::bench::write_human)
}
