//! Embedder: text -> unit vector, the way sentence-transformers computes it.
//!
//! BERT through candle on the CPU; the model's own tokenizer with truncation at the model's
//! `max_seq_length` (the tokenizer.json of all-MiniLM-L6-v2 says 128 with fixed padding, which
//! sentence-transformers overrides, and so do we); right padding to the longest text of each batch
//! with an attention mask; mean pooling over real tokens only; L2 normalisation.

use crate::encoder::Encoder;
use crate::model::{ModelInfo, Pooling};
use anyhow::{anyhow, Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

pub const DEFAULT_BATCH: usize = 32;

/// Which implementation runs the model. `Fast` is the default; `Candle` (candle-transformers'
/// `BertModel`) is the reference it is checked against, selectable with SEMSEARCH_ENGINE=candle.
enum Engine {
    Fast(Encoder),
    Candle(BertModel),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Fast,
    Candle,
}

pub struct Embedder {
    engine: Engine,
    tokenizer: Tokenizer,
    info: ModelInfo,
    device: Device,
    batch_size: usize,
}

impl Embedder {
    /// The fast encoder, or candle's `BertModel` when SEMSEARCH_ENGINE=candle.
    pub fn load(info: &ModelInfo) -> Result<Embedder> {
        let kind = if std::env::var("SEMSEARCH_ENGINE").is_ok_and(|e| e == "candle") { EngineKind::Candle } else { EngineKind::Fast };
        Self::load_engine(info, kind)
    }

    pub fn load_engine(info: &ModelInfo, kind: EngineKind) -> Result<Embedder> {
        let device = Device::Cpu;
        let config_path = info.dir.join("config.json");
        let config: Config = serde_json::from_str(
            &std::fs::read_to_string(&config_path).with_context(|| format!("cannot read {}", config_path.display()))?,
        )
        .with_context(|| format!("{}: not a BERT config", config_path.display()))?;
        let weights = info.dir.join("model.safetensors");
        let engine = if kind == EngineKind::Candle {
            // SAFETY: the weights file is memory-mapped read-only; semsearch never writes to it while
            // it is mapped, and the model cache is replaced by rename, never rewritten in place.
            let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &device) }
                .with_context(|| format!("cannot load {}", weights.display()))?;
            Engine::Candle(BertModel::load(vb, &config).with_context(|| format!("{}: not a BERT model", weights.display()))?)
        } else {
            let raw: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config_path)?)?;
            Engine::Fast(Encoder::load(&weights, &raw).with_context(|| format!("{}: not a BERT model", weights.display()))?)
        };
        let tokenizer = load_tokenizer(info)?;
        Ok(Embedder { engine, tokenizer, info: info.clone(), device, batch_size: DEFAULT_BATCH })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn dimensions(&self) -> usize {
        self.info.dimensions
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn with_batch_size(mut self, n: usize) -> Embedder {
        self.batch_size = n.max(1);
        self
    }

    pub fn embed_one(&self, text: &str) -> Result<Vec<f32>> {
        self.embed(&[text], &mut |_| {})
    }

    /// Embed `texts`; returns `texts.len() * dimensions` floats, row i for texts[i].
    /// Texts are processed in batches sorted by token length so that padding stays small;
    /// `progress` is called with the number of texts done after each batch.
    pub fn embed(&self, texts: &[&str], progress: &mut dyn FnMut(usize)) -> Result<Vec<f32>> {
        let dim = self.info.dimensions;
        let mut out = vec![0f32; texts.len() * dim];
        if texts.is_empty() {
            return Ok(out);
        }
        // Only the token ids are kept: a full `Encoding` (tokens, offsets, masks) costs ten times
        // more, and a large run tokenizes tens of thousands of passages before the first batch.
        let mut encodings: Vec<Vec<u32>> = Vec::with_capacity(texts.len());
        for group in texts.chunks(2048) {
            let encoded = self.tokenizer.encode_batch(group.to_vec(), true).map_err(|e| anyhow!("tokenizer: {e}"))?;
            encodings.extend(encoded.into_iter().map(|e| e.get_ids().to_vec()));
        }
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| encodings[i].len());
        let model = match &self.engine {
            Engine::Fast(enc) => {
                self.embed_fast(enc, &encodings, &order, &mut out, progress)?;
                return Ok(out);
            }
            Engine::Candle(model) => model,
        };
        let mut done = 0;
        for batch in order.chunks(self.batch_size) {
            let max_len = batch.iter().map(|&i| encodings[i].len()).max().unwrap_or(0);
            let mut ids = vec![0u32; batch.len() * max_len];
            let mut mask = vec![0u32; batch.len() * max_len];
            for (row, &i) in batch.iter().enumerate() {
                let e = &encodings[i];
                let n = e.len();
                ids[row * max_len..row * max_len + n].copy_from_slice(e);
                mask[row * max_len..row * max_len + n].fill(1);
            }
            let shape = (batch.len(), max_len);
            let ids = Tensor::from_vec(ids, shape, &self.device)?;
            let mask = Tensor::from_vec(mask, shape, &self.device)?;
            let type_ids = ids.zeros_like()?;
            let hidden = model.forward(&ids, &type_ids, Some(&mask))?;
            let pooled = match self.info.pooling {
                Pooling::Mean => {
                    let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
                    let summed = hidden.broadcast_mul(&m)?.sum(1)?;
                    let counts = m.sum(1)?.clamp(1e-9f32, f32::MAX)?;
                    summed.broadcast_div(&counts)?
                }
                Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
            };
            let norms = pooled.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
            let normed = pooled.broadcast_div(&norms)?;
            let rows: Vec<Vec<f32>> = normed.to_vec2()?;
            for (row, &i) in batch.iter().enumerate() {
                out[i * dim..(i + 1) * dim].copy_from_slice(&rows[row]);
            }
            done += batch.len();
            progress(done);
        }
        Ok(out)
    }
}

