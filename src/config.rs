//! The configuration file (`multitrust.toml`): model profiles, the judge, classifier endpoints
//! and run defaults. See `docs/configuration.md` for every field.
//!
//! Keys are read from environment variables named in the profile (or given in the file, which
//! is then a secret to keep); they never enter fingerprints, logs, stores or outputs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::engine::Limits;
use crate::models::Secret;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Model profiles by name.
    #[serde(default)]
    pub models: BTreeMap<String, Profile>,
    /// The judge: a profile name or `PROVIDER:MODEL`.
    #[serde(default)]
    pub judge: Option<String>,
    /// Classifier and moderation endpoints.
    #[serde(default)]
    pub classifiers: Classifiers,
    /// Run defaults.
    #[serde(default)]
    pub run: RunDefaults,
    /// Prompt templates that replace ours, by name: `harmbench`, a task id (`S2`), or
    /// `TASK:SPLIT` (`T1:g-basic-grounding`). Use them to supply the original's wording.
    #[serde(default)]
    pub templates: BTreeMap<String, String>,
}

impl Config {
    /// Reads a configuration file; a clear error names the file and the problem.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read the configuration: {e}", path.display()))?;
        let mut config: Config =
            toml::from_str(&text).map_err(|e| format!("{}: invalid configuration: {e}", path.display()))?;
        for (name, profile) in &mut config.models {
            profile.name = name.clone();
        }
        Ok(config)
    }

    /// Resolves a model named on the command line: a profile name, or `PROVIDER:MODEL` (with
    /// an optional base URL that overrides the provider's default).
    pub fn resolve_model(&self, spec: &str, base_url: Option<&str>) -> Result<Profile, String> {
        if let Some(profile) = self.models.get(spec) {
            let mut profile = profile.clone();
            if let Some(url) = base_url {
                profile.base_url = Some(url.to_string());
            }
            return Ok(profile);
        }
        Profile::shorthand(spec, base_url)
    }
}

/// Defaults for runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunDefaults {
    /// The seed of every random choice.
    #[serde(default)]
    pub seed: u64,
    /// The largest share of unscorable samples a run accepts before it fails.
    #[serde(default = "default_max_unscorable")]
    pub max_unscorable: f64,
}

impl Default for RunDefaults {
    fn default() -> Self {
        RunDefaults { seed: 0, max_unscorable: default_max_unscorable() }
    }
}

fn default_max_unscorable() -> f64 {
    0.2
}

/// Which API a profile speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// OpenAI `/chat/completions`, and every compatible server (vLLM, SGLang, Ollama,
    /// llama.cpp, mistral.rs, LM Studio, ...).
    Openai,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini `generateContent`.
    Gemini,
    /// A reference baseline answered locally.
    Baseline,
}

impl Provider {
    /// The provider's name in `PROVIDER:MODEL`.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Openai => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "gemini",
            Provider::Baseline => "baseline",
        }
    }

    fn default_base_url(self) -> &'static str {
        match self {
            Provider::Openai => "https://api.openai.com/v1",
            Provider::Anthropic => "https://api.anthropic.com",
            Provider::Gemini => "https://generativelanguage.googleapis.com",
            Provider::Baseline => "local",
        }
    }

    fn default_key_env(self) -> &'static [&'static str] {
        match self {
            Provider::Openai => &["OPENAI_API_KEY"],
            Provider::Anthropic => &["ANTHROPIC_API_KEY"],
            Provider::Gemini => &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
            Provider::Baseline => &[],
        }
    }
}

/// A model profile: how to reach one model and how hard to push it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The profile's name (the table key in the file, or the `PROVIDER:MODEL` text).
    #[serde(skip)]
    pub name: String,
    /// Which API.
    pub provider: Provider,
    /// The provider's model name.
    pub model: String,
    /// The API's base URL (for OpenAI-compatible servers, the URL ending in `/v1`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The environment variable holding the key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// The key itself (prefer `api_key_env`).
    #[serde(default)]
    pub api_key: Option<String>,
    /// Requests in flight at once (default 16).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Requests per minute (none by default).
    #[serde(default)]
    pub rpm: Option<u32>,
    /// Tokens per minute, estimated from the request (none by default).
    #[serde(default)]
    pub tpm: Option<u32>,
    /// Seconds before one attempt is abandoned (default 120).
    #[serde(default)]
    pub timeout_s: Option<f64>,
    /// Attempts per request, the first included (default 6).
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// The longest wait between attempts, in seconds (default 60).
    #[serde(default)]
    pub max_retry_delay_s: Option<f64>,
    /// Extra HTTP headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Extra body parameters, sent as they are (and part of the fingerprint).
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    /// Anthropic's `anthropic-version` header (default `2023-06-01`).
    #[serde(default)]
    pub anthropic_version: Option<String>,
}

