//! The feed reader on arbitrary bytes: it never panics (the hook aborts on any panic, also one the
//! reader would contain), and every item it reads is a document `f.rss#…` with text or a title,
//! pointing at a line of the file.
#![no_main]

#[path = "common/abort.rs"]
mod abort;

use libfuzzer_sys::fuzz_target;
use semsearch::ingest::{feed_documents, LineMap};

fuzz_target!(|data: &[u8]| {
    abort::on_any_panic();
    let lines = data.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
    if let Ok(docs) = feed_documents("f.rss", data, &mut |line, why| assert!(line >= 1 && !why.is_empty())) {
        for d in &docs {
            assert!(d.doc_id.starts_with("f.rss#"));
            assert!(!d.text.trim().is_empty() || !d.title.is_empty());
            let LineMap::Record { line } = d.lines else { panic!("an item maps to its line") };
            assert!(line >= 1 && line <= lines, "line {line} of {lines}");
        }
    }
});
