//! Running evaluator chains on a split: rules in place, judges and classifiers through the
//! engine (so their answers are cached, resumable and rate-limited like every request).
//!
//! Which scorer answers a judge or classifier step is the scorer profile's choice
//! ([`ScorerProfile`]): the classifier of a `[classifiers.NAME]` section, the judge (for a
//! classifier step, with a substitute prompt), or the reference scorers.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value as Json};

use crate::backends::reference::ReferenceScorers;
use crate::backends::scorers::{ClassifierSet, PromptRequest, ScoreReply, TextRequest};
use crate::backends::{ChatRequest, ChatService};
use crate::core::{Need, ScorerProfile, StepSource, Unscorable, UnscorableKind};
use crate::engine::{Answer, Engine, Outcome, Service, Stop};
use crate::protocol::scoring::Value;
use crate::protocol::scoring::chain::{Chain, Preds, SampleScore, SplitScores, Step};
use crate::protocol::scoring::classifier::{Classifier, HARMBENCH_TEMPLATE, harmbench_verdict};
use crate::protocol::scoring::judge::{
    Expect, Judge, JudgePolicy, JudgeScore, JudgeTrace, NOISE_TEMPLATE, OffForm, ScorePlan, format_named,
};
use crate::protocol::scoring::reference::{self, Case};
use crate::protocol::scoring::substitute;
use crate::sample::{Message, Sample, Target};

/// What scoring has to work with: the engine, the judge and the classifiers that are
/// configured, the scorer profile, and template overrides.
#[derive(Debug)]
pub struct Scorer<'a> {
    /// The engine that sends judge and classifier requests (or reads them from the store).
    pub engine: &'a Engine,
    /// The judge, if one is configured.
    pub judge: Option<Arc<ChatService>>,
    /// The classifiers that are configured.
    pub classifiers: ClassifierSet,
    /// Prompt templates overridden from the configuration, by name (`T1:g-basic-grounding`,
    /// `S2`, `harmbench`, `substitute:toxicity`, ...).
    pub templates: BTreeMap<String, String>,
    /// How judge answers that do not have the expected form are scored.
    pub policy: JudgePolicy,
    /// Which scorer answers each kind of step.
    pub profile: ScorerProfile,
    /// The reference scorers, for the `reference` profile.
    pub reference: Arc<ReferenceScorers>,
}

