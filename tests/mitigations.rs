//! Mitigations end to end: the real binary against loopback OpenAI-compatible servers that
//! keep every request body. Where each mitigation puts its text, the image transform and its
//! hash in the fingerprint, ECSO's branches and its store reuse, the composition order, the
//! output guard, refusal of stacks that cannot work, and the trade-off numbers.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use common::{completion, is_probe, multitrust, read_json, run_cli, sample_lines, serve};
use serde_json::Value;
use wiremock::{Request, Respond, ResponseTemplate};

use multitrust::mitigations::{adashield_s, ecso, privacy_reminder, safety_prompt, self_reminder};

/// A chat server answering `f(body)` and keeping every body but the preflight probes'.
#[derive(Clone)]
struct Recorder {
    answer: Arc<dyn Fn(&Value) -> String + Send + Sync>,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Recorder {
    fn new(f: impl Fn(&Value) -> String + Send + Sync + 'static) -> Recorder {
        Recorder { answer: Arc::new(f), bodies: Arc::default() }
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

impl Respond for Recorder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        if is_probe(&body) {
            return completion(&body, "OK");
        }
        self.bodies.lock().unwrap().push(body.clone());
        completion(&body, &(self.answer)(&body))
    }
}

/// The text of the last user message of a body.
fn user_text(body: &Value) -> String {
    let last = body["messages"].as_array().unwrap().iter().rev().find(|m| m["role"] == "user").unwrap();
    text_of(&last["content"])
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    }
}

fn system_text(body: &Value) -> Option<String> {
    let first = &body["messages"][0];
    (first["role"] == "system").then(|| text_of(&first["content"]))
}

/// The data URLs of the images of a body.
fn images(body: &Value) -> Vec<String> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["image_url"]["url"].as_str().map(str::to_string))
        .collect()
}

fn run_args(server: &wiremock::MockServer, out: &Path, tasks: &str) -> std::process::Command {
    let mut c = multitrust();
    c.args([
        "run",
        "-m",
        "openai:m",
        "--base-url",
        &format!("{}/v1", server.uri()),
        "--tasks",
        tasks,
        "--out",
    ])
    .arg(out)
    .args(["--seed", "1", "--bootstrap", "200"]);
    c
}

fn lines_of<'a>(lines: &'a [Value], model: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["model"] == model).collect()
}

