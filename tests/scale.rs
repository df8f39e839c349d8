//! Scale-out: shards of one run, merged, equal the unsharded run.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::Ordering;

use common::{FakeChat, serve};

fn multitrust(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_multitrust")).current_dir(cwd).args(args).output().unwrap()
}

fn ok(output: &Output) {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test]
async fn three_shards_merged_equal_the_unsharded_run_and_merging_sends_nothing() {
    let fake = FakeChat::default();
    let server = serve(fake.clone()).await;
    let url = format!("{}/v1", server.uri());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A served model (answers in each shard's store) beside a baseline, on tasks with
    // image variants (R3, T4), a judged one (S1) and small splits (T1).
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "-q", "--tasks", "T1,T4,R3,S1", "--bootstrap", "200"];
        args.extend(["--model", "openai:m", "--model", "baseline:random", "--base-url", &url]);
        args.extend(extra);
        let out = multitrust(dir, &args);
        ok(&out);
    };
    run(&["--out", "whole"]);
    let unsharded = fake.answered.load(Ordering::SeqCst);
    for k in 1..=3 {
        run(&["--shard", &format!("{k}/3"), "--out", &format!("part{k}")]);
    }
    // Each shard holds about a third of every split, and together they hold every sample.
    let samples =
        |run: &str| std::fs::read_to_string(dir.join(run).join("samples.jsonl")).unwrap().lines().count();
    let parts: Vec<usize> = (1..=3).map(|k| samples(&format!("part{k}"))).collect();
    assert_eq!(parts.iter().sum::<usize>(), samples("whole"));
    for p in &parts {
        assert!(p.abs_diff(samples("whole") / 3) <= 12, "{parts:?}");
    }
    let before = fake.answered.load(Ordering::SeqCst);
    assert!(before > unsharded, "the shards asked with their own stores");
    drop(server);
    // Merged (in any order): the same summary.json, byte for byte, and nothing sent (the
    // server is gone; a request would have failed and shown in the numbers).
    let merged = multitrust(dir, &["merge", "-q", "--out", "merged", "part3", "part1", "part2"]);
    ok(&merged);
    let read = |p: &str| std::fs::read(dir.join(p)).unwrap();
    assert_eq!(read("merged/summary.json"), read("whole/summary.json"));
    assert_eq!(read("merged/samples.jsonl"), read("whole/samples.jsonl"));
    let run_json: serde_json::Value = serde_json::from_slice(&read("part2/run.json")).unwrap();
    assert_eq!(run_json["shard"], serde_json::json!({"index": 2, "count": 3}));

    // A missing shard, a shard twice, or a run that is not a shard: refused, saying which.
    let missing = multitrust(dir, &["merge", "--out", "bad", "part1", "part3"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("shard(s) 2/3 missing"));
    let twice = multitrust(dir, &["merge", "--out", "bad", "part1", "part1", "part2"]);
    assert!(String::from_utf8_lossy(&twice.stderr).contains("given twice"));
    let whole = multitrust(dir, &["merge", "--out", "bad", "whole"]);
    assert!(String::from_utf8_lossy(&whole.stderr).contains("not a shard"));
    let bad = multitrust(dir, &["run", "--shard", "4/3"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("1 ≤ K ≤ N"));
}

#[tokio::test]
async fn a_dry_run_counts_what_the_store_lacks_prices_it_and_sends_nothing() {
    let fake = FakeChat::default();
    let server = serve(fake.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    common::write_r3(&data, 4);
    std::fs::write(
        dir.join("multitrust.toml"),
        format!(
            "[models.m]\nprovider = \"openai\"\nmodel = \"m\"\nbase_url = \"{}/v1\"\ninput_price = 2.0\noutput_price = 10.0\n",
            server.uri()
        ),
    )
    .unwrap();
    let data_arg = data.to_str().unwrap();
    let plan = |out: &str| {
        let o = multitrust(
            dir,
            &[
                "run",
                "--dry-run",
                "--format",
                "json",
                "-m",
                "m",
                "-t",
                "R3",
                "--data",
                data_arg,
                "--out",
                out,
            ],
        );
        ok(&o);
        let calls: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        calls[0].clone()
    };
    // Nothing stored: every request is to be sent, priced from the profile.
    let fresh = plan("run");
    assert_eq!(fake.answered.load(Ordering::SeqCst) + fake.probes.load(Ordering::SeqCst), 0, "nothing sent");
    assert!(!dir.join("run/run.json").exists(), "no run files");
    let n = fresh["requests"].as_u64().unwrap();
    assert_eq!(n, 12 * 5, "12 sentences × 5 splits");
    assert_eq!(fresh["lacking"], n);
    // Four of the five splits carry an image: the image tokens come on top of the text's.
    let (input, output) =
        (fresh["input_tokens"].as_u64().unwrap(), fresh["output_tokens_max"].as_u64().unwrap());
    assert!(input > n * 10, "{fresh}");
    let cost = fresh["cost_max"].as_f64().unwrap();
    assert!((cost - (input as f64 * 2.0 + output as f64 * 10.0) / 1e6).abs() < 1e-9, "{fresh}");
    // After the run, the store has every answer: nothing to send.
    ok(&multitrust(
        dir,
        &["run", "-q", "-m", "m", "-t", "R3", "--bootstrap", "20", "--data", data_arg, "--out", "run"],
    ));
    let sent = fake.answered.load(Ordering::SeqCst);
    assert_eq!(sent as u64, n);
    let again = plan("run");
    assert_eq!(again["lacking"], 0);
    assert_eq!(again["input_tokens"], 0);
    assert_eq!(fake.answered.load(Ordering::SeqCst), sent, "the dry run sent nothing");
}

#[test]
fn a_dry_run_of_a_hosted_api_needs_no_key_where_the_run_does() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    common::write_r3(&data, 2);
    let data_arg = data.to_str().unwrap();
    let command = |dry: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_multitrust"));
        c.current_dir(dir).env_remove("OPENAI_API_KEY").env_remove("MULTITRUST_CONFIG");
        c.args(["run", "-m", "openai:gpt-4o", "-t", "R3", "--data", data_arg, "--out", "run"]);
        if dry {
            c.args(["--dry-run", "--format", "json"]);
        }
        c.output().unwrap()
    };
    // The plan is made and priced without the key: nothing is sent.
    let plan = command(true);
    ok(&plan);
    let calls: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(calls[0]["requests"], 2 * 3 * 5, "2 sentences × 3 categories × 5 splits: {calls}");
    assert_eq!(calls[0]["lacking"], calls[0]["requests"]);
    // Sending needs it, and says which variable to set.
    let run = command(false);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("no API key; set OPENAI_API_KEY"));
}
