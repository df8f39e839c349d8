//! In-process sequence classifiers (placeholder while the candle models are written).

use std::path::Path;

/// A classifier loaded from a Hugging Face model folder.
#[derive(Debug)]
pub struct LocalClassifier {
    labels: Vec<String>,
    sha256: String,
    multi_label: bool,
}

/// Why a local classifier cannot be loaded or run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LocalError(String);

impl LocalClassifier {
    /// Loads a model folder, checking the weights against `sha256` when given.
    pub fn load(path: &Path, _sha256: Option<&str>) -> Result<LocalClassifier, LocalError> {
        Err(LocalError(format!("{}: local classifiers are not built yet", path.display())))
    }
    /// The SHA-256 of `model.safetensors`.
    pub fn weights_sha256(&self) -> &str {
        &self.sha256
    }
    /// Whether the labels are independent.
    pub fn multi_label(&self) -> bool {
        self.multi_label
    }
    /// The labels, from `id2label`.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }
    /// The logits for one text.
    pub fn logits(&self, _text: &str) -> Result<Vec<f64>, LocalError> {
        Err(LocalError("not built".into()))
    }
}
