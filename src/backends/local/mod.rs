//! In-process text classifiers: a Hugging Face model folder the user downloaded
//! (`config.json`, `tokenizer.json`, `model.safetensors`), run on the CPU with candle (or an
//! NVIDIA GPU with the `cuda` feature).
//!
//! Architectures, by `model_type`: `bert`, `roberta`, `xlm-roberta`, `longformer` (our own
//! encoders, [`encoder`]) and `deberta-v2` (candle-transformers' model). The weights are hashed
//! when loaded; a configured SHA-256 that differs stops the run before anything is scored, and
//! the hash names the classifier in every result. Probabilities follow the model's
//! `problem_type`: sigmoid for `multi_label_classification` (Detoxify's models), softmax
//! otherwise.
//!
//! Texts longer than the model's positions are cut at its limit (the original's action
//! classifier would fail on them instead; Longformer's limit is 4,094 tokens).

#[cfg(feature = "local")]
pub mod encoder;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why a local classifier cannot be loaded or run; the message names the file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LocalError(String);

/// What `config.json` says about the task.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(not(feature = "local"), allow(dead_code))]
struct Head {
    model_type: String,
    #[serde(default)]
    problem_type: Option<String>,
    #[serde(default)]
    id2label: BTreeMap<String, String>,
    #[serde(default)]
    num_labels: Option<usize>,
}

/// How many texts an in-process classifier runs at once. On the CPU, one per available core,
/// each forward pass on one core ([`one_core_per_text`]): on
/// two cores that gave 1.2-1.5x the texts per second of one text at a time over both cores,
/// whose threads wait on each other at every operation. On a GPU, one.
pub fn texts_at_once() -> usize {
    match cfg!(feature = "cuda") {
        true => 1,
        false => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

/// Keeps each forward pass on the CPU to one core, for [`texts_at_once`]: sets
/// `RAYON_NUM_THREADS=1` unless the user set it. candle's matrix products and element-wise
/// operations otherwise split every operation over the cores, and two texts in flight would
/// each wait on the other's threads. Does nothing with the `cuda` feature.
///
/// # Safety
///
/// Changes the environment: call it before any other thread exists (first thing in `main`).
pub unsafe fn one_core_per_text() {
    if !cfg!(feature = "cuda") && std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // SAFETY: the caller guarantees that no other thread reads the environment.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
    }
}

/// A classifier loaded from a model folder.
#[cfg_attr(not(feature = "local"), allow(dead_code))]
pub struct LocalClassifier {
    dir: PathBuf,
    labels: Vec<String>,
    sha256: String,
    multi_label: bool,
    model_type: String,
    #[cfg(feature = "local")]
    model: run::Model,
}

impl std::fmt::Debug for LocalClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalClassifier")
            .field("dir", &self.dir)
            .field("model_type", &self.model_type)
            .field("labels", &self.labels)
            .field("sha256", &self.sha256)
            .finish()
    }
}

impl LocalClassifier {
    /// Loads a model folder, checking `model.safetensors` against `sha256` when given.
    pub fn load(dir: &Path, sha256: Option<&str>) -> Result<LocalClassifier, LocalError> {
        #[cfg(feature = "local")]
        return LocalClassifier::load_local(dir, sha256);
        #[cfg(not(feature = "local"))]
        {
            let _ = sha256;
            Err(LocalError(format!(
                "{}: this multitrust was built without the `local` feature; rebuild with \
                 `cargo build --release --features local`",
                dir.display()
            )))
        }
    }

    #[cfg(feature = "local")]
    fn load_local(dir: &Path, sha256: Option<&str>) -> Result<LocalClassifier, LocalError> {
        let file = |name: &str| dir.join(name);
        let read = |name: &str| {
            std::fs::read(file(name)).map_err(|e| {
                LocalError(format!(
                    "{}: {e}. A local classifier folder holds config.json, tokenizer.json and \
                     model.safetensors, as `huggingface-cli download MODEL --local-dir DIR` writes them",
                    file(name).display()
                ))
            })
        };
        let config_text = read("config.json")?;
        let head: Head = serde_json::from_slice(&config_text)
            .map_err(|e| LocalError(format!("{}: {e}", file("config.json").display())))?;
        let weights = read("model.safetensors")?;
        let hash = crate::core::sha256_hex(&weights);
        if let Some(want) = sha256
            && !want.eq_ignore_ascii_case(&hash)
        {
            return Err(LocalError(format!(
                "{}: SHA-256 {hash}, but the configuration pins {want}; download the pinned \
                 weights again, or update `sha256` if you meant to change the classifier",
                file("model.safetensors").display()
            )));
        }
        // transformers leaves id2label out of config.json when it is its default, two labels
        // named LABEL_0 and LABEL_1.
        let n = match (head.num_labels, head.id2label.len()) {
            (None, 0) => 2,
            (n, m) => n.unwrap_or(0).max(m),
        };
        let labels = (0..n)
            .map(|i| head.id2label.get(&i.to_string()).cloned().unwrap_or_else(|| format!("LABEL_{i}")))
            .collect::<Vec<_>>();
        let multi_label = head.problem_type.as_deref() == Some("multi_label_classification");
        let model = run::Model::load(dir, &head.model_type, &config_text, weights, labels.len())?;
        Ok(LocalClassifier {
            dir: dir.to_path_buf(),
            labels,
            sha256: hash,
            multi_label,
            model_type: head.model_type,
            model,
        })
    }

    /// The SHA-256 of `model.safetensors`.
    pub fn weights_sha256(&self) -> &str {
        &self.sha256
    }

    /// Whether the labels are independent (sigmoid) rather than exclusive (softmax).
    pub fn multi_label(&self) -> bool {
        self.multi_label
    }

