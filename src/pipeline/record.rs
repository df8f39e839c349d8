//! The run record: everything a run knows, in memory. The executor builds it; the reports
//! render it without reading files back; `multitrust report` rebuilds it from a run directory
//! (`run.json`, `summary.json`, `samples.jsonl`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::backends::ChatResponse;
use crate::core::{Identity, ScorerProfile, Unscorable};
use crate::data::DataWarning;
use crate::mitigations::Trace;
use crate::protocol::aggregate::ModelSummary;
use crate::protocol::reasoning::ReasoningScoring;
use crate::protocol::scoring::SplitScores;
use crate::protocol::scoring::judge::JudgePolicy;
use crate::protocol::tasks::Task;
use crate::sample::Sample;

/// One model's answer to one sample: the response and the fingerprint of its request (none for
/// a baseline or an answer read from a log), or why there is none.
pub type Answer = Result<Answered, Unscorable>;

/// A model's answer as a run keeps it.
#[derive(Debug, Clone)]
pub struct Answered {
    /// The response (without the provider's raw body, which the store keeps).
    pub response: ChatResponse,
    /// The request fingerprint, when the answer went through the engine.
    pub fingerprint: Option<String>,
    /// What answering took (calls, tokens, what each mitigation did), when it was asked in
    /// this run or recorded by it.
    pub trace: Option<Trace>,
}

/// How far a run got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Loading, asking or scoring; or killed while doing so.
    Running,
    /// Stopped by Ctrl-C; running the same command again continues.
    Interrupted,
    /// Finished, but some requested split could not be loaded (its task's score is missing,
    /// with the loader's error as the reason).
    Incomplete,
    /// Stopped by an error (nothing loaded, an endpoint down); the cause is in `error`.
    Failed,
    /// Finished: every requested split loaded and every output written.
    Complete,
}

impl RunStatus {
    /// The status as written in `run.json`.
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Incomplete => "incomplete",
            RunStatus::Failed => "failed",
            RunStatus::Complete => "complete",
        }
    }
}

/// A model as a run describes it (never its key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The model's unique id in the run: the profile name or `PROVIDER:MODEL` as given.
    pub name: String,
    /// The name of its result folder: the id made safe for a path, with a short hash of the id
    /// when characters had to be replaced, so that two ids never share a folder.
    #[serde(default)]
    pub label: String,
    /// The API spoken.
    pub provider: String,
    /// The provider's model name.
    pub model: String,
    /// The endpoint (none for a baseline).
    pub endpoint: Option<String>,
    /// Whether it is a reference baseline.
    pub baseline: bool,
    /// Extra body parameters, part of every fingerprint.
    #[serde(default)]
    pub params: BTreeMap<String, Json>,
    /// How it was asked to reason, when its profile says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<crate::config::Reasoning>,
    /// The think tags its answers were split at, when not the default `<think>`, `</think>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think_tags: Option<(String, String)>,
    /// The mitigation stack it runs under (`safety-prompt`, `jpeg:q=75+ecso`), if any: the
    /// model is then `PLAIN+STACK`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mitigation: Option<String>,
    /// The model its trade-off is measured against: the plain model for a mitigated one, the
    /// `--reference` model for a variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// Where the prompt texts of one template came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextOrigin {
    /// Byte for byte the original toolbox's text (checked by its SHA-256).
    Original,
    /// Our own wording (the default where the original text is not shipped).
    Ours,
    /// A text from the configuration that is neither.
    Custom,
}

/// One template a task's scorers use, with its hash and origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateUse {
    /// SHA-256 of the text used.
    pub sha256: String,
    /// Where it came from.
    pub origin: TextOrigin,
}

/// The prompt texts one task's scorers used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskTexts {
    /// `original` when every template is the original's, `ours` or `custom` otherwise, `none`
    /// when the task uses no judge or classifier template.
    pub texts: String,
    /// Each template by name.
    pub templates: BTreeMap<String, TemplateUse>,
}

