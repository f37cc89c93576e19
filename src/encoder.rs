//! A BERT encoder for inference on the CPU, written for throughput.
//!
//! candle's `BertModel` pads every batch to its longest text, runs each step as a separate tensor
//! op (each allocating its output), computes softmax from generic ops and GELU with scalar `erff`.
//! Here the tokens of all texts in a batch are packed into one matrix with no padding at all: the
//! dense layers (QKV, output, feed-forward) are single large matrix products over every token, and
//! attention runs per (text, head) on its own slice, so no padding and no mask exist. Matrix products
//! go through `gemm` (candle's own CPU backend, with its AVX-512 kernels chosen at run time); bias,
//! GELU, softmax, residual and LayerNorm are fused passes over rows, parallel over two cores.
//! The weights are used in place from the memory-mapped safetensors file (the format candle reads),
//! and candle's `BertModel` remains the reference this is tested against (tests/parity.rs).

#[cfg(target_arch = "x86_64")]
use crate::cpu::{simd, Simd};
use anyhow::{bail, Context, Result};
use gemm::{gemm, Parallelism};
use memmap2::Mmap;
use rayon::prelude::*;
use safetensors::{Dtype, SafeTensors};
use std::path::Path;
use std::sync::Arc;

/// A weight tensor: a slice of the mapped weights file, or an owned copy.
enum Buf {
    Mapped(Arc<Mmap>, usize, usize),
    Owned(Vec<f32>),
}

impl std::ops::Deref for Buf {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match self {
            Buf::Mapped(map, off, len) => bytemuck::cast_slice(&map[*off..*off + len * 4]),
            Buf::Owned(v) => v,
        }
    }
}

struct Layer {
    /// Query, key and value weights stacked: (3H × H), PyTorch `Linear` layout (out × in).
    wqkv: Buf,
    bqkv: Buf,
    wo: Buf,
    bo: Buf,
    ln1_g: Buf,
    ln1_b: Buf,
    wi: Buf,
    bi: Buf,
    wo2: Buf,
    bo2: Buf,
    ln2_g: Buf,
    ln2_b: Buf,
}

pub struct Encoder {
    hidden: usize,
    heads: usize,
    inter: usize,
    eps: f32,
    max_positions: usize,
    word: WordTable,
    pos: Buf,
    type0: Buf,
    emb_g: Buf,
    emb_b: Buf,
    layers: Vec<Layer>,
    threads: usize,
}

/// The word-embedding table, read a row at a time from the weights file rather than through the
/// map: it is half the model (30k rows × 384 floats) and a text uses a few dozen rows, but through
/// the map the kernel would bring in (and count as resident) whole 2 MB blocks of it per row read.
struct WordTable {
    file: std::fs::File,
    /// Byte offset of row 0 in the file.
    offset: u64,
    rows: usize,
}

