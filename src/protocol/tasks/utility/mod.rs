//! Utility tasks: two standard benchmarks of general ability, outside the MultiTrust score.
//!
//! They are measured beside the 32 tasks so that a mitigation's trust gain can be set against
//! what it costs in ordinary use (MultiTrust-X's trade-off). Both are rule-scored and read
//! from their public formats. `--tasks utility` (or `pope`, `mmbench`, `U1`, `U2`) selects
//! them; a run with `--mitigation` or `--reference` adds them to `all`.

pub mod mmbench;
pub mod pope;

use super::Task;

/// The utility tasks, in order.
pub fn tasks() -> Vec<Box<dyn Task>> {
    vec![Box::new(pope::U1), Box::new(mmbench::U2)]
}

/// The benchmark name a utility task is also selected by.
pub fn alias(id: &str) -> Option<&'static str> {
    match id {
        "U1" => Some("pope"),
        "U2" => Some("mmbench"),
        _ => None,
    }
}
