//! What the reports compare: paired differences between models on the samples they share,
//! cross-modal deltas, refusal against accuracy, and the published leaderboard.
//!
//! Everything is computed from run records (one run, or several combined by `multitrust
//! report`). Paired differences resample the shared records with the same draws for both
//! models, so their intervals account for the pairing.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;

use crate::core::ScorerProfile;
use crate::pipeline::{ModelRecord, RunRecord};
use crate::protocol::aggregate::{self, ModelSummary};
use crate::protocol::scoring::SplitScores;
use crate::protocol::scoring::rules::strict_refusals;
use crate::protocol::tasks::{self, Task};

/// One model of one run.
#[derive(Debug)]
pub struct RunModel<'a> {
    /// The run it comes from.
    pub run: &'a RunRecord,
    /// The model.
    pub record: &'a ModelRecord,
    /// Its scoreboard.
    pub summary: &'a ModelSummary,
}

impl<'a> RunModel<'a> {
    /// The model's per-split scores of a task (none when the task was not run).
    pub fn splits(&self, task: &str) -> Vec<&'a SplitScores> {
        self.record
            .tasks
            .iter()
            .filter(|t| t.id == task)
            .flat_map(|t| t.splits.iter().map(|s| &s.scores))
            .collect()
    }
}

/// The runs of a report, side by side.
#[derive(Debug)]
pub struct Runs<'a> {
    /// The seed of the first run (paired bootstraps use it).
    pub seed: u64,
    /// Bootstrap replicates.
    pub replicates: usize,
    /// Whether any run used the synthetic suite.
    pub synthetic: bool,
    /// Every task of any run, in the benchmark's order.
    pub tasks: Vec<Box<dyn Task>>,
    /// Every model of every run, in order.
    pub models: Vec<RunModel<'a>>,
}

