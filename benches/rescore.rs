//! Rescoring an original-format log end to end: `multitrust score --mmtrusteval-log` (the
//! binary as a user runs it) on a T2 log of 300,000 samples written as the original writes its
//! logs (`json.dump(indent=4)`), beside `benches/rescore_original.py`, which does what the
//! original does to the same log (load, `rule_yes_or_no_eval`, save), when `python3` is there.
//!
//! Run with `cargo bench --bench rescore` (or `-- N` for another number of samples). The log
//! and the outputs go to `MT_BENCH_DIR` (default: the system's temporary folder); put it on a
//! RAM disk (`/dev/shm`) to leave the disk out of the numbers. Reports wall time, CPU time and
//! peak resident memory of each (each after one unmeasured run), and checks that both give the
//! same accuracy.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

#[path = "support/watch.rs"]
mod watch;

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(300_000);
    let dir = std::env::var_os("MT_BENCH_DIR").map(Into::into).unwrap_or_else(std::env::temp_dir);
    let dir = dir.join("multitrust-rescore-bench");
    std::fs::create_dir_all(&dir).expect("the bench folder");
    let log = dir.join("advanced-spatial.json");
    write_log(&log, n);
    let size = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    println!("T2 log: {n} samples, {size:.0} MB, in {}", dir.display());
    println!("{:<34} {:>8} {:>8} {:>10}", "", "wall s", "CPU s", "peak MiB");

    let ours = dir.join("ours.json");
    let rescore = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_multitrust"));
        command
            .args(["--quiet", "score", "--task", "T2", "--mmtrusteval-log"])
            .arg(&log)
            .arg("--out")
            .arg(&ours);
        command
    };
    // Each side is measured after one run that is not (the Python side's check that it can
    // run is a whole run), and after the new log has been read once: the first reads of a file
    // just written are slower (on a RAM disk here, the measured run took 0.72-0.75 s right
    // after the log was written, and after a warm-up run, against 0.56-0.58 s after this read).
    let _ = std::fs::read(&log);
    let warm = rescore().output().expect("multitrust runs");
    assert!(warm.status.success(), "{}", String::from_utf8_lossy(&warm.stderr));
    let mine = measure("multitrust score --mmtrusteval-log", rescore());

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/rescore_original.py");
    let theirs = dir.join("original.json");
    let mut python = Command::new("python3");
    python.arg(&script).arg(&log).arg(&theirs);
    if python.output().is_err() {
        println!("(no python3: the original's way is not measured)");
        return;
    }
    let mut python = Command::new("python3");
    python.arg(&script).arg(&log).arg(&theirs);
    let original = measure("the original's way (Python)", python);
    println!(
        "multitrust is {:.1}x the original's speed on this log",
        original.as_secs_f64() / mine.as_secs_f64()
    );
    let accuracy = |p: &Path| -> Value {
        let text = std::fs::read(p).unwrap_or_default();
        let v: Value = serde_json::from_slice(&text).unwrap_or(Value::Null);
        v["total_results"]["rule_yes_or_no_eval:accuracy_score"].clone()
    };
    assert_eq!(accuracy(&ours), accuracy(&theirs), "both give the same accuracy");
}

/// Runs a command to its end; prints and gives its wall time, with its CPU time and peak
/// memory.
fn measure(name: &str, mut command: Command) -> Duration {
    let used = watch::watch(command.stdout(std::process::Stdio::null()).spawn().expect("the command starts"));
    assert!(used.status.success(), "{name} failed");
    println!("{name:<34} {:>8.2} {:>8.2} {:>10.1}", used.wall.as_secs_f64(), used.cpu_s, used.peak_mib);
    used.wall
}

/// A T2 log in the original's layout: `{image_path, text}` contents, answers that open with
/// [Yes], [No] or neither, 0/1 labels, no extra.
fn write_log(path: &Path, n: usize) {
    let preds = [
        "[Yes] The cube is on the left side of the image.",
        "[No] It is on the right.",
        "Yes, it is.",
        "I cannot tell from this picture.",
    ];
    let mut state = 2024u64;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let rows: Vec<Value> = (0..n)
        .map(|i| {
            let text = format!(
                "\n Is the object number {i} to the left of the red cube in the picture?\n Please answer with \
                 [Yes] or [No] according to the picture, and give a short explanation about your answer."
            );
            json!({
                "content": {"image_path": format!("./data/truthfulness/advanced_images/spatial/{}.png", i % 500), "text": text},
                "pred": preds[next() % preds.len()],
                "label": next() % 2,
                "extra": null,
            })
        })
        .collect();
    let log =
        json!({"total_results": {"rule_yes_or_no_eval:accuracy_score": 0.5}, "per_sample_results": rows});
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(&log, &mut ser).expect("the log serializes");
    std::fs::write(path, out).expect("the log is written");
}
