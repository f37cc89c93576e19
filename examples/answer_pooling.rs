//! Experiment for issue 13 item 5: can a passage's answer sentence be chosen from sentence vectors
//! pooled inside the passage's own forward pass (free at index time), instead of embedding every
//! sentence of every hit at query time (today)? For each question, the top-10 passages (semantic)
//! of an index; for each passage with several answer candidates, the sentence each method picks.
//! Prints how often they agree, and, for questions with an expected answer substring (JSONL
//! `{"q","answer"}`), how often each method's top-1 answer contains it.
//!
//! Usage: cargo run --release --example answer_pooling -- INDEX_DIR QUESTIONS.jsonl [more.jsonl...]
//! (a BEIR queries.jsonl works too: its `text` is the question).
use semsearch::ann::dot;
use semsearch::embed::Embedder;
use semsearch::index::Index;
use semsearch::model::{ModelInfo, ModelLocation};
use semsearch::search::{self, Mode, Strategy};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(args.len() >= 2, "usage: answer_pooling INDEX_DIR QUESTIONS.jsonl...");
    let loc = ModelLocation::resolve(None)?;
    let info = ModelInfo::read(&loc)?;
    let embedder = Embedder::load(&info)?;
    let index = Index::open(std::path::Path::new(&args[0]), &info)?;
    let mut questions: Vec<(String, Option<String>)> = Vec::new();
    for f in &args[1..] {
        for line in std::fs::read_to_string(f)?.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line)?;
            let q = v.get("q").or(v.get("text")).and_then(|x| x.as_str()).unwrap_or_default().to_string();
            questions.push((q, v.get("answer").and_then(|x| x.as_str()).map(str::to_string)));
        }
    }
    let (mut compared, mut agree, mut top_ok_today, mut top_ok_pooled, mut with_answer) = (0, 0, 0, 0, 0);
    // The same, with the share of the question's words a sentence holds added to its cosine.
    const OVERLAP_WEIGHTS: [f32; 2] = [0.1, 0.2];
    let (mut agree_overlap, mut ok_overlap) = ([0usize; 2], [0usize; 2]);
    let words = |t: &str| -> std::collections::HashSet<String> {
        t.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 2).map(str::to_lowercase).collect()
    };
    for (q, expected) in &questions {
        let qv = embedder.embed_one(q)?;
        let opts = search::Options::plain(10, Strategy::Exact, Mode::Semantic);
        let found = search::ask(&index, &embedder, q, &opts, None)?;
        for (rank, f) in found.iter().enumerate() {
            let text = &f.passage.record.text;
            let spans = search::answer_candidates(text);
            let today = f.answer;
            let prefix = semsearch::chunk::embedding_text(&f.passage.record.section, "");
            let full = semsearch::chunk::embedding_text(&f.passage.record.section, text);
            let shift = prefix.len();
            let shifted: Vec<(usize, usize)> = spans.iter().map(|&(a, b)| (a + shift, b + shift)).collect();
            let vecs = embedder.embed_spans(&[full.as_ref()], &[shifted])?.remove(0);
            let d = info.dimensions;
            let best = (0..spans.len()).max_by(|&i, &j| dot(&qv, &vecs[i * d..(i + 1) * d]).total_cmp(&dot(&qv, &vecs[j * d..(j + 1) * d]))).unwrap();
            let pooled = spans[best];
            let qwords = words(q);
            let overlap = |i: usize| {
                let sw = words(&text[spans[i].0..spans[i].1]);
                qwords.iter().filter(|w| sw.contains(*w)).count() as f32 / qwords.len().max(1) as f32
            };
            let with_overlap: Vec<(usize, usize)> = OVERLAP_WEIGHTS
                .iter()
                .map(|&w| {
                    let score = |i: usize| dot(&qv, &vecs[i * d..(i + 1) * d]) + w * overlap(i);
                    spans[(0..spans.len()).max_by(|&i, &j| score(i).total_cmp(&score(j))).unwrap()]
                })
                .collect();
            if spans.len() > 1 {
                compared += 1;
                agree += usize::from(pooled == today);
                for (n, s) in with_overlap.iter().enumerate() {
                    agree_overlap[n] += usize::from(*s == today);
                }
            }
            if rank == 0 {
                if let Some(e) = expected {
                    with_answer += 1;
                    top_ok_today += usize::from(text[today.0..today.1].contains(e.as_str()));
                    top_ok_pooled += usize::from(text[pooled.0..pooled.1].contains(e.as_str()));
                    for (n, s) in with_overlap.iter().enumerate() {
                        ok_overlap[n] += usize::from(text[s.0..s.1].contains(e.as_str()));
                    }
                }
            }
        }
    }
    println!(
        "{}",
        serde_json::json!({"questions": questions.len(), "passages_with_choice": compared, "same_sentence": agree,
            "agreement": agree as f64 / compared.max(1) as f64, "with_expected_answer": with_answer,
            "top1_answer_right_today": top_ok_today, "top1_answer_right_pooled": top_ok_pooled,
            "overlap_weights": OVERLAP_WEIGHTS, "same_sentence_pooled_plus_overlap": agree_overlap,
            "top1_answer_right_pooled_plus_overlap": ok_overlap})
    );
    Ok(())
}
