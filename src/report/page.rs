//! The report's content, gathered once: the scoreboards, comparisons, cross-modal deltas,
//! refusal against accuracy, leaderboard placements and a few samples per task. The HTML and
//! Markdown reports render it, and `summary.json` carries it, so every number a report shows can
//! be read by a program too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value as Json;

use super::compare::{self, Comparison, CrossModal, Placement, RefusalPoint, Runs};
use crate::aggregate::ModelSummary;
use crate::tasks::Task;

/// A sample shown in the report's browser.
#[derive(Debug, Clone, Serialize)]
pub struct Browsed {
    /// Model.
    pub model: String,
    /// Task id.
    pub task: String,
    /// Split.
    pub split: String,
    /// Sample id.
    pub id: String,
    /// The prompt (cut to 600 characters).
    pub prompt: String,
    /// The answer (cut to 600 characters), if any.
    pub response: Option<String>,
    /// `scored` or `unscorable`.
    pub outcome: String,
    /// Why unscorable.
    pub reason: Option<String>,
    /// Every evaluator's value, as JSON text.
    pub values: String,
    /// A small thumbnail of the image as a data URL (not written to `summary.json`).
    #[serde(skip)]
    pub thumbnail: Option<String>,
}

/// Everything a report shows.
#[derive(Debug, Serialize)]
pub struct Page {
    /// multitrust's version.
    pub multitrust_version: String,
    /// The seed.
    pub seed: u64,
    /// Bootstrap replicates.
    pub bootstrap_replicates: usize,
    /// Whether the data is the synthetic suite (scores then mean nothing).
    pub synthetic: bool,
    /// The runs combined (shown in the reports; left out of `summary.json`, which is the same for
    /// the same answers wherever the run directory is).
    #[serde(skip)]
    pub runs: Vec<String>,
    /// The scoreboard per model.
    pub models: Vec<ModelSummary>,
    /// Paired differences of each model against the first.
    pub comparisons: Vec<Comparison>,
    /// Text-only against image variants.
    pub cross_modal: Vec<CrossModal>,
    /// Refusal rate against truthfulness accuracy.
    pub refusal_accuracy: Vec<RefusalPoint>,
    /// Where each overall score would sit among the published leaderboard.
    pub leaderboard: Vec<Placement>,
    /// A few samples per task and model.
    pub browser: Vec<Browsed>,
}

/// How many samples per task and model the browser shows.
pub const BROWSED_PER_TASK: usize = 3;

/// Gathers the report's content from runs read back.
pub fn gather(runs: &Runs, tasks: &[Box<dyn Task>], dirs: &[PathBuf]) -> Page {
    let mut models: Vec<ModelSummary> = runs.models.iter().map(|m| m.summary.clone()).collect();
    if dirs.len() > 1 {
        for (summary, m) in models.iter_mut().zip(&runs.models) {
            summary.name = compare::label(m, runs);
        }
    }
    Page {
        multitrust_version: env!("CARGO_PKG_VERSION").to_string(),
        seed: runs.seed,
        bootstrap_replicates: runs.replicates,
        synthetic: runs.synthetic,
        runs: dirs.iter().map(|d| d.display().to_string()).collect(),
        models,
        comparisons: compare::comparisons(runs, tasks),
        cross_modal: compare::cross_modal(runs, tasks),
        refusal_accuracy: compare::refusal_points(runs),
        leaderboard: compare::placements(runs),
        browser: browse(runs),
    }
}

fn browse(runs: &Runs) -> Vec<Browsed> {
    let mut out = Vec::new();
    for m in &runs.models {
        let data_root = data_root(&m.run);
        let mut per_task: BTreeMap<String, usize> = BTreeMap::new();
        let mut splits_seen = BTreeSet::new();
        for line in &m.lines {
            let task = line["task"].as_str().unwrap_or_default().to_string();
            let split = line["split"].as_str().unwrap_or_default().to_string();
            // One sample per split, up to the limit per task: the browser shows the variants.
            let count = per_task.entry(task.clone()).or_default();
            if *count >= BROWSED_PER_TASK || !splits_seen.insert((task.clone(), split.clone())) {
                continue;
            }
            *count += 1;
            let thumbnail = line["image"]["path"]
                .as_str()
                .and_then(|p| data_root.as_ref().map(|root| root.join(p.strip_prefix("data/").unwrap_or(p))))
                .and_then(|p| thumbnail(&p));
            out.push(Browsed {
                model: compare::label(m, runs),
                task,
                split,
                id: line["id"].as_str().unwrap_or_default().to_string(),
                prompt: clip(line["text"].as_str().unwrap_or_default(), 600),
                response: line["response"].as_str().map(|r| clip(r, 600)),
                outcome: line["outcome"].as_str().unwrap_or_default().to_string(),
                reason: line["reason"].as_str().map(str::to_string),
                values: line["values"].to_string(),
                thumbnail,
            });
        }
    }
    out
}

fn data_root(run: &Path) -> Option<PathBuf> {
    let manifest: Json = serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).ok()?).ok()?;
    manifest["data"]["path"].as_str().map(PathBuf::from)
}

/// A PNG thumbnail (at most 128 px) of an image file, as a data URL.
pub fn thumbnail(path: &Path) -> Option<String> {
    let img = image::open(path).ok()?;
    let small = img.thumbnail(128, 128);
    let mut bytes = std::io::Cursor::new(Vec::new());
    small.to_rgb8().write_to(&mut bytes, image::ImageFormat::Png).ok()?;
    let mut url = String::from("data:image/png;base64,");
    base64_simd::STANDARD.encode_append(bytes.get_ref(), &mut url);
    Some(url)
}

fn clip(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(n).collect::<String>())
    }
}
