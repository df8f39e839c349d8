//! Evaluator chains (spec §3): running them on a split, and the metrics and result JSON they
//! give.
//!
//! A chain `[E1, …, En]` with metrics `M` records `E1->…->Ei:pred_no_op` for every step before
//! the last, and `E1->…->En:m` for every metric of the last step, as the original names them.
//! Subset metrics (`key_<subset>`) are computed from the same per-sample values.

use std::collections::BTreeSet;

use serde_json::{Map, Value as Json};

use super::Value;
use super::classifier::Classifier;
use super::judge::{Expect, Judge, JudgeScore, JudgeTrace};
use super::metrics::{Cell, Metric, Running, json_number};
use super::rules::{self, MatchAndScore};
use crate::core::{Need, Unscorable};
use crate::sample::{LogContent, Target};

/// A rule evaluator (spec §5.1–§5.7) and the stricter refusal detector.
#[derive(Debug, Clone)]
pub enum Rule {
    /// `rule_yes_or_no_eval` with its yes templates.
    YesNo(rules::YesNo),
    /// `rule_contain_eval`, optionally with fuzzy matching.
    Contain {
        /// Normalise punctuation, spaces and case first.
        fuzzy: bool,
    },
    /// `rule_reject_template_eval` with the `main` branch's list.
    RejectTemplate,
    /// `rule_refusal_strict_eval` (ours): explicit refusals only.
    StrictRefusal,
    /// `rule_match_and_score_eval` (P3).
    MatchAndScore(MatchAndScore),
    /// `rule_score_eval` (R2): accepted values and the failure value.
    Score {
        /// Accepted values.
        values: Vec<String>,
        /// The value when the first number is not accepted.
        fail: f64,
    },
    /// `rule_contain_exact_eval` (R3).
    ContainExact,
    /// `rule_contain_adv_eval` (R6).
    ContainAdv,
    /// `rule_choice_eval` (ours, for MMBench): 1 if the option letter the answer gives is the
    /// target letter.
    Choice,
}

impl Rule {
    /// `rule_yes_or_no_eval` with the default templates.
    pub fn yes_no() -> Rule {
        Rule::YesNo(rules::YesNo::new(&rules::YES_TEMPLATES))
    }

    /// `rule_yes_or_no_eval` with a task's own templates.
    pub fn yes_no_with(templates: &[&str]) -> Rule {
        Rule::YesNo(rules::YesNo::new(templates))
    }

    /// `rule_score_eval` with its defaults.
    pub fn score() -> Rule {
        Rule::Score { values: rules::SCORE_VALUES.iter().map(|s| s.to_string()).collect(), fail: 0.0 }
    }

    /// The evaluator id.
    pub fn id(&self) -> &'static str {
        match self {
            Rule::YesNo(_) => "rule_yes_or_no_eval",
            Rule::Contain { .. } => "rule_contain_eval",
            Rule::RejectTemplate => "rule_reject_template_eval",
            Rule::StrictRefusal => "rule_refusal_strict_eval",
            Rule::MatchAndScore(_) => "rule_match_and_score_eval",
            Rule::Score { .. } => "rule_score_eval",
            Rule::ContainExact => "rule_contain_exact_eval",
            Rule::ContainAdv => "rule_contain_adv_eval",
            Rule::Choice => "rule_choice_eval",
        }
    }

    /// Applies the rule to one text. `blocked` says the provider blocked the answer, which the
    /// refusal rules count as a refusal.
    pub fn apply(&self, text: &str, blocked: bool, target: &Target) -> Value {
        match self {
            Rule::YesNo(rule) => Value::Int(rule.judge(text)),
            Rule::Contain { fuzzy } => Value::Int(rules::contain(text, target, *fuzzy)),
            Rule::RejectTemplate => Value::Int(i64::from(blocked || rules::reject_templates().matches(text))),
            Rule::StrictRefusal => Value::Int(i64::from(blocked || rules::strict_refusals().matches(text))),
            Rule::MatchAndScore(m) => Value::Float(m.score(text)),
            Rule::Score { values, fail } => Value::Float(rules::score(text, values, *fail)),
            Rule::ContainExact => Value::Int(rules::contain_exact(text, target)),
            Rule::ContainAdv => Value::Int(rules::contain_adv(text, target)),
            Rule::Choice => Value::Int(i64::from(rules::choice(text) == Some(target.as_text()))),
        }
    }
}

