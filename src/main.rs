//! The `multitrust` command line.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use serde_json::json;

use multitrust::config::{Config, Profile};
use multitrust::data::{DataDir, synth};
use multitrust::engine::{Engine, Store};
use multitrust::models::{ChatRequest, ChatService};
use multitrust::report;
use multitrust::rescore;
use multitrust::run::{self, Plan, RunError};
use multitrust::sample::Message;
use multitrust::scoring::{ClassifierSet, Scorer, score_split};
use multitrust::tasks::{self, LoadContext};

/// Measure how trustworthy a multimodal LLM is: the MultiTrust benchmark, faithful, fast and
/// resumable.
#[derive(Debug, Parser)]
#[command(name = "multitrust", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Only warnings and errors, no progress bars.
    #[arg(long, short, global = true)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluate models on tasks and write a run directory.
    Run(Box<RunArgs>),
    /// List the tasks: aspect, sub-aspect, splits, and what they need.
    Tasks(TasksArgs),
    /// Print the samples of a task as JSONL: exactly what would be sent.
    Samples(SamplesArgs),
    /// Score again without asking the models: a run directory, or a log of the original
    /// MMTrustEval toolbox.
    Score(Box<ScoreArgs>),
    /// Check each configured model endpoint with a tiny request.
    Models(ModelsArgs),
    /// Write report.html, report.md and summary.json for one or more run directories
    /// (side by side, with paired differences on shared samples).
    Report(ReportArgs),
    /// Work with data sets.
    #[command(subcommand)]
    Data(DataCommand),
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Write the synthetic suite: a small, license-clean data set in the official layout for
    /// every task (not the benchmark's data).
    Synth(SynthArgs),
}

#[derive(Debug, Args)]
struct SynthArgs {
    /// The folder to write (the data folder, as --data takes it).
    #[arg(long)]
    out: PathBuf,
    /// The seed of the synthetic texts and pictures.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Only these tasks (ids, aspects, or all).
    #[arg(long, short, default_value = "all")]
    tasks: String,
}

#[derive(Debug, Args)]
struct CommonArgs {
    /// Configuration file (model profiles, judge, classifiers). Default: ./multitrust.toml if
    /// it exists.
    #[arg(long, env = "MULTITRUST_CONFIG")]
    config: Option<PathBuf>,
}

impl CommonArgs {
    fn load(&self) -> Result<Config> {
        let path = match &self.config {
            Some(p) => Some(p.clone()),
            None => Some(PathBuf::from("multitrust.toml")).filter(|p| p.exists()),
        };
        match path {
            Some(p) => Config::load(&p).map_err(|e| anyhow!(e)),
            None => Ok(Config::default()),
        }
    }
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// A model to evaluate: a profile name or PROVIDER:MODEL (openai:, anthropic:, gemini:,
    /// vllm:, ollama:, llamacpp:, sglang:, lmstudio:, baseline:). Repeat for several. Default:
    /// the four reference baselines.
    #[arg(long = "model", short = 'm')]
    models: Vec<String>,
    /// Base URL for PROVIDER:MODEL models (an OpenAI-compatible server's URL ends in /v1).
    #[arg(long)]
    base_url: Option<String>,
    /// The judge: a profile name or PROVIDER:MODEL.
    #[arg(long)]
    judge: Option<String>,
    /// Base URL of a PROVIDER:MODEL judge.
    #[arg(long)]
    judge_base_url: Option<String>,
    /// Tasks: ids (R3,T1), aspects (robustness), sub-aspects (ood), or all.
    #[arg(long, short, default_value = "all")]
    tasks: String,
    /// The MultiTrust data folder (the one holding truthfulness/, safety/, ...). Default: a
    /// synthetic suite written into the run directory (for trying the pipeline; not the
    /// benchmark's data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// The run directory. Default: runs/<date-time>.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The response store, shareable between runs. Default: <out>/store.sqlite.
    #[arg(long)]
    store: Option<PathBuf>,
    /// Seed of every random choice (image pairing, random baseline, bootstrap).
    #[arg(long)]
    seed: Option<u64>,
    /// At most this many samples per split (for a quick look).
    #[arg(long)]
    limit: Option<usize>,
    /// Downscale images whose longer side exceeds this (400 reproduces the original's API
    /// models).
    #[arg(long)]
    max_image_side: Option<u32>,
    /// Requests in flight per model, overriding the profiles.
    #[arg(long)]
    concurrency: Option<usize>,
    /// Bootstrap replicates for the confidence intervals.
    #[arg(long, default_value_t = multitrust::aggregate::DEFAULT_REPLICATES)]
    bootstrap: usize,
    /// Fail the run when a model's share of unscorable samples exceeds this.
    #[arg(long)]
    max_unscorable: Option<f64>,
}

