//! Embedder: text -> unit vector, the way sentence-transformers computes it.
//!
//! The model's own tokenizer with truncation at the model's `max_seq_length` (the tokenizer.json of
//! all-MiniLM-L6-v2 says 128 with fixed padding, which sentence-transformers overrides, and so do
//! we); texts sorted by token length and cut into batches; BERT through candle on the CPU (`bert`:
//! packed, padding-free batches, the default; `reference`: candle-transformers' `BertModel` on
//! padded batches with a mask); mean pooling over real tokens only; L2 normalisation.

mod attention;
mod bert;
mod hashing;
mod int8;
mod kernels;
mod ops;
mod reference;

use crate::model::ModelInfo;
pub use crate::model::{default_precision, Pooling, Precision};
use anyhow::{anyhow, Context, Result};
use bert::PackedBert;
use candle_transformers::models::bert::Config;
use reference::Reference;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

pub use hashing::HashingEmbedder;

/// What the indexer needs of a model: its identity, its tokenizer (passages are cut in its word
/// pieces) and vectors for texts. `Embedder` runs the real model; `HashingEmbedder` is a small
/// deterministic stand-in for lifecycle tests and memory measurements that need no model files.
pub trait Embed: Sync {
    /// The model's identity, dimensions, window and pooling.
    fn info(&self) -> &ModelInfo;
    /// The tokenizer that counts a passage's budget.
    fn tokenizer(&self) -> &Tokenizer;
    /// `texts.len() * dimensions` floats, row i for texts[i]; `progress` gets texts done.
    fn embed(&self, texts: &[&str], progress: &mut dyn FnMut(usize)) -> Result<Vec<f32>>;

    /// One text's vector (a question).
    fn embed_one(&self, text: &str) -> Result<Vec<f32>> {
        self.embed(&[text], &mut |_| {})
    }

    /// As `embed`, and for each text unit vectors of byte spans of it (`spans[i]`, sorted, not
    /// overlapping): `spans[i].len() * dimensions` floats, or none where the implementation has no
    /// span vectors. Here each span is embedded as a text of its own; `Embedder` pools them from
    /// the text's own forward pass instead.
    fn embed_with_spans(&self, texts: &[&str], spans: &[Vec<(usize, usize)>], progress: &mut dyn FnMut(usize)) -> Result<(Vec<f32>, Vec<Vec<f32>>)> {
        let whole = self.embed(texts, progress)?;
        let parts: Vec<&str> = texts.iter().zip(spans).flat_map(|(t, s)| s.iter().map(move |&(a, b)| &t[a..b])).collect();
        let flat = self.embed(&parts, &mut |_| {})?;
        let dim = self.info().dimensions;
        let mut at = 0;
        let per_text = spans
            .iter()
            .map(|s| {
                at += s.len();
                flat[(at - s.len()) * dim..at * dim].to_vec()
            })
            .collect();
        Ok((whole, per_text))
    }
}

impl Embed for Embedder {
    fn info(&self) -> &ModelInfo {
        Embedder::info(self)
    }
    fn tokenizer(&self) -> &Tokenizer {
        Embedder::tokenizer(self)
    }
    fn embed(&self, texts: &[&str], progress: &mut dyn FnMut(usize)) -> Result<Vec<f32>> {
        Embedder::embed(self, texts, progress)
    }
    fn embed_with_spans(&self, texts: &[&str], spans: &[Vec<(usize, usize)>], progress: &mut dyn FnMut(usize)) -> Result<(Vec<f32>, Vec<Vec<f32>>)> {
        Embedder::embed_with_spans(self, texts, spans, progress)
    }
}

/// Texts per batch of the reference engine (it pads each batch to its longest text).
pub const DEFAULT_BATCH: usize = 32;
/// Tokens per batch of the packed engine: enough rows for the matrix products to run at full
/// speed on every core, few enough that a batch's activations stay a few tens of megabytes.
const TOKENS_PER_BATCH: usize = 2048;

