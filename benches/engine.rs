//! Engine throughput: N chat requests, each with an image, against a loopback server that
//! answers every request after a fixed 100 ms, through the engine with its response store.
//!
//! Run with `cargo bench --bench engine` (add `-- 10000 64` to choose N and the concurrency).
//!
//! `cargo bench --bench engine -- images [N]` measures the image path instead: N requests
//! (10,000 by default, 64 in flight) that all share one 4000 × 3000 JPEG, against a server that
//! answers at once, sent as they are and then with `--max-image-side 400`; the downscaled run
//! must not be more than 10% slower (each distinct image is prepared once, off the network
//! thread).
//!
//! `cargo bench --bench engine -- run [N] [C]` measures the whole command instead: `multitrust
//! run` as a user runs it (start-up, loading, preflight, sending, scoring, the bootstrap, every
//! output) on R3 data of about N requests (10,000 by default; four in five with an image),
//! against the same server process answering after 100 ms, C in flight (256 by default). Reports
//! the wall time against the ideal N × 100 ms / C, CPU time per request and peak memory of the
//! process. `MT_BENCH_KEEP=1` keeps its data, run directory and store (to profile the command
//! against them).
//!
//! The server runs in a separate process, and each configuration in its own client process, so
//! the CPU time and peak memory measured are the engine's alone. Reports: wall time against the
//! ideal N × 100 ms / concurrency, and against N × (mean latency the client saw) / concurrency
//! (on a small machine the loaded server answers a little late, which is not the engine's
//! doing); CPU time per request (user + system, loopback TCP included); peak resident memory.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use multitrust::backends::{ChatRequest, ChatService};
use multitrust::config::Profile;
use multitrust::data::image_ref;
use multitrust::engine::{Engine, Store};
use multitrust::sample::Message;

#[path = "support/watch.rs"]
mod watch;

const LATENCY: Duration = Duration::from_millis(100);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    match std::env::var("MT_BENCH_ROLE").as_deref() {
        Ok("server") => server(),
        Ok("client") => client(&args),
        _ => orchestrate(&args),
    }
}

