//! Evaluator chains (spec §3): running them on a split, and the metrics and result JSON they
//! give.
//!
//! A chain `[E1, …, En]` with metrics `M` records `E1->…->Ei:pred_no_op` for every step before
//! the last, and `E1->…->En:m` for every metric of the last step, as the original names them.
//! Subset metrics (`key_<subset>`) are computed from the same per-sample values.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Map, Value as Json, json};

use super::classifiers::{Classifier, HARMBENCH_TEMPLATE, PromptRequest, TextRequest, harmbench_verdict};
use super::judge::{Expect, Judge, JudgeScore, JudgeTrace, NOISE_TEMPLATE, ScorePlan, format_named};
use super::metrics::{Metric, json_number};
use super::rules::{self, MatchAndScore};
use super::{Scorer, Value};
use crate::engine::{Interrupted, Outcome, Service, Unscorable};
use crate::models::ChatRequest;
use crate::sample::{Message, Sample, Target};

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

    /// What must be configured for this step: `judge`, or a classifier section.
    pub fn need(&self) -> Option<&'static str> {
        match self {
            Step::Rule(_) => None,
            Step::Judge(_) | Step::JudgeScore(_) => Some("judge"),
            Step::Classify(c) => Some(c.section()),
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
    pub fn needs(&self) -> BTreeSet<&'static str> {
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
    pub content: Json,
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
        self.steps.iter().filter_map(|s| s.last()?.as_ref().err()).find(|u| !u.unconfigured)
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
        let mut out = Vec::new();
        self.push_metrics(idx, "", &mut out);
        let subsets: BTreeSet<&str> = idx.iter().filter_map(|&i| self.samples[i].subset.as_deref()).collect();
        for subset in subsets {
            let members: Vec<usize> =
                idx.iter().copied().filter(|&i| self.samples[i].subset.as_deref() == Some(subset)).collect();
            self.push_metrics(&members, &format!("_{subset}"), &mut out);
        }
        out
    }

    fn push_metrics(&self, idx: &[usize], suffix: &str, out: &mut Vec<(String, Option<f64>)>) {
        for (c, spec) in self.chains.iter().enumerate() {
            let scored: Vec<usize> =
                idx.iter().copied().filter(|&i| self.samples[i].value(c).is_some()).collect();
            let labels: Vec<&Target> = scored.iter().map(|&i| &self.samples[i].target).collect();
            let values: Vec<&Value> = scored.iter().filter_map(|&i| self.samples[i].value(c)).collect();
            for metric in spec.metrics.iter().filter(|m| m.is_scalar()) {
                let value = metric.compute(&labels, &values);
                out.push((format!("{}{suffix}", spec.key(metric.id())), value));
            }
        }
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
        let totals: Map<String, Json> =
            self.totals(None).into_iter().map(|(k, v)| (k, json_number(v))).collect();
        let any_label = self.samples.iter().any(|s| truthy(&s.target.to_json()));
        let any_extra = self.samples.iter().any(|s| !s.extra.is_null());
        let mut per_sample = Vec::with_capacity(self.samples.len());
        for sample in &self.samples {
            let mut row = Map::new();
            for (c, spec) in self.chains.iter().enumerate() {
                let steps = &sample.steps[c];
                for (i, prefix) in spec.prefixes.iter().enumerate() {
                    let last = i + 1 == spec.prefixes.len();
                    if last && !spec.metrics.contains(&Metric::PredNoOp) {
                        continue;
                    }
                    let value = steps.get(i).and_then(|r| r.as_ref().ok()).map(Value::to_json);
                    row.insert(format!("{prefix}:pred_no_op"), value.unwrap_or(Json::Null));
                }
            }
            row.insert("content".into(), sample.content.clone());
            row.insert("pred".into(), sample.pred.clone().map(Json::String).unwrap_or(Json::Null));
            if any_label {
                row.insert("label".into(), sample.target.to_json());
            }
            if any_extra {
                row.insert("extra".into(), sample.extra.clone());
            }
            row.insert("id".into(), json!(sample.id));
            if let Some(failure) = sample.failure() {
                row.insert("unscorable".into(), json!(failure.reason));
            }
            if !sample.judges.is_empty() {
                row.insert("judges".into(), json!(sample.judges));
            }
            per_sample.push(Json::Object(row));
        }
        json!({"total_results": totals, "per_sample_results": per_sample})
    }
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

