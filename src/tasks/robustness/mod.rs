//! Robustness tasks: out-of-distribution (R1–R3) and adversarial attack (R4–R6).

pub mod r3;

use super::Task;

/// The robustness tasks, in order.
pub fn tasks() -> Vec<Box<dyn Task>> {
    vec![Box::new(r3::R3)]
}
