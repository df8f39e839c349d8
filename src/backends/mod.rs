//! Models: the [`ChatModel`] trait and its backends.
//!
//! Each backend is a thin client of our own on reqwest that keeps the provider's raw response:
//! refusals and safety blocks (`finish_reason: content_filter`, Anthropic `stop_reason: refusal`,
//! Gemini `blockReason` / `finishReason: SAFETY`) are data to score, not errors. The reference
//! baselines ([`baseline`]) answer locally from the sample and never reach the engine.

pub mod anthropic;
pub mod baseline;
pub mod gemini;
pub mod http;
pub mod images;
pub mod local;
pub mod openai;
pub mod reference;
pub mod replicas;
pub mod scorers;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::config::Reasoning;
use crate::config::{Profile, Provider};
use crate::core::{CallError, Identity, ImageLimits, Limits};
use crate::engine::Service;
use crate::engine::batch::BatchApi;
use crate::sample::{ImageRef, Message};

/// One request to a chat model: the conversation and the generation parameters.
///
/// Its JSON form (images as their hashes, never their paths or bytes) is what the request
/// fingerprint is computed from.
#[derive(Debug, Clone, Serialize)]
pub struct ChatRequest {
    /// The conversation.
    pub messages: Vec<Message>,
    /// The most tokens to generate (the original's `max_new_tokens`).
    pub max_tokens: u32,
    /// Sampling temperature; 0 for the benchmark's greedy decoding.
    pub temperature: f64,
    /// Extra provider parameters from the profile, sent as they are.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Value>,
    /// Downscale images whose longer side exceeds this many pixels before sending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_image_side: Option<u32>,
    /// How the model is asked to reason (a generation parameter: part of the fingerprint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Reasoning>,
    /// The limits an image is decoded within when it must be downscaled. Not part of the
    /// fingerprint: they decide whether an image can be sent, not what is sent.
    #[serde(skip)]
    pub image_limits: ImageLimits,
}

impl ChatRequest {
    /// A greedy request for a conversation.
    pub fn greedy(messages: Vec<Message>, max_tokens: u32) -> ChatRequest {
        ChatRequest {
            messages,
            max_tokens,
            temperature: 0.0,
            params: BTreeMap::new(),
            max_image_side: None,
            reasoning: None,
            image_limits: ImageLimits::default(),
        }
    }

    /// A rough count of the tokens this request uses, for tokens-per-minute limits:
    /// about four characters a token, 800 a picture, plus the tokens it may generate.
    pub fn estimated_tokens(&self) -> u32 {
        let chars: usize = self.messages.iter().map(|m| m.text().len()).sum();
        let images = self.messages.iter().map(|m| m.images().count()).sum::<usize>();
        (chars / 4 + images * 800) as u32 + self.max_tokens
    }
}

/// Why a model stopped generating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finish {
    /// A natural end.
    Stop,
    /// The token limit was reached.
    Length,
    /// OpenAI-style `content_filter`: the provider filtered the output or the prompt.
    ContentFilter,
    /// Anthropic `stop_reason: refusal`.
    Refusal,
    /// Gemini `finishReason: SAFETY` (or another safety reason).
    Safety,
    /// Gemini `promptFeedback.blockReason`: the prompt was blocked; no candidate came back.
    Blocked,
    /// Anything else; the provider's word is kept in [`ChatResponse::finish_raw`].
    Other,
}

impl Finish {
    /// Whether the provider declined or blocked (a refusal in substance).
    pub fn is_block(&self) -> bool {
        matches!(self, Finish::ContentFilter | Finish::Refusal | Finish::Safety | Finish::Blocked)
    }
}