impl Profile {
    /// A profile from `PROVIDER:MODEL`, e.g. `openai:gpt-4o`, `baseline:oracle`. The
    /// local-server names `vllm`, `sglang`, `ollama`, `llamacpp` and `lmstudio` mean the
    /// OpenAI API at that server's usual local address.
    pub fn shorthand(spec: &str, base_url: Option<&str>) -> Result<Profile, String> {
        let Some((provider, model)) = spec.split_once(':') else {
            return Err(format!(
                "`{spec}` is neither a profile of the configuration nor PROVIDER:MODEL \
                 (e.g. openai:gpt-4o, anthropic:claude-sonnet-4-5, gemini:gemini-2.5-pro, \
                 baseline:oracle)"
            ));
        };
        let (provider, local_url) = match provider.to_ascii_lowercase().as_str() {
            "openai" => (Provider::Openai, None),
            "anthropic" => (Provider::Anthropic, None),
            "gemini" | "google" => (Provider::Gemini, None),
            "baseline" => (Provider::Baseline, None),
            "vllm" => (Provider::Openai, Some("http://127.0.0.1:8000/v1")),
            "sglang" => (Provider::Openai, Some("http://127.0.0.1:30000/v1")),
            "ollama" => (Provider::Openai, Some("http://127.0.0.1:11434/v1")),
            "llamacpp" | "llama.cpp" => (Provider::Openai, Some("http://127.0.0.1:8080/v1")),
            "lmstudio" => (Provider::Openai, Some("http://127.0.0.1:1234/v1")),
            other => {
                return Err(format!(
                    "unknown provider `{other}` in `{spec}`: use openai, anthropic, gemini or \
                     baseline (or vllm, sglang, ollama, llamacpp, lmstudio for local servers)"
                ));
            }
        };
        if model.is_empty() {
            return Err(format!("`{spec}` names no model after the colon"));
        }
        if provider == Provider::Baseline && !["refuse", "comply", "oracle", "random"].contains(&model) {
            return Err(format!(
                "unknown baseline `{model}`: use baseline:refuse, baseline:comply, \
                 baseline:oracle or baseline:random"
            ));
        }
        Ok(Profile {
            name: spec.to_string(),
            provider,
            model: model.to_string(),
            base_url: base_url.or(local_url).map(str::to_string),
            api_key_env: None,
            api_key: None,
            concurrency: None,
            rpm: None,
            tpm: None,
            timeout_s: None,
            max_attempts: None,
            max_retry_delay_s: None,
            headers: BTreeMap::new(),
            params: BTreeMap::new(),
            anthropic_version: None,
        })
    }

    /// The base URL, or the provider's.
    pub fn base_url(&self) -> String {
        self.base_url.clone().unwrap_or_else(|| self.provider.default_base_url().to_string())
    }

    /// The key: from the file, the named variable, or the provider's usual variable.
    pub fn key(&self) -> Secret {
        if let Some(key) = &self.api_key {
            return Secret::new(Some(key.clone()));
        }
        if let Some(var) = &self.api_key_env {
            return Secret::new(std::env::var(var).ok());
        }
        let found = self.provider.default_key_env().iter().find_map(|v| std::env::var(v).ok());
        Secret::new(found)
    }

    /// Checks that a hosted API (OpenAI's, Anthropic's, Google's) has a key; local servers may
    /// go without. Called before anything is sent, not when only the store is read.
    pub fn check_key(&self) -> Result<(), String> {
        let hosted = ["api.openai.com", "api.anthropic.com", "googleapis.com"];
        let base = self.base_url();
        if !self.is_baseline() && self.key().expose().is_none() && hosted.iter().any(|h| base.contains(h)) {
            return Err(format!(
                "{}: no API key; set {} (or api_key_env in the profile)",
                self.name,
                self.key_hint()
            ));
        }
        Ok(())
    }

    /// The name of the variable the key is expected in, for error messages.
    pub fn key_hint(&self) -> String {
        self.api_key_env.clone().unwrap_or_else(|| {
            self.provider.default_key_env().first().copied().unwrap_or("API_KEY").to_string()
        })
    }

    /// Whether this profile is a reference baseline.
    pub fn is_baseline(&self) -> bool {
        self.provider == Provider::Baseline
    }

    /// The name used for folders and tables: the profile name made safe for a path.
    pub fn label(&self) -> String {
        safe_label(&self.name)
    }

    /// The engine limits of this profile.
    pub fn limits(&self) -> Limits {
        let defaults = Limits::default();
        Limits {
            concurrency: self.concurrency.unwrap_or(defaults.concurrency).max(1),
            rpm: self.rpm.filter(|&r| r > 0),
            tpm: self.tpm.filter(|&t| t > 0),
            timeout: self.timeout_s.map(Duration::from_secs_f64).unwrap_or(defaults.timeout),
            max_attempts: self.max_attempts.unwrap_or(defaults.max_attempts).max(1),
            max_delay: self.max_retry_delay_s.map(Duration::from_secs_f64).unwrap_or(defaults.max_delay),
            ..defaults
        }
    }
}

