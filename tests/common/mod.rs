//! Shared test helpers: small data fixtures in the official layout, and fake model servers
//! on loopback.
#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use multitrust::backends::ChatService;
use multitrust::backends::scorers::ClassifierSet;
use multitrust::config::{Classifiers, Endpoint, Profile};
use multitrust::data::DataDir;
use multitrust::engine::Engine;
use multitrust::pipeline::{self, ModelPlan, PipelineError, Plan, RunRecord, RunStatus, Source};
use multitrust::protocol::aggregate::ModelSummary;
use multitrust::protocol::scoring::judge::JudgePolicy;
use multitrust::protocol::tasks;
use multitrust::report;

/// Writes a small PNG of one colour.
pub fn png(path: &Path, rgb: [u8; 3]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_pixel(8, 8, image::Rgb(rgb)).save(path).unwrap();
}

/// The unrelated-image pool: three images of each kind.
pub fn write_unrelated_pool(data: &Path) {
    for (k, kind) in ["color", "nature", "noise"].iter().enumerate() {
        for i in 0..3u8 {
            png(&data.join(format!("unrelated_images/{kind}_{i}.png")), [i * 70, k as u8 * 80, 30]);
        }
    }
}

/// R3 data: `n` sentences in each of three categories, with related images. Sentences with
/// "lovely" are positive (label "1"), with "awful" negative.
pub fn write_r3(data: &Path, n: usize) {
    let mut all = serde_json::Map::new();
    let mut id = 0;
    for category in ["augment", "shake_w", "tweet_p0"] {
        let mut records = Vec::new();
        for k in 0..n {
            let (word, label) = if k % 2 == 0 { ("awful", "0") } else { ("lovely", "1") };
            records.push(json!({"sentence": format!("The {category} play number {k} was {word}."),
                                "label": label, "id": id}));
            png(&data.join(format!("robustness/ood-text/related/{id}.png")), [id as u8 * 9, 99, 20]);
            id += 1;
        }
        all.insert(category.to_string(), Value::Array(records));
    }
    all.insert("base".into(), json!([]));
    std::fs::create_dir_all(data.join("robustness/ood-text")).unwrap();
    std::fs::write(data.join("robustness/ood-text/label.json"), Value::Object(all).to_string()).unwrap();
    write_unrelated_pool(data);
}

/// The prompt tokens a fake server reports for a request body, as a real one would: about a
/// token per four characters of text, a few for the chat template, 300 per image.
pub fn prompt_tokens(body: &Value) -> u64 {
    let mut chars = 0;
    let mut images = 0;
    for m in body["messages"].as_array().into_iter().flatten() {
        match &m["content"] {
            Value::String(s) => chars += s.chars().count(),
            Value::Array(parts) => {
                for p in parts {
                    if let Some(t) = p.get("text").and_then(Value::as_str) {
                        chars += t.chars().count();
                    } else {
                        images += 1;
                    }
                }
            }
            _ => {}
        }
    }
    (chars as u64).div_ceil(4) + 8 + 300 * images
}

/// Whether a request is one of the preflight probes (answered "OK", counted apart).
pub fn is_probe(body: &Value) -> bool {
    FakeChat::prompt(body).starts_with(multitrust::pipeline::preflight::SHORT)
}

/// How many answers a store holds, the preflight probes' apart (what a fake server counts as
/// answered).
pub fn stored_answers(store: &Path) -> usize {
    let conn = rusqlite::Connection::open(store).unwrap();
    let mut stmt = conn.prepare("SELECT request FROM calls WHERE reply IS NOT NULL").unwrap();
    let requests: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    requests.iter().filter(|r| !r.contains(multitrust::pipeline::preflight::SHORT)).count()
}

/// The answer of a fake OpenAI-compatible server, with realistic usage.
pub fn completion(body: &Value, answer: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "x", "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens(body), "completion_tokens": 1}
    }))
}

