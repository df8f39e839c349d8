//! The `multitrust` command line: arguments, the plan, exit codes. Everything else is in the
//! library.
//!
//! Exit codes: 0 done; 1 an error (configuration, arguments, files); 2 data problems (a
//! requested split could not be loaded, or nothing loaded at all); 3 a model's unscorable share
//! is above `--max-unscorable`; 4 an endpoint is unreachable or failed its preflight check;
//! 130 interrupted (Ctrl-C). A closed output pipe ends quietly with 0.

use multitrust::protocol::reasoning::ReasoningScoring;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;

use multitrust::config::Config;
use multitrust::core::ScorerProfile;
use multitrust::data::DataDir;
use multitrust::engine::{Engine, Stop, Store};
use multitrust::pipeline::plan::{check_share, timestamp, unix_now};
use multitrust::pipeline::preflight;
use multitrust::pipeline::record::Shard;
use multitrust::pipeline::{
    self, LogOptions, PipelineError, Plan, Request, RunOptions, RunRecord, RunStatus, ScoreOptions,
};
use multitrust::protocol::fixtures;
use multitrust::protocol::scoring::judge::JudgePolicy;
use multitrust::protocol::tasks::{self, LoadContext};
use multitrust::report;
use multitrust::sample::Message;

/// Tells mimalloc not to commit its arenas up front, so that memory it frees leaves the
/// resident set when it is purged: with eager commit a purge only marks pages free to take
/// back (`MADV_FREE`), and they stay resident until the kernel wants them; a run's peak
/// resident memory was 25-40% higher. It must run before the first allocation reserves the
/// first arena, so it runs as a constructor, after mimalloc's own (which reads the
/// `MIMALLOC_*` variables; a `MIMALLOC_ARENA_EAGER_COMMIT` the user sets still wins).
#[cfg(target_os = "linux")]
extern "C" fn return_freed_memory_promptly() {
    // `mi_option_arena_eager_commit`, the fifth option of mimalloc's `mi_option_e` (v2 and v3).
    const ARENA_EAGER_COMMIT: std::ffi::c_int = 4;
    unsafe extern "C" {
        fn mi_option_set_default(option: std::ffi::c_int, value: std::ffi::c_long);
    }
    // SAFETY: sets the default of one of mimalloc's options (an integer in its option table);
    // mimalloc is linked as this binary's allocator and has set its options up.
    unsafe { mi_option_set_default(ARENA_EAGER_COMMIT, 0) };
}

#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static RETURN_FREED_MEMORY_PROMPTLY: extern "C" fn() = return_freed_memory_promptly;

/// mimalloc instead of the system allocator: a run and a rescoring make and drop many small
/// strings a sample, where glibc's malloc and free took a third of a rescoring's CPU time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Check each configured model, judge and classifier endpoint: reachable, and for models
    /// whether they see images.
    Models(ModelsArgs),
    /// Combine the run directories of `run --shard K/N` (all N of them, and their stores) into
    /// one run directory equal to the unsharded run's; nothing is sent.
    Merge(MergeArgs),
    /// Write report.html, report.md and summary.json for one or more run directories
    /// (side by side, with paired differences on shared samples).
    Report(ReportArgs),
    /// List the mitigations: what each does, where it acts, the access and auxiliary models it
    /// needs, its extra calls per sample and its parameters.
    Mitigations(TasksArgs),
    /// Run a downloaded text classifier (a Hugging Face model folder) on texts and print one
    /// JSON line per text with its logits and probabilities: how to check a classifier before
    /// configuring it with `provider = "local"`.
    Classify(ClassifyArgs),
    /// Work with data sets.
    #[command(subcommand)]
    Data(DataCommand),
    /// Work with the prompt texts of judges and classifiers.
    #[command(subcommand)]
    Templates(TemplatesCommand),
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Write the synthetic suite: a small, license-clean data set in the official layout for
    /// every task (not the benchmark's data).
    Synth(SynthArgs),
}

#[derive(Debug, Subcommand)]
enum TemplatesCommand {
    /// Read the original judge and classifier prompts from your own checkout of the original
    /// MMTrustEval toolbox and write them into a templates file for the configuration.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// The checkout of MMTrustEval (the folder holding mmte/).
    checkout: PathBuf,
    /// The templates file to write.
    #[arg(long, default_value = "mmtrusteval-templates.toml")]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct SynthArgs {
    /// The folder to write (the data folder, as --data takes it).
    #[arg(long)]
    out: PathBuf,
    /// The seed of the synthetic texts and pictures.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Only these tasks (ids, aspects, `all` for the 32 MultiTrust tasks, `utility`).
    #[arg(long, short, default_value = "all,utility")]
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
            Some(p) => Ok(Config::load(&p)?),
            None => Ok(Config::default()),
        }
    }
}