impl<'a> Scorer<'a> {
    /// The scorer a plan describes: its judge, classifiers, templates, policy and profile.
    pub fn of_plan(plan: &super::Plan, engine: &'a Engine) -> Scorer<'a> {
        Scorer {
            engine,
            judge: plan.judge.as_ref().map(|(_, s)| s.clone()),
            classifiers: plan.classifiers.clone(),
            templates: plan.templates.clone(),
            policy: plan.judge_policy,
            profile: plan.scorers,
            reference: Arc::new(ReferenceScorers::default()),
        }
    }

    /// A scorer with nothing configured but the engine (the original profile).
    pub fn new(engine: &'a Engine) -> Scorer<'a> {
        Scorer {
            engine,
            judge: None,
            classifiers: ClassifierSet::default(),
            templates: BTreeMap::new(),
            policy: JudgePolicy::Original,
            profile: ScorerProfile::Original,
            reference: Arc::new(ReferenceScorers::default()),
        }
    }

    /// Who answers steps of kind `need` under the profile.
    pub fn source(&self, need: Need) -> StepSource {
        self.profile.source(need, self.classifiers.harmbench.is_some())
    }

    /// Whether the scorer that answers steps of kind `need` is configured.
    pub fn has(&self, need: Need) -> bool {
        match self.source(need) {
            StepSource::Reference => true,
            StepSource::Judge | StepSource::Substitute => self.judge.is_some(),
            StepSource::Classifier(section) => self.classifiers.identity_of(section).is_some(),
        }
    }

    /// What a step of kind `need` lacks and how to provide it ("needs a classifier
    /// (toxicity): configure [classifiers.toxicity]").
    pub fn missing(&self, need: Need) -> String {
        match self.source(need) {
            StepSource::Classifier(section) => {
                format!("needs a classifier ({section}): configure [classifiers.{section}]")
            }
            StepSource::Substitute => format!(
                "needs a judge: the {} scorer profile answers the {need} step with a judge substitute; {}",
                self.profile,
                Need::Judge.how()
            ),
            StepSource::Judge | StepSource::Reference => {
                format!("{}: {}", Need::Judge.missing(), Need::Judge.how())
            }
        }
    }

    /// The name of what a step of kind `need` needs configured: `judge` or a classifier
    /// section.
    pub fn need_name(&self, need: Need) -> &'static str {
        match self.source(need) {
            StepSource::Classifier(section) => section,
            _ => "judge",
        }
    }

    /// What answers steps of kind `need`, as recorded beside every score (see [`scored_by`]).
    pub fn scored_by(&self, need: Need) -> String {
        scored_by(self.profile, self.judge.as_ref(), &self.classifiers, need)
    }
}

/// What answers steps of kind `need` under a profile, as recorded in `run.json` and beside
/// every score: the source and the service's `provider:model`. A judge answering a classifier
/// step is marked as a substitute; the reference scorers say that they are not a judge.
pub fn scored_by(
    profile: ScorerProfile,
    judge: Option<&Arc<ChatService>>,
    classifiers: &ClassifierSet,
    need: Need,
) -> String {
    let judge = || judge.map(|j| j.identity().label()).unwrap_or_else(|| "(none configured)".into());
    match profile.source(need, classifiers.harmbench.is_some()) {
        StepSource::Reference => ScorerProfile::Reference.label().to_string(),
        StepSource::Judge => format!("judge {}", judge()),
        StepSource::Substitute => format!("judge substitute {} (not the {need} classifier)", judge()),
        StepSource::Classifier(section) => match classifiers.identity_of(section) {
            Some(id) => format!("classifier {}", id.label()),
            None => format!("classifier [classifiers.{section}] (not configured)"),
        },
    }
}

struct Item<'a> {
    target: &'a Target,
    extra: &'a Map<String, Json>,
    blocked: bool,
}

type Values = Vec<Result<Value, Unscorable>>;
type Traces = Vec<Option<JudgeTrace>>;

/// Scores one split of a task: runs every chain on the model's answers (judges and
/// classifiers through the engine) and keeps every per-sample value.
pub async fn score_split<'s>(
    task: &str,
    split: &str,
    sample_list: impl Into<Cow<'s, [Sample]>>,
    answers: Preds,
    chains: &[Chain],
    scorer: &Scorer<'_>,
) -> Result<SplitScores, Stop> {
    let sample_list = sample_list.into();
    let items: Vec<Item> = sample_list
        .iter()
        .zip(&answers)
        .map(|(s, a)| Item {
            target: &s.target,
            extra: &s.extra,
            blocked: a.as_ref().is_ok_and(|p| p.blocked),
        })
        .collect();
    let inputs: Values = answers.into_iter().map(|a| a.map(|p| Value::Text(p.text))).collect();
    let label = format!("{task}/{split}");
    let runs = futures::future::try_join_all(
        chains.iter().map(|chain| run_chain(chain, &inputs, &items, scorer, &label)),
    )
    .await?;
    drop(items);

    // A sample given by value is taken apart rather than copied.
    let unscored = |s: Cow<Sample>, input: Result<Value, Unscorable>| {
        let (pred, error) = match input {
            Ok(Value::Text(text)) => (Some(text), None),
            Ok(other) => (Some(other.as_text().into_owned()), None),
            Err(u) => (None, Some(u)),
        };
        let subset = s.subset().map(str::to_string);
        let (id, group, target, content, extra) = match s {
            Cow::Owned(s) => {
                let content = s.log_content();
                (s.id, s.group, s.target, content, s.extra)
            }
            Cow::Borrowed(s) => {
                (s.id.clone(), s.group.clone(), s.target.clone(), s.log_content(), s.extra.clone())
            }
        };
        SampleScore {
            id,
            group,
            subset,
            target,
            content,
            extra: if extra.is_empty() { Json::Null } else { Json::Object(extra) },
            pred,
            error,
            steps: Vec::with_capacity(chains.len()),
            judges: Vec::new(),
        }
    };
    let mut samples: Vec<SampleScore> = match sample_list {
        Cow::Borrowed(list) => list.iter().zip(inputs).map(|(s, i)| unscored(Cow::Borrowed(s), i)).collect(),
        Cow::Owned(list) => list.into_iter().zip(inputs).map(|(s, i)| unscored(Cow::Owned(s), i)).collect(),
    };
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
    Ok(SplitScores {
        task: task.to_string(),
        split: split.to_string(),
        chains: chains.iter().map(Chain::spec).collect(),
        samples,
    })
}

