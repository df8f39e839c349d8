//! The first stage: the samples of every requested split, from the plan's source. From a data
//! folder the models are asked later; from a run directory or an original log the answers
//! come with the samples.
//!
//! A split that cannot be loaded is kept with the loader's error (it becomes its task's missing
//! reason and makes the run incomplete); when not one sample loads, nothing is sent at all.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::PipelineError;
use super::log;
use super::plan::{Plan, Source};
use super::record::{Answer, DataInfo, Shard, SplitLoad};
use super::rundir;
use crate::data::{DataDir, DataWarning, synth};
use crate::protocol::fixtures;
use crate::protocol::tasks::{LoadContext, Task};
use crate::sample::Sample;

/// One split as loaded: its samples or the loader's error, and the answers when the source
/// holds them.
#[derive(Debug, Clone)]
pub struct LoadedSplit {
    /// The split.
    pub name: String,
    /// The samples, or why the split could not be loaded (shared with the records of every
    /// model that asks them, not copied).
    pub samples: Result<Arc<[Sample]>, String>,
    /// The answers, aligned with the samples, when the source holds them.
    pub answers: Option<Vec<Answer>>,
}

/// One task as loaded: every split, in the task's order.
#[derive(Debug, Clone)]
pub struct LoadedTask {
    /// The task id.
    pub id: String,
    /// Its splits.
    pub splits: Vec<LoadedSplit>,
    /// What its loaders skipped, ignored or did not know.
    pub warnings: Vec<DataWarning>,
}

/// Everything the source gave.
#[derive(Debug)]
pub struct Loaded {
    /// The samples of every task, for the models to answer (from a data folder).
    pub tasks: Vec<LoadedTask>,
    /// Per model id, samples with their answers (from a run directory or a log).
    pub given: BTreeMap<String, Vec<LoadedTask>>,
    /// What was read, for the manifest.
    pub data: DataInfo,
    /// Where images made during the run go (the preflight probe, P6's text images).
    pub generated: PathBuf,
}

impl Loaded {
    /// The tasks a model is evaluated on: its own answered samples when the source holds
    /// them, the shared samples otherwise.
    pub fn for_model(&self, model: &str) -> &[LoadedTask] {
        self.given.get(model).map(Vec::as_slice).unwrap_or(&self.tasks)
    }

    /// Every split's load error, as `TASK SPLIT: error`.
    pub fn errors(&self) -> Vec<String> {
        let mut out = Vec::new();
        for task in self.tasks.iter().chain(self.given.values().flatten()) {
            for split in &task.splits {
                if let Err(e) = &split.samples {
                    let line = format!("{} {}: {e}", task.id, split.name);
                    if !out.contains(&line) {
                        out.push(line);
                    }
                }
            }
        }
        out
    }

    /// Every data problem of the load, one line each: the tasks' data warnings, the splits
    /// that failed to load, and the samples whose image cannot be used. `--strict` fails the
    /// run when there is any.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for task in &self.tasks {
            out.extend(task.warnings.iter().map(|w| format!("{}: {w}", task.id)));
            for split in &task.splits {
                match &split.samples {
                    Err(e) => out.push(format!("{} {}: did not load: {e}", task.id, split.name)),
                    Ok(samples) => {
                        let bad: Vec<&Sample> = samples.iter().filter(|s| s.problem.is_some()).collect();
                        if let Some(first) = bad.first().and_then(|s| s.problem.as_ref()) {
                            out.push(format!(
                                "{} {}: {} sample(s) cannot be sent (the first: {})",
                                task.id,
                                split.name,
                                bad.len(),
                                first.reason
                            ));
                        }
                    }
                }
            }
        }
        out
    }

    /// The tasks for which not one sample loaded, with why.
    pub fn empty_tasks(&self) -> Vec<String> {
        let all: Vec<&LoadedTask> = self.tasks.iter().chain(self.given.values().flatten()).collect();
        let mut out: Vec<String> = Vec::new();
        for task in &all {
            let loaded: usize = all
                .iter()
                .filter(|t| t.id == task.id)
                .flat_map(|t| &t.splits)
                .map(|s| s.samples.as_deref().map(<[_]>::len).unwrap_or(0))
                .sum();
            if loaded == 0 && !out.iter().any(|l| l.starts_with(&format!("{}:", task.id))) {
                let why: Vec<String> = task
                    .splits
                    .iter()
                    .map(|s| match &s.samples {
                        Err(e) => format!("{}: {e}", s.name),
                        Ok(_) => format!("{}: no records", s.name),
                    })
                    .collect();
                out.push(format!("{}: no sample loaded ({})", task.id, why.join("; ")));
            }
        }
        out
    }
}

