//! The configuration file (`multitrust.toml`): model profiles, the judge, classifier endpoints
//! and run defaults. See `docs/configuration.md` for every field.
//!
//! Keys are read from environment variables named in the profile (or given in the file, which
//! is then a secret to keep); they never enter fingerprints, logs, stores or outputs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::{Concurrency, ImageLimits, InvalidLimit, Limits, ScorerProfile, Secret, sha256_hex};

/// A problem with the configuration or a model named on the command line; the message names
/// the file, the field and what to write instead.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{path}: cannot read the configuration: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("{path}: invalid configuration: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message (it names the line and the key).
        message: String,
    },
    /// A field has a value that cannot be used.
    #[error("{path}: {field} = {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The field, as a dotted path (`models.qwen.timeout_s`).
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A model named on the command line is neither a profile nor `PROVIDER:MODEL`.
    #[error("{0}")]
    Model(String),
    /// A hosted API has no key.
    #[error("{0}")]
    NoKey(String),
}

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
    /// Which scorers answer the classifier steps (`original`, `open`, `judge`, `reference`);
    /// `--scorers` overrides it.
    #[serde(default)]
    pub scorers: Option<ScorerProfile>,
    /// Classifier and moderation endpoints.
    #[serde(default)]
    pub classifiers: Classifiers,
    /// Run defaults.
    #[serde(default)]
    pub run: RunDefaults,
    /// How large an image may be (checked when the data loads and when an image is decoded).
    #[serde(default)]
    pub images: ImageSettings,
    /// Prompt templates that replace ours, by name: `harmbench`, a task id (`S2`), or
    /// `TASK:SPLIT` (`T1:g-basic-grounding`). Use them to supply the original's wording.
    #[serde(default)]
    pub templates: BTreeMap<String, String>,
    /// A templates file written by `multitrust templates import` (relative to this file); its
    /// templates apply first, then those of `templates`.
    #[serde(default)]
    pub templates_file: Option<PathBuf>,
}

/// A templates file as `multitrust templates import` writes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatesFile {
    /// Where the texts were read from.
    #[serde(default)]
    pub source: BTreeMap<String, String>,
    /// The templates, by name.
    #[serde(default)]
    pub templates: BTreeMap<String, String>,
}

impl Config {
    /// Reads a configuration file (and the templates file it names), and checks every number
    /// and duration; a clear error names the file, the field and the problem.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
        let mut config: Config = toml::from_str(&text)
            .map_err(|e| ConfigError::Parse { path: shown.clone(), message: e.to_string() })?;
        for (name, profile) in &mut config.models {
            profile.name = name.clone();
        }
        config.validate(&shown)?;
        if let Some(file) = &config.templates_file {
            let file = path.parent().map(|dir| dir.join(file)).unwrap_or_else(|| file.clone());
            let imported = TemplatesFile::load(&file)?;
            let mut templates = imported.templates;
            templates.append(&mut config.templates);
            config.templates = templates;
        }
        Ok(config)
    }

    /// Checks the numbers and durations of every profile and endpoint.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        for (name, profile) in &self.models {
            profile.validate().map_err(|e| ConfigError::Invalid {
                path: path.to_string(),
                field: format!("models.{name}.{}", e.field),
                message: e.error.to_string(),
            })?;
        }
        let sections = [
            ("moderation", &self.classifiers.moderation),
            ("perspective", &self.classifiers.perspective),
            ("harmbench", &self.classifiers.harmbench),
            ("action", &self.classifiers.action),
        ];
        for (name, endpoint) in sections {
            if let Some(endpoint) = endpoint {
                endpoint.limits().map_err(|e| ConfigError::Invalid {
                    path: path.to_string(),
                    field: format!("classifiers.{name}.{}", e.field),
                    message: e.error.to_string(),
                })?;
            }
        }
        for (field, value) in
            [("max_side", self.images.max_side as u64), ("max_decoded_mib", self.images.max_decoded_mib)]
        {
            if value == 0 || value > 1 << 20 {
                return Err(ConfigError::Invalid {
                    path: path.to_string(),
                    field: format!("images.{field}"),
                    message: format!("{value} must be between 1 and 1048576"),
                });
            }
        }
        if !(0.0..=1.0).contains(&self.run.max_unscorable) {
            return Err(ConfigError::Invalid {
                path: path.to_string(),
                field: "run.max_unscorable".into(),
                message: format!(
                    "{} is not a share between 0 and 1 (0.2 means 20%)",
                    self.run.max_unscorable
                ),
            });
        }
        Ok(())
    }

    /// Resolves a model named on the command line: a profile name, or `PROVIDER:MODEL` (with
    /// an optional base URL that overrides the provider's default).
    pub fn resolve_model(&self, spec: &str, base_url: Option<&str>) -> Result<Profile, ConfigError> {
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

/// The `[images]` section: the decoding limits of [`ImageLimits`], in configuration units.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSettings {
    /// The longest side an image may have, in pixels (default 16384).
    #[serde(default = "default_max_side")]
    pub max_side: u32,
    /// The most memory an image's decoded pixels may take, in MiB (default 256).
    #[serde(default = "default_max_decoded_mib")]
    pub max_decoded_mib: u64,
}

