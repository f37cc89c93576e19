//! A deterministic stand-in for the model: each lower-cased word hashed into one of `dimensions`
//! buckets with a sign (feature hashing), L2-normalised. Texts sharing words score high, so search
//! over it behaves like a crude lexical search: enough for tests of the index's life cycle (adds,
//! changes, deletes, merges, crashes) to assert which documents come back, in milliseconds and
//! without the model files. Its tokenizer is built here (whitespace words, one token each), so
//! chunking runs the real code on predictable token counts. Never used by the `semsearch` binary.

use super::Embed;
use crate::model::{ModelInfo, Pooling};
use anyhow::{anyhow, Result};
use tokenizers::Tokenizer;

/// The hashing stand-in for the model (see the module comment); tests only.
pub struct HashingEmbedder {
    info: ModelInfo,
    tokenizer: Tokenizer,
}

impl HashingEmbedder {
    /// A stand-in with vectors of `dimensions`.
    pub fn new(dimensions: usize) -> Result<HashingEmbedder> {
        let json = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
            "normalizer":{"type":"Lowercase"},"pre_tokenizer":{"type":"Whitespace"},"post_processor":null,
            "decoder":null,"model":{"type":"WordLevel","vocab":{"[UNK]":0},"unk_token":"[UNK]"}}"#;
        let tokenizer: Tokenizer = json.parse().map_err(|e| anyhow!("hashing tokenizer: {e}"))?;
        let info = ModelInfo {
            name: format!("hashing-{dimensions}"),
            dir: std::path::PathBuf::new(),
            dimensions,
            max_tokens: 256,
            pooling: Pooling::Mean,
            weights_sha256: format!("hashing-v1-{dimensions}"),
            precision: crate::model::Precision::F32,
        };
        Ok(HashingEmbedder { info, tokenizer })
    }

    /// The unit vector of `text`'s hashed words.
    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let dim = self.info.dimensions;
        let mut v = vec![0f32; dim];
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            let h = xxhash_rust::xxh3::xxh3_64(word.to_lowercase().as_bytes());
            v[(h % dim as u64) as usize] += if h >> 63 == 0 { 1.0 } else { -1.0 };
        }
        let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        if norm == 0.0 {
            v[0] = 1.0;
        } else {
            v.iter_mut().for_each(|a| *a /= norm);
        }
        v
    }
}

impl Embed for HashingEmbedder {
    fn info(&self) -> &ModelInfo {
        &self.info
    }
    fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }
    fn embed(&self, texts: &[&str], progress: &mut dyn FnMut(usize)) -> Result<Vec<f32>> {
        let out: Vec<f32> = texts.iter().flat_map(|t| self.embed_one(t)).collect();
        progress(texts.len());
        Ok(out)
    }
}
