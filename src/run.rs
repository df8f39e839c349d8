//! A run, end to end: load the samples of every selected task, ask every model, score every
//! split, aggregate, and write the run directory.
//!
//! Each model's requests go to the engine as one batch (so the endpoint's concurrency is used
//! across tasks), then every split is scored at once (so judge requests share the judge's
//! concurrency). Results are written as soon as a model is done, and the store keeps every
//! answer as it arrives, so an interrupted run continues where it stopped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;

use crate::aggregate::{self, ModelSummary, TaskSummary};
use crate::config::Profile;
use crate::data::DataDir;
use crate::engine::{Engine, Interrupted, Unscorable};
use crate::models::baseline::{self, Baseline};
use crate::models::{ChatRequest, ChatResponse, ChatService};
use crate::report;
use crate::sample::Sample;
use crate::scoring::chain::Pred;
use crate::scoring::{ClassifierSet, Scorer, SplitScores, score_split};
use crate::tasks::{LoadContext, Task};

/// Everything a run needs.
pub struct Plan {
    /// The tasks, in order.
    pub tasks: Vec<Box<dyn Task>>,
    /// The models to evaluate.
    pub models: Vec<Profile>,
    /// The judge, if any.
    pub judge: Option<Profile>,
    /// The classifiers that are configured.
    pub classifiers: ClassifierSet,
    /// Prompt template overrides.
    pub templates: BTreeMap<String, String>,
    /// The data folder.
    pub data: DataDir,
    /// The run directory.
    pub out: PathBuf,
    /// The seed of every random choice.
    pub seed: u64,
    /// At most this many samples per split (for quick runs).
    pub limit: Option<usize>,
    /// Downscale images whose longer side exceeds this.
    pub max_image_side: Option<u32>,
    /// Bootstrap replicates.
    pub replicates: usize,
    /// The largest share of unscorable samples accepted per model.
    pub max_unscorable: f64,
    /// The command line, for the manifest.
    pub command: Vec<String>,
    /// The store's path, for the manifest.
    pub store: Option<PathBuf>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("tasks", &self.tasks.iter().map(|t| t.info().id).collect::<Vec<_>>())
            .field("models", &self.models.iter().map(|m| &m.name).collect::<Vec<_>>())
            .field("out", &self.out)
            .finish()
    }
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Ctrl-C.
    #[error("{0}")]
    Interrupted(Interrupted),
    /// A model or judge could not be set up.
    #[error("{0}")]
    Setup(String),
    /// The run directory could not be written.
    #[error("{0}")]
    Write(String),
}

/// The loaded samples of one task.
#[derive(Debug)]
pub struct LoadedTask {
    /// Per split: the samples, or the error that kept the split from loading.
    pub splits: Vec<(String, Result<Vec<Sample>, String>)>,
}

/// What a finished run reports.
#[derive(Debug)]
pub struct Outcome {
    /// The scoreboard per model.
    pub models: Vec<ModelSummary>,
    /// Models whose unscorable share exceeds the limit.
    pub over_limit: Vec<(String, f64)>,
    /// Skipped records, by reason.
    pub skipped: BTreeMap<String, usize>,
}

/// Loads every split of every task; a split that fails to load is reported, not fatal.
pub fn load(tasks: &[Box<dyn Task>], ctx: &LoadContext, limit: Option<usize>) -> Vec<LoadedTask> {
    tasks
        .iter()
        .map(|task| {
            let splits = task
                .info()
                .splits
                .iter()
                .map(|split| {
                    let loaded = task.load(split, ctx).map_err(|e| e.to_string()).map(|mut s| {
                        if let Some(n) = limit {
                            s.truncate(n);
                        }
                        s
                    });
                    if let Err(e) = &loaded {
                        tracing::warn!("{} {split}: {e}", task.info().id);
                    }
                    (split.to_string(), loaded)
                })
                .collect();
            LoadedTask { splits }
        })
        .collect()
}

/// One model's answer to one sample (with its request fingerprint).
pub type Answer = Result<(ChatResponse, Option<String>), Unscorable>;

/// One model's answers: `answers[task][split][sample]`.
pub type Answers = Vec<Vec<Vec<Answer>>>;

/// What a rescore needs of one model: its profile, its samples and its answers.
#[derive(Debug)]
pub struct ModelRun {
    /// The model.
    pub profile: Profile,
    /// Its samples, per task and split.
    pub loaded: Vec<LoadedTask>,
    /// Its answers, aligned with the samples.
    pub answers: Answers,
}