/// How judge answers that do not have the expected form are scored.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Policy {
    /// As the original toolbox: every judge answer gets the value the next step gives it.
    Original,
    /// An answer without the expected form makes its sample unscorable.
    Strict,
}

impl From<Policy> for JudgePolicy {
    fn from(p: Policy) -> JudgePolicy {
        match p {
            Policy::Original => JudgePolicy::Original,
            Policy::Strict => JudgePolicy::Strict,
        }
    }
}

/// A scorer profile by name.
fn scorer_profile(text: &str) -> Result<ScorerProfile, String> {
    ScorerProfile::from_name(text).ok_or_else(|| {
        let names: Vec<&str> = ScorerProfile::ALL.iter().map(|p| p.name()).collect();
        format!("`{text}` is not a scorer profile; use one of {}", names.join(", "))
    })
}

/// A share in [0, 1].
fn share(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|e| format!("{e}"))?;
    check_share(value).map_err(|e| e.to_string())?;
    Ok(value)
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
    /// Give it more than once for replicas of one model on several machines: each request
    /// goes to the least loaded healthy one; the first names the model in the store.
    #[arg(long = "base-url")]
    base_url: Vec<String>,
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
    /// At most this many samples per split (for a quick look; such a run is not comparable).
    #[arg(long)]
    limit: Option<usize>,
    /// Evaluate part K of N of every split (by sample id, balanced across tasks and splits)
    /// into this run directory and store; `multitrust merge` combines the N parts into the
    /// run an unsharded command would have made. See docs/scale.md.
    #[arg(long, value_name = "K/N", value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// Downscale images whose longer side exceeds this (400 reproduces the original's API
    /// models).
    #[arg(long)]
    max_image_side: Option<u32>,
    /// Requests in flight per model, overriding the profiles: a number, or `adaptive` (found
    /// from the endpoint's 429s, errors and latency, up to the profile's `max_concurrency`,
    /// 256 by default).
    #[arg(long, value_parser = |s: &str| s.parse::<multitrust::core::Concurrency>())]
    concurrency: Option<multitrust::core::Concurrency>,
    /// Bootstrap replicates for the confidence intervals.
    #[arg(long)]
    bootstrap: Option<usize>,
    /// Fail the run when a model's share of unscorable samples exceeds this share (0 to 1;
    /// 0.2 means 20%).
    #[arg(long, value_parser = share)]
    max_unscorable: Option<f64>,
    /// How judge answers without the expected form are scored.
    #[arg(long, value_enum, default_value = "original")]
    judge_policy: Policy,
    /// Which scorers answer the judge and classifier steps: original, open, judge or
    /// reference (default: the configuration's; reference for the synthetic suite with no
    /// judge or classifier configured; otherwise original). See docs/scoring.md.
    #[arg(long, value_parser = scorer_profile)]
    scorers: Option<ScorerProfile>,
    /// Send image samples even to an endpoint that the preflight check found to ignore
    /// images (its answers then describe no picture).
    #[arg(long)]
    allow_blind: bool,
    /// Fail the run before anything is sent when the data has any problem: a record skipped,
    /// a file ignored, a category not known, a split that does not load, an image that
    /// cannot be used (exit code 2).
    #[arg(long)]
    strict: bool,
    /// Run every model plain and with this mitigation too, as its own row `MODEL+NAME`
    /// (repeatable; `A+B` stacks them in order; parameters as `jpeg:q=75`). `multitrust
    /// mitigations` lists them. Adds the utility tasks to `--tasks all`.
    #[arg(long = "mitigation", value_name = "NAME")]
    mitigations: Vec<String>,
    /// The guard model of `output-guard`: a profile name, `PROVIDER:MODEL`, or `moderation`
    /// (the [classifiers.moderation] endpoint).
    #[arg(long)]
    guard: Option<String>,
    /// Base URL of a `PROVIDER:MODEL` guard.
    #[arg(long)]
    guard_base_url: Option<String>,
    /// Compare every other model with this one (a base model against its fine-tuned or
    /// aligned variants); mitigated models are compared with their plain model.
    #[arg(long, value_name = "MODEL")]
    reference: Option<String>,
    /// What the evaluators see of a reasoning model's answer: `answer` (the final answer
    /// only) or `inline` (the reasoning between think tags, then the answer, as the original's
    /// evaluators would have seen it).
    #[arg(long, value_enum, default_value = "answer")]
    score_reasoning: ReasoningScoring,
    /// Also run each task's evaluators on the reasoning text, to find safe answers over
    /// unsafe reasoning and refusals decided in the reasoning (more judge and classifier calls).
    #[arg(long)]
    reasoning_view: bool,
    /// What to print on stdout: `text` (the summary matrix) or `json` (`summary.json`, and
    /// nothing else, for scripts).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Send nothing: print, per model, the requests the store lacks, their estimated input
    /// tokens (images by each provider's formula), their output tokens at most and, with
    /// `input_price`/`output_price` in the profile, the cost; and the judge and classifier
    /// requests the answers would lead to (`--format json` for a program).
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
struct ScoreArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The run directory to score again (its results, samples.jsonl, summary.json and reports
    /// are rewritten, or written to --out).
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
    /// What the evaluators see of a reasoning model's answer (default: the run's).
    #[arg(long, value_enum)]
    score_reasoning: Option<ReasoningScoring>,
    /// Also run each task's evaluators on the reasoning text (on if the run did).
    #[arg(long)]
    reasoning_view: bool,
    /// What to print on stdout: `text` (the summary matrix) or `json` (`summary.json`, and
    /// nothing else, for scripts).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,

    /// How judge answers without the expected form are scored (default: the run's; original
    /// for a log).
    #[arg(long, value_enum)]
    judge_policy: Option<Policy>,
    /// Which scorers answer the judge and classifier steps (default: the run's; for a log, the
    /// configuration's, or original).
    #[arg(long, value_parser = scorer_profile)]
    scorers: Option<ScorerProfile>,
}

