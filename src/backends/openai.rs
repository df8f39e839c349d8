//! OpenAI-compatible `/chat/completions`: OpenAI itself and every server that speaks its API
//! (vLLM, SGLang, TGI, Ollama, llama.cpp, mistral.rs, LM Studio).
//!
//! Images go as data URLs with their true MIME type. Refusals are data: `finish_reason:
//! content_filter`, a `refusal` field, and Azure-style 400 answers whose error code is
//! `content_filter` all come back as responses, not errors.

use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::http;
use super::{BackendError, ChatModel, ChatRequest, ChatResponse, Finish, Payload, Usage};
use crate::config::Profile;
use crate::core::{CallError, Identity, Secret};
use crate::sample::{Content, Role};

/// A client for one model behind an OpenAI-compatible API.
#[derive(Debug)]
pub struct OpenAi {
    client: reqwest::Client,
    url: reqwest::Url,
    model: String,
    key: Secret,
    identity: Identity,
}

impl OpenAi {
    /// Builds the client a profile describes (see [`Profile::check_key`] for the key).
    pub fn new(profile: &Profile) -> Result<OpenAi, BackendError> {
        let base = profile.base_url();
        let key = profile.key();
        Ok(OpenAi {
            client: http::client(&profile.headers)?,
            url: http::url(&base, "chat/completions")?,
            model: profile.model.clone(),
            key,
            identity: Identity::new("openai", &profile.model, &base),
        })
    }

    /// The serialized request body for a request.
    pub async fn body(&self, request: &ChatRequest) -> Result<Vec<u8>, CallError> {
        let mut payload = Payload::default();
        let mut messages = Vec::new();
        for message in &request.messages {
            let role = match message.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            let has_image = message.content.iter().any(|c| matches!(c, Content::Image { .. }));
            let content = if has_image {
                let mut parts = Vec::new();
                for part in &message.content {
                    match part {
                        Content::Text { text } => parts.push(json!({"type": "text", "text": text})),
                        Content::Image { image } => {
                            let (data, mime) = payload.image(image, request).await?;
                            let url = format!("data:{mime};base64,{data}");
                            parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
                        }
                    }
                }
                Value::Array(parts)
            } else {
                Value::String(message.text())
            };
            messages.push(json!({"role": role, "content": content}));
        }
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model));
        body.insert("messages".into(), Value::Array(messages));
        body.insert("max_tokens".into(), json!(request.max_tokens));
        body.insert("temperature".into(), json!(request.temperature));
        if let Some(effort) = request.reasoning.as_ref().and_then(|r| r.effort.as_ref()) {
            body.insert("reasoning_effort".into(), json!(effort));
        }
        for (k, v) in &request.params {
            body.insert(k.clone(), v.clone());
        }
        payload.render(&Value::Object(body))
    }
}

impl ChatModel for OpenAi {
    fn identity(&self) -> &Identity {
        &self.identity
    }

    fn chat<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse, CallError>> {
        Box::pin(async move {
            let body = self.body(request).await?;
            let mut builder = self.client.post(self.url.clone());
            if let Some(key) = self.key.expose() {
                builder = builder.bearer_auth(key);
            }
            match http::post_bytes(builder, body).await {
                Ok(raw) => parse(raw),
                Err(CallError::Status { status: 400, message, .. })
                    if message.to_ascii_lowercase().contains("content_filter")
                        || message.to_ascii_lowercase().contains("content management policy") =>
                {
                    Ok(ChatResponse {
                        text: String::new(),
                        reasoning: None,
                        finish: Finish::ContentFilter,
                        finish_raw: Some("content_filter".into()),
                        usage: None,
                        raw: json!({"error": message}),
                    })
                }
                Err(e) => Err(e),
            }
        })
    }
}

/// Reads a `/chat/completions` answer.
pub fn parse(raw: Value) -> Result<ChatResponse, CallError> {
    let choice = raw
        .pointer("/choices/0")
        .ok_or_else(|| CallError::Decode(format!("no choices in the answer: {}", short(&raw))))?;
    let message = choice.get("message").unwrap_or(&Value::Null);
    let content = match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("")
        }
        _ => String::new(),
    };
    let refusal = message.get("refusal").and_then(Value::as_str).filter(|r| !r.is_empty());
    let finish_raw = choice.get("finish_reason").and_then(Value::as_str).map(str::to_string);
    let mut finish = match finish_raw.as_deref() {
        Some("stop") | Some("eos") | None => Finish::Stop,
        Some("length") => Finish::Length,
        Some("content_filter") => Finish::ContentFilter,
        Some(_) => Finish::Other,
    };
    let text = match (content.is_empty(), refusal) {
        (true, Some(r)) => {
            finish = Finish::Refusal;
            r.to_string()
        }
        _ => content,
    };
    let usage = raw.get("usage").map(|u| Usage {
        input: u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
        output: u.get("completion_tokens").and_then(Value::as_u64).unwrap_or(0),
        reasoning: u
            .pointer("/completion_tokens_details/reasoning_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    });
    // vLLM and SGLang return the reasoning apart, as `reasoning_content` (or `reasoning` in
    // newer versions) when a reasoning parser is on.
    let reasoning = ["reasoning_content", "reasoning"]
        .iter()
        .find_map(|k| message.get(*k).and_then(Value::as_str))
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    Ok(ChatResponse { text, reasoning, finish, finish_raw, usage, raw })
}

/// A JSON value cut short for an error message.
pub fn short(value: &Value) -> String {
    http::snippet(value.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_filter_refusal_and_usage() {
        let r = parse(json!({"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 5, "completion_tokens": 1}}))
        .unwrap();
        assert_eq!((r.text.as_str(), &r.finish), ("hi", &Finish::Stop));
        assert_eq!(r.usage, Some(Usage { input: 5, output: 1, reasoning: 0 }));
        let f = parse(json!({"choices": [{"message": {"content": null},
                                         "finish_reason": "content_filter"}]}))
        .unwrap();
        assert_eq!((f.text.as_str(), f.finish), ("", Finish::ContentFilter));
        let r = parse(json!({"choices": [{"message": {"content": null, "refusal": "No."},
                                         "finish_reason": "stop"}]}))
        .unwrap();
        assert_eq!((r.text.as_str(), r.finish), ("No.", Finish::Refusal));
        assert!(parse(json!({"error": "x"})).is_err());
    }
}