/// Which model implementation runs: `Packed` (our BERT on candle tensors) by default; `Reference`
/// (candle-transformers' `BertModel`) with SEMSEARCH_ENGINE=reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// Our packed BERT on candle tensors (the default).
    Packed,
    /// candle-transformers' BertModel on padded batches: the cross-check.
    Reference,
}

enum Engine {
    Packed(PackedBert),
    Reference(Reference),
}

/// The sentence-embedding model loaded: tokenizer, engine, pooling.
pub struct Embedder {
    engine: Engine,
    tokenizer: Tokenizer,
    info: ModelInfo,
    batch_size: usize,
    tokens_per_batch: usize,
}

impl Embedder {
    /// The default engine (packed) with its default batch.
    pub fn load(info: &ModelInfo) -> Result<Embedder> {
        Self::load_engine(info, EngineKind::Packed)
    }

    /// Loads the model with the given engine.
    pub fn load_engine(info: &ModelInfo, kind: EngineKind) -> Result<Embedder> {
        Self::load_with(info, kind, None, Precision::F32)
    }

    /// `kind` with `tokens_per_batch` (None: `TOKENS_PER_BATCH`), as settings say, multiplying
    /// in `precision` (the reference engine is f32 only).
    pub fn load_with(info: &ModelInfo, kind: EngineKind, tokens_per_batch: Option<usize>, precision: Precision) -> Result<Embedder> {
        if kind == EngineKind::Reference && precision != Precision::F32 {
            anyhow::bail!("the reference engine (SEMSEARCH_ENGINE=reference) multiplies in f32 only; use --precision f32 with it");
        }
        let config_path = info.dir.join("config.json");
        let config: Config = serde_json::from_str(&std::fs::read_to_string(&config_path).with_context(|| format!("cannot read {}", config_path.display()))?)
            .with_context(|| format!("{}: not a BERT config", config_path.display()))?;
        let weights = info.dir.join("model.safetensors");
        // The tokenizer (a JSON parse) loads beside the weights (copies into tensors).
        let (engine, tokenizer) = rayon::join(
            || -> Result<Engine> {
                Ok(match kind {
                    EngineKind::Packed => {
                        Engine::Packed(PackedBert::load(&weights, &config, precision).with_context(|| format!("{}: not a BERT model", weights.display()))?)
                    }
                    EngineKind::Reference => Engine::Reference(Reference::load(&weights, &config)?),
                })
            },
            || load_tokenizer(info),
        );
        let (engine, tokenizer) = (engine?, tokenizer?);
        let tokens_per_batch = tokens_per_batch.unwrap_or(TOKENS_PER_BATCH);
        Ok(Embedder { engine, tokenizer, info: info.clone().with_precision(precision), batch_size: DEFAULT_BATCH, tokens_per_batch })
    }

    /// The model's identity, dimensions, window and pooling.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Dimensions of a vector.
    pub fn dimensions(&self) -> usize {
        self.info.dimensions
    }

    /// The model's tokenizer (truncating at its window).
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Texts per batch of the reference engine.
    pub fn with_batch_size(mut self, n: usize) -> Embedder {
        self.batch_size = n.max(1);
        self
    }

    /// One text's unit vector (a question).
    pub fn embed_one(&self, text: &str) -> Result<Vec<f32>> {
        self.embed(&[text], &mut |_| {})
    }

    /// Embed `texts`; returns `texts.len() * dimensions` floats, row i for texts[i].
    /// Texts are processed in batches sorted by token length (so the reference engine pads little
    /// and the packed engine's attention blocks are even); `progress` is called with the number of
    /// texts done after each batch.
    pub fn embed(&self, texts: &[&str], progress: &mut dyn FnMut(usize)) -> Result<Vec<f32>> {
        Ok(self.embed_pooled(texts, None, progress)?.0)
    }

