//! What every HTTP backend shares: the client, sending JSON, and turning error answers into
//! [`CallError`]s that carry the server's requested wait (Retry-After headers, or Gemini's
//! `retryDelay` in the body).

use std::time::{Duration, SystemTime};

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::BackendError;
use crate::core::CallError;

/// A client for one backend with the profile's extra headers: pooled connections, a connect
/// timeout. The per-request timeout is the engine's.
pub fn client(headers: &BTreeMap<String, String>) -> Result<reqwest::Client, BackendError> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| BackendError::Header(format!("header name `{k}` is invalid: {e}")))?;
        let value = HeaderValue::from_str(v)
            .map_err(|e| BackendError::Header(format!("header `{k}` has an invalid value: {e}")))?;
        map.insert(name, value);
    }
    reqwest::Client::builder()
        .default_headers(map)
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(90))
        .build()
        .map_err(|e| BackendError::Client(crate::core::error_chain(&e)))
}

/// Parses an endpoint URL once, with an error that names it.
pub fn url(base: &str, path: &str) -> Result<reqwest::Url, BackendError> {
    let joined = join(base, path);
    reqwest::Url::parse(&joined).map_err(|e| BackendError::Url(format!("`{joined}` is not a valid URL: {e}")))
}

/// Sends a request with a JSON body; returns the JSON answer of a 2xx response, or a
/// classified error. Errors never include the URL (which may carry a key).
pub async fn post_json(request: reqwest::RequestBuilder, body: &Value) -> Result<Value, CallError> {
    let bytes = serde_json::to_vec(body).map_err(|e| CallError::Request(e.to_string()))?;
    post_bytes(request, bytes).await
}

/// Sends a request with an already serialized JSON body (see [`super::Payload`]).
pub async fn post_bytes(request: reqwest::RequestBuilder, bytes: Vec<u8>) -> Result<Value, CallError> {
    let response = request
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(bytes)
        .send()
        .await
        .map_err(transport_error)?;
    read_json(response).await
}

/// Reads a response: the JSON body of a success, or the classified error.
pub async fn read_json(response: reqwest::Response) -> Result<Value, CallError> {
    let status = response.status();
    // The headers are kept for an error's requested wait only; a success needs none.
    let headers = if status.is_success() { HeaderMap::new() } else { response.headers().clone() };
    let body = response.bytes().await.map_err(transport_error)?;
    if status.is_success() {
        let json: Value = serde_json::from_slice(&body)
            .map_err(|e| CallError::Decode(format!("the body is not JSON ({e}): {}", snippet(&body))))?;
        // Some servers and proxies answer 200 with an error object instead of an error status.
        if let Some(error) = json.get("error").filter(|e| !e.is_null()) {
            let message = error.get("message").and_then(Value::as_str).map(str::to_string);
            let message = message.unwrap_or_else(|| snippet(error.to_string().as_bytes()));
            return Err(CallError::Decode(format!("the server answered 200 with an error: {message}")));
        }
        return Ok(json);
    }
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Err(status_error(status.as_u16(), &headers, &json, &body))
}

/// Sends a request without a body of ours (a GET, a multipart form); gives the response of a
/// 2xx, or the classified error.
pub async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, CallError> {
    let response = request.send().await.map_err(transport_error)?;
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(transport_error)?;
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Err(status_error(status, &headers, &json, &body))
}

/// The JSON lines of a response body (a batch's results): see [`json_lines`].
pub async fn jsonl(response: reqwest::Response, what: &str) -> Result<Vec<Value>, CallError> {
    let body = response.bytes().await.map_err(transport_error)?;
    Ok(json_lines(&body, what))
}

/// The JSON values of a JSONL text, blank lines skipped. A line that is not JSON is skipped
/// with a warning naming `what` (the file or URL) and the line's number: its request then has
/// no result, and is asked again by the next run.
pub fn json_lines(bytes: &[u8], what: &str) -> Vec<Value> {
    let mut lines = Vec::new();
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.trim_ascii().is_empty() {
            continue;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(value) => lines.push(value),
            Err(e) => tracing::warn!("{what}, line {}: not JSON ({e}); skipped", n + 1),
        }
    }
    lines
}

/// How long a connection may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Classifies a transport error (without its URL), keeping its whole cause chain: "error
/// sending request" alone does not say that the connection was refused.
pub fn transport_error(error: reqwest::Error) -> CallError {
    let error = error.without_url();
    let cause = crate::core::error_chain(&error);
    if error.is_timeout() && error.is_connect() {
        CallError::ConnectTimeout(CONNECT_TIMEOUT)
    } else if error.is_connect() || error.is_request() || error.is_body() || error.is_timeout() {
        CallError::Connect(cause)
    } else {
        CallError::Decode(cause)
    }
}

