//! The row passes of the packed BERT, as plain slice kernels: the candle custom ops in `ops.rs`
//! hand them the storage of their tensors. Each hot loop is compiled for AVX-512, AVX2+FMA and
//! baseline x86-64 and the widest the CPU has is picked at run time (`crate::cpu`, narrowed by
//! SEMSEARCH_SIMD), so one binary is fast here and correct everywhere. Rows are split over rayon's
//! pool, the same pool candle's matrix products run on, so the two never compete for cores.
//!
//! Why hand-written: candle's generic ops allocate a tensor per step and have no fused
//! bias+GELU(erf) or residual+LayerNorm pass, and its `softmax_last_dim`/`layer_norm` would each
//! be one more pass over memory. Attention has its own file (`attention.rs`).

use rayon::prelude::*;

/// Defines `$name(args)` that runs `$body` (an `#[inline(always)]` fn) compiled for the CPU's
/// widest vector unit: the row passes below are compiled three times (AVX-512, AVX2+FMA, baseline
/// x86-64) and the widest the CPU has is chosen at run time (`crate::cpu`), so one binary runs
/// everywhere.
macro_rules! multiversion {
    ($name:ident => $body:ident ( $($arg:ident : $ty:ty),* ) $(-> $ret:ty)?) => {
        #[allow(clippy::too_many_arguments)]
        fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn wide($($arg: $ty),*) $(-> $ret)? { $body($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn narrow($($arg: $ty),*) $(-> $ret)? { $body($($arg),*) }
                match $crate::cpu::simd() {
                    // SAFETY: the CPU has the features each build was compiled for (checked by simd()).
                    $crate::cpu::Simd::Avx512 => return unsafe { wide($($arg),*) },
                    $crate::cpu::Simd::Avx2 => return unsafe { narrow($($arg),*) },
                    $crate::cpu::Simd::Base => {}
                }
            }
            $body($($arg),*)
        }
    };
}
pub(super) use multiversion;

/// Up to this many rows (a question, a few short sentences) products are computed directly.
pub const SMALL_M: usize = 32;

/// out (m × n) = a (m × k) · wᵀ for few rows. gemm packs the whole weight matrix on every call,
/// which for a lone question costs more than the arithmetic; here each weight row is read once and
/// dotted with every input row while it is in cache. Parallel over output columns.
pub fn small_linear(out: &mut [f32], a: &[f32], w: &[f32], m: usize, n: usize, k: usize) {
    #[inline(always)]
    fn cols(out_t: &mut [f32], a: &[f32], w: &[f32], m: usize, k: usize) {
        // out_t is column-major for this block: out_t[c * m + i] = a[i] · w[c].
        for (c, wr) in w.chunks_exact(k).enumerate() {
            for i in 0..m {
                let ar = &a[i * k..(i + 1) * k];
                let mut acc = [0f32; 16];
                for (x, y) in ar.chunks_exact(16).zip(wr.chunks_exact(16)) {
                    for t in 0..16 {
                        acc[t] += x[t] * y[t];
                    }
                }
                let tail: f32 = ar.chunks_exact(16).remainder().iter().zip(wr.chunks_exact(16).remainder()).map(|(x, y)| x * y).sum();
                out_t[c * m + i] = acc.iter().sum::<f32>() + tail;
            }
        }
    }
    multiversion!(cols_simd => cols(out_t: &mut [f32], a: &[f32], w: &[f32], m: usize, k: usize));
    const BLOCK: usize = 64;
    let mut out_t = vec![0f32; m * n];
    out_t.par_chunks_mut(BLOCK * m).zip(w.par_chunks(BLOCK * k)).for_each(|(o, wb)| cols_simd(o, a, wb, m, k));
    for i in 0..m {
        for c in 0..n {
            out[i * n + c] = out_t[c * m + i];
        }
    }
}

/// x[row] = GELU(x[row] + bias), every row.
pub fn bias_gelu(x: &mut [f32], bias: &[f32]) {
    x.par_chunks_mut(bias.len() * 8).for_each(|b| bias_gelu_rows(b, bias));
}