struct Item<'a> {
    target: &'a Target,
    extra: &'a Map<String, Json>,
    blocked: bool,
}

type Values = Vec<Result<Value, Unscorable>>;
type Traces = Vec<Option<JudgeTrace>>;

/// Scores one split: runs every chain on the model's answers (judges and classifiers through
/// the engine) and keeps every per-sample value.
pub async fn score_split(
    sample_list: &[Sample],
    answers: &[Result<Pred, Unscorable>],
    chains: &[Chain],
    scorer: &Scorer<'_>,
) -> Result<SplitScores, Interrupted> {
    let (task, split) = sample_list.first().map(|s| (s.task.clone(), s.split.clone())).unwrap_or_default();
    let items: Vec<Item> = sample_list
        .iter()
        .zip(answers)
        .map(|(s, a)| Item {
            target: &s.target,
            extra: &s.extra,
            blocked: a.as_ref().is_ok_and(|p| p.blocked),
        })
        .collect();
    let inputs: Values = answers
        .iter()
        .map(|a| a.as_ref().map(|p| Value::Text(p.text.clone())).map_err(Clone::clone))
        .collect();
    let label = format!("{task}/{split}");
    let runs = futures::future::try_join_all(
        chains.iter().map(|chain| run_chain(chain, &inputs, &items, scorer, &label)),
    )
    .await?;

    let mut samples: Vec<SampleScore> = sample_list
        .iter()
        .zip(answers)
        .map(|(s, a)| SampleScore {
            id: s.id.clone(),
            group: s.group.clone(),
            subset: s.subset().map(str::to_string),
            target: s.target.clone(),
            content: s.content_json(),
            extra: s.extra_json(),
            pred: a.as_ref().ok().map(|p| p.text.clone()),
            error: a.as_ref().err().cloned(),
            steps: Vec::with_capacity(chains.len()),
            judges: Vec::new(),
        })
        .collect();
    for (steps, traces) in runs {
        let mut per_sample: Vec<Vec<Result<Value, Unscorable>>> = vec![Vec::new(); samples.len()];
        for step_values in steps {
            for (i, v) in step_values.into_iter().enumerate() {
                per_sample[i].push(v);
            }
        }
        for (i, (values, trace)) in per_sample.into_iter().zip(traces).enumerate() {
            samples[i].steps.push(values);
            samples[i].judges.extend(trace);
        }
    }
    Ok(SplitScores { task, split, chains: chains.iter().map(Chain::spec).collect(), samples })
}

