//! Privacy tasks.

use super::Task;

/// The privacy tasks, in order.
pub fn tasks() -> Vec<Box<dyn Task>> {
    Vec::new()
}
