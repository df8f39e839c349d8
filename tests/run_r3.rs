//! Whole runs of task R3 against a fake OpenAI-compatible server on loopback.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use wiremock::matchers::method;
use wiremock::{Mock, MockServer};

use common::FakeChat;
use multitrust::config::{Profile, safe_label};
use multitrust::engine::{Engine, Stop, Store};
use multitrust::pipeline::{PipelineError, Plan};

const SAMPLES: usize = 15 * 5; // 3 categories × 5 sentences, 5 splits

fn plan(data: &Path, out: &Path, models: &[Profile]) -> Plan {
    let mut p = common::plan("R3", data, out, models.to_vec());
    p.seed = 7;
    p.replicates = 100;
    p
}

async fn fake_server() -> (MockServer, FakeChat) {
    let server = MockServer::start().await;
    let fake = FakeChat::default();
    Mock::given(method("POST")).respond_with(fake.clone()).mount(&server).await;
    (server, fake)
}

fn model(server: &MockServer) -> Profile {
    Profile::shorthand("openai:fake-model", Some(&format!("{}/v1", server.uri()))).unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every result file of a run directory, by relative path.
fn results(out: &Path) -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, base: &Path, acc: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, acc);
            } else {
                acc.push((path.strip_prefix(base).unwrap().to_path_buf(), read(&path)));
            }
        }
    }
    let mut acc = Vec::new();
    walk(&out.join("results"), out, &mut acc);
    acc.sort();
    acc
}

async fn reference_run(data: &Path, server: &MockServer) -> (String, Vec<(PathBuf, String)>) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ref");
    let engine = Engine::new(Some(Arc::new(Store::open(&tmp.path().join("ref.sqlite")).unwrap()))).quiet();
    common::execute(&plan(data, &out, &[model(server)]), &engine).await.unwrap();
    (read(&out.join("summary.json")), results(&out))
}

#[tokio::test]
async fn oracle_scores_100_and_a_correct_model_too() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 5);
    let (server, fake) = fake_server().await;
    let oracle = Profile::shorthand("baseline:oracle", None).unwrap();
    let engine = Engine::new(None).quiet();
    let outcome = common::execute(&plan(&data, &tmp.path().join("out"), &[oracle, model(&server)]), &engine)
        .await
        .unwrap();
    for m in &outcome.models {
        assert_eq!(m.tasks[0].score, Some(100.0), "{}", m.name);
        assert_eq!(m.tasks[0].samples, SAMPLES);
    }
    assert!(outcome.models[0].baseline && !outcome.models[1].baseline);
    assert_eq!(fake.answered.load(Ordering::SeqCst), SAMPLES);
    // The request carried the image of the related-image split as a data URL.
    let bodies = fake.bodies.lock().unwrap();
    assert!(bodies.iter().any(|b| b.to_string().contains("data:image/png;base64,")));
    assert!(bodies.iter().any(|b| b["messages"][0]["content"].is_string()), "text-only requests");
}

#[tokio::test]
async fn a_second_run_sends_nothing_and_writes_the_same_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 5);
    let (server, fake) = fake_server().await;
    let store = Arc::new(Store::open(&tmp.path().join("store.sqlite")).unwrap());

    let engine = Engine::new(Some(store.clone())).quiet();
    common::execute(&plan(&data, &tmp.path().join("a"), &[model(&server)]), &engine).await.unwrap();
    assert_eq!(fake.answered.load(Ordering::SeqCst), SAMPLES);

    let engine = Engine::new(Some(store.clone())).quiet();
    common::execute(&plan(&data, &tmp.path().join("b"), &[model(&server)]), &engine).await.unwrap();
    assert_eq!(fake.answered.load(Ordering::SeqCst), SAMPLES, "no request sent again");
    assert_eq!(engine.stats.snapshot().0 as usize, SAMPLES, "all from the store");
    assert_eq!(read(&tmp.path().join("a/summary.json")), read(&tmp.path().join("b/summary.json")));
    assert_eq!(results(&tmp.path().join("a")), results(&tmp.path().join("b")));
}

#[tokio::test]
async fn an_interrupted_run_resumes_without_asking_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 5);
    let (server, fake) = fake_server().await;
    let store_path = tmp.path().join("store.sqlite");
    let out = tmp.path().join("run");
    let stop_at = 30;
    fake.stall_after.store(stop_at, Ordering::SeqCst);

    let store = Arc::new(Store::open(&store_path).unwrap());
    let engine = Arc::new(Engine::new(Some(store.clone())).quiet());
    let cancel = engine.cancel_token();
    let runner = {
        let engine = engine.clone();
        let p = plan(&data, &out, &[model(&server)]);
        tokio::spawn(async move { common::execute(&p, &engine).await })
    };
    while store.counts().unwrap().answers < stop_at as u64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel(); // what Ctrl-C does
    let interrupted = runner.await.unwrap();
    assert!(matches!(interrupted, Err(PipelineError::Stopped(Stop::Interrupted { .. }))), "{interrupted:?}");

    fake.stall_after.store(0, Ordering::SeqCst);
    let engine = Engine::new(Some(store.clone())).quiet();
    common::execute(&plan(&data, &out, &[model(&server)]), &engine).await.unwrap();
    assert_eq!(fake.answered.load(Ordering::SeqCst), SAMPLES);
    assert_eq!(fake.duplicates(), 0, "no request was answered twice");

    let (summary, files) = reference_run(&data, &server).await;
    assert_eq!(read(&out.join("summary.json")), summary);
    assert_eq!(results(&out), files);
}

