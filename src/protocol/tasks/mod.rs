//! The 32 tasks of the benchmark, one file each, grouped by aspect.
//!
//! A task reads top to bottom: its splits (the original's dataset ids), how it loads them from
//! the official data layout, how it asks (prompt, token limit), how it scores (evaluator chains
//! and metrics), and the score formula of the original's score script. See `docs/tasks.md`.

pub mod fairness;
pub mod privacy;
pub mod robustness;
pub mod safety;
pub mod truthfulness;
pub mod utility;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Map, Value as Json};

use crate::core::Need;
use crate::data::unrelated::{Pools, Unrelated, draw};
use crate::data::{DataDir, DataError, LoadLog};
use crate::protocol::scoring::chain::SplitTable;
use crate::protocol::scoring::{Chain, SampleScore, SplitScores};
use crate::sample::{ImageRef, Sample, SplitBuilder, Target};

/// The five aspects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Aspect {
    /// Truthfulness.
    Truthfulness,
    /// Safety.
    Safety,
    /// Robustness.
    Robustness,
    /// Fairness.
    Fairness,
    /// Privacy.
    Privacy,
    /// General utility (POPE, MMBench): outside the MultiTrust score, measured beside it to see
    /// what a mitigation costs.
    Utility,
}

impl Aspect {
    /// The aspect's name.
    pub fn name(self) -> &'static str {
        match self {
            Aspect::Truthfulness => "Truthfulness",
            Aspect::Safety => "Safety",
            Aspect::Robustness => "Robustness",
            Aspect::Fairness => "Fairness",
            Aspect::Privacy => "Privacy",
            Aspect::Utility => "Utility",
        }
    }
}

/// The ten sub-aspects that the overall score averages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum SubAspect {
    /// Truthfulness: inherent deficiency (T1–T4).
    InherentDeficiency,
    /// Truthfulness: misguided mistakes (T5–T7).
    MisguidedMistakes,
    /// Safety: toxicity (S1–S3).
    Toxicity,
    /// Safety: jailbreaking (S4–S6).
    Jailbreaking,
    /// Robustness: out of distribution (R1–R3).
    Ood,
    /// Robustness: adversarial attack (R4–R6).
    AdversarialAttack,
    /// Fairness: stereotype (F1–F4).
    Stereotype,
    /// Fairness: bias and preference (F5–F7).
    BiasPreference,
    /// Privacy: awareness (P1–P3, weighted 0.4/0.3/0.3).
    PrivacyAwareness,
    /// Privacy: leakage (P4–P6).
    PrivacyLeakage,
    /// Utility (U1 POPE, U2 MMBench): not one of the ten, never in the overall score.
    Utility,
}

impl SubAspect {
    /// All ten, in the benchmark's order.
    pub const ALL: [SubAspect; 10] = [
        SubAspect::InherentDeficiency,
        SubAspect::MisguidedMistakes,
        SubAspect::Toxicity,
        SubAspect::Jailbreaking,
        SubAspect::Ood,
        SubAspect::AdversarialAttack,
        SubAspect::Stereotype,
        SubAspect::BiasPreference,
        SubAspect::PrivacyAwareness,
        SubAspect::PrivacyLeakage,
    ];

    /// The sub-aspect's name as the benchmark writes it.
    pub fn name(self) -> &'static str {
        match self {
            SubAspect::InherentDeficiency => "Inherent Deficiency",
            SubAspect::MisguidedMistakes => "Misguided Mistakes",
            SubAspect::Toxicity => "Toxicity",
            SubAspect::Jailbreaking => "Jailbreaking",
            SubAspect::Ood => "OOD",
            SubAspect::AdversarialAttack => "Adversarial Attack",
            SubAspect::Stereotype => "Stereotype",
            SubAspect::BiasPreference => "Bias & Preference",
            SubAspect::PrivacyAwareness => "Privacy Awareness",
            SubAspect::PrivacyLeakage => "Privacy Leakage",
            SubAspect::Utility => "Utility",
        }
    }

    /// The aspect it belongs to.
    pub fn aspect(self) -> Aspect {
        match self {
            SubAspect::InherentDeficiency | SubAspect::MisguidedMistakes => Aspect::Truthfulness,
            SubAspect::Toxicity | SubAspect::Jailbreaking => Aspect::Safety,
            SubAspect::Ood | SubAspect::AdversarialAttack => Aspect::Robustness,
            SubAspect::Stereotype | SubAspect::BiasPreference => Aspect::Fairness,
            SubAspect::PrivacyAwareness | SubAspect::PrivacyLeakage => Aspect::Privacy,
            SubAspect::Utility => Aspect::Utility,
        }
    }
}

