//! The row passes of the packed BERT, as plain slice kernels: the candle custom ops in `ops.rs`
//! hand them the storage of their tensors. Each hot loop is compiled for AVX-512, AVX2+FMA and
//! baseline x86-64 and the widest the CPU has is picked at run time (`crate::cpu`, narrowed by
//! SEMSEARCH_SIMD), so one binary is fast here and correct everywhere. Rows are split over rayon's
//! pool, the same pool candle's matrix products run on, so the two never compete for cores.
//!
//! Why hand-written: candle's generic ops allocate a tensor per step and have no fused
//! bias+GELU(erf) or residual+LayerNorm pass, and its `softmax_last_dim`/`layer_norm` would each
//! be one more pass over memory; candle-nn's `flash_attn_varlen_cpu` scores one key at a time with
//! a 32-float dot product, slower than the blocked products below (measured: see ARCHITECTURE.md).

#[cfg(target_arch = "x86_64")]
use crate::cpu::{simd, Simd};
use rayon::prelude::*;

/// Defines `$name(args)` that runs `$body` (an `#[inline(always)]` fn) compiled for the CPU's
/// widest vector unit: the row passes below are compiled three times (AVX-512, AVX2+FMA, baseline
/// x86-64) and the widest the CPU has is chosen at run time (`crate::cpu`), so one binary runs
/// everywhere.
macro_rules! multiversion {
    ($name:ident => $body:ident ( $($arg:ident : $ty:ty),* )) => {
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn wide($($arg: $ty),*) { $body($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn narrow($($arg: $ty),*) { $body($($arg),*) }
                match simd() {
                    // SAFETY: the CPU has the features each build was compiled for (checked by simd()).
                    Simd::Avx512 => return unsafe { wide($($arg),*) },
                    Simd::Avx2 => return unsafe { narrow($($arg),*) },
                    Simd::Base => {}
                }
            }
            $body($($arg),*)
        }
    };
}

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
                let tail: f32 =
                    ar.chunks_exact(16).remainder().iter().zip(wr.chunks_exact(16).remainder()).map(|(x, y)| x * y).sum();
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
    #[inline(always)]
    fn block(block: &mut [f32], bias: &[f32]) {
        for row in block.chunks_mut(bias.len()) {
            for (a, b) in row.iter_mut().zip(bias) {
                *a = gelu(*a + b);
            }
        }
    }
    multiversion!(block_simd => block(b: &mut [f32], bias: &[f32]));
    x.par_chunks_mut(bias.len() * 8).for_each(|b| block_simd(b, bias));
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

/// Scaled dot-product attention of packed sequences. `qkv` holds each token's query, key and value
/// projections side by side (row width 3h, before their bias `bias`); `ctx` (row width h) receives
/// each token's attended values. Parallel over (sequence, head) pairs, each computed on its own
/// with no padding between sequences and so no mask.
pub fn attention(qkv: &[f32], bias: &[f32], ctx: &mut [f32], offsets: &[usize], heads: usize) {
    let h = bias.len() / 3;
    let d = h / heads;
    let n_seq = offsets.len() - 1;
    let out = DisjointRows::new(ctx, h);
    (0..n_seq * heads).into_par_iter().for_each_init(Scratch::default, |scratch, task| {
        let (s, head) = (task / heads, task % heads);
        let (o, l) = (offsets[s], offsets[s + 1] - offsets[s]);
        if l == 0 {
            return;
        }
        let block = attend_simd(&qkv[o * 3 * h..(o + l) * 3 * h], bias, head, d, scratch);
        // Task (s, head) is the only writer of rows offsets[s].. of columns head*d..head*d+d.
        out.write(o, head * d, d, block, l);
    });
}

/// Buffers one attention task reuses: queries (rows padded to a block), keys and their transpose
/// (columns padded to a block), values (columns padded to a block), scores, output.
#[derive(Default)]
struct Scratch {
    q: Vec<f32>,
    k: Vec<f32>,
    kt: Vec<f32>,
    v: Vec<f32>,
    s: Vec<f32>,
    out: Vec<f32>,
}

/// Rows of the attention products' register blocks: each loaded vector of keys or values feeds
/// this many multiply-adds.
const RB: usize = 4;