/// x[row] = GELU(x[row] + bias) for the rows of one block, on this thread.
pub fn bias_gelu_rows(x: &mut [f32], bias: &[f32]) {
    #[inline(always)]
    fn block(block: &mut [f32], bias: &[f32]) {
        for row in block.chunks_mut(bias.len()) {
            for (a, b) in row.iter_mut().zip(bias) {
                *a = gelu(*a + b);
            }
        }
    }
    multiversion!(block_simd => block(b: &mut [f32], bias: &[f32]));
    block_simd(x, bias)
}

/// x[row] = LayerNorm(x[row] + y[row] + bias) with gain `g` and shift `b`, every row.
pub fn residual_layer_norm(x: &mut [f32], y: &[f32], bias: &[f32], g: &[f32], b: &[f32], eps: f32) {
    #[inline(always)]
    fn block(xb: &mut [f32], yb: &[f32], bias: &[f32], g: &[f32], b: &[f32], eps: f32) {
        let h = bias.len();
        for (xr, yr) in xb.chunks_mut(h).zip(yb.chunks(h)) {
            for c in 0..h {
                xr[c] += yr[c] + bias[c];
            }
            layer_norm(xr, g, b, eps);
        }
    }
    multiversion!(block_simd => block(xb: &mut [f32], yb: &[f32], bias: &[f32], g: &[f32], b: &[f32], eps: f32));
    let h = bias.len();
    x.par_chunks_mut(h * 16).zip(y.par_chunks(h * 16)).for_each(|(xb, yb)| block_simd(xb, yb, bias, g, b, eps));
}

/// The embedding sum of packed sequences: x[row] (the word vectors) += position (the row's place
/// in its sequence) + token type 0, then LayerNorm. `offsets[s]..offsets[s + 1]` are sequence s's rows.
pub fn embedding_layer_norm(x: &mut [f32], offsets: &[usize], pos: &[f32], type0: &[f32], g: &[f32], b: &[f32], eps: f32) {
    #[inline(always)]
    fn row(out: &mut [f32], p: &[f32], t: &[f32], g: &[f32], b: &[f32], eps: f32) {
        for c in 0..out.len() {
            out[c] += p[c] + t[c];
        }
        layer_norm(out, g, b, eps);
    }
    multiversion!(row_simd => row(out: &mut [f32], p: &[f32], t: &[f32], g: &[f32], b: &[f32], eps: f32));
    let h = type0.len();
    x.par_chunks_mut(h).enumerate().for_each(|(r, out)| {
        let s = offsets.partition_point(|&o| o <= r) - 1;
        let j = r - offsets[s];
        row_simd(out, &pos[j * h..(j + 1) * h], type0, g, b, eps);
    });
}

/// Lanes of the reductions below: sums are kept per lane (as a vector register would) and added
/// at the end, which lets the compiler vectorise them without reassociating floating point.
const LANES: usize = 16;