    /// As `embed`, plus unit vectors of byte spans of each text (`spans[i]`, sorted, not
    /// overlapping) pooled from that text's own forward pass: the mean of the final states of the
    /// tokens inside each span, L2-normalised — what a sentence means in its passage, at no extra
    /// model cost. A span with no token inside the model window gets the text's own vector. The
    /// reference engine has no span vectors (empty lists).
    pub fn embed_with_spans(&self, texts: &[&str], spans: &[Vec<(usize, usize)>], progress: &mut dyn FnMut(usize)) -> Result<(Vec<f32>, Vec<Vec<f32>>)> {
        anyhow::ensure!(texts.len() == spans.len(), "{} texts but {} span lists", texts.len(), spans.len());
        match self.engine {
            Engine::Packed(_) => self.embed_pooled(texts, Some(spans), progress),
            Engine::Reference(_) => Ok((self.embed(texts, progress)?, vec![Vec::new(); texts.len()])),
        }
    }

    fn embed_pooled(&self, texts: &[&str], spans: Option<&[Vec<(usize, usize)>]>, progress: &mut dyn FnMut(usize)) -> Result<(Vec<f32>, Vec<Vec<f32>>)> {
        let dim = self.info.dimensions;
        let mut out = vec![0f32; texts.len() * dim];
        let mut span_out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        // Only the token ids are kept (and, for span vectors, the span each token falls in): a
        // full `Encoding` (tokens, offsets, masks) costs ten times more, and a large run tokenizes
        // tens of thousands of passages before the first batch.
        let mut encodings: Vec<Vec<u32>> = Vec::with_capacity(texts.len());
        let mut token_spans: Vec<Vec<u16>> = Vec::new();
        for (g, group) in texts.chunks(2048).enumerate() {
            let encoded = self.tokenizer.encode_batch(group.to_vec(), true).map_err(|e| anyhow!("tokenizer: {e}"))?;
            if let Some(spans) = spans {
                token_spans.extend(encoded.iter().zip(&spans[g * 2048..]).map(|(e, s)| span_of_tokens(e, s)));
            }
            encodings.extend(encoded.into_iter().map(|e| e.get_ids().to_vec()));
        }
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| encodings[i].len());
        let mut batches: Vec<&[usize]> = Vec::new();
        let mut start = 0;
        while start < order.len() {
            let end = match self.engine {
                Engine::Packed(_) => {
                    // As many texts as fit in the token budget (at least one).
                    let mut end = start + 1;
                    let mut tokens = encodings[order[start]].len();
                    while end < order.len() && tokens + encodings[order[end]].len() <= self.tokens_per_batch {
                        tokens += encodings[order[end]].len();
                        end += 1;
                    }
                    end
                }
                Engine::Reference(_) => (start + self.batch_size).min(order.len()),
            };
            batches.push(&order[start..end]);
            start = end;
        }
        type Batch = (Vec<f32>, Vec<Vec<f32>>);
        let run = |batch: &[usize]| -> Result<Batch> {
            let seqs: Vec<&[u32]> = batch.iter().map(|&i| encodings[i].as_slice()).collect();
            match &self.engine {
                Engine::Packed(model) => {
                    let (hidden, offsets) = model.forward(&seqs)?;
                    let hidden = hidden.flatten_all()?.to_vec1::<f32>()?;
                    let whole = pool(&hidden, &offsets, dim, self.info.pooling);
                    let parts = match spans {
                        None => Vec::new(),
                        Some(spans) => batch
                            .iter()
                            .enumerate()
                            .map(|(j, &i)| {
                                let rows = &hidden[offsets[j] * dim..offsets[j + 1] * dim];
                                pool_spans(rows, &token_spans[i], spans[i].len(), &whole[j * dim..(j + 1) * dim])
                            })
                            .collect(),
                    };
                    Ok((whole, parts))
                }
                Engine::Reference(model) => Ok((model.embed_batch(&seqs, self.info.pooling)?, Vec::new())),
            }
        };
        // Two batches in flight: a forward pass has single-threaded stretches (candle clears each
        // product's output before gemm fills it), and the other batch keeps the cores busy
        // meanwhile. Each batch's products still spread over every core.
        let mut done = 0;
        for pair in batches.chunks(2) {
            let (rows, mut parts) = match pair {
                [a, b] => {
                    let (x, y) = rayon::join(|| run(a), || run(b));
                    let ((xr, xp), (yr, yp)) = (x?, y?);
                    ([xr, yr].concat(), [xp, yp].concat())
                }
                _ => run(pair[0])?,
            };
            for (j, &i) in pair.concat().iter().enumerate() {
                out[i * dim..(i + 1) * dim].copy_from_slice(&rows[j * dim..(j + 1) * dim]);
                if let Some(p) = parts.get_mut(j) {
                    span_out[i] = std::mem::take(p);
                }
            }
            done += pair.iter().map(|b| b.len()).sum::<usize>();
            progress(done);
        }
        Ok((out, span_out))
    }
}

