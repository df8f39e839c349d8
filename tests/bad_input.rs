//! Hostile and broken input, through the binary: a corpus of bad images (corrupt, zero-byte,
//! missing, decompression bombs), malformed and mistyped JSON, path traversal and symbolic
//! links out of the data folder, non-UTF-8 text, a 1 MB prompt and malformed configuration.
//! Each must end in a clear message naming the file or record, never a panic, and nothing
//! already answered may be asked again. Also: data warnings (a stray file in the
//! unrelated-image pool, a misspelt category) are shown and never cost a score; `--strict`
//! turns them into a failed run.

mod common;

use std::path::Path;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use common::{FakeChat, multitrust, read_json, run_cli, sample_lines, serve, synth};

/// A PNG file whose header declares `width` × `height` RGBA pixels, with almost no pixel data:
/// a few hundred bytes that would decode to gigabytes.
fn bomb(path: &Path, width: u32, height: u32) {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8 bits, RGBA, deflate, no filter, no interlace
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(&mut png, b"IEND", &[]);
    std::fs::write(path, png).unwrap();
}

fn run(data: &Path, out: &Path, store: &Path, url: &str, tasks: &str) -> std::process::Command {
    let mut c = multitrust();
    c.args(["run", "-q", "--tasks", tasks, "--model", "openai:m", "--bootstrap", "20", "--base-url", url])
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .arg("--store")
        .arg(store);
    c
}

/// The problem (unscorable reason) of each sample of a split in `samples.jsonl`, by group.
fn problems(run: &Path, split: &str) -> Vec<(String, Option<String>)> {
    sample_lines(run)
        .iter()
        .filter(|l| l["split"] == split)
        .map(|l| {
            let reason = l["reason"].as_str().map(String::from);
            (l["group"].as_str().unwrap_or_default().to_string(), reason)
        })
        .collect()
}

