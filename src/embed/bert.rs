//! PackedBert: BERT for inference on candle tensors, written for throughput (the default engine).
//!
//! It follows candle-transformers' BERT (its `Config`, its weight names, loaded through candle's
//! `VarBuilder` over the memory-mapped safetensors file) but runs a batch differently: the tokens of
//! all its texts are packed into one (tokens × hidden) tensor with no padding, so every dense layer
//! is one candle matmul over all tokens (candle hands it to gemm in one call), attention runs per
//! (text, head) on its own rows (no mask), and bias, GELU, residual and LayerNorm are fused passes
//! (candle custom ops in `ops.rs`). candle-transformers' `BertModel` (`reference.rs`) is the
//! cross-check the tests hold this against.

use super::int8::{F32Rows, Int8Dense, Int8FeedForward};
use super::ops::{BiasGelu, EmbeddingNorm, FewRowsProduct, PackedAttention, ResidualNorm};
use super::Precision;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{Config, HiddenAct};
use rayon::prelude::*;
use std::path::Path;

struct Layer {
    /// Query, key and value weights stacked, (3h × h), so the three projections are one product.
    qkv_weight: Dense,
    qkv_bias: Tensor,
    attn_out_weight: Dense,
    /// `[output bias; LayerNorm gain; LayerNorm shift]`, (3 × h): what `ResidualNorm` takes.
    attn_out_norm: Tensor,
    inter_weight: Dense,
    inter_bias: Tensor,
    ffn_out_weight: Dense,
    ffn_out_norm: Tensor,
}

/// A dense layer's weights (n × k, `Linear` layout), as the chosen precision multiplies them.
enum Dense {
    F32(Tensor),
    Int8(Int8Dense),
}

impl Dense {
    /// x (m × k) · wᵀ, with no bias (the following fused pass adds it).
    fn apply(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Dense::F32(w) => linear(x, w),
            Dense::Int8(w) => x.apply_op1_no_bwd(w),
        }
    }
}

pub struct PackedBert {
    word: WordRows,
    position: Tensor,
    /// `[token type 0; LayerNorm gain; LayerNorm shift]`, (3 × h).
    embedding_norm: Tensor,
    layers: Vec<Layer>,
    heads: usize,
    hidden: usize,
    eps: f32,
}

