//! The benchmark itself: the 32 tasks (how each loads its data, asks and scores), the
//! evaluator chains with their rules, judges' templates and metrics, the score and
//! aggregation formulas, and the synthetic fixtures with the baselines' hints. Nothing here
//! sends a request; files are read through [`crate::data`].

pub mod aggregate;
pub mod fixtures;
pub mod reasoning;
pub mod scoring;
pub mod tasks;
