//! The panic hook of the reader targets: any panic aborts, also one the reader would contain
//! (`ingest::contained`), so the fuzzer sees it.

pub fn on_any_panic() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            eprintln!("{info}");
            std::process::abort();
        }))
    });
}