/// The few vector operations the attention products need, so one generic kernel compiles to
/// AVX-512 (16 lanes), AVX2+FMA (8 lanes) or portable code (8 lanes the compiler maps onto SSE).
/// Written out because the compiler does not keep a block of array accumulators in vector
/// registers by itself (measured: it spilled them to the stack, element by element).
trait Lanes: Copy {
    const N: usize;
    /// # Safety
    /// `p` must point to at least `N` readable floats; the CPU must have the type's features.
    unsafe fn load(p: *const f32) -> Self;
    /// # Safety
    /// `p` must point to at least `N` writable floats; the CPU must have the type's features.
    unsafe fn store(self, p: *mut f32);
    unsafe fn splat(x: f32) -> Self;
    unsafe fn zero() -> Self;
    /// self + a · b
    unsafe fn madd(self, a: Self, b: Self) -> Self;
}

#[derive(Clone, Copy)]
struct Portable([f32; 8]);

impl Lanes for Portable {
    const N: usize = 8;
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Portable(std::ptr::read_unaligned(p as *const [f32; 8]))
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        std::ptr::write_unaligned(p as *mut [f32; 8], self.0)
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        Portable([x; 8])
    }
    #[inline(always)]
    unsafe fn zero() -> Self {
        Portable([0.0; 8])
    }
    #[inline(always)]
    unsafe fn madd(self, a: Self, b: Self) -> Self {
        let mut r = self.0;
        for i in 0..8 {
            r[i] += a.0[i] * b.0[i];
        }
        Portable(r)
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Lanes;
    use std::arch::x86_64::*;

    impl Lanes for __m512 {
        const N: usize = 16;
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            _mm512_loadu_ps(p)
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            _mm512_storeu_ps(p, self)
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            _mm512_set1_ps(x)
        }
        #[inline(always)]
        unsafe fn zero() -> Self {
            _mm512_setzero_ps()
        }
        #[inline(always)]
        unsafe fn madd(self, a: Self, b: Self) -> Self {
            _mm512_fmadd_ps(a, b, self)
        }
    }

    impl Lanes for __m256 {
        const N: usize = 8;
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            _mm256_loadu_ps(p)
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            _mm256_storeu_ps(p, self)
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            _mm256_set1_ps(x)
        }
        #[inline(always)]
        unsafe fn zero() -> Self {
            _mm256_setzero_ps()
        }
        #[inline(always)]
        unsafe fn madd(self, a: Self, b: Self) -> Self {
            _mm256_fmadd_ps(a, b, self)
        }
    }
}

/// Runs `attend` with the widest vector unit the CPU has.
fn attend_simd<'a>(qkv: &[f32], bias: &[f32], head: usize, d: usize, sc: &'a mut Scratch) -> &'a [f32] {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__m256, __m512};
        #[target_feature(enable = "avx512f,avx2,fma")]
        unsafe fn wide(qkv: &[f32], bias: &[f32], head: usize, d: usize, sc: &mut Scratch) {
            attend::<__m512>(qkv, bias, head, d, sc)
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn narrow(qkv: &[f32], bias: &[f32], head: usize, d: usize, sc: &mut Scratch) {
            attend::<__m256>(qkv, bias, head, d, sc)
        }
        match simd() {
            // SAFETY: the CPU has the features each build was compiled for (checked by simd()).
            Simd::Avx512 => unsafe { wide(qkv, bias, head, d, sc) },
            Simd::Avx2 => unsafe { narrow(qkv, bias, head, d, sc) },
            // SAFETY: portable lanes need no CPU feature.
            Simd::Base => unsafe { attend::<Portable>(qkv, bias, head, d, sc) },
        }
        return &sc.out;
    }
    #[allow(unreachable_code)]
    {
        // SAFETY: portable lanes need no CPU feature.
        unsafe { attend::<Portable>(qkv, bias, head, d, sc) };
        &sc.out
    }
}

