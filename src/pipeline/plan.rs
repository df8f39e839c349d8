//! The plan of a run: which tasks, which models, which scorers, which samples, where the
//! outputs go. One constructor, [`Plan::new`], builds it from the command line (`run`), from a
//! run's `run.json` (`score RUN_DIR`) or from an original log (`score --mmtrusteval-log`),
//! and checks everything that can be checked before anything is sent.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::PipelineError;
use super::record::{Manifest, ModelInfo, Shard};
use super::rundir;
use crate::backends::ChatService;
use crate::backends::scorers::ClassifierSet;
use crate::config::{Config, Profile, Provider, key_values, safe_label};
use crate::core::Concurrency;
use crate::core::{Identity, ImageLimits, ScorerProfile};
use crate::data::DataDir;
use crate::mitigations::{self, Guard, Mitigation};
use crate::protocol::aggregate::DEFAULT_REPLICATES;
use crate::protocol::reasoning::ReasoningScoring;
use crate::protocol::scoring::judge::JudgePolicy;
use crate::protocol::tasks::{self, Task};

/// The four reference baselines, the models of a run that names none.
pub const DEFAULT_MODELS: [&str; 4] =
    ["baseline:oracle", "baseline:refuse", "baseline:comply", "baseline:random"];

/// What `multitrust run` was asked.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Profile names or `PROVIDER:MODEL`; the four baselines when empty.
    pub models: Vec<String>,
    /// Only the plan is wanted (`--dry-run`): nothing is sent, so no API key is required.
    pub dry_run: bool,
    /// Base URL for `PROVIDER:MODEL` models.
    pub base_url: Option<String>,
    /// Replicas of PROVIDER:MODEL models (`--base-url` given more than once), the first
    /// being `base_url`.
    pub base_urls: Vec<String>,
    /// The judge: a profile name or `PROVIDER:MODEL`.
    pub judge: Option<String>,
    /// Base URL of a `PROVIDER:MODEL` judge.
    pub judge_base_url: Option<String>,
    /// The task selection (`all`, ids, aspects, sub-aspects).
    pub tasks: String,
    /// The data folder; the synthetic suite when none.
    pub data: Option<PathBuf>,
    /// The run directory; `runs/<date-time>` when none.
    pub out: Option<PathBuf>,
    /// The response store; `<out>/store.sqlite` when none.
    pub store: Option<PathBuf>,
    /// The seed; the configuration's when none.
    pub seed: Option<u64>,
    /// At most this many samples per split.
    pub limit: Option<usize>,
    /// Evaluate only this part of every split (`--shard K/N`).
    pub shard: Option<Shard>,
    /// Downscale images whose longer side exceeds this.
    pub max_image_side: Option<u32>,
    /// Requests in flight per model (a number or adaptive), overriding the profiles.
    pub concurrency: Option<Concurrency>,
    /// Bootstrap replicates.
    pub bootstrap: Option<usize>,
    /// The largest unscorable share accepted per model (0–1).
    pub max_unscorable: Option<f64>,
    /// How off-form judge answers are scored.
    pub judge_policy: JudgePolicy,
    /// Send image samples to endpoints that the preflight check found to ignore images.
    pub allow_blind: bool,
    /// Fail the run, before sending anything, when the data has any problem.
    pub strict: bool,
    /// The scorer profile (the configuration's, or `reference` for the synthetic default run
    /// with no judge or classifier configured, or `original`, when none).
    pub scorers: Option<ScorerProfile>,
    /// What the evaluators see of a reasoning model's answer.
    pub score_reasoning: ReasoningScoring,
    /// Also score the reasoning text with each task's evaluators.
    pub reasoning_view: bool,
    /// Mitigation stacks (`safety-prompt`, `jpeg:q=75+ecso`): every model runs plain and with
    /// each.
    pub mitigations: Vec<String>,
    /// The guard of `output-guard`: a profile name, `PROVIDER:MODEL`, or `moderation`.
    pub guard: Option<String>,
    /// Base URL of a `PROVIDER:MODEL` guard.
    pub guard_base_url: Option<String>,
    /// The model every other plain model is compared with (model variants).
    pub reference: Option<String>,
    /// The command line, for the manifest.
    pub command: Vec<String>,
}