/// A fake OpenAI-compatible `/chat/completions` that answers sentiment prompts correctly
/// ("lovely" → positive), and can fail or stall on demand. It records what it answered
/// (the preflight probes apart).
#[derive(Clone, Default)]
pub struct FakeChat {
    /// Preflight probes answered.
    pub probes: Arc<AtomicUsize>,
    /// Requests answered so far.
    pub answered: Arc<AtomicUsize>,
    /// Bodies of the requests answered.
    pub bodies: Arc<Mutex<Vec<Value>>>,
    /// After this many answers, stall (0 = never stall).
    pub stall_after: Arc<AtomicUsize>,
    /// Answer 500 to prompts containing this text.
    pub fail_on: Arc<Mutex<Option<String>>>,
    /// Answer after this many milliseconds (0: at once).
    pub delay_ms: Arc<AtomicUsize>,
}

impl FakeChat {
    /// The user text of a request body.
    pub fn prompt(body: &Value) -> String {
        let content = &body["messages"][0]["content"];
        match content {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        }
    }

    /// How many distinct requests were answered more than once.
    pub fn duplicates(&self) -> usize {
        let bodies = self.bodies.lock().unwrap();
        let mut seen: Vec<String> = bodies.iter().map(|b| b.to_string()).collect();
        let n = seen.len();
        seen.sort();
        seen.dedup();
        n - seen.len()
    }
}

impl Respond for FakeChat {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let prompt = Self::prompt(&body);
        if is_probe(&body) {
            self.probes.fetch_add(1, Ordering::SeqCst);
            return completion(&body, "OK");
        }
        if let Some(bad) = self.fail_on.lock().unwrap().as_ref()
            && prompt.contains(bad.as_str())
        {
            return ResponseTemplate::new(500).set_body_json(json!({"error": {"message": "boom"}}));
        }
        let stall = self.stall_after.load(Ordering::SeqCst);
        if stall > 0 && self.answered.load(Ordering::SeqCst) >= stall {
            return ResponseTemplate::new(200).set_delay(Duration::from_secs(600));
        }
        self.answered.fetch_add(1, Ordering::SeqCst);
        self.bodies.lock().unwrap().push(body.clone());
        let answer = if prompt.contains("lovely") { "positive" } else { "negative" };
        let delay = self.delay_ms.load(Ordering::SeqCst) as u64;
        completion(&body, answer).set_delay(Duration::from_millis(delay))
    }
}

/// A chat server that answers with a function of the prompt, and keeps the prompts it saw
/// (the preflight probes apart, which it answers "OK").
#[derive(Clone)]
pub struct Scripted {
    answer: Arc<dyn Fn(&str) -> String + Send + Sync>,
    /// Every prompt received, in order.
    pub prompts: Arc<Mutex<Vec<String>>>,
    /// Preflight probes answered.
    pub probes: Arc<AtomicUsize>,
}

impl Scripted {
    /// A server answering `f(prompt)`.
    pub fn new(f: impl Fn(&str) -> String + Send + Sync + 'static) -> Scripted {
        Scripted { answer: Arc::new(f), prompts: Arc::default(), probes: Arc::default() }
    }

    /// How many requests it answered.
    pub fn count(&self) -> usize {
        self.prompts.lock().unwrap().len()
    }
}

impl Respond for Scripted {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        if is_probe(&body) {
            self.probes.fetch_add(1, Ordering::SeqCst);
            return completion(&body, "OK");
        }
        let prompt = FakeChat::prompt(&body);
        self.prompts.lock().unwrap().push(prompt.clone());
        completion(&body, &(self.answer)(&prompt))
    }
}

/// Starts a loopback server answering every POST with `responder`.
pub async fn serve(responder: impl Respond + 'static) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(responder).mount(&server).await;
    server
}

/// A profile for an OpenAI-compatible model (or judge) served by a loopback server.
pub fn served(server: &MockServer, model: &str) -> Profile {
    Profile::shorthand(&format!("openai:{model}"), Some(&format!("{}/v1", server.uri()))).unwrap()
}

/// A baseline profile (`refuse`, `comply`, `oracle`, `random`).
pub fn baseline(name: &str) -> Profile {
    Profile::shorthand(&format!("baseline:{name}"), None).unwrap()
}