impl Default for ImageSettings {
    fn default() -> Self {
        ImageSettings { max_side: default_max_side(), max_decoded_mib: default_max_decoded_mib() }
    }
}

impl ImageSettings {
    /// The limits these settings describe.
    pub fn limits(&self) -> ImageLimits {
        ImageLimits { max_side: self.max_side, max_decoded_bytes: self.max_decoded_mib << 20 }
    }
}

fn default_max_side() -> u32 {
    ImageLimits::default().max_side
}

fn default_max_decoded_mib() -> u64 {
    ImageLimits::default().max_decoded_bytes >> 20
}

impl TemplatesFile {
    /// Reads a templates file.
    pub fn load(path: &Path) -> Result<TemplatesFile, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse { path: shown, message: e.to_string() })
    }
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

    /// The environment variables holding this provider's key by default.
    pub fn default_key_env(self) -> &'static [&'static str] {
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
    /// Several base URLs of one model served on several machines (replicas, or their
    /// routers): each request goes to the least loaded healthy one (see
    /// `backends::replicas`). The fingerprint uses `base_url`, or the first of these.
    #[serde(default)]
    pub base_urls: Vec<String>,
    /// The environment variable holding the key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// The key itself (prefer `api_key_env`).
    #[serde(default)]
    pub api_key: Option<String>,
    /// Requests in flight at once (default 16).
    #[serde(default)]
    pub concurrency: Option<Concurrency>,
    /// With `concurrency = "adaptive"`, the most requests in flight (default 256).
    #[serde(default)]
    pub max_concurrency: Option<usize>,
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
    /// Consecutive unreachable attempts before the engine stops sending to this endpoint
    /// (default 10; 0 turns the circuit breaker off).
    #[serde(default)]
    pub breaker_failures: Option<u32>,
    /// How a reasoning model is asked to think (`effort`, `budget`, `include`); part of every
    /// fingerprint.
    #[serde(default)]
    pub reasoning: Option<Reasoning>,
    /// The tags around reasoning left inside the answer (default `["<think>", "</think>"]`).
    #[serde(default)]
    pub think_tags: Option<(String, String)>,
    /// The price of a million input tokens, for `run --dry-run`'s cost (any currency).
    #[serde(default)]
    pub input_price: Option<f64>,
    /// The price of a million output tokens, for `run --dry-run`'s cost.
    #[serde(default)]
    pub output_price: Option<f64>,
    /// Send what the store lacks through the provider's batch API (OpenAI Batch, or what
    /// vLLM's batch runner reads; Anthropic Message Batches) instead of one request at a time:
    /// cheaper on hosted APIs, answered within their 24-hour window. See `engine::batch`.
    #[serde(default)]
    pub batch: bool,
    /// Seconds between two looks at a running batch (default 30).
    #[serde(default)]
    pub batch_poll_s: Option<f64>,
    /// With `batch = true` on an OpenAI-compatible profile: instead of uploading, write each
    /// batch's input to `DIR/ID.jsonl` and wait for its results in `DIR/ID.results.jsonl`, as
    /// vLLM's batch runner (`python -m vllm.entrypoints.openai.run_batch`) reads and writes them.
    #[serde(default)]
    pub batch_dir: Option<std::path::PathBuf>,
}

