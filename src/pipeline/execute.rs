//! The executor: from loaded samples to a [`RunRecord`]. The same code serves `run` (the
//! models are asked through the engine), `score RUN_DIR` and `score --mmtrusteval-log` (the
//! answers come with the samples): preflight, ask, score every split, aggregate.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::PipelineError;
use super::health;
use super::load::{Loaded, LoadedTask};
use super::plan::{ModelPlan, Plan, Source};
use super::preflight::{self, Sight};
use super::record::{
    Answer, Answered, Asking, Comparability, Manifest, ModelRecord, RunRecord, RunStatus, SplitRecord,
    TaskRecord,
};
use super::score::{Scorer, score_split};
use super::templates;
use crate::backends::baseline::Baseline;
use crate::backends::images;
use crate::backends::{ChatRequest, ChatResponse, ChatService, THINK_TAGS};
use crate::config::Profile;
use crate::core::{Need, ScorerProfile, Unscorable, UnscorableKind};
use crate::engine::Engine;
use crate::mitigations::{self, Baselined, Call, Chat, Served, Trace};
use crate::protocol::aggregate::{self, ModelSummary, TaskSummary};
use crate::protocol::fixtures;
use crate::protocol::reasoning::{self, ReasoningSummary, scored_text};
use crate::protocol::scoring::SplitScores;
use crate::protocol::scoring::chain::Pred;
use crate::protocol::scoring::judge::JudgePolicy;
use crate::protocol::tasks::{self, Task};
use crate::sample::Sample;

/// Runs the plan on what was loaded: checks each endpoint, asks each model what the source
/// does not hold, scores every split and aggregates. Stops with [`PipelineError::Stopped`] on
/// Ctrl-C or when an endpoint's circuit breaker opens (everything answered is stored).
pub async fn execute(plan: &Plan, loaded: &Loaded, engine: &Engine) -> Result<RunRecord, PipelineError> {
    let scorer = Scorer::of_plan(plan, engine);
    let sights = preflight_all(plan, loaded, engine).await?;
    let mut models = Vec::new();
    let mut asking = BTreeMap::new();
    for (k, (m, sight)) in plan.models.iter().zip(sights).enumerate() {
        let tasks_in = loaded.for_model(&m.info.name);
        let (answers, seconds) = ask(plan, m, tasks_in, engine, &sight).await?;
        if k + 1 == plan.models.len() {
            // Judges and classifiers are sent text: no image is sent after the last model's.
            images::forget_all();
        }
        let phase = std::time::Instant::now();
        let records = score(plan, tasks_in, answers, &scorer).await?;
        tracing::debug!("{}: scored in {:?}", m.info.name, phase.elapsed());
        let phase = std::time::Instant::now();
        let mut summary = summarize(plan, m, &records, tasks_in, &scorer);
        tracing::debug!("{}: summary and bootstrap in {:?}", m.info.name, phase.elapsed());
        let answered = || {
            records.iter().flat_map(|t| &t.splits).flat_map(|s| &s.answers).filter_map(|a| a.as_ref().ok())
        };
        // An answer without a trace (a plain model's, read back from samples.jsonl) took one
        // call with the usage it reports.
        let cost = answered().map(|a| match &a.trace {
            Some(t) => (t.calls, t.input_tokens, t.output_tokens),
            None => {
                let u = a.response.usage.unwrap_or_default();
                (1, u.input, u.output)
            }
        });
        summary.cost = Some(aggregate::Cost::of(cost));
        let sent = answered().filter_map(|a| a.trace.as_ref()).map(|t| u64::from(t.sent)).sum();
        asking.insert(m.info.name.clone(), Asking { sent, seconds });
        let splits: Vec<&SplitRecord> = records.iter().flat_map(|t| &t.splits).collect();
        let mut health = health::assess(&splits, m.info.baseline);
        health.warnings.extend(m.warnings.iter().cloned());
        if let Sight::Blind(why) = &sight {
            health.warnings.insert(0, format!("the endpoint is blind: {why}"));
        }
        tracing::info!(
            "{}: {} task(s) scored, overall {}",
            m.info.name,
            summary.tasks.iter().filter(|t| t.score.is_some()).count(),
            summary.overall.score.map(|s| format!("{s:.2}")).unwrap_or_else(|| "missing".into())
        );
        models.push(ModelRecord { info: m.info.clone(), tasks: records, summary, health });
    }
    let status = if loaded.errors().is_empty() { RunStatus::Complete } else { RunStatus::Incomplete };
    let ids: Vec<&str> = plan.tasks.iter().map(|t| t.info().id).collect();
    let mut manifest = manifest(plan, loaded, status);
    // Scoring a run again asks nothing: the answers' cost is the run's that asked for them.
    manifest.asking = match &plan.source {
        Source::Run { manifest: asked, .. } => asked.asking.clone(),
        _ => asking,
    };
    Ok(RunRecord {
        dir: plan.dir(),
        manifest,
        tasks: tasks::select(&ids.join(",")).unwrap_or_default(),
        models,
    })
}