/// Loads the samples of the plan's source. Fails only when not one sample of any requested
/// split loads (naming every loader's error), or when a run directory or log cannot be read.
pub fn load(plan: &Plan) -> Result<Loaded, PipelineError> {
    let generated = plan.dir().join("generated");
    let loaded = match &plan.source {
        Source::Synthetic(dir) => {
            tracing::info!(
                "no --data: writing the synthetic suite to {} (for trying the pipeline; scores on it \
                 mean nothing about a model)",
                dir.display()
            );
            fixtures::write_suite(dir, plan.seed, &crate::protocol::tasks::every())?;
            from_data(plan, &DataDir::new(dir).with_image_limits(plan.image_limits), generated)
        }
        Source::Data(dir) => {
            if synth::is_synthetic(dir.root()) {
                tracing::warn!("{} is a synthetic suite, not the benchmark's data", dir.root().display());
            }
            from_data(plan, dir, generated)
        }
        Source::Run { dir, manifest } => {
            let lines = rundir::read_samples(&dir.join("samples.jsonl"))?;
            let mut given = BTreeMap::new();
            for model in &plan.models {
                let name = &model.info.name;
                let tasks = plan
                    .tasks
                    .iter()
                    .map(|task| {
                        let mut found: BTreeMap<String, (Vec<Sample>, Vec<Answer>)> =
                            rundir::samples_and_answers(&lines, name, task.as_ref())
                                .into_iter()
                                .map(|(split, s, a)| (split, (s, a)))
                                .collect();
                        let id = task.info().id;
                        let splits = task
                            .info()
                            .splits
                            .iter()
                            .map(|split| match found.remove(*split) {
                                Some((samples, answers)) => LoadedSplit {
                                    name: split.to_string(),
                                    samples: Ok(samples.into()),
                                    answers: Some(answers),
                                },
                                None => {
                                    let error = manifest
                                        .data
                                        .splits
                                        .get(id)
                                        .and_then(|s| s.get(*split))
                                        .and_then(|l| l.error.clone())
                                        .unwrap_or_else(|| format!("split {split} is not in samples.jsonl"));
                                    LoadedSplit {
                                        name: split.to_string(),
                                        samples: Err(error),
                                        answers: None,
                                    }
                                }
                            })
                            .collect();
                        LoadedTask { id: id.to_string(), splits, warnings: Vec::new() }
                    })
                    .collect();
                given.insert(name.clone(), tasks);
            }
            Loaded { tasks: Vec::new(), given, data: manifest.data.clone(), generated }
        }
        Source::Log { path, split } => {
            let task = &plan.tasks[0];
            let (samples, answers) = log::read(path, task.info().id, split)?;
            let splits = vec![LoadedSplit {
                name: split.clone(),
                samples: Ok(samples.into()),
                answers: Some(answers),
            }];
            let tasks = vec![LoadedTask { id: task.info().id.to_string(), splits, warnings: Vec::new() }];
            let given = plan.models.iter().map(|m| (m.info.name.clone(), tasks.clone())).collect();
            let data = DataInfo { path: path.display().to_string(), ..DataInfo::default() };
            Loaded { tasks: Vec::new(), given, data, generated }
        }
    };
    let total: usize = loaded
        .tasks
        .iter()
        .chain(loaded.given.values().flatten())
        .flat_map(|t| &t.splits)
        .map(|s| s.samples.as_deref().map(<[_]>::len).unwrap_or(0))
        .sum();
    if total == 0 {
        let mut why = loaded.empty_tasks();
        if why.is_empty() {
            why.push("no task was selected".into());
        }
        return Err(PipelineError::NothingLoaded(why));
    }
    Ok(loaded)
}

/// Loads every split of every task from a data folder; a split that fails is kept with its
/// error.
fn from_data(plan: &Plan, dir: &DataDir, generated: PathBuf) -> Loaded {
    let ctx = LoadContext::new(dir.clone(), plan.seed, generated.clone());
    let tasks: Vec<LoadedTask> =
        plan.tasks.iter().map(|task| load_task(task.as_ref(), &ctx, plan.limit, plan.shard)).collect();
    let mut data = DataInfo {
        path: dir.root().display().to_string(),
        synthetic: synth::is_synthetic(dir.root()),
        ..DataInfo::default()
    };
    for (task, lt) in plan.tasks.iter().zip(&tasks) {
        let id = task.info().id.to_string();
        let files = task
            .data_files()
            .iter()
            .filter(|f| dir.resolve(f).is_ok_and(|p| p.is_file()))
            .map(|f| (f.to_string(), dir.file_sha256(f)))
            .collect();
        data.files_sha256.insert(id.clone(), files);
        if !lt.warnings.is_empty() {
            data.warnings.insert(id.clone(), lt.warnings.clone());
        }
        let splits = lt
            .splits
            .iter()
            .map(|s| {
                let load = match &s.samples {
                    Ok(samples) => SplitLoad { samples: Some(samples.len()), error: None },
                    Err(e) => SplitLoad { samples: None, error: Some(e.clone()) },
                };
                (s.name.clone(), load)
            })
            .collect();
        data.splits.insert(id, splits);
    }
    Loaded { tasks, given: BTreeMap::new(), data, generated }
}

/// Loads every split of one task, at most `limit` samples each, and of those the shard's part.
pub fn load_task(
    task: &dyn Task,
    ctx: &LoadContext,
    limit: Option<usize>,
    shard: Option<Shard>,
) -> LoadedTask {
    let splits = task
        .info()
        .splits
        .iter()
        .map(|split| {
            let samples = task.load(split, ctx).map_err(|e| e.to_string()).map(|mut s| {
                if let Some(n) = limit {
                    s.truncate(n);
                }
                match shard {
                    Some(shard) => shard.select(task.info().id, split, s).into(),
                    None => s.into(),
                }
            });
            if let Err(e) = &samples {
                tracing::warn!("{} {split}: {e}", task.info().id);
            }
            LoadedSplit { name: split.to_string(), samples, answers: None }
        })
        .collect();
    let warnings = ctx.log.take();
    for w in &warnings {
        tracing::warn!("{}: {w}", task.info().id);
    }
    LoadedTask { id: task.info().id.to_string(), splits, warnings }
}
