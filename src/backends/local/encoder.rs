//! BERT-family encoders with their sequence-classification heads, in candle: BERT, RoBERTa,
//! XLM-RoBERTa and Longformer. They share one transformer (post-layer-norm, GELU) and differ
//! in three places:
//!
//! - positions: BERT counts from 0; the RoBERTa family from `pad_token_id + 1`;
//! - the head: BERT's pooler (dense + tanh on the first token) and one linear layer; the
//!   RoBERTa family's `classifier.dense` + tanh + `classifier.out_proj` on the first token;
//! - attention: Longformer's sliding window (each token sees the tokens within half the
//!   layer's `attention_window` on either side) plus global attention for the first token,
//!   which `LongformerForSequenceClassification` always sets: every token also sees the first
//!   one, and the first token sees every token through its own `query_global`, `key_global`
//!   and `value_global` projections.
//!
//! One text is run at a time, so there is no padding and no attention mask but the window's.

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Embedding, LayerNorm, VarBuilder, embedding, layer_norm};
use serde::Deserialize;

/// A dense layer with its weight kept transposed (`[in, out]`, contiguous), so that the
/// matrix product reads it in order (about 9% more texts per second on the CPU here than
/// multiplying by the stored `[out, in]` weight transposed on the fly).
struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.weight)?.broadcast_add(&self.bias)
    }
}

fn linear(inputs: usize, outputs: usize, vb: VarBuilder) -> Result<Linear> {
    let weight = vb.get((outputs, inputs), "weight")?.t()?.contiguous()?;
    Ok(Linear { weight, bias: vb.get(outputs, "bias")? })
}

/// Dense layers on the same input joined into one, their outputs side by side.
fn side_by_side(layers: &[Linear]) -> Result<Linear> {
    let weights: Vec<&Tensor> = layers.iter().map(|l| &l.weight).collect();
    let biases: Vec<&Tensor> = layers.iter().map(|l| &l.bias).collect();
    Ok(Linear { weight: Tensor::cat(&weights, 1)?.contiguous()?, bias: Tensor::cat(&biases, 0)? })
}

/// The architectures this file runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `bert`.
    Bert,
    /// `roberta`, `xlm-roberta`.
    Roberta,
    /// `longformer`.
    Longformer,
}

/// The fields of `config.json` the encoders read.
#[derive(Debug, Clone, Deserialize)]
pub struct EncoderConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden size.
    pub hidden_size: usize,
    /// Layers.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// Feed-forward size.
    pub intermediate_size: usize,
    /// Positions.
    pub max_position_embeddings: usize,
    /// Token types.
    #[serde(default = "one")]
    pub type_vocab_size: usize,
    /// Layer-norm epsilon.
    #[serde(default = "eps")]
    pub layer_norm_eps: f64,
    /// The padding token (the RoBERTa family's positions start after it).
    #[serde(default)]
    pub pad_token_id: Option<usize>,
    /// The activation; only GELU is supported.
    #[serde(default = "gelu")]
    pub hidden_act: String,
    /// Longformer's window per layer (a number, or one per layer).
    #[serde(default)]
    pub attention_window: Option<Window>,
}

/// Longformer's `attention_window`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Window {
    /// One window for every layer.
    All(usize),
    /// One per layer.
    PerLayer(Vec<usize>),
}

fn one() -> usize {
    1
}
fn eps() -> f64 {
    1e-12
}
fn gelu() -> String {
    "gelu".into()
}

impl EncoderConfig {
    /// The first position id of the text's first token.
    fn first_position(&self, family: Family) -> usize {
        match family {
            Family::Bert => 0,
            _ => self.pad_token_id.unwrap_or(1) + 1,
        }
    }

    /// The most tokens a text may have.
    pub fn max_tokens(&self, family: Family) -> usize {
        self.max_position_embeddings.saturating_sub(self.first_position(family))
    }
}

struct Embeddings {
    words: Embedding,
    positions: Embedding,
    types: Embedding,
    norm: LayerNorm,
}

struct Attention {
    /// The query, key and value projections side by side (`[hidden, 3 × hidden]`): one matrix
    /// product instead of three.
    qkv: Linear,
    /// Longformer's projections for the global first token.
    global: Option<(Linear, Linear, Linear)>,
    /// Longformer's one-sided window.
    half_window: Option<usize>,
    output: Linear,
    norm: LayerNorm,
    heads: usize,
}

struct Layer {
    attention: Attention,
    intermediate: Linear,
    output: Linear,
    norm: LayerNorm,
}

enum Head {
    /// BERT: pooler, then one linear layer.
    Pooled { pooler: Linear, classifier: Linear },
    /// The RoBERTa family: dense + tanh, then the output projection.
    Dense { dense: Linear, out_proj: Linear },
}

