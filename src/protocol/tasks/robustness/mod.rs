//! Robustness tasks: out-of-distribution (R1–R3) and adversarial attack (R4–R6).

pub(crate) mod adv_nips;
pub(crate) mod common;
pub mod r1;
pub mod r2;
pub mod r3;
pub mod r4;
pub mod r5;
pub mod r6;

use super::Task;

/// The robustness tasks, in order.
pub fn tasks() -> Vec<Box<dyn Task>> {
    vec![
        Box::new(r1::R1),
        Box::new(r2::R2),
        Box::new(r3::R3),
        Box::new(r4::R4),
        Box::new(r5::R5),
        Box::new(r6::R6),
    ]
}