/// How one split loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitLoad {
    /// Samples loaded (after `--limit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<usize>,
    /// The loader's error, when the split could not be loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The data a run read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DataInfo {
    /// The data folder (or the run directory or log that was scored again).
    pub path: String,
    /// Whether it is the synthetic suite.
    pub synthetic: bool,
    /// Per task, the SHA-256 of each data file it reads.
    #[serde(default)]
    pub files_sha256: BTreeMap<String, BTreeMap<String, Option<String>>>,
    /// Per task and split, how it loaded.
    #[serde(default)]
    pub splits: BTreeMap<String, BTreeMap<String, SplitLoad>>,
    /// Per task, the records its loaders skipped, the files they ignored and the categories
    /// they did not know (tasks without any are left out).
    #[serde(default)]
    pub warnings: BTreeMap<String, Vec<DataWarning>>,
}

/// Whether a run's scores can be placed beside the published leaderboard, and why not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Comparability {
    /// True when the run used the benchmark's data, all samples, the original texts and the
    /// original scorers.
    pub comparable: bool,
    /// Why not, one reason per line.
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// `run.json`: what was run, on what, how, and how far it got.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// multitrust's version.
    pub multitrust_version: String,
    /// How far the run got.
    pub status: RunStatus,
    /// The error that stopped the run, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When this file was written (Unix seconds).
    pub written_at_unix: u64,
    /// The command line.
    pub command: Vec<String>,
    /// The seed of every random choice.
    pub seed: u64,
    /// At most this many samples per split, if limited.
    pub limit: Option<usize>,
    /// The part of every split this run evaluated, if it is one shard of several
    /// (`multitrust merge` combines the shards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// The image downscaling limit, if any.
    pub max_image_side: Option<u32>,
    /// Bootstrap replicates.
    pub bootstrap_replicates: usize,
    /// How off-form judge answers were scored.
    #[serde(default)]
    pub judge_policy: JudgePolicy,
    /// The scorer profile (absent in runs made before profiles existed: `original`).
    #[serde(default)]
    pub scorers: Option<ScorerProfile>,
    /// Who answered each kind of judge and classifier step the tasks have (`judge`,
    /// `perspective`, `action`, ...).
    #[serde(default)]
    pub scored_by: BTreeMap<String, String>,
    /// The models evaluated.
    pub models: Vec<ModelInfo>,
    /// The judge.
    pub judge: Option<ModelInfo>,
    /// The classifier services.
    #[serde(default)]
    pub classifiers: Vec<Identity>,
    /// Per task, the prompt texts its judges and classifiers used.
    #[serde(default)]
    pub texts: BTreeMap<String, TaskTexts>,
    /// The response store.
    pub store: Option<String>,
    /// The data read.
    pub data: DataInfo,
    /// The tasks, in order.
    pub tasks: Vec<String>,
    /// Whether the scores can be compared with the published ones.
    #[serde(default)]
    pub comparable: Comparability,
    /// What the evaluators saw of reasoning models' answers (`answer` or `inline`).
    #[serde(default)]
    pub score_reasoning: ReasoningScoring,
    /// Whether the reasoning text was scored too (the reasoning view).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reasoning_view: bool,
    /// Per model, what asking it took in this run: calls sent and wall time (these depend on
    /// what the store held, so they are kept here and not in `summary.json`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub asking: BTreeMap<String, Asking>,
}

/// What asking one model took in one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Asking {
    /// Calls sent (not found in the store), to the model and to auxiliary models.
    pub sent: u64,
    /// Wall-clock seconds spent asking.
    pub seconds: f64,
}

/// The most frequent answer of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repeated {
    /// The answer (cut to 80 characters).
    pub text: String,
    /// How many answers were exactly this.
    pub count: usize,
    /// `count` over all answers.
    pub share: f64,
}

