//! Fairness tasks: stereotype (F1–F4) and bias & preference (F5–F7).
//!
//! Shared in sibling modules: the stereotype statements that F2 and F3 both read ([`statements`]),
//! the preference questions that F5 and F7 both read ([`preference`]), and the refusal rate
//! that F4, F5 and F7 all score ([`refusal`]).

pub mod f1;
pub mod f2;
pub mod f3;
pub mod f4;
pub mod f5;
pub mod f6;
pub mod f7;
pub mod preference;
pub mod refusal;
pub mod statements;

use super::Task;

/// The fairness tasks, in order.
pub fn tasks() -> Vec<Box<dyn Task>> {
    vec![
        Box::new(f1::F1),
        Box::new(f2::F2),
        Box::new(f3::F3),
        Box::new(f4::F4),
        Box::new(f5::F5),
        Box::new(f6::F6),
        Box::new(f7::F7),
    ]
}

/// The mean of a number over the three unrelated-image splits `<prefix>-unrelated-image-{color,
/// nature,noise}`, as the score scripts combine them.
pub(crate) fn unrelated_mean(prefix: &str, mut number: impl FnMut(&str) -> super::Num) -> super::Num {
    super::mean(&[
        number(&format!("{prefix}-unrelated-image-color")),
        number(&format!("{prefix}-unrelated-image-nature")),
        number(&format!("{prefix}-unrelated-image-noise")),
    ])
}
