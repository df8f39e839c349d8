//! What survives a crash, and what is never done twice: processes killed while sending and
//! while writing their outputs, two processes sharing one store, a damaged store.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{FakeChat, multitrust, read_json, run_cli, serve};
use multitrust::engine::Store;

/// `run` of R3 against a fake model, with its own store unless one is given.
fn run_r3(data: &Path, out: &Path, url: &str, store: Option<&Path>) -> std::process::Command {
    let mut c = multitrust();
    c.args([
        "run",
        "-q",
        "-t",
        "R3",
        "-m",
        "openai:m",
        "--seed",
        "3",
        "--bootstrap",
        "50",
        "--base-url",
        url,
    ])
    .arg("--data")
    .arg(data)
    .arg("--out")
    .arg(out);
    if let Some(s) = store {
        c.arg("--store").arg(s);
    }
    c
}

/// Every output of a run directory but the store and run.json, by relative path.
fn outputs(out: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(dir: &Path, base: &Path, acc: &mut Vec<(PathBuf, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(base).unwrap().to_path_buf();
            let name = rel.to_string_lossy().into_owned();
            if name.starts_with("store.sqlite") || name == "run.json" || name.starts_with("generated") {
                continue;
            }
            if path.is_dir() {
                walk(&path, base, acc);
            } else {
                acc.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut acc = Vec::new();
    walk(out, out, &mut acc);
    acc.sort();
    acc
}

const SAMPLES: usize = 15 * 5;

#[tokio::test]
async fn a_run_killed_while_sending_or_writing_its_outputs_finishes_when_run_again() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 5);
    let fake = FakeChat::default();
    let server = serve(fake.clone()).await;
    let url = format!("{}/v1", server.uri());

    // The reference: one uninterrupted run, with its own store.
    let reference = tmp.path().join("reference");
    let (code, _, err) = run_cli(run_r3(&data, &reference, &url, None)).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(fake.answered.load(Ordering::SeqCst), SAMPLES);

    // Killed while sending: after 25 answers are stored.
    let out = tmp.path().join("run");
    fake.stall_after.store(SAMPLES + 25, Ordering::SeqCst);
    let mut child = run_r3(&data, &out, &url, None).spawn().unwrap();
    let store_path = out.join("store.sqlite");
    loop {
        if store_path.exists()
            && let Ok(store) = Store::open(&store_path)
            && store.counts().unwrap().answers >= 25
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(read_json(&out.join("run.json"))["status"], "running");
    // Answers that arrived in the last group-commit window (10 ms) before the kill were never
    // stored: those, and only those, are asked again.
    let stored = common::stored_answers(&store_path);
    let lost = fake.answered.load(Ordering::SeqCst) - SAMPLES - stored;
    assert!(lost <= 16, "at most the requests in flight are lost: {lost}");
    fake.stall_after.store(0, Ordering::SeqCst);

    // Killed while writing its outputs: everything answered, run.json not yet final.
    let mut c = run_r3(&data, &out, &url, None);
    c.env("MULTITRUST_FAILPOINT", "before-manifest");
    let (code, _, _) = run_cli(c).await;
    assert_ne!(code, 0);
    assert_eq!(
        read_json(&out.join("run.json"))["status"],
        "running",
        "never `complete` before the outputs are"
    );
    assert_eq!(fake.answered.load(Ordering::SeqCst), 2 * SAMPLES + lost, "every sample answered once");

    // Run again: nothing is sent, the outputs are finished and equal the uninterrupted run's.
    let (code, _, err) = run_cli(run_r3(&data, &out, &url, None)).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(fake.answered.load(Ordering::SeqCst), 2 * SAMPLES + lost, "no stored answer asked again");
    assert_eq!(read_json(&out.join("run.json"))["status"], "complete");
    let (mine, theirs) = (outputs(&out), outputs(&reference));
    assert_eq!(
        mine.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        theirs.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    for ((path, a), (_, b)) in mine.iter().zip(&theirs) {
        if path.ends_with("report.html") || path.ends_with("report.md") {
            continue; // they name the run directory
        }
        assert!(a == b, "{} differs from the uninterrupted run's", path.display());
    }
}

#[tokio::test]
async fn two_processes_sharing_a_store_never_send_the_same_request_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 8);
    let fake = FakeChat::default();
    fake.delay_ms.store(30, Ordering::SeqCst); // slow enough for the two runs to overlap
    let server = serve(fake.clone()).await;
    let url = format!("{}/v1", server.uri());
    let store = tmp.path().join("shared.sqlite");
    let (a, b) = tokio::join!(
        run_cli(run_r3(&data, &tmp.path().join("a"), &url, Some(&store))),
        run_cli(run_r3(&data, &tmp.path().join("b"), &url, Some(&store))),
    );
    assert_eq!(a.0, 0, "{}", a.2);
    assert_eq!(b.0, 0, "{}", b.2);
    let samples = 8 * 3 * 5;
    assert_eq!(fake.answered.load(Ordering::SeqCst), samples, "each request sent once, by one of the two");
    assert_eq!(fake.duplicates(), 0);
    assert_eq!(
        std::fs::read(tmp.path().join("a/summary.json")).unwrap(),
        std::fs::read(tmp.path().join("b/summary.json")).unwrap()
    );
}

#[tokio::test]
async fn a_damaged_store_stops_the_run_before_anything_is_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_r3(&data, 2);
    let fake = FakeChat::default();
    let server = serve(fake.clone()).await;
    let store = tmp.path().join("store.sqlite");
    std::fs::write(
        &store,
        b"this is not a database, it is a text file that was copied over the store\n".repeat(100),
    )
    .unwrap();
    let (code, _, err) =
        run_cli(run_r3(&data, &tmp.path().join("run"), &format!("{}/v1", server.uri()), Some(&store))).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&store.display().to_string()) && err.contains("damaged"), "{err}");
    assert!(err.contains("Use another\n--store") || err.contains("Use another --store"), "{err}");
    assert_eq!(fake.answered.load(Ordering::SeqCst) + fake.probes.load(Ordering::SeqCst), 0);
}
