//! Which vector instructions the hand-vectorised loops use, decided once per process.
//!
//! The binary is built for baseline x86-64 so it runs on any such CPU; the hot loops (dot product,
//! softmax, GELU, LayerNorm, the small-batch product) are compiled also for AVX2+FMA and AVX-512
//! and the widest the CPU has is picked here. `SEMSEARCH_SIMD=avx2` or `=baseline` narrows the
//! choice (never widens it); `settings` reads it, so the narrower paths can be tested on a machine that has more.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

/// The widest vector instructions the kernels use on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Simd {
    /// Plain x86-64 (SSE2).
    Base = 0,
    /// AVX2 and FMA.
    Avx2 = 1,
    /// AVX-512 (F, BW, VL, DQ).
    Avx512 = 2,
}

/// The widest level allowed (`settings::EnvSettings::apply` narrows it from SEMSEARCH_SIMD).
static CAP: AtomicU8 = AtomicU8::new(Simd::Avx512 as u8);

/// Narrows the instructions the loops may use; effective only before the first `simd()` call.
pub fn cap(level: Simd) {
    CAP.store(level as u8, Ordering::Relaxed);
}

/// The path chosen for this process (once; `SEMSEARCH_SIMD` may narrow it).
pub fn simd() -> Simd {
    static LEVEL: OnceLock<Simd> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = match CAP.load(Ordering::Relaxed) {
            0 => Simd::Base,
            1 => Simd::Avx2,
            _ => Simd::Avx512,
        };
        detected().min(cap)
    })
}

fn detected() -> Simd {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
        if avx2 && std::arch::is_x86_feature_detected!("avx512f") {
            return Simd::Avx512;
        }
        if avx2 {
            return Simd::Avx2;
        }
    }
    Simd::Base
}
