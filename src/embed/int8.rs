//! int8 dense layers: the packed BERT's matrix products with 8-bit weights and activations.
//!
//! Weights are quantized once, at load, per output column (symmetric: w ≈ scale[c] · q, q in
//! −127..=127); activations per row (token) as each product runs (asymmetric: x ≈ s · (u − zp), u
//! in 0..=255, the row's own range, zero exact). A product then sums u · q in 32-bit integers and
//! turns back to f32 with y = s · scale[c] · (Σ u·q − zp · Σ q): the instructions made for this
//! (`vpdpbusd`: four u8·i8 products summed into each i32 lane; AMX's `tdpbusd`: the same over
//! 16×64-byte tiles) do 4× (VNNI) to 30× (AMX) the multiplies of an f32 FMA per instruction.
//! Attention, LayerNorm, GELU and the residual sums stay f32 (the other passes of `ops.rs`).
//!
//! Every path (AMX, AVX-512 VNNI, AVX-VNNI, AVX2, plain Rust) computes the same integers: int8
//! vectors are identical on every machine, and each path is tested against the plain one.
//!
//! Why by hand: candle has no int8 matrix product on the CPU (its quantized types are GGML's
//! weight-only formats, which dequantize to f32 to multiply), and no crate offers a u8×i8 product
//! with VNNI and AMX kernels; the gemm crate candle uses is floating point only.

use crate::cpu::{int8_path, Int8Path};
use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape};
use rayon::prelude::*;

/// Output columns per packed block: sixteen i32 lanes of a 512-bit register, one AMX tile's width.
const BLOCK: usize = 16;
/// Inputs summed per lane by one `vpdpbusd`.
const GROUP: usize = 4;
/// Inputs are padded to this (one AMX tile row is 64 bytes).
const K_ALIGN: usize = 64;
/// Rows of one unit of work (two AMX tiles high).
const UNIT_ROWS: usize = 32;
/// Columns of one unit of work (two packed blocks).
const UNIT_COLS: usize = 2 * BLOCK;
const UNIT: usize = UNIT_ROWS * UNIT_COLS;

/// A dense layer's weight matrix (n outputs × k inputs, `Linear` layout) in int8, packed for the
/// products: `packed` holds, for each block of 16 output columns, each group of 4 inputs, the 4
/// weights of each of the 16 columns (64 bytes) — the B-operand layout of `vpdpbusd` and of an
/// AMX tile, so the kernels read it in order with no repacking.
pub struct Int8Dense {
    packed: Vec<i8>,
    /// Per output column: f32 weight = scale · q.
    scale: Vec<f32>,
    /// Per output column: Σ q (what the activations' zero point contributes).
    colsum: Vec<i32>,
    /// The f32 weights it was quantized from, for the activations' outliers.
    weights: F32Rows,
    /// Their columns that outliers have needed so far (`column`), by input.
    columns: Vec<std::sync::OnceLock<Box<[f32]>>>,
    /// `packed` widened to i16, for AVX2's kernel (`wide`).
    wide: std::sync::OnceLock<Box<[i16]>>,
    n: usize,
    k: usize,
    /// n and k padded (zero weights) to whole units and tile rows.
    np: usize,
    kp: usize,
}

impl Int8Dense {
    /// Quantizes `weights` (n × k, row c is output column c's weights).
    pub fn quantize(weights: F32Rows) -> Int8Dense {
        let (n, k) = (weights.n, weights.k);
        let np = n.div_ceil(UNIT_COLS) * UNIT_COLS;
        let kp = k.div_ceil(K_ALIGN) * K_ALIGN;
        let mut packed = vec![0i8; np * kp];
        let mut scale = vec![1f32; np];
        let mut colsum = vec![0i32; np];
        packed.par_chunks_mut(BLOCK * kp).zip(scale.par_chunks_mut(BLOCK)).zip(colsum.par_chunks_mut(BLOCK)).enumerate().for_each(
            |(b, ((block, scale), colsum))| {
                for j in 0..BLOCK {
                    let c = b * BLOCK + j;
                    if c >= n {
                        break;
                    }
                    let mut q = vec![0i8; k];
                    let (s, sum) = quantize_weights(weights.row(c), &mut q);
                    scale[j] = s;
                    for (g, four) in q.chunks(GROUP).enumerate() {
                        block[g * BLOCK * GROUP + j * GROUP..][..four.len()].copy_from_slice(four);
                    }
                    colsum[j] = sum;
                }
            },
        );
        let columns = (0..k).map(|_| std::sync::OnceLock::new()).collect();
        Int8Dense { packed, scale, colsum, weights, columns, wide: std::sync::OnceLock::new(), n, k, np, kp }
    }

    /// x (m × k, f32) · wᵀ → (m × n, f32), with no bias (the fused pass after it adds it).
    pub fn forward(&self, x: &[f32], m: usize) -> Vec<f32> {
        self.forward_on(int8_path(), x, m)
    }

    fn forward_on(&self, path: Int8Path, x: &[f32], m: usize) -> Vec<f32> {
        assert_eq!(x.len(), m * self.k, "activations of {m} × {}", self.k);
        self.product(path, &Activations::quantize(x, m, self.k, self.kp))
    }

    /// Whether a product of `rows` runs as one task per row block (a batch of passages) or splits
    /// the columns too (a question: few row blocks, and every core should have work).
    fn by_row_blocks(rows: &Activations) -> bool {
        rows.padded_rows / UNIT_ROWS >= 2 * rayon::current_num_threads()
    }

    /// `rows` · wᵀ → (m × n, f32).
    fn product(&self, path: Int8Path, rows: &Activations) -> Vec<f32> {
        let (m, n) = (rows.m, self.n);
        let units = self.np / UNIT_COLS;
        if Self::by_row_blocks(rows) {
            // Each task takes whole row blocks, all columns, and writes its rows of the output.
            let write = |b: usize, out: &mut [std::mem::MaybeUninit<f32>]| {
                let (mut acc, mut count) = ([0i32; UNIT], 0);
                let block = rows.block(path, b);
                with_tiles(path, || {
                    for u in 0..units {
                        self.unit(path, &block, u, &mut acc);
                        count += dequantize_new(&acc, self, rows, b, u, out, n, 0);
                    }
                });
                count
            };
            let outliers = |b: usize, out: &mut [f32]| {
                for (r, out) in out.chunks_exact_mut(n).enumerate() {
                    self.add_outliers(rows.outliers(b * UNIT_ROWS + r), out);
                }
            };
            // SAFETY: `dequantize` writes each of its unit's values once and counts them; the
            // units of a row block cover its rows × n without overlapping.
            return unsafe { written(m * n, UNIT_ROWS * n, write, outliers) };
        }
        // Few rows: the columns are split too; each task's part is copied into place after.
        let blocks = rows.padded_rows / UNIT_ROWS;
        let threads = rayon::current_num_threads();
        let per_task = (blocks * units).div_ceil(4 * threads).clamp(1, units);
        let tasks: Vec<(usize, usize)> = (0..blocks).flat_map(|b| (0..units).step_by(per_task).map(move |u| (b, u))).collect();
        let done: Vec<Vec<f32>> = tasks
            .par_iter()
            .map(|&(b, u0)| {
                let u1 = (u0 + per_task).min(units);
                let width = (u1 - u0) * UNIT_COLS;
                let (mut part, mut acc) = (vec![0f32; UNIT_ROWS * width], [0i32; UNIT]);
                let block = rows.block(path, b);
                with_tiles(path, || {
                    for u in u0..u1 {
                        self.unit(path, &block, u, &mut acc);
                        dequantize_into(&acc, self, rows, b, u, &mut part, width, u0 * UNIT_COLS);
                    }
                });
                part
            })
            .collect();
        let mut out = vec![0f32; m * n];
        for (&(b, u0), part) in tasks.iter().zip(&done) {
            let width = part.len() / UNIT_ROWS;
            let (c0, c1) = (u0 * UNIT_COLS, (u0 * UNIT_COLS + width).min(n));
            for r in 0..UNIT_ROWS.min(m - b * UNIT_ROWS) {
                out[(b * UNIT_ROWS + r) * n + c0..(b * UNIT_ROWS + r) * n + c1].copy_from_slice(&part[r * width..r * width + c1 - c0]);
            }
        }
        for (r, out) in out.chunks_exact_mut(n).enumerate() {
            self.add_outliers(rows.outliers(r), out);
        }
        out
    }