/// How a reasoning model is asked to think, from the profile's `[models.NAME.reasoning]`.
/// Each backend sends what its API takes: OpenAI-compatible servers `reasoning_effort`,
/// Anthropic `thinking` with a token budget, Gemini `thinkingConfig` with its budget and
/// `includeThoughts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reasoning {
    /// OpenAI `reasoning_effort` (`minimal`, `low`, `medium`, `high`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
    /// Tokens the model may spend thinking (Anthropic `budget_tokens`, Gemini
    /// `thinkingBudget`). With Anthropic, the answer's own token limit is added to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<u32>,
    /// Ask for the thoughts themselves where the API hides them by default (Gemini
    /// `includeThoughts`); on by default.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub include: bool,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

impl Profile {
    /// A profile from `PROVIDER:MODEL`, e.g. `openai:gpt-4o`, `baseline:oracle`. The
    /// local-server names `vllm`, `sglang`, `ollama`, `llamacpp` and `lmstudio` mean the
    /// OpenAI API at that server's usual local address.
    pub fn shorthand(spec: &str, base_url: Option<&str>) -> Result<Profile, ConfigError> {
        let Some((provider, model)) = spec.split_once(':') else {
            return Err(ConfigError::Model(format!(
                "`{spec}` is neither a profile of the configuration nor PROVIDER:MODEL \
                 (e.g. openai:gpt-4o, anthropic:claude-sonnet-4-5, gemini:gemini-2.5-pro, \
                 baseline:oracle)"
            )));
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
                return Err(ConfigError::Model(format!(
                    "unknown provider `{other}` in `{spec}`: use openai, anthropic, gemini or \
                     baseline (or vllm, sglang, ollama, llamacpp, lmstudio for local servers)"
                )));
            }
        };
        if model.is_empty() {
            return Err(ConfigError::Model(format!("`{spec}` names no model after the colon")));
        }
        if provider == Provider::Baseline && !["refuse", "comply", "oracle", "random"].contains(&model) {
            return Err(ConfigError::Model(format!(
                "unknown baseline `{model}`: use baseline:refuse, baseline:comply, \
                 baseline:oracle or baseline:random"
            )));
        }
        Ok(Profile {
            name: spec.to_string(),
            provider,
            model: model.to_string(),
            base_url: base_url.or(local_url).map(str::to_string),
            base_urls: Vec::new(),
            api_key_env: None,
            api_key: None,
            concurrency: None,
            max_concurrency: None,
            rpm: None,
            tpm: None,
            timeout_s: None,
            max_attempts: None,
            max_retry_delay_s: None,
            headers: BTreeMap::new(),
            params: BTreeMap::new(),
            anthropic_version: None,
            breaker_failures: None,
            reasoning: None,
            think_tags: None,
            input_price: None,
            output_price: None,
            batch: false,
            batch_poll_s: None,
            batch_dir: None,
        })
    }

    /// The base URL, or the provider's.
    pub fn base_url(&self) -> String {
        self.base_url
            .clone()
            .or_else(|| self.base_urls.first().cloned())
            .unwrap_or_else(|| self.provider.default_base_url().to_string())
    }

    /// The key: from the file, the named variable, or the provider's usual variable.
    ///
    /// A key from the provider's usual variable (`OPENAI_API_KEY`, ...) goes only to the
    /// provider's own host: a profile pointed at another server (vLLM, a proxy) gets a key only
    /// when it names one with `api_key_env` or `api_key`.
    pub fn key(&self) -> Secret {
        if let Some(key) = &self.api_key {
            return Secret::new(Some(key.clone()));
        }
        if let Some(var) = &self.api_key_env {
            return Secret::new(std::env::var(var).ok());
        }
        if !same_host(&self.base_url(), self.provider.default_base_url()) {
            return Secret::new(None);
        }
        let found = self.provider.default_key_env().iter().find_map(|v| std::env::var(v).ok());
        Secret::new(found)
    }

    /// The values of every key this profile could send, for scrubbing them from what is
    /// stored and written (its own key, and its provider's usual variables).
    pub fn key_values(&self) -> Vec<String> {
        let mut out: Vec<String> = self.key().expose().map(str::to_string).into_iter().collect();
        out.extend(self.provider.default_key_env().iter().filter_map(|v| std::env::var(v).ok()));
        out
    }

    /// Checks that a hosted API (OpenAI's, Anthropic's, Google's) has a key; local servers may
    /// go without. Called before anything is sent, not when only the store is read.
    pub fn check_key(&self) -> Result<(), ConfigError> {
        let hosted = ["api.openai.com", "api.anthropic.com", "googleapis.com"];
        let base = self.base_url();
        if !self.is_baseline() && self.key().expose().is_none() && hosted.iter().any(|h| base.contains(h)) {
            return Err(ConfigError::NoKey(format!(
                "{}: no API key; set {} (or api_key_env in the profile)",
                self.name,
                self.key_hint()
            )));
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

    /// The name used for folders: see [`safe_label`].
    pub fn label(&self) -> String {
        safe_label(&self.name)
    }

    /// Checks the numbers and durations; the error names the field.
    pub fn validate(&self) -> Result<(), InvalidField> {
        if let Some(v) = self.batch_poll_s {
            Limits::seconds(v).map_err(|error| InvalidField { field: "batch_poll_s".into(), error })?;
        }
        self.try_limits().map(|_| ())
    }

    /// The pause between two looks at a running batch (`batch_poll_s`, default 30 s).
    pub fn batch_poll(&self) -> Duration {
        self.batch_poll_s.and_then(|v| Limits::seconds(v).ok()).unwrap_or(Duration::from_secs(30))
    }

    /// The engine limits of this profile (the defaults where a value is invalid; the
    /// configuration is validated when it is loaded).
    pub fn limits(&self) -> Limits {
        self.try_limits().unwrap_or_default()
    }

    fn try_limits(&self) -> Result<Limits, InvalidField> {
        let defaults = Limits::default();
        let seconds = |field: &str, value: Option<f64>, default: Duration| match value {
            None => Ok(default),
            Some(v) => Limits::seconds(v).map_err(|error| InvalidField { field: field.to_string(), error }),
        };
        let (concurrency, adaptive) = match self.concurrency {
            None => (defaults.concurrency, false),
            Some(Concurrency::Fixed(n)) => (positive("concurrency", Some(n), defaults.concurrency)?, false),
            Some(Concurrency::Adaptive) => (positive("max_concurrency", self.max_concurrency, 256)?, true),
        };
        Ok(Limits {
            concurrency,
            adaptive,
            rpm: self.rpm.map(|r| positive("rpm", Some(r), 1)).transpose()?,
            tpm: self.tpm.map(|t| positive("tpm", Some(t), 1)).transpose()?,
            timeout: seconds("timeout_s", self.timeout_s, defaults.timeout)?,
            max_attempts: positive("max_attempts", self.max_attempts, defaults.max_attempts)?,
            max_delay: seconds("max_retry_delay_s", self.max_retry_delay_s, defaults.max_delay)?,
            breaker_failures: self.breaker_failures.unwrap_or(defaults.breaker_failures),
            ..defaults
        })
    }
}

/// Whether two URLs name the same host.
pub fn same_host(a: &str, b: &str) -> bool {
    let host = |u: &str| reqwest::Url::parse(u).ok().and_then(|u| u.host_str().map(str::to_ascii_lowercase));
    host(a).is_some() && host(a) == host(b)
}

/// The values of every key a configuration could send (profiles, classifier endpoints, the
/// providers' usual variables), for scrubbing them from stores, logs and outputs.
pub fn key_values(config: &Config, profiles: &[Profile]) -> Vec<String> {
    let mut out = Vec::new();
    for p in config.models.values().chain(profiles) {
        out.extend(p.key_values());
    }
    let c = &config.classifiers;
    for e in [&c.moderation, &c.perspective, &c.harmbench, &c.action].into_iter().flatten() {
        out.extend(e.api_key.clone());
        out.extend(e.api_key_env.as_ref().and_then(|v| std::env::var(v).ok()));
    }
    for var in
        ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "PERSPECTIVE_API_KEY"]
    {
        out.extend(std::env::var(var).ok());
    }
    out.retain(|k| !k.trim().is_empty());
    out.sort();
    out.dedup();
    out
}

