//! Measures issue 13 item 5: the answer sentence chosen from the sentence vectors stored at index
//! time (pooled inside each passage's own forward pass, int8, plus question-word overlap: what
//! `ask` does) against the way it was chosen before (every candidate sentence of every hit
//! embedded on its own at query time, highest cosine). For each question, the top-10 passages
//! (semantic, exact); prints how often the two pick the same sentence and, for questions with an
//! expected answer substring (JSONL `{"q","answer"}`), how often each one's top-1 answer holds it.
//!
//! Usage: cargo run --release --example answer_pooling -- INDEX_DIR QUESTIONS.jsonl [more.jsonl...]
//! (a BEIR queries.jsonl works too: its `text` is the question). Where the two differ on a top-1
//! passage, both sentences go to stderr, to be read.
use semsearch::ann::dot;
use semsearch::embed::Embedder;
use semsearch::index::Index;
use semsearch::model::{ModelInfo, ModelLocation};
use semsearch::search::{self, answer, Mode, Strategy};

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
    let (mut compared, mut stored_vectors, mut agree, mut with_answer, mut ok_separate, mut ok_stored) = (0, 0, 0, 0, 0, 0);
    for (q, expected) in &questions {
        let qv = embedder.embed_one(q)?;
        let opts = search::Options::plain(10, Strategy::Exact, Mode::Semantic);
        let found = search::ask(&index, &embedder, q, &opts, &search::Filter::default())?.found;
        for (rank, f) in found.iter().enumerate() {
            let text = &f.passage.record.text;
            let spans = answer::candidates(text);
            let parts: Vec<&str> = spans.iter().map(|&(a, b)| &text[a..b]).collect();
            let vecs = embedder.embed(&parts, &mut |_| {})?;
            let d = info.dimensions;
            let best = (0..spans.len()).max_by(|&i, &j| dot(&qv, &vecs[i * d..(i + 1) * d]).total_cmp(&dot(&qv, &vecs[j * d..(j + 1) * d]))).unwrap();
            let separate = spans[best];
            if spans.len() > 1 {
                compared += 1;
                stored_vectors += usize::from(f.passage.record.sentences.is_some());
                agree += usize::from(separate == f.answer);
            }
            if rank == 0 && separate != f.answer {
                eprintln!("{q}\n  stored:    {}\n  separate:  {}", f.answer_text(), &text[separate.0..separate.1]);
            }
            if let (0, Some(e)) = (rank, expected) {
                with_answer += 1;
                ok_separate += usize::from(text[separate.0..separate.1].contains(e.as_str()));
                ok_stored += usize::from(f.answer_text().contains(e.as_str()));
            }
        }
    }
    println!(
        "{}",
        serde_json::json!({"questions": questions.len(), "passages_with_choice": compared, "with_stored_vectors": stored_vectors,
            "same_sentence": agree, "agreement": agree as f64 / compared.max(1) as f64, "with_expected_answer": with_answer,
            "top1_answer_right_separately_embedded": ok_separate, "top1_answer_right_stored": ok_stored})
    );
    Ok(())
}