    /// GELU(`rows` · wᵀ + bias), quantized as the input of `next` (whose k is this n): BERT's
    /// feed-forward block, whose wide intermediate (4h per token) is then never stored in f32.
    /// Each row block's outputs are made, passed through GELU and quantized while they are in
    /// the core's cache (one 32-row block of 1,536 columns is 192 KB), where separate passes
    /// would each stream the whole m × 4h matrix through memory.
    fn product_gelu(&self, path: Int8Path, rows: &Activations, bias: &[f32], next: &Int8Dense) -> Activations {
        let (m, n) = (rows.m, self.n);
        assert!(next.k == n && bias.len() == n, "GELU({m} × {n}) into a product of k = {}", next.k);
        if !Self::by_row_blocks(rows) {
            let mut y = self.product(path, rows);
            super::kernels::bias_gelu(&mut y, bias);
            return Activations::quantize(&y, m, n, next.kp);
        }
        let units = self.np / UNIT_COLS;
        let mut quantized = Activations::zeroed(m, next.kp);
        thread_local! {
            /// A row block's f32 outputs, kept per thread (a product's tasks reuse it).
            static BLOCK: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        quantized.par_row_blocks().enumerate().for_each(|(b, mut block)| {
            BLOCK.with_borrow_mut(|y| {
                y.resize(UNIT_ROWS * n, 0.0);
                let (mut acc, rows_b) = ([0i32; UNIT], rows.block(path, b));
                with_tiles(path, || {
                    for u in 0..units {
                        self.unit(path, &rows_b, u, &mut acc);
                        dequantize_into(&acc, self, rows, b, u, y, n, 0);
                    }
                });
                for (r, y) in y.chunks_exact_mut(n).take(UNIT_ROWS.min(m - b * UNIT_ROWS)).enumerate() {
                    self.add_outliers(rows.outliers(b * UNIT_ROWS + r), y);
                    super::kernels::bias_gelu_rows(y, bias);
                    block.quantize(r, y);
                }
            })
        });
        quantized
    }

    /// The i32 sums of a row block (`Activations::block`) × column unit `u` (UNIT_ROWS ×
    /// UNIT_COLS, row-major).
    fn unit(&self, path: Int8Path, rows: &BlockRows, u: usize, acc: &mut [i32; UNIT]) {
        let cols = u * UNIT_COLS * self.kp..(u + 1) * UNIT_COLS * self.kp;
        let operands = match rows {
            BlockRows::Bytes(a) => kernels::Operands::Bytes(a, &self.packed[cols]),
            BlockRows::Wide(a) => kernels::Operands::Wide(a, &self.wide()[cols]),
        };
        kernels::unit(path, operands, self.kp, acc);
    }

    /// The packed weights as i16, made the first time AVX2's kernel needs them (2 bytes per
    /// weight, on machines without an int8 dot product only): widening each unit's weights
    /// as it runs took a tenth of that kernel's time.
    fn wide(&self) -> &[i16] {
        self.wide.get_or_init(|| self.packed.iter().map(|&q| i16::from(q)).collect())
    }

    /// out (one row) += what the row's outliers contribute, in f32.
    fn add_outliers(&self, outliers: &[(u32, f32)], out: &mut [f32]) {
        for &(j, v) in outliers {
            add_scaled(out, v, self.column(j as usize));
        }
    }

    /// Input j's f32 weights (a column of the weight matrix: what that input adds to every
    /// output), gathered from the weights the first time an activation of input j is an outlier
    /// and kept. Outliers come back in the same few channels (the residual stream's), so a
    /// process gathers a few dozen columns per matrix. Gathering them at every product (n reads
    /// a weight row apart each) cost a seventh of int8 embedding time (1,000 passages at 1
    /// thread, VNNI: 109 → 127 passages/s once kept), and a transposed copy of every matrix made
    /// at load would double the model's memory and its load time. At most the whole matrix is
    /// kept (k columns).
    fn column(&self, j: usize) -> &[f32] {
        self.columns[j].get_or_init(|| {
            let k = self.k;
            self.weights.parts().iter().flat_map(|part| part.chunks_exact(k).map(|row| row[j])).collect()
        })
    }
}

/// A vector of `len` f32s made without clearing it first (clearing the products' outputs was a
/// tenth of int8 embedding time), in parallel chunks of `chunk`: `write(i, slots)` writes chunk
/// i and returns how many values it wrote; then `then(i, values)` may change them in place.
///
/// # Safety
/// `write` must write every slot it counts, each once (the count is checked against the chunk's
/// length, so a chunk written in part fails the check; a count that lies is what is ruled out).
unsafe fn written(
    len: usize,
    chunk: usize,
    write: impl Fn(usize, &mut [std::mem::MaybeUninit<f32>]) -> usize + Sync,
    then: impl Fn(usize, &mut [f32]) + Sync,
) -> Vec<f32> {
    let mut v = Vec::with_capacity(len);
    v.spare_capacity_mut()[..len].par_chunks_mut(chunk.max(1)).enumerate().for_each(|(i, slots)| {
        let count = write(i, slots);
        assert_eq!(count, slots.len(), "a product wrote {count} of its {} values", slots.len());
        // SAFETY: every slot of the chunk was written (the caller's contract, the count
        // checked above); MaybeUninit<f32> has f32's layout.
        then(i, unsafe { std::slice::from_raw_parts_mut(slots.as_mut_ptr().cast::<f32>(), slots.len()) });
    });
    // SAFETY: every chunk was written whole (a chunk that was not panicked above, and the vector
    // is then dropped with length 0).
    unsafe { v.set_len(len) };
    v
}

/// Rows of activations quantized to u8, one scale and zero point per row (x ≈ s · (u − zp)); rows
/// padded to whole units and inputs to whole tile rows, with zeros (the padded weights are zero).
/// A row's few outliers (beyond OUTLIER_RMS times its root mean square, at most MAX_OUTLIERS, the
/// largest) are left out of its range, stored as zero, and kept here in f32.
struct Activations {
    values: Vec<u8>,
    scale: Vec<f32>,
    zero: Vec<i32>,
    /// Row r's outliers: `outliers[r * MAX_OUTLIERS..][..outlier_count[r]]`, (input, value).
    outliers: Vec<(u32, f32)>,
    outlier_count: Vec<u8>,
    m: usize,
    padded_rows: usize,
}

/// BERT's hidden states carry a few input channels with values tens of times the others' (the same
/// channels on every token: 99, 63, 157, 223 in all-MiniLM-L6-v2's residual stream reach 10–30
/// where a row's root mean square is 0.5–0.7). Scaling a row to them would leave the rest a few
/// levels of 255; so values beyond this many root mean squares are multiplied in f32 instead
/// (LLM.int8()'s decomposition, per row and without calibration).
const OUTLIER_RMS: f32 = 6.0;
/// At most this many f32 values per row (the largest): each costs one f32 row of the weights.
const MAX_OUTLIERS: usize = 8;

impl Activations {
    fn quantize(x: &[f32], m: usize, k: usize, kp: usize) -> Activations {
        let mut rows = Activations::zeroed(m, kp);
        rows.par_row_blocks().zip(x.par_chunks(UNIT_ROWS * k)).for_each(|(mut block, x)| {
            for (r, x) in x.chunks_exact(k).enumerate() {
                block.quantize(r, x);
            }
        });
        rows
    }

