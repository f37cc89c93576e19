//! What the package targets share: half the inputs are read as a whole file (a damaged zip), half
//! as the main XML part of an otherwise sound package, so the fuzzer reaches the XML readers
//! instead of stopping at the zip's checksum; and the checks every document must pass.

use semsearch::ingest::{Document, LineMap};
use std::io::Write;

/// Aborts on a panic in our code. A panic inside a crate (under the cargo registry) is one that
/// `ingest::contained` catches where the indexer calls these readers (or office_oxide on its own
/// thread): it is printed, once per place, and `read` returns `None`, so fuzzing goes on over our
/// code while the crates' bugs are listed for their maintainers.
pub fn abort_on_panic() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let seen = std::sync::Mutex::new(std::collections::HashSet::new());
        std::panic::set_hook(Box::new(move |info| {
            let place = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
            if place.contains("/.cargo/registry/") {
                if seen.lock().unwrap().insert(place) {
                    eprintln!("a crate's panic (contained): {info}");
                }
                return;
            }
            eprintln!("{info}");
            std::process::abort();
        }))
    });
}

/// Runs a reader as the indexer does, inside a panic guard (`None`: a crate panicked).
pub fn read<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

/// `data` as the file, or (first byte odd) the rest of it as `main` inside a package of `parts`.
pub fn file(data: &[u8], main: &str, parts: &[(&str, &[u8])]) -> Vec<u8> {
    match data.split_first() {
        Some((b, rest)) if b % 2 == 1 => {
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
            for (name, bytes) in parts.iter().copied().chain([(main, rest)]) {
                zip.start_file(name, stored).unwrap();
                zip.write_all(bytes).unwrap();
            }
            zip.finish().unwrap().into_inner()
        }
        _ => data.to_vec(),
    }
}

/// A document read from a package: text, a paragraph for every byte (from 1, never going back),
/// sections at character boundaries.
pub fn check(read: Result<Option<Document>, String>) {
    match read {
        Ok(Some(d)) => {
            assert!(!d.text.trim().is_empty());
            let LineMap::Mapped(m) = &d.lines else { panic!("a package maps its bytes to paragraphs") };
            assert_eq!(m.len(), d.text.len());
            assert!(m.iter().all(|&p| p >= 1) && m.windows(2).all(|w| w[0] <= w[1]));
            for (at, _) in &d.sections {
                assert!(*at <= d.text.len() && d.text.is_char_boundary(*at));
            }
        }
        Ok(None) => {}
        Err(why) => assert!(!why.is_empty()),
    }
}