/// The manifest of a plan and what it loaded, with a status.
pub fn manifest(plan: &Plan, loaded: &Loaded, status: RunStatus) -> Manifest {
    let texts: BTreeMap<String, _> = plan
        .tasks
        .iter()
        .map(|t| (t.info().id.to_string(), templates::task_texts(t.as_ref(), &plan.templates)))
        .collect();
    let mut m = Manifest {
        multitrust_version: env!("CARGO_PKG_VERSION").to_string(),
        status,
        error: None,
        written_at_unix: super::plan::unix_now(),
        command: plan.command.clone(),
        seed: plan.seed,
        limit: plan.limit,
        shard: plan.shard,
        max_image_side: plan.max_image_side,
        bootstrap_replicates: plan.replicates,
        judge_policy: plan.judge_policy,
        scorers: Some(plan.scorers),
        scored_by: plan
            .tasks
            .iter()
            .flat_map(|t| t.needs())
            .map(|n| {
                let judge = plan.judge.as_ref().map(|(_, s)| s);
                (n.name().to_string(), super::score::scored_by(plan.scorers, judge, &plan.classifiers, n))
            })
            .collect(),
        models: plan.models.iter().map(|m| m.info.clone()).collect(),
        judge: plan.judge.as_ref().map(|(p, _)| super::plan::describe(p)),
        classifiers: plan.classifiers.identities(),
        texts,
        store: plan.store.as_ref().map(|p| p.display().to_string()),
        data: loaded.data.clone(),
        tasks: plan.tasks.iter().map(|t| t.info().id.to_string()).collect(),
        comparable: Comparability::default(),
        score_reasoning: plan.score_reasoning,
        reasoning_view: plan.reasoning_view,
        asking: BTreeMap::new(),
    };
    m.comparable = comparability(&m, matches!(plan.source, Source::Synthetic(_)));
    m
}

/// The judge the original toolbox used for every judged task.
pub const ORIGINAL_JUDGE: &str = "gpt-4-1106-preview";

/// Whether a run's numbers can be placed beside the published ones: the benchmark's data, all
/// samples, the original texts, the original policy for judge answers and the original judge.
pub fn comparability(m: &Manifest, synthetic: bool) -> Comparability {
    let mut reasons = Vec::new();
    if synthetic || m.data.synthetic {
        reasons.push("the data is the synthetic suite, not the benchmark's".to_string());
    }
    if let Some(n) = m.limit {
        reasons.push(format!("--limit {n}: not every sample was asked"));
    }
    let ours: Vec<&str> =
        m.texts.iter().filter(|(_, t)| t.texts == "ours").map(|(id, _)| id.as_str()).collect();
    if !ours.is_empty() {
        reasons.push(format!(
            "{} used our own prompt wording; import the original texts with `multitrust templates import`",
            ours.join(", ")
        ));
    }
    let custom: Vec<&str> =
        m.texts.iter().filter(|(_, t)| t.texts == "custom").map(|(id, _)| id.as_str()).collect();
    if !custom.is_empty() {
        reasons.push(format!(
            "{} used prompt texts from the configuration that are not the original's",
            custom.join(", ")
        ));
    }
    let scorers = m.scorers.unwrap_or_default();
    if scorers != ScorerProfile::Original {
        reasons.push(format!(
            "scored with the {scorers} scorer profile ({}); only the original scorers are placed \
             beside the published scores",
            scorers.label()
        ));
    }
    if m.judge_policy != JudgePolicy::Original {
        reasons.push("judge answers were scored with the strict policy".to_string());
    }
    if let Some(j) = &m.judge
        && j.model != ORIGINAL_JUDGE
    {
        reasons.push(format!("the judge is {}, not the original's {ORIGINAL_JUDGE}", j.model));
    }
    Comparability { comparable: reasons.is_empty(), reasons }
}