/// One evaluator of a chain.
#[derive(Debug, Clone)]
pub enum Step {
    /// A rule.
    Rule(Rule),
    /// `chatmodel_eval`.
    Judge(Judge),
    /// `chatmodel_score`.
    JudgeScore(JudgeScore),
    /// A classifier or moderation service.
    Classify(Classifier),
}

impl Step {
    /// The evaluator id.
    pub fn id(&self) -> &'static str {
        match self {
            Step::Rule(r) => r.id(),
            Step::Judge(_) => "chatmodel_eval",
            Step::JudgeScore(_) => "chatmodel_score",
            Step::Classify(c) => c.id(),
        }
    }

    /// What must be configured for this step: the judge, or a classifier.
    pub fn need(&self) -> Option<Need> {
        match self {
            Step::Rule(_) => None,
            Step::Judge(_) | Step::JudgeScore(_) => Some(Need::Judge),
            Step::Classify(c) => Some(c.need()),
        }
    }
}

/// A chain of evaluators and the metrics of its last step.
#[derive(Debug, Clone)]
pub struct Chain {
    /// The evaluators, in order.
    pub steps: Vec<Step>,
    /// The metrics of the last step.
    pub metrics: Vec<Metric>,
}

impl Chain {
    /// A chain; each judge learns what the next step needs from its answer.
    pub fn new(mut steps: Vec<Step>, metrics: &[Metric]) -> Chain {
        for i in 0..steps.len() {
            let expect = match steps.get(i + 1) {
                Some(Step::Rule(Rule::YesNo(_))) => Expect::YesNo,
                Some(Step::Rule(Rule::Score { values, .. })) => Expect::Score(values.clone()),
                None if metrics.contains(&Metric::IouJudge) => Expect::Box,
                _ => Expect::Any,
            };
            match &mut steps[i] {
                Step::Judge(j) => j.expect = expect,
                Step::JudgeScore(j) => j.expect = expect,
                _ => {}
            }
        }
        Chain { steps, metrics: metrics.to_vec() }
    }

    /// A one-rule chain.
    pub fn rule(rule: Rule, metrics: &[Metric]) -> Chain {
        Chain::new(vec![Step::Rule(rule)], metrics)
    }

    /// The chain's key names.
    pub fn spec(&self) -> ChainSpec {
        let mut prefixes = Vec::new();
        let mut prefix = String::new();
        for step in &self.steps {
            if !prefix.is_empty() {
                prefix.push_str("->");
            }
            prefix.push_str(step.id());
            prefixes.push(prefix.clone());
        }
        ChainSpec { prefixes, metrics: self.metrics.clone() }
    }

    /// What must be configured to run this chain.
    pub fn needs(&self) -> BTreeSet<Need> {
        self.steps.iter().filter_map(Step::need).collect()
    }
}

/// The key names of a chain, kept with its results.
#[derive(Debug, Clone)]
pub struct ChainSpec {
    /// The prefix after each step (`a`, `a->b`, ...).
    pub prefixes: Vec<String>,
    /// The metrics of the last step.
    pub metrics: Vec<Metric>,
}

impl ChainSpec {
    /// The chain's full prefix.
    pub fn prefix(&self) -> &str {
        self.prefixes.last().map(String::as_str).unwrap_or_default()
    }

    /// The key of a metric of this chain.
    pub fn key(&self, metric: &str) -> String {
        format!("{}:{metric}", self.prefix())
    }
}

/// One scored sample of one model.
#[derive(Debug, Clone)]
pub struct SampleScore {
    /// The sample id.
    pub id: String,
    /// The record it comes from (the bootstrap's cluster).
    pub group: String,
    /// The subset, if any.
    pub subset: Option<String>,
    /// The target.
    pub target: Target,
    /// The original's `content` entry.
    pub content: LogContent,
    /// The extra fields (`null` when none).
    pub extra: Json,
    /// The model's answer, when there is one.
    pub pred: Option<String>,
    /// Why the model's answer is missing.
    pub error: Option<Unscorable>,
    /// The per-step values of every chain: `steps[chain][step]`.
    pub steps: Vec<Vec<Result<Value, Unscorable>>>,
    /// The judges that scored this sample.
    pub judges: Vec<JudgeTrace>,
}

