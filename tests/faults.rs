//! Faults a real server or proxy produces, through the binary: every transient one is retried
//! and the sample ends scored with the server's good answer; one that never heals ends
//! unscorable with a reason; a refusal the provider signals stays an answer.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Response, StatusCode, header};
use serde_json::{Value, json};

use common::{FakeChat, is_probe, multitrust, read_json, run_cli, sample_lines};

/// The faults, one per sample, given on the first attempt(s).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    /// A JSON body cut short (the declared length is met).
    Truncated,
    /// The connection breaks in the middle of the body.
    Cut,
    /// Not JSON at all.
    InvalidJson,
    /// An HTML page with status 200 (a proxy's).
    Html,
    /// `{"error": ...}` with status 200.
    ErrorObject,
    /// `{"choices": []}`.
    NoChoices,
    /// 429 with a Retry-After.
    RateLimited,
    /// 500.
    ServerError,
    /// No answer within the timeout.
    Stall,
}

const FAULTS: [Fault; 9] = [
    Fault::Truncated,
    Fault::Cut,
    Fault::InvalidJson,
    Fault::Html,
    Fault::ErrorObject,
    Fault::NoChoices,
    Fault::RateLimited,
    Fault::ServerError,
    Fault::Stall,
];

#[derive(Clone, Default)]
struct Faulty {
    /// Attempts per prompt.
    attempts: Arc<Mutex<HashMap<String, usize>>>,
}

fn completion(body: &Value, text: &str, finish: &str) -> Response<Body> {
    let json = json!({"choices": [{"message": {"content": text}, "finish_reason": finish}],
                      "usage": {"prompt_tokens": common::prompt_tokens(body), "completion_tokens": 1}});
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json.to_string()))
        .unwrap()
}

fn with_status(status: u16, content_type: &str, body: impl Into<Body>) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header(header::CONTENT_TYPE, content_type)
        .header("retry-after", "0")
        .body(body.into())
        .unwrap()
}

/// The fault of a prompt: by the sentence number and category, so every kind is met.
fn fault_of(prompt: &str) -> Option<Fault> {
    let number = prompt.split("play number ").nth(1)?.split(' ').next()?.parse::<usize>().ok()?;
    let category =
        ["augment", "shake_w", "tweet_p0"].iter().position(|c| prompt.contains(&format!("The {c} ")))?;
    FAULTS.get((category * 5 + number) % 10).copied()
}

async fn chat(State(state): State<Faulty>, body: Bytes) -> Response<Body> {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if is_probe(&body) {
        return completion(&body, "OK", "stop");
    }
    let prompt = FakeChat::prompt(&body);
    let answer = if prompt.contains("lovely") { "positive" } else { "negative" };
    // The sentence that never heals, and the one the provider refuses.
    if prompt.contains("The augment play number 4 ") {
        return with_status(
            500,
            "application/json",
            json!({"error": {"message": "model crashed"}}).to_string(),
        );
    }
    if prompt.contains("The shake_w play number 4 ") {
        return completion(&body, "", "content_filter");
    }
    let key = body.to_string();
    let attempt = {
        let mut attempts = state.attempts.lock().unwrap();
        let n = attempts.entry(key).or_default();
        *n += 1;
        *n
    };
    let Some(fault) = fault_of(&prompt).filter(|_| attempt == 1) else {
        return completion(&body, answer, "stop");
    };
    match fault {
        Fault::Truncated => with_status(200, "application/json", "{\"choices\": [{\"message\": {\"cont"),
        Fault::Cut => {
            let parts: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from_static(b"{\"choices\": [{\"message\": ")),
                Err(std::io::Error::other("connection reset by the test")),
            ];
            Response::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(futures::stream::iter(parts)))
                .unwrap()
        }
        Fault::InvalidJson => with_status(200, "application/json", "{choices: [positive]}"),
        Fault::Html => with_status(200, "text/html", "<html><body><h1>Please sign in</h1></body></html>"),
        Fault::ErrorObject => with_status(
            200,
            "application/json",
            json!({"error": {"message": "overloaded, try again"}}).to_string(),
        ),
        Fault::NoChoices => {
            with_status(200, "application/json", json!({"id": "x", "choices": []}).to_string())
        }
        Fault::RateLimited => {
            with_status(429, "application/json", json!({"error": {"message": "slow down"}}).to_string())
        }
        Fault::ServerError => with_status(502, "text/plain", "bad gateway"),
        Fault::Stall => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            completion(&body, answer, "stop")
        }
    }
}

async fn start(state: Faulty) -> SocketAddr {
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(chat)).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn transient_faults_are_retried_and_a_provider_refusal_stays_an_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 5);
    let state = Faulty::default();
    let addr = start(state.clone()).await;
    let config = tmp.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[models.m]\nprovider = \"openai\"\nmodel = \"m\"\nbase_url = \"http://{addr}/v1\"\n\
             timeout_s = 1\nmax_attempts = 3\nmax_retry_delay_s = 0.2\nbreaker_failures = 0\n"
        ),
    )
    .unwrap();
    let out = tmp.path().join("run");
    let mut c = multitrust();
    c.args(["run", "-q", "-t", "R3", "-m", "m", "--bootstrap", "20", "--config"])
        .arg(&config)
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&out);
    let (code, _, err) = run_cli(c).await;
    assert_eq!(code, 0, "{err}");
    let lines = sample_lines(&out);
    // Every faulty sample healed on its second attempt and was scored with the real answer.
    for line in &lines {
        let text = line["text"].as_str().unwrap();
        if text.contains("The augment play number 4 ") || text.contains("The shake_w play number 4 ") {
            continue;
        }
        assert_eq!(line["outcome"], "scored", "{line}");
        assert_eq!(line["values"]["rule_contain_exact_eval"], 1, "{line}");
        if fault_of(text).is_some() {
            assert!(line["response"].as_str().unwrap().ends_with("tive"), "{line}");
        }
    }
    let attempts = state.attempts.lock().unwrap().clone();
    for fault in FAULTS {
        let tried: Vec<usize> =
            attempts.iter().filter(|(k, _)| fault_of(k) == Some(fault)).map(|(_, n)| *n).collect();
        assert!(!tried.is_empty(), "{fault:?} was met");
        assert!(tried.iter().all(|&n| n == 2), "{fault:?}: one fault, one retry: {tried:?}");
    }
    // The sentence that never heals: unscorable after its three attempts, with the reason.
    let crashed: Vec<&Value> =
        lines.iter().filter(|l| l["text"].as_str().unwrap().contains("The augment play number 4 ")).collect();
    assert_eq!(crashed.len(), 5);
    for l in &crashed {
        assert_eq!((l["outcome"].as_str(), l["kind"].as_str()), (Some("unscorable"), Some("provider")));
        assert!(l["reason"].as_str().unwrap().contains("HTTP 500: model crashed (after 3 attempts)"), "{l}");
    }
    // The refusal is an answer, counted as one, and asked once.
    let refused: Vec<&Value> =
        lines.iter().filter(|l| l["text"].as_str().unwrap().contains("The shake_w play number 4 ")).collect();
    assert!(refused.iter().all(|l| l["outcome"] == "scored" && l["finish"] == "content_filter"));
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["models"][0]["tasks"][0]["unscorable"], 5);
}
