//! Anthropic Messages (`POST {base}/v1/messages`).
//!
//! Images go as base64 sources placed before the text of their message, as the original's Claude
//! wrapper does. `stop_reason: refusal` comes back as a response with [`Finish::Refusal`].

use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::http;
use super::openai::short;
use super::{BackendError, ChatModel, ChatRequest, ChatResponse, Finish, Payload, Usage};
use crate::config::Profile;
use crate::core::{CallError, Identity, Secret};
use crate::engine::batch::{BatchApi, Progress, Results};
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

    /// A request to a URL of this API, with the version and the key.
    fn authed(&self, method: reqwest::Method, url: reqwest::Url) -> reqwest::RequestBuilder {
        let builder = self.client.request(method, url).header("anthropic-version", &self.version);
        match self.key.expose() {
            Some(key) => builder.header("x-api-key", key),
            None => builder,
        }
    }
}

impl ChatModel for Anthropic {
    fn identity(&self) -> &Identity {
        &self.identity
    }

    fn chat<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse, CallError>> {
        Box::pin(async move {
            let body = self.body(request).await?;
            let builder = self.authed(reqwest::Method::POST, self.url.clone());
            parse(http::post_bytes(builder, body).await?)
        })
    }
}

/// Anthropic Message Batches: `POST {base}/v1/messages/batches` with every request as
/// `{"custom_id", "params"}`, its state at `GET .../batches/ID`, and once it has ended its
/// results at `GET .../batches/ID/results` (JSONL: `succeeded` with the message, or `errored`,
/// `canceled`, `expired`). The results are read from the API's own host, never from a URL the
/// answer names, so the key goes nowhere else.
#[derive(Debug)]
pub struct AnthropicBatch {
    chat: Anthropic,
    /// `{base}/v1/messages/batches`, where batches are created.
    create: reqwest::Url,
    /// The same with a slash, which a batch's id joins onto.
    each: reqwest::Url,
    poll: Duration,
}

impl AnthropicBatch {
    /// The batch client of a profile (`batch = true`).
    pub fn new(profile: &Profile) -> Result<AnthropicBatch, BackendError> {
        let chat = Anthropic::new(profile)?;
        let create = http::url(&profile.base_url(), "v1/messages/batches")?;
        let each = http::url(&profile.base_url(), "v1/messages/batches/")?;
        Ok(AnthropicBatch { chat, create, each, poll: profile.batch_poll() })
    }

    /// `GET` a batch's state or results.
    async fn get(&self, path: &str) -> Result<reqwest::Response, CallError> {
        let url = self.each.join(path).map_err(|e| CallError::Request(format!("`{path}`: {e}")))?;
        http::send(self.chat.authed(reqwest::Method::GET, url)).await
    }
}

/// One line of a batch's results: its id and answer, or why it has none.
fn result_line(line: &Value) -> Option<(String, Result<ChatResponse, String>)> {
    let id = line.get("custom_id")?.as_str()?.to_string();
    let result = line.get("result").unwrap_or(&Value::Null);
    let outcome = match result.get("type").and_then(Value::as_str) {
        Some("succeeded") => {
            parse(result.get("message").cloned().unwrap_or(Value::Null)).map_err(|e| e.to_string())
        }
        Some("errored") => Err(result
            .pointer("/error/error/message")
            .or_else(|| result.pointer("/error/message"))
            .and_then(Value::as_str)
            .map(|m| format!("errored: {m}"))
            .unwrap_or_else(|| format!("errored: {}", short(result)))),
        Some(other) => Err(format!("{other} before it was answered")),
        None => Err(format!("a result without a type: {}", short(result))),
    };
    Some((id, outcome))
}

impl BatchApi<ChatRequest, ChatResponse> for AnthropicBatch {
    fn name(&self) -> &'static str {
        "Anthropic Message Batches"
    }

    /// Anthropic's published limits: 100,000 requests and 256 MB a batch.
    fn capacity(&self) -> (usize, usize) {
        (100_000, 256_000_000)
    }

    fn poll_every(&self) -> Duration {
        self.poll
    }

    fn entry<'a>(
        &'a self,
        id: &'a str,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Vec<u8>, CallError>> {
        Box::pin(async move {
            let body = self.chat.body(request).await?;
            Ok(super::with_raw_field(&json!({"custom_id": id}), "params", &body))
        })
    }

    fn submit(&self, entries: Vec<Vec<u8>>) -> BoxFuture<'_, Result<String, CallError>> {
        Box::pin(async move {
            let mut body = b"{\"requests\":[".to_vec();
            body.extend_from_slice(&entries.join(&b','));
            body.extend_from_slice(b"]}");
            let created =
                http::post_bytes(self.chat.authed(reqwest::Method::POST, self.create.clone()), body).await?;
            created
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| CallError::Decode(format!("the new batch has no id: {}", short(&created))))
        })
    }

    fn progress<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Progress, CallError>> {
        Box::pin(async move {
            let batch = http::read_json(self.get(id).await?).await?;
            let state =
                batch.get("processing_status").and_then(Value::as_str).unwrap_or("unknown").to_string();
            if state == "ended" {
                return Ok(Progress::Ended { state, failure: None });
            }
            let counts = batch.get("request_counts").and_then(Value::as_object);
            let count = |k: &str| counts.and_then(|c| c.get(k)).and_then(Value::as_u64).unwrap_or(0);
            let total: u64 = counts.map(|c| c.values().filter_map(Value::as_u64).sum()).unwrap_or(0);
            Ok(Progress::Running { done: total - count("processing").min(total), total, state })
        })
    }

    fn results<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Results<ChatResponse>, CallError>> {
        Box::pin(async move {
            let response = self.get(&format!("{id}/results")).await?;
            let lines = http::jsonl(response, &format!("results of batch {id}")).await?;
            let out = lines.iter().filter_map(result_line).collect();
            Ok(out)
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

    #[test]
    fn batch_results_are_answers_or_say_why_not() {
        let ok = json!({"custom_id": "a", "result": {"type": "succeeded", "message":
            {"content": [{"type": "text", "text": "Hi"}], "stop_reason": "refusal"}}});
        let answer = result_line(&ok).unwrap().1.unwrap();
        assert_eq!((answer.text.as_str(), answer.finish), ("Hi", Finish::Refusal));
        let errored = json!({"custom_id": "b", "result": {"type": "errored", "error":
            {"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: too large"}}}});
        assert_eq!(result_line(&errored).unwrap().1.unwrap_err(), "errored: max_tokens: too large");
        let expired = json!({"custom_id": "c", "result": {"type": "expired"}});
        assert_eq!(result_line(&expired).unwrap().1.unwrap_err(), "expired before it was answered");
    }
}