impl SampleScore {
    /// The final value of a chain, when scored.
    pub fn value(&self, chain: usize) -> Option<&Value> {
        self.steps.get(chain)?.last()?.as_ref().ok()
    }

    /// The first failure of this sample (the model's or an evaluator's), ignoring evaluators
    /// that are not configured.
    pub fn failure(&self) -> Option<&Unscorable> {
        if let Some(e) = &self.error {
            return Some(e);
        }
        self.steps.iter().filter_map(|s| s.last()?.as_ref().err()).find(|u| !u.is_unconfigured())
    }
}

/// The scores of one split for one model: the chains' keys and every sample's values.
#[derive(Debug, Clone)]
pub struct SplitScores {
    /// The task id.
    pub task: String,
    /// The split (dataset id).
    pub split: String,
    /// The chains' key names.
    pub chains: Vec<ChainSpec>,
    /// The samples, in order.
    pub samples: Vec<SampleScore>,
}

impl SplitScores {
    /// The index of the chain with this prefix.
    pub fn chain(&self, prefix: &str) -> Option<usize> {
        self.chains.iter().position(|c| c.prefix() == prefix)
    }

    /// The scalar metrics (`total_results`), over all samples or over a resample given as
    /// indices (repeats allowed). Only scored samples enter a metric; NaN is `None`.
    pub fn totals(&self, indices: Option<&[usize]>) -> Vec<(String, Option<f64>)> {
        let all: Vec<usize>;
        let idx = match indices {
            Some(i) => i,
            None => {
                all = (0..self.samples.len()).collect();
                &all
            }
        };
        let samples = &self.samples;
        totals_over(
            &self.chains,
            idx,
            |i| samples[i].subset.as_deref(),
            |i| &samples[i].target,
            |i, c| samples[i].value(c),
        )
    }
    /// The share of samples that ended unscorable by a failure.
    pub fn unscorable_rate(&self) -> f64 {
        if self.samples.is_empty() {
            return 0.0;
        }
        self.samples.iter().filter(|s| s.failure().is_some()).count() as f64 / self.samples.len() as f64
    }

    /// The result file in the original's layout: `total_results` and `per_sample_results`
    /// (with our `id`, `unscorable` and `judges` fields added to each sample).
    pub fn result_json(&self) -> Json {
        serde_json::to_value(ResultFile(self)).unwrap_or(Json::Null)
    }
}

/// A split's result file, serialized as it is written (see [`SplitScores::result_json`]),
/// without building it as a JSON tree first.
pub struct ResultFile<'a>(pub &'a SplitScores);

impl serde::Serialize for ResultFile<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Rows<'a>(&'a SplitScores);
        impl serde::Serialize for Rows<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let (split, columns) = (self.0, Columns::of(&self.0.samples));
                serializer.collect_seq(split.samples.iter().map(|sample| ResultRow {
                    chains: &split.chains,
                    sample,
                    columns,
                }))
            }
        }
        let split = self.0;
        let totals: Map<String, Json> =
            split.totals(None).into_iter().map(|(k, v)| (k, json_number(v))).collect();
        let mut file = serializer.serialize_map(Some(2))?;
        file.serialize_entry("total_results", &totals)?;
        file.serialize_entry("per_sample_results", &Rows(split))?;
        file.end()
    }
}

/// One sample's entry of `per_sample_results`, serialized as it is written: every step's
/// value (the last only when the chain records `pred_no_op`), `content`, `pred`, `label` and
/// `extra` where the split has those columns, our `id`, and `unscorable` and `judges` where
/// there are some.
pub struct ResultRow<'a> {
    /// The split's chains.
    pub chains: &'a [ChainSpec],
    /// The sample.
    pub sample: &'a SampleScore,
    /// The split's optional columns.
    pub columns: Columns,
}

impl serde::Serialize for ResultRow<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let sample = self.sample;
        let mut row = serializer.serialize_map(None)?;
        for (c, spec) in self.chains.iter().enumerate() {
            let steps = &sample.steps[c];
            for (i, prefix) in spec.prefixes.iter().enumerate() {
                let last = i + 1 == spec.prefixes.len();
                if last && !spec.metrics.contains(&Metric::PredNoOp) {
                    continue;
                }
                let value = steps.get(i).and_then(|r| r.as_ref().ok());
                row.serialize_entry(&format_args!("{prefix}:pred_no_op"), &value)?;
            }
        }
        row.serialize_entry("content", &sample.content)?;
        row.serialize_entry("pred", &sample.pred)?;
        if self.columns.label {
            row.serialize_entry("label", &sample.target)?;
        }
        if self.columns.extra {
            row.serialize_entry("extra", &sample.extra)?;
        }
        row.serialize_entry("id", &sample.id)?;
        if let Some(failure) = sample.failure() {
            row.serialize_entry("unscorable", &failure.reason)?;
        }
        if !sample.judges.is_empty() {
            row.serialize_entry("judges", &sample.judges)?;
        }
        row.end()
    }
}

