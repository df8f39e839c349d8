//! Anthropic Messages (`POST {base}/v1/messages`).
//!
//! Images go as base64 sources placed before the text of their message, as the original's Claude
//! wrapper does. `stop_reason: refusal` comes back as a response with [`Finish::Refusal`].

use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::http;
use super::openai::short;
use super::{BackendError, ChatModel, ChatRequest, ChatResponse, Finish, Payload, Usage};
use crate::config::Profile;
use crate::core::{CallError, Identity, Secret};
use crate::sample::{Content, Role};

/// A client for one Anthropic model.
#[derive(Debug)]
pub struct Anthropic {
    client: reqwest::Client,
    url: reqwest::Url,
    model: String,
    key: Secret,
    version: String,
    identity: Identity,
}

impl Anthropic {
    /// Builds the client a profile describes (see [`Profile::check_key`] for the key).
    pub fn new(profile: &Profile) -> Result<Anthropic, BackendError> {
        let base = profile.base_url();
        let key = profile.key();
        Ok(Anthropic {
            client: http::client(&profile.headers)?,
            url: http::url(&base, "v1/messages")?,
            model: profile.model.clone(),
            key,
            version: profile.anthropic_version.clone().unwrap_or_else(|| "2023-06-01".into()),
            identity: Identity::new("anthropic", &profile.model, &base),
        })
    }

    /// The serialized request body for a request.
    pub async fn body(&self, request: &ChatRequest) -> Result<Vec<u8>, CallError> {
        let mut payload = Payload::default();
        let mut system = Vec::new();
        let mut messages = Vec::new();
        for message in &request.messages {
            if message.role == Role::System {
                system.push(message.text());
                continue;
            }
            let mut images = Vec::new();
            let mut texts = Vec::new();
            for part in &message.content {
                match part {
                    Content::Text { text } => texts.push(json!({"type": "text", "text": text})),
                    Content::Image { image } => {
                        let (data, mime) = payload.image(image, request).await?;
                        images.push(json!({"type": "image", "source": {
                            "type": "base64", "media_type": mime, "data": data}}));
                    }
                }
            }
            images.extend(texts);
            let role = if message.role == Role::Assistant { "assistant" } else { "user" };
            messages.push(json!({"role": role, "content": images}));
        }
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model));
        match request.reasoning.as_ref().and_then(|r| r.budget) {
            // Extended thinking: the budget comes on top of the answer's own limit, and the
            // API takes no temperature other than 1 with it.
            Some(budget) => {
                body.insert("max_tokens".into(), json!(request.max_tokens + budget));
                body.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": budget}));
            }
            None => {
                body.insert("max_tokens".into(), json!(request.max_tokens));
                body.insert("temperature".into(), json!(request.temperature));
            }
        }
        if !system.is_empty() {
            body.insert("system".into(), json!(system.join("\n\n")));
        }
        body.insert("messages".into(), Value::Array(messages));
        for (k, v) in &request.params {
            body.insert(k.clone(), v.clone());
        }
        payload.render(&Value::Object(body))
    }
}

impl ChatModel for Anthropic {
    fn identity(&self) -> &Identity {
        &self.identity
    }

    fn chat<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse, CallError>> {
        Box::pin(async move {
            let body = self.body(request).await?;
            let mut builder = self.client.post(self.url.clone()).header("anthropic-version", &self.version);
            if let Some(key) = self.key.expose() {
                builder = builder.header("x-api-key", key);
            }
            parse(http::post_bytes(builder, body).await?)
        })
    }
}

/// Reads a Messages answer.
pub fn parse(raw: Value) -> Result<ChatResponse, CallError> {
    let content = raw
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| CallError::Decode(format!("no content in the answer: {}", short(&raw))))?;
    let text: String = content
        .iter()
        .filter(|c| c.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|c| c.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("");
    let thinking: Vec<&str> = content
        .iter()
        .filter(|c| c.get("type").and_then(Value::as_str) == Some("thinking"))
        .filter_map(|c| c.get("thinking").and_then(Value::as_str))
        .collect();
    let reasoning = (!thinking.is_empty()).then(|| thinking.join("\n"));
    let finish_raw = raw.get("stop_reason").and_then(Value::as_str).map(str::to_string);
    let finish = match finish_raw.as_deref() {
        Some("end_turn") | Some("stop_sequence") | None => Finish::Stop,
        Some("max_tokens") => Finish::Length,
        Some("refusal") => Finish::Refusal,
        Some(_) => Finish::Other,
    };
    let usage = raw.get("usage").map(|u| Usage {
        input: u.get("input_tokens").and_then(Value::as_u64).unwrap_or(0),
        output: u.get("output_tokens").and_then(Value::as_u64).unwrap_or(0),
        reasoning: 0,
    });
    Ok(ChatResponse { text, reasoning, finish, finish_raw, usage, raw })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_text_and_refusal() {
        let r = parse(json!({"content": [{"type": "text", "text": "Hello"}],
                             "stop_reason": "end_turn",
                             "usage": {"input_tokens": 3, "output_tokens": 2}}))
        .unwrap();
        assert_eq!((r.text.as_str(), r.finish), ("Hello", Finish::Stop));
        let r = parse(json!({"content": [], "stop_reason": "refusal"})).unwrap();
        assert_eq!((r.text.as_str(), r.finish), ("", Finish::Refusal));
        assert!(parse(json!({"type": "error"})).is_err());
    }
}