#[tokio::test]
async fn a_corpus_of_bad_inputs_gives_clear_messages_and_loses_nothing_answered() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, "R1,R3");
    let fake = FakeChat::default();
    let server = serve(fake.clone()).await;
    let url = format!("{}/v1", server.uri());
    let store = tmp.path().join("store.sqlite");

    // A clean run first: everything answered and stored.
    let (code, _, err) = run_cli(run(&data, &tmp.path().join("clean"), &store, &url, "R1,R3")).await;
    assert_eq!(code, 0, "{err}");
    let first = fake.answered.load(Ordering::SeqCst);
    assert!(first > 0);

    // Then the corpus.
    let art = data.join("robustness/ood-artistic");
    let source = art.join("source");
    std::fs::write(source.join("cartoon_00.jpg"), b"\xff\xd8\xff\xe0 this is not a JPEG after all").unwrap();
    std::fs::write(source.join("cartoon_01.jpg"), b"").unwrap();
    std::fs::remove_file(source.join("cartoon_02.jpg")).unwrap();
    bomb(&source.join("cartoon_03.jpg"), 60_000, 60_000);
    bomb(&source.join("tattoo_01.jpg"), 9_000, 9_000); // within the side, beyond the memory
    let labels = art.join("label");
    let handmake = std::fs::read_to_string(labels.join("handmake.json")).unwrap();
    std::fs::write(labels.join("handmake.json"), &handmake[..handmake.len() - 10]).unwrap();
    std::fs::write(labels.join("painting.json"), "{\"image_name\": 7, \"gt_label\": [\"circle\"]}\n")
        .unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    common::png(&outside.join("secret.png"), [1, 2, 3]);
    std::os::unix::fs::symlink(outside.join("secret.png"), source.join("linked.jpg")).unwrap();
    std::os::unix::fs::symlink(&outside, source.join("linked_dir")).unwrap();
    std::fs::write(
        labels.join("sketch.json"),
        [
            json!({"image_name": "../../../../outside/secret.png", "gt_label": ["circle"]}),
            json!({"image_name": "linked.jpg", "gt_label": ["circle"]}),
            json!({"image_name": "linked_dir/secret.png", "gt_label": ["circle"]}),
            json!({"image_name": "sketch_03.jpg", "gt_label": ["circle"]}),
        ]
        .iter()
        .map(|v| format!("{v}\n"))
        .collect::<String>(),
    )
    .unwrap();
    let mut weather = std::fs::read(labels.join("weather.json")).unwrap();
    weather.splice(2..2, [0xff, 0xfe, 0xc3]);
    std::fs::write(labels.join("weather.json"), weather).unwrap();
    // R3: one sentence of a megabyte.
    let r3 = data.join("robustness/ood-text/label.json");
    let mut all: Value = serde_json::from_str(&std::fs::read_to_string(&r3).unwrap()).unwrap();
    let long = format!("Honestly, the {} was delightful.", "very ".repeat(200_000));
    all["augment"][0]["sentence"] = json!(long);
    std::fs::write(&r3, all.to_string()).unwrap();

    let out = tmp.path().join("corrupt");
    let (code, stdout, err) = run_cli(run(&data, &out, &store, &url, "R1,R3")).await;
    assert!(!err.contains("panicked"), "{err}");
    // Three splits did not load: the run is incomplete (exit 2), everything else was scored.
    assert_eq!(code, 2, "{stdout}{err}");
    let manifest = read_json(&out.join("run.json"));
    assert_eq!(manifest["status"], "incomplete");
    let splits = &manifest["data"]["splits"]["R1"];
    let error = |split: &str| splits[split]["error"].as_str().unwrap_or_default().to_string();
    assert!(error("coco-o-handmake").contains("data/robustness/ood-artistic/label/handmake.json: line 4"));
    let painting = error("coco-o-painting");
    assert!(
        painting.contains("painting.json: line 1") && painting.contains("expected a string"),
        "{painting}"
    );
    let weather = error("coco-o-weather");
    assert!(weather.contains("weather.json") && weather.contains("UTF-8"), "{weather}");

    let cartoon = problems(&out, "coco-o-cartoon");
    let reason = |name: &str| {
        cartoon
            .iter()
            .find(|(g, _)| g.ends_with(name))
            .and_then(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{name} has no problem: {cartoon:?}"))
    };
    assert!(reason("cartoon_00.jpg").contains("header cannot be read"), "{}", reason("cartoon_00.jpg"));
    assert!(reason("cartoon_01.jpg").contains("not a recognised image"), "{}", reason("cartoon_01.jpg"));
    assert!(reason("cartoon_02.jpg").contains("not found"), "{}", reason("cartoon_02.jpg"));
    assert!(
        reason("cartoon_03.jpg").contains("60000x60000") && reason("cartoon_03.jpg").contains("max_side")
    );
    let tattoo = problems(&out, "coco-o-tattoo");
    let memory = tattoo.iter().find(|(g, _)| g.ends_with("tattoo_01.jpg")).and_then(|(_, r)| r.clone());
    assert!(memory.as_deref().is_some_and(|r| r.contains("max_decoded_mib")), "{tattoo:?}");
    let sketch = problems(&out, "coco-o-sketch");
    assert_eq!(sketch.len(), 4, "{sketch:?}");
    for (group, reason) in &sketch[..3] {
        let reason = reason.as_deref().unwrap_or_default();
        assert!(reason.contains("outside the data folder"), "{group}: {reason}");
    }
    assert!(sketch[0].1.as_deref().unwrap_or_default().contains("names a path above it"));
    assert!(sketch[1].1.as_deref().unwrap_or_default().contains("is a link to"));
    assert_eq!(sketch[3].1, None, "the good record of the split is still scored");

    // Nothing already answered was asked again: only the five R3 samples of the new
    // sentence (one per split) were sent, each with its megabyte of text.
    let second = fake.answered.load(Ordering::SeqCst) - first;
    assert_eq!(second, 5, "only the changed prompt is new");
    let bodies = fake.bodies.lock().unwrap();
    assert!(bodies[first..].iter().all(|b| FakeChat::prompt(b).len() > 1_000_000));
    assert!(
        bodies.iter().all(|b| !b.to_string().contains(&base64_of(&outside.join("secret.png")))),
        "the image outside the data folder was never sent"
    );
}

fn base64_of(path: &Path) -> String {
    base64_simd::STANDARD.encode_to_string(std::fs::read(path).unwrap())
}

