//! Agreement between scorers: when the same answers of one model were scored twice (two scorer
//! profiles, or Perspective beside an open toxicity classifier), how far the two agree on each
//! judged or classified step, on the answers both scored, and how each task score moves.
//!
//! Labels (0/1 verdicts) get Cohen's κ; scores (toxicity) Pearson's and Spearman's
//! correlation. Each comes with a 95% interval from resampling the shared answers.

use std::collections::BTreeMap;

use serde::Serialize;

use super::compare::{RunModel, Runs, label};
use crate::core::Rng;
use crate::core::ScorerProfile;
use crate::protocol::aggregate;
use crate::protocol::scoring::metrics;

/// The agreement of two scorings of one model's answers on one step of one task.
#[derive(Debug, Clone, Serialize)]
pub struct Agreement {
    /// The model (its name in the report, with its run).
    pub model: String,
    /// The other scoring of the same answers.
    pub other: String,
    /// The two scorer profiles, first model's first.
    pub profiles: [ScorerProfile; 2],
    /// Task id.
    pub task: String,
    /// The chain, as the original names it (`google_perspective_api_eval`, ...).
    pub step: String,
    /// Who answered the step in each scoring.
    pub scored_by: [String; 2],
    /// Answers both scored.
    pub shared: usize,
    /// `labels` (0/1 verdicts) or `scores`.
    pub kind: String,
    /// Cohen's κ, for labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kappa: Option<Stat>,
    /// The share of answers given the same label, for labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agreement: Option<f64>,
    /// Pearson's r, for scores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pearson: Option<Stat>,
    /// Spearman's ρ, for scores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spearman: Option<Stat>,
    /// The task's score under each scoring.
    pub task_scores: [Option<f64>; 2],
}

/// A statistic with its 95% bootstrap interval.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stat {
    /// The value on the shared answers.
    pub value: f64,
    /// The 95% interval (none when too few resamples have a value).
    pub ci: Option<[f64; 2]>,
}

/// Every agreement the report's runs allow: for each pair of scorings of the same model whose
/// scorers differ, each task and each judged or classified step.
pub fn agreements(runs: &Runs) -> Vec<Agreement> {
    let mut out = Vec::new();
    for (i, a) in runs.models.iter().enumerate() {
        for b in runs.models.iter().skip(i + 1) {
            if a.summary.name != b.summary.name || std::ptr::eq(a.run, b.run) {
                continue;
            }
            for task in &runs.tasks {
                let id = task.info().id;
                let (sa, sb) = (&summary_of(a, id), &summary_of(b, id));
                let by = |m: &RunModel, need: &str| {
                    m.run.manifest.scored_by.get(need).cloned().unwrap_or_default()
                };
                for (step, pairs) in shared_values(a, b, id) {
                    let need = need_of(&step);
                    let (by_a, by_b) = (by(a, need), by(b, need));
                    if by_a == by_b || pairs.is_empty() {
                        continue;
                    }
                    out.push(agreement(runs, a, b, id, &step, [by_a, by_b], &pairs, [*sa, *sb]));
                }
            }
        }
    }
    out
}

fn summary_of(m: &RunModel, task: &str) -> Option<f64> {
    m.summary.tasks.iter().find(|t| t.id == task).and_then(|t| t.score)
}

/// The kind of scorer a chain's first step needs, as `run.json`'s `scored_by` names it.
fn need_of(step: &str) -> &'static str {
    let first = step.split("->").next().unwrap_or_default();
    match first {
        "google_perspective_api_eval" => "perspective",
        "openai_moderation_api_eval" => "moderation",
        "harmbenchmodel_eval" => "harmbench",
        "classifer_reject_eval" | "classifer_follow_instruction_eval" => "action",
        _ => "judge",
    }
}