/// One (sequence, head): softmax(q kᵀ / √d) v, written to `sc.out` as l rows of d.
///
/// # Safety
/// The CPU must have the features of `V`. (Every pointer below is into a buffer sized here to hold
/// the whole padded block it addresses.)
#[inline(always)]
unsafe fn attend<V: Lanes>(qkv: &[f32], bias: &[f32], head: usize, d: usize, sc: &mut Scratch) {
    // Register blocks of RB rows by two vectors of columns: eight accumulators.
    let cb = 2 * V::N;
    let h = bias.len() / 3;
    let l = qkv.len() / (3 * h);
    let (lr, lc, dc) = (l.div_ceil(RB) * RB, l.div_ceil(cb) * cb, d.div_ceil(cb) * cb);
    let scale = 1.0 / (d as f32).sqrt();
    let (bq, bk, bv) = (&bias[head * d..][..d], &bias[h + head * d..][..d], &bias[2 * h + head * d..][..d]);
    resize_zeroed(&mut sc.q, lr * d);
    resize_zeroed(&mut sc.k, l * d);
    resize_zeroed(&mut sc.kt, d * lc);
    resize_zeroed(&mut sc.v, l * dc);
    // Every score and output value is written before it is read: no need to clear them.
    sc.s.resize(sc.s.len().max(lr * lc), 0.0);
    sc.out.resize(l * d, 0.0);
    for (i, row) in qkv.chunks_exact(3 * h).enumerate() {
        let (q, k, v) = (&row[head * d..][..d], &row[h + head * d..][..d], &row[2 * h + head * d..][..d]);
        let (qo, ko, vo) = (&mut sc.q[i * d..][..d], &mut sc.k[i * d..][..d], &mut sc.v[i * dc..][..d]);
        for c in 0..d {
            qo[c] = (q[c] + bq[c]) * scale;
            ko[c] = k[c] + bk[c];
            vo[c] = v[c] + bv[c];
        }
    }
    for (c, kt) in sc.kt.chunks_exact_mut(lc).enumerate() {
        for (i, x) in kt[..l].iter_mut().enumerate() {
            *x = sc.k[i * d + c];
        }
    }
    // Scores: s (lr × lc) = q · kᵀ.
    let (q, kt, s) = (sc.q.as_ptr(), sc.kt.as_ptr(), sc.s.as_mut_ptr());
    for i0 in (0..lr).step_by(RB) {
        for j0 in (0..lc).step_by(cb) {
            let mut acc = [[V::zero(); 2]; RB];
            for c in 0..d {
                let k0 = V::load(kt.add(c * lc + j0));
                let k1 = V::load(kt.add(c * lc + j0 + V::N));
                for (r, a) in acc.iter_mut().enumerate() {
                    let qv = V::splat(*q.add((i0 + r) * d + c));
                    a[0] = a[0].madd(qv, k0);
                    a[1] = a[1].madd(qv, k1);
                }
            }
            for (r, a) in acc.iter().enumerate() {
                a[0].store(s.add((i0 + r) * lc + j0));
                a[1].store(s.add((i0 + r) * lc + j0 + V::N));
            }
        }
    }
    for i in 0..l {
        softmax(&mut sc.s[i * lc..i * lc + l]);
    }
    // Output: out (l × d) = p · v over the real keys only, through a block-wide buffer for the
    // last columns when d is not a multiple of the block.
    let (p, v) = (sc.s.as_ptr(), sc.v.as_ptr());
    for i0 in (0..lr).step_by(RB) {
        for c0 in (0..dc).step_by(cb) {
            let mut acc = [[V::zero(); 2]; RB];
            for j in 0..l {
                let v0 = V::load(v.add(j * dc + c0));
                let v1 = V::load(v.add(j * dc + c0 + V::N));
                for (r, a) in acc.iter_mut().enumerate() {
                    let pr = V::splat(*p.add((i0 + r) * lc + j));
                    a[0] = a[0].madd(pr, v0);
                    a[1] = a[1].madd(pr, v1);
                }
            }
            let width = cb.min(d - c0);
            let mut tmp = [0f32; 32];
            for (r, a) in acc.iter().enumerate().take(l.saturating_sub(i0)) {
                a[0].store(tmp.as_mut_ptr());
                a[1].store(tmp.as_mut_ptr().add(V::N));
                sc.out[(i0 + r) * d + c0..][..width].copy_from_slice(&tmp[..width]);
            }
        }
    }
}

fn resize_zeroed(v: &mut Vec<f32>, n: usize) {
    v.clear();
    v.resize(n, 0.0);
}

/// Lets parallel tasks write disjoint blocks of one row-major matrix.
///
/// Written by hand because the blocks of a (sequence, head) task are columns of a run of rows,
/// which no safe split of a slice can hand out (rayon and `split_at_mut` split by rows only).
struct DisjointRows {
    ptr: *mut f32,
    rows: usize,
    width: usize,
}
// SAFETY: the pointer is only written through `write`, whose callers write disjoint blocks.
unsafe impl Send for DisjointRows {}
unsafe impl Sync for DisjointRows {}

