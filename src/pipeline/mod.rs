//! The pipeline: the [`Plan`] of a run and the one executor shared by `run`, `score RUN_DIR`
//! and `score --mmtrusteval-log`.
//!
//! A command builds a plan ([`Plan::new`]), loads its samples ([`load()`]: from the data
//! folder, from a run directory's `samples.jsonl`, or from an original log), and executes it
//! ([`execute()`]): the models answer what the source does not hold already (a preflight check
//! first), the evaluator chains score every split, and the scores are aggregated into a
//! [`RunRecord`]. The reports render that record; nothing is read back from disk.

pub mod dryrun;
pub mod execute;
pub mod health;
pub mod load;
pub mod log;
pub mod plan;
pub mod preflight;
pub mod record;
pub mod rundir;
pub mod score;
pub mod templates;

pub use execute::execute;
pub use load::{Loaded, load};
pub use plan::{LogOptions, ModelPlan, Plan, Request, RunOptions, ScoreOptions, Source};
pub use record::{Answer, Answered, Manifest, ModelInfo, ModelRecord, RunRecord, RunStatus, SplitRecord};

use crate::backends::BackendError;
use crate::config::ConfigError;
use crate::data::DataError;
use crate::engine::{Stop, StoreError};
use crate::protocol::tasks::UnknownTask;

/// Why a command could not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The configuration or a model on the command line is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A backend cannot be set up from its configuration.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A task selection names no task.
    #[error(transparent)]
    Task(#[from] UnknownTask),
    /// The command's arguments do not fit together.
    #[error("{0}")]
    Usage(String),
    /// A run directory or log cannot be read; the message names the file.
    #[error("{0}")]
    Input(String),
    /// Data cannot be read or written.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Not one requested split could be loaded: nothing to evaluate.
    #[error("no sample could be loaded, so nothing was sent:\n{}", .0.join("\n"))]
    NothingLoaded(Vec<String>),
    /// `--strict`, and the data has problems (warnings, splits that did not load, unusable
    /// images): nothing was sent.
    #[error(
        "--strict: the data has {} problem(s), so nothing was sent:\n{}\nFix the data, or run without --strict to evaluate what loads",
        .0.len(),
        .0.join("\n")
    )]
    Strict(Vec<String>),
    /// The response store cannot be used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A model endpoint failed its preflight check.
    #[error("{0}")]
    Preflight(String),
    /// The run was stopped: Ctrl-C, or an endpoint's circuit breaker opened.
    #[error(transparent)]
    Stopped(#[from] Stop),
}