    /// m rows of kp zeros (their padding stays zero), to be quantized into.
    fn zeroed(m: usize, kp: usize) -> Activations {
        let padded_rows = m.div_ceil(UNIT_ROWS) * UNIT_ROWS;
        Activations {
            values: vec![0u8; padded_rows * kp],
            scale: vec![1f32; m],
            zero: vec![0i32; m],
            outliers: vec![(0u32, 0f32); m * MAX_OUTLIERS],
            outlier_count: vec![0u8; m],
            m,
            padded_rows,
        }
    }

    /// The row blocks (UNIT_ROWS rows, the last one clipped to m), each to be quantized on its own.
    fn par_row_blocks(&mut self) -> impl IndexedParallelIterator<Item = RowBlock<'_>> {
        let kp = self.kp();
        self.values
            .par_chunks_mut(UNIT_ROWS * kp.max(1))
            .zip(self.scale.par_chunks_mut(UNIT_ROWS))
            .zip(self.zero.par_chunks_mut(UNIT_ROWS))
            .zip(self.outliers.par_chunks_mut(UNIT_ROWS * MAX_OUTLIERS))
            .zip(self.outlier_count.par_chunks_mut(UNIT_ROWS))
            .map(move |((((values, scale), zero), outliers), outlier_count)| RowBlock { values, scale, zero, outliers, outlier_count, kp })
    }

    /// Inputs per row, padded (derived from the lengths rather than kept beside them).
    fn kp(&self) -> usize {
        self.values.len() / self.padded_rows.max(1)
    }

    fn outliers(&self, row: usize) -> &[(u32, f32)] {
        &self.outliers[row * MAX_OUTLIERS..][..self.outlier_count[row] as usize]
    }

    /// Row block `b` as `path`'s kernel reads it (for AVX2 widened once here, where each of the
    /// block's units would otherwise widen it again).
    fn block(&self, path: Int8Path, b: usize) -> BlockRows<'_> {
        let kp = self.kp();
        let bytes = &self.values[b * UNIT_ROWS * kp..(b + 1) * UNIT_ROWS * kp];
        match path {
            Int8Path::Avx2 => BlockRows::Wide(bytes.iter().map(|&v| i16::from(v)).collect()),
            _ => BlockRows::Bytes(bytes),
        }
    }
}

/// One row block of activations as a kernel reads it: bytes, or (AVX2) 16-bit values.
enum BlockRows<'a> {
    Bytes(&'a [u8]),
    Wide(Vec<i16>),
}

/// One row block of `Activations`, borrowed to be filled.
struct RowBlock<'a> {
    values: &'a mut [u8],
    scale: &'a mut [f32],
    zero: &'a mut [i32],
    outliers: &'a mut [(u32, f32)],
    outlier_count: &'a mut [u8],
    kp: usize,
}

impl RowBlock<'_> {
    /// Quantizes `x` as the block's row `r`.
    fn quantize(&mut self, r: usize, x: &[f32]) {
        let mut q = Quantized { scale: 1.0, zero: 0, outliers: 0 };
        quantize_row(x, &mut self.values[r * self.kp..][..x.len()], &mut self.outliers[r * MAX_OUTLIERS..][..MAX_OUTLIERS], &mut q);
        (self.scale[r], self.zero[r], self.outlier_count[r]) = (q.scale, q.zero, q.outliers as u8);
    }
}

/// What `quantize_row` found: x ≈ scale · (u − zero), and how many outliers it set aside.
struct Quantized {
    scale: f32,
    zero: i32,
    outliers: usize,
}

/// `bounds(x, ∞)` and the sum of the squares of `x`, in one pass of 16 lanes (summed lane by lane,
/// then the lanes in order, as `kernels::lane_sum` does).
#[inline(always)]
fn bounds_and_squares(x: &[f32]) -> (f32, f32, f32) {
    let (mut lo, mut hi, mut sq) = ([0f32; 16], [0f32; 16], [0f32; 16]);
    let chunks = x.chunks_exact(16);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..16 {
            let v = c[i];
            sq[i] += v * v;
            let v = if v.abs() < f32::INFINITY { v } else { 0.0 };
            lo[i] = if v < lo[i] { v } else { lo[i] };
            hi[i] = if v > hi[i] { v } else { hi[i] };
        }
    }
    let squares = sq.iter().sum::<f32>() + tail.iter().map(|v| v * v).sum::<f32>();
    let clipped = tail.iter().map(|&v| if v.abs() < f32::INFINITY { v } else { 0.0 });
    let lo = lo.into_iter().chain(clipped.clone()).fold(0f32, |a, v| if v < a { v } else { a });
    let hi = hi.into_iter().chain(clipped).fold(0f32, |a, v| if v > a { v } else { a });
    (lo, hi, squares)
}

/// The smallest and largest of 0 and the values of `x` whose magnitude is below `inside`, in
/// 16 lanes (comparisons written as selects compile to vminps and vmaxps, where f32::min and max
/// add NaN checks that stop that; a NaN fails `< inside` and counts as 0).
#[inline(always)]
fn bounds(x: &[f32], inside: f32) -> (f32, f32) {
    let (mut lo, mut hi) = ([0f32; 16], [0f32; 16]);
    let chunks = x.chunks_exact(16);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..16 {
            let v = if c[i].abs() < inside { c[i] } else { 0.0 };
            lo[i] = if v < lo[i] { v } else { lo[i] };
            hi[i] = if v > hi[i] { v } else { hi[i] };
        }
    }
    let clipped = tail.iter().map(|&v| if v.abs() < inside { v } else { 0.0 });
    let lo = lo.into_iter().chain(clipped.clone()).fold(0f32, |a, v| if v < a { v } else { a });
    let hi = hi.into_iter().chain(clipped).fold(0f32, |a, v| if v > a { v } else { a });
    (lo, hi)
}