async fn run_chain(
    chain: &Chain,
    inputs: &Values,
    items: &[Item<'_>],
    scorer: &Scorer<'_>,
    label: &str,
) -> Result<(Vec<Values>, Vec<Vec<JudgeTrace>>), Stop> {
    let mut steps = Vec::new();
    let mut traces: Vec<Vec<JudgeTrace>> = vec![Vec::new(); items.len()];
    for (i, step) in chain.steps.iter().enumerate() {
        let current = steps.last().unwrap_or(inputs);
        let (values, step_traces) = run_step(step, i == 0, current, items, scorer, label).await?;
        for (t, trace) in traces.iter_mut().zip(step_traces) {
            t.extend(trace);
        }
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
) -> Result<(Values, Traces), Stop> {
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
            Ok((values, vec![None; inputs.len()]))
        }
        Step::Judge(judge) => run_judge(judge, inputs, items, scorer, label).await,
        Step::JudgeScore(judge) => run_judge_score(judge, inputs, items, scorer, label).await,
        Step::Classify(classifier) => run_classifier(classifier, inputs, items, scorer, label).await,
    }
}

fn unconfigured(scorer: &Scorer, need: Need, n: usize) -> (Values, Traces) {
    (vec![Err(Unscorable::unconfigured(scorer.missing(need))); n], vec![None; n])
}

