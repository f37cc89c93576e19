//! The JSONL reader on arbitrary bytes: it never panics; every line is either a document, a
//! reported problem naming `file:line`, or blank/empty; documents point at real lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use semsearch::ingest::{jsonl_documents, LineMap};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (docs, bad) = jsonl_documents("f.jsonl", &text);
    let lines = text.split('\n').count();
    assert!(docs.len() + bad.len() <= lines);
    for (at, why) in &bad {
        let n: usize = at.strip_prefix("f.jsonl:").expect("names the file").parse().expect("and the line");
        assert!(n >= 1 && n <= lines && !why.is_empty());
    }
    for d in &docs {
        let LineMap::Record { line } = d.lines else { panic!("a JSONL document maps to its line") };
        assert!(line >= 1 && line as usize <= lines);
        assert!(!d.text.trim().is_empty() || !d.title.is_empty());
        assert!(!d.doc_id.is_empty());
    }
});
