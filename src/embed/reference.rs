//! The reference engine: candle-transformers' `BertModel`, unchanged, on right-padded batches with
//! an attention mask (SEMSEARCH_ENGINE=reference). Slower than `PackedBert`; kept as the
//! cross-check the tests hold the packed engine against.

use super::Pooling;
use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use std::path::Path;

pub struct Reference {
    model: BertModel,
}

impl Reference {
    pub fn load(weights: &Path, config: &Config) -> Result<Reference> {
        // SAFETY: as in `PackedBert::load`: a read-only map of a file never rewritten in place.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &Device::Cpu) }
            .with_context(|| format!("cannot load {}", weights.display()))?;
        Ok(Reference { model: BertModel::load(vb, config).with_context(|| format!("{}: not a BERT model", weights.display()))? })
    }

    /// Pooled, unit-length embeddings of `seqs` (one padded batch), row-major.
    pub fn embed_batch(&self, seqs: &[&[u32]], pooling: Pooling) -> Result<Vec<f32>> {
        let max_len = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        let mut ids = vec![0u32; seqs.len() * max_len];
        let mut mask = vec![0u32; seqs.len() * max_len];
        for (row, s) in seqs.iter().enumerate() {
            ids[row * max_len..row * max_len + s.len()].copy_from_slice(s);
            mask[row * max_len..row * max_len + s.len()].fill(1);
        }
        let shape = (seqs.len(), max_len);
        let ids = Tensor::from_vec(ids, shape, &Device::Cpu)?;
        let mask = Tensor::from_vec(mask, shape, &Device::Cpu)?;
        let hidden = self.model.forward(&ids, &ids.zeros_like()?, Some(&mask))?;
        let pooled = match pooling {
            Pooling::Mean => {
                let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
                let summed = hidden.broadcast_mul(&m)?.sum(1)?;
                let counts = m.sum(1)?.clamp(1e-9f32, f32::MAX)?;
                summed.broadcast_div(&counts)?
            }
            Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
        };
        let norms = pooled.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
        Ok(pooled.broadcast_div(&norms)?.flatten_all()?.to_vec1()?)
    }
}