/// Sends the requests that exist (one per sample or none) and aligns the answers.
async fn send<S: Service>(
    scorer: &Scorer<'_>,
    service: &Arc<S>,
    requests: Vec<Option<S::Request>>,
    label: &str,
) -> Result<Vec<Option<Outcome<S::Reply>>>, Stop> {
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

/// A question for whoever answers a step in words: the prompt a chat judge reads and the
/// case the reference scorers read.
struct Ask {
    prompt: String,
    max_tokens: u32,
    case: Case,
}

/// Who answers questions in words: the chat judge, or the reference scorers.
enum Asker<'s> {
    Chat(&'s Arc<ChatService>),
    Reference(&'s Arc<ReferenceScorers>),
}

impl Asker<'_> {
    /// The one answering steps of kind `need`, if configured.
    fn of<'s>(scorer: &'s Scorer<'_>, need: Need) -> Option<Asker<'s>> {
        match scorer.source(need) {
            StepSource::Reference => Some(Asker::Reference(&scorer.reference)),
            StepSource::Judge | StepSource::Substitute => scorer.judge.as_ref().map(Asker::Chat),
            StepSource::Classifier(_) => None,
        }
    }

    /// `provider:model`, for the judge traces.
    fn model(&self) -> String {
        match self {
            Asker::Chat(s) => s.identity().label(),
            Asker::Reference(s) => s.identity().label(),
        }
    }

    /// Asks every question that exists and aligns the answer texts.
    async fn ask(
        &self,
        scorer: &Scorer<'_>,
        asks: Vec<Option<Ask>>,
        label: &str,
    ) -> Result<Vec<Option<Outcome<String>>>, Stop> {
        fn text<R>(
            answers: Vec<Option<Outcome<R>>>,
            text: impl Fn(R) -> String,
        ) -> Vec<Option<Outcome<String>>> {
            answers
                .into_iter()
                .map(|a| {
                    a.map(|r| {
                        r.map(|a| Answer {
                            reply: text(a.reply),
                            fingerprint: a.fingerprint,
                            cached: a.cached,
                        })
                    })
                })
                .collect()
        }
        Ok(match self {
            Asker::Chat(service) => {
                let requests =
                    asks.into_iter().map(|a| a.map(|a| judge_request(a.prompt, a.max_tokens))).collect();
                text(send(scorer, service, requests, label).await?, |r| r.text)
            }
            Asker::Reference(service) => {
                let requests = asks.into_iter().map(|a| a.map(|a| a.case)).collect();
                text(send(scorer, service, requests, label).await?, |r| r.text)
            }
        })
    }
}

/// One question per input that has an answer to judge; an input that cannot be asked keeps
/// its reason. The values are placeholders until the answers come.
fn questions(
    inputs: &Values,
    items: &[Item<'_>],
    mut build: impl FnMut(String, &Item<'_>) -> Result<Ask, Unscorable>,
) -> (Values, Vec<Option<Ask>>) {
    inputs
        .iter()
        .zip(items)
        .map(|(input, item)| {
            match input.as_ref().map_err(Clone::clone).and_then(|v| build(v.as_text().into_owned(), item)) {
                Ok(ask) => (Ok(Value::Int(0)), Some(ask)),
                Err(u) => (Err(u), None),
            }
        })
        .unzip()
}

fn judge_request(prompt: String, max_tokens: u32) -> ChatRequest {
    ChatRequest::greedy(vec![Message::user(prompt, None)], max_tokens)
}

/// The reference case of a judge step: what the answer is compared with, in the form the
/// next step expects.
fn judge_case(expect: &Expect, pred: &str, item: &Item, field: Option<&str>, top: Option<&str>) -> Case {
    let wanted = reference::wanted(item.target, item.extra, field);
    let pred = pred.to_string();
    match expect {
        Expect::Box => {
            let size = item
                .extra
                .get("img_size")
                .and_then(Json::as_array)
                .and_then(|wh| Some((wh.first()?.as_f64()?, wh.get(1)?.as_f64()?)));
            Case::Box { pred, size }
        }
        Expect::Score(values) => {
            let numbers = || values.iter().filter_map(|v| v.parse::<f64>().ok().map(|n| (n, v.clone())));
            let high = numbers().max_by(|a, b| a.0.total_cmp(&b.0)).map(|(_, v)| v);
            let low = numbers().min_by(|a, b| a.0.total_cmp(&b.0)).map(|(_, v)| v);
            Case::Score {
                pred,
                wanted,
                top: top.map(str::to_string).or(high).unwrap_or_else(|| "1".into()),
                bottom: low.unwrap_or_else(|| "0".into()),
            }
        }
        Expect::YesNo | Expect::Any => Case::YesNo { pred, wanted },
    }
}

async fn run_judge(
    judge: &Judge,
    inputs: &Values,
    items: &[Item<'_>],
    scorer: &Scorer<'_>,
    label: &str,
) -> Result<(Values, Traces), Stop> {
    let Some(asker) = Asker::of(scorer, Need::Judge) else {
        return Ok(unconfigured(scorer, Need::Judge, inputs.len()));
    };
    let template = scorer.templates.get(&judge.name).unwrap_or(&judge.template);
    let judge = Judge { template: template.clone(), ..judge.clone() };
    let (mut values, asks) = questions(inputs, items, |pred, item| {
        let prompt = judge.prompt(&pred, item.target, item.extra)?;
        let case = judge_case(&judge.expect, &pred, item, judge.compared_with.as_deref(), None);
        Ok(Ask { prompt, max_tokens: judge.max_tokens, case })
    });
    let answers = asker.ask(scorer, asks, &format!("judge {label}")).await?;
    let model = asker.model();
    let mut traces = vec![None; inputs.len()];
    for (i, answer) in answers.into_iter().enumerate() {
        let Some(answer) = answer else { continue };
        values[i] = answer.and_then(|a| {
            scorer.policy.admit(&judge.expect, &a.reply).map_err(off_form)?;
            traces[i] =
                Some(JudgeTrace::new(model.clone(), &judge.template, judge.max_tokens, a.fingerprint));
            Ok(Value::Text(a.reply))
        });
    }
    Ok((values, traces))
}

/// A judge answer the strict policy refuses.
fn off_form(e: OffForm) -> Unscorable {
    Unscorable::new(UnscorableKind::Judge, e.to_string())
}

async fn run_judge_score(
    judge: &JudgeScore,
    inputs: &Values,
    items: &[Item<'_>],
    scorer: &Scorer<'_>,
    label: &str,
) -> Result<(Values, Traces), Stop> {
    let Some(asker) = Asker::of(scorer, Need::Judge) else {
        return Ok(unconfigured(scorer, Need::Judge, inputs.len()));
    };
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
            Ok((plan, noise, pred))
        });
        match planned {
            Ok((ScorePlan::Full, _, _)) => {
                values.push(Ok(Value::Text(judge.full_score.clone())));
                asks.push(None);
                noises.push(None);
            }
            Ok((ScorePlan::Ask(prompt), noise, pred)) => {
                let case = judge_case(&judge.expect, &pred, item, None, Some(&judge.full_score));
                values.push(Ok(Value::Int(0)));
                asks.push(Some(Ask { prompt, max_tokens: judge.max_tokens, case }));
                noises.push(noise.map(|prompt| Ask {
                    prompt,
                    max_tokens: judge.max_tokens,
                    case: Case::Noise,
                }));
            }
            Err(u) => {
                values.push(Err(u));
                asks.push(None);
                noises.push(None);
            }
        }
    }
    let (answers, noise_answers) = futures::future::try_join(
        asker.ask(scorer, asks, &format!("judge {label}")),
        asker.ask(scorer, noises, &format!("noise {label}")),
    )
    .await?;
    let model = asker.model();
    let mut traces = vec![None; inputs.len()];
    for (i, (answer, noise)) in answers.into_iter().zip(noise_answers).enumerate() {
        let Some(answer) = answer else { continue };
        let noisy = match noise {
            None => Ok(false),
            Some(Err(u)) => Err(u),
            // The original gives the full score when "yes" is anywhere in the lower-cased
            // answer; the strict policy first asks for a yes or a no as a word.
            Some(Ok(n)) => scorer
                .policy
                .admit(&Expect::YesNo, &n.reply)
                .map(|()| n.reply.to_lowercase().contains("yes"))
                .map_err(off_form),
        };
        values[i] = noisy.and_then(|noisy| {
            let a = answer?;
            traces[i] =
                Some(JudgeTrace::new(model.clone(), &judge.template, judge.max_tokens, a.fingerprint));
            if noisy {
                return Ok(Value::Text(judge.full_score.clone()));
            }
            scorer.policy.admit(&judge.expect, &a.reply).map_err(off_form)?;
            Ok(Value::Text(a.reply))
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
) -> Result<(Values, Traces), Stop> {
    let need = classifier.need();
    let n = inputs.len();
    let label = format!("{need} {label}");
    let section = match scorer.source(need) {
        StepSource::Classifier(section) => section,
        StepSource::Judge | StepSource::Substitute | StepSource::Reference => {
            return run_substitute(classifier, inputs, items, scorer, &label).await;
        }
    };
    let set = &scorer.classifiers;
    let texts = || -> Vec<Option<TextRequest>> {
        inputs
            .iter()
            .map(|i| i.as_ref().ok().map(|v| TextRequest { text: v.as_text().into_owned() }))
            .collect()
    };
    let fill = |answers: Vec<Option<Result<Value, Unscorable>>>| -> Values {
        answers
            .into_iter()
            .zip(inputs)
            .map(|(a, input)| match (a, input) {
                (Some(v), _) => v,
                (None, Err(u)) => Err(u.clone()),
                (None, Ok(_)) => Err(Unscorable::new(UnscorableKind::Data, "no request was built")),
            })
            .collect()
    };
    let no_scores = || Unscorable::new(UnscorableKind::Classifier, "the classifier returned no scores");
    let scores = |answers: Vec<Option<Outcome<ScoreReply>>>| {
        fill(answers.into_iter().map(|a| a.map(|r| r.map(|a| Value::Float(a.reply.score)))).collect())
    };
    let values = match (section, classifier) {
        ("perspective", _) if let Some(s) = &set.perspective => {
            scores(send(scorer, s, texts(), &label).await?)
        }
        ("moderation", _) if let Some(s) = &set.moderation => scores(send(scorer, s, texts(), &label).await?),
        ("toxicity", _) if let Some(s) = &set.toxicity => {
            let answers = send(scorer, s, texts(), &label).await?;
            fill(
                answers
                    .into_iter()
                    .map(|a| {
                        a.map(|r| r.and_then(|a| s.score(&a.reply).map(Value::Float).ok_or_else(no_scores)))
                    })
                    .collect(),
            )
        }
        ("action", Classifier::Reject(labels) | Classifier::Follow(labels)) if let Some(s) = &set.action => {
            let answers = send(scorer, s, texts(), &label).await?;
            fill(
                answers
                    .into_iter()
                    .map(|a| {
                        a.map(|r| {
                            r.and_then(|a| {
                                let top = a.reply.top().ok_or_else(no_scores)?;
                                Ok(Value::Int(i64::from(labels.iter().any(|l| l == top))))
                            })
                        })
                    })
                    .collect(),
            )
        }
        ("harmbench", _) if let Some(service) = &set.harmbench => {
            let template =
                scorer.templates.get("harmbench").map(String::as_str).unwrap_or(HARMBENCH_TEMPLATE);
            let mut prefilled: Vec<Option<Result<Value, Unscorable>>> = vec![None; n];
            let mut requests = Vec::with_capacity(n);
            for (i, (input, item)) in inputs.iter().zip(items).enumerate() {
                let prompt =
                    input.as_ref().ok().map(|v| harmbench_prompt(template, item.target, &v.as_text()));
                match prompt {
                    Some(Ok(prompt)) => requests.push(Some(PromptRequest { prompt })),
                    Some(Err(u)) => {
                        prefilled[i] = Some(Err(u));
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
                                    Unscorable::new(
                                        UnscorableKind::Classifier,
                                        format!(
                                            "the HarmBench classifier answered {:?}, not Yes or No",
                                            a.reply.label
                                        ),
                                    )
                                })
                            })
                        })
                    })
                })
                .collect();
            fill(merged)
        }
        _ => return Ok(unconfigured(scorer, need, n)),
    };
    Ok((values, vec![None; n]))
}