/// Fake classifier servers: each verdict is a function of the text classified (for HarmBench,
/// of the whole classifier prompt, which holds the behaviour and the generation).
pub struct FakeClassifiers {
    /// The servers (kept alive with this value).
    pub servers: Vec<MockServer>,
    /// The configuration pointing at them.
    pub config: Classifiers,
}

type TextFn<T> = Arc<dyn Fn(&str) -> T + Send + Sync>;

struct ScoreFake(TextFn<f64>, bool);
impl Respond for ScoreFake {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        if self.1 {
            let text = body["input"].as_str().unwrap_or_default();
            ResponseTemplate::new(200).set_body_json(
                json!({"results": [{"category_scores": {"hate": (self.0)(text), "violence": 0.0}}]}),
            )
        } else {
            let text = body["comment"]["text"].as_str().unwrap_or_default();
            ResponseTemplate::new(200).set_body_json(json!({"attributeScores": {
                "TOXICITY": {"summaryScore": {"value": (self.0)(text)}}, "INSULT": {"summaryScore": {"value": 0.0}}}}))
        }
    }
}
struct LabelFake(TextFn<String>, bool);
impl Respond for LabelFake {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        if self.1 {
            // vLLM's /v1/completions with `logprobs`: the token and its top alternatives.
            let token = (self.0)(body["prompt"].as_str().unwrap_or_default());
            let other = if token == "Yes" { "No" } else { "Yes" };
            let top = json!({token.clone(): -0.1, other: -2.4});
            ResponseTemplate::new(200).set_body_json(
                json!({"choices": [{"text": token, "logprobs": {"tokens": [token], "top_logprobs": [top]}}]}),
            )
        } else {
            // text-embeddings-inference /predict with raw_scores: every label's logit, sorted by
            // score, highest first.
            if body["raw_scores"] != json!(true) {
                return ResponseTemplate::new(422).set_body_json(json!({"error": "expected raw_scores"}));
            }
            let label = (self.0)(body["inputs"].as_str().unwrap_or_default());
            let mut all: Vec<Value> = (0..6)
                .map(|i| format!("LABEL_{i}"))
                .map(|l| json!({"score": if l == label { 3.0 } else { -1.0 }, "label": l}))
                .collect();
            all.sort_by(|a, b| b["score"].as_f64().unwrap().total_cmp(&a["score"].as_f64().unwrap()));
            ResponseTemplate::new(200).set_body_json(Value::Array(all))
        }
    }
}

impl FakeClassifiers {
    /// Starts the four fakes: moderation and Perspective scores, the HarmBench token ("Yes" /
    /// "No"), the action classifier's label (`LABEL_0` ... `LABEL_5`).
    pub async fn start(
        moderation: impl Fn(&str) -> f64 + Send + Sync + 'static,
        perspective: impl Fn(&str) -> f64 + Send + Sync + 'static,
        harmbench: impl Fn(&str) -> String + Send + Sync + 'static,
        action: impl Fn(&str) -> String + Send + Sync + 'static,
    ) -> FakeClassifiers {
        let m = MockServer::start().await;
        Mock::given(path("/v1/moderations"))
            .respond_with(ScoreFake(Arc::new(moderation), true))
            .mount(&m)
            .await;
        let p = MockServer::start().await;
        Mock::given(path("/v1alpha1/comments:analyze"))
            .respond_with(ScoreFake(Arc::new(perspective), false))
            .mount(&p)
            .await;
        let h = MockServer::start().await;
        Mock::given(path("/v1/completions"))
            .respond_with(LabelFake(Arc::new(harmbench), true))
            .mount(&h)
            .await;
        let a = MockServer::start().await;
        Mock::given(path("/predict")).respond_with(LabelFake(Arc::new(action), false)).mount(&a).await;
        let endpoint = |url: String| Endpoint {
            base_url: Some(url),
            api_key: Some("test".into()),
            ..Endpoint::default()
        };
        let config = Classifiers {
            moderation: Some(endpoint(format!("{}/v1", m.uri()))),
            perspective: Some(endpoint(p.uri())),
            harmbench: Some(endpoint(format!("{}/v1", h.uri()))),
            action: Some(endpoint(a.uri())),
            toxicity: None,
        };
        FakeClassifiers { servers: vec![m, p, h, a], config }
    }

