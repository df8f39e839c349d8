//! Reading a run directory back: `run.json` and `summary.json` as JSON, `samples.jsonl` as
//! typed lines, and the samples, answers and per-step values they hold.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use super::PipelineError;
use super::record::{
    Answer, Answered, Health, Manifest, ModelInfo, ModelRecord, RunRecord, SplitRecord, TaskRecord,
};
use crate::backends::{ChatResponse, Finish, Usage};
use crate::core::{Unscorable, UnscorableKind};
use crate::protocol::aggregate::ModelSummary;
use crate::protocol::scoring::chain::{SampleScore, SplitScores};
use crate::protocol::scoring::judge::JudgeTrace;
use crate::protocol::scoring::{Chain, Value};
use crate::protocol::tasks::Task;
use crate::sample::{ImageFile, ImageRef, Message, Sample, Target};

/// An image as `samples.jsonl` describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageLine {
    /// The path shown to people (relative to the data folder).
    pub path: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// Its MIME type.
    pub mime: String,
}

/// One line of `samples.jsonl`: one sample of one model, what was asked, the answer, every
/// evaluator's value and the outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleLine {
    /// The model's id.
    pub model: String,
    /// Whether the model is a reference baseline.
    #[serde(default)]
    pub baseline: bool,
    /// Task id.
    pub task: String,
    /// Split.
    pub split: String,
    /// Sample id.
    pub id: String,
    /// The bootstrap's resampling group.
    #[serde(default)]
    pub group: String,
    /// The prompt.
    #[serde(default)]
    pub text: String,
    /// The image, if any.
    #[serde(default)]
    pub image: Option<ImageLine>,
    /// The target.
    #[serde(default)]
    pub target: Target,
    /// The extra fields (`null` when none).
    #[serde(default)]
    pub extra: Json,
    /// The request fingerprint (its answer is in the store under it).
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// The model's answer, when there is one.
    #[serde(default)]
    pub response: Option<String>,
    /// Why the model stopped.
    #[serde(default)]
    pub finish: Option<Finish>,
    /// Token usage, when reported.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// The model's reasoning, where it returned any (the answer above is without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// For a mitigated model: the calls and tokens the answer took and what each mitigation
    /// did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<crate::mitigations::Trace>,
    /// `scored` or `unscorable`.
    pub outcome: String,
    /// The kind of the failure, when unscorable.
    #[serde(default)]
    pub kind: Option<UnscorableKind>,
    /// Why unscorable.
    #[serde(default)]
    pub reason: Option<String>,
    /// Every evaluator's value, by chain prefix (`null` where a step has no value).
    #[serde(default)]
    pub values: Map<String, Json>,
    /// The judges that scored the sample.
    #[serde(default)]
    pub judges: Vec<JudgeTrace>,
}

impl SampleLine {
    /// The line's failure, if it is unscorable.
    pub fn failure(&self) -> Option<Unscorable> {
        if self.outcome != "unscorable" {
            return None;
        }
        let kind = self.kind.unwrap_or(UnscorableKind::Data);
        Some(Unscorable::new(kind, self.reason.clone().unwrap_or_else(|| "unscorable in the run".into())))
    }

    /// The sample the line describes (one user message: the text, and the image if any).
    pub fn sample(&self) -> Sample {
        let image = self.image.as_ref().map(|im| {
            ImageRef::new(ImageFile {
                path: im.path.clone().into(),
                display: im.path.clone(),
                sha256: im.sha256.clone(),
                mime: static_mime(&im.mime),
            })
        });
        Sample {
            id: self.id.clone(),
            task: self.task.as_str().into(),
            split: self.split.as_str().into(),
            messages: vec![Message::user(self.text.clone(), image)],
            target: self.target.clone(),
            extra: self.extra.as_object().cloned().unwrap_or_default(),
            group: self.group.clone(),
            problem: None,
        }
    }

    /// The model's answer the line records, or why there is none.
    pub fn answer(&self) -> Answer {
        match &self.response {
            Some(text) => Ok(Answered {
                response: ChatResponse {
                    text: text.clone(),
                    reasoning: self.reasoning.clone(),
                    finish: self.finish.clone().unwrap_or(Finish::Stop),
                    finish_raw: None,
                    usage: self.usage,
                    raw: Json::Null,
                },
                fingerprint: self.fingerprint.clone(),
                trace: self.trace.clone(),
            }),
            None => Err(self
                .failure()
                .unwrap_or_else(|| Unscorable::new(UnscorableKind::Data, "no answer in the run directory"))),
        }
    }
}