/// Whether a refusal is the right answer to a task's requests (see [`Task::refusal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Refusal {
    /// Harmful or private requests: refusing is safe behaviour.
    Desired,
    /// Benign requests: refusing is over-refusal.
    Undesired,
    /// Neither: the request is not harmful, but the score rewards declining.
    Neutral,
}

/// What a task is.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    /// The id, e.g. `R3`.
    pub id: &'static str,
    /// The name, e.g. "Sentiment Analysis for OOD Texts".
    pub name: &'static str,
    /// Its sub-aspect (and so its aspect).
    pub sub_aspect: SubAspect,
    /// The splits (the original's dataset ids), in the order the original runs them.
    pub splits: &'static [&'static str],
}

/// What one record asks, before it is paired with an image ([`LoadContext::push_paired`]).
#[derive(Debug)]
pub struct Ask {
    /// The prompt.
    pub text: String,
    /// What the evaluators compare the answer with.
    pub target: Target,
    /// Extra fields for the evaluators.
    pub extra: Map<String, Json>,
    /// The resampling group of the bootstrap.
    pub group: String,
}

/// What a loader needs: the data folder, the run seed, the unrelated-image pools, where to
/// put generated images, and where to count skipped records.
#[derive(Debug)]
pub struct LoadContext {
    /// The data folder.
    pub data: DataDir,
    /// The run seed.
    pub seed: u64,
    /// Records skipped while loading.
    pub log: LoadLog,
    /// The unrelated-image pools.
    pub pools: Pools,
    /// Where generated images (P6's text images) are written.
    pub generated: PathBuf,
}

impl LoadContext {
    /// A context for a data folder.
    pub fn new(data: DataDir, seed: u64, generated: PathBuf) -> LoadContext {
        LoadContext { data, seed, log: LoadLog::default(), pools: Pools::default(), generated }
    }

    /// `k` distinct unrelated images of one kind for the sample at `position` of a split.
    pub fn unrelated(
        &self,
        kind: Unrelated,
        task: &str,
        split: &str,
        position: usize,
        k: usize,
    ) -> Result<Vec<ImageRef>, DataError> {
        let pool = self.pools.get(&self.data, kind)?;
        for file in &pool.ignored {
            self.log.ignore(file.clone());
        }
        Ok(draw(&pool.images, self.seed, &[task, split, &position.to_string()], k))
    }

    /// One unrelated image of one kind for the sample at `position` of a split.
    pub fn unrelated_one(
        &self,
        kind: Unrelated,
        task: &str,
        split: &str,
        position: usize,
    ) -> Result<ImageRef, DataError> {
        self.unrelated(kind, task, split, position, 1)?.pop().ok_or_else(|| DataError::Missing {
            path: format!("{}/*{}*", crate::data::unrelated::POOL_DIR, kind.word()),
            hint: "the unrelated-image pool is empty".into(),
        })
    }
}

/// A number that cannot be computed, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing(pub String);

/// A number or the reason it is missing.
pub type Num = Result<f64, Missing>;

/// A task's score and the per-split numbers its score script reports.
#[derive(Debug, Clone, Default)]
pub struct TaskScore {
    /// The task score (0–100, higher is better), or why it is missing.
    pub value: Option<Num>,
    /// The score script's numbers: split → name → value.
    pub parts: BTreeMap<String, BTreeMap<String, Option<f64>>>,
}

impl TaskScore {
    /// Records one of the score script's numbers and passes it on.
    pub fn part(&mut self, split: &str, name: &str, value: Num) -> Num {
        self.parts.entry(split.to_string()).or_default().insert(name.to_string(), value.clone().ok());
        value
    }

    /// Sets the task score.
    pub fn done(mut self, value: Num) -> TaskScore {
        self.value = Some(value);
        self
    }
}

/// The mean of some numbers; missing if any is.
pub fn mean(values: &[Num]) -> Num {
    let mut sum = 0.0;
    for v in values {
        sum += v.clone()?;
    }
    if values.is_empty() {
        return Err(Missing("nothing to average".into()));
    }
    Ok(sum / values.len() as f64)
}

/// A weighted sum of numbers; missing if any is.
pub fn weighted(terms: &[(f64, Num)]) -> Num {
    let mut sum = 0.0;
    for (w, v) in terms {
        sum += w * v.clone()?;
    }
    Ok(sum)
}

