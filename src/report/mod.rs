//! The run directory:
//!
//! - `run.json`: the manifest (version, command, seed, models, judge and classifiers, data
//!   location and file hashes, status);
//! - `samples.jsonl`: one line per sample and model: what was asked, the request fingerprint,
//!   the answer, every evaluator's value, the outcome;
//! - `results/<model>/<task>/<split>.json`: the original's `total_results` /
//!   `per_sample_results` layout;
//! - `summary.json`: task, sub-aspect and overall scores with confidence intervals per model;
//! - `report.md` and `report.html`: the scoreboard for people.

pub mod compare;
pub mod html;
pub mod markdown;
pub mod page;
pub mod svg;

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value as Json, json};

use crate::aggregate::ModelSummary;
use crate::config::Profile;
use crate::run::{Answer, LoadedTask, Plan, RunError, describe_model};
use crate::scoring::SplitScores;

/// Writes JSON with the original's four-space indentation, creating parent folders.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), RunError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| write_error(parent, e))?;
    }
    let mut bytes = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut bytes, formatter);
    value.serialize(&mut ser).map_err(|e| write_error(path, e))?;
    bytes.push(b'\n');
    atomic_write(path, &bytes)
}

/// Writes a file through a temporary name, so a reader never sees half of it.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).map_err(|e| write_error(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| write_error(path, e))
}

fn write_error(path: &Path, e: impl std::fmt::Display) -> RunError {
    RunError::Write(format!("{}: cannot write: {e}", path.display()))
}

/// The folder of a split's result file.
pub fn result_path(out: &Path, model_label: &str, task: &str, split: &str) -> PathBuf {
    out.join("results").join(model_label).join(task).join(format!("{split}.json"))
}

/// Writes every split's result file of one model.
pub fn write_results(out: &Path, model_label: &str, scored: &[Vec<SplitScores>]) -> Result<(), RunError> {
    for splits in scored {
        for split in splits {
            let path = result_path(out, model_label, &split.task, &split.split);
            write_json(&path, &split.result_json())?;
        }
    }
    Ok(())
}

/// Writes `summary.json`.
pub fn write_summary(plan: &Plan, models: &[ModelSummary]) -> Result<(), RunError> {
    let summary = json!({
        "multitrust_version": env!("CARGO_PKG_VERSION"),
        "seed": plan.seed,
        "bootstrap_replicates": plan.replicates,
        "models": models,
    });
    write_json(&plan.out.join("summary.json"), &summary)
}

/// Reads run directories back and writes the combined `summary.json`, `report.md` and
/// `report.html` into `out` (which may be one of the runs).
pub fn write_reports(
    dirs: &[PathBuf],
    out: &Path,
    tasks: &[Box<dyn crate::tasks::Task>],
) -> Result<page::Page, RunError> {
    let runs = compare::read_runs(dirs, tasks).map_err(RunError::Write)?;
    let page = page::gather(&runs, tasks, dirs);
    fs::create_dir_all(out).map_err(|e| write_error(out, e))?;
    write_json(&out.join("summary.json"), &page)?;
    atomic_write(&out.join("report.md"), markdown::render(&page).as_bytes())?;
    let html = html::render(&page).map_err(RunError::Write)?;
    atomic_write(&out.join("report.html"), html.as_bytes())?;
    Ok(page)
}

/// Writes `run.json` with a status (`running`, `interrupted`, `complete`).
pub fn write_manifest(plan: &Plan, loaded: &[LoadedTask], status: &str) -> Result<(), RunError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut data_files = Map::new();
    let mut splits = Map::new();
    for (task, lt) in plan.tasks.iter().zip(loaded) {
        let id = task.info().id;
        let files: Map<String, Json> = task
            .data_files()
            .iter()
            .filter(|f| plan.data.resolve(f).is_ok_and(|p| p.is_file()))
            .map(|f| (f.to_string(), json!(plan.data.file_sha256(f))))
            .collect();
        data_files.insert(id.to_string(), Json::Object(files));
        let per_split: Map<String, Json> = lt
            .splits
            .iter()
            .map(|(split, samples)| {
                let value = match samples {
                    Ok(s) => json!({"samples": s.len()}),
                    Err(e) => json!({"error": e}),
                };
                (split.clone(), value)
            })
            .collect();
        splits.insert(id.to_string(), Json::Object(per_split));
    }
    let manifest = json!({
        "multitrust_version": env!("CARGO_PKG_VERSION"),
        "status": status,
        "written_at_unix": now,
        "command": plan.command,
        "seed": plan.seed,
        "limit": plan.limit,
        "max_image_side": plan.max_image_side,
        "bootstrap_replicates": plan.replicates,
        "models": plan.models.iter().map(describe_model).collect::<Vec<_>>(),
        "judge": plan.judge.as_ref().map(describe_model),
        "classifiers": plan.classifiers.identities(),
        "templates_overridden": plan.templates.keys().collect::<Vec<_>>(),
        "store": plan.store.as_ref().map(|p| p.display().to_string()),
        "data": {
            "path": plan.data.root().display().to_string(),
            "synthetic": crate::data::synth::is_synthetic(plan.data.root()),
            "files_sha256": data_files,
            "splits": splits,
        },
        "tasks": plan.tasks.iter().map(|t| t.info().id).collect::<Vec<_>>(),
    });
    write_json(&plan.out.join("run.json"), &manifest)
}