impl PackedBert {
    pub fn load(weights: &Path, config: &Config, precision: Precision) -> Result<PackedBert> {
        if config.hidden_act != HiddenAct::Gelu {
            bail!("{}: the packed engine runs BERT models with exact (erf) GELU; SEMSEARCH_ENGINE=reference runs others", weights.display());
        }
        if config.num_attention_heads == 0 || !config.hidden_size.is_multiple_of(config.num_attention_heads) {
            bail!("hidden_size {} is not a multiple of num_attention_heads {}", config.hidden_size, config.num_attention_heads);
        }
        let device = Device::Cpu;
        // SAFETY: the weights file is mapped read-only; semsearch never writes it while it is
        // mapped, and the model cache is replaced by rename, never rewritten in place.
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &device) }.with_context(|| format!("cannot load {}", weights.display()))?;
        // Checkpoints saved from BertForMaskedLM and the like put the model under "bert.".
        let prefixed = vb.contains_tensor("bert.embeddings.word_embeddings.weight");
        let vb = if prefixed { vb.pp("bert") } else { vb };
        let (h, inter) = (config.hidden_size, config.intermediate_size);
        let prefix = if prefixed { "bert." } else { "" };
        // int8 quantizes straight from the mapped file (no f32 copy of the dense weights is made)
        // and keeps reading it for the activations' outliers.
        let mapped = match precision {
            Precision::Int8 => Some(MappedWeights::open(weights)?),
            Precision::F32 => None,
        };
        let dense = |names: &[String], (n, k): (usize, usize), load: &dyn Fn() -> candle_core::Result<Tensor>| -> candle_core::Result<Dense> {
            if precision == Precision::F32 {
                return Ok(Dense::F32(load()?));
            }
            if let Some(rows) = mapped.as_ref().and_then(|m| m.rows(names, k)).filter(|r| r.rows() == n) {
                return Ok(Dense::Int8(Int8Dense::quantize(rows)));
            }
            Ok(Dense::Int8(Int8Dense::quantize(F32Rows::owned(load()?.flatten_all()?.to_vec1::<f32>()?, n, k))))
        };
        let rows = |vb: &VarBuilder, names: [&str; 3]| -> candle_core::Result<Tensor> {
            Tensor::stack(&[vb.get(h, names[0])?, vb.get(h, names[1])?, vb.get(h, names[2])?], 0)
        };
        let emb = vb.pp("embeddings");
        let word_name = format!("{}embeddings.word_embeddings.weight", if prefixed { "bert." } else { "" });
        let word = WordRows::open(weights, &word_name, config.vocab_size, h, || emb.get((config.vocab_size, h), "word_embeddings.weight"))?;
        let position = emb.get((config.max_position_embeddings, h), "position_embeddings.weight")?;
        let type0 = emb.get((config.type_vocab_size, h), "token_type_embeddings.weight")?.get(0)?;
        let embedding_norm = Tensor::stack(&[type0, emb.get(h, "LayerNorm.weight")?, emb.get(h, "LayerNorm.bias")?], 0)?;
        // Loading copies the weights out of the map into tensors (page faults and copying, most of
        // a cold start): layers load on all cores at once.
        let layers = (0..config.num_hidden_layers)
            .into_par_iter()
            .map(|i| -> candle_core::Result<Layer> {
                let l = vb.pp(format!("encoder.layer.{i}"));
                let att = l.pp("attention");
                let me = att.pp("self");
                let name = |rest: &str| format!("{prefix}encoder.layer.{i}.{rest}");
                let qkv_names = ["query", "key", "value"].map(|p| name(&format!("attention.self.{p}.weight")));
                let qkv_weight = dense(&qkv_names, (3 * h, h), &|| {
                    Tensor::cat(&[me.get((h, h), "query.weight")?, me.get((h, h), "key.weight")?, me.get((h, h), "value.weight")?], 0)
                })?;
                let qkv_bias = Tensor::cat(&[me.get(h, "query.bias")?, me.get(h, "key.bias")?, me.get(h, "value.bias")?], 0)?;
                let out = att.pp("output");
                Ok(Layer {
                    qkv_weight,
                    qkv_bias,
                    attn_out_weight: dense(&[name("attention.output.dense.weight")], (h, h), &|| out.get((h, h), "dense.weight"))?,
                    attn_out_norm: rows(&out, ["dense.bias", "LayerNorm.weight", "LayerNorm.bias"])?,
                    inter_weight: dense(&[name("intermediate.dense.weight")], (inter, h), &|| l.get((inter, h), "intermediate.dense.weight"))?,
                    inter_bias: l.get(inter, "intermediate.dense.bias")?,
                    ffn_out_weight: dense(&[name("output.dense.weight")], (h, inter), &|| l.get((h, inter), "output.dense.weight"))?,
                    ffn_out_norm: rows(&l.pp("output"), ["dense.bias", "LayerNorm.weight", "LayerNorm.bias"])?,
                })
            })
            .collect::<candle_core::Result<Vec<Layer>>>()?;
        Ok(PackedBert { word, position, embedding_norm, layers, heads: config.num_attention_heads, hidden: h, eps: config.layer_norm_eps as f32 })
    }

    /// Last hidden states of every token of every sequence, packed into one (tokens × hidden)
    /// tensor: row `offsets[i] + j` is token j of sequence i.
    pub fn forward(&self, seqs: &[&[u32]]) -> Result<(Tensor, Vec<usize>)> {
        let mut offsets = Vec::with_capacity(seqs.len() + 1);
        offsets.push(0);
        for s in seqs {
            offsets.push(offsets.last().unwrap() + s.len());
        }
        let ids: Vec<u32> = seqs.concat();
        let x = self.word.gather(&ids, self.hidden)?;
        x.inplace_op3(&self.position, &self.embedding_norm, &EmbeddingNorm { offsets: &offsets, eps: self.eps })?;
        let attention = PackedAttention { offsets: &offsets, heads: self.heads };
        let norm = ResidualNorm { eps: self.eps };
        for layer in &self.layers {
            let qkv = layer.qkv_weight.apply(&x)?;
            let ctx = qkv.apply_op2_no_bwd(&layer.qkv_bias, &attention)?;
            x.inplace_op3(&layer.attn_out_weight.apply(&ctx)?, &layer.attn_out_norm, &norm)?;
            let ffn = match (&layer.inter_weight, &layer.ffn_out_weight) {
                (Dense::Int8(inter), Dense::Int8(out)) => x.apply_op2_no_bwd(&layer.inter_bias, &Int8FeedForward { inter, out })?,
                _ => {
                    let inter = layer.inter_weight.apply(&x)?;
                    inter.inplace_op2(&layer.inter_bias, &BiasGelu)?;
                    layer.ffn_out_weight.apply(&inter)?
                }
            };
            x.inplace_op3(&ffn, &layer.ffn_out_norm, &norm)?;
        }
        Ok((x, offsets))
    }
}

/// x (m × k) · wᵀ for w in `Linear` layout (n × k), with no bias (the following fused pass adds it).
fn linear(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    if x.dim(0)? <= super::kernels::SMALL_M {
        x.apply_op2_no_bwd(w, &FewRowsProduct)
    } else {
        x.matmul(&w.t()?)
    }
}

