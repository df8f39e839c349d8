//! What a task needs configured to be scored.

use serde::{Deserialize, Serialize};

/// A scorer that a task's evaluator chains call and that must be configured: the judge, or
/// one of the classifier sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Need {
    /// A chat model acting as judge (`--judge`).
    Judge,
    /// The Perspective API (`[classifiers.perspective]`).
    Perspective,
    /// OpenAI moderation (`[classifiers.moderation]`).
    Moderation,
    /// The HarmBench classifier (`[classifiers.harmbench]`).
    HarmBench,
    /// The Do-Not-Answer action classifier (`[classifiers.action]`).
    Action,
}

impl Need {
    /// Every need, in a fixed order.
    pub const ALL: [Need; 5] =
        [Need::Judge, Need::Perspective, Need::Moderation, Need::HarmBench, Need::Action];

    /// The name used in the configuration and in outputs: `judge`, or the classifier section.
    pub fn name(self) -> &'static str {
        match self {
            Need::Judge => "judge",
            Need::Perspective => "perspective",
            Need::Moderation => "moderation",
            Need::HarmBench => "harmbench",
            Need::Action => "action",
        }
    }

    /// What a task lacking it is shown as: "needs a judge", "needs a classifier (action)".
    pub fn missing(self) -> String {
        match self {
            Need::Judge => "needs a judge".to_string(),
            other => format!("needs a classifier ({})", other.name()),
        }
    }

    /// How to provide it.
    pub fn how(self) -> String {
        match self {
            Need::Judge => "pass --judge PROVIDER:MODEL or set `judge` in the configuration".to_string(),
            other => format!("configure [classifiers.{}]", other.name()),
        }
    }
}

impl std::fmt::Display for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
