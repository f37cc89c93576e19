//! The PDF reader on arbitrary bytes: it never panics (the hook below aborts on any panic first,
//! so the fuzzer sees one even where the reader would have caught it), and a PDF it reads maps
//! every byte of its text to a page, with sections at character boundaries.
#![no_main]

#[path = "common/abort.rs"]
mod abort;

use libfuzzer_sys::fuzz_target;
use semsearch::ingest::{pdf_document, LineMap};

fuzz_target!(|data: &[u8]| {
    abort::on_any_panic();
    match pdf_document("f.pdf", data.to_vec(), &mut |line, why| assert!(line >= 1 && !why.is_empty())) {
        Ok(Some(d)) => {
            assert!(!d.text.trim().is_empty());
            let LineMap::Mapped(m) = &d.lines else { panic!("a PDF maps its bytes to pages") };
            assert_eq!(m.len(), d.text.len());
            assert!(m.iter().all(|&p| p >= 1) && m.windows(2).all(|w| w[0] <= w[1]), "pages start at 1 and never go back");
            for (at, _) in &d.sections {
                assert!(*at <= d.text.len() && d.text.is_char_boundary(*at));
            }
        }
        Ok(None) => {}
        Err(why) => assert!(!why.is_empty()),
    }
});
