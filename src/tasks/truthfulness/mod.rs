//! Truthfulness tasks.

use super::Task;

/// The truthfulness tasks, in order.
pub fn tasks() -> Vec<Box<dyn Task>> {
    Vec::new()
}
