//! OpenAI-compatible `/chat/completions`: OpenAI itself and every server that speaks its API
//! (vLLM, SGLang, TGI, Ollama, llama.cpp, mistral.rs, LM Studio).
//!
//! Images go as data URLs with their true MIME type. Refusals are data: `finish_reason:
//! content_filter`, a `refusal` field, and Azure-style 400 answers whose error code is
//! `content_filter` all come back as responses, not errors.

use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::http;
use super::{BackendError, ChatModel, ChatRequest, ChatResponse, Finish, Payload, Usage};
use crate::config::Profile;
use crate::core::{CallError, Identity, Secret};
use crate::engine::batch::{BatchApi, Progress, Results};
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

    /// A request as a line of a batch file: `{"custom_id", "method", "url", "body"}`.
    pub async fn batch_line(&self, id: &str, request: &ChatRequest) -> Result<Vec<u8>, CallError> {
        let body = self.body(request).await?;
        let head = json!({"custom_id": id, "method": "POST", "url": BATCH_ENDPOINT});
        Ok(super::with_raw_field(&head, "body", &body))
    }

    /// A request to a URL of this API, with the key.
    fn authed(&self, method: reqwest::Method, url: reqwest::Url) -> reqwest::RequestBuilder {
        let builder = self.client.request(method, url);
        match self.key.expose() {
            Some(key) => builder.bearer_auth(key),
            None => builder,
        }
    }
}

/// What an Azure-style 400 for filtered content becomes: a response, not an error.
fn filtered(message: &str) -> Option<ChatResponse> {
    let lower = message.to_ascii_lowercase();
    (lower.contains("content_filter") || lower.contains("content management policy")).then(|| ChatResponse {
        text: String::new(),
        reasoning: None,
        finish: Finish::ContentFilter,
        finish_raw: Some("content_filter".into()),
        usage: None,
        raw: json!({"error": message}),
    })
}

impl ChatModel for OpenAi {
    fn identity(&self) -> &Identity {
        &self.identity
    }

    fn chat<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse, CallError>> {
        Box::pin(async move {
            let body = self.body(request).await?;
            let builder = self.authed(reqwest::Method::POST, self.url.clone());
            match http::post_bytes(builder, body).await {
                Ok(raw) => parse(raw),
                Err(CallError::Status { status: 400, message, retry_after }) => {
                    filtered(&message).ok_or(CallError::Status { status: 400, message, retry_after })
                }
                Err(e) => Err(e),
            }
        })
    }
}

/// OpenAI Batch: the requests as a JSONL file (`POST {base}/files`, purpose `batch`), a batch
/// over it (`POST {base}/batches`, 24-hour window), its state (`GET {base}/batches/ID`) and,
/// once it ends, its output and error files (`GET {base}/files/ID/content`). Each line is
/// `{"custom_id", "method", "url", "body"}` and each result `{"custom_id", "response":
/// {"status_code", "body"}, "error"}`: the lines vLLM's `run_batch` reads and writes too.
#[derive(Debug)]
pub struct OpenAiBatch {
    chat: OpenAi,
    /// The base URL, ending in a slash so that paths join onto it.
    base: reqwest::Url,
    poll: Duration,
}

/// The endpoint every line of a batch calls.
const BATCH_ENDPOINT: &str = "/v1/chat/completions";

