//! Which vector instructions the hand-vectorised loops use, decided once per process.
//!
//! The binary is built for baseline x86-64 so it runs on any such CPU; the hot loops (dot product,
//! softmax, GELU, LayerNorm, the small-batch product, the int8 products) are compiled also for
//! wider instruction sets and the widest the CPU has is picked here. `SEMSEARCH_SIMD` narrows the
//! choice (never widens it); `settings` reads it, so the narrower paths can be tested and measured
//! on a machine that has more.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

/// What `SEMSEARCH_SIMD` may allow, narrowest first: each level allows those below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Plain x86-64 (SSE2).
    Base = 0,
    /// AVX2 and FMA.
    Avx2 = 1,
    /// AVX2 with AVX-VNNI (the 256-bit int8 dot product of Alder Lake and later).
    AvxVnni = 2,
    /// AVX-512 (F, BW, VL, DQ), with AVX-512 VNNI where the CPU has it.
    Avx512 = 3,
    /// AVX-512 and AMX's int8 tiles (Sapphire Rapids and later): the default cap.
    Amx = 4,
}

/// The widest vector instructions the f32 kernels use on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Simd {
    /// Plain x86-64 (SSE2).
    Base = 0,
    /// AVX2 and FMA.
    Avx2 = 1,
    /// AVX-512 (F, BW, VL, DQ).
    Avx512 = 2,
}

/// The instructions of the int8 matrix product (`embed::int8`). Every path computes the same
/// integers, so int8 vectors are identical whichever runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Int8Path {
    /// Plain Rust loops.
    Base,
    /// AVX2: bytes widened to 16 bits and multiplied pairwise (`vpmaddwd`), exact.
    Avx2,
    /// AVX-VNNI: `vpdpbusd` on 256-bit registers.
    AvxVnni,
    /// AVX-512 VNNI: `vpdpbusd` on 512-bit registers.
    Avx512Vnni,
    /// AMX: `tdpbusd` on 16×64-byte tiles.
    Amx,
}

/// The widest level allowed (`settings::EnvSettings::apply` narrows it from SEMSEARCH_SIMD).
static CAP: AtomicU8 = AtomicU8::new(Level::Amx as u8);

/// Narrows the instructions the loops may use; effective only before the first `simd()` or
/// `int8_path()` call.
pub fn cap(level: Level) {
    CAP.store(level as u8, Ordering::Relaxed);
}

/// The level this process runs at: what the CPU (and OS) allows, narrowed by the cap.
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = match CAP.load(Ordering::Relaxed) {
            0 => Level::Base,
            1 => Level::Avx2,
            2 => Level::AvxVnni,
            3 => Level::Avx512,
            _ => Level::Amx,
        };
        detected(cap)
    })
}

/// The path of the f32 kernels chosen for this process.
pub fn simd() -> Simd {
    match level() {
        Level::Base => Simd::Base,
        Level::Avx2 | Level::AvxVnni => Simd::Avx2,
        Level::Avx512 | Level::Amx => Simd::Avx512,
    }
}

/// The path of the int8 matrix product chosen for this process.
pub fn int8_path() -> Int8Path {
    static PATH: OnceLock<Int8Path> = OnceLock::new();
    *PATH.get_or_init(|| match level() {
        Level::Amx => Int8Path::Amx,
        Level::Avx512 if features().avx512_vnni => Int8Path::Avx512Vnni,
        Level::Avx512 | Level::AvxVnni if features().avx_vnni => Int8Path::AvxVnni,
        Level::Base => Int8Path::Base,
        _ => Int8Path::Avx2,
    })
}

/// Whether this CPU (and OS) can run `path`, whatever the cap: the int8 tests run every path
/// the machine has against the plain one.
pub fn int8_supported(path: Int8Path) -> bool {
    let f = features();
    match path {
        Int8Path::Base => true,
        Int8Path::Avx2 => f.avx2,
        Int8Path::AvxVnni => f.avx_vnni,
        Int8Path::Avx512Vnni => f.avx512_vnni,
        Int8Path::Amx => f.amx,
    }
}

#[derive(Default)]
struct Features {
    avx2: bool,
    avx512: bool,
    avx512_vnni: bool,
    avx_vnni: bool,
    amx: bool,
}

fn features() -> &'static Features {
    static FEATURES: OnceLock<Features> = OnceLock::new();
    FEATURES.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            let avx2 = has!("avx2") && has!("fma");
            let avx512 = avx2 && has!("avx512f") && has!("avx512bw") && has!("avx512vl") && has!("avx512dq");
            Features {
                avx2,
                avx512,
                avx512_vnni: avx512 && has!("avx512vnni"),
                avx_vnni: avx2 && has!("avxvnni"),
                amx: avx512 && has!("avx512vnni") && amx::usable(),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Features::default()
    })
}

/// The widest level up to `cap` that this machine has.
fn detected(cap: Level) -> Level {
    let f = features();
    let have = if f.amx {
        Level::Amx
    } else if f.avx512 {
        Level::Avx512
    } else if f.avx_vnni {
        Level::AvxVnni
    } else if f.avx2 {
        Level::Avx2
    } else {
        Level::Base
    };
    have.min(cap)
}

#[cfg(target_arch = "x86_64")]
mod amx {
    /// Whether AMX's int8 tiles can be used: the CPU has AMX-TILE and AMX-INT8 (CPUID leaf 7,
    /// EDX bits 24 and 25) and the OS lets this process use the tile registers. Linux gives a
    /// process the (8 KB) tile state only when asked, with arch_prctl(ARCH_REQ_XCOMP_PERM); the
    /// permission is the process's, for all its threads. No crate wraps this, hence by hand.
    pub fn usable() -> bool {
        // CPUID leaf 7 exists on every CPU that has AVX-512 (checked by the caller first).
        let leaf7 = std::arch::x86_64::__cpuid_count(7, 0);
        let (tile, int8) = (leaf7.edx >> 24 & 1 == 1, leaf7.edx >> 25 & 1 == 1);
        tile && int8 && permitted()
    }

    #[cfg(target_os = "linux")]
    fn permitted() -> bool {
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: arch_prctl with these arguments only changes which register state the kernel
        // saves for this process; it reads and writes no memory of ours.
        unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 }
    }

    #[cfg(not(target_os = "linux"))]
    fn permitted() -> bool {
        false
    }
}

/// Asks the cache for the first `lines` 64-byte lines of `data` (a hint; nothing on other CPUs).
#[inline(always)]
pub fn prefetch<T>(data: &[T], lines: usize) {
    #[cfg(target_arch = "x86_64")]
    for l in 0..lines {
        // SAFETY: prefetch is a hint and does not fault, even on an address past the data.
        unsafe { std::arch::x86_64::_mm_prefetch(data.as_ptr().cast::<i8>().wrapping_add(64 * l), std::arch::x86_64::_MM_HINT_T0) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, lines);
}