/// An encoder with its classification head.
pub struct Encoder {
    first_position: usize,
    embeddings: Embeddings,
    layers: Vec<Layer>,
    head: Head,
    device: Device,
}

impl Encoder {
    /// Builds the model from its weights (named as `transformers` saves them).
    pub fn load(vb: VarBuilder, config: &EncoderConfig, family: Family, labels: usize) -> Result<Encoder> {
        if config.hidden_act != "gelu" {
            candle_core::bail!("hidden_act {:?} is not supported (only \"gelu\")", config.hidden_act);
        }
        if config.num_attention_heads == 0 || !config.hidden_size.is_multiple_of(config.num_attention_heads) {
            candle_core::bail!("hidden_size is not a multiple of num_attention_heads");
        }
        let base = vb.pp(match family {
            Family::Bert => "bert",
            Family::Roberta => "roberta",
            Family::Longformer => "longformer",
        });
        let h = config.hidden_size;
        let norm = |vb: VarBuilder| layer_norm(h, config.layer_norm_eps, vb);
        let e = base.pp("embeddings");
        let embeddings = Embeddings {
            words: embedding(config.vocab_size, h, e.pp("word_embeddings"))?,
            positions: embedding(config.max_position_embeddings, h, e.pp("position_embeddings"))?,
            types: embedding(config.type_vocab_size.max(1), h, e.pp("token_type_embeddings"))?,
            norm: norm(e.pp("LayerNorm"))?,
        };
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let l = base.pp(format!("encoder.layer.{i}"));
            let s = l.pp("attention.self");
            let (global, half_window) = match family {
                Family::Longformer => {
                    let window = match &config.attention_window {
                        Some(Window::All(w)) => *w,
                        Some(Window::PerLayer(ws)) => ws.get(i).copied().unwrap_or(512),
                        None => 512,
                    };
                    let g = (
                        linear(h, h, s.pp("query_global"))?,
                        linear(h, h, s.pp("key_global"))?,
                        linear(h, h, s.pp("value_global"))?,
                    );
                    (Some(g), Some(window / 2))
                }
                _ => (None, None),
            };
            layers.push(Layer {
                attention: Attention {
                    qkv: side_by_side(&[
                        linear(h, h, s.pp("query"))?,
                        linear(h, h, s.pp("key"))?,
                        linear(h, h, s.pp("value"))?,
                    ])?,
                    global,
                    half_window,
                    output: linear(h, h, l.pp("attention.output.dense"))?,
                    norm: norm(l.pp("attention.output.LayerNorm"))?,
                    heads: config.num_attention_heads,
                },
                intermediate: linear(h, config.intermediate_size, l.pp("intermediate.dense"))?,
                output: linear(config.intermediate_size, h, l.pp("output.dense"))?,
                norm: norm(l.pp("output.LayerNorm"))?,
            });
        }
        let head = match family {
            Family::Bert => Head::Pooled {
                pooler: linear(h, h, base.pp("pooler.dense"))?,
                classifier: linear(h, labels, vb.pp("classifier"))?,
            },
            _ => Head::Dense {
                dense: linear(h, h, vb.pp("classifier.dense"))?,
                out_proj: linear(h, labels, vb.pp("classifier.out_proj"))?,
            },
        };
        Ok(Encoder {
            first_position: config.first_position(family),
            embeddings,
            layers,
            head,
            device: vb.device().clone(),
        })
    }

    /// The logits of one tokenized text.
    pub fn logits(&self, ids: &[u32]) -> Result<Tensor> {
        let n = ids.len();
        let ids = Tensor::new(ids, &self.device)?;
        let positions: Vec<u32> = (0..n).map(|i| (self.first_position + i) as u32).collect();
        let positions = Tensor::new(positions.as_slice(), &self.device)?;
        let types = Tensor::zeros(n, DType::U32, &self.device)?;
        let e = &self.embeddings;
        let x = (e.words.forward(&ids)? + e.positions.forward(&positions)?)?;
        let mut x = e.norm.forward(&(x + e.types.forward(&types)?)?)?;
        for (i, layer) in self.layers.iter().enumerate() {
            // The head reads the first token only, so the last layer computes that token's
            // row alone (every token's keys and values, one query): the same numbers, and
            // about a twelfth less work for a base-size model.
            let first_only = i + 1 == self.layers.len();
            let attended = layer.attention.forward(&x, first_only)?;
            let inner = layer.intermediate.forward(&attended)?.gelu_erf()?;
            x = layer.norm.forward(&(layer.output.forward(&inner)? + attended)?)?;
        }
        let first = x.narrow(0, 0, 1)?;
        match &self.head {
            Head::Pooled { pooler, classifier } => classifier.forward(&pooler.forward(&first)?.tanh()?),
            Head::Dense { dense, out_proj } => out_proj.forward(&dense.forward(&first)?.tanh()?),
        }?
        .squeeze(0)
    }
}

