//! Google Gemini `generateContent` (`POST {base}/v1beta/models/{model}:generateContent`).
//!
//! Images go as `inline_data` parts. A blocked prompt (`promptFeedback.blockReason`, no
//! candidate) and a candidate stopped for safety (`finishReason: SAFETY`) come back as
//! responses. As the original's wrapper does, the four adjustable harm categories are set to
//! `BLOCK_NONE` (override with `safetySettings` in the profile's `params`).

use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::http;
use super::openai::short;
use super::{BackendError, ChatModel, ChatRequest, ChatResponse, Finish, Payload, Usage};
use crate::config::Profile;
use crate::core::{CallError, Identity, Secret};
use crate::sample::{Content, Role};

/// A client for one Gemini model.
#[derive(Debug)]
pub struct Gemini {
    client: reqwest::Client,
    url: reqwest::Url,
    key: Secret,
    identity: Identity,
}

impl Gemini {
    /// Builds the client a profile describes (see [`Profile::check_key`] for the key).
    pub fn new(profile: &Profile) -> Result<Gemini, BackendError> {
        let base = profile.base_url();
        let key = profile.key();
        Ok(Gemini {
            client: http::client(&profile.headers)?,
            url: http::url(&base, &format!("v1beta/models/{}:generateContent", profile.model))?,
            key,
            identity: Identity::new("gemini", &profile.model, &base),
        })
    }

    /// The serialized request body for a request.
    pub async fn body(&self, request: &ChatRequest) -> Result<Vec<u8>, CallError> {
        let mut payload = Payload::default();
        let mut system = Vec::new();
        let mut contents = Vec::new();
        for message in &request.messages {
            if message.role == Role::System {
                system.push(json!({"text": message.text()}));
                continue;
            }
            let mut parts = Vec::new();
            for part in &message.content {
                match part {
                    Content::Text { text } => parts.push(json!({"text": text})),
                    Content::Image { image } => {
                        let (data, mime) = payload.image(image, request).await?;
                        parts.push(json!({"inline_data": {"mime_type": mime, "data": data}}));
                    }
                }
            }
            let role = if message.role == Role::Assistant { "model" } else { "user" };
            contents.push(json!({"role": role, "parts": parts}));
        }
        let mut body = Map::new();
        body.insert("contents".into(), Value::Array(contents));
        if !system.is_empty() {
            body.insert("systemInstruction".into(), json!({"parts": system}));
        }
        let mut config = json!({"temperature": request.temperature, "maxOutputTokens": request.max_tokens});
        if let Some(r) = &request.reasoning {
            let mut thinking = json!({"includeThoughts": r.include});
            if let Some(budget) = r.budget {
                thinking["thinkingBudget"] = json!(budget);
            }
            config["thinkingConfig"] = thinking;
        }
        body.insert("generationConfig".into(), config);
        let categories = [
            "HARM_CATEGORY_HATE_SPEECH",
            "HARM_CATEGORY_HARASSMENT",
            "HARM_CATEGORY_SEXUALLY_EXPLICIT",
            "HARM_CATEGORY_DANGEROUS_CONTENT",
        ];
        let safety: Vec<Value> =
            categories.iter().map(|c| json!({"category": c, "threshold": "BLOCK_NONE"})).collect();
        body.insert("safetySettings".into(), Value::Array(safety));
        for (k, v) in &request.params {
            body.insert(k.clone(), v.clone());
        }
        payload.render(&Value::Object(body))
    }
}

impl ChatModel for Gemini {
    fn identity(&self) -> &Identity {
        &self.identity
    }

    fn chat<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse, CallError>> {
        Box::pin(async move {
            let body = self.body(request).await?;
            let mut builder = self.client.post(self.url.clone());
            if let Some(key) = self.key.expose() {
                builder = builder.header("x-goog-api-key", key);
            }
            parse(http::post_bytes(builder, body).await?)
        })
    }
}

/// Reads a `generateContent` answer.
pub fn parse(raw: Value) -> Result<ChatResponse, CallError> {
    let usage = raw.get("usageMetadata").map(|u| Usage {
        input: u.get("promptTokenCount").and_then(Value::as_u64).unwrap_or(0),
        output: u.get("candidatesTokenCount").and_then(Value::as_u64).unwrap_or(0)
            + u.get("thoughtsTokenCount").and_then(Value::as_u64).unwrap_or(0),
        reasoning: u.get("thoughtsTokenCount").and_then(Value::as_u64).unwrap_or(0),
    });
    let block = raw.pointer("/promptFeedback/blockReason").and_then(Value::as_str);
    let Some(candidate) = raw.pointer("/candidates/0") else {
        if let Some(reason) = block {
            return Ok(ChatResponse {
                text: String::new(),
                reasoning: None,
                finish: Finish::Blocked,
                finish_raw: Some(reason.to_string()),
                usage,
                raw,
            });
        }
        return Err(CallError::Decode(format!("no candidate in the answer: {}", short(&raw))));
    };
    // Thought parts (`"thought": true`) are the reasoning; the others the answer.
    let parts = |thought: bool| -> String {
        candidate
            .pointer("/content/parts")
            .and_then(Value::as_array)
            .map(|parts| {
                parts
                    .iter()
                    .filter(|p| p.get("thought").and_then(Value::as_bool).unwrap_or(false) == thought)
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("")
            })
            .unwrap_or_default()
    };
    let text = parts(false);
    let reasoning = Some(parts(true)).filter(|r| !r.is_empty());
    let finish_raw = candidate.get("finishReason").and_then(Value::as_str).map(str::to_string);
    let finish = match finish_raw.as_deref() {
        Some("STOP") | None => Finish::Stop,
        Some("MAX_TOKENS") => Finish::Length,
        Some("SAFETY")
        | Some("PROHIBITED_CONTENT")
        | Some("BLOCKLIST")
        | Some("SPII")
        | Some("IMAGE_SAFETY") => Finish::Safety,
        Some(_) => Finish::Other,
    };
    Ok(ChatResponse { text, reasoning, finish, finish_raw, usage, raw })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_text_safety_and_blocked_prompts() {
        let r = parse(json!({"candidates": [{"content": {"parts": [{"text": "a"}, {"text": "b"}]},
                                              "finishReason": "STOP"}],
                             "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 2}}))
        .unwrap();
        assert_eq!((r.text.as_str(), r.finish), ("ab", Finish::Stop));
        assert_eq!(r.usage, Some(Usage { input: 7, output: 2, reasoning: 0 }));
        let s = parse(json!({"candidates": [{"finishReason": "SAFETY"}]})).unwrap();
        assert_eq!((s.text.as_str(), s.finish), ("", Finish::Safety));
        let b = parse(json!({"promptFeedback": {"blockReason": "SAFETY"}})).unwrap();
        assert_eq!((b.finish, b.finish_raw.as_deref()), (Finish::Blocked, Some("SAFETY")));
        assert!(parse(json!({})).is_err());
    }
}