/// The results of a task's splits for one model, as a score formula reads them: over all
/// samples, or over a bootstrap resample.
#[derive(Debug)]
pub struct TaskResults<'a> {
    splits: BTreeMap<&'a str, SplitView<'a>>,
}

/// A split's samples in a (re)sample. Its totals are computed key by key as the formula asks
/// for them: a bootstrap replicate reads a few of the many a split has.
#[derive(Debug)]
struct SplitView<'a> {
    table: std::borrow::Cow<'a, SplitTable<'a>>,
    indices: Vec<usize>,
}

impl<'a> TaskResults<'a> {
    /// Results over all samples of these splits (owned or borrowed).
    pub fn new<S: std::borrow::Borrow<SplitScores>>(splits: &'a [S]) -> TaskResults<'a> {
        let splits = splits
            .iter()
            .map(|s| {
                let s: &'a SplitScores = s.borrow();
                let (table, indices) =
                    (std::borrow::Cow::Owned(SplitTable::new(s)), (0..s.samples.len()).collect());
                (s.split.as_str(), SplitView { table, indices })
            })
            .collect();
        TaskResults { splits }
    }

    /// Results over a resample of the splits of these tables (made once for all resamples):
    /// `pick(split)` gives the sample indices (repeats allowed), or `None` for all samples.
    pub fn resampled(
        tables: &'a [SplitTable<'a>],
        mut pick: impl FnMut(&SplitScores) -> Option<Vec<usize>>,
    ) -> TaskResults<'a> {
        let splits = tables
            .iter()
            .map(|t| {
                let s = t.scores;
                let indices = pick(s).unwrap_or_else(|| (0..s.samples.len()).collect());
                (s.split.as_str(), SplitView { table: std::borrow::Cow::Borrowed(t), indices })
            })
            .collect();
        TaskResults { splits }
    }

    fn view(&self, split: &str) -> Result<&SplitView<'a>, Missing> {
        self.splits.get(split).ok_or_else(|| Missing(format!("split {split} was not run")))
    }

    /// A `total_results` number of a split.
    pub fn metric(&self, split: &str, key: &str) -> Num {
        let view = self.view(split)?;
        match view.table.total(key, &view.indices) {
            Some(Some(v)) => Ok(v),
            Some(None) => Err(self.why_null(view, key)),
            None => Err(Missing(format!("{split}: no result `{key}`"))),
        }
    }

    fn why_null(&self, view: &SplitView, key: &str) -> Missing {
        let prefix = key.split(':').next().unwrap_or_default();
        if let Some(c) = view.table.scores.chain(prefix) {
            let unconfigured = view.indices.iter().find_map(|&i| {
                let s = &view.table.scores.samples[i];
                s.steps.get(c)?.iter().find_map(|r| r.as_ref().err().filter(|u| u.is_unconfigured()))
            });
            if let Some(u) = unconfigured {
                return Missing(u.reason.clone());
            }
        }
        Missing(format!("{}: `{key}` is undefined (no scored sample)", view.table.scores.split))
    }

    /// The samples of a split in this (re)sample, for formulas that read per-sample values.
    pub fn samples(&self, split: &str) -> Result<Vec<&'a SampleScore>, Missing> {
        let view = self.view(split)?;
        Ok(view.indices.iter().map(|&i| &view.table.scores.samples[i]).collect())
    }

    /// The index of a chain of a split.
    pub fn chain(&self, split: &str, prefix: &str) -> Result<usize, Missing> {
        self.view(split)?
            .table
            .scores
            .chain(prefix)
            .ok_or_else(|| Missing(format!("{split}: no evaluator chain `{prefix}`")))
    }

    /// Why the values of a chain are missing for a sample set, when no sample is scored.
    pub fn chain_missing(&self, split: &str, chain: usize) -> Missing {
        let Ok(view) = self.view(split) else {
            return Missing(format!("split {split} was not run"));
        };
        let reason = view.indices.iter().find_map(|&i| {
            view.table.scores.samples[i].steps.get(chain)?.last()?.as_ref().err().map(|u| u.reason.clone())
        });
        Missing(reason.unwrap_or_else(|| format!("{split}: no scored sample")))
    }
}

/// A task: its data, how it asks and how it scores.
pub trait Task: Send + Sync + std::fmt::Debug {
    /// Id, name, sub-aspect and splits.
    fn info(&self) -> &TaskInfo;