#[derive(Debug, Args)]
struct ScoreArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The run directory to score again (its results, samples.jsonl and summary.json are
    /// rewritten, or written to --out).
    #[arg(required_unless_present = "mmtrusteval_log")]
    run_dir: Option<PathBuf>,
    /// A per-split log written by the original toolbox (`logs/<aspect>/<task>/<model>/<split>.json`).
    #[arg(long, conflicts_with = "run_dir", requires = "task")]
    mmtrusteval_log: Option<PathBuf>,
    /// The task of the log.
    #[arg(long)]
    task: Option<String>,
    /// The split of the log (default: the file name without .json).
    #[arg(long)]
    split: Option<String>,
    /// Where to write: a folder for a run directory, a file for a log (default: in place / stdout).
    #[arg(long)]
    out: Option<PathBuf>,
    /// A judge to ask for judge answers the store lacks (otherwise those samples are unscorable).
    #[arg(long)]
    judge: Option<String>,
    /// Base URL of a PROVIDER:MODEL judge.
    #[arg(long)]
    judge_base_url: Option<String>,
    /// The response store (default: the run's; none for a log).
    #[arg(long)]
    store: Option<PathBuf>,
    /// Bootstrap replicates (default: the run's).
    #[arg(long)]
    bootstrap: Option<usize>,
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// Run directories to combine (the first model of the first run is the reference of the
    /// paired differences).
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Where to write. Default: the run directory itself for one run, runs/report-<date-time>
    /// for several.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct TasksArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct SamplesArgs {
    /// The task id.
    #[arg(long)]
    task: String,
    /// The MultiTrust data folder.
    #[arg(long)]
    data: PathBuf,
    /// Only this split.
    #[arg(long)]
    split: Option<String>,
    /// Seed of the image pairing.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Debug, Args)]
struct ModelsArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Also check these models (profile names or PROVIDER:MODEL).
    #[arg(long = "model", short = 'm')]
    models: Vec<String>,
    /// Base URL for PROVIDER:MODEL models.
    #[arg(long)]
    base_url: Option<String>,
}

fn main() {
    let cli = Cli::parse();
    let level = if cli.quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
    // One thread drives the network: the work is waiting on servers, and on a small machine
    // waking threads costs more than the requests themselves (see the engine benchmark).
    // Blocking work (store lookups) runs on tokio's blocking pool; the store writes on its own.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(async {
        match dispatch(cli).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                1
            }
        }
    });
    std::process::exit(code);
}

async fn dispatch(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Run(args) => run_command(*args, cli.quiet).await,
        Command::Tasks(args) => tasks_command(args),
        Command::Samples(args) => samples_command(args),
        Command::Score(args) => score_command(*args, cli.quiet).await,
        Command::Models(args) => models_command(args).await,
        Command::Report(args) => report_command(args),
        Command::Data(DataCommand::Synth(args)) => synth_command(args),
    }
}

