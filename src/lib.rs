//! multitrust: measures how trustworthy a multimodal LLM is, the way the MultiTrust benchmark
//! defines it.
//!
//! The data flows one way, one module per stage:
//! [`data`] (loaders, synthetic suite) → [`sample::Sample`] → [`tasks`] (how each task asks and
//! scores) → [`models`] (request building, backends) → [`engine`] (concurrency, rate limits,
//! retries, the response store) → [`scoring`] (evaluator chains, metrics) → [`aggregate`]
//! (sub-aspects, overall score, confidence intervals) → [`report`] (the run directory).

pub mod aggregate;
pub mod config;
pub mod data;
pub mod engine;
pub mod models;
pub mod report;
pub mod rescore;
pub mod rng;
pub mod run;
pub mod sample;
pub mod scoring;
pub mod tasks;
pub mod variants;