/// What `multitrust score RUN_DIR` was asked.
#[derive(Debug, Clone, Default)]
pub struct ScoreOptions {
    /// The run directory to score again.
    pub run_dir: PathBuf,
    /// Where to write (the run directory itself when none).
    pub out: Option<PathBuf>,
    /// A judge to ask for judge answers the store lacks.
    pub judge: Option<String>,
    /// Base URL of a `PROVIDER:MODEL` judge.
    pub judge_base_url: Option<String>,
    /// The response store (the run's when none).
    pub store: Option<PathBuf>,
    /// Bootstrap replicates (the run's when none).
    pub bootstrap: Option<usize>,
    /// How off-form judge answers are scored (the run's when none).
    pub judge_policy: Option<JudgePolicy>,
    /// The scorer profile (the run's when none).
    pub scorers: Option<ScorerProfile>,
    /// What the evaluators see of a reasoning model's answer (the run's when none).
    pub score_reasoning: Option<ReasoningScoring>,
    /// Also score the reasoning text (or when the run did).
    pub reasoning_view: bool,
    /// The command line, for the manifest.
    pub command: Vec<String>,
}

/// What `multitrust score --mmtrusteval-log` was asked.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// The log.
    pub path: PathBuf,
    /// Its task id.
    pub task: String,
    /// Its split (the file name without `.json` when none).
    pub split: Option<String>,
    /// Where to write the split's result (stdout when none).
    pub out: Option<PathBuf>,
    /// A judge for the judge-scored steps.
    pub judge: Option<String>,
    /// Base URL of a `PROVIDER:MODEL` judge.
    pub judge_base_url: Option<String>,
    /// A response store to keep judge and classifier answers in.
    pub store: Option<PathBuf>,
    /// How off-form judge answers are scored.
    pub judge_policy: JudgePolicy,
    /// The scorer profile (the configuration's, or `original`, when none).
    pub scorers: Option<ScorerProfile>,
}

/// The three ways into the pipeline.
#[derive(Debug, Clone)]
pub enum Request {
    /// Evaluate models on the data.
    Run(Box<RunOptions>),
    /// Score a run directory again from its answers.
    Score(ScoreOptions),
    /// Score an original log.
    Log(LogOptions),
}

/// Where the samples (and, when scoring again, the answers) come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A data folder in the official layout; the models are asked.
    Data(DataDir),
    /// The synthetic suite, written into this folder first with this seed; the models are
    /// asked.
    Synthetic(PathBuf),
    /// The answers kept in a run directory (`samples.jsonl`); nothing is asked of the models.
    Run {
        /// The run directory.
        dir: PathBuf,
        /// Its manifest.
        manifest: Box<Manifest>,
    },
    /// A per-split log of the original toolbox; nothing is asked of the model.
    Log {
        /// The log.
        path: PathBuf,
        /// Its split.
        split: String,
    },
}

/// A model of the plan: how the run describes it and how to reach it.
#[derive(Debug, Clone)]
pub struct ModelPlan {
    /// Its description (unique id, folder label, endpoint, parameters).
    pub info: ModelInfo,
    /// Its profile: how to reach it (none for a log of the original toolbox, which is never
    /// asked anything).
    pub profile: Option<Profile>,
    /// The mitigations it runs under, innermost first (empty for the plain model).
    pub stack: Vec<Arc<dyn Mitigation>>,
    /// What the run warns about this model before it starts (a guard that is also a scorer).
    pub warnings: Vec<String>,
}