#[inline(always)]
pub(super) fn lane_sum(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += f(c[i]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[inline(always)]
fn layer_norm(x: &mut [f32], g: &[f32], b: &[f32], eps: f32) {
    let n = x.len() as f32;
    let mean = lane_sum(x, |v| v) / n;
    let var = lane_sum(x, |v| (v - mean) * (v - mean)) / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((v, g), b) in x.iter_mut().zip(g).zip(b) {
        *v = (*v - mean) * inv * g + b;
    }
}

/// Softmax of `row[..l]` in place. The values after `l` (a row's padding to whole chunks of lanes)
/// are overwritten with values nobody should read: exps are computed chunk by chunk over the
/// whole row, so none is computed one at a time, while the sum is taken in the order a softmax of
/// `row[..l]` alone takes it (lanes over its whole chunks, then the rest one by one), so the
/// result does not depend on the padding.
#[inline(always)]
pub(super) fn softmax(row: &mut [f32], l: usize) {
    let mut lane_max = [f32::NEG_INFINITY; LANES];
    let chunks = row[..l].chunks_exact(LANES);
    let mut max = chunks.remainder().iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for c in chunks {
        for i in 0..LANES {
            lane_max[i] = lane_max[i].max(c[i]);
        }
    }
    max = lane_max.iter().copied().fold(max, f32::max);
    let mut chunks = row.chunks_exact_mut(LANES);
    for c in &mut chunks {
        for v in c.iter_mut() {
            *v = exp(*v - max);
        }
    }
    for v in chunks.into_remainder() {
        *v = exp(*v - max);
    }
    let whole = l / LANES * LANES;
    let mut acc = [0f32; LANES];
    for c in row[..whole].chunks_exact(LANES) {
        for i in 0..LANES {
            acc[i] += c[i];
        }
    }
    let sum = row[whole..l].iter().fold(0.0, |s, v| s + v);
    let inv = 1.0 / (sum + acc.iter().sum::<f32>());
    row[..l].iter_mut().for_each(|v| *v *= inv);
}

/// e^x for f32 with relative error below 2e-7, in plain arithmetic so loops over it vectorise.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // n = round(x / ln 2) by the 1.5·2^23 trick; r = x - n ln 2 in two steps for accuracy.
    const MAGIC: f32 = 12_582_912.0;
    let t = x * std::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    // exp(r) on |r| <= ln2/2 by its Taylor polynomial to degree 7 (remainder below 1e-8).
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    let bits = (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    f32::from_bits((p.to_bits() as i32).wrapping_add(bits << 23) as u32)
}

/// erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let y = 1.0 - (((((1.061_405_4 * t - 1.453_152_1) * t) + 1.421_413_8) * t - 0.284_496_74) * t + 0.254_829_6) * t * exp(-a * a);
    y.copysign(x)
}

/// GELU as BERT defines it: x · Φ(x) with the exact normal CDF (erf), not the tanh approximation.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std() {
        let mut worst = 0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let rel = ((exp(x) - x.exp()) / x.exp()).abs();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) < 1e-37 && exp(-1000.0) >= 0.0);
    }

    #[test]
    fn erf_and_gelu_match_reference_values() {
        // erf from tables; gelu(x) = x Φ(x)
        for (x, e) in [(0.0f32, 0.0f32), (0.5, 0.520_499_9), (1.0, 0.842_700_8), (2.0, 0.995_322_3), (-1.5, -0.966_105_1), (4.0, 0.999_999_98)] {
            assert!((erf(x) - e).abs() < 2e-7, "erf({x}) = {} not {e}", erf(x));
        }
        assert!((gelu(1.0) - 0.841_344_7).abs() < 2e-7);
        assert!((gelu(-1.0) + 0.158_655_25).abs() < 2e-7);
        assert_eq!(gelu(0.0), 0.0);
    }

    #[test]
    fn softmax_sums_to_one_and_is_stable() {
        let mut row = vec![1000.0f32, 999.0, -5.0];
        softmax(&mut row, 3);
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((row[0] / row[1] - std::f32::consts::E).abs() < 1e-4);
    }

    /// Padding after the row's values changes none of its results, bit for bit.
    #[test]
    fn softmax_of_a_padded_row_equals_the_unpadded_one() {
        for l in [1usize, 5, 16, 17, 40, 77] {
            let real: Vec<f32> = (0..l).map(|i| ((i * 37) % 23) as f32 * 0.4 - 3.0).collect();
            let mut plain = real.clone();
            softmax(&mut plain, l);
            let mut padded = real.clone();
            padded.resize(l.div_ceil(16) * 16, 0.0);
            softmax(&mut padded, l);
            assert_eq!(&padded[..l], &plain[..], "{l} values");
        }
    }

    #[test]
    fn small_linear_matches_naive_product() {
        let (m, n, k) = (3usize, 70usize, 37usize);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 * 0.1 - 0.6).collect();
        let w: Vec<f32> = (0..n * k).map(|i| ((i * 5) % 11) as f32 * 0.05 - 0.25).collect();
        let mut out = vec![0f32; m * n];
        small_linear(&mut out, &a, &w, m, n, k);
        for i in 0..m {
            for c in 0..n {
                let want: f32 = (0..k).map(|t| a[i * k + t] * w[c * k + t]).sum();
                assert!((out[i * n + c] - want).abs() < 1e-4, "({i},{c}) {} vs {want}", out[i * n + c]);
            }
        }
    }

    #[test]
    fn layer_norm_by_hand() {
        let mut x = vec![1.0f32, 2.0, 3.0, 4.0];
        layer_norm(&mut x, &[1.0; 4], &[0.0; 4], 1e-12);
        let want = [-1.341_640_8, -0.447_213_6, 0.447_213_6, 1.341_640_8];
        for (a, b) in x.iter().zip(want) {
            assert!((a - b).abs() < 1e-5);
        }
    }
}
