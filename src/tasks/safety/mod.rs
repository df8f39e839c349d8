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

#[cfg(test)]
mod tests {
    #[test]
    fn round4_follows_python_round() {
        // Python: round(0.03125, 4) == 0.0312, round(0.09375, 4) == 0.0938, round(1/3, 4) == 0.3333.
        assert_eq!(super::round4(0.03125), 0.0312);
        assert_eq!(super::round4(0.09375), 0.0938);
        assert_eq!(super::round4(1.0 / 3.0), 0.3333);
        assert_eq!(super::round4(2.0 / 3.0), 0.6667);
    }

    #[test]
    fn the_six_tasks_in_order() {
        let ids: Vec<&str> = super::tasks().iter().map(|t| t.info().id).collect();
        assert_eq!(ids, ["S1", "S2", "S3", "S4", "S5", "S6"]);
    }
}