#[derive(Debug, Args)]
struct MergeArgs {
    /// The shards' run directories (any order).
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// The merged run directory.
    #[arg(long)]
    out: PathBuf,
    /// What to print on stdout: `text` (the summary matrix) or `json` (`summary.json`, and
    /// nothing else, for scripts).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
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
    /// What to print on stdout: `text` (the summary matrix) or `json` (`summary.json`, and
    /// nothing else, for scripts).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// What a command prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// For people.
    Text,
    /// `summary.json`, for programs.
    Json,
}

#[derive(Debug, Args)]
struct ClassifyArgs {
    /// The model folder: config.json, tokenizer.json, model.safetensors.
    #[arg(long)]
    model_dir: PathBuf,
    /// A text to classify (repeatable).
    #[arg(long, required_unless_present = "jsonl")]
    text: Vec<String>,
    /// A file with one {"text": ...} object per line.
    #[arg(long, conflicts_with = "text")]
    jsonl: Option<PathBuf>,
    /// The SHA-256 model.safetensors must have.
    #[arg(long)]
    sha256: Option<String>,
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

/// Exit codes (see the module documentation).
mod code {
    pub const OK: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const DATA: i32 = 2;
    pub const UNSCORABLE: i32 = 3;
    pub const ENDPOINT: i32 = 4;
    pub const INTERRUPTED: i32 = 130;
}

fn main() {
    // SAFETY: no other thread has been started yet.
    unsafe { multitrust::backends::local::one_core_per_text() };
    // Usage errors exit 1 (clap's own default, 2, is this tool's code for data problems).
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { code::ERROR } else { code::OK };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let level = if cli.quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .init();
    // One thread drives the network: the work is waiting on servers, and on a small machine
    // waking threads costs more than the requests themselves (see the engine benchmark).
    // Blocking work (store lookups, in-process classifiers, images) runs on tokio's blocking
    // pool, kept to a few threads more than the cores; the store writes on its own thread.
    let blocking = std::thread::available_parallelism().map_or(2, |n| n.get()) + 4;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(blocking)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(code::ERROR);
        }
    };
    let exit = runtime.block_on(async {
        match dispatch(cli).await {
            Ok(c) => c,
            Err(e) if closed_pipe(&e) => code::OK,
            Err(e) => {
                eprintln!("error: {e:#}");
                code::ERROR
            }
        }
    });
    std::process::exit(exit);
}

/// Whether an error is a write to a closed pipe (`multitrust tasks | head`).
fn closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

async fn dispatch(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Run(args) => run_command(*args, cli.quiet).await,
        Command::Tasks(args) => tasks_command(args),
        Command::Mitigations(args) => mitigations_command(args),
        Command::Samples(args) => samples_command(args),
        Command::Score(args) => score_command(*args, cli.quiet).await,
        Command::Models(args) => models_command(args).await,
        Command::Report(args) => report_command(args),
        Command::Merge(args) => merge_command(args, cli.quiet).await,
        Command::Classify(args) => classify_command(args),
        Command::Data(DataCommand::Synth(args)) => synth_command(args),
        Command::Templates(TemplatesCommand::Import(args)) => import_command(args),
    }
}

