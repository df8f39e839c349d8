//! The run directory and the reports, rendered from run records:
//!
//! - `results/<model>/<task>/<split>.json`: the original's `total_results` /
//!   `per_sample_results` layout (a split with no sample writes nothing);
//! - `samples.jsonl`: one line per sample and model: what was asked, the request fingerprint,
//!   the answer, every evaluator's value, the outcome;
//! - `summary.json`: everything the reports show, for programs;
//! - `report.md` and `report.html`: the scoreboard for people;
//! - `run.json`: the manifest, written first with status `running` and last with the final
//!   status, so that `complete` means every other file is in place.
//!
//! Every file is written through a temporary name, so a reader never sees half of it.

pub mod agreement;
pub mod browser;
pub mod compare;
pub mod html;
pub mod markdown;
pub mod page;
pub mod svg;
pub mod terminal;
pub mod tradeoff;

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value as Json};

use crate::pipeline::rundir::{ImageLine, SampleLine};
use crate::pipeline::{Manifest, ModelRecord, RunRecord, SplitRecord};
use crate::protocol::scoring::chain::ResultFile;

/// An output that could not be written or rendered.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be written.
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A value could not be serialized.
    #[error("{path}: cannot serialize: {message}")]
    Serialize {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The HTML template failed.
    #[error("report template: {0}")]
    Template(String),
}

fn write_error(path: &Path, source: std::io::Error) -> ReportError {
    ReportError::Write { path: path.display().to_string(), source }
}

/// Writes JSON with the original's four-space indentation, creating parent folders.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), ReportError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| write_error(parent, e))?;
    }
    let mut bytes = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut bytes, formatter);
    value
        .serialize(&mut ser)
        .map_err(|e| ReportError::Serialize { path: path.display().to_string(), message: e.to_string() })?;
    bytes.push(b'\n');
    atomic_write(path, &bytes)
}

/// Writes a file through a temporary name in the same folder, so a reader never sees half of
/// it.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    atomic_write_with(path, |w| w.write_all(bytes).map_err(|e| write_error(path, e)))
}

/// Writes a file as [`atomic_write`] does, streamed through a buffer by `write`.
fn atomic_write_with(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<fs::File>) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    let tmp = temporary(path);
    let file = fs::File::create(&tmp).map_err(|e| write_error(&tmp, e))?;
    let mut w = BufWriter::new(file);
    write(&mut w)?;
    w.flush().map_err(|e| write_error(&tmp, e))?;
    drop(w);
    fs::rename(&tmp, path).map_err(|e| write_error(path, e))
}

