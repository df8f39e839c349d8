//! The report's content, gathered once from run records: the scoreboards, comparisons,
//! cross-modal deltas, refusal against accuracy, leaderboard placements and the samples for the
//! browser. The HTML and Markdown reports render it, and `summary.json` carries it, so every number
//! a report shows can be read by a program too.

use std::collections::BTreeMap;

use serde::Serialize;

use super::agreement::Agreement;
use super::browser::Browser;
use super::compare::{self, Comparison, CrossModal, Placement, RefusalPoint, Runs, SubPlacement};
use super::tradeoff::{PublishedVariant, Tradeoff, published_variants, tradeoffs};
use crate::core::ScorerProfile;
use crate::pipeline::RunRecord;
use crate::pipeline::record::Comparability;
use crate::pipeline::record::Health;
use crate::protocol::aggregate::{ModelSummary, TaskSummary};

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
    /// The samples for the page's browser (not written to `summary.json`: every sample is in
    /// `samples.jsonl`).
    #[serde(skip)]
    pub browser: Browser,
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
                // Every model lists the same tasks in the same order (runs of different task
                // sets leave the tasks a run did not have unscored, saying so).
                summary.tasks = runs
                    .tasks
                    .iter()
                    .map(|task| {
                        let id = task.info().id;
                        m.summary
                            .tasks
                            .iter()
                            .find(|t| t.id == id)
                            .cloned()
                            .unwrap_or_else(|| not_run(task.as_ref()))
                    })
                    .collect();
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
        browser: super::browser::gather(&runs),
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

/// The summary of a task that a combined report has and a model's run did not.
fn not_run(task: &dyn crate::protocol::tasks::Task) -> TaskSummary {
    let info = task.info();
    TaskSummary {
        id: info.id.to_string(),
        name: info.name.to_string(),
        aspect: info.sub_aspect.aspect().name().to_string(),
        sub_aspect: info.sub_aspect.name().to_string(),
        score: None,
        missing: Some("not run in this model's run".into()),
        ci: None,
        undefined_replicates: 0,
        samples: 0,
        unscorable: 0,
        unscorable_rate: 0.0,
        needs: Vec::new(),
        scorers: None,
        scored_by: BTreeMap::new(),
        splits: BTreeMap::new(),
        replicates: Vec::new(),
        paired_replicates: BTreeMap::new(),
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
