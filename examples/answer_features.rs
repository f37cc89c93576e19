//! Dumps, for every question of a labeled set with gold answers (`answers.jsonl`), the candidate
//! answer sentences of its gold passage with what the choice of answer sentence can see at query
//! time: the stored (pooled) sentence vector's cosine with the question, the sentence's text and
//! position, and whether it holds a gold answer (the label). One JSON object per question on
//! stdout, for fitting and checking the choice offline (issue 23 item 4: `bench` then reports the
//! chosen rule's `answer@gold`).
//!
//! Usage: cargo run --release --example answer_features -- INDEX_DIR DATASET_DIR > features.jsonl
//! (INDEX_DIR built by `semsearch bench DATASET_DIR --index INDEX_DIR`).
use semsearch::ann::dot;
use semsearch::embed::Embedder;
use semsearch::eval;
use semsearch::index::{Index, SentenceVectors};
use semsearch::model::{ModelInfo, ModelLocation};
use semsearch::search::answer;
use std::collections::HashMap;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(args.len() == 2, "usage: answer_features INDEX_DIR DATASET_DIR");
    let loc = ModelLocation::resolve(None)?;
    let info = ModelInfo::read(&loc)?;
    let embedder = Embedder::load(&info)?;
    let index = Index::open(std::path::Path::new(&args[0]), &info)?;
    let set = eval::load_beir(std::path::Path::new(&args[1]))?;
    let gold = set.answers.as_ref().ok_or_else(|| anyhow::anyhow!("{}: no answers.jsonl", args[1]))?;
    let mut rows_of: HashMap<String, Vec<u32>> = HashMap::new();
    for row in (0..index.rows() as u32).filter(|&r| index.is_live(r)) {
        if let Some(d) = index.doc_id_of(row)? {
            rows_of.entry(d).or_default().push(row);
        }
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (qid, question) in &set.queries {
        let (Some(answers), Some(rel)) = (gold.get(qid), set.qrels.get(qid)) else { continue };
        let q = embedder.embed_one(question)?;
        let rows = rel.iter().filter(|(_, &g)| g > 0).flat_map(|(d, _)| rows_of.get(d).into_iter().flatten().copied());
        let Some(row) = rows.max_by(|&a, &b| dot(&q, index.vector(a)).total_cmp(&dot(&q, index.vector(b)))) else { continue };
        let Some(p) = index.passage(row)? else { continue };
        let text = &p.record.text;
        let stored = p.record.sentences.as_deref().and_then(|b| SentenceVectors::decode(b, info.dimensions));
        let Some(v) = stored else { continue };
        let spans = v.spans();
        let short: Vec<bool> = spans.iter().map(|&(a, b)| !answer::candidates(&text[a..b]).is_empty() && text[a..b].split_whitespace().count() < 4).collect();
        let sentences: Vec<serde_json::Value> = spans
            .iter()
            .enumerate()
            .map(|(j, &(a, b))| {
                serde_json::json!({"text": &text[a..b], "cosine": v.cosine(j, &q), "passage": v.cosine(j, index.vector(row)), "short": short[j], "holds": eval::holds_answer(&text[a..b], answers)})
            })
            .collect();
        let line = serde_json::json!({"qid": qid, "question": question, "doc": p.title, "passage_cosine": dot(&q, index.vector(row)), "sentences": sentences});
        use std::io::Write;
        writeln!(out, "{line}")?;
    }
    Ok(())
}