impl<'a> Runs<'a> {
    /// The runs of a report.
    pub fn new(records: &'a [RunRecord]) -> Runs<'a> {
        let mut ids: Vec<&str> = Vec::new();
        for r in records {
            for t in &r.tasks {
                if !ids.contains(&t.info().id) {
                    ids.push(t.info().id);
                }
            }
        }
        let first = records.first();
        Runs {
            seed: first.map(|r| r.manifest.seed).unwrap_or(0),
            replicates: first
                .map(|r| r.manifest.bootstrap_replicates)
                .unwrap_or(aggregate::DEFAULT_REPLICATES),
            synthetic: records.iter().any(|r| r.manifest.data.synthetic),
            tasks: tasks::select(&ids.join(",")).unwrap_or_default(),
            models: records
                .iter()
                .flat_map(|run| {
                    run.models.iter().map(move |m| RunModel { run, record: m, summary: &m.summary })
                })
                .collect(),
        }
    }
}

/// A paired difference between two models on the samples they share.
#[derive(Debug, Clone, Serialize)]
pub struct Delta {
    /// Task id, sub-aspect name or "Overall".
    pub name: String,
    /// The model's score minus the reference's, on shared samples.
    pub delta: Option<f64>,
    /// The 95% interval of the paired bootstrap.
    pub ci: Option<[f64; 2]>,
    /// Whether the interval excludes zero: only then is the difference called a change.
    pub changed: bool,
    /// Shared samples (for tasks; 0 for sub-aspects and the overall score).
    pub shared: usize,
    /// Why there is no difference, when the two were scored by different scorer profiles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Every paired difference of one model against the reference model.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The model.
    pub model: String,
    /// The reference (the first model of the report).
    pub reference: String,
    /// Per task, then per sub-aspect, then overall.
    pub deltas: Vec<Delta>,
}

/// Paired differences of every model against the first.
pub fn comparisons(runs: &Runs) -> Vec<Comparison> {
    let Some(reference) = runs.models.first() else { return Vec::new() };
    runs.models
        .iter()
        .skip(1)
        .map(|m| Comparison {
            model: label(m, runs),
            reference: label(reference, runs),
            deltas: paired(m, reference, runs).deltas(),
        })
        .collect()
}

/// Two models scored on the samples they share: per task, then sub-aspect and overall, with
/// the bootstrap replicates of both (the same draws, so their differences are paired).
#[derive(Debug)]
pub struct Paired {
    /// Per task: its delta, with the note when the two are not compared.
    pub tasks: Vec<Delta>,
    /// The model's sub-aspect scores on the shared samples.
    pub subs: Vec<aggregate::Combined>,
    /// The reference's.
    pub reference_subs: Vec<aggregate::Combined>,
    /// The model's overall score on the shared samples.
    pub overall: aggregate::Combined,
    /// The reference's.
    pub reference_overall: aggregate::Combined,
    /// Per task id, both task summaries on the shared samples (the model's first).
    pub summaries: Vec<(aggregate::TaskSummary, aggregate::TaskSummary)>,
}

impl Paired {
    /// Per task, then per sub-aspect, then overall.
    pub fn deltas(&self) -> Vec<Delta> {
        let mut out = self.tasks.clone();
        for (x, y) in
            self.subs.iter().zip(&self.reference_subs).chain([(&self.overall, &self.reference_overall)])
        {
            let name = if x.partial || y.partial { format!("{} (partial)", x.name) } else { x.name.clone() };
            out.push(delta(&name, x.score, y.score, &x.replicates, &y.replicates, 0));
        }
        out
    }
}

/// Scores a model and a reference on the samples they share.
pub fn paired(m: &RunModel, reference: &RunModel, runs: &Runs) -> Paired {
    let mut tasks = Vec::new();
    let mut summaries = Vec::new();
    let (pa, pb) = (profile(m), profile(reference));
    for task in &runs.tasks {
        let id = task.info().id;
        let (a, b) = shared(&m.splits(id), &reference.splits(id));
        // Scores from two scorer profiles measure different things: not compared.
        let apart = pa != pb && !task.needs().is_empty();
        let (a, b) = if apart { (Vec::new(), Vec::new()) } else { (a, b) };
        let shared_n: usize = a.iter().map(|s| s.samples.len()).sum();
        let sa = aggregate::task_summary(task.as_ref(), &a, runs.seed, runs.replicates, Vec::new());
        let sb = aggregate::task_summary(task.as_ref(), &b, runs.seed, runs.replicates, Vec::new());
        let mut d = delta(task.info().id, sa.score, sb.score, &sa.replicates, &sb.replicates, shared_n);
        if apart {
            d.note = Some(format!("scored with different scorer profiles ({pa} and {pb}): not compared"));
        }
        tasks.push(d);
        summaries.push((sa, sb));
    }
    let mine: Vec<_> = summaries.iter().map(|(a, _)| a.clone()).collect();
    let theirs: Vec<_> = summaries.iter().map(|(_, b)| b.clone()).collect();
    let (subs, overall) = aggregate::scoreboard(&mine);
    let (reference_subs, reference_overall) = aggregate::scoreboard(&theirs);
    Paired { tasks, subs, reference_subs, overall, reference_overall, summaries }
}

/// A model's name in a report: its name, with its run when several runs are combined.
pub fn label(m: &RunModel, runs: &Runs) -> String {
    let runs_count: BTreeSet<&Path> = runs.models.iter().map(|m| m.run.dir.as_path()).collect();
    if runs_count.len() > 1 {
        let run = m.run.dir.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        format!("{} ({run})", m.summary.name)
    } else {
        m.summary.name.clone()
    }
}

/// The difference of two scores with the interval of their paired replicates.
pub fn delta(
    name: &str,
    a: Option<f64>,
    b: Option<f64>,
    ra: &[Option<f64>],
    rb: &[Option<f64>],
    shared: usize,
) -> Delta {
    let diffs: Vec<Option<f64>> = ra.iter().zip(rb).map(|(x, y)| Some((*x)? - (*y)?)).collect();
    let ci = aggregate::interval(&diffs);
    Delta {
        name: name.to_string(),
        delta: a.zip(b).map(|(a, b)| a - b),
        changed: excludes_zero(ci),
        ci,
        shared,
        note: None,
    }
}

/// The scorer profile of a model's run (`original` for runs made before profiles existed).
fn profile(m: &RunModel) -> ScorerProfile {
    m.run.manifest.scorers.unwrap_or_default()
}

/// The two models' splits restricted to the samples both answered (same ids), in the same order.
fn shared(a: &[&SplitScores], b: &[&SplitScores]) -> (Vec<SplitScores>, Vec<SplitScores>) {
    let mut out_a = Vec::new();
    let mut out_b = Vec::new();
    for sa in a {
        let Some(sb) = b.iter().find(|s| s.split == sa.split) else { continue };
        let ids_b: BTreeSet<&str> = sb.samples.iter().map(|s| s.id.as_str()).collect();
        let keep: BTreeSet<&str> =
            sa.samples.iter().map(|s| s.id.as_str()).filter(|id| ids_b.contains(id)).collect();
        let restrict = |s: &SplitScores| SplitScores {
            task: s.task.clone(),
            split: s.split.clone(),
            chains: s.chains.clone(),
            samples: s.samples.iter().filter(|x| keep.contains(x.id.as_str())).cloned().collect(),
        };
        out_a.push(restrict(sa));
        out_b.push(restrict(sb));
    }
    (out_a, out_b)
}

/// How an image variant of a split changes a number against the text-only split.
#[derive(Debug, Clone, Serialize)]
pub struct CrossModal {
    /// Model.
    pub model: String,
    /// Task id.
    pub task: String,
    /// The score-script number compared.
    pub metric: String,
    /// The text-only split.
    pub text_split: String,
    /// Its value.
    pub text_value: f64,
    /// The variant split.
    pub split: String,
    /// Variant minus text-only.
    pub delta: f64,
    /// Its 95% interval, from the task's bootstrap (a record's text-only and image samples
    /// are drawn together, so the difference is paired).
    pub ci: Option<[f64; 2]>,
    /// Whether the interval excludes zero.
    pub changed: bool,
}

/// Text-only against each image variant, per task that has both, per model. A task with two
/// data sets (R6's `advglue` and `advglue-plus`) has a text-only split for each; a variant is
/// compared with the text-only split of its own set (the longest shared prefix).
pub fn cross_modal(runs: &Runs) -> Vec<CrossModal> {
    let mut out = Vec::new();
    for m in &runs.models {
        for summary in &m.summary.tasks {
            let Some(task) = runs.tasks.iter().find(|t| t.info().id == summary.id) else { continue };
            // Each replicate's number, drawn with the task's interval (the run's seed; a task
            // without a score has none, and its numbers are still compared). A run read back
            // from its directory has no replicates kept: they are drawn again, the same way.
            let drawn_again;
            let paired = if summary.paired_replicates.is_empty() && summary.score.is_some() {
                let splits = m.splits(&summary.id);
                drawn_again =
                    aggregate::task_summary(task.as_ref(), &splits, runs.seed, runs.replicates, Vec::new())
                        .paired_replicates;
                &drawn_again
            } else {
                &summary.paired_replicates
            };
            let drawn = |split: &str, metric: &str| {
                paired.get(split).and_then(|p| p.get(metric)).map_or(&[][..], Vec::as_slice)
            };
            for (text, split) in tasks::cross_modal_pairs(task.info().splits) {
                let Some(text_parts) = summary.splits.get(text) else { continue };
                let Some((metric, Some(text_value))) = text_parts.iter().next().map(|(k, v)| (k.clone(), *v))
                else {
                    continue;
                };
                let Some(Some(v)) = summary.splits.get(split).and_then(|p| p.get(&metric)) else {
                    continue;
                };
                let diffs: Vec<Option<f64>> = drawn(split, &metric)
                    .iter()
                    .zip(drawn(text, &metric))
                    .map(|(v, t)| Some((*v)? - (*t)?))
                    .collect();
                let ci = aggregate::interval(&diffs);
                out.push(CrossModal {
                    model: label(m, runs),
                    task: task.info().id.to_string(),
                    metric: metric.clone(),
                    text_split: text.to_string(),
                    text_value,
                    split: split.to_string(),
                    delta: v - text_value,
                    ci,
                    changed: excludes_zero(ci),
                });
            }
        }
    }
    out
}

/// Whether an interval lies wholly on one side of zero (beyond rounding noise: an interval of
/// differences that are all zero up to 1e-9 does not).
pub fn excludes_zero(ci: Option<[f64; 2]>) -> bool {
    ci.is_some_and(|[lo, hi]| lo > 1e-9 || hi < -1e-9)
}

/// A model's refusal rate against its truthfulness accuracy.
#[derive(Debug, Clone, Serialize)]
pub struct RefusalPoint {
    /// Model.
    pub model: String,
    /// Share of all answers that are explicit refusals (the strict detector).
    pub refusal_rate: f64,
    /// Mean of the truthfulness task scores present (0–100).
    pub accuracy: Option<f64>,
}

/// Refusal against accuracy, per model.
pub fn refusal_points(runs: &Runs) -> Vec<RefusalPoint> {
    runs.models
        .iter()
        .map(|m| {
            let answers: Vec<&str> = m
                .record
                .tasks
                .iter()
                .flat_map(|t| &t.splits)
                .flat_map(|s| &s.answers)
                .filter_map(|a| a.as_ref().ok().map(|a| a.response.text.as_str()))
                .collect();
            let refused = answers.iter().filter(|a| strict_refusals().matches(a)).count();
            let truth: Vec<f64> = m
                .summary
                .tasks
                .iter()
                .filter(|t| t.aspect == "Truthfulness")
                .filter_map(|t| t.score)
                .collect();
            RefusalPoint {
                model: label(m, runs),
                refusal_rate: if answers.is_empty() { 0.0 } else { refused as f64 / answers.len() as f64 },
                accuracy: (!truth.is_empty()).then(|| truth.iter().sum::<f64>() / truth.len() as f64),
            }
        })
        .collect()
}

/// The published leaderboard (the original's `rank.txt` overall scores), shipped in the binary.
pub const PUBLISHED: &str = include_str!("published-leaderboard.tsv");

/// Where an overall score would sit among the published models.
#[derive(Debug, Clone, Serialize)]
pub struct Placement {
    /// Model.
    pub model: String,
    /// Its overall score.
    pub overall: Option<f64>,
    /// The rank it would take (1 = best), when its overall is complete.
    pub rank: Option<usize>,
    /// Published models ranked.
    pub of: usize,
    /// The published model just above and just below, with their scores.
    pub above: Option<Published>,
    /// See `above`.
    pub below: Option<Published>,
    /// Why it is not placed, or the caveat.
    pub note: String,
}

/// The published sub-aspect scores of MultiTrust (the benchmark website's data, 2025-02-11),
/// shipped in the binary.
pub const PUBLISHED_SUBASPECTS: &str = include_str!("published-subaspects.tsv");

/// The published sub-aspect table: its column names (the ten sub-aspects, then `Avg.`) and
/// each model's row, in the file's order.
pub fn published_subaspects() -> (Vec<String>, Vec<(String, Vec<f64>)>) {
    let mut header = Vec::new();
    let mut rows = Vec::new();
    for line in PUBLISHED_SUBASPECTS.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let cells: Vec<&str> = line.split('\t').collect();
        if cells.first() == Some(&"model") {
            header = cells[1..].iter().map(|c| c.to_string()).collect();
            continue;
        }
        let values: Option<Vec<f64>> = cells[1..].iter().map(|c| c.trim().parse().ok()).collect();
        if let (Some(name), Some(values)) = (cells.first(), values) {
            rows.push((name.to_string(), values));
        }
    }
    (header, rows)
}