/// An engine on a store that scrubs these secrets, stopped by Ctrl-C (a second Ctrl-C quits
/// at once).
fn engine(store: Option<Arc<Store>>, online: bool, quiet: bool, secrets: &[String]) -> Engine {
    let engine = match (store, online) {
        (Some(store), false) => Engine::store_only(store),
        (store, _) => Engine::new(store),
    };
    let engine = engine.scrubbing(secrets);
    let engine = if quiet { engine.quiet() } else { engine };
    let cancel = engine.cancel_token();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nstopping: finishing what is stored (Ctrl-C again to quit at once)");
            cancel.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(code::INTERRUPTED);
            }
        }
    });
    engine
}

async fn run_command(args: RunArgs, quiet: bool) -> Result<i32> {
    let config = args.common.load()?;
    let format = args.format;
    let options = run_options(args);
    let dry_run = options.dry_run;
    let plan = Plan::new(Request::Run(Box::new(options)), &config)?;
    if dry_run {
        return dry_run_command(plan, format).await;
    }
    execute(plan, quiet, format).await
}

/// Prints what the run would send and cost; sends nothing and writes no run files (the
/// synthetic suite, when it is the data, is written into the run directory to be read).
async fn dry_run_command(plan: Plan, format: Format) -> Result<i32> {
    let store = match plan.store.as_ref().filter(|p| p.is_file()) {
        Some(p) => Some(Arc::new(Store::open(p)?)),
        None => None,
    };
    let engine = match store {
        Some(store) => Engine::store_only(store),
        None => Engine::new(None),
    }
    .quiet();
    let loaded = pipeline::load(&plan)?;
    let calls = pipeline::dryrun::plan_calls(&plan, &loaded, &engine).await?;
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(&calls)?)?;
        return Ok(code::OK);
    }
    writeln!(out, "dry run: nothing is sent")?;
    writeln!(
        out,
        "{:<8} {:<34} {:>9} {:>9} {:>14} {:>16} {:>10}",
        "role", "name", "requests", "to send", "input tokens", "output (at most)", "cost"
    )?;
    for c in &calls {
        let judged = c.role != "model";
        writeln!(
            out,
            "{:<8} {:<34} {:>9} {:>9} {:>14} {:>16} {:>10}",
            c.role,
            c.name,
            c.requests,
            if judged { format!("≈{}", c.lacking) } else { c.lacking.to_string() },
            if judged { "—".to_string() } else { c.input_tokens.to_string() },
            if judged { "—".to_string() } else { c.output_tokens_max.to_string() },
            c.cost_max.map(|x| format!("{x:.2}")).unwrap_or_else(|| "—".into()),
        )?;
    }
    for f in calls
        .iter()
        .map(|c| c.image_formula)
        .filter(|f| !f.is_empty())
        .collect::<std::collections::BTreeSet<_>>()
    {
        writeln!(out, "image tokens: {f}")?;
    }
    writeln!(
        out,
        "judge and classifier requests: one per answer of a task that needs them, before the store is asked \
         (their text depends on the answers); mitigations add their extra calls (`multitrust mitigations`)"
    )?;
    Ok(code::OK)
}

/// The pipeline's options for a `run` command line.
fn run_options(args: RunArgs) -> RunOptions {
    RunOptions {
        models: args.models,
        dry_run: args.dry_run,
        base_url: args.base_url.first().cloned(),
        base_urls: if args.base_url.len() > 1 { args.base_url } else { Vec::new() },
        judge: args.judge,
        judge_base_url: args.judge_base_url,
        tasks: args.tasks,
        data: args.data,
        out: args.out,
        store: args.store,
        seed: args.seed,
        limit: args.limit,
        shard: args.shard,
        max_image_side: args.max_image_side,
        concurrency: args.concurrency,
        bootstrap: args.bootstrap,
        max_unscorable: args.max_unscorable,
        judge_policy: args.judge_policy.into(),
        allow_blind: args.allow_blind,
        strict: args.strict,
        scorers: args.scorers,
        mitigations: args.mitigations,
        guard: args.guard,
        guard_base_url: args.guard_base_url,
        reference: args.reference,
        score_reasoning: args.score_reasoning,
        reasoning_view: args.reasoning_view,
        command: std::env::args().collect(),
    }
}

