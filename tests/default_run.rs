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
    for model in models {
        assert_eq!(model["baseline"], true);
        let tasks = model["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 32);
        for task in tasks {
            let needs = task["needs"].as_array().unwrap();
            if needs.is_empty() {
                assert!(
                    task["score"].is_number(),
                    "{} {}: a rule-scored task has a score",
                    model["name"],
                    task["id"]
                );
                assert_eq!(task["unscorable"], 0, "{} {}", model["name"], task["id"]);
            } else {
                assert!(task["score"].is_null(), "{}: no judge or classifier, no score", task["id"]);
                assert!(task["missing"].as_str().unwrap().starts_with("needs a"), "{}", task["missing"]);
            }
        }
        assert_eq!(model["overall"]["partial"], true, "without judge and classifiers the overall is partial");
    }
    // The oracle gets full marks on every rule-scored task; refusing does not.
    let scores = |i: usize| -> Vec<(String, f64)> {
        models[i]["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| Some((t["id"].as_str()?.to_string(), t["score"].as_f64()?)))
            .collect()
    };
    assert!(scores(0).len() >= 10);
    assert!(scores(0).iter().all(|(_, s)| (*s - 100.0).abs() < 1e-9), "{:?}", scores(0));
    assert!(scores(1).iter().any(|(_, s)| *s < 100.0));

    let md = read("report.md");
    assert!(md.contains("Synthetic data") && md.contains("| T1 Basic World Understanding |"));
    let html = read("report.html");
    assert!(html.contains("<svg") && html.contains("needs a judge"));
    assert!(
        summary["leaderboard"].as_array().unwrap().iter().all(|p| p["rank"].is_null()),
        "synthetic runs are not placed"
    );
}