/// One row to u8: its outliers (beyond OUTLIER_RMS root mean squares, the largest `outliers.len()`)
/// set aside as (input, value) and stored as zero; the rest over their own range, widened to hold
/// 0 (so zero is exact and the zero point a valid u8).
fn quantize_row(x: &[f32], u: &mut [u8], outliers: &mut [(u32, f32)], q: &mut Quantized) {
    #[inline(always)]
    fn body(x: &[f32], u: &mut [u8], outliers: &mut [(u32, f32)], q: &mut Quantized) {
        let (mut lo, mut hi, squares) = bounds_and_squares(x);
        let rms = (squares / x.len().max(1) as f32).sqrt();
        let cut = OUTLIER_RMS * rms;
        let mut n = 0;
        if lo.abs().max(hi) > cut {
            // Magnitudes compared as bits (the order of non-negative floats), 16 at a time, so the
            // scan vectorises; a block with a hit is looked at value by value.
            let cut_bits = cut.to_bits();
            for (b, block) in x.chunks(16).enumerate() {
                if !block.iter().fold(false, |hit, v| hit | ((v.to_bits() & 0x7fff_ffff) > cut_bits)) {
                    continue;
                }
                for (i, &v) in block.iter().enumerate() {
                    if v.abs() > cut && v.is_finite() {
                        let j = (b * 16 + i) as u32;
                        if n < outliers.len() {
                            outliers[n] = (j, v);
                            n += 1;
                        } else {
                            // Full: this one replaces the smallest kept if it is larger.
                            let (at, smallest) =
                                outliers.iter().enumerate().fold((0, f32::INFINITY), |b, (i, &(_, w))| if w.abs() < b.1 { (i, w.abs()) } else { b });
                            if v.abs() > smallest {
                                outliers[at] = (j, v);
                            }
                        }
                    }
                }
            }
        }
        if n > 0 {
            // The range again without them: values below the smallest outlier kept.
            let inside = outliers[..n].iter().fold(f32::INFINITY, |a, &(_, v)| a.min(v.abs()));
            (lo, hi) = bounds(x, inside);
        }
        let range = hi - lo;
        let s = if range > 0.0 && range.is_finite() { range / 255.0 } else { 1.0 };
        let zp = (-lo / s).round_ties_even().clamp(0.0, 255.0);
        let inv = 1.0 / s;
        // Rounded to nearest (ties to even) by adding 1.5 · 2^23, whose float spacing is 1: plain
        // arithmetic, so the loop vectorises (a float-to-u8 cast does not).
        const MAGIC: f32 = 12_582_912.0;
        for (q, &v) in u.iter_mut().zip(x) {
            let t = (v * inv + zp).clamp(0.0, 255.0) + MAGIC;
            *q = (t.to_bits() - MAGIC.to_bits()) as u8;
        }
        for &(j, _) in &outliers[..n] {
            u[j as usize] = zp as u8;
        }
        *q = Quantized { scale: s, zero: zp as i32, outliers: n };
    }
    super::kernels::multiversion!(body_simd => body(x: &[f32], u: &mut [u8], outliers: &mut [(u32, f32)], q: &mut Quantized));
    body_simd(x, u, outliers, q)
}

/// One output column's weights to i8 (symmetric, its largest magnitude at 127): returns the
/// scale and Σ q. Written to vectorise (selects for the maximum, rounding by adding 1.5 · 2^23):
/// quantizing is most of an int8 model's load.
fn quantize_weights(w: &[f32], q: &mut [i8]) -> (f32, i32) {
    #[inline(always)]
    fn body(w: &[f32], q: &mut [i8], out: &mut (f32, i32)) {
        let mut lanes = [0f32; 16];
        let chunks = w.chunks_exact(16);
        let mut amax = chunks.remainder().iter().fold(0f32, |m, v| if v.abs() > m { v.abs() } else { m });
        for c in chunks {
            for i in 0..16 {
                lanes[i] = if c[i].abs() > lanes[i] { c[i].abs() } else { lanes[i] };
            }
        }
        amax = lanes.iter().fold(amax, |m, &v| if v > m { v } else { m });
        let s = if amax > 0.0 && amax.is_finite() { amax / 127.0 } else { 1.0 };
        let inv = 1.0 / s;
        const MAGIC: f32 = 12_582_912.0;
        let mut sum = 0i32;
        for (q, &v) in q.iter_mut().zip(w) {
            let t = (v * inv).clamp(-127.0, 127.0) + MAGIC;
            let r = t.to_bits() as i32 - MAGIC.to_bits() as i32;
            *q = r as i8;
            sum += r;
        }
        *out = (s, sum);
    }
    super::kernels::multiversion!(body_simd => body(w: &[f32], q: &mut [i8], out: &mut (f32, i32)));
    let mut out = (1.0, 0);
    body_simd(w, q, &mut out);
    out
}

/// out += v · w (an outlier's contribution to a row of outputs).
fn add_scaled(out: &mut [f32], v: f32, w: &[f32]) {
    #[inline(always)]
    fn body(out: &mut [f32], v: f32, w: &[f32]) {
        for (o, w) in out.iter_mut().zip(w) {
            *o += v * w;
        }
    }
    super::kernels::multiversion!(body_simd => body(out: &mut [f32], v: f32, w: &[f32]));
    body_simd(out, v, w)
}

/// The f32 weights of a dense layer (n rows of k, `Linear` layout), read where they lie: in the
/// memory-mapped weights file (the page cache's copy, nothing allocated), as one matrix or as
/// several stacked (query, key and value are one product), or in memory when the file's layout
/// does not allow that (another dtype, an unaligned offset).
pub struct F32Rows {
    source: RowsSource,
    n: usize,
    k: usize,
}

enum RowsSource {
    /// Byte ranges of the map, each a matrix of k columns, stacked.
    Mapped(std::sync::Arc<memmap2::Mmap>, Vec<std::ops::Range<usize>>),
    Owned(Vec<f32>),
}

impl F32Rows {
    /// Matrices of `k` columns in `map` at byte `ranges` (little-endian f32), stacked; None where
    /// a range is not whole rows of aligned f32s within the map (or on a big-endian machine).
    pub fn mapped(map: std::sync::Arc<memmap2::Mmap>, ranges: Vec<std::ops::Range<usize>>, k: usize) -> Option<F32Rows> {
        let fits = |r: &std::ops::Range<usize>| {
            r.end <= map.len()
                && r.start <= r.end
                && (r.end - r.start).is_multiple_of(4 * k.max(1))
                && bytemuck::try_cast_slice::<u8, f32>(&map[r.clone()]).is_ok()
        };
        if cfg!(target_endian = "big") || k == 0 || !ranges.iter().all(fits) {
            return None;
        }
        let n = ranges.iter().map(|r| (r.end - r.start) / (4 * k)).sum();
        Some(F32Rows { source: RowsSource::Mapped(map, ranges), n, k })
    }

    /// n rows of k in memory.
    pub fn owned(values: Vec<f32>, n: usize, k: usize) -> F32Rows {
        assert_eq!(values.len(), n * k, "weights of {n} × {k}");
        F32Rows { source: RowsSource::Owned(values), n, k }
    }