/// The answer a response gives: the response, unless it has no text and the provider did not
/// block it, which makes the sample unscorable (kind `empty`).
pub fn answer_of(response: ChatResponse, fingerprint: Option<String>, trace: Option<Trace>) -> Answer {
    if response.text.trim().is_empty()
        && !response.finish.is_block()
        && response.reasoning.as_ref().is_some_and(|r| !r.trim().is_empty())
    {
        let tokens = response.usage.map(|u| u.reasoning).filter(|n| *n > 0);
        let spent = tokens.map(|n| format!(" ({n} reasoning tokens)")).unwrap_or_default();
        return Err(Unscorable::new(
            UnscorableKind::ReasoningTruncated,
            format!(
                "the model reasoned{spent} and gave no answer: its token budget ran out while thinking; \
                 raise the reasoning budget or lower its effort"
            ),
        ));
    }
    if response.text.trim().is_empty() && !response.finish.is_block() {
        let why = match &response.finish_raw {
            Some(f) => format!("the answer has no text (finish reason `{f}`)"),
            None => "the answer has no text".to_string(),
        };
        return Err(Unscorable::new(UnscorableKind::Empty, why));
    }
    Ok(Answered { response, fingerprint, trace })
}

/// The request a model is sent for a sample.
pub(super) fn request(plan: &Plan, profile: &Profile, task: &dyn Task, sample: &Sample) -> ChatRequest {
    ChatRequest {
        messages: sample.messages.clone(),
        max_tokens: task.max_tokens(&sample.split),
        temperature: 0.0,
        params: profile.params.clone(),
        max_image_side: plan.max_image_side,
        reasoning: profile.reasoning.clone(),
        image_limits: plan.image_limits,
    }
}

/// Whether the store lacks the answer to any of these requests, looked up a few hundred at a
/// time and stopping at the first that is lacking (a fresh run knows it at once; the whole
/// lookup is the engine's, when it sends).
async fn any_missing(
    engine: &Engine,
    service: &ChatService,
    mut requests: impl Iterator<Item = ChatRequest>,
) -> bool {
    loop {
        let chunk: Vec<ChatRequest> = requests.by_ref().take(256).collect();
        if chunk.is_empty() {
            return false;
        }
        if engine.missing(service, &chunk).await > 0 {
            return true;
        }
    }
}

/// Checks every model endpoint that has something to send, before anything else is sent;
/// gives each model what was found about images.
async fn preflight_all(plan: &Plan, loaded: &Loaded, engine: &Engine) -> Result<Vec<Sight>, PipelineError> {
    let asks = matches!(plan.source, Source::Data(_) | Source::Synthetic(_));
    let mut out = Vec::new();
    for m in &plan.models {
        let Some(profile) = m.profile.as_ref().filter(|p| asks && !p.is_baseline()) else {
            out.push(Sight::Unknown("nothing is sent".into()));
            continue;
        };
        if profile.batch && profile.batch_dir.is_some() {
            out.push(Sight::Unknown("answered through batch files: no server to probe".into()));
            continue;
        }
        let service = ChatService::from_profile(profile)?;
        let requests = || {
            pending(plan, loaded.for_model(&m.info.name))
                .map(|(task, sample)| request(plan, profile, task, sample))
        };
        if !any_missing(engine, &service, requests()).await {
            out.push(Sight::Unknown("every answer is stored".into()));
            continue;
        }
        let images = requests().any(|r| r.messages.iter().any(|m| m.images().next().is_some()));
        let mut probing = profile.clone();
        probing.max_attempts = Some(2);
        probing.batch = false;
        let probe = Arc::new(ChatService::from_profile(&probing)?);
        let image = if images { Some(preflight::probe_image(&loaded.generated)?) } else { None };
        let sight = preflight::check(
            engine,
            &probe,
            &m.info.name,
            &profile.base_url(),
            &profile.params,
            image.as_ref().map(|i| (i, plan.max_image_side)),
        )
        .await?;
        match &sight {
            Sight::Blind(why) if plan.allow_blind => {
                tracing::warn!("{}: {why}; sending its image samples anyway (--allow-blind)", m.info.name)
            }
            Sight::Blind(why) => tracing::warn!(
                "{}: {why}. Its image samples are not sent (unscorable, kind `blind`): load the vision \
                 projector or pick a vision model, or pass --allow-blind to send them anyway",
                m.info.name
            ),
            Sight::Unknown(why) if images => tracing::info!("{}: {why}", m.info.name),
            _ => {}
        }
        out.push(sight);
    }
    if let Some((profile, _)) = &plan.judge
        && asks
        && !(profile.batch && profile.batch_dir.is_some())
        && plan.tasks.iter().any(|t| t.needs().contains(&Need::Judge))
    {
        let mut probing = profile.clone();
        probing.max_attempts = Some(2);
        probing.batch = false;
        let probe = Arc::new(ChatService::from_profile(&probing)?);
        preflight::check(
            engine,
            &probe,
            &format!("judge {}", profile.name),
            &profile.base_url(),
            &profile.params,
            None,
        )
        .await?;
    }
    Ok(out)
}