impl OpenAiBatch {
    /// The batch client of a profile (`batch = true`).
    pub fn new(profile: &Profile) -> Result<OpenAiBatch, BackendError> {
        let chat = OpenAi::new(profile)?;
        let base = http::url(&profile.base_url(), "")?;
        Ok(OpenAiBatch { chat, base, poll: profile.batch_poll() })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> Result<reqwest::RequestBuilder, CallError> {
        let url = self.base.join(path).map_err(|e| CallError::Request(format!("`{path}`: {e}")))?;
        Ok(self.chat.authed(method, url))
    }

    async fn batch(&self, id: &str) -> Result<Value, CallError> {
        http::read_json(http::send(self.request(reqwest::Method::GET, &format!("batches/{id}"))?).await?)
            .await
    }

    /// The results in an output or error file.
    async fn file_lines(&self, file: &str, out: &mut Results<ChatResponse>) -> Result<(), CallError> {
        let response =
            http::send(self.request(reqwest::Method::GET, &format!("files/{file}/content"))?).await?;
        let lines = http::jsonl(response, &format!("batch result file {file}")).await?;
        out.extend(lines.iter().filter_map(result_line));
        Ok(())
    }
}

/// One line of a batch's output or error file: its id and answer, or why it has none.
fn result_line(line: &Value) -> Option<(String, Result<ChatResponse, String>)> {
    let id = line.get("custom_id")?.as_str()?.to_string();
    let status = line.pointer("/response/status_code").and_then(Value::as_u64);
    let body = line.pointer("/response/body").cloned().unwrap_or(Value::Null);
    let error = || {
        let message = body
            .pointer("/error/message")
            .or_else(|| line.pointer("/error/message"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| short(line.get("error").unwrap_or(&body)));
        match status {
            Some(code) => format!("HTTP {code}: {message}"),
            None => message,
        }
    };
    let result = match status {
        Some(200) => parse(body).map_err(|e| e.to_string()),
        Some(400) => filtered(&error()).ok_or_else(error),
        _ => Err(error()),
    };
    Some((id, result))
}

impl BatchApi<ChatRequest, ChatResponse> for OpenAiBatch {
    fn name(&self) -> &'static str {
        "OpenAI Batch"
    }

    /// OpenAI's published limits: 50,000 requests and 200 MB a file.
    fn capacity(&self) -> (usize, usize) {
        (50_000, 200_000_000)
    }

    fn poll_every(&self) -> Duration {
        self.poll
    }

    fn entry<'a>(
        &'a self,
        id: &'a str,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Vec<u8>, CallError>> {
        Box::pin(self.chat.batch_line(id, request))
    }

    fn submit(&self, entries: Vec<Vec<u8>>) -> BoxFuture<'_, Result<String, CallError>> {
        Box::pin(async move {
            let file = entries.join(&b'\n');
            let part = reqwest::multipart::Part::bytes(file)
                .file_name("multitrust-batch.jsonl")
                .mime_str("application/jsonl")
                .map_err(|e| CallError::Request(e.to_string()))?;
            let form = reqwest::multipart::Form::new().text("purpose", "batch").part("file", part);
            let upload = self.request(reqwest::Method::POST, "files")?.multipart(form);
            let uploaded = http::read_json(http::send(upload).await?).await?;
            let file_id = uploaded.get("id").and_then(Value::as_str).ok_or_else(|| {
                CallError::Decode(format!("the file upload gave no id: {}", short(&uploaded)))
            })?;
            let create =
                json!({"input_file_id": file_id, "endpoint": BATCH_ENDPOINT, "completion_window": "24h"});
            let created = http::post_json(self.request(reqwest::Method::POST, "batches")?, &create).await?;
            created
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| CallError::Decode(format!("the new batch has no id: {}", short(&created))))
        })
    }

    fn progress<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Progress, CallError>> {
        Box::pin(async move {
            let batch = self.batch(id).await?;
            let state = batch.get("status").and_then(Value::as_str).unwrap_or("unknown").to_string();
            let count =
                |k: &str| batch.pointer(&format!("/request_counts/{k}")).and_then(Value::as_u64).unwrap_or(0);
            Ok(match state.as_str() {
                "completed" | "expired" | "cancelled" => Progress::Ended { state, failure: None },
                "failed" => {
                    let errors: Vec<&str> = batch
                        .pointer("/errors/data")
                        .and_then(Value::as_array)
                        .map(|d| d.iter().filter_map(|e| e.get("message").and_then(Value::as_str)).collect())
                        .unwrap_or_default();
                    let why =
                        if errors.is_empty() { "no reason given".to_string() } else { errors.join("; ") };
                    Progress::Ended { state, failure: Some(why) }
                }
                _ => Progress::Running {
                    done: count("completed") + count("failed"),
                    total: count("total"),
                    state,
                },
            })
        })
    }

    fn results<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Results<ChatResponse>, CallError>> {
        Box::pin(async move {
            let batch = self.batch(id).await?;
            let mut out = Vec::new();
            for key in ["output_file_id", "error_file_id"] {
                if let Some(file) = batch.get(key).and_then(Value::as_str) {
                    self.file_lines(file, &mut out).await?;
                }
            }
            Ok(out)
        })
    }
}

/// Batches as files for vLLM's batch runner (`batch_dir`): each batch's input is written to
/// `DIR/ID.jsonl` in OpenAI Batch lines, and its results are read from `DIR/ID.results.jsonl`
/// once that holds a line for every request. The run waits, showing the command to run; it
/// can be stopped and run again later, when the results are there.
#[derive(Debug)]
pub struct BatchFiles {
    chat: OpenAi,
    dir: std::path::PathBuf,
    model: String,
    poll: Duration,
}

