//! Fairness tasks.

use super::Task;

/// The fairness tasks, in order.
pub fn tasks() -> Vec<Box<dyn Task>> {
    Vec::new()
}