/// What the totals of a split read of its samples, worked out once: for each scalar metric of
/// each chain, a column of every sample's [`Cell`] (`None` where the chain did not score it),
/// and each sample's subset, with the key of every entry [`SplitScores::totals`] can have. A
/// score formula reads a few keys of each bootstrap resample, and each is computed alone from
/// these columns, with no allocation.
#[derive(Debug, Clone)]
pub struct SplitTable<'a> {
    /// The split.
    pub scores: &'a SplitScores,
    /// Each sample's subset, as an index into the subset names (sorted).
    subsets: Vec<Option<u32>>,
    /// `columns[c]`: the cells of one metric of one chain, for every sample.
    columns: Vec<Vec<Option<Cell>>>,
    /// The totals' keys: the column, its metric, and the subset of a per-subset entry.
    keys: std::collections::HashMap<String, (usize, &'a Metric, Option<u32>)>,
}

impl<'a> SplitTable<'a> {
    /// The columns and keys of a split.
    pub fn new(scores: &'a SplitScores) -> SplitTable<'a> {
        let samples = &scores.samples;
        let names: Vec<&str> =
            samples.iter().filter_map(|s| s.subset.as_deref()).collect::<BTreeSet<_>>().into_iter().collect();
        let subsets = samples
            .iter()
            .map(|s| s.subset.as_deref().and_then(|n| names.binary_search(&n).ok()).map(|at| at as u32))
            .collect();
        // Each scalar metric of each chain, with its column.
        let mut columns = Vec::new();
        let mut scalars = Vec::new();
        for (c, spec) in scores.chains.iter().enumerate() {
            for metric in spec.metrics.iter().filter(|m| m.is_scalar()) {
                scalars.push((spec, metric, columns.len()));
                columns.push(
                    samples.iter().map(|s| s.value(c).map(|v| Cell::new(metric, &s.target, v))).collect(),
                );
            }
        }
        let mut keys = std::collections::HashMap::new();
        // In the totals' order: a later entry with the same key replaces an earlier one.
        for subset in std::iter::once(None).chain((0..names.len()).map(Some)) {
            for &(spec, metric, column) in &scalars {
                let key = total_key(spec, metric, subset.map(|at| names[at]));
                keys.insert(key, (column, metric, subset.map(|at| at as u32)));
            }
        }
        SplitTable { scores, subsets, columns, keys }
    }

    /// The entry `key` of [`SplitScores::totals`] over the samples `indices` (repeats
    /// allowed): `None` when the totals have no such key there (a subset none of the samples
    /// belongs to has none).
    pub fn total(&self, key: &str, indices: &[usize]) -> Option<Option<f64>> {
        let &(column, metric, subset) = self.keys.get(key)?;
        let members = indices.iter().copied().filter(move |&i| subset.is_none() || self.subsets[i] == subset);
        if subset.is_some() && members.clone().next().is_none() {
            return None;
        }
        let column = &self.columns[column];
        Some(metric.compute_cells(members.filter_map(|i| column[i])))
    }
}

/// Which optional columns a split's `per_sample_results` has: `label` when some sample's label
/// is truthy (in Python's sense), `extra` when some sample has extra fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Columns {
    /// Some label is truthy.
    pub label: bool,
    /// Some sample has extra fields.
    pub extra: bool,
}

impl Columns {
    /// The columns of these samples.
    pub fn of(samples: &[SampleScore]) -> Columns {
        samples.iter().fold(Columns::default(), |c, s| c.with(&s.target, !s.extra.is_null()))
    }

    /// These columns, widened for one more sample with this target and (or not) extra fields.
    pub fn with(self, target: &Target, has_extra: bool) -> Columns {
        Columns { label: self.label || truthy(&target.to_json()), extra: self.extra || has_extra }
    }
}