/// Builds the error for a non-success status, reading the requested wait and the message.
pub fn status_error(status: u16, headers: &HeaderMap, json: &Value, body: &[u8]) -> CallError {
    let message = json
        .pointer("/error/message")
        .and_then(Value::as_str)
        .or_else(|| json.get("message").and_then(Value::as_str))
        .or_else(|| json.get("error").and_then(Value::as_str))
        .map(str::to_string)
        .unwrap_or_else(|| snippet(body));
    CallError::Status { status, message, retry_after: retry_after(headers, json) }
}

/// The wait a server asks for: `retry-after-ms`, `retry-after` (seconds or an HTTP date), or
/// Gemini's `error.details[].retryDelay` ("3.5s").
pub fn retry_after(headers: &HeaderMap, json: &Value) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return finite_secs(ms / 1000.0);
    }
    if let Some(value) = header("retry-after") {
        if let Ok(secs) = value.parse::<f64>() {
            return finite_secs(secs);
        }
        if let Ok(when) = httpdate::parse_http_date(value) {
            return Some(when.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO));
        }
    }
    // OpenAI's rate-limit headers: a spent limit and when it resets ("1s", "6m0s", "20ms").
    for kind in ["requests", "tokens"] {
        if header(&format!("x-ratelimit-remaining-{kind}")) == Some("0")
            && let Some(wait) = header(&format!("x-ratelimit-reset-{kind}")).and_then(go_duration)
        {
            return Some(wait);
        }
    }
    let details = json.pointer("/error/details").and_then(Value::as_array)?;
    details.iter().find_map(|d| {
        let delay = d.get("retryDelay")?.as_str()?;
        finite_secs(delay.trim_end_matches('s').parse::<f64>().ok()?)
    })
}

/// A duration written as Go prints one (`1h2m3.5s`, `6m0s`, `20ms`), as OpenAI's rate-limit
/// headers do.
fn go_duration(text: &str) -> Option<Duration> {
    let mut total = 0.0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let scale = match &rest[..unit] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 1e-6,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit..];
    }
    finite_secs(total)
}

fn finite_secs(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// The start of a body, for error messages.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.chars().count() > 300 {
        format!("{}…", text.chars().take(300).collect::<String>())
    } else if text.is_empty() {
        "(empty body)".to_string()
    } else {
        text.to_string()
    }
}

/// Joins a base URL and a path with exactly one slash.
pub fn join(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h, &Value::Null), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&h, &Value::Null), Some(Duration::from_millis(150)));
        let gemini = serde_json::json!({"error": {"code": 429, "details": [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure"},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3.5s"}]}});
        assert_eq!(retry_after(&HeaderMap::new(), &gemini), Some(Duration::from_millis(3500)));
        let mut date = HeaderMap::new();
        date.insert("retry-after", HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&date, &Value::Null), Some(Duration::ZERO));
        assert_eq!(retry_after(&HeaderMap::new(), &Value::Null), None);
        // A spent OpenAI rate limit, without Retry-After: its reset.
        let mut spent = HeaderMap::new();
        spent.insert("x-ratelimit-remaining-requests", "0".parse().unwrap());
        spent.insert("x-ratelimit-reset-requests", "1m2.5s".parse().unwrap());
        assert_eq!(retry_after(&spent, &Value::Null), Some(Duration::from_millis(62_500)));
        spent.insert("x-ratelimit-remaining-requests", "3".parse().unwrap());
        assert_eq!(retry_after(&spent, &Value::Null), None, "not spent");
        assert_eq!(go_duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(go_duration("soon"), None);
    }

    #[test]
    fn status_errors_carry_the_message() {
        let body = br#"{"error": {"message": "bad model"}}"#;
        let json: Value = serde_json::from_slice(body).unwrap();
        let e = status_error(404, &HeaderMap::new(), &json, body);
        assert_eq!(e.to_string(), "HTTP 404: bad model");
        let e = status_error(502, &HeaderMap::new(), &Value::Null, b"upstream down");
        assert_eq!(e.to_string(), "HTTP 502: upstream down");
    }

    #[test]
    fn join_urls() {
        assert_eq!(join("http://h/v1/", "/chat/completions"), "http://h/v1/chat/completions");
        assert_eq!(join("http://h/v1", "models"), "http://h/v1/models");
    }
}