fn temporary(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// The path of a split's result file.
pub fn result_path(out: &Path, model_label: &str, task: &str, split: &str) -> PathBuf {
    out.join("results").join(model_label).join(task).join(format!("{split}.json"))
}

/// Writes `run.json`.
pub fn write_manifest(out: &Path, manifest: &Manifest) -> Result<(), ReportError> {
    write_json(&out.join("run.json"), manifest)
}

/// Writes every output of a run into its directory, `run.json` last.
pub fn write_run(record: &RunRecord) -> Result<(), ReportError> {
    write_outputs(record)?;
    write_manifest(&record.dir, &record.manifest)
}

/// Writes every output of a run but `run.json`: results, `samples.jsonl`, `summary.json`,
/// `report.md`, `report.html`; gives the report's content (for the terminal summary).
pub fn write_outputs(record: &RunRecord) -> Result<page::Page, ReportError> {
    let out = &record.dir;
    fs::create_dir_all(out).map_err(|e| write_error(out, e))?;
    let phase = std::time::Instant::now();
    for model in &record.models {
        write_results(out, model)?;
    }
    tracing::debug!("result files written in {:?}", phase.elapsed());
    let phase = std::time::Instant::now();
    write_samples(out, &record.models)?;
    tracing::debug!("samples.jsonl written in {:?}", phase.elapsed());
    let phase = std::time::Instant::now();
    let page = write_reports(std::slice::from_ref(record), out);
    tracing::debug!("summary and reports written in {:?}", phase.elapsed());
    page
}

/// Writes `summary.json`, `report.md` and `report.html` for one or more runs into `out`.
pub fn write_reports(records: &[RunRecord], out: &Path) -> Result<page::Page, ReportError> {
    let page = page::gather(records);
    fs::create_dir_all(out).map_err(|e| write_error(out, e))?;
    write_json(&out.join("summary.json"), &page)?;
    atomic_write(&out.join("report.md"), markdown::render(&page).as_bytes())?;
    let html = html::render(&page).map_err(|e| ReportError::Template(e.to_string()))?;
    let path = out.join("report.html");
    atomic_write_with(&path, |w| html::write(&html, &page.browser, w).map_err(|e| write_error(&path, e)))?;
    Ok(page)
}

/// Writes every split's result file of one model (a split with no sample writes nothing).
pub fn write_results(out: &Path, model: &ModelRecord) -> Result<(), ReportError> {
    for task in &model.tasks {
        for split in task.splits.iter().filter(|s| !s.samples.is_empty()) {
            let path = result_path(out, &model.info.label, &task.id, &split.scores.split);
            write_json(&path, &ResultFile(&split.scores))?;
        }
    }
    Ok(())
}

/// The `samples.jsonl` lines of one split of one model.
pub fn sample_lines<'a>(
    model: &'a ModelRecord,
    split: &'a SplitRecord,
) -> impl Iterator<Item = SampleLine> + 'a {
    split.samples.iter().zip(&split.answers).zip(&split.scores.samples).map(
        move |((sample, answer), score)| {
            let mut values = Map::new();
            for (c, spec) in split.scores.chains.iter().enumerate() {
                for (k, prefix) in spec.prefixes.iter().enumerate() {
                    let v = match score.steps[c].get(k) {
                        Some(Ok(v)) => v.to_json(),
                        _ => Json::Null,
                    };
                    values.insert(prefix.clone(), v);
                }
            }
            let answered = answer.as_ref().ok();
            let failure = score.failure();
            SampleLine {
                model: model.info.name.clone(),
                baseline: model.info.baseline,
                task: sample.task.to_string(),
                split: sample.split.to_string(),
                id: sample.id.clone(),
                group: sample.group.clone(),
                text: sample.text(),
                image: sample.image().map(|im| ImageLine {
                    path: im.display.clone(),
                    sha256: im.sha256.clone(),
                    mime: im.mime.to_string(),
                }),
                target: sample.target.clone(),
                extra: sample.extra_json(),
                fingerprint: answered.and_then(|a| a.fingerprint.clone()),
                response: answered.map(|a| a.response.text.clone()),
                reasoning: answered.and_then(|a| a.response.reasoning.clone()),
                finish: answered.map(|a| a.response.finish.clone()),
                usage: answered.and_then(|a| a.response.usage),
                trace: answered
                    .and_then(|a| a.trace.clone())
                    .filter(|t| model.info.mitigation.is_some() || !t.steps.is_empty()),
                outcome: if failure.is_some() { "unscorable" } else { "scored" }.to_string(),
                kind: failure.map(|u| u.kind),
                reason: failure.map(|u| u.reason.clone()),
                values,
                judges: score.judges.clone(),
            }
        },
    )
}

/// Writes `samples.jsonl`: every sample of every model.
pub fn write_samples(out: &Path, models: &[ModelRecord]) -> Result<(), ReportError> {
    let path = out.join("samples.jsonl");
    atomic_write_with(&path, |w| {
        for model in models {
            for split in model.tasks.iter().flat_map(|t| &t.splits) {
                for line in sample_lines(model, split) {
                    serde_json::to_writer(&mut *w, &line).map_err(|e| ReportError::Serialize {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })?;
                    w.write_all(b"\n").map_err(|e| write_error(&path, e))?;
                }
            }
        }
        Ok(())
    })
}
