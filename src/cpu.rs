//! Which vector instructions the hand-vectorised loops use, decided once per process.
//!
//! The binary is built for baseline x86-64 so it runs on any such CPU; the hot loops (dot product,
//! softmax, GELU, LayerNorm, the small-batch product) are compiled also for AVX2+FMA and AVX-512
//! and the widest the CPU has is picked here. `SEMSEARCH_SIMD=avx2` or `=baseline` narrows the
//! choice (never widens it), so the narrower paths can be tested on a machine that has more.

use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Simd {
    Base,
    Avx2,
    Avx512,
}

pub fn simd() -> Simd {
    static LEVEL: OnceLock<Simd> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = match std::env::var("SEMSEARCH_SIMD").as_deref() {
            Ok("baseline") => Simd::Base,
            Ok("avx2") => Simd::Avx2,
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
