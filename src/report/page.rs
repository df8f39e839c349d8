//! The report's content, gathered once from run records: the scoreboards, comparisons,
//! cross-modal deltas, refusal against accuracy, leaderboard placements and a few samples per
//! task. The HTML and Markdown reports render it, and `summary.json` carries it, so every number
//! a report shows can be read by a program too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::agreement::Agreement;
use super::compare::{self, Comparison, CrossModal, Placement, RefusalPoint, Runs, SubPlacement};
use super::tradeoff::{PublishedVariant, Tradeoff, published_variants, tradeoffs};
use crate::core::ScorerProfile;
use crate::pipeline::RunRecord;
use crate::pipeline::record::Comparability;
use crate::pipeline::record::Health;
use crate::protocol::aggregate::ModelSummary;

/// One model's entry: its scoreboard and the health of its answers.
#[derive(Debug, Clone, Serialize)]
pub struct ModelEntry {
    /// The scoreboard.
    #[serde(flatten)]
    pub summary: ModelSummary,
    /// The health of its answers.
    pub health: Health,
    /// Per task, where its judge and classifier prompts came from (`original`, `ours`,
    /// `custom`, `none`).
    pub texts: BTreeMap<String, String>,
    /// Whether its scores can be compared with the published ones, and why not.
    pub comparable: Comparability,
}

impl std::ops::Deref for ModelEntry {
    type Target = ModelSummary;

    fn deref(&self) -> &ModelSummary {
        &self.summary
    }
}

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
    pub models: Vec<ModelEntry>,
    /// Paired differences of each model against the first.
    pub comparisons: Vec<Comparison>,
    /// Text-only against image variants.
    pub cross_modal: Vec<CrossModal>,
    /// Refusal rate against truthfulness accuracy.
    pub refusal_accuracy: Vec<RefusalPoint>,
    /// Where each overall score would sit among the published leaderboard.
    pub leaderboard: Vec<Placement>,
    /// Where each sub-aspect score would sit among the published sub-aspect table.
    pub sub_leaderboard: Vec<SubPlacement>,
    /// A few samples per task and model.
    pub browser: Vec<Browsed>,
    /// What the loaders skipped, ignored or did not know, one line per problem, starting with
    /// the task (from every run combined, each line once).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data_warnings: Vec<String>,
    /// The scorer profiles the scores come from, each as `name = label`.
    pub scorer_profiles: Vec<String>,
    /// Where the same answers were scored by two scorers: their agreement per step.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub agreements: Vec<Agreement>,
    /// Each mitigated model against its plain model and each variant against its reference.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tradeoffs: Vec<Tradeoff>,
    /// The original benchmark's method variants against their LLaVA-1.5 bases, as published
    /// (shown beside trade-offs as reference points).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub published_variants: Vec<PublishedVariant>,
}

/// The scorer profiles the page's scores come from, each once, in a fixed order.
pub fn scorer_profiles(page: &Page) -> Vec<ScorerProfile> {
    let used: std::collections::BTreeSet<&str> =
        page.models.iter().flat_map(|m| m.tasks.iter().filter_map(|t| t.scorers)).map(|p| p.name()).collect();
    ScorerProfile::ALL.into_iter().filter(|p| used.contains(p.name())).collect()
}

/// How many samples per task and model the browser shows.
pub const BROWSED_PER_TASK: usize = 3;