    /// Rows (output columns).
    pub fn rows(&self) -> usize {
        self.n
    }

    /// The stacked matrices, each as its rows one after another.
    fn parts(&self) -> Vec<&[f32]> {
        match &self.source {
            RowsSource::Owned(v) => vec![v],
            // Alignment and bounds were checked when the ranges were accepted.
            RowsSource::Mapped(map, ranges) => ranges.iter().map(|r| bytemuck::cast_slice(&map[r.clone()])).collect(),
        }
    }

    /// Row c (output column c's weights).
    fn row(&self, mut c: usize) -> &[f32] {
        let k = self.k;
        match &self.source {
            RowsSource::Owned(v) => &v[c * k..(c + 1) * k],
            RowsSource::Mapped(map, ranges) => {
                for r in ranges {
                    let rows = (r.end - r.start) / (4 * k);
                    if c < rows {
                        let at = r.start + c * 4 * k;
                        // Alignment and bounds were checked when the ranges were accepted.
                        return bytemuck::cast_slice(&map[at..at + 4 * k]);
                    }
                    c -= rows;
                }
                panic!("row past the weights")
            }
        }
    }
}

/// Where a unit's f32 values are written: a row of an output being made (not yet initialised,
/// see `written`) or of a scratch block.
trait Slot {
    fn set(&mut self, v: f32);
}

impl Slot for f32 {
    #[inline(always)]
    fn set(&mut self, v: f32) {
        *self = v
    }
}

impl Slot for std::mem::MaybeUninit<f32> {
    #[inline(always)]
    fn set(&mut self, v: f32) {
        self.write(v);
    }
}

/// Writes the f32 values of `dense`'s unit (`b`, `u`) into `out` (the rows' outliers are added after):
/// rows of width `stride` from row block `b`'s first row, column c at `c - origin`, clipped to m
/// and n. Returns how many values it wrote. Per value: y = (Σ u·q − zp · Σ q) · s · scale.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dequantize<T: Slot>(acc: &[i32; UNIT], dense: &Int8Dense, rows: &Activations, b: usize, u: usize, out: &mut [T], stride: usize, origin: usize) -> usize {
    let first = u * UNIT_COLS;
    let width = UNIT_COLS.min(dense.n - first);
    // Padded to whole units (zero sums, scale 1), so every row below is UNIT_COLS wide.
    let colsum: &[i32; UNIT_COLS] = dense.colsum[first..first + UNIT_COLS].try_into().expect("a unit of columns");
    let scale: &[f32; UNIT_COLS] = dense.scale[first..first + UNIT_COLS].try_into().expect("a unit of columns");
    let block_rows = UNIT_ROWS.min(rows.m - b * UNIT_ROWS);
    for r in 0..block_rows {
        let row = b * UNIT_ROWS + r;
        let (s, zp) = (rows.scale[row], rows.zero[row]);
        let sums: &[i32; UNIT_COLS] = acc[r * UNIT_COLS..(r + 1) * UNIT_COLS].try_into().expect("a unit row");
        let mut y = [0f32; UNIT_COLS];
        for c in 0..UNIT_COLS {
            y[c] = (sums[c] - zp * colsum[c]) as f32 * (s * scale[c]);
        }
        let dst = &mut out[r * stride + first - origin..];
        if width == UNIT_COLS {
            let dst: &mut [T; UNIT_COLS] = (&mut dst[..UNIT_COLS]).try_into().expect("a unit row");
            for c in 0..UNIT_COLS {
                dst[c].set(y[c]);
            }
        } else {
            for (d, &v) in dst[..width].iter_mut().zip(&y) {
                d.set(v);
            }
        }
    }
    block_rows * width
}

/// `dequantize` into f32s (a scratch block, a question's part), compiled per instruction set.
#[allow(clippy::too_many_arguments)]
fn dequantize_into(acc: &[i32; UNIT], dense: &Int8Dense, rows: &Activations, b: usize, u: usize, out: &mut [f32], stride: usize, origin: usize) -> usize {
    super::kernels::multiversion!(simd => dequantize(acc: &[i32; UNIT], dense: &Int8Dense, rows: &Activations, b: usize, u: usize, out: &mut [f32], stride: usize, origin: usize) -> usize);
    simd(acc, dense, rows, b, u, out, stride, origin)
}

/// `dequantize` into an output being made (`written`), compiled per instruction set.
#[allow(clippy::too_many_arguments)]
fn dequantize_new(
    acc: &[i32; UNIT],
    dense: &Int8Dense,
    rows: &Activations,
    b: usize,
    u: usize,
    out: &mut [std::mem::MaybeUninit<f32>],
    stride: usize,
    origin: usize,
) -> usize {
    super::kernels::multiversion!(simd => dequantize(acc: &[i32; UNIT], dense: &Int8Dense, rows: &Activations, b: usize, u: usize, out: &mut [std::mem::MaybeUninit<f32>], stride: usize, origin: usize) -> usize);
    simd(acc, dense, rows, b, u, out, stride, origin)
}

/// Runs `f` with AMX's tiles configured on this thread when the path is AMX (tile registers are
/// per thread; every tile used here is 16 rows × 64 bytes), and releases them after. Every run
/// of the unit kernels is inside one, so this is where the path is checked against the CPU,
/// whoever chose it.
fn with_tiles(path: Int8Path, f: impl FnOnce()) {
    assert!(crate::cpu::int8_supported(path), "{path:?} is not available on this CPU");
    if path == Int8Path::Amx {
        kernels::amx::configure();
        f();
        kernels::amx::release();
    } else {
        f()
    }
}

impl CustomOp1 for Int8Dense {
    fn name(&self) -> &'static str {
        "int8-dense"
    }

    fn cpu_fwd(&self, x: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(v) = x else { bail!("int8-dense: expected f32 values, got {:?}", x.dtype()) };
        let Some((a, b)) = l.contiguous_offsets() else { bail!("int8-dense: expected a contiguous tensor") };
        let (m, k) = l.shape().dims2()?;
        if k != self.k {
            bail!("int8-dense: ({m} × {k}) by ({} × {})ᵀ", self.n, self.k);
        }
        Ok((CpuStorage::F32(self.forward(&v[a..b], m)), Shape::from((m, self.n))))
    }
}

/// BERT's feed-forward block up to its residual: (GELU(x · w₁ᵀ + bias) · w₂ᵀ), x (m × h) → (m × h),
/// with no second bias (the residual pass adds it). Its intermediate (m × 4h) exists only in 8
/// bits (`Int8Dense::product_gelu`). Arguments: x, and the first product's bias.
pub struct Int8FeedForward<'a> {
    pub inter: &'a Int8Dense,
    pub out: &'a Int8Dense,
}