    /// The labels, from `id2label`, in the model's order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The `model_type` of `config.json`.
    pub fn model_type(&self) -> &str {
        &self.model_type
    }

    /// The token ids the model is given for a text (special tokens included, cut at the
    /// model's limit).
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, LocalError> {
        #[cfg(feature = "local")]
        return self.model.token_ids(text);
        #[cfg(not(feature = "local"))]
        {
            let _ = text;
            Err(LocalError("built without the `local` feature".into()))
        }
    }

    /// The logits of many texts, in their order, [`texts_at_once`] of them at a time.
    pub fn logits_of_all(&self, texts: &[String]) -> Vec<Result<Vec<f64>, LocalError>> {
        match texts_at_once() {
            1 => texts.iter().map(|text| self.logits(text)).collect(),
            _ => crate::core::parallel::map_indices(texts.len(), |i| self.logits(&texts[i])),
        }
    }

    /// The logits for one text.
    pub fn logits(&self, text: &str) -> Result<Vec<f64>, LocalError> {
        #[cfg(feature = "local")]
        return self.model.logits(text);
        #[cfg(not(feature = "local"))]
        {
            let _ = text;
            Err(LocalError("built without the `local` feature".into()))
        }
    }
}

#[cfg(feature = "local")]
mod run {
    use std::path::Path;

    use candle_core::{DType, Device, Tensor};
    use candle_nn::VarBuilder;
    use candle_transformers::models::debertav2;
    use tokenizers::{Tokenizer, TruncationParams};

    use super::LocalError;
    use super::encoder::{Encoder, EncoderConfig, Family};

    enum Net {
        Encoder(Encoder),
        Deberta(Box<debertav2::DebertaV2SeqClassificationModel>),
    }

    pub struct Model {
        net: Net,
        tokenizer: Tokenizer,
        device: Device,
    }

    fn device() -> Result<Device, LocalError> {
        #[cfg(feature = "cuda")]
        return Device::new_cuda(0).map_err(|e| LocalError(format!("CUDA device 0: {e}")));
        #[cfg(not(feature = "cuda"))]
        Ok(Device::Cpu)
    }

    impl Model {
        pub fn load(
            dir: &Path,
            model_type: &str,
            config: &[u8],
            weights: Vec<u8>,
            labels: usize,
        ) -> Result<Model, LocalError> {
            let shown = |name: &str| dir.join(name).display().to_string();
            let device = device()?;
            let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
                .map_err(|e| LocalError(format!("{}: {e}", shown("model.safetensors"))))?;
            let bad_config = |e: serde_json::Error| LocalError(format!("{}: {e}", shown("config.json")));
            let bad_weights = |e: candle_core::Error| {
                LocalError(format!("{}: {e} (does it match config.json?)", shown("model.safetensors")))
            };
            let (net, max_tokens) = match model_type {
                "bert" | "roberta" | "xlm-roberta" | "longformer" => {
                    let family = match model_type {
                        "bert" => Family::Bert,
                        "longformer" => Family::Longformer,
                        _ => Family::Roberta,
                    };
                    let c: EncoderConfig = serde_json::from_slice(config).map_err(bad_config)?;
                    let encoder = Encoder::load(vb, &c, family, labels).map_err(bad_weights)?;
                    (Net::Encoder(encoder), c.max_tokens(family))
                }
                "deberta-v2" => {
                    let mut c: debertav2::Config = serde_json::from_slice(config).map_err(bad_config)?;
                    c.id2label = Some((0..labels as u32).map(|i| (i, format!("LABEL_{i}"))).collect());
                    let model = debertav2::DebertaV2SeqClassificationModel::load(vb.pp("deberta"), &c, None)
                        .map_err(bad_weights)?;
                    (Net::Deberta(Box::new(model)), c.max_position_embeddings)
                }
                other => {
                    return Err(LocalError(format!(
                        "{}: model_type {other:?} is not one multitrust runs in process (bert, roberta, \
                         xlm-roberta, deberta-v2, longformer); serve it with text-embeddings-inference instead",
                        shown("config.json")
                    )));
                }
            };
            let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
                .map_err(|e| LocalError(format!("{}: {e}", shown("tokenizer.json"))))?;
            let limit =
                tokenizer.get_truncation().map(|t| t.max_length.min(max_tokens)).unwrap_or(max_tokens);
            tokenizer
                .with_truncation(Some(TruncationParams { max_length: limit, ..TruncationParams::default() }))
                .map_err(|e| LocalError(format!("{}: {e}", shown("tokenizer.json"))))?;
            tokenizer.with_padding(None);
            Ok(Model { net, tokenizer, device })
        }

        pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, LocalError> {
            let encoding =
                self.tokenizer.encode(text, true).map_err(|e| LocalError(format!("tokenizer: {e}")))?;
            Ok(encoding.get_ids().to_vec())
        }

        pub fn logits(&self, text: &str) -> Result<Vec<f64>, LocalError> {
            let ids = self.token_ids(text)?;
            let failed = |e: candle_core::Error| LocalError(format!("the classifier failed: {e}"));
            let logits = match &self.net {
                Net::Encoder(encoder) => encoder.logits(&ids).map_err(failed)?,
                Net::Deberta(model) => {
                    let input = Tensor::new(ids.as_slice(), &self.device)
                        .and_then(|t| t.unsqueeze(0))
                        .map_err(failed)?;
                    let mask = Tensor::ones((1, ids.len()), DType::I64, &self.device).map_err(failed)?;
                    model.forward(&input, None, Some(mask)).and_then(|t| t.squeeze(0)).map_err(failed)?
                }
            };
            let values: Vec<f32> = logits.to_dtype(DType::F32).and_then(|t| t.to_vec1()).map_err(failed)?;
            Ok(values.into_iter().map(f64::from).collect())
        }
    }
}