/// For each token of `e`, the index of the span of `spans` (byte ranges of the text, sorted, not
/// overlapping) that holds it, or `u16::MAX` (special tokens, tokens outside every span).
fn span_of_tokens(e: &tokenizers::Encoding, spans: &[(usize, usize)]) -> Vec<u16> {
    let special = e.get_special_tokens_mask();
    let mut j = 0;
    e.get_offsets()
        .iter()
        .enumerate()
        .map(|(t, &(start, end))| {
            if special[t] != 0 || end <= start {
                return u16::MAX;
            }
            while j < spans.len() && spans[j].1 < end {
                j += 1;
            }
            let inside = j < spans.len() && start >= spans[j].0 && j < u16::MAX as usize;
            if inside {
                j as u16
            } else {
                u16::MAX
            }
        })
        .collect()
}

/// Mean of the rows of each span's tokens (`of_token[t]`: token t's span), L2-normalised;
/// `fallback` for a span without tokens. `n` spans, `n * dim` floats.
fn pool_spans(rows: &[f32], of_token: &[u16], n: usize, fallback: &[f32]) -> Vec<f32> {
    let dim = fallback.len();
    let mut out = vec![0f32; n * dim];
    let mut counts = vec![0usize; n];
    for (row, &j) in rows.chunks_exact(dim).zip(of_token) {
        let j = j as usize;
        if j < n {
            out[j * dim..(j + 1) * dim].iter_mut().zip(row).for_each(|(a, b)| *a += b);
            counts[j] += 1;
        }
    }
    for (v, &c) in out.chunks_exact_mut(dim).zip(&counts) {
        if c == 0 {
            v.copy_from_slice(fallback);
        } else {
            normalize(v);
        }
    }
    out
}

/// Scales `v` to unit length (a zero vector stays zero).
fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|a| *a /= norm);
}

/// One unit vector per packed sequence (rows `offsets[j]..offsets[j + 1]` of `hidden`): the mean
/// of its token states (or its first token's, for CLS pooling), L2-normalised.
fn pool(hidden: &[f32], offsets: &[usize], dim: usize, pooling: Pooling) -> Vec<f32> {
    let mut out = vec![0f32; (offsets.len() - 1) * dim];
    for (j, v) in out.chunks_exact_mut(dim).enumerate() {
        let rows = &hidden[offsets[j] * dim..offsets[j + 1] * dim];
        match pooling {
            Pooling::Mean => {
                for row in rows.chunks(dim) {
                    v.iter_mut().zip(row).for_each(|(a, b)| *a += b);
                }
                let n = (offsets[j + 1] - offsets[j]).max(1) as f32;
                v.iter_mut().for_each(|a| *a /= n);
            }
            Pooling::Cls => v.copy_from_slice(&rows[..dim]),
        }
        normalize(v);
    }
    out
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

/// The dot product of two vectors (their cosine when both are unit vectors).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