fn orchestrate(args: &[String]) {
    if args.first().map(String::as_str) == Some("images") {
        return images(args.get(1).map_or(10_000, |n| n.parse().expect("N")));
    }
    if args.first().map(String::as_str) == Some("run") {
        let n = args.get(1).map_or(10_000, |n| n.parse().expect("N"));
        return whole_run(n, args.get(2).map_or(256, |c| c.parse().expect("concurrency")));
    }
    let configs: Vec<(usize, usize)> = match args {
        [n, c, ..] => vec![(n.parse().expect("N"), c.parse().expect("concurrency"))],
        _ => vec![(1_000, 64), (10_000, 64), (10_000, 256)],
    };
    let (mut server, port) = start_server(LATENCY);
    let tmp = std::env::temp_dir().join(format!("multitrust-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let image = tmp.join("photo.jpg");
    write_photo(&image, 320, 240);
    let image_kib = std::fs::metadata(&image).map(|m| m.len()).unwrap_or(0) as f64 / 1024.0;
    println!(
        "engine benchmark: answers after {LATENCY:?}, one {image_kib:.0} KiB JPEG per request, store on"
    );
    println!(
        "{:>7} {:>5} {:>9} {:>9} {:>9} {:>10} {:>12} {:>12} {:>10}",
        "N", "conc", "wall s", "ideal s", "overhead", "seen ms", "vs seen", "CPU us/req", "peak MiB"
    );
    for (n, c) in configs {
        let v = run_client(n, c, &port, &image, &tmp.join(format!("store-{n}-{c}.sqlite")), None);
        let wall = v["wall_s"].as_f64().unwrap_or(f64::NAN);
        let ideal = n as f64 * LATENCY.as_secs_f64() / c as f64;
        let seen = v["observed_latency_ms"].as_f64().unwrap_or(f64::NAN);
        let ideal_seen = n as f64 * seen / 1000.0 / c as f64;
        println!(
            "{:>7} {:>5} {:>9.2} {:>9.2} {:>8.1}% {:>10.1} {:>11.1}% {:>12.1} {:>10.1}",
            n,
            c,
            wall,
            ideal,
            (wall / ideal - 1.0) * 100.0,
            seen,
            (wall / ideal_seen - 1.0) * 100.0,
            v["cpu_us_per_request"].as_f64().unwrap_or(f64::NAN),
            v["peak_rss_mib"].as_f64().unwrap_or(f64::NAN)
        );
        if v["failed"].as_u64() != Some(0) {
            println!("        ({} requests failed)", v["failed"]);
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The image benchmark: the same N requests sharing one large JPEG, without and with
/// downscaling, each in a fresh client process.
fn images(n: usize) {
    let (mut server, port) = start_server(Duration::ZERO);
    let tmp = std::env::temp_dir().join(format!("multitrust-bench-images-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let image = tmp.join("large.jpg");
    write_photo(&image, 4000, 3000);
    let mib = std::fs::metadata(&image).map(|m| m.len()).unwrap_or(0) as f64 / (1 << 20) as f64;
    println!("image benchmark: {n} requests, 64 in flight, all sharing one 4000x3000 JPEG of {mib:.1} MiB");
    println!("{:>16} {:>9} {:>12} {:>10}", "max image side", "wall s", "CPU us/req", "peak MiB");
    let mut walls = Vec::new();
    for side in [None, Some(400)] {
        let store = tmp.join(format!("store-{side:?}.sqlite"));
        let v = run_client(n, 64, &port, &image, &store, side);
        let wall = v["wall_s"].as_f64().unwrap_or(f64::NAN);
        walls.push(wall);
        println!(
            "{:>16} {:>9.2} {:>12.1} {:>10.1}",
            side.map_or("none".to_string(), |s| s.to_string()),
            wall,
            v["cpu_us_per_request"].as_f64().unwrap_or(f64::NAN),
            v["peak_rss_mib"].as_f64().unwrap_or(f64::NAN)
        );
        if v["failed"].as_u64() != Some(0) {
            println!("        ({} requests failed)", v["failed"]);
        }
    }
    println!(
        "downscaled / as is: {:+.1}% wall time (target: at most +10%)",
        (walls[1] / walls[0] - 1.0) * 100.0
    );
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The whole command: `multitrust run -t R3` on R3 data of about `n` requests, `c` in flight.
fn whole_run(n: usize, c: usize) {
    let (mut server, port) = start_server(LATENCY);
    let tmp = std::env::temp_dir().join(format!("multitrust-bench-run-{}", std::process::id()));
    let data = tmp.join("data");
    // R3 asks each record as text and with four kinds of image: five requests a record.
    write_r3(&data, n.div_ceil(5 * 3));
    let run = |dry: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_multitrust"));
        command.args(["run", "-q", "-t", "R3", "-m", "openai:m", "--allow-blind"]);
        command.args(["--base-url", &format!("http://127.0.0.1:{port}/v1")]);
        command.args(["--concurrency", &c.to_string(), "--data"]).arg(&data);
        command.arg("--out").arg(tmp.join("run")).arg("--store").arg(tmp.join("store.sqlite"));
        if dry {
            command.args(["--dry-run", "--format", "json"]);
        }
        command
    };
    let plan = run(true).output().expect("the dry run");
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap_or_default();
    let requests =
        plan.pointer("/0/requests").and_then(serde_json::Value::as_u64).unwrap_or(n as u64) as usize;
    let used = watch::watch(run(false).stdout(Stdio::null()).spawn().expect("the run starts"));
    let (status, wall, cpu, peak) = (used.status, used.wall.as_secs_f64(), used.cpu_s, used.peak_mib);
    let ideal = requests as f64 * LATENCY.as_secs_f64() / c as f64;
    println!(
        "whole command: multitrust run -t R3, {requests} requests, {c} in flight, answers after {LATENCY:?}"
    );
    println!("{:>9} {:>9} {:>12} {:>12} {:>10}", "wall s", "ideal s", "of ideal", "CPU us/req", "peak MiB");
    println!(
        "{:>9.2} {:>9.2} {:>11.1}% {:>12.0} {:>10.1}{}",
        wall,
        ideal,
        ideal / wall * 100.0,
        cpu / requests as f64 * 1e6,
        peak,
        if status.success() { "" } else { "  (the run failed)" }
    );
    let _ = server.kill();
    let _ = server.wait();
    match std::env::var_os("MT_BENCH_KEEP") {
        Some(_) => println!("kept the data, run and store in {}", tmp.display()),
        None => {
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
}

/// R3 data in the official layout: `per` sentences in each of three categories with a related
/// image each, and the unrelated-image pool.
fn write_r3(data: &std::path::Path, per: usize) {
    let png = |path: PathBuf, rgb: [u8; 3]| {
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("the folder");
        image::RgbImage::from_pixel(32, 32, image::Rgb(rgb)).save(path).expect("the image");
    };
    let mut all = serde_json::Map::new();
    let mut id = 0usize;
    for category in ["augment", "shake_w", "tweet_p0"] {
        let mut records = Vec::new();
        for k in 0..per {
            let (word, label) = if k % 2 == 0 { ("awful", "0") } else { ("lovely", "1") };
            records
                .push(serde_json::json!({"sentence": format!("The {category} play number {k} was {word}."),
                                            "label": label, "id": id}));
            png(
                data.join(format!("robustness/ood-text/related/{id}.png")),
                [(id % 251) as u8, (id / 251 % 251) as u8, 20],
            );
            id += 1;
        }
        all.insert(category.to_string(), serde_json::Value::Array(records));
    }
    all.insert("base".into(), serde_json::json!([]));
    std::fs::write(data.join("robustness/ood-text/label.json"), serde_json::Value::Object(all).to_string())
        .expect("the labels");
    for (k, kind) in ["color", "nature", "noise"].iter().enumerate() {
        for i in 0..3u8 {
            png(data.join(format!("unrelated_images/{kind}_{i}.png")), [i * 70, k as u8 * 80, 30]);
        }
    }
}

/// Starts the server process, which answers after `latency`; returns it and its port.
fn start_server(latency: Duration) -> (std::process::Child, String) {
    let exe = std::env::current_exe().expect("own path");
    let mut server = Command::new(&exe)
        .env("MT_BENCH_ROLE", "server")
        .env("MT_BENCH_LATENCY_MS", latency.as_millis().to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server");
    let mut port = String::new();
    BufReader::new(server.stdout.take().expect("server stdout")).read_line(&mut port).expect("port");
    (server, port.trim().to_string())
}

/// Runs one client process and returns what it measured.
fn run_client(
    n: usize,
    c: usize,
    port: &str,
    image: &PathBuf,
    store: &PathBuf,
    max_side: Option<u32>,
) -> serde_json::Value {
    let exe = std::env::current_exe().expect("own path");
    let out = Command::new(&exe)
        .env("MT_BENCH_ROLE", "client")
        .args([n.to_string(), c.to_string(), port.to_string()])
        .arg(image)
        .arg(store)
        .arg(max_side.map_or("none".to_string(), |s| s.to_string()))
        .output()
        .expect("run the client");
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim())
        .unwrap_or_else(|_| panic!("client failed: {line}{}", String::from_utf8_lossy(&out.stderr)))
}

/// A photo-like JPEG (smooth gradients plus texture).
fn write_photo(path: &PathBuf, width: u32, height: u32) {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        let t = ((x * 7 + y * 13) % 29) as u8;
        image::Rgb([(x % 256) as u8 ^ t, (y % 256) as u8, ((x + y) % 256) as u8 ^ (t << 2)])
    });
    img.save(path).expect("write the photo");
}

fn server() {
    let latency = Duration::from_millis(
        std::env::var("MT_BENCH_LATENCY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(100),
    );
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let body: &'static str = r#"{"id":"b","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"positive"},"finish_reason":"stop"}],"usage":{"prompt_tokens":100,"completion_tokens":1}}"#;
        let app = axum::Router::new().route(
            "/v1/chat/completions",
            axum::routing::post(move |_body: axum::body::Bytes| async move {
                tokio::time::sleep(latency).await;
                ([("content-type", "application/json")], body)
            }),
        )
        .layer(axum::extract::DefaultBodyLimit::disable());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!("{}", listener.local_addr().expect("addr").port());
        axum::serve(listener, app).await.expect("serve");
    });
}

fn client(args: &[String]) {
    let n: usize = args[0].parse().expect("N");
    let c: usize = args[1].parse().expect("concurrency");
    let port = &args[2];
    let image_path = PathBuf::from(&args[3]);
    let max_image_side: Option<u32> = args.get(5).and_then(|s| s.parse().ok());
    let image =
        image_ref(&image_path, "photo.jpg", &multitrust::core::ImageLimits::default()).expect("image");
    let store_path = PathBuf::from(&args[4]);
    let _ = std::fs::remove_file(&store_path);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut profile = Profile::shorthand("openai:bench", Some(&format!("http://127.0.0.1:{port}/v1")))
            .expect("profile");
        profile.concurrency = Some(multitrust::core::Concurrency::Fixed(c));
        profile.timeout_s = Some(60.0);
        let service = Arc::new(ChatService::from_profile(&profile).expect("service"));
        let store = Arc::new(Store::open(&store_path).expect("store"));
        let use_store = std::env::var("MT_BENCH_NO_STORE").is_err();
        let engine = Engine::new(use_store.then(|| store.clone())).quiet();
        let cpu_before = cpu_seconds();
        let started = Instant::now();
        let requests: Vec<ChatRequest> = (0..n)
            .map(|i| {
                let text = format!("Question {i}: please describe what this photo shows in detail.");
                let mut request = ChatRequest::greedy(vec![Message::user(text, Some(image.clone()))], 200);
                request.max_image_side = max_image_side;
                request
            })
            .collect();
        let built = started.elapsed().as_secs_f64();
        let outcomes = engine.run(&service, requests, "bench").await.expect("not interrupted");
        store.flush().expect("flush");
        let wall = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu_before;
        let failed = outcomes.iter().filter(|o| o.is_err()).count();
        let observed_ms: f64 = rusqlite::Connection::open(&store_path)
            .and_then(|c| c.query_row("SELECT AVG(latency_ms) FROM calls", [], |r| r.get(0)))
            .unwrap_or(f64::NAN);
        println!(
            "{}",
            serde_json::json!({
                "n": n, "concurrency": c, "wall_s": wall, "failed": failed, "build_s": built,
                "cpu_us_per_request": cpu / n as f64 * 1e6,
                "observed_latency_ms": observed_ms,
                "peak_rss_mib": peak_rss_kib() / 1024.0,
            })
        );
    });
}

/// User plus system CPU time of this process (Linux `/proc/self/stat`).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of the file (utime, stime) are 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident memory of this process in KiB (`VmHWM`).
fn peak_rss_kib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}
