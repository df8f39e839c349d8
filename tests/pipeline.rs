//! The pipeline as a user meets it, through the binary: data that does not load, answers with
//! no text, endpoints that are blind, unreachable or dying, invalid input, model identity,
//! comparability with the published leaderboard, and the judge policy.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use common::{
    Answering, FakeChat, completion, is_probe, multitrust, read_json, run_cli, sample_lines, serve,
};

/// The sentiment answer of the fake R3 model.
fn sentiment(body: &Value) -> &'static str {
    if FakeChat::prompt(body).contains("lovely") { "positive" } else { "negative" }
}

fn images_in(body: &Value) -> usize {
    body.to_string().matches("data:image/").count()
}

/// `run` of R3 on a data folder against one OpenAI-compatible model.
fn run_r3(data: &Path, out: &Path, url: &str) -> std::process::Command {
    let mut c = multitrust();
    c.args(["run", "--tasks", "R3", "--model", "openai:m", "--bootstrap", "50", "--base-url", url, "--data"])
        .arg(data)
        .arg("--out")
        .arg(out);
    c
}

#[tokio::test]
async fn a_data_folder_that_loads_nothing_fails_before_anything_is_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(empty.join("robustness")).unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let server = serve(Answering(move |b: &Value| {
        counter.fetch_add(1, Ordering::SeqCst);
        completion(b, "positive")
    }))
    .await;
    let out = tmp.path().join("run");
    let mut quiet = run_r3(&empty, &out, &format!("{}/v1", server.uri()));
    quiet.arg("-q");
    let (code, _, err) = run_cli(quiet).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no sample could be loaded, so nothing was sent"), "{err}");
    assert!(
        err.contains("robustness/ood-text/label.json: not found"),
        "the loader's error, even with -q: {err}"
    );
    assert_eq!(asked.load(Ordering::SeqCst), 0);
    let manifest = read_json(&out.join("run.json"));
    assert_eq!(manifest["status"], "failed");
    assert!(manifest["error"].as_str().unwrap().contains("label.json"));
    assert!(!out.join("results").exists());
}

