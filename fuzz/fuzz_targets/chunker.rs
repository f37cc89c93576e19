//! The chunker on arbitrary text with the real tokenizer: it never panics, every passage is a
//! trimmed, in-bounds slice within its token budget, passages advance through the document, and
//! every non-whitespace byte lies in some passage.
#![no_main]

use libfuzzer_sys::fuzz_target;
use semsearch::chunk::{ChunkParams, Chunker};
use semsearch::ingest::{Document, LineMap};
use std::sync::OnceLock;

fn tokenizer() -> &'static tokenizers::Tokenizer {
    static TOK: OnceLock<tokenizers::Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        let loc = semsearch::model::ModelLocation::resolve(None).expect("model location");
        let info = semsearch::model::ModelInfo::read(&loc).expect("run `semsearch model fetch` first");
        semsearch::embed::load_tokenizer(&info).expect("tokenizer")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let params = ChunkParams {
        max_tokens: [8usize, 24, 64, 128, 256][sel as usize % 5],
        overlap_tokens: (sel as usize / 5) % 40,
        whole_documents: sel % 31 == 0,
    };
    let chunker = Chunker::new(tokenizer(), params).unwrap();
    let doc = Document::plain("f".into(), "f.txt".into(), String::new(), text.to_string(), LineMap::Verbatim { first_line: 1, base_byte: 0 });
    let chunks = chunker.chunk(&doc).unwrap();
    let mut covered = vec![false; text.len()];
    let mut prev_start = None;
    for c in &chunks {
        assert!(c.byte_start < c.byte_end && c.byte_end <= text.len());
        assert!(text.is_char_boundary(c.byte_start) && text.is_char_boundary(c.byte_end));
        let body = &text[c.byte_start..c.byte_end];
        assert_eq!(body.trim(), body);
        assert!(c.line_start >= 1 && c.line_start <= c.line_end);
        if !params.whole_documents {
            assert!(chunker.count_tokens(body) + 2 <= params.max_tokens, "over budget: {body:?}");
        }
        if let Some(p) = prev_start {
            assert!(c.byte_start > p);
        }
        prev_start = Some(c.byte_start);
        covered[c.byte_start..c.byte_end].iter_mut().for_each(|b| *b = true);
    }
    for (i, ch) in text.char_indices() {
        assert!(ch.is_whitespace() || covered[i], "byte {i} ({ch:?}) in no passage");
    }
});