async fn run_chain(
    chain: &Chain,
    inputs: &Values,
    items: &[Item<'_>],
    scorer: &Scorer<'_>,
    label: &str,
) -> Result<(Vec<Values>, Vec<Vec<JudgeTrace>>), Interrupted> {
    let mut steps = Vec::new();
    let mut traces: Vec<Vec<JudgeTrace>> = vec![Vec::new(); items.len()];
    let mut current = inputs.clone();
    for (i, step) in chain.steps.iter().enumerate() {
        let (values, step_traces) = run_step(step, i == 0, &current, items, scorer, label).await?;
        for (t, trace) in traces.iter_mut().zip(step_traces) {
            t.extend(trace);
        }
        current = values.clone();
        steps.push(values);
    }
    Ok((steps, traces))
}

async fn run_step(
    step: &Step,
    first: bool,
    inputs: &Values,
    items: &[Item<'_>],
    scorer: &Scorer<'_>,
    label: &str,
) -> Result<(Values, Traces), Interrupted> {
    let n = inputs.len();
    let none = || vec![None; n];
    match step {
        Step::Rule(rule) => {
            let values = inputs
                .iter()
                .zip(items)
                .map(|(input, item)| {
                    input
                        .as_ref()
                        .map_err(Clone::clone)
                        .map(|v| rule.apply(&v.as_text(), first && item.blocked, item.target))
                })
                .collect();
            Ok((values, none()))
        }
        Step::Judge(judge) => run_judge(judge, inputs, items, scorer, label).await,
        Step::JudgeScore(judge) => run_judge_score(judge, inputs, items, scorer, label).await,
        Step::Classify(classifier) => {
            Ok((run_classifier(classifier, inputs, items, scorer, label).await?, none()))
        }
    }
}

fn unconfigured(need: &str, n: usize) -> (Values, Traces) {
    let reason = match need {
        "judge" => {
            "needs a judge: pass --judge PROVIDER:MODEL or set `judge` in the configuration".to_string()
        }
        other => format!("needs a classifier: configure [classifiers.{other}]"),
    };
    (vec![Err(Unscorable::unconfigured(reason)); n], vec![None; n])
}

/// Sends the requests that exist (one per sample or none) and aligns the answers.
async fn send<S: Service>(
    scorer: &Scorer<'_>,
    service: &Arc<S>,
    requests: Vec<Option<S::Request>>,
    label: &str,
) -> Result<Vec<Option<Outcome<S::Reply>>>, Interrupted> {
    let slots: Vec<usize> =
        requests.iter().enumerate().filter(|(_, r)| r.is_some()).map(|(i, _)| i).collect();
    let mut out: Vec<Option<Outcome<S::Reply>>> = (0..requests.len()).map(|_| None).collect();
    let batch: Vec<S::Request> = requests.into_iter().flatten().collect();
    if batch.is_empty() {
        return Ok(out);
    }
    let answers = scorer.engine.run(service, batch, label).await?;
    for (slot, answer) in slots.into_iter().zip(answers) {
        out[slot] = Some(answer);
    }
    Ok(out)
}

fn judge_request(prompt: String, max_tokens: u32) -> ChatRequest {
    ChatRequest::greedy(vec![Message::user(prompt, None)], max_tokens)
}

async fn run_judge(
    judge: &Judge,
    inputs: &Values,
    items: &[Item<'_>],
    scorer: &Scorer<'_>,
    label: &str,
) -> Result<(Values, Traces), Interrupted> {
    let Some(service) = &scorer.judge else { return Ok(unconfigured("judge", inputs.len())) };
    let template = scorer.templates.get(&judge.name).unwrap_or(&judge.template);
    let judge = Judge { template: template.clone(), ..judge.clone() };
    let mut values: Values = Vec::with_capacity(inputs.len());
    let mut requests = Vec::with_capacity(inputs.len());
    for (input, item) in inputs.iter().zip(items) {
        let prompt = input
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|v| judge.prompt(&v.as_text(), item.target, item.extra));
        match prompt {
            Ok(p) => {
                requests.push(Some(judge_request(p, judge.max_tokens)));
                values.push(Ok(Value::Int(0)));
            }
            Err(u) => {
                requests.push(None);
                values.push(Err(u));
            }
        }
    }
    let answers = send(scorer, service, requests, &format!("judge {label}")).await?;
    let model = service.identity().label();
    let mut traces = vec![None; inputs.len()];
    for (i, answer) in answers.into_iter().enumerate() {
        let Some(answer) = answer else { continue };
        values[i] = answer.and_then(|a| {
            judge.expect.check(&a.reply.text).map_err(Unscorable::new)?;
            traces[i] =
                Some(JudgeTrace::new(model.clone(), &judge.template, judge.max_tokens, a.fingerprint));
            Ok(Value::Text(a.reply.text))
        });
    }
    Ok((values, traces))
}

async fn run_judge_score(
    judge: &JudgeScore,
    inputs: &Values,
    items: &[Item<'_>],
    scorer: &Scorer<'_>,
    label: &str,
) -> Result<(Values, Traces), Interrupted> {
    let Some(service) = &scorer.judge else { return Ok(unconfigured("judge", inputs.len())) };
    let template = scorer.templates.get(&judge.name).unwrap_or(&judge.template).clone();
    let judge = JudgeScore { template, ..judge.clone() };
    let noise_template = scorer.templates.get("noise").map(String::as_str).unwrap_or(NOISE_TEMPLATE);
    let mut values: Values = Vec::with_capacity(inputs.len());
    let mut asks = Vec::with_capacity(inputs.len());
    let mut noises = Vec::with_capacity(inputs.len());
    for (input, item) in inputs.iter().zip(items) {
        let planned = input.as_ref().map_err(Clone::clone).and_then(|v| {
            let pred = v.as_text();
            let plan = judge.plan(&pred, item.target)?;
            let noise = match (&plan, judge.test_noise) {
                (ScorePlan::Ask(_), true) => Some(JudgeScore::noise_prompt(noise_template, &pred)?),
                _ => None,
            };
            Ok((plan, noise))
        });
        match planned {
            Ok((ScorePlan::Full, _)) => {
                values.push(Ok(Value::Text(judge.full_score.clone())));
                asks.push(None);
                noises.push(None);
            }
            Ok((ScorePlan::Ask(prompt), noise)) => {
                values.push(Ok(Value::Int(0)));
                asks.push(Some(judge_request(prompt, judge.max_tokens)));
                noises.push(noise.map(|p| judge_request(p, judge.max_tokens)));
            }
            Err(u) => {
                values.push(Err(u));
                asks.push(None);
                noises.push(None);
            }
        }
    }
    let (answers, noise_answers) = futures::future::try_join(
        send(scorer, service, asks, &format!("judge {label}")),
        send(scorer, service, noises, &format!("noise {label}")),
    )
    .await?;
    let model = service.identity().label();
    let mut traces = vec![None; inputs.len()];
    for (i, (answer, noise)) in answers.into_iter().zip(noise_answers).enumerate() {
        let Some(answer) = answer else { continue };
        let noisy = match noise {
            None => Ok(false),
            Some(Err(u)) => Err(u),
            Some(Ok(n)) => Expect::YesNo
                .check(&n.reply.text)
                .map(|()| n.reply.text.to_lowercase().contains("yes"))
                .map_err(Unscorable::new),
        };
        values[i] = noisy.and_then(|noisy| {
            let a = answer?;
            traces[i] =
                Some(JudgeTrace::new(model.clone(), &judge.template, judge.max_tokens, a.fingerprint));
            if noisy {
                return Ok(Value::Text(judge.full_score.clone()));
            }
            judge.expect.check(&a.reply.text).map_err(Unscorable::new)?;
            Ok(Value::Text(a.reply.text))
        });
    }
    Ok((values, traces))
}

async fn run_classifier(
    classifier: &Classifier,
    inputs: &Values,
    items: &[Item<'_>],
    scorer: &Scorer<'_>,
    label: &str,
) -> Result<Values, Interrupted> {
    let set = &scorer.classifiers;
    let n = inputs.len();
    let label = format!("{} {label}", classifier.section());
    let texts = || -> Vec<Option<TextRequest>> {
        inputs.iter().map(|i| i.as_ref().ok().map(|v| TextRequest { text: v.as_text() })).collect()
    };
    let fill = |answers: Vec<Option<Result<Value, Unscorable>>>| -> Values {
        answers
            .into_iter()
            .zip(inputs)
            .map(|(a, input)| match (a, input) {
                (Some(v), _) => v,
                (None, Err(u)) => Err(u.clone()),
                (None, Ok(_)) => Err(Unscorable::new("no request was built")),
            })
            .collect()
    };
    let values = match classifier {
        Classifier::Perspective | Classifier::Moderation => {
            let answers = match (classifier, &set.perspective, &set.moderation) {
                (Classifier::Perspective, Some(s), _) => send(scorer, s, texts(), &label).await?,
                (Classifier::Moderation, _, Some(s)) => send(scorer, s, texts(), &label).await?,
                _ => return Ok(unconfigured(classifier.section(), n).0),
            };
            fill(answers.into_iter().map(|a| a.map(|r| r.map(|a| Value::Float(a.reply.score)))).collect())
        }
        Classifier::HarmBench => {
            let Some(service) = &set.harmbench else { return Ok(unconfigured("harmbench", n).0) };
            let template =
                scorer.templates.get("harmbench").map(String::as_str).unwrap_or(HARMBENCH_TEMPLATE);
            let mut prefilled: Vec<Option<Result<Value, Unscorable>>> = vec![None; n];
            let mut requests = Vec::with_capacity(n);
            for (i, (input, item)) in inputs.iter().zip(items).enumerate() {
                let prompt = input.as_ref().ok().map(|v| {
                    format_named(template, |name| match name {
                        "behavior" => Some(item.target.as_text()),
                        "generation" => Some(v.as_text()),
                        _ => None,
                    })
                });
                match prompt {
                    Some(Ok(prompt)) => requests.push(Some(PromptRequest { prompt })),
                    Some(Err(e)) => {
                        prefilled[i] = Some(Err(Unscorable::new(format!("harmbench template: {e}"))));
                        requests.push(None);
                    }
                    None => requests.push(None),
                }
            }
            let answers = send(scorer, service, requests, &label).await?;
            let merged = answers
                .into_iter()
                .zip(prefilled)
                .map(|(a, pre)| {
                    pre.or_else(|| {
                        a.map(|r| {
                            r.and_then(|a| {
                                harmbench_verdict(&a.reply.label).map(Value::Int).ok_or_else(|| {
                                    Unscorable::new(format!(
                                        "the HarmBench classifier answered {:?}, not Yes or No",
                                        a.reply.label
                                    ))
                                })
                            })
                        })
                    })
                })
                .collect();
            fill(merged)
        }
        Classifier::Reject(labels) | Classifier::Follow(labels) => {
            let Some(service) = &set.action else { return Ok(unconfigured("action", n).0) };
            let answers = send(scorer, service, texts(), &label).await?;
            fill(
                answers
                    .into_iter()
                    .map(|a| a.map(|r| r.map(|a| Value::Int(i64::from(labels.contains(&a.reply.label))))))
                    .collect(),
            )
        }
    };
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;
    use crate::sample::SplitBuilder;
    use std::collections::BTreeMap;

    fn split(targets: &[(&str, Target, Option<&str>)]) -> Vec<Sample> {
        let mut b = SplitBuilder::new("X1", "s");
        for (text, target, subset) in targets {
            let mut extra = Map::new();
            if let Some(s) = subset {
                extra.insert("subset".into(), json!(s));
            }
            b.push(*text, None, target.clone(), extra, *text);
        }
        b.finish()
    }

    fn preds(texts: &[&str]) -> Vec<Result<Pred, Unscorable>> {
        texts.iter().map(|t| Ok(Pred { text: t.to_string(), blocked: false })).collect()
    }

    #[tokio::test]
    async fn chain_keys_subsets_and_unscorable_samples() {
        let samples = split(&[
            ("q1", Target::Int(1), Some("A")),
            ("q2", Target::Int(0), Some("A")),
            ("q3", Target::Int(1), Some("B")),
            ("q4", Target::Int(0), Some("B")),
        ]);
        let mut answers = preds(&["Yes", "Yes", "No", "x"]);
        answers[3] = Err(Unscorable::new("HTTP 500"));
        let chains = vec![
            Chain::rule(Rule::yes_no(), &[Metric::PredNoOp, Metric::Accuracy]),
            Chain::rule(Rule::RejectTemplate, &[Metric::PredMean]),
        ];
        let engine = Engine::new(None).quiet();
        let scores = score_split(&samples, &answers, &chains, &Scorer::new(&engine)).await.unwrap();
        let totals: BTreeMap<String, Option<f64>> = scores.totals(None).into_iter().collect();
        // scored: yes/1 correct, yes/0 wrong, no/1 wrong -> 1/3; the failed sample is out
        assert_eq!(totals["rule_yes_or_no_eval:accuracy_score"], Some(1.0 / 3.0));
        assert_eq!(totals["rule_yes_or_no_eval:accuracy_score_A"], Some(0.5));
        assert_eq!(totals["rule_yes_or_no_eval:accuracy_score_B"], Some(0.0));
        assert_eq!(totals["rule_reject_template_eval:pred_mean"], Some(0.0));
        assert_eq!(scores.unscorable_rate(), 0.25);
        let json = scores.result_json();
        let rows = json["per_sample_results"].as_array().unwrap();
        assert_eq!(rows[0]["rule_yes_or_no_eval:pred_no_op"], json!(1));
        assert!(rows[0].get("rule_reject_template_eval:pred_no_op").is_none(), "no pred_no_op metric");
        assert_eq!(rows[3]["rule_yes_or_no_eval:pred_no_op"], Json::Null);
        assert_eq!(rows[3]["unscorable"], json!("HTTP 500"));
        assert_eq!(rows[0]["label"], json!(1));
        assert_eq!(rows[0]["extra"], json!({"subset": "A"}));
        // resampling by index reuses the same values
        let resampled: BTreeMap<String, Option<f64>> = scores.totals(Some(&[0, 0, 2])).into_iter().collect();
        assert_eq!(resampled["rule_yes_or_no_eval:accuracy_score"], Some(2.0 / 3.0));
    }

    #[tokio::test]
    async fn judge_chains_without_a_judge_are_unconfigured_not_failed() {
        let samples = split(&[("q", Target::Text("a".into()), None)]);
        let chain = Chain::new(
            vec![Step::Judge(Judge::new("T4", "{pred} vs {label}", 100)), Step::Rule(Rule::yes_no())],
            &[Metric::PredMean],
        );
        assert_eq!(chain.spec().prefix(), "chatmodel_eval->rule_yes_or_no_eval");
        assert!(matches!(&chain.steps[0], Step::Judge(j) if j.expect == Expect::YesNo));
        let engine = Engine::new(None).quiet();
        let scores = score_split(&samples, &preds(&["a"]), &[chain], &Scorer::new(&engine)).await.unwrap();
        let v = &scores.samples[0].steps[0][1];
        assert!(matches!(v, Err(u) if u.unconfigured && u.reason.contains("needs a judge")));
        assert_eq!(scores.unscorable_rate(), 0.0);
        assert_eq!(scores.totals(None)[0].1, None);
        let json = scores.result_json();
        assert!(json["per_sample_results"][0].get("label").is_some());
        assert!(json["per_sample_results"][0].get("extra").is_none(), "no extra anywhere");
    }

    #[tokio::test]
    async fn blocked_answers_count_as_refusals() {
        let samples = split(&[("q", Target::None, None)]);
        let answers = vec![Ok(Pred { text: String::new(), blocked: true })];
        let chains = vec![Chain::rule(Rule::RejectTemplate, &[Metric::PredMean])];
        let engine = Engine::new(None).quiet();
        let scores = score_split(&samples, &answers, &chains, &Scorer::new(&engine)).await.unwrap();
        assert_eq!(scores.totals(None)[0].1, Some(1.0));
    }
}