fn harmbench_prompt(template: &str, behavior: &Target, generation: &str) -> Result<String, Unscorable> {
    format_named(template, |name| match name {
        "behavior" => Some(behavior.as_text()),
        "generation" => Some(generation.to_string()),
        _ => None,
    })
    .map_err(|e| Unscorable::new(UnscorableKind::Data, format!("harmbench template: {e}")))
}

/// A classifier step answered in words: by the judge with a substitute prompt, or by the
/// reference scorers in the same answer form.
async fn run_substitute(
    classifier: &Classifier,
    inputs: &Values,
    items: &[Item<'_>],
    scorer: &Scorer<'_>,
    label: &str,
) -> Result<(Values, Traces), Stop> {
    let n = inputs.len();
    let Some(asker) = Asker::of(scorer, classifier.need()) else {
        return Ok(unconfigured(scorer, classifier.need(), n));
    };
    let (name, default) = substitute::prompt_for(classifier);
    let template = scorer.templates.get(name).map(String::as_str).unwrap_or(default);
    let (mut values, asks) = questions(inputs, items, |pred, item| {
        let (prompt, case) = match classifier {
            Classifier::HarmBench => {
                (harmbench_prompt(template, item.target, &pred)?, Case::HarmBench { pred })
            }
            _ => {
                let prompt = format_named(template, |slot| (slot == "text").then(|| pred.clone()))
                    .map_err(|e| Unscorable::new(UnscorableKind::Data, format!("{name} template: {e}")))?;
                let case = match classifier {
                    Classifier::Perspective | Classifier::Moderation => Case::Toxicity { pred },
                    _ => Case::Action { pred },
                };
                (prompt, case)
            }
        };
        Ok(Ask { prompt, max_tokens: substitute::MAX_TOKENS, case })
    });
    let answers = asker.ask(scorer, asks, label).await?;
    let model = asker.model();
    let mut traces = vec![None; n];
    for (i, answer) in answers.into_iter().enumerate() {
        let Some(answer) = answer else { continue };
        values[i] = answer.and_then(|a| {
            let value = match classifier {
                Classifier::Perspective | Classifier::Moderation => {
                    substitute::toxicity(&a.reply).map(Value::Float)
                }
                Classifier::HarmBench => substitute::harmbench(&a.reply).map(Value::Int),
                Classifier::Reject(labels) | Classifier::Follow(labels) => {
                    substitute::action(&a.reply).map(|l| Value::Int(i64::from(labels.contains(&l))))
                }
            };
            let value = value.ok_or_else(|| {
                Unscorable::new(
                    UnscorableKind::Judge,
                    format!(
                        "the {name} answer {:?} is not in the form asked for",
                        a.reply.chars().take(80).collect::<String>()
                    ),
                )
            })?;
            traces[i] = Some(JudgeTrace::new(model.clone(), template, substitute::MAX_TOKENS, a.fingerprint));
            Ok(value)
        });
    }
    Ok((values, traces))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::scoring::chain::{Pred, SplitTable};
    use crate::protocol::scoring::{Metric, Rule};
    use crate::sample::SplitBuilder;
    use serde_json::json;

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
        answers[3] = Err(Unscorable::new(UnscorableKind::Provider, "HTTP 500"));
        let chains = vec![
            Chain::rule(Rule::yes_no(), &[Metric::PredNoOp, Metric::Accuracy]),
            Chain::rule(Rule::RejectTemplate, &[Metric::PredMean]),
        ];
        let engine = Engine::new(None).quiet();
        let scores = score_split("X1", "s", &samples, answers, &chains, &Scorer::new(&engine)).await.unwrap();
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
        // one key computed alone is the same entry; a subset absent from the resample is no key
        let table = SplitTable::new(&scores);
        for indices in [vec![0, 1, 2, 3], vec![0, 0, 2], vec![3, 3], vec![2, 1, 1]] {
            let all: BTreeMap<String, Option<f64>> = scores.totals(Some(&indices)).into_iter().collect();
            let unknown = ["rule_yes_or_no_eval:accuracy", "rule_yes_or_no_eval:accuracy_score_C", ""];
            for key in totals.keys().map(String::as_str).chain(unknown) {
                assert_eq!(table.total(key, &indices), all.get(key).copied(), "{key} over {indices:?}");
            }
        }
        assert_eq!(table.total("rule_yes_or_no_eval:accuracy_score_B", &[0, 1]), None);
        assert_eq!(table.total("rule_yes_or_no_eval:accuracy", &[0, 1]), None);
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
        let scores =
            score_split("X1", "s", &samples, preds(&["a"]), &[chain], &Scorer::new(&engine)).await.unwrap();
        let v = &scores.samples[0].steps[0][1];
        assert!(matches!(v, Err(u) if u.is_unconfigured() && u.reason.contains("needs a judge")));
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
        let scores = score_split("X1", "s", &samples, answers, &chains, &Scorer::new(&engine)).await.unwrap();
        assert_eq!(scores.totals(None)[0].1, Some(1.0));
    }
}