#[tokio::test]
async fn malformed_configuration_names_the_file_and_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("[models.m\nprovider = \"openai\"\n", "line 1"),
        ("[models.m]\nprovider = \"openai\"\nmodel = \"x\"\nconcurrency = \"lots\"\n", "concurrency"),
        ("[images]\nmax_side = 0\n", "images.max_side"),
        ("[images]\nmax_decoded_mib = -5\n", "max_decoded_mib"),
        ("[run]\nseed = \"zero\"\n", "seed"),
        ("[run]\nunknown_setting = 1\n", "unknown_setting"),
    ];
    for (i, (text, names)) in cases.iter().enumerate() {
        let path = tmp.path().join(format!("config-{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let mut c = multitrust();
        c.arg("run")
            .arg("--config")
            .arg(&path)
            .args(["--tasks", "T1", "--out"])
            .arg(tmp.path().join(format!("r{i}")));
        let (code, _, err) = run_cli(c).await;
        assert_eq!(code, 1, "{text}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains(&format!("config-{i}.toml")) && err.contains(names), "{text}: {err}");
    }
    let bytes = tmp.path().join("binary.toml");
    std::fs::write(&bytes, [0xff, 0xfe, 0x00, 0x41]).unwrap();
    let mut c = multitrust();
    c.arg("run").arg("--config").arg(&bytes).args(["--tasks", "T1", "--out"]).arg(tmp.path().join("rb"));
    let (code, _, err) = run_cli(c).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("binary.toml"), "{err}");
}

#[tokio::test]
async fn stray_files_and_unknown_categories_are_warnings_that_cost_no_score() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, "R3,F3");
    std::fs::write(data.join("unrelated_images/noise_readme.txt"), "how the noise images were made").unwrap();
    std::fs::write(data.join("unrelated_images/Thumbs.db"), [0u8; 64]).unwrap();
    let labels = data.join("robustness/ood-text/label.json");
    let mut all: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(&labels).unwrap()).unwrap();
    let records = all.remove("shake_p0").unwrap();
    let misspelt = records.as_array().unwrap().len();
    all.insert("shakes_p0".into(), records);
    std::fs::write(&labels, Value::Object(all).to_string()).unwrap();

    let out = tmp.path().join("run");
    let mut c = multitrust();
    c.args(["run", "--tasks", "R3,F3", "--model", "baseline:oracle", "--bootstrap", "20", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&out);
    let (code, stdout, err) = run_cli(c).await;
    assert_eq!(code, 0, "{stdout}{err}");
    for shown in [&stdout, &err] {
        assert!(shown.contains("noise_readme.txt"), "{shown}");
        assert!(shown.contains("Thumbs.db"), "{shown}");
        assert!(
            shown.contains(&format!("unknown category `shakes_p0` ({misspelt} record(s) not asked)")),
            "{shown}"
        );
    }
    let summary = read_json(&out.join("summary.json"));
    let score = |task: &str| {
        summary["models"][0]["tasks"].as_array().unwrap().iter().find(|t| t["id"] == task).unwrap()["score"]
            .as_f64()
    };
    assert!(score("R3").is_some() && score("F3").is_some(), "{summary}");
    let manifest = read_json(&out.join("run.json"));
    let r3: Vec<&str> = manifest["data"]["warnings"]["R3"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["kind"].as_str().unwrap())
        .collect();
    assert!(r3.contains(&"ignored") && r3.contains(&"unknown"), "{r3:?}");
    assert!(manifest["data"]["warnings"]["F3"].as_array().is_some_and(|w| w.len() == 2), "{manifest}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Data warnings") && md.contains("shakes\\_p0"), "{md}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Data warnings") && html.contains("noise_readme.txt"));

    // --strict: the same data fails the run before anything is asked.
    let strict = tmp.path().join("strict");
    let mut c = multitrust();
    c.args(["run", "--strict", "--tasks", "R3,F3", "--model", "baseline:oracle", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&strict);
    let (code, _, err) = run_cli(c).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--strict") && err.contains("shakes_p0") && err.contains("Thumbs.db"), "{err}");
    assert_eq!(read_json(&strict.join("run.json"))["status"], "failed");
    assert!(!strict.join("samples.jsonl").exists());
}
