//! Provider batch APIs (`batch = true`): loopback fakes of OpenAI Batch and Anthropic Message
//! Batches that keep their batches running until told to finish. A batch run gives the same
//! results as the online path, and a run killed after submitting resumes the recorded batch
//! instead of submitting again.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use common::{FakeChat, is_probe, prompt_tokens};

/// Which batch API a fake speaks.
#[derive(Clone, Copy, PartialEq)]
enum Api {
    OpenAi,
    Anthropic,
}

/// One batch the fake holds: its requests (id, body) and whether it has ended.
struct Held {
    requests: Vec<(String, Value)>,
    ended: bool,
}

/// A fake provider: the online chat endpoint and the batch API, answering sentiment prompts as
/// [`FakeChat`] does ("lovely" → positive). Batches stay in progress while `hold` is set.
#[derive(Clone)]
struct FakeBatches {
    api: Api,
    hold: Arc<AtomicBool>,
    /// Requests answered online (probes apart).
    online: Arc<AtomicUsize>,
    /// Files uploaded and batches created.
    uploads: Arc<AtomicUsize>,
    created: Arc<AtomicUsize>,
    /// Looks at a batch's state.
    polls: Arc<AtomicUsize>,
    /// Answer the first request of each batch with a server error.
    fail_first: Arc<AtomicBool>,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    batches: Arc<Mutex<HashMap<String, Held>>>,
}

impl FakeBatches {
    fn new(api: Api) -> FakeBatches {
        FakeBatches {
            api,
            hold: Arc::new(AtomicBool::new(false)),
            online: Arc::default(),
            uploads: Arc::default(),
            created: Arc::default(),
            polls: Arc::default(),
            fail_first: Arc::default(),
            files: Arc::default(),
            batches: Arc::default(),
        }
    }