    /// The samples of one split, read from the official layout in a deterministic order.
    fn load(&self, split: &str, ctx: &LoadContext) -> Result<Vec<Sample>, DataError>;

    /// The token limit for the tested model (the original's `max_new_tokens`).
    fn max_tokens(&self, split: &str) -> u32;

    /// The evaluator chains of a split.
    fn chains(&self, split: &str) -> Vec<Chain>;

    /// The score formula of the original's score and rank scripts.
    fn score(&self, results: &TaskResults) -> TaskScore;

    /// The data files and folders the task reads (relative to the data folder), for the
    /// manifest and the docs.
    fn data_files(&self) -> &'static [&'static str];

    /// Whether refusing its requests is the right answer: [`Refusal::Desired`] for harmful or
    /// private requests, [`Refusal::Neutral`] where the benchmark rewards a refusal on requests
    /// that are not harmful (declining to pick a side), [`Refusal::Undesired`] for benign
    /// requests (the default). The trade-off analysis counts over-refusal on the undesired
    /// ones and discrimination between the first and the last.
    fn refusal(&self) -> Refusal {
        Refusal::Undesired
    }

    /// What must be configured to score the task fully (the judge, classifiers).
    fn needs(&self) -> BTreeSet<Need> {
        self.info().splits.iter().flat_map(|s| self.chains(s)).flat_map(|c| c.needs()).collect()
    }
}

/// Every task, in the benchmark's order.
pub fn all() -> Vec<Box<dyn Task>> {
    let mut tasks: Vec<Box<dyn Task>> = Vec::new();
    tasks.extend(truthfulness::tasks());
    tasks.extend(safety::tasks());
    tasks.extend(robustness::tasks());
    tasks.extend(fairness::tasks());
    tasks.extend(privacy::tasks());
    tasks
}

/// Every task: the 32 of the benchmark, then the utility tasks.
pub fn every() -> Vec<Box<dyn Task>> {
    let mut tasks = all();
    tasks.extend(utility::tasks());
    tasks
}

/// A task selection names something that is neither a task, an aspect, a sub-aspect nor `all`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "unknown task `{name}`: use task ids ({known}), an aspect (truthfulness, safety, robustness, \
     fairness, privacy, utility), a sub-aspect, or all"
)]
pub struct UnknownTask {
    /// The name given.
    pub name: String,
    /// The task ids, comma separated.
    pub known: String,
}

/// Selects tasks by id (`R3`, `U1`), aspect (`robustness`), sub-aspect (`ood`), `all` (the
/// 32 MultiTrust tasks) or `utility` (the utility tasks, also named `pope` and `mmbench`),
/// comma separated; an unknown name is an error that lists the known ones.
pub fn select(spec: &str) -> Result<Vec<Box<dyn Task>>, UnknownTask> {
    let wanted: Vec<String> =
        spec.split(',').map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).collect();
    let mut chosen = BTreeSet::new();
    let tasks = every();
    for w in &wanted {
        let before = chosen.len();
        for (i, t) in tasks.iter().enumerate() {
            let info = t.info();
            let sub = info.sub_aspect.name().to_lowercase().replace([' ', '&'], "");
            let utility = info.sub_aspect == SubAspect::Utility;
            if (w == "all" && !utility)
                || info.id.eq_ignore_ascii_case(w)
                || utility::alias(info.id) == Some(w.as_str())
                || info.sub_aspect.aspect().name().eq_ignore_ascii_case(w)
                || sub == w.replace(['-', '_', ' ', '&'], "")
            {
                chosen.insert(i);
            }
        }
        if chosen.len() == before && !tasks.iter().any(|t| t.info().id.eq_ignore_ascii_case(w)) {
            let ids: Vec<&str> = tasks.iter().map(|t| t.info().id).collect();
            return Err(UnknownTask { name: w.clone(), known: ids.join(", ") });
        }
    }
    Ok(tasks.into_iter().enumerate().filter(|(i, _)| chosen.contains(i)).map(|(_, t)| t).collect())
}

/// The unrelated-image kind of a split named `...-unrelated-image-K`.
pub fn unrelated_kind(split: &str) -> Option<Unrelated> {
    if split.contains("unrelated") { Unrelated::from_split(split) } else { None }
}

/// How a cross-modal split pairs a text with an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pairing {
    /// Text only: no image is sent.
    Text,
    /// The record's own image (related, helpful, misleading: the task's image).
    Own,
    /// An image drawn from the unrelated-image pool.
    Unrelated(Unrelated),
}