/// Gathers the report's content from run records.
pub fn gather(records: &[RunRecord]) -> Page {
    let runs = Runs::new(records);
    let several = records.len() > 1;
    let models = runs
        .models
        .iter()
        .map(|m| {
            let mut summary = m.summary.clone();
            if several {
                summary.name = compare::label(m, &runs);
            }
            ModelEntry {
                summary,
                health: m.record.health.clone(),
                texts: m.run.manifest.texts.iter().map(|(k, v)| (k.clone(), v.texts.clone())).collect(),
                comparable: m.run.manifest.comparable.clone(),
            }
        })
        .collect();
    let pairs = tradeoffs(&runs);
    Page {
        multitrust_version: env!("CARGO_PKG_VERSION").to_string(),
        seed: runs.seed,
        bootstrap_replicates: runs.replicates,
        synthetic: runs.synthetic,
        runs: records.iter().map(|r| r.dir.display().to_string()).collect(),
        models,
        comparisons: compare::comparisons(&runs),
        cross_modal: compare::cross_modal(&runs),
        refusal_accuracy: compare::refusal_points(&runs),
        leaderboard: compare::placements(&runs),
        sub_leaderboard: compare::sub_placements(&runs),
        browser: browse(&runs),
        data_warnings: data_warnings(records),
        scorer_profiles: Vec::new(),
        agreements: super::agreement::agreements(&runs),
        published_variants: if pairs.is_empty() { Vec::new() } else { published_variants() },
        tradeoffs: pairs,
    }
    .with_profiles()
}

impl Page {
    fn with_profiles(mut self) -> Page {
        self.scorer_profiles =
            scorer_profiles(&self).iter().map(|p| format!("{p} = {}", p.label())).collect();
        self
    }
}

/// The data warnings of every run, each line once, in task order.
pub fn data_warnings(records: &[RunRecord]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for record in records {
        for (task, warnings) in &record.manifest.data.warnings {
            for w in warnings {
                let line = format!("{task}: {w}");
                if !out.contains(&line) {
                    out.push(line);
                }
            }
        }
    }
    out
}

fn browse(runs: &Runs) -> Vec<Browsed> {
    let mut out = Vec::new();
    for m in &runs.models {
        let data_root = PathBuf::from(&m.run.manifest.data.path);
        for task in &m.record.tasks {
            // The first sample of each split, up to the limit per task: the browser shows the
            // variants.
            let firsts = task.splits.iter().filter_map(|split| {
                let first = split.samples.iter().zip(&split.answers).zip(&split.scores.samples).next()?;
                Some((split, first))
            });
            for (split, ((sample, answer), score)) in firsts.take(BROWSED_PER_TASK) {
                let thumbnail = sample.image().and_then(|im| {
                    let on_disk = if im.path.is_file() {
                        im.path.clone()
                    } else {
                        let rel = Path::new(im.display.strip_prefix("data/").unwrap_or(&im.display));
                        // A path from a run's files that climbs out of the data folder is not
                        // followed.
                        if rel.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
                            return None;
                        }
                        data_root.join(rel)
                    };
                    thumbnail(&on_disk)
                });
                let failure = score.failure();
                let values: serde_json::Map<String, serde_json::Value> = split
                    .scores
                    .chains
                    .iter()
                    .zip(&score.steps)
                    .flat_map(|(spec, steps)| {
                        spec.prefixes.iter().zip(steps).map(|(p, v)| {
                            (p.clone(), v.as_ref().map(|v| v.to_json()).unwrap_or(serde_json::Value::Null))
                        })
                    })
                    .collect();
                out.push(Browsed {
                    model: compare::label(m, runs),
                    task: task.id.clone(),
                    split: split.scores.split.clone(),
                    id: sample.id.clone(),
                    prompt: clip(&sample.text(), 600),
                    response: answer.as_ref().ok().map(|a| clip(&a.response.text, 600)),
                    outcome: if failure.is_some() { "unscorable" } else { "scored" }.to_string(),
                    reason: failure.map(|u| u.reason.clone()),
                    values: serde_json::Value::Object(values).to_string(),
                    thumbnail,
                });
            }
        }
    }
    out
}

/// A PNG thumbnail (at most 128 px) of an image file, as a data URL; none for a file that is
/// not an image, larger than 64 MiB, or beyond the default decoding limits.
pub fn thumbnail(path: &Path) -> Option<String> {
    if std::fs::metadata(path).ok()?.len() > 64 << 20 {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    let img = crate::data::decode_image(&bytes, &crate::core::ImageLimits::default()).ok()?;
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
