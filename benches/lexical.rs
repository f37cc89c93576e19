//! Lexical search on a 200,000-passage store (issue 13: hybrid may add at most 20 ms at 200k).
//! The passages are 60 words drawn (fixed seed) from the sample articles' own text, so word
//! frequencies are a news corpus's: function and common words in most passages, names in few.
//! Measures the ranking query with every match scored against the same query scoring only the
//! passages of its rarest words (`LexicalQuery::selection`, which also gives hybrid fusion the
//! semantic candidates' BM25), and the BM25 of 100 listed passages (what fusion asks for the
//! semantic side's candidates when every match is scored).

use criterion::{criterion_group, criterion_main, Criterion};
use semsearch::index::fts::{self, literal};
use semsearch::index::{DocRecord, PassageRecord, PassageStore};
use semsearch::search::lexical::{parse, SCORED_BUDGET};

const PASSAGES: u32 = 200_000;

fn store(dir: &std::path::Path) -> PassageStore {
    let mut words: Vec<String> = Vec::new();
    let news = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/news");
    let mut files: Vec<_> = std::fs::read_dir(news).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        words.extend(text.split_whitespace().map(|w| w.to_string()));
    }
    let path = dir.join("p.sqlite");
    let mut s = PassageStore::create(&path).unwrap();
    let mut x: u64 = 0x2545F4914F6CDD1D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let per_doc = 100;
    for d in 0..PASSAGES / per_doc {
        let doc_id = format!("d{d}");
        let passages: Vec<PassageRecord> = (0..per_doc)
            .map(|i| {
                let row = d * per_doc + i;
                let text: Vec<&str> = (0..60).map(|_| words[(next() % words.len() as u64) as usize].as_str()).collect();
                PassageRecord {
                    row,
                    id: format!("p{row}"),
                    doc_id: doc_id.clone(),
                    ordinal: i,
                    line_start: i + 1,
                    line_end: i + 1,
                    byte_start: 0,
                    byte_end: 0,
                    n_tokens: 80,
                    text: text.join(" "),
                    section: String::new(),
                    sentences: None,
                }
            })
            .collect();
        let doc = DocRecord {
            doc_id: doc_id.clone(),
            path: format!("{doc_id}.txt"),
            title: String::new(),
            content_hash: String::new(),
            first_row: d * per_doc,
            n_passages: per_doc,
            date: None,
            url: None,
        };
        s.insert(&doc, &passages).unwrap();
    }
    s.finish().unwrap();
    PassageStore::open(&path).unwrap()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let all = |_: u32| true;
    let mut g = c.benchmark_group("lexical_200k");
    g.sample_size(20);
    for (name, question) in
        [("common_words", "What did the company say about its plans for the year?"), ("names", "What did Kenny Ng of Everbright Securities say about Alibaba?")]
    {
        let q = parse(question);
        let fts = fts::render(&q).0.unwrap();
        let counts = |q: &semsearch::search::LexicalQuery| -> Vec<u64> { q.words.iter().map(|w| s.lexical_count(&literal(w)).unwrap()).collect() };
        let within = q.selection(SCORED_BUDGET, &counts(&q));
        eprintln!("{name}: {fts} — scored within {within:?}");
        g.bench_function(format!("{name}/every_match_scored"), |b| b.iter(|| s.lexical(&fts, 100, &all).unwrap()));
        // The selection chosen (word counts) and its passages scored: what hybrid search then
        // also takes the semantic candidates' BM25 from.
        g.bench_function(format!("{name}/selection_scored"), |b| {
            b.iter(|| {
                let within = q.selection(SCORED_BUDGET, &counts(&q)).unwrap();
                s.lexical_selected(&within).unwrap()
            })
        });
        let rows: Vec<u32> = (0..100).map(|i| i * (PASSAGES / 100) + 7).collect();
        g.bench_function(format!("{name}/bm25_of_100_rows"), |b| b.iter(|| s.lexical_of(&fts, &rows).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
