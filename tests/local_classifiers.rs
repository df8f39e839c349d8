//! In-process classifiers against Hugging Face `transformers`: tiny randomly initialised
//! models of each architecture (made by `tests/fixtures/classifiers/make.py`, committed with
//! the token ids and logits `transformers` gave) run through the real binary, and the `open`
//! scorer profile scoring a run with two of them.
#![cfg(feature = "local")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use multitrust::backends::local::LocalClassifier;
use serde_json::Value;

const ARCHITECTURES: [&str; 5] = ["bert", "roberta", "xlm-roberta", "deberta-v2", "longformer"];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/classifiers").join(name)
}

fn golden(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(fixture(name).join("golden.json")).unwrap();
    let golden: Value = serde_json::from_str(&text).unwrap();
    golden["cases"].as_array().unwrap().clone()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn every_architecture_gives_the_logits_of_transformers() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ARCHITECTURES {
        let cases = golden(name);
        // The tokenizer gives the ids transformers' fast tokenizer gave, special tokens included.
        let model = LocalClassifier::load(&fixture(name), None).unwrap();
        for case in &cases {
            let ids: Vec<u64> =
                model.token_ids(case["text"].as_str().unwrap()).unwrap().into_iter().map(u64::from).collect();
            let want: Vec<u64> =
                case["input_ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
            assert_eq!(ids, want, "{name}: token ids of {:?}", case["text"]);
        }
        // The binary, as a user checks a download: one JSON line per text of the file.
        let input = tmp.path().join(format!("{name}.jsonl"));
        let lines: Vec<String> =
            cases.iter().map(|c| serde_json::json!({"text": c["text"]}).to_string()).collect();
        std::fs::write(&input, lines.join("\n") + "\n").unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_multitrust"))
            .args(["--quiet", "classify", "--model-dir"])
            .arg(fixture(name))
            .arg("--jsonl")
            .arg(&input)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let printed: Vec<Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(printed.len(), cases.len(), "{name}");
        for (line, case) in printed.iter().zip(&cases) {
            assert_eq!(line["text"], case["text"]);
            let (got, want) = (floats(&line["logits"]), floats(&case["logits"]));
            assert_eq!(got.len(), want.len(), "{name}");
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() < 1e-4,
                    "{name} {:?}: logits {got:?}, transformers {want:?}",
                    case["text"]
                );
            }
            let probs = line["probs"].as_object().unwrap();
            assert_eq!(probs.len(), want.len());
            let p: Vec<f64> = probs.values().map(|v| v.as_f64().unwrap()).collect();
            if name == "roberta" {
                // multi_label_classification: each label its own sigmoid.
                assert!(probs.contains_key("toxicity"));
                for (p, l) in p.iter().zip(&want) {
                    assert!((p - 1.0 / (1.0 + (-l).exp())).abs() < 1e-4);
                }
            } else {
                assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{name}: softmax");
            }
        }
    }
}

#[test]
fn the_longformer_fixture_reaches_past_its_window() {
    // The last text is longer than the fixture's attention window of 8, so the sliding window
    // and the global first token are both exercised by the logits test above.
    let cases = golden("longformer");
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("longformer").join("config.json")).unwrap())
            .unwrap();
    let window = config["attention_window"][0].as_u64().unwrap() as usize;
    assert!(cases.iter().any(|c| c["input_ids"].as_array().unwrap().len() > 4 * window));
}

#[test]
fn a_wrong_pin_or_a_missing_file_is_a_clear_error() {
    let dir = fixture("bert");
    let err = LocalClassifier::load(&dir, Some(&"0".repeat(64))).unwrap_err().to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("pins") && err.contains(&"0".repeat(64)),
        "{err}"
    );
    let right = LocalClassifier::load(&dir, None).unwrap().weights_sha256().to_string();
    assert_eq!(LocalClassifier::load(&dir, Some(&right.to_uppercase())).unwrap().weights_sha256(), right);

    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(dir.join("config.json"), tmp.path().join("config.json")).unwrap();
    let err = LocalClassifier::load(tmp.path(), None).unwrap_err().to_string();
    assert!(err.contains("model.safetensors") && err.contains("huggingface-cli download"), "{err}");
    std::fs::write(tmp.path().join("model.safetensors"), b"not safetensors").unwrap();
    let err = LocalClassifier::load(tmp.path(), None).unwrap_err().to_string();
    assert!(err.contains("model.safetensors"), "{err}");
}

#[tokio::test]
async fn the_open_profile_scores_toxicity_and_refusals_with_local_classifiers() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("multitrust.toml");
    let (toxicity, action) = (fixture("roberta"), fixture("longformer"));
    let pin = LocalClassifier::load(&action, None).unwrap().weights_sha256().to_string();
    std::fs::write(
        &config,
        format!(
            "[classifiers.toxicity]\nprovider = \"local\"\npath = {:?}\n\n[classifiers.action]\nprovider = \"local\"\npath = {:?}\nsha256 = \"{pin}\"\n",
            toxicity.display().to_string(),
            action.display().to_string()
        ),
    )
    .unwrap();
    let out = tmp.path().join("run");
    let mut c = common::multitrust();
    c.args(["--quiet", "run", "--config"])
        .arg(&config)
        .args(["--scorers", "open", "--tasks", "S1,F4", "--model", "baseline:comply", "--out"])
        .arg(&out);
    let (code, stdout, stderr) = common::run_cli(c).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["scorers"], "open");
    let by = &manifest["scored_by"];
    assert!(
        by["perspective"]
            .as_str()
            .unwrap()
            .starts_with("classifier toxicity:unitary/unbiased-toxic-roberta@sha256:"),
        "{by}"
    );
    assert_eq!(by["action"], format!("classifier action:LibrAI/longformer-action-ro@sha256:{pin}"));

    // Each S1 answer's toxicity is the highest sigmoid of the local model on that answer.
    let model = LocalClassifier::load(&toxicity, None).unwrap();
    let samples = std::fs::read_to_string(out.join("samples.jsonl")).unwrap();
    let mut checked = 0;
    for line in samples.lines() {
        let row: Value = serde_json::from_str(line).unwrap();
        if row["task"] != "S1" {
            continue;
        }
        let answer = row["response"].as_str().unwrap_or_else(|| panic!("{row}"));
        let want = model
            .logits(answer)
            .unwrap()
            .into_iter()
            .map(|l| 1.0 / (1.0 + (-l).exp()))
            .fold(f64::MIN, f64::max);
        let got = find_number(&row, "google_perspective_api_eval").unwrap_or_else(|| panic!("{row}"));
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        checked += 1;
    }
    assert!(checked > 0);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for task in summary["models"][0]["tasks"].as_array().unwrap() {
        assert!(task["score"].is_number(), "{task}");
        assert_eq!(task["scorers"], "open");
    }
}

/// The first number under a key that starts with `prefix`, anywhere in a JSON value.
fn find_number(v: &Value, prefix: &str) -> Option<f64> {
    match v {
        Value::Object(map) => map.iter().find_map(|(k, x)| {
            if k.starts_with(prefix) {
                x.as_f64().or_else(|| find_number(x, prefix))
            } else {
                find_number(x, prefix)
            }
        }),
        Value::Array(items) => items.iter().find_map(|x| find_number(x, prefix)),
        _ => None,
    }
}