impl Attention {
    /// `[n, hidden]` to `[heads, n, head_dim]`.
    fn split(&self, x: &Tensor) -> Result<Tensor> {
        let (n, h) = x.dims2()?;
        x.reshape((n, self.heads, h / self.heads))?.transpose(0, 1)?.contiguous()
    }

    /// `[heads, n, head_dim]` back to `[n, hidden]`.
    fn merge(&self, x: &Tensor) -> Result<Tensor> {
        let (heads, n, d) = x.dims3()?;
        x.transpose(0, 1)?.contiguous()?.reshape((n, heads * d))
    }

    /// The attention block's output for every row of `x`, or with `first_only` for the
    /// first row alone (a `[1, hidden]` result; the keys and values still come from every
    /// row).
    fn forward(&self, x: &Tensor, first_only: bool) -> Result<Tensor> {
        let (n, h) = x.dims2()?;
        let scale = 1.0 / ((h / self.heads) as f64).sqrt();
        let rows = if first_only { 1 } else { n };
        let local = || -> Result<Tensor> {
            let qkv = self.qkv.forward(x)?;
            let q = (self.split(&qkv.narrow(1, 0, h)?.narrow(0, 0, rows)?)? * scale)?;
            let k = self.split(&qkv.narrow(1, h, h)?)?;
            let v = self.split(&qkv.narrow(1, 2 * h, h)?)?;
            let context = match self.half_window {
                Some(w) if n > w + 1 && !first_only => windowed(&q, &k, &v, w)?,
                _ => attend(&q, &k, &v, None)?,
            };
            self.merge(&context)
        };
        let context = match &self.global {
            None => local()?,
            Some((gq, gk, gv)) => {
                // The first token attends to every token through the global projections.
                let q0 = (self.split(&gq.forward(&x.narrow(0, 0, 1)?)?)? * scale)?;
                let first = self.merge(&attend(
                    &q0,
                    &self.split(&gk.forward(x)?)?,
                    &self.split(&gv.forward(x)?)?,
                    None,
                )?)?;
                // Longformer replaces the first token's local attention by this, so the
                // local attention is not needed when only the first row is.
                match first_only || n == 1 {
                    true => first,
                    false => Tensor::cat(&[&first, &local()?.narrow(0, 1, n - 1)?], 0)?,
                }
            }
        };
        let residual = if first_only { x.narrow(0, 0, 1)? } else { x.clone() };
        self.norm.forward(&(self.output.forward(&context)? + residual)?)
    }
}

/// Softmax attention of `q` (`[heads, m, d]`, already scaled) over `k`, `v` (`[heads, j, d]`),
/// with an additive mask `[m, j]`.
fn attend(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    let mut scores = q.matmul(&k.t()?)?;
    if let Some(mask) = mask {
        scores = scores.broadcast_add(mask)?;
    }
    candle_nn::ops::softmax_last_dim(&scores)?.matmul(v)
}

/// Longformer's local attention for texts longer than the window: row blocks, each over the
/// keys its rows may see (within `w` positions, and the global first token).
fn windowed(q: &Tensor, k: &Tensor, v: &Tensor, w: usize) -> Result<Tensor> {
    let n = q.dim(1)?;
    let block = w.max(16);
    let mut out = Vec::new();
    let mut start = 0;
    while start < n {
        let len = block.min(n - start);
        let lo = start.saturating_sub(w);
        let hi = (start + len + w).min(n);
        let mut keys: Vec<usize> = (lo..hi).collect();
        if lo > 0 {
            keys.insert(0, 0);
        }
        let pick = |t: &Tensor| -> Result<Tensor> {
            let band = t.narrow(1, lo, hi - lo)?;
            if lo > 0 { Tensor::cat(&[&t.narrow(1, 0, 1)?, &band], 1) } else { Ok(band) }
        };
        let mask: Vec<f32> = (start..start + len)
            .flat_map(|i| {
                keys.iter().map(move |&j| if j == 0 || i.abs_diff(j) <= w { 0.0 } else { f32::NEG_INFINITY })
            })
            .collect();
        let mask = Tensor::from_vec(mask, (len, keys.len()), q.device())?;
        out.push(attend(&q.narrow(1, start, len)?, &pick(k)?, &pick(v)?, Some(&mask))?);
        start += len;
    }
    Tensor::cat(&out, 1)
}