#[tokio::test]
async fn a_killed_process_loses_only_what_was_in_flight() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 5);
    let (server, fake) = fake_server().await;
    let out = tmp.path().join("run");
    let store_path = out.join("store.sqlite");
    let stop_at = 25;
    fake.stall_after.store(stop_at, Ordering::SeqCst);
    let url = format!("{}/v1", server.uri());
    let (data2, out2) = (data.clone(), out.clone());
    let cli = move || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_multitrust"));
        c.args(["--quiet", "run", "--model", "openai:fake-model", "--base-url"])
            .arg(&url)
            .args(["--tasks", "R3", "--seed", "7", "--bootstrap", "100", "--data"])
            .arg(&data2)
            .arg("--out")
            .arg(&out2);
        c
    };
    let mut child = cli().spawn().unwrap();
    loop {
        if store_path.exists()
            && let Ok(store) = Store::open(&store_path)
            && store.counts().unwrap().answers >= stop_at as u64
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    // Answers that arrived in the last group-commit window (10 ms) before the kill were never
    // stored: those, and only those, are asked again.
    let stored = common::stored_answers(&store_path);
    let lost = fake.answered.load(Ordering::SeqCst) - stored;
    assert!(lost <= 16, "at most the requests in flight are lost: {lost}");

    fake.stall_after.store(0, Ordering::SeqCst);
    let mut again = cli();
    let output = tokio::task::spawn_blocking(move || again.output().unwrap()).await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(fake.answered.load(Ordering::SeqCst), SAMPLES + lost);
    assert_eq!(fake.duplicates(), lost, "no stored answer was asked again");
    let (summary, files) = reference_run(&data, &server).await;
    assert_eq!(read(&out.join("summary.json")), summary);
    assert_eq!(results(&out), files);
}

#[tokio::test]
async fn unscorable_samples_are_counted_and_never_scored() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 5);
    let (server, fake) = fake_server().await;
    // One sentence fails in every split: 5 of 75 samples.
    *fake.fail_on.lock().unwrap() = Some("tweet_p0 play number 1 ".into());
    let mut m = model(&server);
    m.max_attempts = Some(1);
    let out = tmp.path().join("out");
    let mut p = plan(&data, &out, &[m]);
    p.max_unscorable = 0.05;
    let outcome = common::execute(&p, &Engine::new(None).quiet()).await.unwrap();
    let task = &outcome.models[0].tasks[0];
    assert_eq!(task.unscorable, 5);
    assert_eq!(task.score, Some(100.0), "failed samples are left out, not scored 0");
    assert_eq!(outcome.over_limit.len(), 1, "5/75 is above the 5% limit");

    let lines: Vec<serde_json::Value> =
        read(&out.join("samples.jsonl")).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), SAMPLES);
    let bad: Vec<&serde_json::Value> = lines.iter().filter(|l| l["outcome"] == "unscorable").collect();
    assert_eq!(bad.len(), 5);
    assert!(
        bad.iter().all(|l| l["response"].is_null() && l["reason"].as_str().unwrap().contains("HTTP 500"))
    );
    assert!(bad.iter().all(|l| l["values"]["rule_contain_exact_eval"].is_null()));
    let split = serde_json::from_str::<serde_json::Value>(&read(
        &out.join(format!("results/{}/R3/dt-text.json", safe_label("openai:fake-model"))),
    ))
    .unwrap();
    assert_eq!(split["total_results"]["rule_contain_exact_eval:pred_mean"], 1.0);
    let rows = split["per_sample_results"].as_array().unwrap();
    assert_eq!(rows.iter().filter(|r| r.get("unscorable").is_some()).count(), 1);
}

#[tokio::test]
async fn missing_data_is_reported_per_split_and_other_splits_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 3);
    std::fs::remove_dir_all(data.join("unrelated_images")).unwrap();
    let out = tmp.path().join("out");
    let oracle = Profile::shorthand("baseline:oracle", None).unwrap();
    let outcome = common::execute(&plan(&data, &out, &[oracle]), &Engine::new(None).quiet()).await.unwrap();
    let task = &outcome.models[0].tasks[0];
    assert_eq!(task.score, None);
    assert!(task.missing.as_ref().unwrap().contains("dt-unrelated-image"), "{:?}", task.missing);
    assert_eq!(task.splits["dt-text"]["accuracy"], Some(1.0));
    let manifest = read(&out.join("run.json"));
    assert!(manifest.contains("unrelated_images"), "the manifest says which split failed and why");
}
