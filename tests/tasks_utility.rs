//! The utility tasks U1 (POPE) and U2 (MMBench) on their synthetic data, through the real
//! binary against loopback models: the numbers against hand computation, circular evaluation,
//! MMBench's shared pictures and rotated copies, and bad records named with their row.

mod common;

use std::path::Path;

use common::{FakeChat, Scripted, multitrust, read_json, run_cli, sample_lines, serve, synth};
use serde_json::Value;

async fn run(data: &Path, out: &Path, url: &str, tasks: &str) -> Value {
    let mut c = multitrust();
    c.args(["run", "-m", "openai:m", "--base-url", url, "--tasks", tasks, "--data"])
        .arg(data)
        .arg("--out")
        .arg(out);
    let (code, _, err) = run_cli(c).await;
    assert_eq!(code, 0, "{err}");
    read_json(&out.join("summary.json"))
}

fn task<'a>(summary: &'a Value, id: &str) -> &'a Value {
    summary["models"][0]["tasks"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap()
}

#[tokio::test]
async fn pope_scores_f1_and_reports_accuracy_and_the_yes_ratio() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, "U1");
    // Saying yes to everything: half the questions are about absent objects, so accuracy 0.5,
    // precision 0.5, recall 1, F1 2/3, yes-ratio 1.
    let yes = serve(Scripted::new(|_| "Yes, there is.".into())).await;
    let s = run(&data, &tmp.path().join("yes"), &format!("{}/v1", yes.uri()), "pope").await;
    let u1 = task(&s, "U1");
    assert!((u1["score"].as_f64().unwrap() - 66.67).abs() < 0.01, "{u1}");
    for split in ["random", "popular", "adversarial"] {
        let p = &u1["splits"][split];
        assert_eq!(
            (p["accuracy"].as_f64(), p["recall"].as_f64(), p["yes_ratio"].as_f64()),
            (Some(0.5), Some(1.0), Some(1.0)),
            "{p}"
        );
    }
    assert_eq!(s["models"][0]["overall"]["score"], Value::Null, "utility is never in the trust score");
    let no = serve(Scripted::new(|_| "No, there is not.".into())).await;
    let s = run(&data, &tmp.path().join("no"), &format!("{}/v1", no.uri()), "U1").await;
    let u1 = task(&s, "U1");
    assert_eq!(u1["score"].as_f64(), Some(0.0), "no true positive: F1 0");
    assert_eq!(u1["splits"]["random"]["accuracy"].as_f64(), Some(0.5));
    assert_eq!(u1["splits"]["random"]["yes_ratio"].as_f64(), Some(0.0));
}

/// The letter of `word` among the options a prompt lists.
fn letter_of(prompt: &str, word: &str) -> String {
    prompt
        .lines()
        .find_map(|l| l.strip_suffix(word).and_then(|h| h.strip_suffix(". ")))
        .unwrap_or("Z")
        .to_string()
}

#[tokio::test]
async fn mmbench_counts_a_question_only_when_every_rotation_is_right() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, "U2");
    // The right word of each synthetic question.
    let right = |p: &str| -> String {
        let word = if p.contains("Which word does") {
            "LAMP"
        } else if p.contains("Which word is") {
            "STONE"
        } else {
            "yes"
        };
        letter_of(p, word)
    };
    let all_right = serve(Scripted::new(right)).await;
    let s = run(&data, &tmp.path().join("right"), &format!("{}/v1", all_right.uri()), "mmbench").await;
    assert_eq!(task(&s, "U2")["score"].as_f64(), Some(100.0));
    // Three questions, with 4 + 2 + 2 rotations; the rotated copy in the file is skipped.
    let lines = sample_lines(&tmp.path().join("right"));
    assert_eq!(lines.len(), 8);
    let image = |i: usize| lines[i]["image"]["sha256"].clone();
    assert_eq!(image(6), image(0), "question 3 shares question 1's picture by index");
    assert_ne!(image(4), image(0));

    // Wrong on one rotation of the first question: circular 2/3, first rotations all right.
    let one_wrong = serve(Scripted::new(move |p| {
        if p.contains("Which word does") && p.contains("\nA. LAMP") { "C".into() } else { right(p) }
    }))
    .await;
    let s = run(&data, &tmp.path().join("one"), &format!("{}/v1", one_wrong.uri()), "U2").await;
    let u2 = task(&s, "U2");
    assert!((u2["score"].as_f64().unwrap() - 200.0 / 3.0).abs() < 1e-6, "{u2}");
    assert_eq!(u2["splits"]["dev-en"]["vanilla_accuracy"].as_f64(), Some(1.0));

    // Always "A": right only where the answer happens to be first.
    let a = serve(Scripted::new(|_| "A".into())).await;
    let s = run(&data, &tmp.path().join("a"), &format!("{}/v1", a.uri()), "U2").await;
    let u2 = task(&s, "U2");
    assert_eq!(u2["score"].as_f64(), Some(0.0));
    assert!((u2["splits"]["dev-en"]["vanilla_accuracy"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
}

#[tokio::test]
async fn a_bad_mmbench_row_is_named_with_its_file_and_row() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(data.join("utility/mmbench")).unwrap();
    let tsv = "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\timage\n\
               1\tWhich?\t\tx\ty\t\t\tC\tocr\tiVBORw0KGgo=\n";
    std::fs::write(data.join("utility/mmbench/MMBench_DEV_EN.tsv"), tsv).unwrap();
    let server = serve(FakeChat::default()).await;
    let mut c = multitrust();
    c.args([
        "run",
        "-m",
        "openai:m",
        "--base-url",
        &format!("{}/v1", server.uri()),
        "--tasks",
        "U2",
        "--data",
    ])
    .arg(&data)
    .arg("--out")
    .arg(tmp.path().join("run"));
    let (code, _, err) = run_cli(c).await;
    assert_ne!(code, 0);
    assert!(err.contains("MMBench_DEV_EN.tsv") && err.contains("row 1"), "{err}");
    assert!(err.contains("`answer` \"C\" is not one of its options"), "{err}");
}