/// Writes `samples.jsonl` model by model.
pub struct SamplesWriter {
    path: PathBuf,
    tmp: PathBuf,
    file: BufWriter<fs::File>,
}

impl std::fmt::Debug for SamplesWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamplesWriter").field("path", &self.path).finish()
    }
}

impl SamplesWriter {
    /// Starts `samples.jsonl` in a run directory.
    pub fn create(out: &Path) -> Result<SamplesWriter, RunError> {
        let path = out.join("samples.jsonl");
        let tmp = out.join("samples.jsonl.tmp");
        let file = fs::File::create(&tmp).map_err(|e| write_error(&tmp, e))?;
        Ok(SamplesWriter { path, tmp, file: BufWriter::new(file) })
    }

    /// Writes one model's lines.
    pub fn write_model(
        &mut self,
        profile: &Profile,
        loaded: &[LoadedTask],
        answers: &[Vec<Vec<Answer>>],
        scored: &[Vec<SplitScores>],
    ) -> Result<(), RunError> {
        for (t, lt) in loaded.iter().enumerate() {
            for (s, (split, samples)) in lt.splits.iter().enumerate() {
                let Ok(samples) = samples else { continue };
                let Some(scores) = scored[t].iter().find(|x| &x.split == split) else { continue };
                for (i, sample) in samples.iter().enumerate() {
                    let score = &scores.samples[i];
                    let mut values = Map::new();
                    for (c, spec) in scores.chains.iter().enumerate() {
                        for (k, prefix) in spec.prefixes.iter().enumerate() {
                            let v = match score.steps[c].get(k) {
                                Some(Ok(v)) => v.to_json(),
                                _ => Json::Null,
                            };
                            values.insert(prefix.clone(), v);
                        }
                    }
                    let (response, fingerprint, finish, usage) = match &answers[t][s][i] {
                        Ok((r, fp)) => (json!(r.text), json!(fp), json!(r.finish), json!(r.usage)),
                        Err(_) => (Json::Null, Json::Null, Json::Null, Json::Null),
                    };
                    let failure = score.failure();
                    let line = json!({
                        "model": profile.name,
                        "baseline": profile.is_baseline(),
                        "task": sample.task,
                        "split": sample.split,
                        "id": sample.id,
                        "group": sample.group,
                        "text": sample.text(),
                        "image": sample.image().map(|im| json!({
                            "path": im.display, "sha256": im.sha256, "mime": im.mime})),
                        "target": sample.target,
                        "extra": sample.extra_json(),
                        "fingerprint": fingerprint,
                        "response": response,
                        "finish": finish,
                        "usage": usage,
                        "outcome": if failure.is_some() { "unscorable" } else { "scored" },
                        "reason": failure.map(|u| u.reason.clone()),
                        "values": values,
                        "judges": score.judges,
                    });
                    serde_json::to_writer(&mut self.file, &line).map_err(|e| write_error(&self.tmp, e))?;
                    self.file.write_all(b"\n").map_err(|e| write_error(&self.tmp, e))?;
                }
            }
        }
        self.file.flush().map_err(|e| write_error(&self.tmp, e))
    }

    /// Moves the finished file into place.
    pub fn finish(mut self) -> Result<(), RunError> {
        self.file.flush().map_err(|e| write_error(&self.tmp, e))?;
        fs::rename(&self.tmp, &self.path).map_err(|e| write_error(&self.path, e))
    }
}