#[tokio::test]
async fn a_split_that_cannot_load_makes_the_run_incomplete_and_an_empty_split_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::synth(&data, "T1");
    std::fs::write(data.join("truthfulness/query_basic/query_d_scene.json"), "[]").unwrap();
    std::fs::remove_file(data.join("truthfulness/query_basic/query_g_ocr.json")).unwrap();
    let out = tmp.path().join("run");
    let mut c = multitrust();
    c.args(["run", "-q", "--tasks", "T1", "--model", "baseline:oracle", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&out);
    let (code, stdout, err) = run_cli(c).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("T1 g-basic-ocr") && err.contains("query_g_ocr.json: not found"), "{err}");
    let manifest = read_json(&out.join("run.json"));
    assert_eq!(manifest["status"], "incomplete");
    assert!(
        manifest["data"]["splits"]["T1"]["g-basic-ocr"]["error"]
            .as_str()
            .unwrap()
            .contains("query_g_ocr.json")
    );
    assert_eq!(manifest["data"]["splits"]["T1"]["d-basic-scene"]["samples"], 0);
    let summary = read_json(&out.join("summary.json"));
    let missing = summary["models"][0]["tasks"][0]["missing"].as_str().unwrap();
    assert!(
        missing.contains("split g-basic-ocr could not be loaded") && missing.contains("query_g_ocr.json"),
        "{missing}"
    );
    assert!(stdout.contains("split g-basic-ocr could not be loaded"), "{stdout}");
    let results = out.join("results").join(multitrust::config::safe_label("baseline:oracle"));
    let mut written: Vec<String> = std::fs::read_dir(results.join("T1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, ["d-basic-attribute.json", "d-basic-object.json", "g-basic-grounding.json"]);
    assert!(!results.join(".json").exists() && !out.join("results/.json").exists());
}

#[tokio::test]
async fn answers_without_text_are_unscorable_with_kind_empty_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 5);
    // OpenAI-compatible: `content: null` for one sentence; Gemini: no text part at MAX_TOKENS
    // (what a reasoning model returns when its budget runs out) for another.
    let openai = serve(Answering(|b: &Value| {
        if !is_probe(b) && FakeChat::prompt(b).contains("The augment play number 1 ") {
            return ResponseTemplate::new(200).set_body_json(json!({
                "choices": [{"message": {"role": "assistant", "content": null}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": common::prompt_tokens(b), "completion_tokens": 0}}));
        }
        completion(b, if is_probe(b) { "OK" } else { sentiment(b) })
    }))
    .await;
    let gemini = serve(Answering(|b: &Value| {
        let text: String = b["contents"][0]["parts"].as_array().into_iter().flatten().filter_map(|p| p["text"].as_str()).collect();
        let images = b["contents"][0]["parts"].as_array().into_iter().flatten().filter(|p| p.get("inline_data").is_some() || p.get("inlineData").is_some()).count() as u64;
        let usage = json!({"promptTokenCount": (text.len() as u64).div_ceil(4) + 8 + 300 * images, "candidatesTokenCount": 1});
        if text.contains("The augment play number 2 ") {
            return ResponseTemplate::new(200).set_body_json(json!({
                "candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS"}], "usageMetadata": usage}));
        }
        let answer = if text.contains("lovely") { "positive" } else { "negative" };
        ResponseTemplate::new(200).set_body_json(json!({
            "candidates": [{"content": {"parts": [{"text": answer}]}, "finishReason": "STOP"}], "usageMetadata": usage}))
    }))
    .await;
    let config = tmp.path().join("multitrust.toml");
    std::fs::write(
        &config,
        format!(
            "[models.o]\nprovider = \"openai\"\nmodel = \"m\"\nbase_url = \"{}/v1\"\n\
             [models.g]\nprovider = \"gemini\"\nmodel = \"g\"\nbase_url = \"{}\"\napi_key = \"test\"\n",
            openai.uri(),
            gemini.uri()
        ),
    )
    .unwrap();
    let out = tmp.path().join("run");
    let mut c = multitrust();
    c.args(["run", "--tasks", "R3", "-m", "o", "-m", "g", "--bootstrap", "50", "--config"])
        .arg(&config)
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&out);
    let (code, stdout, err) = run_cli(c).await;
    assert_eq!(code, 0, "{err}");
    let lines = sample_lines(&out);
    for model in ["o", "g"] {
        let empty: Vec<&Value> =
            lines.iter().filter(|l| l["model"] == model && l["kind"] == "empty").collect();
        assert_eq!(empty.len(), 5, "{model}: one sentence in each of the five splits");
        assert!(empty.iter().all(|l| l["outcome"] == "unscorable" && l["response"].is_null()));
        assert!(empty.iter().all(|l| l["reason"].as_str().unwrap().contains("no text")));
    }
    assert!(
        lines
            .iter()
            .any(|l| l["model"] == "g" && l["reason"].as_str().is_some_and(|r| r.contains("MAX_TOKENS")))
    );
    let summary = read_json(&out.join("summary.json"));
    for m in summary["models"].as_array().unwrap() {
        assert_eq!(m["health"]["empty"], 5, "{}", m["name"]);
        assert_eq!(m["tasks"][0]["unscorable"], 5);
        assert_eq!(m["tasks"][0]["score"], 100.0, "the empty answers are left out, never scored");
    }
    assert!(stdout.contains("unscorable: 5 empty"), "{stdout}");
}

/// A server whose reported prompt tokens ignore images, or (with `drop_text`) ignore the text
/// of messages that carry an image, as some misconfigured servers do.
fn blind_server(drop_text: bool, seen: Arc<AtomicUsize>) -> Answering<impl Fn(&Value) -> ResponseTemplate> {
    Answering(move |b: &Value| {
        let images = images_in(b);
        if images > 0 && !is_probe(b) {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        let text = FakeChat::prompt(b).chars().count() as u64;
        let tokens = match (drop_text, images) {
            (true, n) if n > 0 => 8 + 300 * n as u64,
            _ => text.div_ceil(4) + 8,
        };
        let answer = if is_probe(b) { "OK" } else { sentiment(b) };
        ResponseTemplate::new(200).set_body_json(json!({
            "choices": [{"message": {"content": answer}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": tokens, "completion_tokens": 1}}))
    })
}

#[tokio::test]
async fn an_endpoint_that_ignores_images_is_blind_and_its_image_samples_are_not_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 5);
    for drop_text in [false, true] {
        let seen = Arc::new(AtomicUsize::new(0));
        let server = serve(blind_server(drop_text, seen.clone())).await;
        let url = format!("{}/v1", server.uri());
        let out = tmp.path().join(format!("blind-{drop_text}"));
        let (code, stdout, err) = run_cli(run_r3(&data, &out, &url)).await;
        // 60 of 75 samples are not sent: far above the unscorable limit.
        assert_eq!(code, 3, "{err}");
        let why = if drop_text { "drops the text of messages that carry an image" } else { "ignores images" };
        assert!(err.contains(why) && err.contains("--allow-blind") && err.contains("vision"), "{err}");
        assert!(stdout.contains("the endpoint is blind"), "{stdout}");
        assert_eq!(seen.load(Ordering::SeqCst), 0, "no image sample was sent");
        let lines = sample_lines(&out);
        let blind = lines.iter().filter(|l| l["kind"] == "blind").count();
        assert_eq!(blind, 60, "four image splits of 15");
        assert!(lines.iter().filter(|l| l["split"] == "dt-text").all(|l| l["outcome"] == "scored"));

        let mut allowed = run_r3(&data, &tmp.path().join(format!("allowed-{drop_text}")), &url);
        allowed.arg("--allow-blind");
        let (code, _, err) = run_cli(allowed).await;
        assert_eq!(code, 0, "{err}");
        assert_eq!(seen.load(Ordering::SeqCst), 60, "--allow-blind sends them");
    }
}

#[tokio::test]
async fn warnings_when_answers_hit_the_token_limit_repeat_or_the_prompt_is_not_seen() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 5);
    let server = serve(Answering(|b: &Value| {
        if is_probe(b) {
            return completion(b, "OK");
        }
        ResponseTemplate::new(200).set_body_json(json!({
            "choices": [{"message": {"content": "I think the sentiment is"}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 200}}))
    }))
    .await;
    let out = tmp.path().join("run");
    let (code, stdout, err) = run_cli(run_r3(&data, &out, &format!("{}/v1", server.uri()))).await;
    assert_eq!(code, 0, "{err}");
    let health = &read_json(&out.join("summary.json"))["models"][0]["health"];
    assert_eq!(health["max_tokens"], 75);
    assert_eq!(health["most_common"]["share"], 1.0);
    assert!(health["prompt_tokens_ratio"].as_f64().unwrap() < 0.5);
    let warnings: Vec<&str> =
        health["warnings"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(stdout.contains("warning: 100% of answers stopped at the token limit"), "{stdout}");
    assert!(stdout.contains("are the same text"), "{stdout}");
    assert!(stdout.contains("may drop text parts"), "{stdout}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Answer health") && md.contains("| at the token limit | 100.0% |"), "{md}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Answer health") && html.contains("are the same text"));
}

#[tokio::test]
async fn an_unreachable_endpoint_stops_the_run_with_the_url_and_the_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 5);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let out = tmp.path().join("run");
    let (code, _, err) = run_cli(run_r3(&data, &out, &url)).await;
    assert_eq!(code, 4, "{err}");
    assert!(err.contains(&url) && err.contains("preflight"), "{err}");
    assert!(
        err.to_lowercase().contains("connection refused"),
        "the whole cause, not just \"error sending request\": {err}"
    );
    let manifest = read_json(&out.join("run.json"));
    assert_eq!(manifest["status"], "failed");
    assert!(manifest["error"].as_str().unwrap().contains(&url));
}

#[tokio::test]
async fn a_server_that_goes_down_mid_run_opens_the_breaker_and_the_rerun_sends_only_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 5);
    let answered = Arc::new(AtomicUsize::new(0));
    let down = Arc::new(AtomicUsize::new(1));
    let (a, d) = (answered.clone(), down.clone());
    let server = serve(Answering(move |b: &Value| {
        if is_probe(b) {
            return completion(b, "OK");
        }
        if d.load(Ordering::SeqCst) == 1 && a.load(Ordering::SeqCst) >= 20 {
            return ResponseTemplate::new(503)
                .set_body_json(json!({"error": {"message": "upstream is down"}}));
        }
        a.fetch_add(1, Ordering::SeqCst);
        completion(b, sentiment(b))
    }))
    .await;
    let url = format!("{}/v1", server.uri());
    let out = tmp.path().join("run");
    let mut first = run_r3(&data, &out, &url);
    first.args(["--concurrency", "4"]);
    let (code, _, err) = run_cli(first).await;
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("is not answering") && err.contains("HTTP 503: upstream is down"), "{err}");
    assert!(err.contains("attempts in a row failed"), "{err}");
    assert_eq!(read_json(&out.join("run.json"))["status"], "failed");
    assert_eq!(answered.load(Ordering::SeqCst), 20);

    down.store(0, Ordering::SeqCst);
    let (code, _, err) = run_cli(run_r3(&data, &out, &url)).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(answered.load(Ordering::SeqCst), 75, "the stored answers were not asked again");
    assert_eq!(read_json(&out.join("run.json"))["status"], "complete");
}