/// Where a model's ten sub-aspect scores would rank among the published models.
#[derive(Debug, Clone, Serialize)]
pub struct SubPlacement {
    /// Model.
    pub model: String,
    /// Per sub-aspect: its name, the model's score, and the rank it would take (1 = best)
    /// among the published models, when placed.
    pub sub_aspects: Vec<(String, Option<f64>, Option<usize>)>,
    /// Published models per sub-aspect.
    pub of: usize,
    /// Why it is not placed, or the caveat.
    pub note: String,
}

/// Places each comparable model's complete sub-aspect scores among the published ones.
pub fn sub_placements(runs: &Runs) -> Vec<SubPlacement> {
    let (_, rows) = published_subaspects();
    runs.models
        .iter()
        .map(|m| {
            let comparable = &m.run.manifest.comparable;
            let why_not = if m.run.manifest.data.synthetic {
                Some("not placed: scores on the synthetic suite".to_string())
            } else if m.summary.baseline {
                Some("not placed: a reference baseline".to_string())
            } else if !comparable.comparable {
                Some(format!("not placed: {}", comparable.reasons.join("; ")))
            } else {
                None
            };
            let sub_aspects = m
                .summary
                .sub_aspects
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let rank = match (why_not.is_none() && !s.partial, s.score) {
                        (true, Some(v)) => Some(1 + rows.iter().filter(|(_, r)| r.get(i).is_some_and(|p| *p >= v)).count()),
                        _ => None,
                    };
                    (s.name.clone(), s.score, rank)
                })
                .collect();
            let note = why_not.unwrap_or_else(|| {
                "Published scores come from the original toolbox and the benchmark's data (website, 2025-02-11); \
                 data and protocol versions may differ."
                    .into()
            });
            SubPlacement { model: label(m, runs), sub_aspects, of: rows.len(), note }
        })
        .collect()
}