impl DisjointRows {
    fn new(m: &mut [f32], width: usize) -> DisjointRows {
        DisjointRows { ptr: m.as_mut_ptr(), rows: m.len() / width, width }
    }

    /// Copies `block` (`rows` rows of `cols` values) to rows `row..row + rows`, columns
    /// `col..col + cols`. Bounds are checked; the caller guarantees no two concurrent calls write
    /// the same element (each attention task owns its sequence's rows of its head's columns).
    fn write(&self, row: usize, col: usize, cols: usize, block: &[f32], rows: usize) {
        assert!(row + rows <= self.rows && col + cols <= self.width && block.len() >= rows * cols);
        for r in 0..rows {
            // SAFETY: in bounds (asserted above); disjoint from every other task's writes (caller).
            unsafe {
                std::ptr::copy_nonoverlapping(block[r * cols..].as_ptr(), self.ptr.add((row + r) * self.width + col), cols);
            }
        }
    }
}

/// Lanes of the reductions below: sums are kept per lane (as a vector register would) and added
/// at the end, which lets the compiler vectorise them without reassociating floating point.
const LANES: usize = 16;

#[inline(always)]
fn lane_sum(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
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

#[inline(always)]
fn softmax(row: &mut [f32]) {
    let mut lane_max = [f32::NEG_INFINITY; LANES];
    let chunks = row.chunks_exact(LANES);
    let mut max = chunks.remainder().iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for c in chunks {
        for i in 0..LANES {
            lane_max[i] = lane_max[i].max(c[i]);
        }
    }
    max = lane_max.iter().copied().fold(max, f32::max);
    let mut acc = [0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            let e = exp(c[i] - max);
            c[i] = e;
            acc[i] += e;
        }
    }
    let mut sum = 0.0;
    for v in chunks.into_remainder() {
        *v = exp(*v - max);
        sum += *v;
    }
    let inv = 1.0 / (sum + acc.iter().sum::<f32>());
    row.iter_mut().for_each(|v| *v *= inv);
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
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    let bits = (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    f32::from_bits((p.to_bits() as i32).wrapping_add(bits << 23) as u32)
}

/// erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let y = 1.0
        - (((((1.061_405_4 * t - 1.453_152_1) * t) + 1.421_413_8) * t - 0.284_496_74) * t + 0.254_829_6) * t * exp(-a * a);
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
        softmax(&mut row);
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((row[0] / row[1] - std::f32::consts::E).abs() < 1e-4);
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

    /// Packed attention against a naive per-(sequence, head) computation, for lengths that do and
    /// do not fill the 4-row and 16-column blocks, and a head width that is not a multiple of 16.
    #[test]
    fn attention_matches_naive() {
        for (heads, d) in [(12usize, 32usize), (2, 24)] {
            let h = heads * d;
            let lens = [1usize, 3, 4, 17, 33];
            let mut offsets = vec![0];
            for l in lens {
                offsets.push(offsets.last().unwrap() + l);
            }
            let t = *offsets.last().unwrap();
            let qkv: Vec<f32> = (0..t * 3 * h).map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 2.0).collect();
            let bias: Vec<f32> = (0..3 * h).map(|i| ((i * 31 % 17) as f32 - 8.0) / 40.0).collect();
            let mut ctx = vec![0f32; t * h];
            attention(&qkv, &bias, &mut ctx, &offsets, heads);
            let at = |row: usize, part: usize, head: usize, c: usize| qkv[row * 3 * h + part * h + head * d + c] + bias[part * h + head * d + c];
            for s in 0..lens.len() {
                let (o, l) = (offsets[s], lens[s]);
                for head in 0..heads {
                    for i in 0..l {
                        let scores: Vec<f64> = (0..l)
                            .map(|j| (0..d).map(|c| at(o + i, 0, head, c) as f64 * at(o + j, 1, head, c) as f64).sum::<f64>() / (d as f64).sqrt())
                            .collect();
                        let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                        let e: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                        let z: f64 = e.iter().sum();
                        for c in 0..d {
                            let want: f64 = (0..l).map(|j| e[j] / z * at(o + j, 2, head, c) as f64).sum();
                            let got = ctx[(o + i) * h + head * d + c] as f64;
                            assert!((got - want).abs() < 1e-5, "seq {s} head {head} row {i} col {c}: {got} vs {want}");
                        }
                    }
                }
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
