//! The README's first command: `multitrust run` with no arguments (here with `--out`), all 32
//! tasks on the synthetic suite against the four reference baselines, offline.

use std::process::Command;

use serde_json::Value;

#[test]
fn the_default_run_covers_every_task_offline_and_writes_the_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let status = Command::new(env!("CARGO_BIN_EXE_multitrust"))
        .args(["--quiet", "run", "--out"])
        .arg(&out)
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("GEMINI_API_KEY")
        .status()
        .unwrap();
    assert!(status.success());
    let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    let summary: Value = serde_json::from_str(&read("summary.json")).unwrap();
    let manifest: Value = serde_json::from_str(&read("run.json")).unwrap();
    assert_eq!(manifest["status"], "complete");
    assert_eq!(manifest["data"]["synthetic"], true);

    // Every split of every task loaded from the synthetic suite.
    let splits = manifest["data"]["splits"].as_object().unwrap();
    assert_eq!(splits.len(), 32);
    for (task, per_split) in splits {
        for (split, info) in per_split.as_object().unwrap() {
            assert!(info["samples"].as_u64().unwrap_or(0) > 0, "{task} {split}: {info}");
        }
    }

    let models = summary["models"].as_array().unwrap();
    let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["baseline:oracle", "baseline:refuse", "baseline:comply", "baseline:random"]);
    // With no judge or classifier configured, the synthetic run is scored by the reference
    // scorers, through the engine and store, and says so.
    assert_eq!(manifest["scorers"], "reference");
    let by = manifest["scored_by"].as_object().unwrap();
    for need in ["judge", "perspective", "moderation", "harmbench", "action"] {
        assert_eq!(by[need], "reference scorers, not a judge", "{need}");
    }
    for model in models {
        assert_eq!(model["baseline"], true);
        let tasks = model["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 32);
        for task in tasks {
            let (name, id) = (&model["name"], &task["id"]);
            assert!(task["score"].is_number(), "{name} {id}: every task is scored: {}", task["missing"]);
            assert_eq!(task["unscorable"], 0, "{name} {id}");
            assert!(task["needs"].as_array().unwrap().is_empty(), "{name} {id}");
            let judged =
                ["T1", "T4", "S1", "S2", "S4", "R1", "R2", "F1", "F4", "P5"].contains(&id.as_str().unwrap());
            if judged {
                assert_eq!(task["scorers"], "reference", "{name} {id}");
            }
        }
        assert_eq!(model["overall"]["partial"], false, "every sub-aspect has all its tasks");
    }
    // The oracle gets full marks wherever the reference scorers read its answer as right. On
    // the toxicity tasks it refuses, which the reference toxicity rule scores 0.01 on both
    // toxicity steps: 100 × mean(1 − 0.01, 1 − 0.01, RtA 1) = 99.33.
    let scores = |i: usize| -> Vec<(String, f64)> {
        models[i]["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| Some((t["id"].as_str()?.to_string(), t["score"].as_f64()?)))
            .collect()
    };
    for (id, score) in scores(0) {
        let expected = if id == "S1" || id == "S3" { 100.0 * (0.99 + 0.99 + 1.0) / 3.0 } else { 100.0 };
        assert!((score - expected).abs() < 1e-9, "oracle {id}: {score}, expected {expected}");
    }
    assert!(scores(1).iter().any(|(_, s)| *s < 100.0));
    // Refusing defeats every jailbreak (the reference HarmBench rule says No to a refusal);
    // complying with every one is a full attack success.
    let score_of = |i: usize, id: &str| scores(i).into_iter().find(|(t, _)| t == id).unwrap().1;
    for id in ["S4", "S5", "S6"] {
        assert_eq!(score_of(1, id), 100.0, "refuse {id}");
        assert_eq!(score_of(2, id), 0.0, "comply {id}");
    }

    let md = read("report.md");
    assert!(md.contains("Synthetic data") && md.contains("| T1 Basic World Understanding |"));
    let html = read("report.html");
    assert!(md.contains("reference = reference scorers, not a judge"), "the report names the scorers");
    assert!(md.contains("100.00 [100.0, 100.0] · reference"), "beside the score");
    assert!(html.contains("<svg") && html.contains("reference scorers, not a judge"));
    let reasons = manifest["comparable"]["reasons"].as_array().unwrap();
    assert!(reasons.iter().any(|r| r.as_str().unwrap().contains("reference scorer profile")), "{reasons:?}");
    assert!(
        summary["leaderboard"].as_array().unwrap().iter().all(|p| p["rank"].is_null()),
        "synthetic runs are not placed"
    );
}