/// Every sample that loaded and has no answer yet, with its task.
pub(super) fn pending<'a>(
    plan: &'a Plan,
    tasks: &'a [LoadedTask],
) -> impl Iterator<Item = (&'a dyn Task, &'a Sample)> + 'a {
    plan.tasks.iter().zip(tasks).flat_map(|(task, lt)| {
        lt.splits
            .iter()
            .filter(|s| s.answers.is_none())
            .filter_map(|s| s.samples.as_deref().ok())
            .flatten()
            .filter(|s| s.problem.is_none())
            .map(move |s| (task.as_ref(), s))
    })
}

/// One model's answer to every loaded sample: `answers[task][split][sample]` (empty for a split
/// that did not load), and the seconds spent asking.
///
/// Every sample to ask goes to one chat: the served model through the engine, or the baseline
/// answering locally, wrapped in the model's mitigations (none for a plain model).
async fn ask(
    plan: &Plan,
    m: &ModelPlan,
    tasks_in: &[LoadedTask],
    engine: &Engine,
    sight: &Sight,
) -> Result<(Vec<Vec<Vec<Answer>>>, f64), PipelineError> {
    let blind = matches!(sight, Sight::Blind(_)) && !plan.allow_blind;
    let baseline = m.profile.as_ref().filter(|p| p.is_baseline()).and_then(|p| Baseline::from_name(&p.model));
    let service = match &m.profile {
        Some(p) if !p.is_baseline() => Some(Arc::new(ChatService::from_profile(p)?)),
        _ => None,
    };
    let built = std::time::Instant::now();
    let mut calls = Vec::new();
    let mut hints = Vec::new();
    let mut slots = Vec::new();
    let mut answers: Vec<Vec<Vec<Answer>>> = Vec::new();
    for (t, (task, lt)) in plan.tasks.iter().zip(tasks_in).enumerate() {
        let mut task_answers = Vec::new();
        for (s, split) in lt.splits.iter().enumerate() {
            let Ok(samples) = &split.samples else {
                task_answers.push(Vec::new());
                continue;
            };
            if let Some(given) = &split.answers {
                let given = given
                    .iter()
                    .map(|a| a.clone().and_then(|a| answer_of(a.response, a.fingerprint, a.trace)))
                    .collect();
                task_answers.push(given);
                continue;
            }
            let mut split_answers = Vec::with_capacity(samples.len());
            for (i, sample) in samples.iter().enumerate() {
                let answer = if let Some(problem) = &sample.problem {
                    Err(problem.clone())
                } else if blind && baseline.is_none() && sample.image().is_some() {
                    let why = match sight {
                        Sight::Blind(why) => why.clone(),
                        _ => String::new(),
                    };
                    Err(Unscorable::new(UnscorableKind::Blind, format!("not sent: {why}")))
                } else if let Some(profile) =
                    m.profile.as_ref().filter(|_| service.is_some() || baseline.is_some())
                {
                    calls.push(Call {
                        request: request(plan, profile, task.as_ref(), sample),
                        sample: calls.len(),
                    });
                    if baseline.is_some() {
                        hints.push((fixtures::hint(task.info().id, sample), sample.id.as_str()));
                    }
                    slots.push((t, s, i));
                    Err(Unscorable::new(UnscorableKind::Transport, "not answered"))
                } else {
                    Err(Unscorable::new(UnscorableKind::Data, "no answer for this sample in the source"))
                };
                split_answers.push(answer);
            }
            task_answers.push(split_answers);
        }
        answers.push(task_answers);
    }
    let started = std::time::Instant::now();
    if !calls.is_empty() {
        let base: Box<dyn Chat + '_> = match (&service, baseline) {
            (Some(service), _) => {
                let (open, close) = THINK_TAGS;
                let tags = m.profile.as_ref().and_then(|p| p.think_tags.clone());
                Box::new(Served {
                    engine,
                    service: service.clone(),
                    label: m.info.name.clone(),
                    think_tags: tags.unwrap_or_else(|| (open.to_string(), close.to_string())),
                })
            }
            (None, Some(kind)) => Box::new(Baselined::new(kind, plan.seed, hints.into_iter())),
            (None, None) => unreachable!("calls are only made for a served model or a baseline"),
        };
        let chat = mitigations::wrap(base, &m.stack, engine);
        tracing::debug!("{}: {} requests built in {:?}", m.info.name, calls.len(), built.elapsed());
        let replies = chat.ask(calls).await?;
        tracing::debug!("{}: answered in {:?}", m.info.name, started.elapsed());
        for ((t, s, i), reply) in slots.into_iter().zip(replies) {
            answers[t][s][i] = reply.and_then(|r| answer_of(r.response, r.fingerprint, Some(r.trace)));
        }
    }
    Ok((answers, started.elapsed().as_secs_f64()))
}

