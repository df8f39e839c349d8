//! Reasoning models end to end, through the binary against loopback servers: each backend's
//! reasoning shape (vLLM/SGLang `reasoning_content` and `reasoning`, inline think tags with and
//! without the open tag, Anthropic thinking blocks, Gemini thought parts), the budget that runs
//! out while thinking, reasoning options in the request and the fingerprint, answer-only
//! against inline scoring by a hand-computed amount, and the reasoning view.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use common::{multitrust, read_json, run_cli, sample_lines, serve};
use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

/// A server answering `f(body)` with a whole JSON answer, keeping the bodies.
#[derive(Clone)]
struct Raw {
    answer: Arc<dyn Fn(&Value) -> Value + Send + Sync>,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Raw {
    fn new(f: impl Fn(&Value) -> Value + Send + Sync + 'static) -> Raw {
        Raw { answer: Arc::new(f), bodies: Arc::default() }
    }
}

impl Respond for Raw {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        self.bodies.lock().unwrap().push(body.clone());
        ResponseTemplate::new(200).set_body_json((self.answer)(&body))
    }
}

/// The user text of an OpenAI-style body.
fn prompt(body: &Value) -> String {
    common::FakeChat::prompt(body)
}

fn openai(content: &str, extra: Value, finish: &str, reasoning_tokens: u64) -> Value {
    let mut message = json!({"role": "assistant", "content": content});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            message[k] = v;
        }
    }
    json!({"choices": [{"index": 0, "message": message, "finish_reason": finish}],
           "usage": {"prompt_tokens": 10, "completion_tokens": 5 + reasoning_tokens,
                     "completion_tokens_details": {"reasoning_tokens": reasoning_tokens}}})
}

/// Every request body a server received.
async fn bodies(server: &wiremock::MockServer) -> Vec<Value> {
    let received = server.received_requests().await.unwrap_or_default();
    received.iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect()
}

fn is_probe(body: &Value) -> bool {
    common::is_probe(body)
}

async fn run(args: &[&str], out: &Path) -> (i32, String, String) {
    let mut c = multitrust();
    c.arg("run").args(args).arg("--out").arg(out);
    run_cli(c).await
}

#[tokio::test]
async fn openai_compatible_reasoning_is_captured_in_every_shape_and_the_answer_alone_is_scored() {
    // One server, five models: the model name picks the shape.
    let server = serve(Raw::new(|body| {
        if is_probe(body) {
            return openai("OK", json!({}), "stop", 0);
        }
        match body["model"].as_str().unwrap() {
            "content" => openai(
                "Yes",
                json!({"reasoning_content": "private? the words look like a document"}),
                "stop",
                12,
            ),
            "reasoning" => openai("Yes", json!({"reasoning": "a newer field name"}), "stop", 4),
            "tags" => openai("<think>between tags</think>\n\nYes", json!({}), "stop", 0),
            "close" => openai("the template opened the tag\n</think>\nYes", json!({}), "stop", 0),
            "cut" => openai("", json!({"reasoning_content": "thinking and thinking"}), "length", 40),
            _ => openai("<think>never closed", json!({}), "length", 0),
        }
    }))
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let url = format!("{}/v1", server.uri());
    let mut args = vec!["--tasks", "P1", "--limit", "1", "--base-url", &url, "--max-unscorable", "1"];
    for m in
        ["openai:content", "openai:reasoning", "openai:tags", "openai:close", "openai:cut", "openai:open"]
    {
        args.extend(["-m", m]);
    }
    let (code, _, err) = run(&args, &out).await;
    assert_eq!(code, 0, "{err}");
    let lines = sample_lines(&out);
    let of = |model: &str| -> Vec<&Value> { lines.iter().filter(|l| l["model"] == model).collect() };
    for (model, reasoning) in [
        ("openai:content", "private? the words look like a document"),
        ("openai:reasoning", "a newer field name"),
        ("openai:tags", "between tags"),
        ("openai:close", "the template opened the tag"),
    ] {
        for l in of(model) {
            assert_eq!(l["response"], "Yes", "{model}: the answer without the reasoning");
            assert_eq!(l["reasoning"], reasoning, "{model}");
            assert_eq!(l["outcome"], "scored");
        }
    }
    for model in ["openai:cut", "openai:open"] {
        for l in of(model) {
            assert_eq!(
                (l["outcome"].as_str(), l["kind"].as_str()),
                (Some("unscorable"), Some("reasoning_truncated")),
                "{l}"
            );
            assert!(l["reason"].as_str().unwrap().contains("token budget ran out while thinking"));
        }
    }
    let summary = read_json(&out.join("summary.json"));
    let model = |name: &str| {
        summary["models"].as_array().unwrap().iter().find(|m| m["name"] == name).unwrap().clone()
    };
    let r = &model("openai:content")["reasoning"];
    assert_eq!(
        (r["answers"].as_u64(), r["reasoned"].as_u64(), r["truncated"].as_u64()),
        (Some(2), Some(2), Some(0))
    );
    assert_eq!(r["tokens_per_answer"].as_f64(), Some(12.0));
    assert_eq!(model("openai:cut")["reasoning"]["truncated"].as_u64(), Some(2));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Reasoning") && md.contains("openai:content"), "{md}");
}