/// A field of a profile or endpoint whose value cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field} = {error}")]
pub struct InvalidField {
    /// The field.
    pub field: String,
    /// What is wrong.
    pub error: InvalidLimit,
}

/// A count from the configuration that must be at least 1.
fn positive<T: Copy + TryInto<u64>>(field: &str, value: Option<T>, default: T) -> Result<T, InvalidField> {
    match value {
        None => Ok(default),
        Some(v) => match v.try_into() {
            Ok(n) if n >= 1 => Ok(v),
            Ok(n) => Err(InvalidField { field: field.to_string(), error: InvalidLimit::TooSmall(n) }),
            Err(_) => Ok(v),
        },
    }
}

/// A name made safe for a folder: letters, digits, `-`, `_` and `.` are kept and anything else
/// becomes `_`; when something was replaced, the first 8 hex digits of the name's SHA-256 are
/// added, so that two different names never get the same folder (`a/b` and `a_b`).
pub fn safe_label(name: &str) -> String {
    let safe: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    if safe == name && !safe.is_empty() && safe != "." && safe != ".." {
        safe
    } else {
        format!("{safe}-{}", &sha256_hex(name.as_bytes())[..8])
    }
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
    /// The Do-Not-Answer action classifier (`LibrAI/longformer-action-ro`): in process
    /// (`provider = "local"`), or behind text-embeddings-inference `/predict` (the default) or
    /// vLLM `/classify`.
    #[serde(default)]
    pub action: Option<Endpoint>,
    /// A toxicity classifier for the `open` profile's toxicity steps (Detoxify's unbiased
    /// model, say): in process or served, as `action`. Its score is the highest label
    /// probability.
    #[serde(default)]
    pub toxicity: Option<Endpoint>,
}