/// Scores every loaded split of one model (all at once, so judge requests share the judge's
/// concurrency).
async fn score(
    plan: &Plan,
    tasks_in: &[LoadedTask],
    answers: Vec<Vec<Vec<Answer>>>,
    scorer: &Scorer<'_>,
) -> Result<Vec<TaskRecord>, PipelineError> {
    let mut jobs = Vec::new();
    for (t, ((task, lt), task_answers)) in plan.tasks.iter().zip(tasks_in).zip(answers).enumerate() {
        for (split, split_answers) in lt.splits.iter().zip(task_answers) {
            let Ok(samples) = &split.samples else { continue };
            let preds: Vec<Result<Pred, Unscorable>> = split_answers
                .iter()
                .map(|a| {
                    a.as_ref()
                        .map(|a| Pred {
                            text: scored_text(
                                plan.score_reasoning,
                                &a.response.text,
                                a.response.reasoning.as_deref(),
                            ),
                            blocked: a.response.finish.is_block(),
                        })
                        .map_err(Clone::clone)
                })
                .collect();
            // The reasoning view: the same chains on the reasoning text alone.
            let reasoning_preds: Option<Vec<Result<Pred, Unscorable>>> = plan.reasoning_view.then(|| {
                split_answers
                    .iter()
                    .map(|a| match a.as_ref().ok().and_then(|a| a.response.reasoning.as_deref()) {
                        Some(r) if !r.trim().is_empty() => Ok(Pred { text: r.to_string(), blocked: false }),
                        _ => Err(Unscorable::new(UnscorableKind::Data, "no reasoning")),
                    })
                    .collect()
            });
            let chains = task.chains(&split.name);
            let (id, name) = (task.info().id, split.name.as_str());
            jobs.push(async move {
                let scores = score_split(id, name, &samples[..], preds, &chains, scorer).await?;
                let reasoning = match reasoning_preds {
                    Some(p) if p.iter().any(Result::is_ok) => {
                        Some(score_split(id, name, &samples[..], p, &chains, scorer).await?)
                    }
                    _ => None,
                };
                Ok::<_, PipelineError>((t, scores, reasoning, samples.clone(), split_answers))
            });
        }
    }
    let done = futures::future::try_join_all(jobs).await?;
    let mut out: Vec<TaskRecord> =
        plan.tasks.iter().map(|t| TaskRecord { id: t.info().id.to_string(), splits: Vec::new() }).collect();
    for (t, scores, reasoning, samples, answers) in done {
        out[t].splits.push(SplitRecord { samples, answers, scores, reasoning });
    }
    Ok(out)
}