/// The word-embedding table. Read a row at a time from the weights file rather than loaded as a
/// tensor: it is half the model (30k rows × 384 floats) and a text uses a few dozen rows, so
/// copying it in (as candle's loader does) would cost every cold `ask` ~47 MB of reading and
/// resident memory; reading rows through the map would fault whole 2 MB page-cache blocks per row.
/// Where the file stores it in another type than f32, it is loaded as a candle tensor instead.
enum WordRows {
    File { file: std::fs::File, offset: u64, rows: usize },
    Tensor(Tensor),
}

impl WordRows {
    fn open(weights: &Path, name: &str, rows: usize, h: usize, load: impl FnOnce() -> candle_core::Result<Tensor>) -> Result<WordRows> {
        let mut file = std::fs::File::open(weights).with_context(|| format!("cannot open {}", weights.display()))?;
        if let Some(offset) = f32_tensor_offset(&mut file, name, rows * h)? {
            return Ok(WordRows::File { file, offset, rows });
        }
        Ok(WordRows::Tensor(load()?))
    }

    /// The rows of `ids`, as an (ids × h) tensor. Ids past the table read its last row.
    fn gather(&self, ids: &[u32], h: usize) -> Result<Tensor> {
        match self {
            WordRows::Tensor(t) => {
                let last = t.dim(0)? as u32 - 1;
                let ids: Vec<u32> = ids.iter().map(|&i| i.min(last)).collect();
                let n = ids.len();
                Ok(t.index_select(&Tensor::from_vec(ids, n, &Device::Cpu)?, 0)?.contiguous()?)
            }
            WordRows::File { file, offset, rows } => {
                let mut x = vec![0f32; ids.len() * h];
                x.par_chunks_mut(h)
                    .zip(ids.par_iter())
                    .try_for_each(|(out, &id)| {
                        let at = offset + ((id as usize).min(rows - 1) * h * 4) as u64;
                        read_exact_at(file, bytemuck::cast_slice_mut(out), at)
                    })
                    .context("cannot read the model's word embeddings")?;
                // safetensors stores little-endian; on a big-endian machine the bytes need turning around.
                if cfg!(target_endian = "big") {
                    x.iter_mut().for_each(|v| *v = f32::from_bits(u32::from_le(v.to_bits())));
                }
                Ok(Tensor::from_vec(x, (ids.len(), h), &Device::Cpu)?)
            }
        }
    }
}

/// The safetensors header (8-byte length, then JSON) and where the tensors' data starts.
fn read_header(file: &mut std::fs::File) -> Result<(safetensors::tensor::Metadata, u64)> {
    use std::io::Read;
    let mut n = [0u8; 8];
    file.read_exact(&mut n)?;
    let n = u64::from_le_bytes(n);
    if n > 100 << 20 {
        bail!("safetensors header of {n} bytes: not a weights file");
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header)?;
    Ok((serde_json::from_slice(&header).context("safetensors header")?, 8 + n))
}

/// The file offset of tensor `name` when it is stored as `len` little-endian f32 values; None
/// when it is stored otherwise.
fn f32_tensor_offset(file: &mut std::fs::File, name: &str, len: usize) -> Result<Option<u64>> {
    let (meta, start) = read_header(file)?;
    Ok(meta
        .info(name)
        .filter(|i| i.dtype == safetensors::Dtype::F32 && i.data_offsets.1 - i.data_offsets.0 == len * 4)
        .map(|i| start + i.data_offsets.0 as u64))
}

/// The weights file mapped, with its header: where each f32 tensor lies.
struct MappedWeights {
    map: std::sync::Arc<memmap2::Mmap>,
    meta: safetensors::tensor::Metadata,
    start: usize,
}

impl MappedWeights {
    fn open(path: &Path) -> Result<MappedWeights> {
        let mut file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let (meta, start) = read_header(&mut file)?;
        // SAFETY: as for candle's map above: the file is only read, and the model cache replaces
        // files by rename, never in place.
        let map = unsafe { memmap2::Mmap::map(&file) }.with_context(|| format!("cannot map {}", path.display()))?;
        Ok(MappedWeights { map: std::sync::Arc::new(map), meta, start: start as usize })
    }

    /// The f32 tensors `names`, each of `k` columns, stacked; None unless all are f32 in place.
    fn rows(&self, names: &[String], k: usize) -> Option<F32Rows> {
        let ranges = names
            .iter()
            .map(|n| self.meta.info(n).filter(|i| i.dtype == safetensors::Dtype::F32).map(|i| self.start + i.data_offsets.0..self.start + i.data_offsets.1))
            .collect::<Option<Vec<_>>>()?;
        F32Rows::mapped(self.map.clone(), ranges, k)
    }
}

fn read_exact_at(file: &std::fs::File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    return std::os::unix::fs::FileExt::read_exact_at(file, buf, at);
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < buf.len() {
            match std::os::windows::fs::FileExt::seek_read(file, &mut buf[done..], at + done as u64)? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                got => done += got,
            }
        }
        Ok(())
    }
}