/// How a text classifier (`[classifiers.action]`, `[classifiers.toxicity]`) is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassifierProvider {
    /// Hugging Face text-embeddings-inference: `POST {base_url}/predict` with `raw_scores`.
    #[default]
    Tei,
    /// vLLM's classification endpoint: `POST {base_url}/classify` (probabilities after its
    /// softmax, so single-label models only).
    Vllm,
    /// In process: a Hugging Face model folder (`path`) run with candle.
    Local,
}

/// One classifier endpoint.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// How a text classifier is reached (`tei`, `vllm`, `local`); other sections ignore it.
    #[serde(default)]
    pub provider: Option<ClassifierProvider>,
    /// A local model folder (`config.json`, `tokenizer.json`, `model.safetensors`).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The SHA-256 that `model.safetensors` must have; the run stops before anything is
    /// scored when it differs.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Whether the labels are independent (sigmoid) rather than exclusive (softmax), for a
    /// served classifier whose `config.json` the product cannot read. A local model's
    /// `problem_type` decides it.
    #[serde(default)]
    pub multi_label: Option<bool>,
    /// Label names in the classifier's order, for a served classifier (`LABEL_0`, ... when
    /// none). A local model's `id2label` decides them.
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    /// For a toxicity classifier: the labels whose highest probability is the score (every
    /// label when none; name the toxic class of a single-label model, whose other class
    /// would otherwise count).
    #[serde(default)]
    pub score_labels: Option<Vec<String>>,
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
    /// The key from the file, the named variable, or the given default variable; the default
    /// variable's key goes only to `default_base`'s host (an endpoint moved elsewhere names
    /// its key with `api_key_env` or `api_key`).
    pub fn key(&self, default_env: &str, default_base: &str) -> Secret {
        if let Some(key) = &self.api_key {
            return Secret::new(Some(key.clone()));
        }
        if let Some(var) = &self.api_key_env {
            return Secret::new(std::env::var(var).ok());
        }
        if let Some(base) = &self.base_url
            && !same_host(base, default_base)
        {
            return Secret::new(None);
        }
        Secret::new(std::env::var(default_env).ok())
    }

    /// The engine limits of this endpoint; the error names the field that is invalid.
    pub fn limits(&self) -> Result<Limits, InvalidField> {
        let defaults = Limits::default();
        Ok(Limits {
            concurrency: positive("concurrency", self.concurrency, defaults.concurrency)?,
            rpm: self.rpm.map(|r| positive("rpm", Some(r), 1)).transpose()?,
            timeout: match self.timeout_s {
                None => defaults.timeout,
                Some(v) => {
                    Limits::seconds(v).map_err(|error| InvalidField { field: "timeout_s".into(), error })?
                }
            },
            max_attempts: positive("max_attempts", self.max_attempts, defaults.max_attempts)?,
            ..defaults
        })
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
        assert!(v.label().starts_with("vllm_Qwen_Qwen2-VL-7B-"), "{}", v.label());
        assert!(Profile::shorthand("baseline:nope", None).is_err());
        assert!(Profile::shorthand("nocolon", None).unwrap_err().to_string().contains("PROVIDER:MODEL"));
        assert!(Profile::shorthand("foo:bar", None).unwrap_err().to_string().contains("unknown provider"));
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
        let err = Config::load(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("modle"), "{err}");
    }

    #[test]
    fn labels_never_collide_and_plain_names_stay() {
        assert_eq!(safe_label("qwen-local"), "qwen-local");
        assert_ne!(safe_label("a/b"), safe_label("a_b"));
        assert_ne!(safe_label("a/b"), safe_label("a:b"));
        assert!(safe_label("a/b").starts_with("a_b-"));
        assert_ne!(safe_label(".."), "..");
    }

    #[test]
    fn concurrency_is_a_number_or_adaptive_up_to_a_maximum() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let limits = |extra: &str| {
            let text = format!("[models.m]\nprovider = \"openai\"\nmodel = \"x\"\n{extra}\n");
            std::fs::write(tmp.path(), text).unwrap();
            Config::load(tmp.path()).map(|c| c.models["m"].limits())
        };
        let fixed = limits("concurrency = 4").unwrap();
        assert_eq!((fixed.concurrency, fixed.adaptive), (4, false));
        let adaptive = limits("concurrency = \"adaptive\"\nmax_concurrency = 50").unwrap();
        assert_eq!((adaptive.concurrency, adaptive.adaptive), (50, true));
        assert_eq!(limits("concurrency = \"adaptive\"").unwrap().concurrency, 256);
        let err = limits("concurrency = \"fast\"").unwrap_err().to_string();
        assert!(err.contains("`adaptive`"), "{err}");
    }

    #[test]
    fn invalid_numbers_name_the_field_and_file() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        for (field, value) in [
            ("timeout_s", "-1"),
            ("timeout_s", "nan"),
            ("max_retry_delay_s", "1e300"),
            ("concurrency", "0"),
            ("max_attempts", "0"),
        ] {
            let text = format!("[models.m]\nprovider = \"openai\"\nmodel = \"x\"\n{field} = {value}\n");
            std::fs::write(tmp.path(), text).unwrap();
            let err = Config::load(tmp.path()).unwrap_err().to_string();
            assert!(err.contains(&format!("models.m.{field}")), "{err}");
            assert!(err.contains(&tmp.path().display().to_string()), "{err}");
        }
        std::fs::write(tmp.path(), "[run]\nmax_unscorable = 20\n").unwrap();
        let err = Config::load(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("run.max_unscorable") && err.contains("between 0 and 1"), "{err}");
    }
}