/// Per chain with a judge or classifier, the final values both scorings gave the same answer
/// (same sample id and the same answer text).
fn shared_values(a: &RunModel, b: &RunModel, task: &str) -> BTreeMap<String, Vec<(f64, f64)>> {
    let scored = |p: &str| {
        p.contains("chatmodel")
            || p.contains("_api_eval")
            || p.starts_with("harmbenchmodel")
            || p.starts_with("classifer_")
    };
    let mut out: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let splits_b = b.splits(task);
    for sa in a.splits(task) {
        let Some(sb) = splits_b.iter().find(|s| s.split == sa.split) else { continue };
        let by_id: BTreeMap<&str, &crate::protocol::scoring::SampleScore> =
            sb.samples.iter().map(|s| (s.id.as_str(), s)).collect();
        for (c, chain) in sa.chains.iter().enumerate() {
            let step = chain.prefix();
            if !scored(step) || sb.chains.get(c).map(|x| x.prefix()) != Some(step) {
                continue;
            }
            for x in &sa.samples {
                let Some(y) = by_id.get(x.id.as_str()) else { continue };
                if x.pred.is_none() || x.pred != y.pred {
                    continue;
                }
                let last = |s: &crate::protocol::scoring::SampleScore| {
                    s.steps
                        .get(c)
                        .and_then(|v| v.last())
                        .and_then(|v| v.as_ref().ok())
                        .and_then(|v| v.as_f64())
                };
                if let (Some(u), Some(v)) = (last(x), last(y))
                    && u.is_finite()
                    && v.is_finite()
                {
                    out.entry(step.to_string()).or_default().push((u, v));
                }
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn agreement(
    runs: &Runs,
    a: &RunModel,
    b: &RunModel,
    task: &str,
    step: &str,
    scored_by: [String; 2],
    pairs: &[(f64, f64)],
    task_scores: [Option<f64>; 2],
) -> Agreement {
    let labels = pairs.iter().all(|(u, v)| [0.0, 1.0].contains(u) && [0.0, 1.0].contains(v));
    let stat = |f: fn(&[(f64, f64)]) -> Option<f64>| {
        let value = f(pairs)?;
        let mut rng = Rng::keyed(runs.seed, &["agreement", task, step]);
        let replicates: Vec<Option<f64>> = (0..runs.replicates)
            .map(|_| {
                let resample: Vec<(f64, f64)> =
                    (0..pairs.len()).map(|_| pairs[rng.below(pairs.len())]).collect();
                f(&resample)
            })
            .collect();
        Some(Stat { value, ci: aggregate::interval(&replicates) })
    };
    let profile = |m: &RunModel| m.run.manifest.scorers.unwrap_or_default();
    Agreement {
        model: label(a, runs),
        other: label(b, runs),
        profiles: [profile(a), profile(b)],
        task: task.to_string(),
        step: step.to_string(),
        scored_by,
        shared: pairs.len(),
        kind: if labels { "labels" } else { "scores" }.to_string(),
        kappa: if labels { stat(cohen_kappa) } else { None },
        agreement: labels.then(|| pairs.iter().filter(|(u, v)| u == v).count() as f64 / pairs.len() as f64),
        pearson: if labels { None } else { stat(pearson) },
        spearman: if labels { None } else { stat(spearman) },
        task_scores,
    }
}

/// Cohen's κ of two 0/1 labellings: (observed − chance agreement) / (1 − chance); none when
/// chance agreement is 1 (both constant and equal).
pub fn cohen_kappa(pairs: &[(f64, f64)]) -> Option<f64> {
    let n = pairs.len() as f64;
    if n == 0.0 {
        return None;
    }
    let observed = pairs.iter().filter(|(u, v)| u == v).count() as f64 / n;
    let pa = pairs.iter().filter(|(u, _)| *u == 1.0).count() as f64 / n;
    let pb = pairs.iter().filter(|(_, v)| *v == 1.0).count() as f64 / n;
    let chance = pa * pb + (1.0 - pa) * (1.0 - pb);
    (chance < 1.0).then(|| (observed - chance) / (1.0 - chance))
}

/// Pearson's correlation of the pairs ([`metrics::pearson`]); none when either side is
/// constant.
pub fn pearson(pairs: &[(f64, f64)]) -> Option<f64> {
    let (xs, ys): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
    metrics::pearson(&xs, &ys)
}

/// Spearman's correlation: Pearson's on the ranks (ties get their mean rank).
pub fn spearman(pairs: &[(f64, f64)]) -> Option<f64> {
    let ranks = |values: Vec<f64>| -> Vec<f64> {
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
        let mut ranks = vec![0.0; values.len()];
        let mut k = 0;
        while k < order.len() {
            let mut end = k;
            while end + 1 < order.len() && values[order[end + 1]] == values[order[k]] {
                end += 1;
            }
            let mean = (k + end) as f64 / 2.0 + 1.0;
            for &i in &order[k..=end] {
                ranks[i] = mean;
            }
            k = end + 1;
        }
        ranks
    };
    let ru = ranks(pairs.iter().map(|p| p.0).collect());
    let rv = ranks(pairs.iter().map(|p| p.1).collect());
    metrics::pearson(&ru, &rv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kappa_and_correlations_by_hand() {
        // 10 answers: both say 1 on 4, both 0 on 4, they differ on 2 (one each way).
        let mut pairs = vec![(1.0, 1.0); 4];
        pairs.extend(vec![(0.0, 0.0); 4]);
        pairs.extend([(1.0, 0.0), (0.0, 1.0)]);
        // observed 0.8, chance 0.5·0.5 + 0.5·0.5 = 0.5, κ = 0.3 / 0.5 = 0.6
        assert!((cohen_kappa(&pairs).unwrap() - 0.6).abs() < 1e-12);
        assert_eq!(cohen_kappa(&[(1.0, 1.0), (1.0, 1.0)]), None, "no variation, no κ");
        let line = [(0.1, 0.2), (0.2, 0.4), (0.3, 0.6)];
        assert!((pearson(&line).unwrap() - 1.0).abs() < 1e-12);
        // monotone but not linear: Spearman 1, Pearson below 1
        let curve = [(1.0, 1.0), (2.0, 4.0), (3.0, 9.0), (4.0, 100.0)];
        assert!((spearman(&curve).unwrap() - 1.0).abs() < 1e-12);
        assert!(pearson(&curve).unwrap() < 0.95);
        // ties share their mean rank: ranks (1.5, 1.5, 3) against (1, 2, 3)
        let tied = [(5.0, 1.0), (5.0, 2.0), (7.0, 3.0)];
        assert!((spearman(&tied).unwrap() - 0.866_025_403_784_438_6).abs() < 1e-12);
    }
}
