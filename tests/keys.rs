//! Keys go only to their owners, and a key a server echoes back never reaches the store, the
//! logs or the outputs.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

use common::{completion, is_probe, multitrust, run_cli, serve};

/// Records the Authorization header of every request; echoes it back in an error for the
/// sentences numbered 1 and inside the answer for those numbered 2.
#[derive(Clone, Default)]
struct Echo {
    seen: Arc<Mutex<Vec<Option<String>>>>,
}

impl Respond for Echo {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let auth = request.headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
        self.seen.lock().unwrap().push(auth.clone());
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let prompt = common::FakeChat::prompt(&body);
        let auth = auth.unwrap_or_default();
        if is_probe(&body) {
            return completion(&body, "OK");
        }
        if prompt.contains("play number 1 ") {
            return ResponseTemplate::new(400)
                .set_body_json(json!({"error": {"message": format!("this request was sent with `{auth}`, which we do not accept")}}));
        }
        let sentiment = if prompt.contains("lovely") { "positive" } else { "negative" };
        if prompt.contains("play number 2 ") {
            return completion(&body, &format!("{sentiment} (your key was {auth})"));
        }
        completion(&body, sentiment)
    }
}

/// Every file under a folder, as bytes, with its path.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn a_key_from_a_providers_variable_goes_only_to_that_provider() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 2);
    let echo = Echo::default();
    let server = serve(echo.clone()).await;
    let url = format!("{}/v1", server.uri());
    let mut c = multitrust();
    c.env("OPENAI_API_KEY", "sk-openai-must-stay-home")
        .args(["run", "-q", "-t", "R3", "-m", "openai:m", "--bootstrap", "20", "--base-url", &url, "--data"])
        .arg(&data)
        .arg("--out")
        .arg(tmp.path().join("a"));
    let (_, _, err) = run_cli(c).await;
    let seen = echo.seen.lock().unwrap().clone();
    assert!(!seen.is_empty(), "{err}");
    assert!(seen.iter().all(Option::is_none), "no key was sent to {url}: {seen:?}");

    // A profile that names its key sends it.
    let config = tmp.path().join("c.toml");
    std::fs::write(&config, format!("[models.m]\nprovider = \"openai\"\nmodel = \"m\"\nbase_url = \"{url}\"\napi_key_env = \"MY_SERVER_KEY\"\n")).unwrap();
    echo.seen.lock().unwrap().clear();
    let mut c = multitrust();
    c.env("OPENAI_API_KEY", "sk-openai-must-stay-home")
        .env("MY_SERVER_KEY", "sk-mine-for-this-server")
        .args(["run", "-q", "-t", "R3", "-m", "m", "--bootstrap", "20", "--config"])
        .arg(&config)
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(tmp.path().join("b"));
    let _ = run_cli(c).await;
    let seen = echo.seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|a| a.as_deref() == Some("Bearer sk-mine-for-this-server")), "{seen:?}");
}

#[tokio::test]
async fn an_echoed_key_is_scrubbed_from_the_store_and_every_output() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 3);
    let server = serve(Echo::default()).await;
    let key = "sk-echo-0123456789abcdef";
    let config = tmp.path().join("c.toml");
    std::fs::write(
        &config,
        format!("[models.m]\nprovider = \"openai\"\nmodel = \"m\"\nbase_url = \"{}/v1\"\napi_key_env = \"ECHO_KEY\"\n", server.uri()),
    )
    .unwrap();
    let out = tmp.path().join("run");
    let mut c = multitrust();
    c.env("ECHO_KEY", key)
        .env("RUST_LOG", "debug")
        .args(["run", "-t", "R3", "-m", "m", "--bootstrap", "20", "--max-unscorable", "0.5", "--config"])
        .arg(&config)
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&out);
    let (code, stdout, err) = run_cli(c).await;
    assert_eq!(code, 0, "{err}");
    assert!(!stdout.contains(key) && !err.contains(key), "the logs hold no key");
    let written = files(&out);
    assert!(written.iter().any(|(p, _)| p.ends_with("store.sqlite")));
    for (path, bytes) in &written {
        assert!(!contains(bytes, key), "{path} holds the key");
    }
    let lines = common::sample_lines(&out);
    let rejected: Vec<&Value> = lines.iter().filter(|l| l["outcome"] == "unscorable").collect();
    assert_eq!(rejected.len(), 15, "the sentences numbered 1 in every split");
    assert!(rejected.iter().all(|l| l["reason"].as_str().unwrap().contains("sent with `Bearer [redacted]`")));
    let echoed = lines
        .iter()
        .filter(|l| l["response"].as_str().is_some_and(|r| r.contains("your key was Bearer [redacted]")));
    assert_eq!(echoed.count(), 15);
}