impl ModelPlan {
    /// A plain model from its profile.
    pub fn plain(profile: Profile) -> ModelPlan {
        ModelPlan {
            info: describe(&profile),
            profile: Some(profile),
            stack: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// Everything a run needs, checked.
#[derive(Debug)]
pub struct Plan {
    /// The tasks, in order.
    pub tasks: Vec<Box<dyn Task>>,
    /// The models, each with a unique id and folder.
    pub models: Vec<ModelPlan>,
    /// The judge's profile and service, if any.
    pub judge: Option<(Profile, Arc<ChatService>)>,
    /// The classifier services.
    pub classifiers: ClassifierSet,
    /// Prompt templates that replace the defaults, by name.
    pub templates: BTreeMap<String, String>,
    /// Where the samples come from.
    pub source: Source,
    /// The run directory (for a log: the file to write, or none for stdout).
    pub out: Option<PathBuf>,
    /// The response store.
    pub store: Option<PathBuf>,
    /// Whether requests the store lacks may be sent (false when scoring a run again without
    /// a judge or classifiers configured).
    pub online: bool,
    /// The seed of every random choice.
    pub seed: u64,
    /// At most this many samples per split.
    pub limit: Option<usize>,
    /// The part of every split this run evaluates, if it is one shard of several.
    pub shard: Option<Shard>,
    /// Downscale images whose longer side exceeds this.
    pub max_image_side: Option<u32>,
    /// How large an image may be (the configuration's `[images]`).
    pub image_limits: ImageLimits,
    /// Bootstrap replicates.
    pub replicates: usize,
    /// The largest unscorable share accepted per model (0–1).
    pub max_unscorable: f64,
    /// How off-form judge answers are scored.
    pub judge_policy: JudgePolicy,
    /// Which scorers answer the judge and classifier steps.
    pub scorers: ScorerProfile,
    /// What the evaluators see of a reasoning model's answer.
    pub score_reasoning: ReasoningScoring,
    /// Whether the reasoning text is scored too (the reasoning view).
    pub reasoning_view: bool,
    /// Send image samples to endpoints found to ignore images.
    pub allow_blind: bool,
    /// Fail the run, before sending anything, when the data has any problem.
    pub strict: bool,
    /// The command line.
    pub command: Vec<String>,
    /// The values of every configured key, scrubbed from whatever is stored or written.
    pub secrets: Vec<String>,
}

impl Plan {
    /// Builds and checks the plan of a request: models resolved with unique ids and folders,
    /// keys present for hosted APIs, tasks known, shares in range. Nothing is sent.
    pub fn new(request: Request, config: &Config) -> Result<Plan, PipelineError> {
        match request {
            Request::Run(o) => Plan::for_run(*o, config),
            Request::Score(o) => Plan::for_score(o, config),
            Request::Log(o) => Plan::for_log(o, config),
        }
    }

    fn for_run(o: RunOptions, config: &Config) -> Result<Plan, PipelineError> {
        let specs: Vec<String> = if o.models.is_empty() {
            DEFAULT_MODELS.iter().map(|s| s.to_string()).collect()
        } else {
            o.models.clone()
        };
        let mut profiles = Vec::new();
        for spec in &specs {
            let mut p = config.resolve_model(spec, o.base_url.as_deref())?;
            if !o.base_urls.is_empty() && p.base_url == o.base_url {
                p.base_urls = o.base_urls.clone();
            }
            if let Some(c) = o.concurrency {
                if c == Concurrency::Fixed(0) {
                    return Err(PipelineError::Usage("--concurrency must be at least 1".into()));
                }
                p.concurrency = Some(c);
            }
            if !o.dry_run {
                p.check_key()?;
            }
            profiles.push(p);
        }
        let mut known = profiles.clone();
        let models = unique_models(profiles)?;
        let judge = judge(config, o.judge.as_ref(), o.judge_base_url.as_deref(), !o.dry_run)?;
        known.extend(judge.as_ref().map(|(p, _)| p.clone()));
        let classifiers = ClassifierSet::from_config(&config.classifiers)?;
        if !o.dry_run {
            classifiers.check_keys()?;
        }
        let guard = guard(config, &o, &classifiers, &mut known)?;
        let max_unscorable = o.max_unscorable.unwrap_or(config.run.max_unscorable);
        check_share(max_unscorable)?;
        let out = o.out.clone().unwrap_or_else(default_out);
        let source = match &o.data {
            Some(dir) if !dir.is_dir() => {
                return Err(PipelineError::Usage(format!(
                    "{}: no such folder. Point --data at the MultiTrust data folder (the one holding \
                     truthfulness/, safety/, ...), or leave it out to use the synthetic suite",
                    dir.display()
                )));
            }
            Some(dir) => Source::Data(DataDir::new(dir).with_image_limits(config.images.limits())),
            None => Source::Synthetic(out.join("synthetic-data")),
        };
        if o.limit == Some(0) {
            return Err(PipelineError::Usage("--limit must be at least 1".into()));
        }
        let nothing_configured = judge.is_none() && classifiers.identities().is_empty();
        let scorers = o.scorers.or(config.scorers).unwrap_or(
            if matches!(source, Source::Synthetic(_)) && nothing_configured {
                ScorerProfile::Reference
            } else {
                ScorerProfile::Original
            },
        );
        let ctx = mitigations::Context {
            guard,
            generated: out.join("generated"),
            image_limits: config.images.limits(),
        };
        let scorer_ids: Vec<Identity> = judge
            .iter()
            .map(|(_, s)| crate::engine::Service::identity(s.as_ref()).clone())
            .chain(classifiers.identities())
            .collect();
        let models = with_mitigations(models, &o, &ctx, &scorer_ids)?;
        let mut tasks = tasks::select(&o.tasks)?;
        let all_named = o.tasks.split(',').any(|t| t.trim().eq_ignore_ascii_case("all"));
        if all_named && (!o.mitigations.is_empty() || o.reference.is_some()) {
            tasks.extend(
                tasks::utility::tasks()
                    .into_iter()
                    .filter(|u| !tasks.iter().any(|t| t.info().id == u.info().id))
                    .collect::<Vec<_>>(),
            );
        }
        Ok(Plan {
            tasks,
            models,
            judge,
            classifiers,
            templates: config.templates.clone(),
            source,
            store: Some(o.store.clone().unwrap_or_else(|| out.join("store.sqlite"))),
            out: Some(out),
            online: true,
            seed: o.seed.unwrap_or(config.run.seed),
            limit: o.limit,
            shard: o.shard,
            max_image_side: o.max_image_side,
            image_limits: config.images.limits(),
            replicates: replicates(o.bootstrap)?,
            max_unscorable,
            judge_policy: o.judge_policy,
            scorers,
            score_reasoning: o.score_reasoning,
            reasoning_view: o.reasoning_view,
            allow_blind: o.allow_blind,
            strict: o.strict,
            command: o.command,
            secrets: key_values(config, &known),
        })
    }

    fn for_score(o: ScoreOptions, config: &Config) -> Result<Plan, PipelineError> {
        let manifest: Manifest = rundir::read_json(&o.run_dir.join("run.json"))?;
        let tasks = tasks::select(&manifest.tasks.join(","))?;
        let profiles = manifest.models.iter().map(profile_of).collect::<Result<Vec<_>, _>>()?;
        let mut models = unique_models(profiles)?;
        // A mitigated model keeps its stack's name and its reference (its answers are read
        // back, so the stack itself is not needed).
        for (m, info) in models.iter_mut().zip(&manifest.models) {
            m.info.mitigation = info.mitigation.clone();
            m.info.reference = info.reference.clone();
        }
        let configured = judge(config, o.judge.as_ref(), o.judge_base_url.as_deref(), true)?;
        let classifiers = ClassifierSet::from_config(&config.classifiers)?;
        let online = configured.is_some() || !classifiers.identities().is_empty();
        if online {
            classifiers.check_keys()?;
        }
        let judge = match (configured, &manifest.judge) {
            (Some(j), _) => Some(j),
            (None, Some(info)) => {
                let profile = profile_of(info)?;
                let service = Arc::new(ChatService::from_profile(&profile)?);
                Some((profile, service))
            }
            (None, None) => None,
        };
        let classifiers = if classifiers.identities().is_empty() {
            ClassifierSet::from_identities(&manifest.classifiers)?
        } else {
            classifiers
        };
        let secrets = key_values(config, &judge.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>());
        let scorers = o.scorers.or(manifest.scorers).unwrap_or_default();
        let online = online || scorers == ScorerProfile::Reference;
        let store = o
            .store
            .clone()
            .or_else(|| manifest.store.as_ref().map(PathBuf::from))
            .unwrap_or_else(|| o.run_dir.join("store.sqlite"));
        Ok(Plan {
            tasks,
            models,
            judge,
            classifiers,
            templates: config.templates.clone(),
            out: Some(o.out.clone().unwrap_or_else(|| o.run_dir.clone())),
            store: Some(store),
            online,
            seed: manifest.seed,
            limit: manifest.limit,
            shard: manifest.shard,
            max_image_side: manifest.max_image_side,
            image_limits: config.images.limits(),
            replicates: replicates(o.bootstrap.or(Some(manifest.bootstrap_replicates)))?,
            max_unscorable: config.run.max_unscorable,
            judge_policy: o.judge_policy.unwrap_or(manifest.judge_policy),
            scorers,
            score_reasoning: o.score_reasoning.unwrap_or(manifest.score_reasoning),
            reasoning_view: o.reasoning_view || manifest.reasoning_view,
            allow_blind: false,
            strict: false,
            command: o.command,
            secrets,
            source: Source::Run { dir: o.run_dir, manifest: Box::new(manifest) },
        })
    }

    fn for_log(o: LogOptions, config: &Config) -> Result<Plan, PipelineError> {
        let mut selected = tasks::select(&o.task)?;
        if selected.len() != 1 {
            return Err(PipelineError::Usage("--task takes one task id, e.g. T4".into()));
        }
        let task = selected.remove(0);
        let split = match &o.split {
            Some(s) => s.clone(),
            None => {
                // The original names P4 logs `celebrities-<type>.json`.
                let stem = o.path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
                let stem = if task.info().id == "P4" {
                    stem.strip_prefix("celebrities-").unwrap_or(stem)
                } else {
                    stem
                };
                stem.to_string()
            }
        };
        if !task.info().splits.contains(&split.as_str()) {
            return Err(PipelineError::Usage(format!(
                "{} has no split `{split}` (taken from the file name; pass --split): its splits are {}",
                task.info().id,
                task.info().splits.join(", ")
            )));
        }
        let judge = judge(config, o.judge.as_ref(), o.judge_base_url.as_deref(), true)?;
        let secrets = key_values(config, &judge.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>());
        let classifiers = ClassifierSet::from_config(&config.classifiers)?;
        classifiers.check_keys()?;
        // The log's model: the folder the original wrote it into (`logs/<aspect>/<task>/<model>/`).
        let model = o
            .path
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "log".to_string());
        let info = ModelInfo {
            label: safe_label(&model),
            name: model,
            provider: "mmtrusteval-log".into(),
            model: o.path.display().to_string(),
            endpoint: None,
            baseline: false,
            params: BTreeMap::new(),
            reasoning: None,
            think_tags: None,
            mitigation: None,
            reference: None,
        };
        let scorers = o.scorers.or(config.scorers).unwrap_or_default();
        Ok(Plan {
            tasks: vec![task],
            models: vec![ModelPlan { info, profile: None, stack: Vec::new(), warnings: Vec::new() }],
            online: judge.is_some()
                || !classifiers.identities().is_empty()
                || scorers == ScorerProfile::Reference,
            judge,
            classifiers,
            templates: config.templates.clone(),
            out: o.out.clone(),
            store: o.store.clone(),
            seed: 0,
            limit: None,
            shard: None,
            max_image_side: None,
            image_limits: config.images.limits(),
            replicates: 0,
            max_unscorable: 1.0,
            judge_policy: o.judge_policy,
            scorers,
            score_reasoning: ReasoningScoring::Answer,
            reasoning_view: false,
            allow_blind: false,
            strict: false,
            command: Vec::new(),
            secrets,
            source: Source::Log { path: o.path, split },
        })
    }

    /// The run directory (for a log, the folder of the output file).
    pub fn dir(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| PathBuf::from("."))
    }
}

/// Gives every profile its run description, refusing a model named twice and making sure no
/// two models share a result folder.
fn unique_models(profiles: Vec<Profile>) -> Result<Vec<ModelPlan>, PipelineError> {
    let mut seen = BTreeSet::new();
    let mut labels = BTreeMap::new();
    let mut out = Vec::new();
    for profile in profiles {
        if !seen.insert(profile.name.clone()) {
            return Err(PipelineError::Usage(format!(
                "`{}` is given twice: each model is evaluated once per run (to compare settings of one \
                 model, give each its own profile in the configuration)",
                profile.name
            )));
        }
        let label = profile.label();
        if let Some(other) = labels.insert(label.clone(), profile.name.clone()) {
            return Err(PipelineError::Usage(format!(
                "`{other}` and `{}` would share the result folder `{label}`; rename one profile",
                profile.name
            )));
        }
        out.push(ModelPlan::plain(profile));
    }
    Ok(out)
}

/// A profile's description for the manifest (never its key).
pub fn describe(profile: &Profile) -> ModelInfo {
    ModelInfo {
        name: profile.name.clone(),
        label: profile.label(),
        provider: profile.provider.name().to_string(),
        model: profile.model.clone(),
        endpoint: (!profile.is_baseline()).then(|| profile.base_url()),
        baseline: profile.is_baseline(),
        params: profile.params.clone(),
        reasoning: profile.reasoning.clone(),
        think_tags: profile.think_tags.clone(),
        mitigation: None,
        reference: None,
    }
}

/// The profile a manifest's description stands for (endpoint and parameters; no key, which
/// reading the store does not need).
pub fn profile_of(info: &ModelInfo) -> Result<Profile, PipelineError> {
    let mut profile =
        Profile::shorthand(&format!("{}:{}", info.provider, info.model), info.endpoint.as_deref())?;
    profile.name = info.name.clone();
    profile.params = info.params.clone();
    profile.reasoning = info.reasoning.clone();
    profile.think_tags = info.think_tags.clone();
    if profile.provider == Provider::Baseline {
        profile.base_url = None;
    }
    Ok(profile)
}

/// The judge named on the command line or in the configuration, with its service.
fn judge(
    config: &Config,
    spec: Option<&String>,
    base_url: Option<&str>,
    check_key: bool,
) -> Result<Option<(Profile, Arc<ChatService>)>, PipelineError> {
    let Some(spec) = spec.or(config.judge.as_ref()) else { return Ok(None) };
    let profile = config.resolve_model(spec, base_url)?;
    if check_key {
        profile.check_key()?;
    }
    let service = Arc::new(ChatService::from_profile(&profile)?);
    Ok(Some((profile, service)))
}

/// The guard of `output-guard` from `--guard`: `moderation` (the configured moderation
/// endpoint) or a chat model.
fn guard(
    config: &Config,
    o: &RunOptions,
    classifiers: &ClassifierSet,
    known: &mut Vec<Profile>,
) -> Result<Option<Guard>, PipelineError> {
    let Some(spec) = &o.guard else { return Ok(None) };
    if spec == "moderation" {
        let Some(m) = &classifiers.moderation else {
            return Err(PipelineError::Usage(
                "--guard moderation needs [classifiers.moderation] in the configuration".into(),
            ));
        };
        return Ok(Some(Guard::Moderation(m.clone())));
    }
    let profile = config.resolve_model(spec, o.guard_base_url.as_deref())?;
    if !o.dry_run {
        profile.check_key()?;
    }
    if profile.is_baseline() {
        return Err(PipelineError::Usage(format!("--guard {spec}: a baseline cannot be a guard")));
    }
    let service = Arc::new(ChatService::from_profile(&profile)?);
    known.push(profile);
    Ok(Some(Guard::Chat(service)))
}

/// The plain models, then each one under every mitigation stack, named `MODEL+STACK` and
/// compared with its plain model; with `--reference`, every other plain model is compared
/// with that one. Every stack is checked before anything is sent.
fn with_mitigations(
    plain: Vec<ModelPlan>,
    o: &RunOptions,
    ctx: &mitigations::Context,
    scorers: &[Identity],
) -> Result<Vec<ModelPlan>, PipelineError> {
    let mut stacks = Vec::new();
    for spec in &o.mitigations {
        let stack = mitigations::stack(spec, ctx).map_err(|e| PipelineError::Usage(e.to_string()))?;
        let name = mitigations::name(&stack);
        if stacks.iter().any(|(n, _)| *n == name) {
            return Err(PipelineError::Usage(format!("--mitigation {name} is given twice")));
        }
        stacks.push((name, stack));
    }
    if let Some(r) = &o.reference
        && !plain.iter().any(|m| m.info.name == *r)
    {
        let names: Vec<&str> = plain.iter().map(|m| m.info.name.as_str()).collect();
        return Err(PipelineError::Usage(format!(
            "--reference {r} is not one of the run's models ({}); name it with --model too",
            names.join(", ")
        )));
    }
    let inflated = |stack: &[Arc<dyn Mitigation>]| -> Vec<String> {
        let guard = ctx.guard.as_ref().filter(|_| stack.iter().any(|m| m.info().name == "output-guard"));
        match guard {
            Some(g) if scorers.iter().any(|s| s == g.identity()) => vec![format!(
                "the guard {} is also a scorer of this run: its scores are inflated; use a different \
                 guard or judge",
                g.identity().label()
            )],
            _ => Vec::new(),
        }
    };
    let mut out = Vec::new();
    for mut m in plain.iter().cloned() {
        if o.reference.as_ref().is_some_and(|r| *r != m.info.name) {
            m.info.reference = o.reference.clone();
        }
        out.push(m);
    }
    for (name, stack) in &stacks {
        for m in &plain {
            let provider = m.profile.as_ref().map(|p| p.provider).unwrap_or(Provider::Baseline);
            if let Some(need) = stack.iter().find(|s| !s.info().access.offered_by(provider)) {
                return Err(PipelineError::Usage(format!(
                    "{} cannot run {name}: {} needs {} access, which {} does not offer",
                    m.info.name,
                    need.info().name,
                    need.info().access.name(),
                    provider.name()
                )));
            }
            let full = format!("{}+{name}", m.info.name);
            let mut info = m.info.clone();
            info.label = safe_label(&full);
            info.name = full;
            info.mitigation = Some(name.clone());
            info.reference = Some(m.info.name.clone());
            let warnings = inflated(stack);
            for w in &warnings {
                tracing::warn!("{}: {w}", info.name);
            }
            out.push(ModelPlan { info, profile: m.profile.clone(), stack: stack.clone(), warnings });
        }
    }
    Ok(out)
}

/// Checks that a share is within [0, 1].
pub fn check_share(share: f64) -> Result<(), PipelineError> {
    if (0.0..=1.0).contains(&share) {
        Ok(())
    } else {
        Err(PipelineError::Usage(format!(
            "--max-unscorable {share} is not a share between 0 and 1 (0.2 means 20%)"
        )))
    }
}

fn replicates(n: Option<usize>) -> Result<usize, PipelineError> {
    match n {
        None => Ok(DEFAULT_REPLICATES),
        Some(n) if n > 1_000_000 => {
            Err(PipelineError::Usage(format!("--bootstrap {n} is more than 1,000,000 replicates")))
        }
        Some(n) => Ok(n),
    }
}

/// `runs/<date-time>`, numbered when it exists.
pub fn default_out() -> PathBuf {
    let base = PathBuf::from("runs").join(timestamp(unix_now()));
    let mut out = base.clone();
    let mut n = 1;
    while out.exists() {
        n += 1;
        out = PathBuf::from(format!("{}-{n}", base.display()));
    }
    out
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `YYYYMMDD-HHMMSS` (UTC) of a Unix time.
pub fn timestamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_civil_utc() {
        assert_eq!(timestamp(0), "19700101-000000");
        assert_eq!(timestamp(1_795_392_000), "20261123-000000");
        assert_eq!(timestamp(951_782_400 + 3661), "20000229-010101");
    }

    #[test]
    fn models_are_unique_and_their_folders_too() {
        let p = |s: &str| Profile::shorthand(s, None).unwrap();
        let err = unique_models(vec![p("baseline:oracle"), p("baseline:oracle")]).unwrap_err();
        assert!(err.to_string().contains("`baseline:oracle` is given twice"), "{err}");
        let mut a = p("openai:x");
        a.name = "team/model".into();
        let mut b = p("openai:x");
        b.name = "team_model".into();
        let models = unique_models(vec![a, b]).unwrap();
        assert_ne!(models[0].info.label, models[1].info.label);
    }

    #[test]
    fn shares_are_checked() {
        assert!(check_share(0.2).is_ok());
        for bad in [20.0, -0.1, f64::NAN] {
            assert!(check_share(bad).is_err(), "{bad}");
        }
    }
}