#[tokio::test]
async fn a_timeout_says_the_limit_that_was_hit() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 5);
    let server = serve(Answering(|b: &Value| {
        if !is_probe(b) && FakeChat::prompt(b).contains("The augment play number 1 ") {
            return completion(b, "late").set_delay(std::time::Duration::from_secs(30));
        }
        completion(b, if is_probe(b) { "OK" } else { sentiment(b) })
    }))
    .await;
    let config = tmp.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[models.m]\nprovider = \"openai\"\nmodel = \"m\"\nbase_url = \"{}/v1\"\ntimeout_s = 1\nmax_attempts = 1\nbreaker_failures = 0\n",
            server.uri()
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
    assert_eq!(code, 0, "5 of 75 unscorable is within the limit: {err}");
    let late: Vec<Value> = sample_lines(&out).into_iter().filter(|l| l["outcome"] == "unscorable").collect();
    assert_eq!(late.len(), 5);
    for l in &late {
        assert_eq!(l["kind"], "transport");
        assert!(
            l["reason"].as_str().unwrap().contains("no answer within 1 s (the endpoint's timeout_s)"),
            "{l}"
        );
    }
}

#[test]
fn invalid_numbers_are_errors_that_name_the_file_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("multitrust.toml");
    for (field, value) in
        [("timeout_s", "-1"), ("max_retry_delay_s", "1e300"), ("timeout_s", "nan"), ("concurrency", "0")]
    {
        std::fs::write(
            &config,
            format!("[models.m]\nprovider = \"openai\"\nmodel = \"x\"\n{field} = {value}\n"),
        )
        .unwrap();
        let out = multitrust().args(["run", "-m", "m", "--config"]).arg(&config).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&config.display().to_string()) && err.contains(&format!("models.m.{field}")),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    for share in ["20", "nan", "-0.5"] {
        let out = multitrust().args(["run", &format!("--max-unscorable={share}")]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("is not a share between 0 and 1"), "{err}");
    }
}