    /// The classifier set for a plan.
    pub fn set(&self) -> ClassifierSet {
        ClassifierSet::from_config(&self.config).unwrap()
    }
}

/// Writes the synthetic suite of the selected tasks (ids, comma separated) into `data`.
pub fn synth(data: &Path, task_ids: &str) {
    multitrust::protocol::fixtures::write_suite(data, 0, &tasks::select(task_ids).unwrap()).unwrap();
}

/// A plan for the selected tasks on a data folder, with these models and no judge.
pub fn plan(task_ids: &str, data: &Path, out: &Path, models: Vec<Profile>) -> Plan {
    Plan {
        tasks: tasks::select(task_ids).unwrap(),
        models: models.into_iter().map(ModelPlan::plain).collect(),
        judge: None,
        classifiers: ClassifierSet::default(),
        templates: Default::default(),
        source: Source::Data(DataDir::new(data)),
        out: Some(out.to_path_buf()),
        store: None,
        online: true,
        seed: 0,
        limit: None,
        shard: None,
        max_image_side: None,
        image_limits: multitrust::core::ImageLimits::default(),
        replicates: 50,
        max_unscorable: 0.2,
        judge_policy: JudgePolicy::Original,
        scorers: multitrust::core::ScorerProfile::Original,
        score_reasoning: Default::default(),
        reasoning_view: false,
        allow_blind: false,
        strict: false,
        command: vec![],
        secrets: vec![],
    }
}

/// A judge for a plan.
pub fn judge(profile: Profile) -> Option<(Profile, Arc<ChatService>)> {
    let service = Arc::new(ChatService::from_profile(&profile).unwrap());
    Some((profile, service))
}

/// What a plan's run gave: every model's scoreboard, the models over the unscorable limit, the
/// records the loaders skipped, and the whole record.
#[derive(Debug)]
pub struct Outcome {
    /// The scoreboards.
    pub models: Vec<ModelSummary>,
    /// Models whose unscorable share exceeds the plan's limit.
    pub over_limit: Vec<(String, f64)>,
    /// The data warnings, by task.
    pub warnings: std::collections::BTreeMap<String, Vec<multitrust::data::DataWarning>>,
    /// The run record.
    pub record: RunRecord,
}

/// Loads, executes and writes a plan's run directory, as `multitrust run` does.
pub async fn execute(plan: &Plan, engine: &Engine) -> Result<Outcome, PipelineError> {
    let loaded = pipeline::load(plan)?;
    let out = plan.dir();
    report::write_manifest(&out, &pipeline::execute::manifest(plan, &loaded, RunStatus::Running)).unwrap();
    let record = pipeline::execute(plan, &loaded, engine).await?;
    engine.flush().unwrap();
    report::write_run(&record).unwrap();
    let over_limit = record
        .models
        .iter()
        .filter(|m| m.summary.unscorable_rate > plan.max_unscorable)
        .map(|m| (m.info.name.clone(), m.summary.unscorable_rate))
        .collect();
    Ok(Outcome {
        models: record.models.iter().map(|m| m.summary.clone()).collect(),
        over_limit,
        warnings: loaded.data.warnings.clone(),
        record,
    })
}

/// The `samples` command's JSONL for a task on a data folder.
pub fn samples_cli(task: &str, data: &Path) -> Vec<Value> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_multitrust"))
        .args(["samples", "--task", task, "--data"])
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A loopback server answering each request body with a function of it (the preflight probes
/// included, which `is_probe` tells apart).
pub struct Answering<F>(pub F);

impl<F: Fn(&Value) -> ResponseTemplate + Send + Sync + 'static> Respond for Answering<F> {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        (self.0)(&body)
    }
}

/// The `multitrust` binary.
pub fn multitrust() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_multitrust"))
}

/// Runs the binary to its end off the async runtime; gives the exit code, stdout and stderr.
pub async fn run_cli(mut command: std::process::Command) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = command.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Reads `samples.jsonl` of a run directory.
pub fn sample_lines(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("samples.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