impl WordTable {
    fn read_row(&self, id: usize, out: &mut [f32]) -> std::io::Result<()> {
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(out);
        let at = self.offset + (id * bytes.len()) as u64;
        #[cfg(unix)]
        std::os::unix::fs::FileExt::read_exact_at(&self.file, bytes, at)?;
        #[cfg(windows)]
        {
            let mut done = 0;
            while done < bytes.len() {
                match std::os::windows::fs::FileExt::seek_read(&self.file, &mut bytes[done..], at + done as u64)? {
                    0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                    got => done += got,
                }
            }
        }
        // safetensors stores little-endian; on a big-endian machine the bytes need turning around.
        if cfg!(target_endian = "big") {
            out.iter_mut().for_each(|v| *v = f32::from_bits(u32::from_le(v.to_bits())));
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct SyncPtr(*mut f32);
// SAFETY: used only to let parallel tasks write disjoint regions of one buffer.
unsafe impl Send for SyncPtr {}
unsafe impl Sync for SyncPtr {}

impl Encoder {
    pub fn load(weights: &Path, config: &serde_json::Value) -> Result<Encoder> {
        let get = |k: &str| config[k].as_u64().map(|v| v as usize).with_context(|| format!("config.json has no {k}"));
        let hidden = get("hidden_size")?;
        let heads = get("num_attention_heads")?;
        let inter = get("intermediate_size")?;
        let n_layers = get("num_hidden_layers")?;
        let max_positions = get("max_position_embeddings")?;
        let eps = config["layer_norm_eps"].as_f64().unwrap_or(1e-12) as f32;
        if config["hidden_act"].as_str().unwrap_or("gelu") != "gelu" {
            bail!("only BERT models with exact (erf) GELU are supported by the fast encoder");
        }
        if hidden % heads != 0 {
            bail!("hidden_size {hidden} is not a multiple of num_attention_heads {heads}");
        }
        let file = std::fs::File::open(weights).with_context(|| format!("cannot open {}", weights.display()))?;
        // SAFETY: read-only map of a file semsearch never writes while it is mapped (the model cache
        // is replaced by rename, never rewritten in place).
        let map = Arc::new(unsafe { Mmap::map(&file) }.with_context(|| format!("cannot map {}", weights.display()))?);
        let st = SafeTensors::deserialize(&map[..]).with_context(|| format!("{}: not a safetensors file", weights.display()))?;
        let prefix = if st.tensor("embeddings.word_embeddings.weight").is_ok() { "" } else { "bert." };
        let load = |name: &str, len: usize| -> Result<Buf> {
            let full = format!("{prefix}{name}");
            let view = st.tensor(&full).with_context(|| format!("{}: no tensor {full}", weights.display()))?;
            if view.dtype() != Dtype::F32 {
                bail!("{}: tensor {full} is {:?}; the fast encoder reads f32 weights (SEMSEARCH_ENGINE=candle reads others)", weights.display(), view.dtype());
            }
            let data = view.data();
            if data.len() != len * 4 {
                bail!("{}: tensor {full} has {} values, expected {len}", weights.display(), data.len() / 4);
            }
            // Weights are used in place from the mapped file (pages come from the page cache and are
            // shared between processes), unless the file leaves them misaligned for f32.
            let off = data.as_ptr() as usize - map.as_ptr() as usize;
            Ok(if data.as_ptr() as usize % 4 == 0 {
                Buf::Mapped(map.clone(), off, len)
            } else {
                Buf::Owned(bytemuck::pod_collect_to_vec(data))
            })
        };
        let vocab = get("vocab_size")?;
        let word = match load("embeddings.word_embeddings.weight", vocab * hidden)? {
            Buf::Mapped(_, off, _) => WordTable { file: file.try_clone()?, offset: off as u64, rows: vocab },
            Buf::Owned(_) => bail!("{}: the word embeddings are not 4-byte aligned in the file", weights.display()),
        };
        let pos = load("embeddings.position_embeddings.weight", max_positions * hidden)?;
        let types = load("embeddings.token_type_embeddings.weight", get("type_vocab_size")? * hidden)?;
        let mut layers = Vec::with_capacity(n_layers);
        for i in 0..n_layers {
            let p = format!("encoder.layer.{i}");
            let hh = hidden * hidden;
            // Query, key and value stacked into one matrix so they are one product.
            let mut wqkv = load(&format!("{p}.attention.self.query.weight"), hh)?.to_vec();
            wqkv.extend_from_slice(&load(&format!("{p}.attention.self.key.weight"), hh)?);
            wqkv.extend_from_slice(&load(&format!("{p}.attention.self.value.weight"), hh)?);
            let mut bqkv = load(&format!("{p}.attention.self.query.bias"), hidden)?.to_vec();
            bqkv.extend_from_slice(&load(&format!("{p}.attention.self.key.bias"), hidden)?);
            bqkv.extend_from_slice(&load(&format!("{p}.attention.self.value.bias"), hidden)?);
            layers.push(Layer {
                wqkv: Buf::Owned(wqkv),
                bqkv: Buf::Owned(bqkv),
                wo: load(&format!("{p}.attention.output.dense.weight"), hh)?,
                bo: load(&format!("{p}.attention.output.dense.bias"), hidden)?,
                ln1_g: load(&format!("{p}.attention.output.LayerNorm.weight"), hidden)?,
                ln1_b: load(&format!("{p}.attention.output.LayerNorm.bias"), hidden)?,
                wi: load(&format!("{p}.intermediate.dense.weight"), inter * hidden)?,
                bi: load(&format!("{p}.intermediate.dense.bias"), inter)?,
                wo2: load(&format!("{p}.output.dense.weight"), hidden * inter)?,
                bo2: load(&format!("{p}.output.dense.bias"), hidden)?,
                ln2_g: load(&format!("{p}.output.LayerNorm.weight"), hidden)?,
                ln2_b: load(&format!("{p}.output.LayerNorm.bias"), hidden)?,
            });
        }
        Ok(Encoder {
            hidden,
            heads,
            inter,
            eps,
            max_positions,
            word,
            pos,
            type0: Buf::Owned(types[..hidden].to_vec()),
            emb_g: load("embeddings.LayerNorm.weight", hidden)?,
            emb_b: load("embeddings.LayerNorm.bias", hidden)?,
            layers,
            threads: rayon::current_num_threads(),
        })
    }

    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// Last hidden states of every token of every sequence, packed: row `offsets[i] + j` is token j
    /// of sequence i.
    pub fn forward(&self, seqs: &[&[u32]]) -> Result<(Vec<f32>, Vec<usize>)> {
        let h = self.hidden;
        let mut offsets = Vec::with_capacity(seqs.len() + 1);
        let mut total = 0usize;
        for s in seqs {
            if s.len() > self.max_positions {
                bail!("sequence of {} tokens exceeds the model's {} positions", s.len(), self.max_positions);
            }
            offsets.push(total);
            total += s.len();
        }
        offsets.push(total);
        let vocab = self.word.rows;
        let mut x = vec![0f32; total * h];
        // Embeddings: word + position + token type 0, then LayerNorm.
        x.par_chunks_mut(h).enumerate().try_for_each(|(row, out)| -> Result<()> {
            let s = offsets.partition_point(|&o| o <= row) - 1;
            let j = row - offsets[s];
            let id = (seqs[s][j] as usize).min(vocab - 1);
            self.word.read_row(id, out).context("cannot read the model's word embeddings")?;
            let p = &self.pos[j * h..(j + 1) * h];
            for c in 0..h {
                out[c] += p[c] + self.type0[c];
            }
            layer_norm(out, &self.emb_g, &self.emb_b, self.eps);
            Ok(())
        })?;
        let mut qkv = vec![0f32; total * 3 * h];
        let mut ctx = vec![0f32; total * h];
        let mut tmp = vec![0f32; total * h];
        let mut inter = vec![0f32; total * self.inter];
        for layer in &self.layers {
            self.linear(&mut qkv, &x, &layer.wqkv, total, 3 * h, h);
            add_bias_rows(&mut qkv, &layer.bqkv);
            self.attention(&qkv, &mut ctx, &offsets);
            self.linear(&mut tmp, &ctx, &layer.wo, total, h, h);
            // x = LayerNorm(tmp + bo + x)
            residual_layer_norm(&mut x, &tmp, &layer.bo, &layer.ln1_g, &layer.ln1_b, self.eps);
            self.linear(&mut inter, &x, &layer.wi, total, self.inter, h);
            bias_gelu_rows(&mut inter, &layer.bi);
            self.linear(&mut tmp, &inter, &layer.wo2, total, h, self.inter);
            residual_layer_norm(&mut x, &tmp, &layer.bo2, &layer.ln2_g, &layer.ln2_b, self.eps);
        }
        Ok((x, offsets))
    }

    /// out (m × n) = a (m × k) · wᵀ, with w in `Linear` layout (n × k).
    fn linear(&self, out: &mut [f32], a: &[f32], w: &[f32], m: usize, n: usize, k: usize) {
        debug_assert!(out.len() >= m * n && a.len() >= m * k && w.len() >= n * k);
        if m <= SMALL_M {
            return small_linear(&mut out[..m * n], &a[..m * k], &w[..n * k], m, n, k);
        }
        // Splitting a product over threads pays only with enough rows.
        let par = if m >= 128 && self.threads > 1 { Parallelism::Rayon(self.threads) } else { Parallelism::None };
        // SAFETY: the slices hold at least the elements the strides address (checked above).
        unsafe {
            gemm(
                m, n, k,
                out.as_mut_ptr(), 1, n as isize,
                false,
                a.as_ptr(), 1, k as isize,
                w.as_ptr(), k as isize, 1,
                0.0, 1.0,
                false, false, false,
                par,
            );
        }
    }

    /// Scaled dot-product attention per (sequence, head), parallel over those pairs.
    fn attention(&self, qkv: &[f32], ctx: &mut [f32], offsets: &[usize]) {
        let h = self.hidden;
        let d = h / self.heads;
        let scale = 1.0 / (d as f32).sqrt();
        let n_seq = offsets.len() - 1;
        let out = SyncPtr(ctx.as_mut_ptr());
        let stride = 3 * h;
        (0..n_seq * self.heads).into_par_iter().for_each(|task| {
            let out = out;
            let (s, head) = (task / self.heads, task % self.heads);
            let (o, l) = (offsets[s], offsets[s + 1] - offsets[s]);
            if l == 0 {
                return;
            }
            let q = qkv[o * stride + head * d..].as_ptr();
            let k = qkv[o * stride + h + head * d..].as_ptr();
            let v = qkv[o * stride + 2 * h + head * d..].as_ptr();
            let mut scores = vec![0f32; l * l];
            // SAFETY: q, k, v address rows o..o+l of qkv with row stride 3h and d columns; the
            // output block (rows o..o+l, columns head*d..head*d+d of ctx) belongs to this task only.
            unsafe {
                gemm(
                    l, l, d,
                    scores.as_mut_ptr(), 1, l as isize,
                    false,
                    q, 1, stride as isize,
                    k, stride as isize, 1,
                    0.0, scale,
                    false, false, false,
                    Parallelism::None,
                );
            }
            softmax_rows(&mut scores, l);
            unsafe {
                gemm(
                    l, d, l,
                    out.0.add(o * h + head * d), 1, h as isize,
                    false,
                    scores.as_ptr(), 1, l as isize,
                    v, 1, stride as isize,
                    0.0, 1.0,
                    false, false, false,
                    Parallelism::None,
                );
            }
        });
    }
}

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
const SMALL_M: usize = 32;

/// out (m × n) = a (m × k) · wᵀ for few rows. gemm packs the whole weight matrix on every call,
/// which for a lone question costs more than the arithmetic; here each weight row is read once and
/// dotted with every input row while it is in cache. Parallel over output columns.
fn small_linear(out: &mut [f32], a: &[f32], w: &[f32], m: usize, n: usize, k: usize) {
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

fn add_bias_rows(x: &mut [f32], bias: &[f32]) {
    x.par_chunks_mut(bias.len() * 16).for_each(|block| {
        for row in block.chunks_mut(bias.len()) {
            for (a, b) in row.iter_mut().zip(bias) {
                *a += b;
            }
        }
    });
}

fn bias_gelu_rows(x: &mut [f32], bias: &[f32]) {
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

/// x[row] = LayerNorm(x[row] + y[row] + bias)
fn residual_layer_norm(x: &mut [f32], y: &[f32], bias: &[f32], g: &[f32], b: &[f32], eps: f32) {
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

fn softmax_rows(scores: &mut [f32], l: usize) {
    #[inline(always)]
    fn rows(scores: &mut [f32], l: usize) {
        for row in scores.chunks_mut(l) {
            softmax(row);
        }
    }
    multiversion!(rows_simd => rows(scores: &mut [f32], l: usize));
    rows_simd(scores, l)
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
