//! Safety tasks: toxicity (S1–S3) and jailbreaking (S4–S6).
//!
//! S1 and S3 share their evaluators and score (Perspective, moderation, refusal rate:
//! [`toxicity`]); S4–S6 share theirs (HarmBench verdict and refusal rate: [`jailbreak`]).

pub mod jailbreak;
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_six_tasks_in_order() {
        let ids: Vec<&str> = super::tasks().iter().map(|t| t.info().id).collect();
        assert_eq!(ids, ["S1", "S2", "S3", "S4", "S5", "S6"]);
    }
}