impl CustomOp2 for Int8FeedForward<'_> {
    fn name(&self) -> &'static str {
        "int8-feed-forward"
    }

    fn cpu_fwd(&self, x: &CpuStorage, xl: &Layout, bias: &CpuStorage, bl: &Layout) -> Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(x), CpuStorage::F32(bias)) = (x, bias) else { bail!("int8-feed-forward: expected f32 values") };
        let (Some((a, b)), Some((c, d))) = (xl.contiguous_offsets(), bl.contiguous_offsets()) else { bail!("int8-feed-forward: expected contiguous tensors") };
        let (m, k) = xl.shape().dims2()?;
        if k != self.inter.k || d - c != self.inter.n || self.out.k != self.inter.n {
            bail!("int8-feed-forward: ({m} × {k}) through ({} × {}) and ({} × {})", self.inter.n, self.inter.k, self.out.n, self.out.k);
        }
        let path = int8_path();
        let rows = Activations::quantize(&x[a..b], m, k, self.inter.kp);
        let inter = self.inter.product_gelu(path, &rows, &bias[c..d], self.out);
        Ok((CpuStorage::F32(self.out.product(path, &inter)), Shape::from((m, self.out.n))))
    }
}

/// The unit products: a (UNIT_ROWS × kp, u8) by two packed blocks (UNIT_COLS columns) into
/// acc (UNIT_ROWS × UNIT_COLS, i32), one function per instruction set.
mod kernels {
    use super::{BLOCK, GROUP, UNIT, UNIT_COLS, UNIT_ROWS};
    use crate::cpu::Int8Path;

