//! The EPUB reader on arbitrary bytes, and on an arbitrary chapter in a sound book.
#![no_main]

#[path = "common/package.rs"]
mod package;

use libfuzzer_sys::fuzz_target;

const CONTAINER: &[u8] = br#"<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"#;
const OPF: &[u8] = br#"<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">x</dc:identifier><dc:title>T</dc:title><dc:language>en</dc:language></metadata><manifest><item id="c" href="c.xhtml" media-type="application/xhtml+xml"/></manifest><spine><itemref idref="c"/></spine></package>"#;

fuzz_target!(|data: &[u8]| {
    package::abort_on_panic();
    let file = package::file(data, "c.xhtml", &[("mimetype", b"application/epub+zip"), ("META-INF/container.xml", CONTAINER), ("content.opf", OPF)]);
    if let Some(read) = package::read(|| semsearch::ingest::epub_document("f.epub", file, &mut |_, why| assert!(!why.is_empty()))) {
        package::check(read);
    }
});