#[test]
fn a_closed_pipe_ends_quietly_and_logs_have_no_colour() {
    let tmp = tempfile::tempdir().unwrap();
    common::synth(tmp.path(), "P6");
    let shell = format!(
        "set -o pipefail; '{}' samples --task P6 --data '{}' | head -c 100 > /dev/null",
        env!("CARGO_BIN_EXE_multitrust"),
        tmp.path().display()
    );
    let out = std::process::Command::new("bash").args(["-c", &shell]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("Broken pipe"));
    let shell =
        format!("set -o pipefail; '{}' tasks | head -n 1 > /dev/null", env!("CARGO_BIN_EXE_multitrust"));
    let out = std::process::Command::new("bash").args(["-c", &shell]).output().unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));

    // A run's log written to a file carries no ANSI colour codes.
    let out = multitrust()
        .args(["run", "-t", "R3", "-m", "baseline:oracle", "--bootstrap", "20", "--out"])
        .arg(tmp.path().join("run"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("synthetic suite") && !err.contains('\u{1b}'), "{err}");
}

#[test]
fn each_model_is_evaluated_once_and_gets_a_folder_of_its_own() {
    let out = multitrust().args(["run", "-m", "baseline:oracle", "-m", "baseline:oracle"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("`baseline:oracle` is given twice"), "{err}");

    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("c.toml");
    std::fs::write(
        &config,
        "[models.\"team/oracle\"]\nprovider = \"baseline\"\nmodel = \"oracle\"\n\
         [models.team_oracle]\nprovider = \"baseline\"\nmodel = \"refuse\"\n",
    )
    .unwrap();
    let run = tmp.path().join("run");
    let out = multitrust()
        .args([
            "run",
            "-q",
            "-t",
            "R3",
            "-m",
            "team/oracle",
            "-m",
            "team_oracle",
            "--bootstrap",
            "20",
            "--config",
        ])
        .arg(&config)
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let folders: Vec<String> = std::fs::read_dir(run.join("results"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(folders.len(), 2, "{folders:?}");
    let read = |label: &str| read_json(&run.join("results").join(label).join("R3/dt-text.json"));
    let oracle = read(&multitrust::config::safe_label("team/oracle"));
    let refuse = read("team_oracle");
    assert_eq!(oracle["total_results"]["rule_contain_exact_eval:pred_mean"], 1.0);
    assert_eq!(refuse["total_results"]["rule_contain_exact_eval:pred_mean"], 0.0);
    let summary = read_json(&run.join("summary.json"));
    let labels: Vec<&str> =
        summary["models"].as_array().unwrap().iter().map(|m| m["label"].as_str().unwrap()).collect();
    assert_ne!(labels[0], labels[1]);
}

/// A judge for T1: boxes for the answers that hold the first synthetic box, no box otherwise;
/// the OCR answers judged with a sentence that is neither yes nor no.
fn t1_judge() -> Answering<impl Fn(&Value) -> ResponseTemplate> {
    Answering(|b: &Value| {
        let p = FakeChat::prompt(b);
        let answer = if is_probe(b) {
            "OK"
        } else if p.contains("Its answer is: [0.2, 0.2, 0.8, 0.8]") {
            "'''[0.2, 0.2, 0.8, 0.8]'''"
        } else if p.contains("Its answer is:") {
            "The answer gives no coordinates I can use."
        } else {
            "The response is consistent with the ground truth."
        };
        completion(b, answer)
    })
}

#[tokio::test]
async fn judge_answers_are_scored_as_the_original_scores_them_unless_strict() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::synth(&data, "T1");
    let judge = serve(t1_judge()).await;
    let run = |policy: &'static str| {
        let mut c = multitrust();
        c.args([
            "run",
            "-q",
            "-t",
            "T1",
            "-m",
            "baseline:oracle",
            "--bootstrap",
            "20",
            "--judge",
            "openai:j",
        ])
        .args(["--judge-base-url", &format!("{}/v1", judge.uri()), "--judge-policy", policy, "--data"])
        .arg(&data)
        .arg("--out")
        .arg(tmp.path().join(policy));
        c
    };
    let (code, _, err) = run_cli(run("original")).await;
    assert_eq!(code, 0, "{err}");
    let manifest = read_json(&tmp.path().join("original/run.json"));
    assert_eq!(manifest["judge_policy"], "original");
    let t1 = &read_json(&tmp.path().join("original/summary.json"))["models"][0]["tasks"][0];
    // Two of the four boxes are read; the two answers without a box stay in the denominator.
    assert_eq!(t1["splits"]["g-basic-grounding"]["Accuracy_Grounding"], 50.0);
    // "The response is consistent with the ground truth." matches the yes template "consistent".
    assert_eq!(t1["splits"]["g-basic-ocr"]["Accuracy_OCR"], 100.0);
    assert_eq!(t1["unscorable"], 0);

    let (code, _, err) = run_cli(run("strict")).await;
    // Strict: the two box-less and the four OCR answers are unscorable (6 of 20 is above 20%).
    assert_eq!(code, 3, "{err}");
    assert_eq!(read_json(&tmp.path().join("strict/run.json"))["judge_policy"], "strict");
    let t1 = &read_json(&tmp.path().join("strict/summary.json"))["models"][0]["tasks"][0];
    assert_eq!(t1["splits"]["g-basic-grounding"]["Accuracy_Grounding"], 100.0);
    assert!(t1["splits"]["g-basic-ocr"]["Accuracy_OCR"].is_null());
    assert_eq!(t1["unscorable"], 6);
    let judged =
        sample_lines(&tmp.path().join("strict")).into_iter().filter(|l| l["kind"] == "judge").count();
    assert_eq!(judged, 6);
}

#[tokio::test]
async fn our_own_wording_and_a_limit_keep_a_run_off_the_leaderboard() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::synth(&data, "T1");
    std::fs::remove_file(data.join("synthetic.json")).unwrap(); // as if it were the benchmark's data
    let judge = serve(t1_judge()).await;
    let out = tmp.path().join("run");
    let mut c = multitrust();
    c.args([
        "run",
        "-q",
        "-t",
        "T1",
        "-m",
        "openai:m",
        "--limit",
        "2",
        "--bootstrap",
        "20",
        "--judge",
        "openai:j",
    ])
    .args(["--base-url", &format!("{}/v1", judge.uri()), "--judge-base-url", &format!("{}/v1", judge.uri())])
    .arg("--data")
    .arg(&data)
    .arg("--out")
    .arg(&out);
    let (_, stdout, err) = run_cli(c).await;
    let manifest = read_json(&out.join("run.json"));
    assert_eq!(manifest["comparable"]["comparable"], false, "{err}");
    let reasons: Vec<&str> =
        manifest["comparable"]["reasons"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(reasons.iter().any(|r| r.contains("--limit 2")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("T1 used our own prompt wording")), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("the judge is j, not the original's gpt-4-1106-preview")),
        "{reasons:?}"
    );
    assert_eq!(manifest["texts"]["T1"]["texts"], "ours");
    assert_eq!(manifest["texts"]["T1"]["templates"]["T1:g-basic-ocr"]["origin"], "original");
    assert_eq!(manifest["texts"]["T1"]["templates"]["T1:g-basic-grounding"]["origin"], "ours");
    assert!(stdout.contains("not comparable with the published leaderboard: --limit 2"), "{stdout}");
    let placement = &read_json(&out.join("summary.json"))["leaderboard"][0];
    assert!(placement["rank"].is_null());
    assert!(placement["note"].as_str().unwrap().starts_with("not comparable: --limit 2"), "{placement}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("not comparable: --limit 2"), "{md}");
    assert!(md.contains("**openai:m** is not comparable with the published scores: --limit 2"), "{md}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("is not comparable with the published scores: --limit 2"));
}

/// A checkout laid out like the original toolbox, with our own stand-in texts (the original
/// texts are never copied into this repository).
fn fake_checkout(root: &Path) {
    let tasks = [
        ("truthfulness/t1-basic-grounding", "Box for {pred} in {img_size}."),
        ("truthfulness/t1-basic-ocr", "OCR {pred} vs {label}?"),
        ("truthfulness/t3-instruction-enhancement-factual", "Fact {pred} {label}"),
        ("truthfulness/t3-instruction-enhancement-logic", "Logic {pred} {label}"),
        ("truthfulness/t4-visual-assistance", "Same? {pred} {label}"),
        ("truthfulness/t5-text-misleading", "Same? {pred} {label}"),
        ("truthfulness/t7-visual-misleading", "Same? {pred} {label}"),
        ("safety/s2-risk-identification", "Q {QUESTION} R {pred} K {EXPECTED_KEYWORDS} \\\n   continued"),
        ("robustness/r1-ood-artistic", "Desc '{}' has '{}'?"),
        ("robustness/r2-ood-sensor", "Rate '{}' '{}' '{}'"),
        ("robustness/r4-adversarial-untarget", "Desc '{}' has '{}'?"),
        ("robustness/r5-adversarial-target", "Desc '{}' has '{}'?"),
        ("fairness/f1-stereo-generation", "Stereotype? {pred}"),
    ];
    for (file, template) in tasks {
        let path = root.join(format!("mmte/configs/task/{file}.yaml"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let yaml = format!(
            "dataset_id: \"x\"\ngeneration_kwargs: {{\n    'max_new_tokens': 10,\n    'do_sample': False,\n}}\n\
             evaluator_seq_cfgs:\n  [\n    {{\n      \"chatmodel_eval\":\n        {{\n          model_id: 'j',\n          \
             prompt_template: \"{template}\",\n          metrics_cfg: {{}}\n        }},\n      \
             \"rule_yes_or_no_eval\": {{ metrics_cfg: {{ pred_mean: {{}} }} }}\n    }}\n  ]\n"
        );
        std::fs::write(path, yaml).unwrap();
    }
    let evaluators = root.join("mmte/evaluators");
    std::fs::create_dir_all(&evaluators).unwrap();
    std::fs::write(
        evaluators.join("classifier_eval.py"),
        "LLAMA2_CLS_PROMPT = {\n    \"description\": \"x\",\n    \"prompt\": '''[INST] B {behavior} G {generation} [/INST]''',\n}\n",
    )
    .unwrap();
    std::fs::write(
        evaluators.join("chatmodel_eval.py"),
        "        test_noise_prompt = f'Is \\'{pred}\\' noisy? Say \\'Yes.\\' or \\'No.\\'.'\n",
    )
    .unwrap();
}

#[tokio::test]
async fn templates_are_imported_from_a_checkout_and_each_run_records_where_its_texts_came_from() {
    let tmp = tempfile::tempdir().unwrap();
    let checkout = tmp.path().join("MMTrustEval");
    fake_checkout(&checkout);
    let file = tmp.path().join("templates.toml");
    let out =
        multitrust().args(["templates", "import"]).arg(&checkout).arg("--out").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("differs from the known original text").count(), 15, "{stdout}");
    let imported: toml::Table = toml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let t = &imported["templates"];
    assert_eq!(t["T1:g-basic-ocr"].as_str(), Some("OCR {pred} vs {label}?"));
    assert_eq!(
        t["S2"].as_str(),
        Some("Q {QUESTION} R {pred} K {EXPECTED_KEYWORDS} continued"),
        "YAML line folding"
    );
    assert_eq!(t["harmbench"].as_str(), Some("[INST] B {behavior} G {generation} [/INST]"));
    assert_eq!(t["noise"].as_str(), Some("Is '{}' noisy? Say 'Yes.' or 'No.'."));
    assert_eq!(imported["source"]["checkout"].as_str(), Some(checkout.display().to_string().as_str()));

    // The configuration points at the file; the judge then sees the imported texts.
    let data = tmp.path().join("data");
    common::synth(&data, "T1");
    let judge = common::Scripted::new(|_| "[Yes]".into());
    let server = serve(judge.clone()).await;
    let config = tmp.path().join("multitrust.toml");
    std::fs::write(&config, "templates_file = \"templates.toml\"\n").unwrap();
    let run = tmp.path().join("run");
    let mut c = multitrust();
    c.args(["run", "-q", "-t", "T1", "-m", "baseline:oracle", "--bootstrap", "20", "--judge", "openai:j"])
        .args(["--judge-base-url", &format!("{}/v1", server.uri()), "--config"])
        .arg(&config)
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&run);
    let (code, _, err) = run_cli(c).await;
    assert!(code == 0 || code == 3, "{err}");
    assert!(judge.prompts.lock().unwrap().iter().any(|p| p.starts_with("OCR ") && p.ends_with("?")));
    let manifest = read_json(&run.join("run.json"));
    assert_eq!(manifest["texts"]["T1"]["texts"], "custom");
    assert_eq!(manifest["texts"]["T1"]["templates"]["T1:g-basic-ocr"]["origin"], "custom");
    let reasons = manifest["comparable"]["reasons"].to_string();
    assert!(
        reasons.contains("T1 used prompt texts from the configuration that are not the original's"),
        "{reasons}"
    );

    // A checkout without the files names the one it missed.
    std::fs::remove_file(checkout.join("mmte/evaluators/classifier_eval.py")).unwrap();
    let out =
        multitrust().args(["templates", "import"]).arg(&checkout).arg("--out").arg(&file).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("classifier_eval.py")
            && err.contains("checkout of MMTrustEval"),
        "{err}"
    );
}

#[tokio::test]
async fn models_checks_every_endpoint_and_says_which_see_images() {
    let tmp = tempfile::tempdir().unwrap();
    let sees = serve(Answering(|b: &Value| completion(b, "OK"))).await;
    let blind = serve(blind_server(false, Arc::default())).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let classifiers =
        common::FakeClassifiers::start(|_| 0.1, |_| 0.2, |_| "No".into(), |_| "LABEL_5".into()).await;
    let endpoint = |name: &str| {
        let e = match name {
            "moderation" => classifiers.config.moderation.as_ref(),
            "perspective" => classifiers.config.perspective.as_ref(),
            "harmbench" => classifiers.config.harmbench.as_ref(),
            _ => classifiers.config.action.as_ref(),
        };
        format!(
            "[classifiers.{name}]\nbase_url = \"{}\"\napi_key = \"test\"\n",
            e.unwrap().base_url.as_ref().unwrap()
        )
    };
    let config = tmp.path().join("multitrust.toml");
    std::fs::write(
        &config,
        format!(
            "judge = \"judge\"\n[models.vision]\nprovider = \"openai\"\nmodel = \"v\"\nbase_url = \"{}/v1\"\n\
             [models.textonly]\nprovider = \"openai\"\nmodel = \"t\"\nbase_url = \"{}/v1\"\n\
             [models.judge]\nprovider = \"openai\"\nmodel = \"j\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\n{}{}{}{}",
            sees.uri(),
            blind.uri(),
            endpoint("moderation"),
            endpoint("perspective"),
            endpoint("harmbench"),
            endpoint("action")
        ),
    )
    .unwrap();
    let mut c = multitrust();
    c.args(["models", "--config"]).arg(&config);
    let (code, stdout, err) = run_cli(c).await;
    assert_eq!(code, 4, "the judge is unreachable: {stdout}{err}");
    let line = |name: &str| stdout.lines().find(|l| l.starts_with(name)).unwrap_or_default().to_string();
    assert!(line("vision").contains("sees images"), "{stdout}");
    assert!(line("textonly").contains("BLIND") && line("textonly").contains("ignores images"), "{stdout}");
    assert!(
        line("judge").contains("error") && line("judge").to_lowercase().contains("connection refused"),
        "{stdout}"
    );
    assert!(line("classifiers.moderation").contains("ok  score 0.100"), "{stdout}");
    assert!(line("classifiers.perspective").contains("ok  score 0.200"), "{stdout}");
    assert!(line("classifiers.harmbench").contains("ok  token \"No\""), "{stdout}");
    assert!(line("classifiers.action").contains("ok  top label LABEL_5 of LABEL_0, LABEL_1"), "{stdout}");
}
