//! Safety tasks.

use super::Task;

/// The safety tasks, in order.
pub fn tasks() -> Vec<Box<dyn Task>> {
    Vec::new()
}
