//! The Word reader on arbitrary bytes, and on arbitrary `word/document.xml` in a sound package.
#![no_main]

#[path = "common/package.rs"]
mod package;

use libfuzzer_sys::fuzz_target;

const TYPES: &[u8] = br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
const RELS: &[u8] = br#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#;

fuzz_target!(|data: &[u8]| {
    package::abort_on_panic();
    let file = package::file(data, "word/document.xml", &[("[Content_Types].xml", TYPES), ("_rels/.rels", RELS)]);
    if let Some(read) = package::read(|| semsearch::ingest::docx_document("f.docx", file, &mut |_, why| assert!(!why.is_empty()))) {
        package::check(read);
    }
});