impl BatchFiles {
    /// The batch files of a profile (`batch = true`, `batch_dir = DIR`).
    pub fn new(profile: &Profile, dir: &std::path::Path) -> Result<BatchFiles, BackendError> {
        Ok(BatchFiles {
            chat: OpenAi::new(profile)?,
            dir: dir.to_path_buf(),
            model: profile.model.clone(),
            poll: profile.batch_poll(),
        })
    }

    fn input(&self, id: &str) -> std::path::PathBuf {
        self.dir.join(format!("{id}.jsonl"))
    }

    fn output(&self, id: &str) -> std::path::PathBuf {
        self.dir.join(format!("{id}.results.jsonl"))
    }

    /// Lines in a file (0 when it does not exist).
    fn lines(path: &std::path::Path) -> Result<usize, CallError> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(bytes.split(|&b| b == b'\n').filter(|l| !l.trim_ascii().is_empty()).count()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(CallError::Request(format!("cannot read {}: {e}", path.display()))),
        }
    }
}

impl BatchApi<ChatRequest, ChatResponse> for BatchFiles {
    fn name(&self) -> &'static str {
        "batch-file"
    }

    fn capacity(&self) -> (usize, usize) {
        (50_000, 200_000_000)
    }

    fn poll_every(&self) -> Duration {
        self.poll
    }

    fn entry<'a>(
        &'a self,
        id: &'a str,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Vec<u8>, CallError>> {
        Box::pin(self.chat.batch_line(id, request))
    }

    fn submit(&self, entries: Vec<Vec<u8>>) -> BoxFuture<'_, Result<String, CallError>> {
        Box::pin(async move {
            let file = entries.join(&b'\n');
            let id =
                format!("batch-{}", &crate::core::hex(&<sha2::Sha256 as sha2::Digest>::digest(&file))[..16]);
            let path = self.input(&id);
            let written = std::fs::create_dir_all(&self.dir)
                .and_then(|()| std::fs::write(path.with_extension("jsonl.partial"), &file))
                .and_then(|()| std::fs::rename(path.with_extension("jsonl.partial"), &path));
            written.map_err(|e| CallError::Request(format!("cannot write {}: {e}", path.display())))?;
            tracing::warn!(
                "{} requests written to {}; run them with\n  python -m vllm.entrypoints.openai.run_batch -i {} -o {} \
                 --model {}\nthis run waits for the results (or stop it and run it again once they are there)",
                entries.len(),
                path.display(),
                path.display(),
                self.output(&id).display(),
                self.model
            );
            Ok(id)
        })
    }

    fn progress<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Progress, CallError>> {
        Box::pin(async move {
            let total = Self::lines(&self.input(id))? as u64;
            if total == 0 {
                return Err(CallError::Status {
                    status: 404,
                    message: format!("{} is gone", self.input(id).display()),
                    retry_after: None,
                });
            }
            let done = Self::lines(&self.output(id))? as u64;
            Ok(match done >= total {
                true => Progress::Ended { state: "results written".into(), failure: None },
                false => Progress::Running {
                    done,
                    total,
                    state: format!("waiting for {}", self.output(id).display()),
                },
            })
        })
    }

    fn results<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Results<ChatResponse>, CallError>> {
        Box::pin(async move {
            let path = self.output(id);
            let bytes = std::fs::read(&path)
                .map_err(|e| CallError::Request(format!("cannot read {}: {e}", path.display())))?;
            let lines = http::json_lines(&bytes, &path.display().to_string());
            Ok(lines.iter().filter_map(result_line).collect())
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

    #[test]
    fn batch_result_lines_are_answers_filtered_content_or_errors() {
        let ok = json!({"custom_id": "a", "response": {"status_code": 200,
            "body": {"choices": [{"message": {"content": "yes"}, "finish_reason": "stop"}]}}});
        let (id, answer) = result_line(&ok).unwrap();
        assert_eq!((id.as_str(), answer.unwrap().text.as_str()), ("a", "yes"));
        let filtered = json!({"custom_id": "b", "response": {"status_code": 400,
            "body": {"error": {"code": "content_filter", "message": "content_filter: the prompt was filtered"}}}});
        assert_eq!(result_line(&filtered).unwrap().1.unwrap().finish, Finish::ContentFilter);
        let failed = json!({"custom_id": "c", "response": {"status_code": 429,
            "body": {"error": {"message": "rate limited"}}}});
        assert_eq!(result_line(&failed).unwrap().1.unwrap_err(), "HTTP 429: rate limited");
        let expired = json!({"custom_id": "d", "response": null,
            "error": {"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}});
        assert!(result_line(&expired).unwrap().1.unwrap_err().contains("completion window expired"));
        assert!(result_line(&json!({"response": {}})).is_none(), "a line without an id is no result");
    }
}