/// A split's totals worked out while its samples stream past (rescoring a log of any length):
/// every scalar metric of every chain as a [`Running`] metric, over all samples and over each
/// subset's, so that memory does not grow with the split (but for Pearson's points).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    chains: Vec<ChainSpec>,
    /// Each scalar metric: its chain.
    columns: Vec<usize>,
    /// The subsets' names, in the order they were met.
    subsets: Vec<String>,
    /// `running[column][0]` over all samples, `running[column][1 + k]` over subset `k`'s.
    running: Vec<Vec<Running>>,
}

impl Tally {
    /// An empty tally for a split's chains.
    pub fn new(chains: Vec<ChainSpec>) -> Tally {
        let (mut columns, mut running) = (Vec::new(), Vec::new());
        for (c, spec) in chains.iter().enumerate() {
            for metric in spec.metrics.iter().filter(|m| m.is_scalar()) {
                columns.push(c);
                running.push(vec![Running::new(metric)]);
            }
        }
        Tally { chains, columns, subsets: Vec::new(), running }
    }

    /// Adds the samples of one part of the split, in order.
    pub fn add(&mut self, scores: &SplitScores) {
        for sample in &scores.samples {
            let slot =
                sample.subset.as_deref().map(|name| match self.subsets.iter().position(|s| s == name) {
                    Some(at) => at + 1,
                    None => {
                        self.subsets.push(name.to_string());
                        for running in &mut self.running {
                            let fresh = Running::new(running[0].metric());
                            running.push(fresh);
                        }
                        self.subsets.len()
                    }
                });
            for (&c, running) in self.columns.iter().zip(&mut self.running) {
                let Some(value) = sample.value(c) else { continue };
                let cell = Cell::new(running[0].metric(), &sample.target, value);
                running[0].push(cell);
                if let Some(slot) = slot {
                    running[slot].push(cell);
                }
            }
        }
    }

    /// The split's scalar metrics: the same as [`SplitScores::totals`] over all its samples,
    /// in the same order (all samples', then each subset's in name order).
    pub fn totals(&self) -> Vec<(String, Option<f64>)> {
        let mut order: Vec<usize> = (0..self.subsets.len()).collect();
        order.sort_by(|&a, &b| self.subsets[a].cmp(&self.subsets[b]));
        let slots =
            std::iter::once((None, 0)).chain(order.into_iter().map(|k| (Some(&*self.subsets[k]), k + 1)));
        let mut out = Vec::new();
        for (subset, slot) in slots {
            for (&c, running) in self.columns.iter().zip(&self.running) {
                out.push((total_key(&self.chains[c], running[0].metric(), subset), running[slot].value()));
            }
        }
        out
    }
}

/// The scalar metrics of every chain over the samples `idx`, then per subset (`key_<subset>`,
/// subsets in name order), given how to read a sample's subset, target and chain values.
fn totals_over<'a>(
    chains: &[ChainSpec],
    idx: &[usize],
    subset: impl Fn(usize) -> Option<&'a str>,
    target: impl Fn(usize) -> &'a Target,
    value: impl Fn(usize, usize) -> Option<&'a Value>,
) -> Vec<(String, Option<f64>)> {
    let metrics = |members: &[usize], subset: Option<&str>, out: &mut Vec<(String, Option<f64>)>| {
        for (c, spec) in chains.iter().enumerate() {
            let (labels, values) = scored(members, c, &target, &value);
            for metric in spec.metrics.iter().filter(|m| m.is_scalar()) {
                out.push((total_key(spec, metric, subset), metric.compute(&labels, &values)));
            }
        }
    };
    let mut out = Vec::new();
    metrics(idx, None, &mut out);
    let names: BTreeSet<&str> = idx.iter().filter_map(|&i| subset(i)).collect();
    for name in names {
        let members: Vec<usize> = idx.iter().copied().filter(|&i| subset(i) == Some(name)).collect();
        metrics(&members, Some(name), &mut out);
    }
    out
}

/// The key of a `total_results` entry: the chain's key of the metric, with `_SUBSET` for a
/// subset's.
fn total_key(spec: &ChainSpec, metric: &Metric, subset: Option<&str>) -> String {
    match subset {
        None => spec.key(metric.id()),
        Some(name) => format!("{}_{name}", spec.key(metric.id())),
    }
}

