//! The OpenDocument reader on arbitrary bytes, and on arbitrary `content.xml` in a sound package.
#![no_main]

#[path = "common/package.rs"]
mod package;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    package::abort_on_panic();
    let file = package::file(data, "content.xml", &[("mimetype", b"application/vnd.oasis.opendocument.text")]);
    if let Some(read) = package::read(|| semsearch::ingest::odt_document("f.odt", file, &mut |_, why| assert!(!why.is_empty()))) {
        package::check(read);
    }
});
