//! Who a service is.

use serde::{Deserialize, Serialize};

/// What a service is, for fingerprints and labels: provider, model and endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    /// The API spoken (`openai`, `anthropic`, `gemini`, `moderation`, ...).
    pub provider: String,
    /// The model name.
    pub model: String,
    /// The endpoint's base URL.
    pub endpoint: String,
}

impl Identity {
    /// An identity; the endpoint loses any trailing slash.
    pub fn new(provider: &str, model: &str, endpoint: &str) -> Identity {
        Identity {
            provider: provider.to_string(),
            model: model.to_string(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
        }
    }

    /// `provider:model`.
    pub fn label(&self) -> String {
        format!("{}:{}", self.provider, self.model)
    }
}