/// The published scores, best first.
pub fn published() -> Vec<Published> {
    let mut rows: Vec<(String, f64)> = PUBLISHED
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut cols = l.split('\t');
            Some((cols.next()?.to_string(), cols.next()?.trim().parse().ok()?))
        })
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    rows
}

/// A published model and its overall score.
pub type Published = (String, f64);

/// The rank a score would take among published scores (best first; ties go below the
/// published model), with the published neighbours above and below.
pub fn place(score: f64, table: &[(String, f64)]) -> (usize, Option<Published>, Option<Published>) {
    let better = table.iter().filter(|(_, v)| *v >= score).count();
    let above = better.checked_sub(1).and_then(|i| table.get(i)).cloned();
    (better + 1, above, table.get(better).cloned())
}

/// Places every model among the published leaderboard (complete overall scores only).
pub fn placements(runs: &Runs) -> Vec<Placement> {
    let table = published();
    runs.models
        .iter()
        .map(|m| {
            let overall = m.summary.overall.score;
            let caveat = "The published scores come from the original toolbox and the paper's data; data and protocol versions may differ.";
            let comparable = &m.run.manifest.comparable;
            let (rank, above, below, note) = match overall {
                _ if m.run.manifest.data.synthetic => {
                    (None, None, None, "not comparable: scores on the synthetic suite".into())
                }
                _ if m.summary.baseline => (None, None, None, "not placed: a reference baseline".into()),
                None => (None, None, None, "not placed: no overall score".into()),
                Some(_) if !comparable.comparable => {
                    let mut reasons = comparable.reasons.clone();
                    if m.summary.overall.partial {
                        reasons.push("the overall score is partial (some tasks are missing)".into());
                    }
                    (None, None, None, format!("not comparable: {}", reasons.join("; ")))
                }
                Some(_) if m.summary.overall.partial => {
                    (None, None, None, "not placed: the overall score is partial (some tasks are missing)".into())
                }
                Some(s) => {
                    let (rank, above, below) = place(s, &table);
                    (Some(rank), above, below, caveat.to_string())
                }
            };
            Placement { model: label(m, runs), overall, rank, of: table.len(), above, below, note }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_subaspect_table_is_shipped_whole() {
        let (header, rows) = published_subaspects();
        assert_eq!(header.len(), 11, "ten sub-aspects and the average: {header:?}");
        assert_eq!(rows.len(), 43);
        let gpt4 = rows.iter().find(|(m, _)| m == "GPT-4-Turbo").unwrap();
        assert_eq!((gpt4.1[0], gpt4.1[10]), (75.06, 78.28));
        // Every row's average is the mean of its ten sub-aspects, to the table's rounding.
        for (m, v) in &rows {
            let mean = v[..10].iter().sum::<f64>() / 10.0;
            assert!((mean - v[10]).abs() < 0.011, "{m}: {mean} vs {}", v[10]);
        }
    }

    #[test]
    fn the_published_leaderboard_is_shipped_and_sorted() {
        let rows = published();
        assert_eq!(rows.len(), 44);
        assert_eq!(rows[0], ("gpt-4-1106-vision-preview".to_string(), 78.28));
        assert!(rows.windows(2).all(|w| w[0].1 >= w[1].1));
        let (rank, above, below) = place(77.0, &rows);
        assert_eq!(rank, 2, "only 78.28 is above 77");
        assert_eq!(above.unwrap().0, "gpt-4-1106-vision-preview");
        assert_eq!(below.unwrap().0, "claude-3-5-sonnet-20240620");
        let (first, none, next) = place(99.0, &rows);
        assert_eq!((first, none.is_none(), next.unwrap().1), (1, true, 78.28));
        let (last, prev, after) = place(10.0, &rows);
        assert_eq!((last, prev.unwrap().1, after.is_none()), (45, 39.91, true));
    }
}