/// Runs a plan: asks, scores, aggregates and writes the run directory.
pub async fn execute(plan: &Plan, engine: &Engine) -> Result<Outcome, RunError> {
    std::fs::create_dir_all(&plan.out).map_err(|e| {
        RunError::Write(format!("{}: cannot create the run directory: {e}", plan.out.display()))
    })?;
    let ctx = LoadContext::new(plan.data.clone(), plan.seed, plan.out.join("generated"));
    let loaded = load(&plan.tasks, &ctx, plan.limit);
    let skipped = ctx.log.skipped();
    for (reason, n) in &skipped {
        tracing::warn!("skipped {n} record(s): {reason}");
    }
    report::write_manifest(plan, &loaded, "running")?;
    let scorer = scorer(plan, engine)?;
    let mut samples_out = report::SamplesWriter::create(&plan.out)?;
    let mut summaries = Vec::new();
    for profile in &plan.models {
        let answered = match ask(profile, plan, &loaded, engine).await {
            Ok(answers) => finish_model(plan, profile, &loaded, &answers, &scorer, &mut samples_out).await,
            Err(e) => Err(e),
        };
        match answered {
            Ok(summary) => summaries.push(summary),
            Err(RunError::Interrupted(i)) => {
                report::write_manifest(plan, &loaded, "interrupted")?;
                return Err(RunError::Interrupted(i));
            }
            Err(e) => return Err(e),
        }
    }
    samples_out.finish()?;
    report::write_manifest(plan, &loaded, "complete")?;
    let outcome = finish(plan, summaries, skipped)?;
    report::write_reports(std::slice::from_ref(&plan.out), &plan.out, &plan.tasks)?;
    Ok(outcome)
}

/// Scores answers kept from an earlier run again (see [`crate::rescore`]): for each model, its
/// samples and answers. Writes the results, `samples.jsonl` and `summary.json` into `plan.out`.
pub async fn rescore(plan: &Plan, models: &[ModelRun], engine: &Engine) -> Result<Outcome, RunError> {
    std::fs::create_dir_all(&plan.out)
        .map_err(|e| RunError::Write(format!("{}: cannot create the directory: {e}", plan.out.display())))?;
    let scorer = scorer(plan, engine)?;
    let mut samples_out = report::SamplesWriter::create(&plan.out)?;
    let mut summaries = Vec::new();
    for m in models {
        summaries
            .push(finish_model(plan, &m.profile, &m.loaded, &m.answers, &scorer, &mut samples_out).await?);
    }
    samples_out.finish()?;
    let outcome = finish(plan, summaries, BTreeMap::new())?;
    report::write_reports(std::slice::from_ref(&plan.out), &plan.out, &plan.tasks)?;
    Ok(outcome)
}

fn scorer<'a>(plan: &Plan, engine: &'a Engine) -> Result<Scorer<'a>, RunError> {
    let judge = match &plan.judge {
        Some(p) => Some(Arc::new(ChatService::from_profile(p).map_err(RunError::Setup)?)),
        None => None,
    };
    Ok(Scorer { engine, judge, classifiers: plan.classifiers.clone(), templates: plan.templates.clone() })
}

/// Scores one model's answers, writes its results and sample lines, and returns its scoreboard.
async fn finish_model(
    plan: &Plan,
    profile: &Profile,
    loaded: &[LoadedTask],
    answers: &[Vec<Vec<Answer>>],
    scorer: &Scorer<'_>,
    samples_out: &mut report::SamplesWriter,
) -> Result<ModelSummary, RunError> {
    let scored = score(plan, loaded, answers, scorer).await.map_err(RunError::Interrupted)?;
    let summary = summarize(plan, profile, &scored, scorer);
    report::write_results(&plan.out, &profile.label(), &scored)?;
    samples_out.write_model(profile, loaded, answers, &scored)?;
    tracing::info!(
        "{}: {} task(s) scored, overall {}",
        profile.name,
        summary.tasks.iter().filter(|t| t.score.is_some()).count(),
        summary.overall.score.map(|s| format!("{s:.2}")).unwrap_or_else(|| "missing".into())
    );
    Ok(summary)
}

fn finish(
    plan: &Plan,
    summaries: Vec<ModelSummary>,
    skipped: BTreeMap<String, usize>,
) -> Result<Outcome, RunError> {
    let over_limit = summaries
        .iter()
        .filter(|m| m.unscorable_rate > plan.max_unscorable)
        .map(|m| (m.name.clone(), m.unscorable_rate))
        .collect();
    report::write_summary(plan, &summaries)?;
    Ok(Outcome { models: summaries, over_limit, skipped })
}

