//! The allocator setting that embedding speed depends on. Binaries that embed (semsearch, the
//! measuring examples) declare mimalloc as their global allocator and call `keep_freed_memory` first.

/// Tells mimalloc to keep freed memory instead of purging it back to the kernel 10 ms later: a
/// layer's buffers are freed and the next layer's allocated tens of milliseconds apart (candle gives
/// every product a new output), and each purge costs a page fault and a cleared page per 4 KiB when
/// they are reused (measured: 12% of embedding time in the kernel's clear_page). Memory stays
/// bounded by the largest batch. Without mimalloc as the global allocator this changes nothing.
pub fn keep_freed_memory() {
    // mi_option_purge_delay in mimalloc.h's mi_option_e (the same place in v2 and v3); the Rust
    // bindings name no constant for it. -1: never purge.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets one process-wide allocator setting; mimalloc allows it at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}