/// Token counts reported by the provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input: u64,
    /// Generated tokens (reasoning included, as providers count them).
    pub output: u64,
    /// Of the generated tokens, those spent reasoning, when reported.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reasoning: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A model's answer, with the provider's raw response kept for inspection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The generated text ("" when the provider blocked the answer): the final answer, without
    /// the reasoning where the provider returned it apart.
    pub text: String,
    /// The model's reasoning, where the provider returned it apart from the answer
    /// (`reasoning_content`, thinking blocks, thought parts) or the answer began with it
    /// between think tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// Why generation stopped.
    pub finish: Finish,
    /// The provider's own stop reason, as it sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_raw: Option<String>,
    /// Token usage, when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The provider's response body.
    #[serde(default)]
    pub raw: Value,
}

/// The think tags most servers leave around the reasoning when no reasoning parser is on.
pub const THINK_TAGS: (&str, &str) = ("<think>", "</think>");

impl ChatResponse {
    /// Moves reasoning left inside the answer into [`ChatResponse::reasoning`]: the text
    /// between the open tag at the start and the close tag, or everything before a close tag
    /// when the chat template put the open tag in the prompt (DeepSeek-R1 style). An open tag
    /// never closed (the budget ran out while thinking) leaves no answer. A response whose
    /// provider returned the reasoning apart is left as it is.
    pub fn split_reasoning(mut self, open: &str, close: &str) -> ChatResponse {
        if self.reasoning.is_some() || close.is_empty() {
            return self;
        }
        let text = self.text.trim_start();
        let (reasoning, answer) = if let Some(rest) = text.strip_prefix(open).filter(|_| !open.is_empty()) {
            match rest.find(close) {
                Some(at) => (rest[..at].to_string(), rest[at + close.len()..].to_string()),
                None => (rest.to_string(), String::new()),
            }
        } else if let Some(at) = text.find(close) {
            (text[..at].to_string(), text[at + close.len()..].to_string())
        } else {
            return self;
        };
        self.reasoning = Some(reasoning.trim().to_string());
        self.text = answer.trim_start().to_string();
        self
    }
}

/// Why a backend could not be set up from its configuration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BackendError {
    /// An extra header of the profile is not a valid HTTP header.
    #[error("{0}")]
    Header(String),
    /// The base URL does not parse.
    #[error("{0}")]
    Url(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// A required setting is missing; the message says which and what to set.
    #[error("{0}")]
    Missing(String),
    /// The profile asks for something this provider does not offer.
    #[error("{0}")]
    Unsupported(String),
    /// A hosted service has no key.
    #[error("{0}")]
    NoKey(String),
    /// A reference baseline has no endpoint to call.
    #[error("baseline:{0} answers locally and has no endpoint to call")]
    Baseline(String),
}

/// What a backend is: the identity that enters fingerprints.
pub trait ChatModel: Send + Sync {
    /// Provider, model and endpoint.
    fn identity(&self) -> &Identity;
    /// Sends one request.
    fn chat<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse, CallError>>;
}

/// The batch API of a chat model.
type ChatBatches = Arc<dyn BatchApi<ChatRequest, ChatResponse>>;

/// A chat model with its limits (and its batch API, with `batch = true`), ready for the engine.
#[derive(Clone)]
pub struct ChatService {
    model: Arc<dyn ChatModel>,
    limits: Limits,
    batch: Option<ChatBatches>,
}

impl fmt::Debug for ChatService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatService").field("identity", self.model.identity()).finish()
    }
}

impl ChatService {
    /// Wraps a model.
    pub fn new(model: Arc<dyn ChatModel>, limits: Limits) -> ChatService {
        ChatService { model, limits, batch: None }
    }