    /// The chat answer to a request body, in this API's format.
    fn answer(&self, body: &Value) -> Value {
        let prompt = FakeChat::prompt(body);
        let text = if is_probe(body) {
            "OK"
        } else if prompt.contains("lovely") {
            "positive"
        } else {
            "negative"
        };
        match self.api {
            Api::OpenAi => json!({
                "id": "x", "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt_tokens(body), "completion_tokens": 1}}),
            Api::Anthropic => json!({
                "id": "msg", "type": "message", "role": "assistant",
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                "usage": {"input_tokens": prompt_tokens(body), "output_tokens": 1}}),
        }
    }

    fn batch_json(&self, id: &str) -> Value {
        let batches = self.batches.lock().unwrap();
        let held = &batches[id];
        let n = held.requests.len();
        match (self.api, held.ended) {
            (Api::OpenAi, false) => json!({"id": id, "object": "batch", "status": "in_progress",
                "request_counts": {"total": n, "completed": 0, "failed": 0}}),
            (Api::OpenAi, true) => json!({"id": id, "object": "batch", "status": "completed",
                "output_file_id": format!("out-{id}"), "error_file_id": format!("err-{id}"),
                "request_counts": {"total": n, "completed": n, "failed": 0}}),
            (Api::Anthropic, ended) => json!({"id": id, "type": "message_batch",
                "processing_status": if ended { "ended" } else { "in_progress" },
                "request_counts": {"processing": if ended { 0 } else { n }, "succeeded": if ended { n } else { 0 },
                                   "errored": 0, "canceled": 0, "expired": 0}}),
        }
    }

    /// The results of an ended batch, as JSON lines: the answers, or (`errors`) the failed
    /// requests (OpenAI keeps them in a file of their own).
    fn results(&self, id: &str, errors: bool) -> String {
        let batches = self.batches.lock().unwrap();
        let fail_first = self.fail_first.load(Ordering::SeqCst);
        let lines: Vec<String> = batches[id]
            .requests
            .iter()
            .enumerate()
            .filter_map(|(n, (custom_id, body))| {
                let failed = fail_first && n == 0;
                let line = match (self.api, failed) {
                    (Api::OpenAi, false) => json!({"id": "r", "custom_id": custom_id, "error": null,
                        "response": {"status_code": 200, "request_id": "q", "body": self.answer(body)}}),
                    (Api::OpenAi, true) => json!({"id": "r", "custom_id": custom_id, "error": null,
                        "response": {"status_code": 500, "request_id": "q",
                                     "body": {"error": {"message": "server overloaded"}}}}),
                    (Api::Anthropic, false) => json!({"custom_id": custom_id,
                        "result": {"type": "succeeded", "message": self.answer(body)}}),
                    (Api::Anthropic, true) => json!({"custom_id": custom_id, "result": {"type": "errored",
                        "error": {"type": "error", "error": {"type": "api_error", "message": "server overloaded"}}}}),
                };
                let in_this_file = self.api == Api::Anthropic || failed == errors;
                in_this_file.then(|| line.to_string())
            })
            .collect();
        lines.join("\n") + "\n"
    }

    /// The JSONL file inside a multipart upload: its lines that are requests.
    fn uploaded_lines(body: &[u8]) -> Vec<u8> {
        let text = String::from_utf8_lossy(body);
        let lines: Vec<&str> = text
            .split('\n')
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| l.starts_with("{\"custom_id\""))
            .collect();
        lines.join("\n").into_bytes()
    }
}

impl Respond for FakeBatches {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path().to_string();
        let get = request.method.as_str() == "GET";
        let ok = |v: Value| ResponseTemplate::new(200).set_body_json(v);
        match (self.api, get, path.as_str()) {
            (Api::OpenAi, false, "/v1/chat/completions") | (Api::Anthropic, false, "/v1/messages") => {
                let body: Value = serde_json::from_slice(&request.body).unwrap();
                if !is_probe(&body) {
                    self.online.fetch_add(1, Ordering::SeqCst);
                }
                ok(self.answer(&body))
            }
            (Api::OpenAi, false, "/v1/files") => {
                let n = self.uploads.fetch_add(1, Ordering::SeqCst);
                let id = format!("file-{n}");
                self.files.lock().unwrap().insert(id.clone(), Self::uploaded_lines(&request.body));
                ok(json!({"id": id, "object": "file", "purpose": "batch"}))
            }
            (Api::OpenAi, false, "/v1/batches") | (Api::Anthropic, false, "/v1/messages/batches") => {
                let n = self.created.fetch_add(1, Ordering::SeqCst);
                let id = format!("batch_{n}");
                let body: Value = serde_json::from_slice(&request.body).unwrap();
                let entries: Vec<(String, Value)> = match self.api {
                    Api::OpenAi => {
                        assert_eq!(body["endpoint"], "/v1/chat/completions");
                        let file = &self.files.lock().unwrap()[body["input_file_id"].as_str().unwrap()];
                        String::from_utf8_lossy(file)
                            .lines()
                            .map(|l| {
                                let line: Value = serde_json::from_str(l).unwrap();
                                assert_eq!(line["url"], "/v1/chat/completions");
                                (line["custom_id"].as_str().unwrap().to_string(), line["body"].clone())
                            })
                            .collect()
                    }
                    Api::Anthropic => body["requests"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| (r["custom_id"].as_str().unwrap().to_string(), r["params"].clone()))
                        .collect(),
                };
                self.batches.lock().unwrap().insert(id.clone(), Held { requests: entries, ended: false });
                ok(self.batch_json(&id))
            }
            (_, true, p) => {
                if let Some(file) = p.strip_prefix("/v1/files/").and_then(|f| f.strip_suffix("/content")) {
                    let (kind, id) = file.split_once('-').unwrap();
                    return ResponseTemplate::new(200).set_body_string(self.results(id, kind == "err"));
                }
                let rest = p.strip_prefix("/v1/batches/").or_else(|| p.strip_prefix("/v1/messages/batches/"));
                let Some(rest) = rest else { return ResponseTemplate::new(404) };
                if let Some(id) = rest.strip_suffix("/results") {
                    return ResponseTemplate::new(200).set_body_string(self.results(id, false));
                }
                if !self.batches.lock().unwrap().contains_key(rest) {
                    return ResponseTemplate::new(404)
                        .set_body_json(json!({"error": {"message": "no such batch"}}));
                }
                self.polls.fetch_add(1, Ordering::SeqCst);
                if !self.hold.load(Ordering::SeqCst) {
                    self.batches.lock().unwrap().get_mut(rest).unwrap().ended = true;
                }
                ok(self.batch_json(rest))
            }
            _ => ResponseTemplate::new(404),
        }
    }
}