/// What a model's answers look like, and warnings where they look broken.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// Samples asked.
    pub samples: usize,
    /// Answers received (with text, or blocked by the provider).
    pub answers: usize,
    /// Answers with no text that the provider did not block (unscorable, kind `empty`).
    pub empty: usize,
    /// Answers that stopped at the token limit.
    pub max_tokens: usize,
    /// `max_tokens` over the answers.
    pub max_tokens_share: f64,
    /// The most frequent answer.
    pub most_common: Option<Repeated>,
    /// The median of the prompt tokens the server reported over an estimate from the text sent
    /// (about four characters a token), for answers that report usage; far below 1 means the
    /// server did not see all of the text.
    pub prompt_tokens_ratio: Option<f64>,
    /// Unscorable samples by kind.
    pub unscorable: BTreeMap<String, usize>,
    /// What looks wrong, for people.
    pub warnings: Vec<String>,
}

/// One split of one model: its samples, the model's answers and every evaluator's values.
#[derive(Debug, Clone)]
pub struct SplitRecord {
    /// The samples, in order (shared with the loaded split).
    pub samples: std::sync::Arc<[Sample]>,
    /// The answers, aligned with the samples.
    pub answers: Vec<Answer>,
    /// The scores, aligned with the samples.
    pub scores: SplitScores,
    /// The same chains on the reasoning text (the reasoning view), when it was run.
    pub reasoning: Option<SplitScores>,
}

/// One task of one model: the splits that loaded (in the task's order).
#[derive(Debug, Clone)]
pub struct TaskRecord {
    /// The task id.
    pub id: String,
    /// The splits that loaded.
    pub splits: Vec<SplitRecord>,
}

/// Everything about one model in a run.
#[derive(Debug, Clone)]
pub struct ModelRecord {
    /// The model.
    pub info: ModelInfo,
    /// Its tasks, in the run's order.
    pub tasks: Vec<TaskRecord>,
    /// Its scoreboard.
    pub summary: ModelSummary,
    /// The health of its answers.
    pub health: Health,
}

/// Everything a run knows.
#[derive(Debug)]
pub struct RunRecord {
    /// The run directory.
    pub dir: PathBuf,
    /// The manifest.
    pub manifest: Manifest,
    /// The tasks, in order.
    pub tasks: Vec<Box<dyn Task>>,
    /// Every model, in the run's order.
    pub models: Vec<ModelRecord>,
}

/// One of `count` parts of a run (`--shard K/N`): in every split, the samples are ordered by
/// the hash of their id and dealt to the parts in turn, starting at a part fixed by the split's
/// name. Each part is thus a deterministic 1/N of every split (sizes within one of each other,
/// the larger parts differing between splits), whatever order the data files list the records
/// in, and the parts together are the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// Which part, from 1.
    pub index: usize,
    /// How many parts.
    pub count: usize,
}

impl Shard {
    /// Reads `K/N` (1 ≤ K ≤ N).
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (k, n) =
            text.split_once('/').ok_or_else(|| format!("{text:?}: write the shard as K/N, e.g. 2/8"))?;
        let (index, count): (usize, usize) = match (k.trim().parse(), n.trim().parse()) {
            (Ok(k), Ok(n)) => (k, n),
            _ => return Err(format!("{text:?}: K and N of K/N are whole numbers")),
        };
        if count == 0 || index == 0 || index > count {
            return Err(format!("{text:?}: the shard K/N needs 1 ≤ K ≤ N"));
        }
        Ok(Shard { index, count })
    }

    /// This part's samples of a split, in their order.
    pub fn select(&self, task: &str, split: &str, samples: Vec<Sample>) -> Vec<Sample> {
        let mut ranked: Vec<(String, usize)> = samples
            .iter()
            .enumerate()
            .map(|(i, s)| (crate::core::sha256_hex(format!("{task}\n{split}\n{}", s.id).as_bytes()), i))
            .collect();
        ranked.sort();
        // Each split starts the round at its own part, so the parts that get one sample more
        // differ from split to split.
        let start = crate::core::sha256_hex(format!("{task}\n{split}").as_bytes())
            .bytes()
            .take(8)
            .fold(0usize, |n, b| n.wrapping_mul(31).wrapping_add(b as usize));
        let mut keep = vec![false; samples.len()];
        for (position, (_, i)) in ranked.iter().enumerate() {
            keep[*i] = (position + start) % self.count == self.index - 1;
        }
        samples.into_iter().zip(keep).filter(|(_, k)| *k).map(|(s, _)| s).collect()
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}
