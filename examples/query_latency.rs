//! Median latency of embedding one short question, per engine (model load excluded).
use semsearch::embed::{Embedder, EngineKind};
use semsearch::model::{ModelInfo, ModelLocation};

fn main() {
    let loc = ModelLocation::resolve(std::env::var_os("SEMSEARCH_MODEL_DIR").map(std::path::PathBuf::from).as_deref()).unwrap();
    loc.ensure(false).unwrap();
    let info = ModelInfo::read(&loc).unwrap();
    for kind in [EngineKind::Packed, EngineKind::Reference] {
        let e = Embedder::load_engine(&info, kind).unwrap();
        let mut t: Vec<f64> = (0..60)
            .map(|i| {
                let s = std::time::Instant::now();
                e.embed_one(&format!("how long is the flight from new york to paris {i}")).unwrap();
                s.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        t.sort_by(f64::total_cmp);
        println!("{kind:?}: query embed p50 {:.2} ms, p95 {:.2} ms", t[30], t[57]);
    }
}