async fn start(fake: &FakeBatches) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any()).respond_with(fake.clone()).mount(&server).await;
    server
}

/// A configuration with one model `m` of the fake, through its batch API or not.
fn config(dir: &Path, server: &MockServer, api: Api, batch: bool) -> std::path::PathBuf {
    let (provider, base) = match api {
        Api::OpenAi => ("openai", format!("{}/v1", server.uri())),
        Api::Anthropic => ("anthropic", server.uri()),
    };
    let path = dir.join(format!("{provider}-{batch}.toml"));
    let text = format!(
        "[models.m]\nprovider = \"{provider}\"\nmodel = \"m\"\nbase_url = \"{base}\"\napi_key = \"k\"\n\
         batch = {batch}\nbatch_poll_s = 0.05\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn run_args(config: &Path, out: &str) -> Vec<String> {
    let mut args: Vec<String> =
        ["run", "-q", "--tasks", "T1,T4,R3", "--bootstrap", "200", "-m", "m", "--config"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    args.extend([config.display().to_string(), "--out".into(), out.into()]);
    args
}

fn multitrust(dir: &Path, args: &[String]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_multitrust"));
    command.current_dir(dir).args(args);
    command
}

fn read(dir: &Path, path: &str) -> Vec<u8> {
    std::fs::read(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn batch_results_equal_online_and_a_killed_run_resumes_without_resubmitting(api: Api) {
    let fake = FakeBatches::new(api);
    let server = start(&fake).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let online = config(dir, &server, api, false);
    let batched = config(dir, &server, api, true);

    let out = multitrust(dir, &run_args(&online, "online")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let asked = fake.online.swap(0, Ordering::SeqCst);
    assert!(asked > 100, "the online run asked {asked}");
    assert_eq!(fake.created.load(Ordering::SeqCst), 0);

    // The batch run, killed while its batch is still running.
    fake.hold.store(true, Ordering::SeqCst);
    let mut child = multitrust(dir, &run_args(&batched, "batched"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut waited = 0;
    while fake.polls.load(Ordering::SeqCst) < 2 {
        assert!(child.try_wait().unwrap().is_none(), "the run ended while its batch was running");
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
        assert!(waited < 1500, "the batch was never polled");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(fake.created.load(Ordering::SeqCst), 1, "one batch for every request the store lacked");
    let held: usize = fake.batches.lock().unwrap().values().map(|b| b.requests.len()).sum();
    assert_eq!(held, asked, "the batch holds every request the online run sent");

    // Run again: the recorded batch is polled, not submitted again; it finishes.
    fake.hold.store(false, Ordering::SeqCst);
    let out = multitrust(dir, &run_args(&batched, "batched")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(fake.created.load(Ordering::SeqCst), 1, "no second submission");
    if api == Api::OpenAi {
        assert_eq!(fake.uploads.load(Ordering::SeqCst), 1);
    }
    assert_eq!(fake.online.load(Ordering::SeqCst), 0, "nothing went the online way");
    assert_eq!(read(dir, "batched/summary.json"), read(dir, "online/summary.json"));
    assert_eq!(read(dir, "batched/samples.jsonl"), read(dir, "online/samples.jsonl"));

    // A third run finds every answer stored: nothing is submitted or polled.
    let polls = fake.polls.load(Ordering::SeqCst);
    let out = multitrust(dir, &run_args(&batched, "batched")).output().unwrap();
    assert!(out.status.success());
    assert_eq!((fake.created.load(Ordering::SeqCst), fake.polls.load(Ordering::SeqCst)), (1, polls));
}

#[tokio::test]
async fn openai_batch_equals_online_and_resumes_after_a_kill() {
    batch_results_equal_online_and_a_killed_run_resumes_without_resubmitting(Api::OpenAi).await;
}

#[tokio::test]
async fn anthropic_message_batches_equal_online_and_resume_after_a_kill() {
    batch_results_equal_online_and_a_killed_run_resumes_without_resubmitting(Api::Anthropic).await;
}

/// A request the batch answered with an error is unscorable with the provider's reason, kept
/// as an error in the store, and submitted again (alone) by the next run.
async fn a_failed_request_is_submitted_again_alone(api: Api) {
    let fake = FakeBatches::new(api);
    let server = start(&fake).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = multitrust(dir, &run_args(&config(dir, &server, api, false), "online")).output().unwrap();
    assert!(out.status.success());
    let batched = config(dir, &server, api, true);
    fake.fail_first.store(true, Ordering::SeqCst);
    let out = multitrust(dir, &run_args(&batched, "batched")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let samples = String::from_utf8(read(dir, "batched/samples.jsonl")).unwrap();
    let failed: Vec<&str> = samples.lines().filter(|l| l.contains("server overloaded")).collect();
    assert_eq!(failed.len(), 1, "one sample carries the provider's error");
    assert!(failed[0].contains("batch_0"), "the reason names the batch: {}", failed[0]);
    let store = rusqlite::Connection::open(dir.join("batched/store.sqlite")).unwrap();
    let errors: i64 =
        store.query_row("SELECT COUNT(*) FROM calls WHERE reply IS NULL", [], |r| r.get(0)).unwrap();
    assert_eq!(errors, 1);

    fake.fail_first.store(false, Ordering::SeqCst);
    let out = multitrust(dir, &run_args(&batched, "batched")).output().unwrap();
    assert!(out.status.success());
    let batches = fake.batches.lock().unwrap();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches["batch_1"].requests.len(), 1, "only the failed request went again");
    drop(batches);
    assert_eq!(read(dir, "batched/samples.jsonl"), read(dir, "online/samples.jsonl"));
}

#[tokio::test]
async fn openai_batch_error_lines_are_sent_again() {
    a_failed_request_is_submitted_again_alone(Api::OpenAi).await;
}

#[tokio::test]
async fn anthropic_errored_results_are_sent_again() {
    a_failed_request_is_submitted_again_alone(Api::Anthropic).await;
}

/// `batch_dir`: the batch goes to a file in OpenAI Batch lines, as vLLM's batch runner reads
/// them, and the run picks up the runner's output file; no server is involved (the model's
/// URL points nowhere).
#[tokio::test]
async fn batch_files_for_the_vllm_runner_give_the_online_results() {
    let fake = FakeBatches::new(Api::OpenAi);
    let server = start(&fake).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out =
        multitrust(dir, &run_args(&config(dir, &server, Api::OpenAi, false), "online")).output().unwrap();
    assert!(out.status.success());
    let asked = fake.online.load(Ordering::SeqCst);
    // The same identity (base URL) as the online run, but nothing listens there any more.
    let base = format!("{}/v1", server.uri());
    drop(server);
    let files = dir.join("vllm");
    let config = dir.join("files.toml");
    std::fs::write(
        &config,
        format!(
            "[models.m]\nprovider = \"openai\"\nmodel = \"m\"\nbase_url = \"{base}\"\napi_key = \"k\"\n\
             batch = true\nbatch_poll_s = 0.05\nbatch_dir = \"{}\"\n",
            files.display()
        ),
    )
    .unwrap();
    let mut child = multitrust(dir, &run_args(&config, "files"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = loop {
        let found = std::fs::read_dir(&files).into_iter().flatten().flatten().map(|e| e.path()).find(|p| {
            p.extension().is_some_and(|e| e == "jsonl") && !p.to_string_lossy().ends_with(".results.jsonl")
        });
        if let Some(path) = found {
            break path;
        }
        assert!(child.try_wait().unwrap().is_none(), "the run ended before writing its batch");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // What vLLM's runner writes: one result line per request line.
    let text = std::fs::read_to_string(&input).unwrap();
    let results: Vec<String> = text
        .lines()
        .map(|l| {
            let line: Value = serde_json::from_str(l).unwrap();
            assert_eq!((line["method"].as_str(), line["url"].as_str()), (Some("POST"), Some("/v1/chat/completions")));
            json!({"id": "vllm-1", "custom_id": line["custom_id"], "error": null,
                   "response": {"status_code": 200, "request_id": "vllm-batch-1", "body": fake.answer(&line["body"])}})
            .to_string()
        })
        .collect();
    assert_eq!(results.len(), asked);
    let output = input.with_extension("results.jsonl");
    std::fs::write(&output, results.join("\n") + "\n").unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("vllm.entrypoints.openai.run_batch")
            && stderr.contains(&output.display().to_string()),
        "{stderr}"
    );
    assert_eq!(read(dir, "files/samples.jsonl"), read(dir, "online/samples.jsonl"));
}
