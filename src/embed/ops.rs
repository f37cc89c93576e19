//! The packed BERT's fused passes as candle custom ops: each takes its tensors' CPU storage and
//! runs one kernel of `kernels.rs` over it, so a layer is candle matmuls plus four of these, with no
//! intermediate tensor for a bias, an activation or a residual sum.

use super::{attention, kernels};
use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp2, InplaceOp2, InplaceOp3, Layout, Result, Shape};

/// The f32 values of a contiguous tensor's storage.
fn values<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else { bail!("{what}: expected f32 values, got {:?}", s.dtype()) };
    let Some((a, b)) = l.contiguous_offsets() else { bail!("{what}: expected a contiguous tensor") };
    Ok(&v[a..b])
}

fn values_mut<'a>(s: &'a mut CpuStorage, l: &Layout, what: &str) -> Result<&'a mut [f32]> {
    let dtype = s.dtype();
    let CpuStorage::F32(v) = s else { bail!("{what}: expected f32 values, got {dtype:?}") };
    let Some((a, b)) = l.contiguous_offsets() else { bail!("{what}: expected a contiguous tensor") };
    Ok(&mut v[a..b])
}

/// Splits a (3, h) parameter tensor into its three rows.
fn three_rows<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<(&'a [f32], &'a [f32], &'a [f32])> {
    let p = values(s, l, what)?;
    let h = p.len() / 3;
    Ok((&p[..h], &p[h..2 * h], &p[2 * h..]))
}

/// In place on the summed word vectors (tokens × h): + position + token type 0, then LayerNorm.
/// Arguments: the position table (positions × h) and `[type 0; gain; shift]` as a (3, h) tensor.
pub struct EmbeddingNorm<'a> {
    pub offsets: &'a [usize],
    pub eps: f32,
}

impl InplaceOp3 for EmbeddingNorm<'_> {
    fn name(&self) -> &'static str {
        "embedding-norm"
    }

    fn cpu_fwd(&self, x: &mut CpuStorage, xl: &Layout, pos: &CpuStorage, pl: &Layout, p: &CpuStorage, ppl: &Layout) -> Result<()> {
        let (type0, g, b) = three_rows(p, ppl, self.name())?;
        let pos = values(pos, pl, self.name())?;
        let longest = self.offsets.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
        if pos.len() < longest * type0.len() {
            bail!("a sequence of {longest} tokens exceeds the model's {} positions", pos.len() / type0.len().max(1));
        }
        kernels::embedding_layer_norm(values_mut(x, xl, self.name())?, self.offsets, pos, type0, g, b, self.eps);
        Ok(())
    }
}

/// In place: x = LayerNorm(x + y + bias), the residual connection that closes attention and the
/// feed-forward block. Arguments: y, and `[bias; gain; shift]` as a (3, h) tensor.
pub struct ResidualNorm {
    pub eps: f32,
}

impl InplaceOp3 for ResidualNorm {
    fn name(&self) -> &'static str {
        "residual-norm"
    }

    fn cpu_fwd(&self, x: &mut CpuStorage, xl: &Layout, y: &CpuStorage, yl: &Layout, p: &CpuStorage, pl: &Layout) -> Result<()> {
        let (bias, g, b) = three_rows(p, pl, self.name())?;
        let x = values_mut(x, xl, self.name())?;
        let y = values(y, yl, self.name())?;
        if x.len() != y.len() || x.len() % bias.len().max(1) != 0 {
            bail!("residual-norm: shapes do not match");
        }
        kernels::residual_layer_norm(x, y, bias, g, b, self.eps);
        Ok(())
    }
}

/// In place: x = GELU(x + bias), with the exact (erf) GELU that BERT defines.
pub struct BiasGelu;

impl InplaceOp2 for BiasGelu {
    fn name(&self) -> &'static str {
        "bias-gelu"
    }

    fn cpu_fwd(&self, x: &mut CpuStorage, xl: &Layout, bias: &CpuStorage, bl: &Layout) -> Result<()> {
        let bias = values(bias, bl, self.name())?;
        let x = values_mut(x, xl, self.name())?;
        if bias.is_empty() || x.len() % bias.len() != 0 {
            bail!("bias-gelu: bias does not match the rows");
        }
        kernels::bias_gelu(x, bias);
        Ok(())
    }
}

/// Multi-head self-attention over packed sequences (no padding, so no mask): takes the
/// query/key/value projections (tokens × 3h, before bias) and their bias (3h), gives tokens × h.
pub struct PackedAttention<'a> {
    pub offsets: &'a [usize],
    pub heads: usize,
}

impl CustomOp2 for PackedAttention<'_> {
    fn name(&self) -> &'static str {
        "packed-attention"
    }

    fn cpu_fwd(&self, qkv: &CpuStorage, ql: &Layout, bias: &CpuStorage, bl: &Layout) -> Result<(CpuStorage, Shape)> {
        let qkv = values(qkv, ql, self.name())?;
        let bias = values(bias, bl, self.name())?;
        let h = bias.len() / 3;
        let tokens = *self.offsets.last().unwrap_or(&0);
        if h == 0 || h % self.heads != 0 || qkv.len() != tokens * 3 * h {
            bail!("packed-attention: {} values for {tokens} tokens of width {}", qkv.len(), 3 * h);
        }
        let mut ctx = vec![0f32; tokens * h];
        attention::attention(qkv, bias, &mut ctx, self.offsets, self.heads);
        Ok((CpuStorage::F32(ctx), Shape::from((tokens, h))))
    }
}

/// a (m × k) · wᵀ with w in `Linear` layout (n × k), for few rows (a lone question): candle's
/// matmul hands every product to gemm, which packs the whole weight matrix on each call and for
/// one row spends more on that than on the arithmetic. Here each weight row is read once.
pub struct FewRowsProduct;

impl CustomOp2 for FewRowsProduct {
    fn name(&self) -> &'static str {
        "few-rows-product"
    }

    fn cpu_fwd(&self, a: &CpuStorage, al: &Layout, w: &CpuStorage, wl: &Layout) -> Result<(CpuStorage, Shape)> {
        let (m, k) = al.shape().dims2()?;
        let (n, wk) = wl.shape().dims2()?;
        if k != wk {
            bail!("few-rows-product: ({m} × {k}) by ({n} × {wk})ᵀ");
        }
        let mut out = vec![0f32; m * n];
        kernels::small_linear(&mut out, values(a, al, self.name())?, values(w, wl, self.name())?, m, n, k);
        Ok((CpuStorage::F32(out), Shape::from((m, n))))
    }
}
