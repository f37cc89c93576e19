//! The CSV reader on arbitrary bytes, through the whole ingest path (a real file, as `index` reads
//! it, with a small `--max-file-size` so the row bound is exercised): it never panics, and every
//! row it reads is a document `f.csv:LINE` or `f.csv#ID` on a line of the file.
#![no_main]

#[path = "common/abort.rs"]
mod abort;

use libfuzzer_sys::fuzz_target;
use semsearch::docpath::PathKeys;
use semsearch::ingest::{ingest, IngestOptions, LineMap};

fuzz_target!(|data: &[u8]| {
    abort::on_any_panic();
    let dir = std::env::temp_dir().join(format!("semsearch-fuzz-table-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("f.csv");
    std::fs::write(&file, data).unwrap();
    let lines = data.iter().filter(|&&b| b == b'\n' || b == b'\r').count() as u32 + 1;
    let opts = IngestOptions { max_file_bytes: 4096, ..IngestOptions::default() };
    // Keys relative to `dir`: the index would live inside it.
    let keys = PathKeys::for_index(&dir.join(".index"));
    let mut docs = Vec::new();
    let report = ingest(&[file], &keys, &opts, Default::default(), &mut |d| {
        docs.push(d);
        Ok(())
    })
    .expect("a bad table is a skip, never an error");
    assert_eq!(report.files, 1);
    for d in &docs {
        assert!(d.doc_id.starts_with("f.csv:") || d.doc_id.starts_with("f.csv#"), "{}", d.doc_id);
        assert!(!d.text.trim().is_empty() || !d.title.is_empty());
        let LineMap::Record { line } = d.lines else { panic!("a row maps to its line") };
        assert!(line >= 1 && line <= lines, "line {line} of {lines}");
    }
});