    /// One unit's activations (UNIT_ROWS × kp) and packed weights (UNIT_COLS × kp): bytes, or
    /// both widened to i16 in the same order (what AVX2's kernel multiplies).
    pub enum Operands<'a> {
        Bytes(&'a [u8], &'a [i8]),
        Wide(&'a [i16], &'a [i16]),
    }

    /// `path` must be one this CPU has (`crate::cpu::int8_supported`) and, for AMX, the tiles
    /// configured on this thread (`super::with_tiles`, which also checks the path); every call is
    /// inside one. Widened operands are AVX2's only.
    pub fn unit(path: Int8Path, operands: Operands, kp: usize, acc: &mut [i32; UNIT]) {
        let (a_len, w_len) = match operands {
            Operands::Bytes(a, w) => (a.len(), w.len()),
            Operands::Wide(a, w) => (a.len(), w.len()),
        };
        assert!(a_len == UNIT_ROWS * kp && w_len == UNIT_COLS * kp && kp.is_multiple_of(super::K_ALIGN));
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the slices hold exactly one unit (asserted above), so every load and store of
        // the kernels is in bounds; the CPU has the path's instructions (the caller's contract,
        // checked by with_tiles), and AMX's tiles are configured (with_tiles).
        unsafe {
            match (path, &operands) {
                (Int8Path::Amx, Operands::Bytes(a, w)) => return amx::unit(a.as_ptr(), w.as_ptr(), kp, acc),
                (Int8Path::Avx512Vnni, Operands::Bytes(a, w)) => return x86::unit_vnni512(a, w, kp, acc),
                (Int8Path::AvxVnni, Operands::Bytes(a, w)) => return x86::unit_avx_vnni(a, w, kp, acc),
                (Int8Path::Avx2, Operands::Wide(a, w)) => return x86::unit_avx2(a, w, kp, acc),
                _ => {}
            }
        }
        // (Elsewhere than x86-64 every path is the plain one.)
        let _ = path;
        match operands {
            Operands::Bytes(a, w) => plain(a, w, kp, acc),
            Operands::Wide(..) => panic!("16-bit operands are for AVX2's kernel, not {path:?}'s"),
        }
    }

    /// The reference every other path is tested against.
    fn plain(a: &[u8], w: &[i8], kp: usize, acc: &mut [i32; UNIT]) {
        let groups = kp / GROUP;
        for r in 0..UNIT_ROWS {
            let row = &a[r * kp..(r + 1) * kp];
            for c in 0..UNIT_COLS {
                let block = &w[(c / BLOCK) * BLOCK * kp..];
                let mut sum = 0i32;
                for g in 0..groups {
                    let q = &block[g * BLOCK * GROUP + (c % BLOCK) * GROUP..][..GROUP];
                    for t in 0..GROUP {
                        sum += row[g * GROUP + t] as i32 * q[t] as i32;
                    }
                }
                acc[r * UNIT_COLS + c] = sum;
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    mod x86 {
        use super::{BLOCK, GROUP, UNIT, UNIT_COLS, UNIT_ROWS};
        use std::arch::x86_64::*;

        /// Four u8 of row `r` at group `g`, as one i32 (what vpdpbusd broadcasts).
        #[inline(always)]
        unsafe fn four(a: &[u8], kp: usize, r: usize, g: usize) -> i32 {
            (a.as_ptr().add(r * kp + g * GROUP) as *const i32).read_unaligned()
        }

        /// 8 rows × 32 columns at a time: 16 accumulators, 2 weight loads and 8 broadcasts per
        /// 16 `vpdpbusd` (each 64 multiplies).
        #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
        pub unsafe fn unit_vnni512(a: &[u8], w: &[i8], kp: usize, acc: &mut [i32; UNIT]) {
            const R: usize = 8;
            let (w0, w1) = (w.as_ptr(), w.as_ptr().add(BLOCK * kp));
            for r0 in (0..UNIT_ROWS).step_by(R) {
                let mut c = [[_mm512_setzero_si512(); 2]; R];
                for g in 0..kp / GROUP {
                    let b0 = _mm512_loadu_si512(w0.add(g * 64) as *const __m512i);
                    let b1 = _mm512_loadu_si512(w1.add(g * 64) as *const __m512i);
                    for (r, c) in c.iter_mut().enumerate() {
                        let x = _mm512_set1_epi32(four(a, kp, r0 + r, g));
                        c[0] = _mm512_dpbusd_epi32(c[0], x, b0);
                        c[1] = _mm512_dpbusd_epi32(c[1], x, b1);
                    }
                }
                for (r, c) in c.iter().enumerate() {
                    let out = acc.as_mut_ptr().add((r0 + r) * UNIT_COLS);
                    _mm512_storeu_si512(out as *mut __m512i, c[0]);
                    _mm512_storeu_si512(out.add(BLOCK) as *mut __m512i, c[1]);
                }
            }
        }

        /// AVX-VNNI (16 registers of 256 bits): 2 rows × 32 columns at a time.
        #[target_feature(enable = "avx2,avxvnni")]
        pub unsafe fn unit_avx_vnni(a: &[u8], w: &[i8], kp: usize, acc: &mut [i32; UNIT]) {
            const R: usize = 2;
            let (w0, w1) = (w.as_ptr(), w.as_ptr().add(BLOCK * kp));
            for r0 in (0..UNIT_ROWS).step_by(R) {
                let mut c = [[_mm256_setzero_si256(); 4]; R];
                for g in 0..kp / GROUP {
                    let b = [
                        _mm256_loadu_si256(w0.add(g * 64) as *const __m256i),
                        _mm256_loadu_si256(w0.add(g * 64 + 32) as *const __m256i),
                        _mm256_loadu_si256(w1.add(g * 64) as *const __m256i),
                        _mm256_loadu_si256(w1.add(g * 64 + 32) as *const __m256i),
                    ];
                    for (r, c) in c.iter_mut().enumerate() {
                        let x = _mm256_set1_epi32(four(a, kp, r0 + r, g));
                        for q in 0..4 {
                            c[q] = _mm256_dpbusd_avx_epi32(c[q], x, b[q]);
                        }
                    }
                }
                for (r, c) in c.iter().enumerate() {
                    for (q, v) in c.iter().enumerate() {
                        _mm256_storeu_si256(acc.as_mut_ptr().add((r0 + r) * UNIT_COLS + q * 8) as *mut __m256i, *v);
                    }
                }
            }
        }

        /// AVX2 without VNNI: weights and activations widened to 16 bits (`Operands::Wide`) and
        /// multiplied pairwise (`vpmaddwd`), which is exact where `vpmaddubsw` would saturate at
        /// 2 · 255 · 127; so the inner loop is loads, `vpmaddwd` and `vpaddd` only (widening in
        /// it, a `vpmovsxbw` per weight vector every two rows and a `vpmovzxbw` per row, put a
        /// third more instructions on the one port that does them). Each i32 lane holds one
        /// column's sum over half of a group (4 inputs of 4 columns by the row's 4 inputs,
        /// broadcast); the halves are added at the end.
        #[target_feature(enable = "avx2")]
        pub unsafe fn unit_avx2(a: &[i16], w: &[i16], kp: usize, acc: &mut [i32; UNIT]) {
            const R: usize = 2;
            for blk in 0..2 {
                let wb = w.as_ptr().add(blk * BLOCK * kp);
                for r0 in (0..UNIT_ROWS).step_by(R) {
                    // c[r][q]: columns 4q..4q+3 of this block, two lanes each.
                    let mut c = [[_mm256_setzero_si256(); 4]; R];
                    for g in 0..kp / GROUP {
                        let mut b = [_mm256_setzero_si256(); 4];
                        for (q, b) in b.iter_mut().enumerate() {
                            *b = _mm256_loadu_si256(wb.add(g * 64 + q * 16) as *const __m256i);
                        }
                        for (r, c) in c.iter_mut().enumerate() {
                            let x = _mm256_set1_epi64x((a.as_ptr().add((r0 + r) * kp + g * GROUP) as *const i64).read_unaligned());
                            for q in 0..4 {
                                c[q] = _mm256_add_epi32(c[q], _mm256_madd_epi16(b[q], x));
                            }
                        }
                    }
                    for (r, c) in c.iter().enumerate() {
                        for (q, v) in c.iter().enumerate() {
                            let mut lanes = [0i32; 8];
                            _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, *v);
                            for j in 0..4 {
                                acc[(r0 + r) * UNIT_COLS + blk * BLOCK + q * 4 + j] = lanes[2 * j] + lanes[2 * j + 1];
                            }
                        }
                    }
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    pub mod amx {
        use super::{BLOCK, GROUP, UNIT, UNIT_COLS, UNIT_ROWS};
        use std::arch::asm;

        // The unit below is two tiles of 16 rows by two of 16 columns.
        const _: () = assert!(UNIT_ROWS == 32 && UNIT_COLS == 2 * BLOCK && BLOCK == 16);

        /// The tile configuration (palette 1): tiles 0–7 all 16 rows × 64 bytes.
        #[repr(C, align(64))]
        struct Config {
            palette: u8,
            start_row: u8,
            reserved: [u8; 14],
            bytes_per_row: [u16; 16],
            rows: [u8; 16],
        }

        const CONFIG: Config = Config {
            palette: 1,
            start_row: 0,
            reserved: [0; 14],
            bytes_per_row: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0],
            rows: [16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0],
        };

        /// Loads the tile configuration on this thread. Only called where `cpu::int8_path()` is
        /// AMX, which it is only when the CPU has AMX and Linux granted this process its tiles.
        pub fn configure() {
            // SAFETY: ldtilecfg reads the 64-byte CONFIG (valid for palette 1); the CPU has AMX
            // and the OS allows it (the only way the AMX path is chosen).
            unsafe { asm!("ldtilecfg [{0}]", in(reg) &CONFIG, options(nostack, readonly)) }
        }

        /// Returns the tiles to their initial state (a thread switch then saves no tile data).
        pub fn release() {
            // SAFETY: as for configure.
            unsafe { asm!("tilerelease", options(nostack, nomem)) }
        }

        /// C (32 × 32 i32, four tiles: tmm0–3) += A (32 rows of u8: tmm4, tmm5) · B (two blocks:
        /// tmm6, tmm7), 64 inputs per step. A tile of B is 16 groups of 4 inputs × 16 columns:
        /// 16 consecutive 64-byte groups of a packed block.
        ///
        /// # Safety
        /// `a` points at UNIT_ROWS rows of `kp` bytes, `w` at two packed blocks of `BLOCK · kp`
        /// bytes, kp a multiple of 64, and the tiles are configured (`configure`) on this thread.
        pub unsafe fn unit(a: *const u8, w: *const i8, kp: usize, acc: &mut [i32; UNIT]) {
            let w1 = w.add(BLOCK * kp);
            asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3", options(nostack, nomem));
            for s in 0..kp / 64 {
                asm!(
                    "tileloadd tmm4, [{a0} + {sa}*1]",
                    "tileloadd tmm5, [{a1} + {sa}*1]",
                    "tileloadd tmm6, [{b0} + {sb}*1]",
                    "tileloadd tmm7, [{b1} + {sb}*1]",
                    "tdpbusd tmm0, tmm4, tmm6",
                    "tdpbusd tmm1, tmm4, tmm7",
                    "tdpbusd tmm2, tmm5, tmm6",
                    "tdpbusd tmm3, tmm5, tmm7",
                    a0 = in(reg) a.add(s * 64),
                    a1 = in(reg) a.add(16 * kp + s * 64),
                    sa = in(reg) kp,
                    b0 = in(reg) w.add(s * 16 * BLOCK * GROUP),
                    b1 = in(reg) w1.add(s * 16 * BLOCK * GROUP),
                    sb = in(reg) BLOCK * GROUP,
                    options(nostack, readonly),
                );
            }
            let c = acc.as_mut_ptr();
            asm!(
                "tilestored [{c00} + {sc}*1], tmm0",
                "tilestored [{c01} + {sc}*1], tmm1",
                "tilestored [{c10} + {sc}*1], tmm2",
                "tilestored [{c11} + {sc}*1], tmm3",
                c00 = in(reg) c,
                c01 = in(reg) c.add(BLOCK),
                c10 = in(reg) c.add(16 * UNIT_COLS),
                c11 = in(reg) c.add(16 * UNIT_COLS + BLOCK),
                sc = in(reg) UNIT_COLS * 4,
                options(nostack),
            );
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub mod amx {
        pub fn configure() {}
        pub fn release() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic spread of values with a few large ones, as BERT's activations have.
    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).max(1);
        (0..n)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                let v = (s % 20_001) as f32 / 10_000.0 - 1.0;
                if i % 97 == 5 {
                    v * 8.0
                } else {
                    v
                }
            })
            .collect()
    }

    /// Every path this CPU has computes the same values as the plain one, for shapes that are and
    /// are not whole units; and they are close to the f32 product.
    #[test]
    fn every_path_gives_the_plain_paths_values_close_to_f32() {
        for (m, n, k) in [(1usize, 384usize, 384usize), (7, 40, 70), (33, 1536, 384), (70, 384, 1536), (130, 96, 128)] {
            let w = values(n * k, 7 + n as u32);
            let x = values(m * k, 3 + m as u32);
            let dense = Int8Dense::quantize(F32Rows::owned(w.clone(), n, k));
            let plain = dense.forward_on(Int8Path::Base, &x, m);
            for path in [Int8Path::Avx2, Int8Path::AvxVnni, Int8Path::Avx512Vnni, Int8Path::Amx] {
                if crate::cpu::int8_supported(path) {
                    assert_eq!(dense.forward_on(path, &x, m), plain, "{path:?} at {m} × {n} × {k}");
                }
            }
            // Against f32: the error of 8-bit rounding on both sides, relative to the row's scale.
            for r in 0..m {
                let row = &x[r * k..(r + 1) * k];
                for c in 0..n {
                    let exact: f32 = row.iter().zip(&w[c * k..(c + 1) * k]).map(|(a, b)| a * b).sum();
                    let bound: f32 = row.iter().zip(&w[c * k..(c + 1) * k]).map(|(a, b)| a.abs() * b.abs()).sum::<f32>() * 0.02 + 1e-3;
                    let got = plain[r * n + c];
                    assert!((got - exact).abs() <= bound, "({r}, {c}) of {m} × {n} × {k}: {got} vs {exact}");
                }
            }
        }
    }

    /// Weights read from a mapped file as stacked matrices (query, key, value) give the same
    /// products as the same weights in memory, outliers included (their columns are gathered
    /// across the parts).
    #[test]
    fn stacked_mapped_weights_give_the_same_products() {
        let (m, n, k) = (40usize, 96usize, 64usize);
        let w = values(n * k, 11);
        let x = values(m * k, 5);
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &[&[0u8; 16][..], bytemuck::cast_slice(&w)].concat()).unwrap();
        // SAFETY: a private temporary file nothing else writes.
        let map = std::sync::Arc::new(unsafe { memmap2::Mmap::map(&file) }.unwrap());
        let cut = |rows: usize| 16 + rows * k * 4;
        let parts = vec![cut(0)..cut(32), cut(32)..cut(64), cut(64)..cut(96)];
        let mapped = Int8Dense::quantize(F32Rows::mapped(map.clone(), parts, k).unwrap());
        let owned = Int8Dense::quantize(F32Rows::owned(w, n, k));
        let rows = Activations::quantize(&x, m, k, owned.kp);
        assert!((0..m).any(|r| !rows.outliers(r).is_empty()), "the test needs outliers");
        let first = mapped.forward_on(Int8Path::Base, &x, m);
        assert_eq!(first, owned.forward_on(Int8Path::Base, &x, m));
        // The second product reads the outliers' columns kept from the first: the same values.
        assert!(mapped.columns.iter().any(|c| c.get().is_some()), "columns are kept");
        assert_eq!(mapped.forward_on(Int8Path::Base, &x, m), first);
        // A range that is not whole rows is refused (the caller then loads the weights).
        let ragged = 16..16 + k * 4 + 2;
        assert!(F32Rows::mapped(map, vec![ragged], k).is_none());
    }

    /// The fused feed-forward op gives exactly what its steps give one after another: the first
    /// product, bias + GELU over the f32 matrix, quantizing it, the second product. For a batch
    /// (one task per row block, the intermediate made a block at a time) and for a few rows (the
    /// columns split); outliers on both products.
    #[test]
    fn the_feed_forward_op_equals_its_steps_in_turn() {
        use candle_core::{Device, Tensor};
        let (h, wide) = (64usize, 160usize);
        let inter = Int8Dense::quantize(F32Rows::owned(values(wide * h, 21), wide, h));
        let out = Int8Dense::quantize(F32Rows::owned(values(h * wide, 22), h, wide));
        let bias: Vec<f32> = values(wide, 23).iter().map(|v| v * 0.5).collect();
        let batch = 2 * rayon::current_num_threads() * UNIT_ROWS + 7;
        for m in [3usize, batch] {
            let x = values(m * h, 24 + m as u32);
            let rows = Activations::quantize(&x, m, h, inter.kp);
            assert!((0..m).any(|r| !rows.outliers(r).is_empty()), "the test needs outliers");
            let mut y = inter.forward(&x, m);
            super::super::kernels::bias_gelu(&mut y, &bias);
            let want = out.forward(&y, m);
            let x = Tensor::from_vec(x, (m, h), &Device::Cpu).unwrap();
            let bias = Tensor::from_vec(bias.clone(), wide, &Device::Cpu).unwrap();
            let got = x.apply_op2_no_bwd(&bias, &Int8FeedForward { inter: &inter, out: &out }).unwrap();
            assert_eq!(got.dims(), [m, h]);
            assert_eq!(got.flatten_all().unwrap().to_vec1::<f32>().unwrap(), want, "{m} rows");
        }
        // Shapes that do not chain are refused with an error, not a panic.
        let x = Tensor::zeros((4, h + 1), candle_core::DType::F32, &Device::Cpu).unwrap();
        let bias = Tensor::zeros(wide, candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(x.apply_op2_no_bwd(&bias, &Int8FeedForward { inter: &inter, out: &out }).is_err());
    }

    #[test]
    fn a_row_quantizes_to_its_own_range_with_zero_exact_and_outliers_aside() {
        let quantize = |x: &[f32]| {
            let mut u = vec![0u8; x.len()];
            let mut out = [(0u32, 0f32); MAX_OUTLIERS];
            let mut q = Quantized { scale: 0.0, zero: -1, outliers: 0 };
            quantize_row(x, &mut u, &mut out, &mut q);
            (u, out[..q.outliers].to_vec(), q)
        };
        let (u, out, q) = quantize(&[-1.0, 0.0, 0.5, 3.0]);
        assert!((q.scale - 4.0 / 255.0).abs() < 1e-7 && out.is_empty());
        assert_eq!(u[1] as i32, q.zero);
        assert_eq!((u[0], u[3]), (0, 255));
        let (u, _, q) = quantize(&[0.0; 5]);
        assert_eq!((q.scale, q.zero, u), (1.0, 0, vec![0; 5]));
        // 1000 values in ±1 and two far beyond: those two are set aside.
        let mut x: Vec<f32> = (0..1000).map(|i| (i as f32 / 500.0) - 1.0).collect();
        x[10] = 40.0;
        x[70] = -25.0;
        let (u, out, q) = quantize(&x);
        assert_eq!(out, [(10, 40.0), (70, -25.0)]);
        assert_eq!((u[10] as i32, u[70] as i32), (q.zero, q.zero));
        assert!((q.scale - 1.998 / 255.0).abs() < 1e-6, "{}", q.scale);
        // More outliers than room: the largest are kept.
        let mut x = vec![0.01f32; 1000];
        for i in 0..20 {
            x[i * 7] = 50.0 + i as f32;
        }
        let (_, out, _) = quantize(&x);
        let mut kept: Vec<u32> = out.iter().map(|o| o.0).collect();
        kept.sort();
        assert_eq!(kept, (12..20).map(|i| i * 7).collect::<Vec<u32>>());
    }
}