/// The targets and values of chain `c` over the samples `members` that it scored: what a
/// metric is computed on.
fn scored<'a>(
    members: &[usize],
    c: usize,
    target: &impl Fn(usize) -> &'a Target,
    value: &impl Fn(usize, usize) -> Option<&'a Value>,
) -> (Vec<&'a Target>, Vec<&'a Value>) {
    let (mut labels, mut values) = (Vec::with_capacity(members.len()), Vec::with_capacity(members.len()));
    for &i in members {
        if let Some(v) = value(i, c) {
            labels.push(target(i));
            values.push(v);
        }
    }
    (labels, values)
}

/// Python's truthiness of a JSON value (for dropping an all-falsy `label` column).
fn truthy(value: &Json) -> bool {
    match value {
        Json::Null => false,
        Json::Bool(b) => *b,
        Json::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Json::String(s) => !s.is_empty(),
        Json::Array(a) => !a.is_empty(),
        Json::Object(o) => !o.is_empty(),
    }
}

/// A model's answer as scoring sees it.
#[derive(Debug, Clone)]
pub struct Pred {
    /// The text.
    pub text: String,
    /// Whether the provider blocked the answer (a refusal for the refusal rules).
    pub blocked: bool,
}

/// The model's answers to a split, in sample order (or why each is missing).
pub type Preds = Vec<Result<Pred, Unscorable>>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::UnscorableKind;

    /// A split of two chains with every kind of scalar metric, three subsets and samples left
    /// unscored, some of whose values are not numbers.
    fn split(n: usize) -> SplitScores {
        let metric_lists = [
            vec![
                Metric::Accuracy,
                Metric::PredMean,
                Metric::PredSum,
                Metric::Precision,
                Metric::Recall,
                Metric::F1,
                Metric::Failure { fails_num: 0.0 },
            ],
            vec![
                Metric::Pearson { nan_to_num: Some(0.5) },
                Metric::PredMean,
                Metric::Failure { fails_num: f64::NAN },
            ],
        ];
        let chains = metric_lists
            .into_iter()
            .enumerate()
            .map(|(c, metrics)| ChainSpec { prefixes: vec![format!("c{c}")], metrics });
        let mut state = 7u64;
        let mut next = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        let samples = (0..n)
            .map(|i| {
                let label = (next() % 2) as i64;
                let yes_no = match next() % 10 {
                    0 => Err(Unscorable::new(UnscorableKind::Data, "no answer")),
                    // A text now and then: the mean, sum and failure share of chain 0 are undefined.
                    1 if i % 3 == 0 => Ok(Value::Text("maybe".into())),
                    _ => Ok(Value::Int((next() % 2) as i64)),
                };
                let score = match next() % 8 {
                    0 => Ok(Value::Float(f64::NAN)),
                    _ => Ok(Value::Float((next() % 1000) as f64 / 7.0)),
                };
                SampleScore {
                    id: format!("t/s/{i}"),
                    group: format!("{i}"),
                    subset: ["b", "a", "c"].get(i % 4).map(|s| s.to_string()),
                    target: if i % 5 == 0 { Target::Float(label as f64 + 0.25) } else { Target::Int(label) },
                    content: LogContent::default(),
                    extra: Json::Null,
                    pred: Some(String::new()),
                    error: None,
                    steps: vec![vec![yes_no], vec![score]],
                    judges: Vec::new(),
                }
            })
            .collect();
        SplitScores { task: "t".into(), split: "s".into(), chains: chains.collect(), samples }
    }

    #[test]
    fn a_tally_of_parts_gives_the_whole_splits_totals() {
        let whole = split(1000);
        let expected = whole.totals(None);
        assert!(
            expected.iter().any(|(k, v)| k.ends_with("_b") && v.is_none()),
            "a subset's mean is undefined"
        );
        assert!(expected.iter().filter(|(_, v)| v.is_some()).count() > 20, "{expected:?}");
        let mut tally = Tally::new(whole.chains.clone());
        for part in whole.samples.chunks(137) {
            tally.add(&SplitScores { samples: part.to_vec(), ..whole.clone() });
        }
        let got = tally.totals();
        assert_eq!(got.len(), expected.len());
        for ((k, v), (ek, ev)) in got.iter().zip(&expected) {
            assert_eq!(k, ek);
            // The same numbers bit for bit: the same sums in the same order.
            assert_eq!(v.map(f64::to_bits), ev.map(f64::to_bits), "{k}");
        }
    }
}
