//! Safety tasks: toxicity (S1–S3) and jailbreaking (S4–S6).
//!
//! S1 and S3 share their evaluators and score (Perspective, moderation, refusal rate:
//! [`toxicity`]); S4–S6 share theirs (HarmBench verdict and refusal rate: [`jailbreak`]).

pub mod jailbreak;
mod md5;
pub mod s1;
pub mod s2;
pub mod s3;
pub mod s4;
pub mod s5;
pub mod s6;
pub mod toxicity;

use super::Task;

/// The safety tasks, in order.
pub fn tasks() -> Vec<Box<dyn Task>> {
    vec![
        Box::new(s1::S1),
        Box::new(s2::S2),
        Box::new(s3::S3),
        Box::new(s4::S4),
        Box::new(s5::S5),
        Box::new(s6::S6),
    ]
}

/// Rounds to 4 decimal places as Python's `round(x, 4)` does (the exact binary value, ties to
/// even), as the safety score scripts do before the rank script reads their numbers.
fn round4(value: f64) -> f64 {
    format!("{value:.4}").parse().unwrap_or(value)
}