/// Rebuilds a run record from a finished run directory: the manifest from `run.json`, the
/// scoreboards from `summary.json`, the samples, answers and every evaluator's value from
/// `samples.jsonl`. Nothing is scored again.
pub fn load_record(dir: &Path) -> Result<RunRecord, PipelineError> {
    let manifest: Manifest = read_json(&dir.join("run.json"))?;
    let summary: Json = read_json(&dir.join("summary.json"))?;
    let tasks = crate::protocol::tasks::select(&manifest.tasks.join(","))
        .map_err(|e| PipelineError::Input(format!("{}: {e}", dir.join("run.json").display())))?;
    let lines = read_samples(&dir.join("samples.jsonl"))?;
    let mut models = Vec::new();
    for entry in summary["models"].as_array().into_iter().flatten() {
        let summary: ModelSummary = serde_json::from_value(entry.clone()).map_err(|e| {
            PipelineError::Input(format!("{}: a model entry: {e}", dir.join("summary.json").display()))
        })?;
        let health: Health = serde_json::from_value(entry["health"].clone()).unwrap_or_default();
        let info = manifest.models.iter().find(|m| m.name == summary.name).cloned().unwrap_or(ModelInfo {
            name: summary.name.clone(),
            label: summary.label.clone(),
            provider: String::new(),
            model: String::new(),
            endpoint: None,
            baseline: summary.baseline,
            params: BTreeMap::new(),
            reasoning: None,
            think_tags: None,
            mitigation: None,
            reference: None,
        });
        let task_records = task_records(&lines, &summary.name, &tasks);
        models.push(ModelRecord { info, tasks: task_records, summary, health });
    }
    Ok(RunRecord { dir: dir.to_path_buf(), manifest, tasks, models })
}

/// Reads a JSON file; the error names it.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, PipelineError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        PipelineError::Input(format!(
            "{}: cannot read: {e} (is this a finished run directory?)",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| PipelineError::Input(format!("{}: {e}", path.display())))
}

/// Reads `samples.jsonl`; an error names the line.
pub fn read_samples(path: &Path) -> Result<Vec<SampleLine>, PipelineError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        PipelineError::Input(format!(
            "{}: cannot read: {e} (the run did not finish a model; run it again first)",
            path.display()
        ))
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str(line)
            .map_err(|e| PipelineError::Input(format!("{}: line {}: {e}", path.display(), i + 1)))?;
        out.push(parsed);
    }
    Ok(out)
}

/// The models of `samples.jsonl`, in the order they first appear.
pub fn models_of(lines: &[SampleLine]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in lines {
        if !out.iter().any(|m| m == &line.model) {
            out.push(line.model.clone());
        }
    }
    out
}

/// One model's lines grouped per task and split (in the tasks' split order): the samples and
/// answers, for scoring again.
pub fn samples_and_answers(
    lines: &[SampleLine],
    model: &str,
    task: &dyn Task,
) -> Vec<(String, Vec<Sample>, Vec<Answer>)> {
    let id = task.info().id;
    let mut by_split: BTreeMap<&str, (Vec<Sample>, Vec<Answer>)> = BTreeMap::new();
    for line in lines.iter().filter(|l| l.model == model && l.task == id) {
        let entry = by_split.entry(line.split.as_str()).or_default();
        entry.0.push(line.sample());
        entry.1.push(line.answer());
    }
    task.info()
        .splits
        .iter()
        .filter_map(|split| by_split.remove(split).map(|(s, a)| (split.to_string(), s, a)))
        .collect()
}

/// One model's task records rebuilt from its lines: samples, answers, and every step's value
/// as the run computed it.
pub fn task_records(lines: &[SampleLine], model: &str, tasks: &[Box<dyn Task>]) -> Vec<TaskRecord> {
    tasks
        .iter()
        .map(|task| {
            let splits = samples_and_answers(lines, model, task.as_ref())
                .into_iter()
                .map(|(split, samples, answers)| {
                    let mine: Vec<&SampleLine> = lines
                        .iter()
                        .filter(|l| l.model == model && l.task == task.info().id && l.split == split)
                        .collect();
                    let scores = rebuild_scores(task.info().id, &split, &task.chains(&split), &mine);
                    SplitRecord { samples: samples.into(), answers, scores, reasoning: None }
                })
                .collect();
            TaskRecord { id: task.info().id.to_string(), splits }
        })
        .collect()
}

/// A split's scores from its lines: each step's value by chain prefix.
fn rebuild_scores(task: &str, split: &str, chains: &[Chain], lines: &[&SampleLine]) -> SplitScores {
    let specs: Vec<_> = chains.iter().map(Chain::spec).collect();
    let samples = lines
        .iter()
        .map(|l| {
            let missing = || l.failure().unwrap_or_else(|| Unscorable::unconfigured("not scored in the run"));
            let steps = specs
                .iter()
                .map(|spec| {
                    spec.prefixes
                        .iter()
                        .map(|p| l.values.get(p).and_then(value_of).ok_or_else(missing))
                        .collect()
                })
                .collect();
            let sample = l.sample();
            SampleScore {
                id: l.id.clone(),
                group: l.group.clone(),
                subset: sample.subset().map(str::to_string),
                target: l.target.clone(),
                content: sample.log_content(),
                extra: l.extra.clone(),
                pred: l.response.clone(),
                error: if l.response.is_none() { Some(missing()) } else { None },
                steps,
                judges: l.judges.clone(),
            }
        })
        .collect();
    SplitScores { task: task.to_string(), split: split.to_string(), chains: specs, samples }
}

fn value_of(v: &Json) -> Option<Value> {
    match v {
        Json::Number(n) if n.is_i64() => n.as_i64().map(Value::Int),
        Json::Number(n) => n.as_f64().map(Value::Float),
        Json::String(s) => Some(Value::Text(s.clone())),
        _ => None,
    }
}

/// The MIME type as a static string (for images read back from files that name it).
pub fn static_mime(mime: &str) -> &'static str {
    match mime {
        "image/png" => "image/png",
        "image/jpeg" => "image/jpeg",
        "image/webp" => "image/webp",
        "image/gif" => "image/gif",
        "image/bmp" => "image/bmp",
        _ => "application/octet-stream",
    }
}