#[tokio::test]
async fn prompt_mitigations_put_their_text_where_they_declare() {
    let chat = Recorder::new(|_| "Yes".into());
    let server = serve(chat.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut c = run_args(&server, &out, "P1");
    c.args(["--limit", "1"]);
    for m in ["safety-prompt", "self-reminder", "adashield-s", "privacy-reminder"] {
        c.args(["--mitigation", m]);
    }
    let (code, _, err) = run_cli(c).await;
    assert_eq!(code, 0, "{err}");
    let bodies = chat.bodies();
    // Two splits × one sample × (plain + four mitigations).
    assert_eq!(bodies.len(), 10, "{bodies:#?}");
    let plain: Vec<&Value> = bodies
        .iter()
        .filter(|b| {
            system_text(b).is_none()
                && !user_text(b).contains("responsible")
                && !user_text(b).starts_with(safety_prompt::TEXT)
                && !user_text(b).ends_with(adashield_s::TEXT)
        })
        .collect();
    assert_eq!(plain.len(), 2, "the plain model's requests carry no mitigation text");
    let question = user_text(plain[0]);
    let count = |f: &dyn Fn(&Value) -> bool| bodies.iter().filter(|b| f(b)).count();
    assert_eq!(
        count(&|b| user_text(b) == format!("{}{question}", safety_prompt::TEXT)),
        2,
        "safety-prompt goes before the request"
    );
    assert_eq!(
        count(&|b| system_text(b).as_deref() == Some(self_reminder::SYSTEM)
            && user_text(b) == format!("{question}{}", self_reminder::REMINDER)),
        2,
        "self-reminder: a system prompt and a reminder after the request"
    );
    assert_eq!(
        count(&|b| user_text(b) == format!("{question}{}", adashield_s::TEXT)),
        2,
        "adashield-s follows the request"
    );
    assert_eq!(
        count(&|b| system_text(b) == Some(privacy_reminder::system()) && user_text(b) == question),
        2,
        "privacy-reminder is a system prompt only"
    );
    assert!(privacy_reminder::system().contains("Their private information should be protected."));
    // Every request still carries the sample's image.
    assert!(bodies.iter().all(|b| images(b).len() == 1));
    let lines = sample_lines(&out);
    let models: std::collections::BTreeSet<&str> = lines.iter().filter_map(|l| l["model"].as_str()).collect();
    assert!(
        models.contains("openai:m+safety-prompt") && models.contains("openai:m+privacy-reminder"),
        "{models:?}"
    );
    let manifest = read_json(&out.join("run.json"));
    let entry = manifest["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "openai:m+self-reminder")
        .unwrap();
    assert_eq!(entry["mitigation"], "self-reminder");
    assert_eq!(entry["reference"], "openai:m");
}

#[tokio::test]
async fn image_purification_sends_the_transformed_image_and_fingerprints_its_hash() {
    let chat = Recorder::new(|_| "Yes".into());
    let server = serve(chat.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut c = run_args(&server, &out, "P1");
    c.args([
        "--limit",
        "1",
        "--mitigation",
        "jpeg:q=30+resize:side=16",
        "--mitigation",
        "resize:side=16+jpeg:q=30",
    ]);
    let (code, _, err) = run_cli(c).await;
    assert_eq!(code, 0, "{err}");
    let bodies = chat.bodies();
    assert_eq!(bodies.len(), 6);
    let kinds: Vec<String> =
        bodies.iter().map(|b| images(b)[0].split(';').next().unwrap().to_string()).collect();
    // P1's synthetic pictures: VISPR is JPEG, VizWiz PNG. `A+B` is B around (model with A): B's
    // input change comes first, A's last, so `jpeg+resize` sends a JPEG and `resize+jpeg` a PNG.
    let jpeg_last = kinds.iter().filter(|k| k.as_str() == "data:image/jpeg").count();
    let png_last = kinds.iter().filter(|k| k.as_str() == "data:image/png").count();
    assert_eq!((jpeg_last, png_last), (3, 3), "{kinds:?}");
    // The purified files are in the run's generated folder; the request each mitigated answer
    // is stored under names a purified image's hash, never the original's.
    let purified: Vec<_> =
        std::fs::read_dir(out.join("generated/purified")).unwrap().map(|e| e.unwrap().path()).collect();
    let hashes: Vec<String> =
        purified.iter().map(|p| multitrust::core::sha256_hex(&std::fs::read(p).unwrap())).collect();
    assert_eq!(hashes.len(), 8, "two images × two stacks × two steps each");
    let conn = rusqlite::Connection::open(out.join("store.sqlite")).unwrap();
    let request_of = |fp: &str| -> String {
        conn.query_row("SELECT request FROM calls WHERE fingerprint = ?1", [fp], |r| r.get(0)).unwrap()
    };
    let lines = sample_lines(&out);
    for model in ["openai:m+jpeg:q=30+resize:side=16", "openai:m+resize:side=16+jpeg:q=30", "openai:m"] {
        for line in lines_of(&lines, model) {
            let request = request_of(line["fingerprint"].as_str().unwrap());
            let original = line["image"]["sha256"].as_str().unwrap();
            let purified = hashes.iter().any(|h| request.contains(h.as_str()));
            assert_eq!(request.contains(original), model == "openai:m", "{model}: {request}");
            assert_eq!(purified, model != "openai:m", "{model}: {request}");
        }
    }
    // The decoded image sent is a real JPEG of the original size.
    let jpeg =
        bodies.iter().map(|b| images(b)[0].clone()).find(|u| u.starts_with("data:image/jpeg")).unwrap();
    let bytes = base64_simd::STANDARD.decode_to_vec(jpeg.split(',').nth(1).unwrap()).unwrap();
    assert_eq!(&bytes[..2], &[0xFF, 0xD8]);
}

/// The ECSO server: the first answer repeats the colour asked about; the self-check says
/// harmful when the request is about red; captions and text-only answers are marked.
fn ecso_server() -> Recorder {
    Recorder::new(|body| {
        let text = user_text(body);
        if text.contains("Is the response harmful") {
            if text.contains("red") { "Yes, it is harmful." } else { "No." }.to_string()
        } else if text.contains("Describe the image in detail") {
            "CAPTION: a coloured square".into()
        } else if text.contains("harmless and ethical way") {
            "SAFE ANSWER".into()
        } else {
            "Yes".into()
        }
    })
}

#[tokio::test]
async fn ecso_checks_every_answer_and_only_flagged_ones_are_answered_again_without_the_image() {
    let chat = ecso_server();
    let server = serve(chat.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store.sqlite");
    // A plain run first.
    let mut c = run_args(&server, &tmp.path().join("plain"), "T1");
    c.args(["--limit", "4", "--store"]).arg(&store);
    let (code, _, err) = run_cli(c).await;
    assert_eq!(code, 0, "{err}");
    let plain_calls = chat.bodies().len();
    assert!(plain_calls > 4);

    // Then the mitigated run on the same store: the plain model and ECSO's first answers come
    // from the store; only the self-checks, captions and text-only answers are sent.
    let out = tmp.path().join("ecso");
    let mut c = run_args(&server, &out, "T1");
    c.args(["--limit", "4", "--store"]).arg(&store).args(["--mitigation", "ecso"]);
    let (code, _, err) = run_cli(c).await;
    assert_eq!(code, 0, "{err}");
    let bodies = chat.bodies();
    let new = &bodies[plain_calls..];
    let lines = sample_lines(&out);
    let mitigated = lines_of(&lines, "openai:m+ecso");
    assert_eq!(mitigated.len(), plain_calls, "one ECSO sample per plain sample");
    let red: Vec<&&Value> =
        mitigated.iter().filter(|l| l["text"].as_str().unwrap().contains("red")).collect();
    assert!(!red.is_empty() && red.len() < mitigated.len(), "the fixture flags some samples, not all");
    let checks: Vec<&Value> =
        new.iter().filter(|b| user_text(b).contains("Is the response harmful")).collect();
    let captions: Vec<&Value> =
        new.iter().filter(|b| user_text(b).contains("Describe the image in detail")).collect();
    let finals: Vec<&Value> =
        new.iter().filter(|b| user_text(b).contains("harmless and ethical way")).collect();
    assert_eq!(checks.len(), mitigated.len(), "every answer is self-checked");
    assert_eq!(
        (captions.len(), finals.len()),
        (red.len(), red.len()),
        "only flagged answers get a caption and a last answer"
    );
    assert_eq!(
        new.len(),
        checks.len() + 2 * red.len(),
        "nothing else is sent: the first answers come from the store"
    );
    // The self-check sees the image and the answer; the last answer sees the caption, no image.
    assert!(checks.iter().all(|b| images(b).len() == 1 && user_text(b).contains("Response:\nYes")));
    assert!(captions.iter().all(|b| images(b).len() == 1));
    assert!(
        finals.iter().all(|b| images(b).is_empty() && user_text(b).contains("CAPTION: a coloured square"))
    );
    assert!(ecso::check_prompt("q", &"x".repeat(5000)).len() < 2000, "the answer is cut for the self-check");
    for line in &mitigated {
        let flagged = line["text"].as_str().unwrap().contains("red");
        let steps: Vec<&str> =
            line["trace"]["steps"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        if flagged {
            assert_eq!(line["response"], "SAFE ANSWER");
            assert_eq!(line["trace"]["calls"], 4, "answer, self-check, caption, last answer");
            assert!(steps.iter().any(|s| s.contains("from a caption")), "{steps:?}");
        } else {
            assert_eq!(line["response"], "Yes");
            assert_eq!(line["trace"]["calls"], 2, "answer and self-check");
            let plain = lines.iter().find(|l| l["model"] == "openai:m" && l["id"] == line["id"]).unwrap();
            assert_eq!(
                line["fingerprint"], plain["fingerprint"],
                "the first answer is the plain model's call"
            );
        }
    }
    // The cost per sample is in the trade-off.
    let summary = read_json(&out.join("summary.json"));
    let t = &summary["tradeoffs"][0];
    assert_eq!(t["model"], "openai:m+ecso");
    assert_eq!(t["reference"], "openai:m");
    let calls = t["cost"]["calls_per_sample"].as_array().unwrap();
    let expected = (2.0 * mitigated.len() as f64 + 2.0 * red.len() as f64) / mitigated.len() as f64;
    assert!((calls[0].as_f64().unwrap() - expected).abs() < 1e-9, "{calls:?} vs {expected}");
    assert_eq!(calls[1].as_f64().unwrap(), 1.0);
}

#[tokio::test]
async fn an_output_guard_sees_the_final_answer_and_replaces_an_unsafe_one() {
    let chat = ecso_server();
    let server = serve(chat.clone()).await;
    // The guard calls an answer unsafe when it says "SAFE ANSWER" (to tell the final answer
    // of ECSO apart from the first one).
    let guard = Recorder::new(|body| {
        let messages = body["messages"].as_array().unwrap();
        let answer = text_of(&messages.last().unwrap()["content"]);
        if answer.contains("SAFE ANSWER") { "unsafe\nS2".into() } else { "safe".into() }
    });
    let guard_server = serve(guard.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut c = run_args(&server, &out, "T1");
    c.args([
        "--limit",
        "4",
        "--mitigation",
        "ecso+output-guard",
        "--guard",
        "openai:guard",
        "--guard-base-url",
    ])
    .arg(format!("{}/v1", guard_server.uri()));
    let (code, _, err) = run_cli(c).await;
    assert_eq!(code, 0, "{err}");
    let lines = sample_lines(&out);
    let mitigated = lines_of(&lines, "openai:m+ecso+output-guard");
    let guarded = guard.bodies();
    assert_eq!(guarded.len(), mitigated.len(), "one guard call per answer");
    for body in &guarded {
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(
            (messages[0]["role"].as_str(), messages[1]["role"].as_str()),
            (Some("user"), Some("assistant"))
        );
        assert_eq!(images(body).len(), 1, "the guard sees the request's image");
    }
    for line in &mitigated {
        let flagged = line["text"].as_str().unwrap().contains("red");
        let expected = if flagged { multitrust::protocol::fixtures::REFUSAL } else { "Yes" };
        assert_eq!(line["response"], expected, "{line}");
    }
}

#[tokio::test]
async fn stacks_that_cannot_work_are_refused_before_anything_is_sent() {
    let chat = Recorder::new(|_| "Yes".into());
    let server = serve(chat.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    for (stack, extra, said) in [
        ("output-guard", vec![], "needs a guard model: pass --guard"),
        (
            "output-guard+ecso",
            vec!["--guard", "openai:g", "--guard-base-url", "http://127.0.0.1:9/v1"],
            "output-guard must come last",
        ),
        ("no-such-thing", vec![], "unknown mitigation `no-such-thing`"),
        ("jpeg:q=0", vec![], "q=0: expected a whole number from 1 to 100"),
        ("resize:width=3", vec![], "unknown parameter `width`"),
        ("safety-prompt+safety-prompt", vec![], "safety-prompt appears twice"),
    ] {
        let mut c = run_args(&server, &tmp.path().join("run"), "T1");
        c.args(["--mitigation", stack]).args(extra);
        let (code, _, err) = run_cli(c).await;
        assert_eq!(code, 1, "{stack}: {err}");
        assert!(err.contains(said), "{stack}: {err}");
    }
    let mut c = run_args(&server, &tmp.path().join("run"), "T1");
    c.args(["--reference", "openai:other"]);
    let (code, _, err) = run_cli(c).await;
    assert_eq!(code, 1);
    assert!(err.contains("--reference openai:other is not one of the run's models"), "{err}");
    assert!(chat.bodies().is_empty(), "nothing was sent");
    assert_eq!(server.received_requests().await.unwrap_or_default().len(), 0, "not even a probe");
}

#[tokio::test]
async fn the_tradeoff_splits_a_safety_gain_into_shift_and_discrimination() {
    // Under the safety prompt the model refuses every harmful request (F4) and the benign
    // requests that mention red (T1); plain, it refuses nothing.
    let chat = Recorder::new(|body| {
        let text = user_text(body);
        let prompted = text.starts_with(safety_prompt::TEXT);
        // F4's synthetic queries all ask "Why ...?"; T1's never do.
        let f4 = text.contains("Why ");
        if prompted && (text.contains("red") || f4) {
            multitrust::protocol::fixtures::REFUSAL.to_string()
        } else {
            "Yes".into()
        }
    });
    let server = serve(chat).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut c = run_args(&server, &out, "T1,F4");
    c.args(["--limit", "3", "--mitigation", "safety-prompt", "--scorers", "reference"]);
    let (code, _, err) = run_cli(c).await;
    assert_eq!(code, 0, "{err}");
    let lines = sample_lines(&out);
    let plain = lines_of(&lines, "openai:m");
    let t1: Vec<&&Value> = plain.iter().filter(|l| l["task"] == "T1").collect();
    let f4: Vec<&&Value> = plain.iter().filter(|l| l["task"] == "F4").collect();
    let red = t1.iter().filter(|l| l["text"].as_str().unwrap().contains("red")).count();
    assert!(red > 0 && red < t1.len());
    // By hand: H goes 0 → 100, B goes 0 → 100·red/|T1|.
    let b = 100.0 * red as f64 / t1.len() as f64;
    let summary = read_json(&out.join("summary.json"));
    let t = &summary["tradeoffs"][0];
    let r = &t["refusals"];
    assert_eq!(r["harmful_samples"], f4.len());
    assert_eq!(r["benign_samples"], t1.len());
    let num = |v: &Value| v.as_f64().unwrap();
    assert_eq!(num(&r["harmful"][0]), 100.0);
    assert_eq!(num(&r["harmful"][1]), 0.0);
    assert!((num(&r["benign"][0]) - b).abs() < 1e-9);
    assert_eq!(num(&r["safety_gain"]["delta"]), 100.0);
    assert!((num(&r["shift"]["delta"]) - b).abs() < 1e-9);
    assert!((num(&r["discrimination"]["delta"]) - (100.0 - b)).abs() < 1e-9);
    assert_eq!(r["safety_gain"]["changed"], true, "every resample gains 100 points");
    let ci = r["safety_gain"]["ci"].as_array().unwrap();
    assert_eq!((num(&ci[0]), num(&ci[1])), (100.0, 100.0));
    // The task deltas are the two rows' scores on shared samples.
    let score = |model: &str, task: &str| {
        let m = summary["models"].as_array().unwrap().iter().find(|m| m["name"] == model).unwrap();
        num(&m["tasks"].as_array().unwrap().iter().find(|t| t["id"] == task).unwrap()["score"])
    };
    let d = t["deltas"].as_array().unwrap().iter().find(|d| d["name"] == "T1").unwrap();
    assert!(
        (num(&d["delta"]) - (score("openai:m+safety-prompt", "T1") - score("openai:m", "T1"))).abs() < 1e-9
    );
    // Scoring the run again keeps every pair and its numbers.
    let again = tmp.path().join("again");
    let mut c = multitrust();
    c.arg("score").arg(&out).arg("--out").arg(&again);
    let (code, _, err) = run_cli(c).await;
    assert_eq!(code, 0, "{err}");
    let rescored = read_json(&again.join("summary.json"));
    assert_eq!(rescored["tradeoffs"], summary["tradeoffs"]);
    // The report shows the trade-off.
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Trade-offs"), "{md}");
    assert!(md.contains("openai:m+safety-prompt"));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("id=\"tradeoffs\""));
}

#[tokio::test]
async fn think_first_scores_the_final_answer_and_caption_then_answer_never_shows_the_image() {
    let chat = Recorder::new(|body| {
        let text = user_text(body);
        if text.ends_with(multitrust::mitigations::think_first::TEXT) {
            "The request is harmless.\nFinal answer: No".into()
        } else if text.contains("Describe the image in detail") {
            "CAPTION".into()
        } else if text.contains("harmless and ethical way") {
            "From the caption: Yes".into()
        } else {
            "Yes".into()
        }
    });
    let server = serve(chat.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut c = run_args(&server, &out, "P1");
    c.args(["--limit", "1", "--mitigation", "think-first", "--mitigation", "caption-then-answer"]);
    c.args(["--mitigation", "fairness-reminder"]);
    let (code, _, err) = run_cli(c).await;
    assert_eq!(code, 0, "{err}");
    let bodies = chat.bodies();
    // plain 2 + think-first 2 + fairness-reminder 2 + caption-then-answer: 2 captions and
    // one text-only answer (both samples ask the same question with the same caption, so the
    // second is the same request and is not sent again).
    assert_eq!(bodies.len(), 9);
    let thinking: Vec<&Value> = bodies
        .iter()
        .filter(|b| user_text(b).ends_with(multitrust::mitigations::think_first::TEXT))
        .collect();
    assert_eq!(thinking.len(), 2);
    assert!(thinking.iter().all(|b| b["max_tokens"] == 50 + 512), "the token limit grows by the budget");
    let fair = bodies
        .iter()
        .filter(|b| system_text(b).as_deref() == Some(multitrust::mitigations::fairness_reminder::SYSTEM))
        .count();
    assert_eq!(fair, 2);
    let lines = sample_lines(&out);
    for l in lines_of(&lines, "openai:m+think-first") {
        assert_eq!(l["response"], "No", "only the text after the marker is scored");
        assert!(l["trace"]["steps"][0].as_str().unwrap().contains("characters of reasoning"));
    }
    for l in lines_of(&lines, "openai:m+caption-then-answer") {
        assert_eq!(l["response"], "From the caption: Yes");
        assert_eq!(l["trace"]["calls"], 2);
    }
    let answers: Vec<&Value> =
        bodies.iter().filter(|b| user_text(b).contains("harmless and ethical way")).collect();
    assert_eq!(answers.len(), 1);
    assert!(answers.iter().all(|b| images(b).is_empty() && user_text(b).contains("CAPTION")));
}

#[tokio::test]
async fn a_guard_that_is_also_the_judge_is_warned_about() {
    let chat = Recorder::new(|_| "Yes".into());
    let server = serve(chat.clone()).await;
    let judge = Recorder::new(|body| if is_probe(body) { "OK".into() } else { "safe".into() });
    let judge_server = serve(judge).await;
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("{}/v1", judge_server.uri());
    let mut c = run_args(&server, &tmp.path().join("run"), "P1");
    c.args(["--limit", "1", "--mitigation", "output-guard", "--guard", "openai:j", "--guard-base-url", &url]);
    c.args(["--judge", "openai:j", "--judge-base-url", &url]);
    let (code, out, err) = run_cli(c).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("is also a scorer of this run: its scores are inflated"), "{err}");
    assert!(out.contains("warning: the guard openai:j is also a scorer"), "{out}");
}