/// A name made safe for a file name: anything but letters, digits, `-`, `_` and `.` becomes `_`.
pub fn safe_label(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
}

/// The classifier and moderation endpoints (spec §5.10–5.13).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Classifiers {
    /// OpenAI moderation (`POST {base_url}/moderations`); key in `OPENAI_API_KEY` by default.
    #[serde(default)]
    pub moderation: Option<Endpoint>,
    /// Google Perspective API; key in `PERSPECTIVE_API_KEY` by default.
    #[serde(default)]
    pub perspective: Option<Endpoint>,
    /// The HarmBench classifier behind an OpenAI-compatible `/completions` endpoint.
    #[serde(default)]
    pub harmbench: Option<Endpoint>,
    /// The Do-Not-Answer action classifier (`LibrAI/longformer-action-ro`) behind a Hugging
    /// Face text-embeddings-inference style `/predict` endpoint.
    #[serde(default)]
    pub action: Option<Endpoint>,
}

/// One classifier endpoint.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// The base URL.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The model name, where the API takes one.
    #[serde(default)]
    pub model: Option<String>,
    /// The environment variable holding the key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// The key itself (prefer `api_key_env`).
    #[serde(default)]
    pub api_key: Option<String>,
    /// Requests in flight at once.
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Requests per minute.
    #[serde(default)]
    pub rpm: Option<u32>,
    /// Seconds before one attempt is abandoned.
    #[serde(default)]
    pub timeout_s: Option<f64>,
    /// Attempts per request.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Extra HTTP headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl Endpoint {
    /// The key from the file, the named variable, or the given default variable.
    pub fn key(&self, default_env: &str) -> Secret {
        if let Some(key) = &self.api_key {
            return Secret::new(Some(key.clone()));
        }
        let var = self.api_key_env.as_deref().unwrap_or(default_env);
        Secret::new(std::env::var(var).ok())
    }

    /// The engine limits of this endpoint.
    pub fn limits(&self) -> Limits {
        let defaults = Limits::default();
        Limits {
            concurrency: self.concurrency.unwrap_or(defaults.concurrency).max(1),
            rpm: self.rpm.filter(|&r| r > 0),
            timeout: self.timeout_s.map(Duration::from_secs_f64).unwrap_or(defaults.timeout),
            max_attempts: self.max_attempts.unwrap_or(defaults.max_attempts).max(1),
            ..defaults
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthand_and_aliases() {
        let p = Profile::shorthand("openai:my-model", Some("http://127.0.0.1:9/v1")).unwrap();
        assert_eq!((p.provider, p.model.as_str()), (Provider::Openai, "my-model"));
        assert_eq!(p.base_url(), "http://127.0.0.1:9/v1");
        let v = Profile::shorthand("vllm:Qwen/Qwen2-VL-7B", None).unwrap();
        assert_eq!(v.base_url(), "http://127.0.0.1:8000/v1");
        assert_eq!(v.label(), "vllm_Qwen_Qwen2-VL-7B");
        assert!(Profile::shorthand("baseline:nope", None).is_err());
        assert!(Profile::shorthand("nocolon", None).unwrap_err().contains("PROVIDER:MODEL"));
        assert!(Profile::shorthand("foo:bar", None).unwrap_err().contains("unknown provider"));
    }

    #[test]
    fn profiles_from_toml() {
        let text = r#"
            judge = "gpt4"
            [models.gpt4]
            provider = "openai"
            model = "gpt-4-1106-preview"
            concurrency = 4
            rpm = 100
            timeout_s = 30
            params = { top_p = 1.0 }
            [classifiers.harmbench]
            base_url = "http://127.0.0.1:8001/v1"
            model = "cais/HarmBench-Llama-2-13b-cls"
        "#;
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), text).unwrap();
        let config = Config::load(tmp.path()).unwrap();
        let p = config.resolve_model("gpt4", None).unwrap();
        assert_eq!(p.name, "gpt4");
        let limits = p.limits();
        assert_eq!((limits.concurrency, limits.rpm), (4, Some(100)));
        assert_eq!(limits.timeout, Duration::from_secs(30));
        assert_eq!(p.params["top_p"], serde_json::json!(1.0));
        assert!(config.classifiers.harmbench.is_some());
        std::fs::write(tmp.path(), "[models.x]\nprovider = \"openai\"\nmodle = \"y\"\n").unwrap();
        let err = Config::load(tmp.path()).unwrap_err();
        assert!(err.contains("modle"), "{err}");
    }
}
