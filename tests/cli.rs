//! The command line: `samples`, `tasks`, `data synth`, and Ctrl-C on a run.

mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer};

fn multitrust() -> Command {
    Command::new(env!("CARGO_BIN_EXE_multitrust"))
}

fn jsonl(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn samples_print_what_would_be_sent() {
    let tmp = tempfile::tempdir().unwrap();
    common::write_r3(tmp.path(), 2);
    let run = || {
        let out = multitrust().args(["samples", "--task", "R3", "--data"]).arg(tmp.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        jsonl(&out.stdout)
    };
    let lines = run();
    assert_eq!(lines.len(), 6 * 5, "6 sentences in 5 splits");
    assert_eq!(lines, run(), "same data, same samples and ids");
    let first = &lines[0];
    assert_eq!(first["split"], "dt-text");
    assert!(first["text"].as_str().unwrap().starts_with("Please label the sentiment of the following text"));
    assert!(first["text"].as_str().unwrap().contains("The augment play number 0 was awful."));
    assert_eq!(first["target"], "0");
    assert_eq!(first["images"], serde_json::json!([]));
    assert_eq!(first["max_tokens"], 200);
    let related: Vec<&Value> = lines.iter().filter(|l| l["split"] == "dt-related-image").collect();
    assert_eq!(related[1]["images"], serde_json::json!(["data/robustness/ood-text/related/1.png"]));
    let noise: Vec<&Value> = lines.iter().filter(|l| l["split"] == "dt-unrelated-image-noise").collect();
    assert!(
        noise.iter().all(|l| l["images"][0].as_str().unwrap().starts_with("data/unrelated_images/noise_"))
    );
}

#[test]
fn samples_name_the_broken_file_and_record() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("robustness/ood-text")).unwrap();
    std::fs::write(tmp.path().join("robustness/ood-text/label.json"), r#"{"augment": [{"sentence": "x"}]}"#)
        .unwrap();
    let out = multitrust().args(["samples", "--task", "R3", "--data"]).arg(tmp.path()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("data/robustness/ood-text/label.json")
            && err.contains("augment")
            && err.contains("label"),
        "{err}"
    );
}

#[test]
fn tasks_list_aspects_splits_and_needs() {
    let out = multitrust().args(["tasks", "--json"]).output().unwrap();
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let r3 = list.iter().find(|t| t["id"] == "R3").unwrap();
    assert_eq!(r3["aspect"], "Robustness");
    assert_eq!(r3["sub_aspect"], "OOD");
    assert_eq!(r3["splits"].as_array().unwrap().len(), 5);
    assert_eq!(r3["needs"], serde_json::json!([]));
}

#[test]
fn synth_writes_a_labelled_synthetic_suite_deterministically() {
    let tmp = tempfile::tempdir().unwrap();
    for dir in ["a", "b"] {
        let out = multitrust()
            .args(["data", "synth", "--seed", "3", "--out"])
            .arg(tmp.path().join(dir))
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let read = |dir: &str, f: &str| std::fs::read(tmp.path().join(dir).join(f)).unwrap();
    assert!(String::from_utf8_lossy(&read("a", "README.txt")).contains("NOT the benchmark's data"));
    assert_eq!(read("a", "robustness/ood-text/label.json"), read("b", "robustness/ood-text/label.json"));
    assert_eq!(read("a", "unrelated_images/noise_0.png"), read("b", "unrelated_images/noise_0.png"));
}

#[tokio::test]
async fn ctrl_c_stops_cleanly_and_says_what_is_done() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 5);
    let server = MockServer::start().await;
    let fake = common::FakeChat::default();
    fake.stall_after.store(10, Ordering::SeqCst);
    Mock::given(method("POST")).respond_with(fake.clone()).mount(&server).await;
    let child = multitrust()
        .args([
            "run",
            "--model",
            "openai:m",
            "--tasks",
            "R3",
            "--base-url",
            &format!("{}/v1", server.uri()),
            "--data",
        ])
        .arg(&data)
        .arg("--out")
        .arg(tmp.path().join("run"))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    while fake.answered.load(Ordering::SeqCst) < 10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let output = tokio::task::spawn_blocking(move || {
        let out = child.wait_with_output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    })
    .await
    .unwrap();
    assert_eq!(output.0, Some(130), "{}", output.1);
    assert!(
        output.1.contains("interrupted") && output.1.contains("Run the same command again"),
        "{}",
        output.1
    );
    let manifest = std::fs::read_to_string(tmp.path().join("run/run.json")).unwrap();
    assert!(manifest.contains("\"status\": \"interrupted\""));
}