fn resolve_models(
    config: &Config,
    specs: &[String],
    base_url: Option<&str>,
    concurrency: Option<usize>,
) -> Result<Vec<Profile>> {
    let specs: Vec<String> = if specs.is_empty() {
        ["baseline:oracle", "baseline:refuse", "baseline:comply", "baseline:random"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        specs.to_vec()
    };
    specs
        .iter()
        .map(|s| {
            let mut p = config.resolve_model(s, base_url).map_err(|e| anyhow!(e))?;
            if concurrency.is_some() {
                p.concurrency = concurrency;
            }
            Ok(p)
        })
        .collect()
}

async fn run_command(args: RunArgs, quiet: bool) -> Result<i32> {
    let config = args.common.load()?;
    let models = resolve_models(&config, &args.models, args.base_url.as_deref(), args.concurrency)?;
    let judge = match args.judge.as_ref().or(config.judge.as_ref()) {
        Some(spec) => {
            Some(config.resolve_model(spec, args.judge_base_url.as_deref()).map_err(|e| anyhow!(e))?)
        }
        None => None,
    };
    let classifiers = ClassifierSet::from_config(&config.classifiers).map_err(|e| anyhow!(e))?;
    for profile in models.iter().chain(judge.as_ref()) {
        profile.check_key().map_err(|e| anyhow!(e))?;
    }
    classifiers.check_keys().map_err(|e| anyhow!(e))?;
    let tasks = tasks::select(&args.tasks).map_err(|e| anyhow!(e))?;
    let out = args.out.clone().unwrap_or_else(default_out);
    let seed = args.seed.unwrap_or(config.run.seed);
    let data = match &args.data {
        Some(data) if !data.is_dir() => bail!(
            "{}: no such folder. Point --data at the MultiTrust data folder (the one holding \
             truthfulness/, safety/, ...), or leave it out to use the synthetic suite",
            data.display()
        ),
        Some(data) => data.clone(),
        None => {
            let dir = out.join("synthetic-data");
            tracing::info!(
                "no --data: writing the synthetic suite to {} (for trying the pipeline; scores on \
                 it mean nothing about a model)",
                dir.display()
            );
            synth::write_suite(&dir, seed, &tasks::all())?;
            dir
        }
    };
    if synth::is_synthetic(&data) && args.data.is_some() {
        tracing::warn!("{} is a synthetic suite, not the benchmark's data", data.display());
    }
    let store_path = args.store.clone().unwrap_or_else(|| out.join("store.sqlite"));
    let store = Arc::new(Store::open(&store_path)?);
    let mut engine = Engine::new(Some(store.clone()));
    if quiet {
        engine = engine.quiet();
    }
    let cancel = engine.cancel_token();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nstopping: finishing what is stored (Ctrl-C again to quit at once)");
            cancel.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let plan = Plan {
        tasks,
        models,
        judge,
        classifiers,
        templates: config.templates.clone(),
        data: DataDir::new(&data),
        out: out.clone(),
        seed,
        limit: args.limit,
        max_image_side: args.max_image_side,
        replicates: args.bootstrap,
        max_unscorable: args.max_unscorable.unwrap_or(config.run.max_unscorable),
        command: std::env::args().collect(),
        store: Some(store_path.clone()),
    };
    let started = Instant::now();
    let result = run::execute(&plan, &engine).await;
    engine.flush()?;
    let (cached, answered, failed, retries) = engine.stats.snapshot();
    match result {
        Ok(outcome) => {
            print_scoreboard(&outcome.models);
            eprintln!(
                "{} requests: {answered} answered, {cached} from the store, {failed} failed, \
                 {retries} retries; {:.1}s. Run directory: {}",
                answered + cached + failed,
                started.elapsed().as_secs_f64(),
                out.display()
            );
            if !outcome.over_limit.is_empty() {
                for (model, rate) in &outcome.over_limit {
                    eprintln!(
                        "error: {model}: {:.1}% of samples are unscorable (limit {:.1}%); see \
                         `reason` in samples.jsonl, fix the cause and run again (answers are kept)",
                        rate * 100.0,
                        plan.max_unscorable * 100.0
                    );
                }
                return Ok(3);
            }
            Ok(0)
        }
        Err(RunError::Interrupted(i)) => {
            eprintln!(
                "interrupted: {} requests answered and stored ({i}). Run the same command again \
                 to continue; nothing stored is sent again.",
                answered + cached
            );
            Ok(130)
        }
        Err(e) => Err(e.into()),
    }
}

fn print_scoreboard(models: &[multitrust::aggregate::ModelSummary]) {
    let mut out = std::io::stdout().lock();
    for m in models {
        let tag = if m.baseline { " (reference baseline)" } else { "" };
        let _ = writeln!(out, "\n{}{tag}", m.name);
        for t in &m.tasks {
            let score = match (t.score, &t.missing) {
                (Some(s), _) => match t.ci {
                    Some([lo, hi]) => format!("{s:6.2}  [{lo:.2}, {hi:.2}]"),
                    None => format!("{s:6.2}"),
                },
                (None, Some(why)) => format!("   -    {}", multitrust::report::markdown::short(why)),
                (None, None) => "   -".to_string(),
            };
            let unscorable = if t.unscorable > 0 {
                format!("  ({} of {} unscorable)", t.unscorable, t.samples)
            } else {
                String::new()
            };
            let _ = writeln!(out, "  {:<4} {:<44} {score}{unscorable}", t.id, t.name);
        }
        let overall = match m.overall.score {
            Some(s) if m.overall.partial => format!("{s:.2} (partial: not comparable)"),
            Some(s) => format!("{s:.2}"),
            None => "missing".to_string(),
        };
        let _ = writeln!(out, "  overall: {overall}");
    }
}

fn default_out() -> PathBuf {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let base = PathBuf::from("runs").join(timestamp(secs));
    let mut out = base.clone();
    let mut n = 1;
    while out.exists() {
        n += 1;
        out = PathBuf::from(format!("{}-{n}", base.display()));
    }
    out
}

/// `YYYYMMDD-HHMMSS` (UTC) of a Unix time.
fn timestamp(secs: u64) -> String {
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

fn tasks_command(args: TasksArgs) -> Result<i32> {
    let all = tasks::all();
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<_> = all
            .iter()
            .map(|t| {
                let i = t.info();
                json!({"id": i.id, "name": i.name, "aspect": i.sub_aspect.aspect().name(),
                       "sub_aspect": i.sub_aspect.name(), "splits": i.splits,
                       "needs": t.needs(), "data": t.data_files()})
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(0);
    }
    writeln!(out, "{:<4} {:<44} {:<34} {:>6}  needs", "id", "name", "aspect / sub-aspect", "splits")?;
    for t in &all {
        let i = t.info();
        let needs: Vec<&str> = t.needs().into_iter().collect();
        let needs = if needs.is_empty() { "rules only".to_string() } else { needs.join(", ") };
        writeln!(
            out,
            "{:<4} {:<44} {:<34} {:>6}  {needs}",
            i.id,
            i.name,
            format!("{} / {}", i.sub_aspect.aspect().name(), i.sub_aspect.name()),
            i.splits.len()
        )?;
        writeln!(out, "     splits: {}", i.splits.join(", "))?;
    }
    Ok(0)
}

fn samples_command(args: SamplesArgs) -> Result<i32> {
    let mut selected = tasks::select(&args.task).map_err(|e| anyhow!(e))?;
    if selected.len() != 1 {
        bail!("--task takes one task id, e.g. R3");
    }
    let task = selected.remove(0);
    let splits: Vec<&str> = match &args.split {
        Some(s) => {
            if !task.info().splits.contains(&s.as_str()) {
                bail!(
                    "{} has no split {s}; its splits are {}",
                    task.info().id,
                    task.info().splits.join(", ")
                );
            }
            vec![s.as_str()]
        }
        None => task.info().splits.to_vec(),
    };
    let generated = std::env::temp_dir().join("multitrust-generated");
    let ctx = LoadContext::new(DataDir::new(&args.data), args.seed, generated);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for split in splits {
        let samples = task.load(split, &ctx).with_context(|| format!("{} {split}", task.info().id))?;
        for s in samples {
            let line = json!({
                "id": s.id,
                "split": s.split,
                "text": s.text(),
                "images": s.messages.iter().flat_map(Message::images).map(|i| &i.display).collect::<Vec<_>>(),
                "target": s.target,
                "extra": s.extra_json(),
                "max_tokens": task.max_tokens(split),
                "problem": s.problem,
            });
            writeln!(out, "{line}")?;
        }
    }
    for (reason, n) in ctx.log.skipped() {
        eprintln!("skipped {n} record(s): {reason}");
    }
    Ok(0)
}

async fn score_command(args: ScoreArgs, quiet: bool) -> Result<i32> {
    let config = args.common.load()?;
    let judge_spec = args.judge.as_ref().or(config.judge.as_ref());
    let judge = match judge_spec {
        Some(spec) => {
            Some(config.resolve_model(spec, args.judge_base_url.as_deref()).map_err(|e| anyhow!(e))?)
        }
        None => None,
    };
    let configured_classifiers = ClassifierSet::from_config(&config.classifiers).map_err(|e| anyhow!(e))?;
    let online = judge.is_some() || !configured_classifiers.identities().is_empty();
    if online {
        for p in judge.iter() {
            p.check_key().map_err(|e| anyhow!(e))?;
        }
        configured_classifiers.check_keys().map_err(|e| anyhow!(e))?;
    }

    if let Some(log) = &args.mmtrusteval_log {
        let mut selected = tasks::select(args.task.as_deref().unwrap_or_default()).map_err(|e| anyhow!(e))?;
        if selected.len() != 1 {
            bail!("--task takes one task id, e.g. T4");
        }
        let task = selected.remove(0);
        let split = match &args.split {
            Some(s) => s.clone(),
            None => {
                // The original names P4 logs `celebrities-<type>.json`.
                let stem = log.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
                let stem = if task.info().id == "P4" {
                    stem.strip_prefix("celebrities-").unwrap_or(stem)
                } else {
                    stem
                };
                stem.to_string()
            }
        };
        if !task.info().splits.contains(&split.as_str()) {
            bail!(
                "{} has no split `{split}` (taken from the file name; pass --split): its splits are {}",
                task.info().id,
                task.info().splits.join(", ")
            );
        }
        let store = match &args.store {
            Some(p) => Some(Arc::new(Store::open(p)?)),
            None => None,
        };
        if online && store.is_none() {
            tracing::warn!("judge and classifier answers are not kept: pass --store PATH to keep them");
        }
        let engine = if quiet { Engine::new(store).quiet() } else { Engine::new(store) };
        let (samples, answers) =
            rescore::read_mmtrusteval_log(log, task.info().id, &split).map_err(|e| anyhow!(e))?;
        let judge_service = match &judge {
            Some(p) => Some(Arc::new(ChatService::from_profile(p).map_err(|e| anyhow!(e))?)),
            None => None,
        };
        let scorer = Scorer {
            engine: &engine,
            judge: judge_service,
            classifiers: configured_classifiers,
            templates: config.templates.clone(),
        };
        let scores = score_split(&samples, &answers, &task.chains(&split), &scorer).await?;
        engine.flush()?;
        let json = scores.result_json();
        match &args.out {
            Some(path) => report::write_json(path, &json)?,
            None => println!("{}", serde_json::to_string_pretty(&json)?),
        }
        return Ok(0);
    }

    let run_dir = args.run_dir.clone().ok_or_else(|| anyhow!("give a run directory or --mmtrusteval-log"))?;
    let manifest_text = std::fs::read_to_string(run_dir.join("run.json"))
        .with_context(|| format!("{}: not a run directory (no run.json)", run_dir.display()))?;
    let manifest: serde_json::Value = serde_json::from_str(&manifest_text)?;
    let ids: Vec<String> = manifest["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    let tasks = tasks::select(&ids.join(",")).map_err(|e| anyhow!(e))?;
    let data = rescore::read_run(&run_dir, &tasks).map_err(|e| anyhow!(e))?;
    let store_path = args
        .store
        .clone()
        .or_else(|| manifest["store"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| run_dir.join("store.sqlite"));
    let store = Arc::new(Store::open(&store_path)?);
    let mut engine = if online { Engine::new(Some(store)) } else { Engine::store_only(store) };
    if quiet {
        engine = engine.quiet();
    }
    let judge = match judge {
        Some(j) => Some(j),
        None if manifest["judge"].is_object() => {
            Some(rescore::profile_from_manifest(&manifest["judge"]).map_err(|e| anyhow!(e))?)
        }
        None => None,
    };
    let classifiers = if configured_classifiers.identities().is_empty() {
        ClassifierSet::from_identities(
            manifest["classifiers"].as_array().map(Vec::as_slice).unwrap_or_default(),
        )
        .map_err(|e| anyhow!(e))?
    } else {
        configured_classifiers
    };
    let plan = Plan {
        tasks,
        models: data.models.iter().map(|m| m.profile.clone()).collect(),
        judge,
        classifiers,
        templates: config.templates.clone(),
        data: DataDir::new(manifest["data"]["path"].as_str().unwrap_or(".")),
        out: args.out.clone().unwrap_or_else(|| run_dir.clone()),
        seed: manifest["seed"].as_u64().unwrap_or(0),
        limit: None,
        max_image_side: None,
        replicates: args
            .bootstrap
            .or_else(|| manifest["bootstrap_replicates"].as_u64().map(|n| n as usize))
            .unwrap_or(multitrust::aggregate::DEFAULT_REPLICATES),
        max_unscorable: config.run.max_unscorable,
        command: std::env::args().collect(),
        store: Some(store_path),
    };
    if plan.out != run_dir {
        std::fs::create_dir_all(&plan.out)?;
        std::fs::copy(run_dir.join("run.json"), plan.out.join("run.json"))
            .with_context(|| format!("cannot copy run.json into {}", plan.out.display()))?;
    }
    let outcome = run::rescore(&plan, &data.models, &engine).await?;
    engine.flush()?;
    print_scoreboard(&outcome.models);
    let (cached, answered, failed, _) = engine.stats.snapshot();
    eprintln!(
        "scored again: {cached} judge/classifier answers from the store, {answered} requested, {failed} failed. \
         Written to {}",
        plan.out.display()
    );
    Ok(0)
}

fn report_command(args: ReportArgs) -> Result<i32> {
    let mut ids: Vec<String> = Vec::new();
    for dir in &args.runs {
        let path = dir.join("summary.json");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!("{}: cannot read (is this a finished run directory?)", path.display())
        })?;
        let summary: serde_json::Value =
            serde_json::from_str(&text).with_context(|| path.display().to_string())?;
        for task in summary["models"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|m| m["tasks"].as_array().into_iter().flatten())
        {
            if let Some(id) = task["id"].as_str()
                && !ids.iter().any(|i| i == id)
            {
                ids.push(id.to_string());
            }
        }
    }
    let tasks = tasks::select(&ids.join(",")).map_err(|e| anyhow!(e))?;
    let out = match (&args.out, args.runs.as_slice()) {
        (Some(out), _) => out.clone(),
        (None, [one]) => one.clone(),
        (None, _) => {
            let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            PathBuf::from("runs").join(format!("report-{}", timestamp(secs)))
        }
    };
    report::write_reports(&args.runs, &out, &tasks)?;
    eprintln!("wrote report.html, report.md and summary.json to {}", out.display());
    Ok(0)
}

fn synth_command(args: SynthArgs) -> Result<i32> {
    let tasks = tasks::select(&args.tasks).map_err(|e| anyhow!(e))?;
    synth::write_suite(&args.out, args.seed, &tasks)?;
    eprintln!(
        "wrote the synthetic suite for {} task(s) to {} (not the benchmark's data)",
        tasks.len(),
        args.out.display()
    );
    Ok(0)
}

async fn models_command(args: ModelsArgs) -> Result<i32> {
    let config = args.common.load()?;
    let mut profiles: Vec<Profile> = config.models.values().cloned().collect();
    for spec in &args.models {
        profiles.push(config.resolve_model(spec, args.base_url.as_deref()).map_err(|e| anyhow!(e))?);
    }
    if let Some(judge) = &config.judge
        && !profiles.iter().any(|p| &p.name == judge)
    {
        profiles.push(config.resolve_model(judge, None).map_err(|e| anyhow!(e))?);
    }
    if profiles.is_empty() {
        eprintln!("no model to check: add profiles to multitrust.toml or pass --model PROVIDER:MODEL");
        return Ok(1);
    }
    let engine = Engine::new(None).quiet();
    let mut failures = 0;
    for profile in profiles {
        if profile.is_baseline() {
            println!("{:<32} ok (reference baseline, answered locally)", profile.name);
            continue;
        }
        let mut profile = profile;
        profile.max_attempts = Some(1);
        let service = match profile.check_key().and_then(|()| ChatService::from_profile(&profile)) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                failures += 1;
                println!("{:<32} error: {e}", profile.name);
                continue;
            }
        };
        let request = ChatRequest::greedy(vec![Message::user("Reply with the word OK.", None)], 8);
        let started = Instant::now();
        let result =
            tokio::time::timeout(Duration::from_secs(60), engine.run(&service, vec![request], &profile.name))
                .await;
        let elapsed = started.elapsed();
        match result {
            Ok(Ok(mut outcomes)) => match outcomes.pop() {
                Some(Ok(a)) => println!(
                    "{:<32} ok {:>6} ms  {} -> {:?}",
                    profile.name,
                    elapsed.as_millis(),
                    profile.base_url(),
                    a.reply.text.chars().take(40).collect::<String>()
                ),
                Some(Err(u)) => {
                    failures += 1;
                    println!("{:<32} error: {u}", profile.name);
                }
                None => failures += 1,
            },
            _ => {
                failures += 1;
                println!("{:<32} error: no answer within 60 s", profile.name);
            }
        }
    }
    Ok(if failures == 0 { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::timestamp;

    #[test]
    fn timestamps_are_civil_utc() {
        assert_eq!(timestamp(0), "19700101-000000");
        assert_eq!(timestamp(1_795_392_000), "20261123-000000");
        assert_eq!(timestamp(951_782_400 + 3661), "20000229-010101");
    }
}