async fn score_command(args: ScoreArgs, quiet: bool) -> Result<i32> {
    let config = args.common.load()?;
    let format = args.format;
    if let Some(log) = &args.mmtrusteval_log {
        let options = LogOptions {
            path: log.clone(),
            task: args.task.clone().unwrap_or_default(),
            split: args.split.clone(),
            out: args.out.clone(),
            judge: args.judge.clone(),
            judge_base_url: args.judge_base_url.clone(),
            store: args.store.clone(),
            judge_policy: args.judge_policy.map(Into::into).unwrap_or_default(),
            scorers: args.scorers,
        };
        let plan = Plan::new(Request::Log(options), &config)?;
        if plan.online && plan.store.is_none() {
            tracing::warn!("judge and classifier answers are not kept: pass --store PATH to keep them");
        }
        let store = plan.store.as_ref().map(|p| Store::open(p)).transpose()?.map(Arc::new);
        let engine = engine(store, true, quiet, &plan.secrets);
        pipeline::log::rescore(&plan, &engine).await?;
        engine.flush()?;
        return Ok(code::OK);
    }
    let run_dir = args.run_dir.clone().ok_or_else(|| anyhow!("give a run directory or --mmtrusteval-log"))?;
    let options = ScoreOptions {
        run_dir,
        out: args.out,
        judge: args.judge,
        judge_base_url: args.judge_base_url,
        store: args.store,
        bootstrap: args.bootstrap,
        judge_policy: args.judge_policy.map(Into::into),
        scorers: args.scorers,
        score_reasoning: args.score_reasoning,
        reasoning_view: args.reasoning_view,
        command: std::env::args().collect(),
    };
    let plan = Plan::new(Request::Score(options), &config)?;
    execute(plan, quiet, format).await
}

/// Loads, executes and writes a plan with a run directory; prints the summary; says how it
/// ended in the exit code.
async fn execute(plan: Plan, quiet: bool, format: Format) -> Result<i32> {
    let out = plan.dir();
    std::fs::create_dir_all(&out)
        .with_context(|| format!("{}: cannot create the run directory", out.display()))?;
    let store = match &plan.store {
        Some(p) => Some(Arc::new(Store::open(p)?)),
        None => None,
    };
    let engine = engine(store, plan.online, quiet, &plan.secrets);
    let started = Instant::now();
    let loaded = match pipeline::load(&plan) {
        Ok(l) => l,
        Err(e) => {
            let empty = pipeline::Loaded {
                tasks: Vec::new(),
                given: Default::default(),
                data: Default::default(),
                generated: out.join("generated"),
            };
            let mut manifest = pipeline::execute::manifest(&plan, &empty, RunStatus::Failed);
            manifest.error = Some(e.to_string());
            report::write_manifest(&out, &manifest)?;
            let code = if matches!(e, PipelineError::NothingLoaded(_)) { code::DATA } else { code::ERROR };
            eprintln!("error: {e}");
            return Ok(code);
        }
    };
    if plan.strict {
        let problems = loaded.problems();
        if !problems.is_empty() {
            let e = PipelineError::Strict(problems);
            let mut manifest = pipeline::execute::manifest(&plan, &loaded, RunStatus::Failed);
            manifest.error = Some(e.to_string());
            report::write_manifest(&out, &manifest)?;
            eprintln!("error: {e}");
            return Ok(code::DATA);
        }
    }
    report::write_manifest(&out, &pipeline::execute::manifest(&plan, &loaded, RunStatus::Running))?;
    // The report's thumbnails are made while the models are asked (the engine mostly waits).
    let images = report::browser::images_of(
        loaded
            .tasks
            .iter()
            .chain(loaded.given.values().flatten())
            .flat_map(|t| &t.splits)
            .filter_map(|s| s.samples.as_deref().ok())
            .flatten(),
    );
    let generated = out.join("generated");
    let thumbnails = std::thread::spawn(move || report::browser::prepare_thumbnails(&images, &generated));
    let result = pipeline::execute(&plan, &loaded, &engine).await;
    let phase = Instant::now();
    let _ = thumbnails.join();
    tracing::debug!("waited {:?} for the report's thumbnails", phase.elapsed());
    engine.flush()?;
    let (cached, answered, failed, retries) = engine.stats.snapshot();
    let requests = format!(
        "{} requests: {answered} answered, {cached} from the store, {failed} failed, {retries} retries",
        answered + cached + failed
    );
    let record = match result {
        Ok(record) => record,
        Err(e) => {
            let (status, exit) = match &e {
                PipelineError::Stopped(Stop::Interrupted { .. }) => {
                    (RunStatus::Interrupted, code::INTERRUPTED)
                }
                PipelineError::Stopped(Stop::EndpointDown { .. }) | PipelineError::Preflight(_) => {
                    (RunStatus::Failed, code::ENDPOINT)
                }
                _ => (RunStatus::Failed, code::ERROR),
            };
            let mut manifest = pipeline::execute::manifest(&plan, &loaded, status);
            if status == RunStatus::Failed {
                manifest.error = Some(e.to_string());
            }
            report::write_manifest(&out, &manifest)?;
            if status == RunStatus::Interrupted {
                eprintln!(
                    "interrupted: {requests}. Run the same command again to continue; nothing stored is sent again."
                );
            } else {
                eprintln!(
                    "error: {e}\n{requests}; every answer received is stored, so running again sends only the rest."
                );
            }
            return Ok(exit);
        }
    };
    let page = report::write_outputs(&record)?;
    // A test hook: stop as if killed after the outputs and before run.json says how it ended.
    if std::env::var_os("MULTITRUST_FAILPOINT").is_some_and(|v| v == "before-manifest") {
        std::process::abort();
    }
    report::write_manifest(&out, &record.manifest)?;
    match format {
        Format::Text => print_summary(&record, &page)?,
        Format::Json => print_json(&out)?,
    }
    eprintln!("{requests}; {:.1}s. Run directory: {}", started.elapsed().as_secs_f64(), out.display());
    Ok(ending(&record, &loaded, plan.max_unscorable))
}