    /// Builds the backend a profile describes.
    pub fn from_profile(profile: &Profile) -> Result<ChatService, BackendError> {
        let one = |p: &Profile| -> Result<Box<dyn ChatModel>, BackendError> {
            Ok(match p.provider {
                Provider::Openai => Box::new(openai::OpenAi::new(p)?),
                Provider::Anthropic => Box::new(anthropic::Anthropic::new(p)?),
                Provider::Gemini => Box::new(gemini::Gemini::new(p)?),
                Provider::Baseline => return Err(BackendError::Baseline(p.model.clone())),
            })
        };
        let model: Arc<dyn ChatModel> = match profile.base_urls.as_slice() {
            [] => Arc::from(one(profile)?),
            urls => {
                let members = urls
                    .iter()
                    .map(|url| {
                        one(&Profile {
                            base_url: Some(url.clone()),
                            base_urls: Vec::new(),
                            ..profile.clone()
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                // One identity for all: the profile's base_url, or the first replica's.
                let first = members[0].identity().clone();
                let identity = Identity::new(&first.provider, &first.model, &profile.base_url());
                Arc::new(replicas::Replicas::new(identity, members))
            }
        };
        let batch: Option<ChatBatches> = match profile.provider {
            _ if !profile.batch => None,
            _ if !profile.base_urls.is_empty() => {
                return Err(BackendError::Unsupported(format!(
                    "{}: `batch = true` takes one `base_url`, not `base_urls`: a batch lives on \
                     the server it was submitted to",
                    profile.name
                )));
            }
            Provider::Openai => match &profile.batch_dir {
                Some(dir) => Some(Arc::new(openai::BatchFiles::new(profile, dir)?)),
                None => Some(Arc::new(openai::OpenAiBatch::new(profile)?)),
            },
            Provider::Anthropic => Some(Arc::new(anthropic::AnthropicBatch::new(profile)?)),
            Provider::Gemini | Provider::Baseline => {
                return Err(BackendError::Unsupported(format!(
                    "{}: `batch = true` is for OpenAI-compatible and Anthropic profiles; remove it \
                     to send requests one by one",
                    profile.name
                )));
            }
        };
        Ok(ChatService { batch, ..ChatService::new(model, profile.limits()) })
    }
}

impl Service for ChatService {
    type Request = ChatRequest;
    type Reply = ChatResponse;

    fn identity(&self) -> &Identity {
        self.model.identity()
    }

    fn limits(&self) -> &Limits {
        &self.limits
    }

    fn estimate_tokens(&self, request: &ChatRequest) -> u32 {
        request.estimated_tokens()
    }

    fn compact(reply: &mut ChatResponse) {
        reply.raw = Value::Null;
    }

    fn batch(&self) -> Option<&dyn BatchApi<ChatRequest, ChatResponse>> {
        self.batch.as_deref()
    }

    async fn call(&self, request: &ChatRequest) -> Result<ChatResponse, CallError> {
        self.model.chat(request).await
    }
}

/// A JSON request body with images, whose base64 is written straight into the serialized
/// body: the JSON holds a short placeholder where each image goes, so the large base64 text is
/// neither escaped nor copied through a JSON tree.
#[derive(Debug, Default)]
pub struct Payload {
    images: Vec<Arc<images::Encoded>>,
}

impl Payload {
    /// Prepares an image for this body under the request's settings (see [`images`]);
    /// returns the placeholder to put where its base64 goes, and its MIME type.
    pub async fn image(
        &mut self,
        image: &ImageRef,
        request: &ChatRequest,
    ) -> Result<(String, &'static str), CallError> {
        let encoded = images::encoded(image, request.max_image_side, &request.image_limits).await?;
        let mime = encoded.mime;
        self.images.push(encoded);
        Ok((format!("\u{1}image-{}\u{1}", self.images.len() - 1), mime))
    }

    /// Serializes the body with every placeholder replaced by its image's base64.
    pub fn render(self, json: &Value) -> Result<Vec<u8>, CallError> {
        let text = serde_json::to_vec(json).map_err(|e| CallError::Request(e.to_string()))?;
        let mut spots = Vec::with_capacity(self.images.len());
        for i in 0..self.images.len() {
            let marker = format!("\\u0001image-{i}\\u0001");
            let at = find(&text, marker.as_bytes())
                .ok_or_else(|| CallError::Request(format!("image {i} has no place in the body")))?;
            spots.push((at, marker.len(), i));
        }
        spots.sort_unstable();
        let encoded: usize = self.images.iter().map(|e| e.base64.len()).sum();
        let mut out = Vec::with_capacity(text.len() + encoded);
        let mut from = 0;
        for (at, len, i) in spots {
            out.extend_from_slice(&text[from..at]);
            out.extend_from_slice(&self.images[i].base64);
            from = at + len;
        }
        out.extend_from_slice(&text[from..]);
        Ok(out)
    }
}

/// A JSON object with one more field whose value is already serialized JSON (a request body
/// with its images): `head` with `"key": raw` added last, without parsing `raw` again.
pub fn with_raw_field(head: &Value, key: &str, raw: &[u8]) -> Vec<u8> {
    let head = head.to_string();
    let mut out = Vec::with_capacity(head.len() + key.len() + raw.len() + 6);
    out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    if head.len() > 2 {
        out.push(b',');
    }
    out.extend_from_slice(Value::String(key.to_string()).to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(raw);
    out.push(b'}');
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_left_in_the_answer_is_split_at_the_think_tags() {
        let response = |text: &str| ChatResponse {
            text: text.into(),
            reasoning: None,
            finish: Finish::Stop,
            finish_raw: None,
            usage: None,
            raw: Value::Null,
        };
        let (o, c) = THINK_TAGS;
        let split = |t: &str| {
            let r = response(t).split_reasoning(o, c);
            (r.reasoning, r.text)
        };
        assert_eq!(split("<think>a\nb</think>\n\nYes"), (Some("a\nb".into()), "Yes".into()));
        assert_eq!(
            split("opened by the template</think>No"),
            (Some("opened by the template".into()), "No".into())
        );
        assert_eq!(split("<think>cut short"), (Some("cut short".into()), String::new()));
        assert_eq!(split("Plain <think> answer"), (None, "Plain <think> answer".into()));
        let custom = response("[R]x[/R]y").split_reasoning("[R]", "[/R]");
        assert_eq!((custom.reasoning.as_deref(), custom.text.as_str()), (Some("x"), "y"));
        let apart = ChatResponse { reasoning: Some("given apart".into()), ..response("<think>t</think>a") };
        assert_eq!(apart.split_reasoning(o, c).text, "<think>t</think>a", "a provider's own split is kept");
    }

    #[tokio::test]
    async fn payload_splices_base64_where_the_placeholders_are() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a.png");
        let b = tmp.path().join("b.png");
        image::RgbImage::new(3, 1).save(&a).unwrap();
        image::RgbImage::new(1, 5).save(&b).unwrap();
        let limits = ImageLimits::default();
        let open = |p: &std::path::Path| crate::data::image_ref(p, "x", &limits).unwrap();
        let (a, b) = (open(&a), open(&b));
        let request = ChatRequest::greedy(Vec::new(), 1);
        let mut payload = Payload::default();
        let (pa, ma) = payload.image(&a, &request).await.unwrap();
        let (pb, _) = payload.image(&b, &request).await.unwrap();
        let json = serde_json::json!({"x": [{"u": format!("data:{ma};base64,{pa}")}, {"t": "a \"quote\""}, {"d": pb}]});
        let body: Value = serde_json::from_slice(&payload.render(&json).unwrap()).unwrap();
        let std = base64_simd::STANDARD;
        let url = body["x"][0]["u"].as_str().unwrap();
        assert_eq!(
            std.decode_to_vec(url.strip_prefix("data:image/png;base64,").unwrap()).unwrap(),
            std::fs::read(&a.path).unwrap()
        );
        assert_eq!(
            std.decode_to_vec(body["x"][2]["d"].as_str().unwrap()).unwrap(),
            std::fs::read(&b.path).unwrap()
        );
        assert_eq!(body["x"][1]["t"], "a \"quote\"");
    }
}
