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
    // The page's own two scripts (the browser's data and its code), and no other.
    assert_eq!(html.matches("<script").count(), 2, "only the page's own scripts");
    assert!(!html.contains("<script>alert"), "the answer opens no script element");
    assert!(!html.contains("<img src=x"), "no injected element");
    // In the browser's data the answer is intact, and cannot close the element it is in.
    let data = browser_data(&html);
    assert!(data["strings"].as_array().unwrap().iter().any(|s| s == hostile), "{data}");
    assert!(!html.contains("</script> positive"));
    assert!(!html.contains("evil<b>"), "the model name is escaped too");
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
    // The first screen: the aspects, and where each model sits among the published models.
    let overview = &html[html.find("id=\"overview\"").unwrap()..html.find("id=\"scoreboard\"").unwrap()];
    assert!(
        overview.contains("<th>Privacy</th>") && overview.contains("Compared with the 43 published models")
    );
    assert!(overview.contains("not placed: scores on the synthetic suite"), "{overview}");
    for id in ["overview", "heatmap", "tasks", "cross-modal", "leaderboard", "samples"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "#{id}");
    }
}

/// A model that reads the sentiment right from text alone, and with an image in the request
/// calls every awful play positive.
struct Distracted;
impl wiremock::Respond for Distracted {
    fn respond(&self, request: &wiremock::Request) -> wiremock::ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        if common::is_probe(&body) {
            return common::completion(&body, "OK");
        }
        let text = body.to_string();
        let awful = text.contains("awful");
        let answer = if awful && !text.contains("data:image/") { "negative" } else { "positive" };
        common::completion(&body, answer)
    }
}

/// The JSON the page's sample browser reads.
fn browser_data(html: &str) -> Value {
    let start = html.find("<script type=\"application/json\" id=\"browser-data\">").unwrap();
    let rest = &html[start..];
    let body = &rest[rest.find('>').unwrap() + 1..rest.find("</script>").unwrap()];
    serde_json::from_str(body).unwrap()
}

#[tokio::test]
async fn cross_modal_and_model_differences_are_matrices_with_paired_intervals() {
    let server = serve(Distracted).await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 8);
    let out = tmp.path().join("out");
    let mut p = plan("R3", &data, &out, vec![baseline("oracle"), served(&server, "distracted")]);
    p.replicates = 200;
    common::execute(&p, &Engine::new(None).quiet()).await.unwrap();
    let summary: Value = serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    let cross: Vec<&Value> = summary["cross_modal"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["model"] == "openai:distracted")
        .collect();
    assert!(!cross.is_empty());
    for c in &cross {
        // Half the answers flip with an image: accuracy falls by about half, and the paired
        // interval (a record's text-only and image samples drawn together) excludes zero.
        let delta = c["delta"].as_f64().unwrap();
        let [lo, hi] = [c["ci"][0].as_f64().unwrap(), c["ci"][1].as_f64().unwrap()];
        assert!((delta + 0.5).abs() < 1e-9, "{c}");
        assert!(lo < delta && delta < hi && hi < 0.0, "{c}");
        assert_eq!(c["changed"], true, "{c}");
    }
    // The oracle answers alike with and without images: zero, not marked.
    let oracle = summary["cross_modal"].as_array().unwrap().iter().find(|c| c["model"] == "baseline:oracle");
    assert_eq!(oracle.unwrap()["changed"], false);
    // A report made later from the run directory (which keeps no replicates) draws the same
    // intervals again.
    let again = tmp.path().join("again");
    let record = multitrust::pipeline::rundir::load_record(&out).unwrap();
    multitrust::report::write_reports(&[record], &again).unwrap();
    let later: Value = serde_json::from_str(&read(&again.join("summary.json"))).unwrap();
    assert_eq!(later["cross_modal"], summary["cross_modal"]);
    let html = read(&out.join("report.html"));
    let section = &html[html.find("id=\"cross-modal\"").unwrap()..html.find("id=\"refusal\"").unwrap()];
    assert!(section.contains("<b>-0.500*</b>"), "a change is marked in its cell: {section}");
    assert!(section.contains("excludes zero") && section.contains("includes zero"));
    // Paired model differences: one matrix, a column per model against the reference.
    let diffs = &html[html.find("id=\"comparisons\"").unwrap()..];
    let diffs = &diffs[..diffs.find("</table>").unwrap()];
    assert!(diffs.contains("<th>openai:distracted − baseline:oracle</th>"), "{diffs}");
    assert!(
        diffs.contains("<td>R3</td>") && diffs.contains("<td>Overall") && diffs.contains("*</b>"),
        "{diffs}"
    );
}

#[tokio::test]
async fn the_sample_browser_holds_every_sample_once_and_each_image_once() {
    let server = serve(Distracted).await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 3);
    let out = tmp.path().join("out");
    let p = plan("R3", &data, &out, vec![baseline("oracle"), served(&server, "distracted")]);
    common::execute(&p, &Engine::new(None).quiet()).await.unwrap();
    let html = read(&out.join("report.html"));
    let b = browser_data(&html);
    let samples = read(&out.join("samples.jsonl")).lines().count();
    let rows = b["rows"].as_array().unwrap();
    assert_eq!(rows.len(), samples, "every sample");
    assert_eq!(b["total"], samples);
    let s = |i: &Value| b["strings"][i.as_u64().unwrap() as usize].as_str().unwrap().to_string();
    assert_eq!(b["models"], serde_json::json!(["baseline:oracle", "openai:distracted"]));
    // Each text is stored once: both models' rows point at the same prompts.
    let strings: Vec<&str> = b["strings"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    let distinct: std::collections::BTreeSet<&str> = strings.iter().copied().collect();
    assert_eq!(distinct.len(), strings.len(), "no text twice");
    let prompts = |model: u64| -> Vec<u64> {
        rows.iter().filter(|r| r[0] == model).map(|r| r[4].as_u64().unwrap()).collect()
    };
    assert_eq!(prompts(0), prompts(1));
    // The distracted model's answers and verdicts are the ones it gave.
    let mine: Vec<&Value> = rows.iter().filter(|r| r[0] == 1).collect();
    assert!(mine.iter().all(|r| ["positive", "negative"].contains(&s(&r[5]).as_str())));
    assert!(mine.iter().any(|r| s(&r[6]) == "scored" && s(&r[9]).contains(": 0")));
    // One thumbnail per distinct image file: the related images and the pool's.
    let images = b["images"].as_array().unwrap();
    let used: std::collections::BTreeSet<i64> =
        rows.iter().map(|r| r[10].as_i64().unwrap()).filter(|i| *i >= 0).collect();
    assert_eq!(used.len(), images.len());
    assert!(images.len() <= 9 + 9, "{} thumbnails", images.len());
    assert!(images.iter().all(|u| u.as_str().unwrap().starts_with("data:image/jpeg;base64,")));
    // The thumbnails are cached in the run; a second report reads them instead of decoding.
    let cache = std::fs::read_to_string(out.join("generated/thumbnails-96.txt")).unwrap();
    assert_eq!(cache.lines().count(), images.len());
    assert!(
        cache
            .lines()
            .all(|l| images.iter().any(|u| u.as_str().unwrap().ends_with(l.split_once(' ').unwrap().1)))
    );
    // A heatmap cell links to its samples.
    assert!(html.contains(
        "class=\"to-samples\" href=\"#samples\" data-model=\"openai:distracted\" data-task=\"R3\""
    ));
}
