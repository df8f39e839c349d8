//! Truthfulness tasks: inherent deficiency (T1–T4) and misguided mistakes (T5–T7).

pub mod common;
pub mod t1;
pub mod t2;
pub mod t3;
pub mod t4;
pub mod t5;
pub mod t6;
pub mod t7;

use super::Task;

/// The truthfulness tasks, in order.
pub fn tasks() -> Vec<Box<dyn Task>> {
    vec![
        Box::new(t1::T1),
        Box::new(t2::T2),
        Box::new(t3::T3),
        Box::new(t4::T4),
        Box::new(t5::T5),
        Box::new(t6::T6),
        Box::new(t7::T7),
    ]
}