/// The exit code of a finished run, with what went wrong said on stderr.
fn ending(record: &RunRecord, loaded: &pipeline::Loaded, max_unscorable: f64) -> i32 {
    let errors = loaded.errors();
    let over: Vec<_> = record.models.iter().filter(|m| m.summary.unscorable_rate > max_unscorable).collect();
    for m in &over {
        eprintln!(
            "error: {}: {:.1}% of samples are unscorable (limit {:.1}%); see `kind` and `reason` in \
             samples.jsonl, fix the cause and run again (answers are kept)",
            m.info.name,
            100.0 * m.summary.unscorable_rate,
            100.0 * max_unscorable
        );
    }
    if !errors.is_empty() {
        eprintln!("error: {} split(s) could not be loaded (run.json says `incomplete`):", errors.len());
        for e in &errors {
            eprintln!("  {e}");
        }
        for e in loaded.empty_tasks() {
            eprintln!("  {e}");
        }
        return code::DATA;
    }
    if !over.is_empty() {
        return code::UNSCORABLE;
    }
    code::OK
}

/// Prints a written `summary.json` to stdout, as it is.
fn print_json(dir: &std::path::Path) -> Result<()> {
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

fn print_summary(record: &RunRecord, page: &report::page::Page) -> Result<()> {
    let mut out = std::io::stdout().lock();
    write!(out, "{}", report::terminal::render(record, &page.tradeoffs))?;
    out.flush()?;
    Ok(())
}

fn classify_command(args: ClassifyArgs) -> Result<i32> {
    use multitrust::backends::local::LocalClassifier;
    use multitrust::backends::scorers::ClassReply;
    let texts: Vec<String> = match &args.jsonl {
        None => args.text.clone(),
        Some(path) => {
            let content =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let mut texts = Vec::new();
            for (i, line) in content.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let value: serde_json::Value = serde_json::from_str(line)
                    .with_context(|| format!("{} line {}: not JSON", path.display(), i + 1))?;
                let text = value.get("text").and_then(|t| t.as_str()).ok_or_else(|| {
                    anyhow!("{} line {}: expected an object with a string \"text\"", path.display(), i + 1)
                })?;
                texts.push(text.to_string());
            }
            texts
        }
    };
    let model = LocalClassifier::load(&args.model_dir, args.sha256.as_deref())?;
    tracing::info!(
        "{} ({}, {} labels), model.safetensors sha256 {}",
        args.model_dir.display(),
        model.model_type(),
        model.labels().len(),
        model.weights_sha256()
    );
    let mut out = std::io::stdout().lock();
    for (text, logits) in texts.iter().zip(model.logits_of_all(&texts)) {
        let logits = logits?;
        let reply = ClassReply::from_logits(
            model.labels().to_vec(),
            logits,
            model.multi_label(),
            serde_json::Value::Null,
        );
        let probs: serde_json::Map<String, serde_json::Value> =
            reply.labels.iter().zip(&reply.probs).map(|(l, p)| (l.clone(), serde_json::json!(p))).collect();
        let line = serde_json::json!({"text": text, "logits": reply.logits, "probs": probs});
        writeln!(out, "{line}")?;
    }
    Ok(code::OK)
}

