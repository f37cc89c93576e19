//! The HTML reader on arbitrary bytes (any encoding, any markup): it never panics, and a page it
//! reads maps every byte of its text to a line of the file.
//!
//! `html_document` turns a parser panic into a skipped file; the hook below aborts on any panic
//! first, so the fuzzer sees one even where the reader would have caught it.
#![no_main]

#[path = "common/abort.rs"]
mod abort;

use libfuzzer_sys::fuzz_target;
use semsearch::ingest::{html_document, LineMap};

fuzz_target!(|data: &[u8]| {
    abort::on_any_panic();
    // html5ever counts a lone CR as a line break too.
    let lines = data.iter().filter(|&&b| b == b'\n' || b == b'\r').count() as u32 + 1;
    let mut warnings = 0;
    match html_document("f.html", data, &mut |line, why| {
        assert!(line >= 1 && !why.is_empty());
        warnings += 1;
    }) {
        Ok(Some(d)) => {
            assert!(!d.text.trim().is_empty());
            let LineMap::Mapped(m) = &d.lines else { panic!("an HTML document maps its bytes to lines") };
            assert_eq!(m.len(), d.text.len());
            assert!(m.iter().all(|&l| l >= 1 && l <= lines), "a line past the end of the file");
            for (at, _) in &d.sections {
                assert!(*at <= d.text.len() && d.text.is_char_boundary(*at));
            }
        }
        Ok(None) => {}
        Err(why) => assert!(!why.is_empty()),
    }
    assert!(warnings <= 1);
});
