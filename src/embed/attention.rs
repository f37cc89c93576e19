//! Multi-head self-attention over packed sequences, as a slice kernel for the `PackedAttention`
//! custom op: per (sequence, head), softmax(q kᵀ / √d) v with two small products in register blocks.
//!
//! Why hand-written: candle-nn's `flash_attn_varlen_cpu` takes the same packed layout but scores one
//! key at a time with a 32-float dot product and a horizontal sum; the blocked products here feed
//! each loaded vector of keys or values to four multiply-adds (measured on 1,872 packed tokens,
//! 12 heads of 32: 4.0 ms here, 15.8 ms there, same output).

use super::kernels::softmax;
#[cfg(target_arch = "x86_64")]
use crate::cpu::{simd, Simd};
use rayon::prelude::*;

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
        // SAFETY: task (s, head) is the only writer of rows offsets[s]..offsets[s]+l of columns
        // head*d..head*d+d: sequences do not overlap and heads are distinct column ranges.
        unsafe { out.write(o, head * d, d, block, l) };
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

/// How many rows ahead the bias pass prefetches.
const PREFETCH_ROWS: usize = 4;

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
    // Three arrays indexed alike read clearer as one index than as zipped iterators.
    #[allow(clippy::needless_range_loop)]
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
    sc.k.resize(l * d, 0.0); // every key value is written below
    resize_zeroed(&mut sc.kt, d * lc);
    resize_zeroed(&mut sc.v, l * dc);
    // Every score and output value is written before it is read: no need to clear them.
    sc.s.resize(sc.s.len().max(lr * lc), 0.0);
    sc.out.resize(l * d, 0.0);
    for (i, row) in qkv.chunks_exact(3 * h).enumerate() {
        // Rows are 3h apart, too far for the hardware prefetcher to follow: this head's part of
        // a row a few ahead is asked for now (it was 15% of attention, waiting for memory).
        if let Some(ahead) = qkv.chunks_exact(3 * h).nth(i + PREFETCH_ROWS) {
            for part in 0..3 {
                crate::cpu::prefetch(&ahead[part * h + head * d..], d.div_ceil(16));
            }
        }
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
    // Each row with its padding to whole 16-lane chunks (within lc), so no exp is computed one
    // at a time; the padding's values are not read after.
    let l16 = l.div_ceil(16) * 16;
    for i in 0..l {
        softmax(&mut sc.s[i * lc..i * lc + l16], l);
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
struct DisjointRows<'a> {
    ptr: *mut f32,
    rows: usize,
    width: usize,
    /// The matrix stays borrowed, mutably, for as long as this lives.
    _matrix: std::marker::PhantomData<&'a mut [f32]>,
}
// SAFETY: the pointer is only written through `write`, whose contract makes concurrent writes
// disjoint, and the matrix is borrowed mutably for the struct's lifetime (no one else reads it).
unsafe impl Send for DisjointRows<'_> {}
unsafe impl Sync for DisjointRows<'_> {}

impl<'a> DisjointRows<'a> {
    fn new(m: &'a mut [f32], width: usize) -> DisjointRows<'a> {
        DisjointRows { ptr: m.as_mut_ptr(), rows: m.len() / width, width, _matrix: std::marker::PhantomData }
    }

    /// Copies `block` (`rows` rows of `cols` values) to rows `row..row + rows`, columns
    /// `col..col + cols`. Bounds are checked (a call out of bounds panics).
    ///
    /// # Safety
    /// No two calls that may run at the same time write the same element: each call's rectangle
    /// of rows and columns is disjoint from every other concurrent call's (each attention task
    /// owns its sequence's rows of its head's columns).
    unsafe fn write(&self, row: usize, col: usize, cols: usize, block: &[f32], rows: usize) {
        assert!(row + rows <= self.rows && col + cols <= self.width && block.len() >= rows * cols);
        for r in 0..rows {
            // SAFETY: in bounds (asserted above); disjoint from every concurrent write (the
            // function's contract).
            unsafe {
                std::ptr::copy_nonoverlapping(block[r * cols..].as_ptr(), self.ptr.add((row + r) * self.width + col), cols);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