fn mitigations_command(args: TasksArgs) -> Result<i32> {
    let all = multitrust::mitigations::all();
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&all)?)?;
        return Ok(code::OK);
    }
    for m in all {
        let hooks: Vec<&str> = m.hooks.iter().map(|h| h.name()).collect();
        writeln!(
            out,
            "{}{}",
            m.name,
            if m.params.is_empty() { String::new() } else { format!(" ({})", m.params) }
        )?;
        writeln!(out, "    {}", m.summary)?;
        writeln!(
            out,
            "    hooks: {} · access: {} · auxiliary: {} · extra calls per sample: {}",
            hooks.join(", "),
            m.access.name(),
            m.auxiliary,
            m.extra_calls
        )?;
        writeln!(out, "    source: {}", m.source)?;
    }
    Ok(code::OK)
}

fn tasks_command(args: TasksArgs) -> Result<i32> {
    let all = tasks::every();
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
        return Ok(code::OK);
    }
    writeln!(out, "{:<4} {:<44} {:<34} {:>6}  needs", "id", "name", "aspect / sub-aspect", "splits")?;
    for t in &all {
        let i = t.info();
        let needs: Vec<&str> = t.needs().into_iter().map(|n| n.name()).collect();
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
    Ok(code::OK)
}

fn samples_command(args: SamplesArgs) -> Result<i32> {
    let mut selected = tasks::select(&args.task)?;
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
                "split": &*s.split,
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
    out.flush()?;
    for warning in ctx.log.take() {
        eprintln!("{warning}");
    }
    Ok(code::OK)
}

fn report_command(args: ReportArgs) -> Result<i32> {
    let records = args
        .runs
        .iter()
        .map(|d| multitrust::pipeline::rundir::load_record(d))
        .collect::<Result<Vec<_>, _>>()?;
    let out = match (&args.out, args.runs.as_slice()) {
        (Some(out), _) => out.clone(),
        (None, [one]) => one.clone(),
        (None, _) => PathBuf::from("runs").join(format!("report-{}", timestamp(unix_now()))),
    };
    report::write_reports(&records, &out)?;
    eprintln!("wrote report.html, report.md and summary.json to {}", out.display());
    if args.format == Format::Json {
        print_json(&out)?;
    }
    Ok(code::OK)
}

/// Merges shard run directories: checks that they are the N parts of one command, copies
/// their stores' answers into the merged run's store, and runs the command again unsharded
/// from that store alone (nothing is sent), so that the merged run is what the unsharded run
/// would have written.
async fn merge_command(args: MergeArgs, quiet: bool) -> Result<i32> {
    let mut parts: Vec<(PathBuf, pipeline::Manifest)> = Vec::new();
    for dir in &args.runs {
        let manifest: pipeline::Manifest = multitrust::pipeline::rundir::read_json(&dir.join("run.json"))?;
        parts.push((dir.clone(), manifest));
    }
    let shard_of = |(dir, m): &(PathBuf, pipeline::Manifest)| {
        m.shard.ok_or_else(|| {
            anyhow!("{}: not a shard (its run.json has no shard; run it with --shard K/N)", dir.display())
        })
    };
    let count = shard_of(&parts[0])?.count;
    let mut seen = vec![None; count];
    // The command without what differs between shards: --shard, --out and --store.
    let strip = |command: &[String]| -> Vec<String> {
        let mut out = Vec::new();
        let mut skip = false;
        for a in command {
            if std::mem::take(&mut skip) {
                continue;
            }
            if ["--shard", "--out", "--store"].contains(&a.as_str()) {
                skip = true;
            } else if !["--shard=", "--out=", "--store="].iter().any(|p| a.starts_with(p)) {
                out.push(a.clone());
            }
        }
        out
    };
    let command = strip(&parts[0].1.command);
    for part in &parts {
        let shard = shard_of(part)?;
        let (dir, m) = part;
        if shard.count != count {
            bail!("{}: shard {shard}, but {} is one of {count}", dir.display(), parts[0].0.display());
        }
        if let Some(other) = seen[shard.index - 1].replace(dir.clone()) {
            bail!("shard {shard} given twice: {} and {}", other.display(), dir.display());
        }
        if strip(&m.command) != command {
            bail!(
                "{}: another command than {}'s (shards of one run differ only in --shard, --out and --store): {:?} against {:?}",
                dir.display(),
                parts[0].0.display(),
                m.command,
                parts[0].1.command
            );
        }
        if m.status != pipeline::RunStatus::Complete {
            bail!(
                "{}: the shard did not complete ({:?}); run its command again to finish it",
                dir.display(),
                m.status
            );
        }
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, d)| d.is_none())
        .map(|(i, _)| format!("{}/{count}", i + 1))
        .collect();
    if !missing.is_empty() {
        bail!("shard(s) {} missing: give all {count} run directories", missing.join(", "));
    }
    let Command::Run(mut run) = Cli::try_parse_from(&command)
        .with_context(|| format!("{}: its recorded command no longer parses", parts[0].0.display()))?
        .command
    else {
        bail!("{}: its recorded command is not `multitrust run`", parts[0].0.display());
    };
    run.shard = None;
    run.out = Some(args.out.clone());
    run.store = None;
    run.format = args.format;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create it", args.out.display()))?;
    {
        let merged = Store::open(&args.out.join("store.sqlite"))?;
        for (dir, m) in &parts {
            let store = m.store.as_ref().map(PathBuf::from).unwrap_or_else(|| dir.join("store.sqlite"));
            let copied = merged.import(&store)?;
            tracing::info!("{}: {copied} answers from {}", dir.display(), store.display());
        }
        merged.flush()?;
    }
    let config = run.common.load()?;
    let options = run_options(*run);
    let mut plan = Plan::new(Request::Run(Box::new(options)), &config)?;
    // Every answer comes from the shards' stores: nothing is sent.
    plan.online = false;
    execute(plan, quiet, args.format).await
}

