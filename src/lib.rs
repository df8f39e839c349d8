//! multitrust: measures how trustworthy a multimodal LLM is, the way the MultiTrust benchmark
//! defines it.
//!
//! The crate is layered along the data flow; each layer uses only the layers below it
//! (`docs/architecture.md` draws the picture):
//!
//! - [`core`]: primitives every layer shares (identity, limits, call errors, secrets,
//!   unscorable outcomes, needs, the seeded generator);
//! - [`sample`]: the data model, a [`sample::Sample`] put to a model;
//! - [`config`]: the configuration file (profiles, judge, classifiers, templates);
//! - [`data`]: reading the official data layout, inside the data folder only;
//! - [`protocol`]: the benchmark itself, free of network and clocks: the 32 tasks, the
//!   evaluator chains, rules and metrics, the score and aggregation formulas, and the
//!   synthetic fixtures;
//! - [`engine`]: sending requests to services with limits, retries and the response store;
//! - [`backends`]: the chat clients, the reference baselines and the scorer services;
//! - [`mitigations`]: methods wrapped around any model (prompts, image purification,
//!   multi-call pipelines, output guards), MultiTrust-X's third dimension;
//! - [`pipeline`]: the plan and the one executor behind `run`, `score` and log scoring,
//!   producing a [`pipeline::RunRecord`];
//! - [`report`]: the run directory and the reports, rendered from run records.

pub mod backends;
pub mod config;
pub mod core;
pub mod data;
pub mod engine;
pub mod mitigations;
pub mod pipeline;
pub mod protocol;
pub mod report;
pub mod sample;