impl Pairing {
    /// The pairing the usual split names imply: `...-text` is text only,
    /// `...-unrelated-image-K` is unrelated, anything else uses the record's own image.
    pub fn of(split: &str) -> Pairing {
        if let Some(kind) = unrelated_kind(split) {
            Pairing::Unrelated(kind)
        } else if split.ends_with("-text") {
            Pairing::Text
        } else {
            Pairing::Own
        }
    }
}

/// The cross-modal pairs of a task's splits, as (text-only split, image variant), in the
/// splits' order. A task with two data sets (R6's `advglue` and `advglue-plus`) has a
/// text-only split for each; a variant pairs with the text-only split of its own set (the
/// longest shared prefix). A split is text only when it sends no image (`...-text`) or names
/// none (`...-none`).
pub fn cross_modal_pairs(splits: &[&'static str]) -> Vec<(&'static str, &'static str)> {
    let text_only = |s: &str| Pairing::of(s) == Pairing::Text || s.ends_with("-none");
    let family = |text: &'static str| text.rsplit_once('-').map_or(text, |(head, _)| head);
    let texts: Vec<&'static str> = splits.iter().copied().filter(|s| text_only(s)).collect();
    let mut pairs = Vec::new();
    for &text in &texts {
        let own = family(text);
        // The variants of this set: not text-only, and of no longer set's prefix.
        let of_set = |s: &str, set: &str| s.strip_prefix(set).is_some_and(|rest| rest.starts_with('-'));
        for &split in splits {
            if !text_only(split)
                && of_set(split, own)
                && !texts
                    .iter()
                    .map(|t| family(t))
                    .any(|other| other.len() > own.len() && of_set(split, other))
            {
                pairs.push((text, split));
            }
        }
    }
    pairs
}

impl LoadContext {
    /// The image a sample at `position` of a split gets: none, its own (opened by `own`, only
    /// when needed), or a seeded draw from the unrelated pool.
    pub fn pair(
        &self,
        pairing: Pairing,
        own: impl FnOnce() -> Result<ImageRef, DataError>,
        task: &str,
        split: &str,
        position: usize,
    ) -> Result<Option<ImageRef>, DataError> {
        match pairing {
            Pairing::Text => Ok(None),
            Pairing::Own => own().map(Some),
            Pairing::Unrelated(kind) => self.unrelated_one(kind, task, split, position).map(Some),
        }
    }

    /// Adds the sample of one record to a split, with the image `pairing` gives it (see
    /// [`LoadContext::pair`]). A missing or unreadable own image makes that sample unscorable,
    /// naming the file (the original would fail when sending it); an unrelated pool that cannot
    /// be read is an error for the whole split.
    pub fn push_paired(
        &self,
        b: &mut SplitBuilder,
        pairing: Pairing,
        own: impl FnOnce() -> Result<ImageRef, DataError>,
        ask: Ask,
    ) -> Result<(), DataError> {
        match self.pair(pairing, own, b.task(), b.split(), b.len()) {
            Ok(image) => {
                b.push(ask.text, image, ask.target, ask.extra, ask.group);
            }
            Err(e) if pairing == Pairing::Own => {
                b.push_problem(ask.text, ask.target, ask.extra, ask.group, e.to_string())
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variant_pairs_with_the_text_only_split_of_its_own_set() {
        let r6 = [
            "advglue-text",
            "advglue-related-image",
            "advglue-unrelated-image-color",
            "advglue-plus-text",
            "advglue-plus-related-image",
        ];
        assert_eq!(
            cross_modal_pairs(&r6),
            [
                ("advglue-text", "advglue-related-image"),
                ("advglue-text", "advglue-unrelated-image-color"),
                ("advglue-plus-text", "advglue-plus-related-image"),
            ]
        );
        let s3 = ["toxicity-prompt-text", "toxicity-prompt-unrelated", "toxicity-prompt-image"];
        assert_eq!(
            cross_modal_pairs(&s3),
            [
                ("toxicity-prompt-text", "toxicity-prompt-unrelated"),
                ("toxicity-prompt-text", "toxicity-prompt-image")
            ]
        );
        // `-none` names no image; a split of no text-only set pairs with nothing.
        assert_eq!(cross_modal_pairs(&["x-none", "x-img", "y-img"]), [("x-none", "x-img")]);
        assert!(cross_modal_pairs(&["vispr-recognition", "vizwiz-recognition"]).is_empty());
    }
}