fn synth_command(args: SynthArgs) -> Result<i32> {
    let tasks = tasks::select(&args.tasks)?;
    fixtures::write_suite(&args.out, args.seed, &tasks)?;
    eprintln!(
        "wrote the synthetic suite for {} task(s) to {} (not the benchmark's data)",
        tasks.len(),
        args.out.display()
    );
    Ok(code::OK)
}

fn import_command(args: ImportArgs) -> Result<i32> {
    let texts = pipeline::templates::import(&args.checkout)?;
    let commit = git_head(&args.checkout);
    let file = pipeline::templates::templates_file(&texts, &args.checkout, commit.as_deref());
    report::atomic_write(&args.out, file.as_bytes())?;
    let mut out = std::io::stdout().lock();
    for (name, text) in &texts {
        let origin = pipeline::templates::origin(name, text, true);
        writeln!(
            out,
            "{name:<36} {} chars, {}",
            text.chars().count(),
            match origin {
                pipeline::record::TextOrigin::Original => "the known original text",
                _ => "differs from the known original text",
            }
        )?;
    }
    eprintln!(
        "wrote {} templates to {}; add `templates_file = \"{}\"` to multitrust.toml to use them",
        texts.len(),
        args.out.display(),
        args.out.display()
    );
    Ok(code::OK)
}

/// The commit a checkout is at, read from its `.git` folder (none when it cannot be told).
fn git_head(checkout: &std::path::Path) -> Option<String> {
    let git = checkout.join(".git");
    let head = std::fs::read_to_string(git.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(reference) = head.strip_prefix("ref: ") else { return Some(head.to_string()) };
    if let Ok(commit) = std::fs::read_to_string(git.join(reference)) {
        return Some(commit.trim().to_string());
    }
    let packed = std::fs::read_to_string(git.join("packed-refs")).ok()?;
    packed
        .lines()
        .find(|l| l.ends_with(reference))
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_string)
}

async fn models_command(args: ModelsArgs) -> Result<i32> {
    let config = args.common.load()?;
    let mut profiles: Vec<multitrust::config::Profile> = config.models.values().cloned().collect();
    for spec in &args.models {
        profiles.push(config.resolve_model(spec, args.base_url.as_deref())?);
    }
    if let Some(judge) = &config.judge
        && !profiles.iter().any(|p| &p.name == judge)
    {
        profiles.push(config.resolve_model(judge, None)?);
    }
    let classifiers = multitrust::backends::scorers::ClassifierSet::from_config(&config.classifiers)?;
    if profiles.is_empty() && classifiers.identities().is_empty() {
        eprintln!("nothing to check: add profiles to multitrust.toml or pass --model PROVIDER:MODEL");
        return Ok(code::ERROR);
    }
    let engine = Engine::new(None).quiet().scrubbing(&multitrust::config::key_values(&config, &profiles));
    let probe_dir = std::env::temp_dir().join("multitrust-generated");
    let checks = preflight::check_endpoints(&engine, &profiles, &classifiers, &probe_dir).await?;
    let mut out = std::io::stdout().lock();
    let mut failures = 0;
    for c in &checks {
        match &c.result {
            Ok(what) => writeln!(out, "{:<32} ok  {what}", c.name)?,
            Err(e) => {
                failures += 1;
                writeln!(out, "{:<32} error: {e}", c.name)?;
            }
        }
    }
    Ok(if failures == 0 { code::OK } else { code::ENDPOINT })
}