impl Embedder {
    /// Packed batches of about `TOKENS_PER_BATCH` tokens (length-sorted, so similar lengths share a
    /// batch and the attention blocks are even).
    fn embed_fast(
        &self,
        enc: &Encoder,
        encodings: &[Vec<u32>],
        order: &[usize],
        out: &mut [f32],
        progress: &mut dyn FnMut(usize),
    ) -> Result<()> {
        let tokens_per_batch: usize = std::env::var("SEMSEARCH_BATCH_TOKENS").ok().and_then(|v| v.parse().ok()).unwrap_or(4096);
        let dim = self.info.dimensions;
        let mut done = 0;
        let mut start = 0;
        while start < order.len() {
            let mut end = start;
            let mut tokens = 0;
            while end < order.len() && (end == start || tokens + encodings[order[end]].len() <= tokens_per_batch) {
                tokens += encodings[order[end]].len();
                end += 1;
            }
            let batch = &order[start..end];
            let seqs: Vec<&[u32]> = batch.iter().map(|&i| encodings[i].as_slice()).collect();
            let (hidden, offsets) = enc.forward(&seqs)?;
            for (j, &i) in batch.iter().enumerate() {
                let rows = &hidden[offsets[j] * dim..offsets[j + 1] * dim];
                let v = &mut out[i * dim..(i + 1) * dim];
                match self.info.pooling {
                    Pooling::Mean => {
                        let n = (offsets[j + 1] - offsets[j]).max(1) as f32;
                        v.fill(0.0);
                        for row in rows.chunks(dim) {
                            v.iter_mut().zip(row).for_each(|(a, b)| *a += b);
                        }
                        v.iter_mut().for_each(|a| *a /= n);
                    }
                    Pooling::Cls => v.copy_from_slice(&rows[..dim]),
                }
                let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
                v.iter_mut().for_each(|a| *a /= norm);
            }
            done += batch.len();
            progress(done);
            start = end;
        }
        Ok(())
    }
}

/// The model's tokenizer, set to truncate at the model window and not to pad (we pad per batch).
pub fn load_tokenizer(info: &ModelInfo) -> Result<Tokenizer> {
    let path = info.dir.join("tokenizer.json");
    let mut tokenizer = Tokenizer::from_file(&path).map_err(|e| anyhow!("{}: cannot load tokenizer: {e}", path.display()))?;
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: info.max_tokens,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
            direction: TruncationDirection::Right,
        }))
        .map_err(|e| anyhow!("tokenizer: {e}"))?;
    tokenizer.with_padding(None);
    Ok(tokenizer)
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