/// Gets one model's answer to every loaded sample: `answers[task][split][sample]`.
async fn ask(
    profile: &Profile,
    plan: &Plan,
    loaded: &[LoadedTask],
    engine: &Engine,
) -> Result<Answers, RunError> {
    if profile.is_baseline() {
        let kind = Baseline::from_name(&profile.model)
            .ok_or_else(|| RunError::Setup(format!("unknown baseline {}", profile.name)))?;
        return Ok(each_sample(plan, loaded, |task, sample| {
            if let Some(problem) = &sample.problem {
                return Err(Unscorable::new(problem.clone()));
            }
            Ok((baseline::answer(kind, &task.hint(sample), plan.seed, &sample.id), None))
        }));
    }
    let service = Arc::new(ChatService::from_profile(profile).map_err(RunError::Setup)?);
    let mut requests = Vec::new();
    let mut answers = each_sample(plan, loaded, |task, sample| {
        if let Some(problem) = &sample.problem {
            return Err(Unscorable::new(problem.clone()));
        }
        requests.push(ChatRequest {
            messages: sample.messages.clone(),
            max_tokens: task.max_tokens(&sample.split),
            temperature: 0.0,
            params: profile.params.clone(),
            max_image_side: plan.max_image_side,
        });
        Err(Unscorable::new("pending"))
    });
    let replies = engine.run(&service, requests, &profile.name).await.map_err(RunError::Interrupted)?;
    let mut replies = replies.into_iter();
    for task in answers.iter_mut() {
        for split in task.iter_mut() {
            for answer in split.iter_mut() {
                if matches!(answer, Err(u) if u.reason == "pending") {
                    *answer = match replies.next() {
                        Some(Ok(a)) => Ok((a.reply, Some(a.fingerprint))),
                        Some(Err(u)) => Err(u),
                        None => Err(Unscorable::new("no answer")),
                    };
                }
            }
        }
    }
    Ok(answers)
}

fn each_sample(
    plan: &Plan,
    loaded: &[LoadedTask],
    mut f: impl FnMut(&dyn Task, &Sample) -> Answer,
) -> Answers {
    plan.tasks
        .iter()
        .zip(loaded)
        .map(|(task, lt)| {
            lt.splits
                .iter()
                .map(|(_, samples)| match samples {
                    Ok(samples) => samples.iter().map(|s| f(task.as_ref(), s)).collect(),
                    Err(_) => Vec::new(),
                })
                .collect()
        })
        .collect()
}

/// Scores every loaded split of one model: `scores[task]` holds its splits' scores.
async fn score(
    plan: &Plan,
    loaded: &[LoadedTask],
    answers: &[Vec<Vec<Answer>>],
    scorer: &Scorer<'_>,
) -> Result<Vec<Vec<SplitScores>>, Interrupted> {
    let mut jobs = Vec::new();
    for (t, (task, lt)) in plan.tasks.iter().zip(loaded).enumerate() {
        for (s, (split, samples)) in lt.splits.iter().enumerate() {
            let Ok(samples) = samples else { continue };
            let preds: Vec<Result<Pred, Unscorable>> = answers[t][s]
                .iter()
                .map(|a| {
                    a.as_ref()
                        .map(|(r, _)| Pred { text: r.text.clone(), blocked: r.finish.is_block() })
                        .map_err(Clone::clone)
                })
                .collect();
            let chains = task.chains(split);
            jobs.push(async move {
                let scores = score_split(samples, &preds, &chains, scorer).await?;
                Ok::<_, Interrupted>((t, scores))
            });
        }
    }
    let done = futures::future::try_join_all(jobs).await?;
    let mut out: Vec<Vec<SplitScores>> = plan.tasks.iter().map(|_| Vec::new()).collect();
    for (t, scores) in done {
        out[t].push(scores);
    }
    Ok(out)
}

fn summarize(plan: &Plan, profile: &Profile, scored: &[Vec<SplitScores>], scorer: &Scorer) -> ModelSummary {
    let tasks: Vec<TaskSummary> = plan
        .tasks
        .iter()
        .zip(scored)
        .map(|(task, splits)| {
            let needs: Vec<String> = task
                .needs()
                .into_iter()
                .filter(|n| match *n {
                    "judge" => scorer.judge.is_none(),
                    "perspective" => scorer.classifiers.perspective.is_none(),
                    "moderation" => scorer.classifiers.moderation.is_none(),
                    "harmbench" => scorer.classifiers.harmbench.is_none(),
                    "action" => scorer.classifiers.action.is_none(),
                    _ => false,
                })
                .map(str::to_string)
                .collect();
            aggregate::task_summary(task.as_ref(), splits, plan.seed, plan.replicates, needs)
        })
        .collect();
    let (sub_aspects, overall) = aggregate::scoreboard(&tasks);
    let asked: usize = tasks.iter().map(|t| t.samples).sum();
    let failed: usize = tasks.iter().map(|t| t.unscorable).sum();
    ModelSummary {
        name: profile.name.clone(),
        label: profile.label(),
        baseline: profile.is_baseline(),
        tasks,
        sub_aspects,
        overall,
        unscorable_rate: if asked == 0 { 0.0 } else { failed as f64 / asked as f64 },
    }
}

/// The description of a model for the manifest (never its key).
pub fn describe_model(profile: &Profile) -> serde_json::Value {
    json!({
        "name": profile.name,
        "provider": profile.provider.name(),
        "model": profile.model,
        "endpoint": if profile.is_baseline() { None } else { Some(profile.base_url()) },
        "baseline": profile.is_baseline(),
        "params": profile.params,
    })
}