/// One model's scoreboard: task scores with intervals, sub-aspects, overall. A task whose
/// splits did not all load shows the loader's error as its missing reason.
fn summarize(
    plan: &Plan,
    m: &ModelPlan,
    records: &[TaskRecord],
    tasks_in: &[LoadedTask],
    scorer: &Scorer,
) -> ModelSummary {
    let tasks: Vec<TaskSummary> = plan
        .tasks
        .iter()
        .zip(records)
        .zip(tasks_in)
        .map(|((task, record), lt)| {
            let mut needs: Vec<String> = task
                .needs()
                .into_iter()
                .filter(|n| !scorer.has(*n))
                .map(|n| scorer.need_name(n).to_string())
                .collect();
            needs.dedup();
            let splits: Vec<&SplitScores> = record.splits.iter().map(|s| &s.scores).collect();
            let mut summary =
                aggregate::task_summary(task.as_ref(), &splits, plan.seed, plan.replicates, needs);
            if !task.needs().is_empty() {
                summary.scorers = Some(scorer.profile);
                summary.scored_by =
                    task.needs().into_iter().map(|n| (n.name().to_string(), scorer.scored_by(n))).collect();
            }
            let load_error = lt.splits.iter().find_map(|s| s.samples.as_ref().err().map(|e| (&s.name, e)));
            if summary.score.is_none()
                && let Some((split, e)) = load_error
            {
                summary.missing = Some(format!("split {split} could not be loaded: {e}"));
            }
            summary
        })
        .collect();
    let (sub_aspects, overall) = aggregate::scoreboard(&tasks);
    let reasoning = reasoning_summary(plan, records);
    let asked: usize = tasks.iter().map(|t| t.samples).sum();
    let failed: usize = tasks.iter().map(|t| t.unscorable).sum();
    ModelSummary {
        name: m.info.name.clone(),
        label: m.info.label.clone(),
        baseline: m.info.baseline,
        tasks,
        aspects: aggregate::aspects(&sub_aspects),
        sub_aspects,
        overall,
        unscorable_rate: if asked == 0 { 0.0 } else { failed as f64 / asked as f64 },
        cost: None,
        reasoning,
    }
}

/// How a model reasoned, over its answers, with the reasoning view per task when it was run;
/// none for a model that never reasoned.
fn reasoning_summary(plan: &Plan, records: &[TaskRecord]) -> Option<ReasoningSummary> {
    let splits = || records.iter().flat_map(|t| &t.splits);
    let answered: Vec<&ChatResponse> =
        splits().flat_map(|s| &s.answers).filter_map(|a| a.as_ref().ok()).map(|a| &a.response).collect();
    let reasoned =
        answered.iter().filter(|r| r.reasoning.as_ref().is_some_and(|t| !t.trim().is_empty())).count();
    let truncated = splits()
        .flat_map(|s| &s.answers)
        .filter(|a| matches!(a, Err(u) if u.kind == UnscorableKind::ReasoningTruncated))
        .count();
    if reasoned == 0 && truncated == 0 {
        return None;
    }
    // Over the answers whose provider reported usage; none when no provider counts reasoning.
    let counted: Vec<u64> = answered.iter().filter_map(|r| r.usage.map(|u| u.reasoning)).collect();
    let tasks = records
        .iter()
        .zip(&plan.tasks)
        .filter_map(|(record, task)| {
            let pairs: Vec<_> = record
                .splits
                .iter()
                .filter_map(|s| Some((&s.scores, s.reasoning.as_ref()?, task.chains(&s.scores.split))))
                .collect();
            (!pairs.is_empty()).then(|| reasoning::view(&record.id, task.refusal(), &pairs))
        })
        .collect();
    Some(ReasoningSummary {
        answers: answered.len(),
        reasoned,
        share: if answered.is_empty() { 0.0 } else { reasoned as f64 / answered.len() as f64 },
        tokens_per_answer: counted
            .iter()
            .any(|n| *n > 0)
            .then(|| counted.iter().sum::<u64>() as f64 / counted.len() as f64),
        truncated,
        scored: plan.score_reasoning,
        tasks,
    })
}
