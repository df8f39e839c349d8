//! The reports: escaping, reproducible intervals, combining runs with paired differences.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use common::{FakeChat, Scripted, baseline, plan, serve, served};
use multitrust::engine::Engine;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn model_text_is_escaped_in_the_html_report() {
    let hostile = r#"<script>alert("x")</script> positive <img src=x onerror=alert(1)> 'quoted' & "double""#;
    let server = serve(Scripted::new(move |_| hostile.to_string())).await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 2);
    let out = tmp.path().join("out");
    let mut model = served(&server, "evil<b>model</b>");
    model.name = "evil<b>\"model\"</b>".into();
    common::execute(&plan("R3", &data, &out, vec![model]), &Engine::new(None).quiet()).await.unwrap();
    let html = read(&out.join("report.html"));
    assert!(!html.contains("<script"), "no script element at all");
    assert!(!html.contains("<img src=x"), "no injected element");
    assert!(!html.contains("<b>"), "the model name is escaped too");
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)"), "the answer is shown, escaped");
    assert!(html.contains("evil&lt;b&gt;&quot;model&quot;"));
    assert!(html.contains("<svg"), "charts are inline");
    for external in ["src=\"http", "href=\"http", "url(http", "<link", "@import"] {
        assert!(!html.contains(external), "self-contained: found {external}");
    }
    let md = read(&out.join("report.md"));
    assert!(!md.contains("<b>"), "Markdown cells are escaped: {md}");
}

#[tokio::test]
async fn intervals_are_reproducible_under_a_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 4);
    let ci = |out: &str, seed: u64| {
        let out = tmp.path().join(out);
        let data = data.clone();
        async move {
            let mut p = plan("R3", &data, &out, vec![baseline("random")]);
            p.seed = seed;
            p.replicates = 300;
            common::execute(&p, &Engine::new(None).quiet()).await.unwrap();
            let summary: Value = serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
            (
                summary["models"][0]["tasks"][0]["ci"].clone(),
                summary["models"][0]["tasks"][0]["score"].clone(),
            )
        }
    };
    let a = ci("a", 5).await;
    let b = ci("b", 5).await;
    let c = ci("c", 6).await;
    assert!(a.0.is_array());
    assert_eq!(a, b, "same seed, same answers, same interval");
    assert_ne!(a, c, "another seed draws other random answers and resamples");
}

#[tokio::test]
async fn reports_combine_runs_with_paired_differences_on_shared_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 4);
    let server = serve(FakeChat::default()).await;
    let engine = Engine::new(None).quiet();
    let one = tmp.path().join("one");
    let two = tmp.path().join("two");
    common::execute(&plan("R3", &data, &one, vec![served(&server, "good")]), &engine).await.unwrap();
    common::execute(&plan("R3", &data, &two, vec![baseline("comply")]), &engine).await.unwrap();
    let out = tmp.path().join("report");
    let status = Command::new(env!("CARGO_BIN_EXE_multitrust"))
        .args(["--quiet", "report"])
        .arg(&one)
        .arg(&two)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let summary: Value = serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    assert_eq!(summary["models"].as_array().unwrap().len(), 2);
    let comparison = &summary["comparisons"][0];
    assert_eq!(comparison["reference"], "openai:good (one)");
    let r3 = &comparison["deltas"][0];
    assert_eq!(r3["name"], "R3");
    assert_eq!(r3["delta"], -100.0, "comply scores 0, the good model 100");
    assert_eq!(r3["shared"], 4 * 3 * 5);
    assert_eq!(r3["ci"], serde_json::json!([-100.0, -100.0]));
    let md = read(&out.join("report.md"));
    assert!(md.contains("baseline:comply (two) − openai:good (one)"), "{md}");
    assert!(read(&out.join("report.html")).contains("Paired differences"));
    // Cross-modal deltas exist for R3's image variants; placements say why nothing is placed.
    assert!(summary["cross_modal"].as_array().unwrap().iter().any(|c| c["split"] == "dt-related-image"));
    assert!(summary["leaderboard"][0]["note"].as_str().unwrap().contains("partial"));
}

#[test]
fn markdown_links_and_images_in_model_names_are_inert() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("c.toml");
    let name = "[click](javascript:alert(1)) ![x](http://example.invalid/x.png)";
    std::fs::write(&config, format!("[models.\"{name}\"]\nprovider = \"baseline\"\nmodel = \"oracle\"\n"))
        .unwrap();
    let out = tmp.path().join("run");
    let status = common::multitrust()
        .args(["run", "-q", "-t", "R3", "--bootstrap", "20", "-m", name, "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let md = read(&out.join("report.md"));
    assert!(!md.contains("[click](javascript:") && !md.contains("![x]("), "{md}");
    assert!(
        md.contains("\\[click\\](javascript:alert(1)) !\\[x\\](http"),
        "the name is shown, escaped: {md}"
    );
}

#[test]
fn the_terminal_summary_is_one_matrix_and_json_prints_summary_json_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let run = Command::new(env!("CARGO_BIN_EXE_multitrust"))
        .args(["run", "-q", "--tasks", "T1,R3,P1", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let text = String::from_utf8_lossy(&run.stdout);
    let lines: Vec<&str> = text.lines().collect();
    // One header row with the four baselines as columns, then a row per number.
    let header = lines.iter().find(|l| l.contains("baseline:oracle")).unwrap();
    for m in ["baseline:refuse", "baseline:comply", "baseline:random"] {
        assert!(header.contains(m), "{header}");
    }
    let r3 = lines.iter().find(|l| l.starts_with("R3 ")).unwrap();
    assert_eq!(r3.split_whitespace().filter(|c| c.parse::<f64>().is_ok()).count(), 4, "{r3}");
    assert!(lines.iter().any(|l| l.starts_with("Overall")));
    assert!(lines.len() < 30, "{text}");
    // --format json: stdout is summary.json, byte for byte.
    let json_out = tmp.path().join("json");
    let run = Command::new(env!("CARGO_BIN_EXE_multitrust"))
        .args(["run", "-q", "--tasks", "T1,R3,P1", "--format", "json", "--out"])
        .arg(&json_out)
        .output()
        .unwrap();
    assert!(run.status.success());
    assert_eq!(run.stdout, std::fs::read(json_out.join("summary.json")).unwrap());
    let report = Command::new(env!("CARGO_BIN_EXE_multitrust"))
        .args(["report", "--format", "json"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(report.status.success());
    let page: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(page["models"].as_array().unwrap().len(), 4);
    // The sections have stable anchors.
    let html = read(&out.join("report.html"));
    assert!(
        html.contains("class=\"heatmap\"") && html.contains("style=\"background:#"),
        "a coloured heatmap"
    );
    // R3 has a text-only split and image variants: one matrix row per number, a column per
    // variant.
    let cross = &html[html.find("id=\"cross-modal\"").unwrap()..html.find("id=\"refusal\"").unwrap()];
    assert!(
        cross.contains("<th>task (number)</th>") && cross.contains("<th>unrelated-image-color</th>"),
        "{cross}"
    );
    for id in ["overview", "heatmap", "tasks", "cross-modal", "leaderboard", "samples"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "#{id}");
    }
}