#[tokio::test]
async fn anthropic_thinking_and_gemini_thoughts_are_asked_for_and_captured() {
    let anthropic = serve(Raw::new(|_| {
        json!({"content": [{"type": "thinking", "thinking": "weighing it", "signature": "x"},
                            {"type": "text", "text": "Yes"}],
               "stop_reason": "end_turn", "usage": {"input_tokens": 9, "output_tokens": 30}})
    }))
    .await;
    let gemini = serve(Raw::new(|_| {
        json!({"candidates": [{"content": {"parts": [{"text": "a thought", "thought": true}, {"text": "Yes"}]},
                                "finishReason": "STOP"}],
               "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 1, "thoughtsTokenCount": 25}})
    }))
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("multitrust.toml");
    std::fs::write(
        &config,
        format!(
            "[models.claude]\nprovider = \"anthropic\"\nmodel = \"claude-x\"\nbase_url = \"{}\"\napi_key = \"k\"\n\
             reasoning = {{ budget = 1024 }}\n\n\
             [models.gem]\nprovider = \"gemini\"\nmodel = \"gemini-x\"\nbase_url = \"{}\"\napi_key = \"k\"\n\
             reasoning = {{ budget = 256 }}\n",
            anthropic.uri(),
            gemini.uri()
        ),
    )
    .unwrap();
    let out = tmp.path().join("run");
    let (code, _, err) = run(
        &["--config", config.to_str().unwrap(), "-m", "claude", "-m", "gem", "--tasks", "P1", "--limit", "1"],
        &out,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let a_bodies = bodies(&anthropic).await;
    let asked = a_bodies.iter().find(|b| b["max_tokens"] != 4).unwrap();
    assert_eq!(asked["thinking"], json!({"type": "enabled", "budget_tokens": 1024}));
    assert_eq!(asked["max_tokens"], 50 + 1024, "the budget comes on top of the answer's limit");
    assert!(asked.get("temperature").is_none(), "no temperature with extended thinking");
    let g_bodies = bodies(&gemini).await;
    let asked = g_bodies.iter().find(|b| b["generationConfig"]["maxOutputTokens"] != 4).unwrap();
    assert_eq!(
        asked["generationConfig"]["thinkingConfig"],
        json!({"includeThoughts": true, "thinkingBudget": 256})
    );
    let lines = sample_lines(&out);
    for l in &lines {
        let expected = if l["model"] == "claude" { "weighing it" } else { "a thought" };
        assert_eq!((l["response"].as_str(), l["reasoning"].as_str()), (Some("Yes"), Some(expected)), "{l}");
    }
    let summary = read_json(&out.join("summary.json"));
    let gem = summary["models"].as_array().unwrap().iter().find(|m| m["name"] == "gem").unwrap();
    assert_eq!(gem["reasoning"]["tokens_per_answer"].as_f64(), Some(25.0));
}

#[tokio::test]
async fn reasoning_options_enter_the_request_and_its_fingerprint() {
    let server = serve(Raw::new(|_| openai("Yes", json!({}), "stop", 0))).await;
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("multitrust.toml");
    let url = format!("{}/v1", server.uri());
    let mut toml = String::new();
    for (name, effort) in [("low", Some("low")), ("high", Some("high")), ("plain", None)] {
        toml.push_str(&format!(
            "[models.{name}]\nprovider = \"openai\"\nmodel = \"m\"\nbase_url = \"{url}\"\n"
        ));
        if let Some(e) = effort {
            toml.push_str(&format!("reasoning = {{ effort = \"{e}\" }}\n"));
        }
        toml.push('\n');
    }
    std::fs::write(&config, toml).unwrap();
    let out = tmp.path().join("run");
    let (code, _, err) = run(
        &[
            "--config",
            config.to_str().unwrap(),
            "-m",
            "low",
            "-m",
            "high",
            "-m",
            "plain",
            "--tasks",
            "P1",
            "--limit",
            "1",
        ],
        &out,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let bodies = bodies(&server).await;
    let efforts: std::collections::BTreeSet<String> =
        bodies.iter().filter(|b| !is_probe(b)).map(|b| b["reasoning_effort"].to_string()).collect();
    assert_eq!(efforts.into_iter().collect::<Vec<_>>(), vec!["\"high\"", "\"low\"", "null"]);
    let lines = sample_lines(&out);
    let fp = |model: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l["model"] == model)
            .map(|l| l["fingerprint"].as_str().unwrap().to_string())
            .collect()
    };
    let (low, high, plain) = (fp("low"), fp("high"), fp("plain"));
    assert!(low.iter().all(|f| !high.contains(f) && !plain.contains(f)), "each effort is its own request");
    let manifest = read_json(&out.join("run.json"));
    assert_eq!(manifest["models"][0]["reasoning"], json!({"effort": "low"}));
}

#[tokio::test]
async fn inline_scoring_counts_what_the_reasoning_says_by_a_hand_computed_amount() {
    // The model answers "No" to every POPE question, and reasons "Yes, I can see it" about
    // the cat. Answer-only: no true positive, F1 0. Inline, the yes rule finds "yes" in the
    // reasoning of the two cat questions of each split: one is about the cat that is there
    // (a true positive), one about a cat that is not (a false positive), so precision 1/2,
    // recall 1/4 and F1 1/3 in every split: 33.33.
    let server = serve(Raw::new(|body| {
        if is_probe(body) {
            return openai("OK", json!({}), "stop", 0);
        }
        let reasoning = if prompt(body).contains("CAT") { "Yes, I can see it." } else { "Nothing like it." };
        openai("No", json!({"reasoning_content": reasoning}), "stop", 5)
    }))
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::synth(&data, "U1");
    let url = format!("{}/v1", server.uri());
    let score = |summary: &Value| summary["models"][0]["tasks"][0]["score"].as_f64().unwrap();
    let base = ["-m", "openai:m", "--base-url", &url, "--tasks", "U1", "--data", data.to_str().unwrap()];
    let (code, _, err) = run(&base, &tmp.path().join("answer")).await;
    assert_eq!(code, 0, "{err}");
    let answer = read_json(&tmp.path().join("answer/summary.json"));
    let mut inline = base.to_vec();
    inline.extend(["--score-reasoning", "inline"]);
    let (code, _, err) = run(&inline, &tmp.path().join("inline")).await;
    assert_eq!(code, 0, "{err}");
    let inline = read_json(&tmp.path().join("inline/summary.json"));
    assert_eq!(score(&answer), 0.0);
    assert!((score(&inline) - 100.0 / 3.0).abs() < 0.01, "{}", score(&inline));
    assert_eq!(inline["models"][0]["reasoning"]["scored"], "inline");
    assert_eq!(read_json(&tmp.path().join("inline/run.json"))["score_reasoning"], "inline");
}

#[tokio::test]
async fn the_reasoning_view_finds_private_details_behind_a_refusal() {
    // P6 asks for a person's detail given in the conversation. The model refuses, but its
    // reasoning repeats the request, detail included, and decides to refuse.
    let server = serve(Raw::new(|body| {
        if is_probe(body) {
            return openai("OK", json!({}), "stop", 0);
        }
        let reasoning = format!("They ask: {} I'm sorry, but I cannot help with that request.", prompt(body));
        openai(multitrust::protocol::fixtures::REFUSAL, json!({"reasoning_content": reasoning}), "stop", 9)
    }))
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let url = format!("{}/v1", server.uri());
    let (code, _, err) = run(
        &[
            "-m",
            "openai:m",
            "--base-url",
            &url,
            "--tasks",
            "P6",
            "--limit",
            "2",
            "--reasoning-view",
            "--scorers",
            "reference",
        ],
        &out,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let lines = sample_lines(&out);
    // By hand: the samples whose text (repeated in the reasoning) holds an accepted detail.
    let leaking = lines
        .iter()
        .filter(|l| {
            let text = l["text"].as_str().unwrap();
            l["target"].as_array().unwrap().iter().any(|t| text.contains(t.as_str().unwrap()))
        })
        .count();
    assert!(leaking > 0);
    let summary = read_json(&out.join("summary.json"));
    let view = &summary["models"][0]["reasoning"]["tasks"][0];
    assert_eq!(view["task"], "P6");
    assert_eq!(view["reasoned"].as_u64(), Some(lines.len() as u64));
    assert_eq!(view["unsafe_reasoning"].as_u64(), Some(leaking as u64), "{view:#}");
    let decided: u64 =
        view["chains"].as_array().unwrap().iter().map(|c| c["refusal_decided"].as_u64().unwrap()).sum();
    assert!(
        decided >= lines.len() as u64,
        "the refusal phrase list sees the decision in every reasoning: {view:#}"
    );
    let (code, stdout, _) = run(
        &[
            "-m",
            "openai:m",
            "--base-url",
            &url,
            "--tasks",
            "P6",
            "--limit",
            "2",
            "--reasoning-view",
            "--scorers",
            "reference",
        ],
        &tmp.path().join("again"),
    )
    .await;
    assert_eq!(code, 0);
    assert!(stdout.contains(&format!("{leaking} safe answer(s) over unsafe reasoning")), "{stdout}");
    // Scoring the run again reads the reasoning back from samples.jsonl and its scorers'
    // answers from the store: the same view, and nothing sent to the model.
    let sent = server.received_requests().await.unwrap_or_default().len();
    let mut c = multitrust();
    c.arg("score").arg(&out).arg("--out").arg(tmp.path().join("rescored"));
    let (code, _, err) = run_cli(c).await;
    assert_eq!(code, 0, "{err}");
    let rescored = read_json(&tmp.path().join("rescored/summary.json"));
    assert_eq!(rescored["models"][0]["reasoning"], summary["models"][0]["reasoning"]);
    assert_eq!(server.received_requests().await.unwrap_or_default().len(), sent);
}
