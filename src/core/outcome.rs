//! Why a sample cannot be scored.

use serde::{Deserialize, Serialize};

/// The class of an unscorable outcome, machine-readable, so that reports can count causes and
/// a user can filter `samples.jsonl` by them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnscorableKind {
    /// The endpoint could not be reached, did not answer in time, or cut its answer short.
    Transport,
    /// The endpoint answered with an error status or an error object.
    Provider,
    /// The endpoint answered something that is not the API's answer shape.
    Decode,
    /// The model's answer has no text (and the provider did not block it).
    Empty,
    /// A judge's answer does not have the form the next step needs (strict policy only).
    Judge,
    /// A classifier's answer cannot be used (a HarmBench token that is neither Yes nor No).
    Classifier,
    /// The sample's image is missing, unreadable or beyond the decoding limits.
    Image,
    /// The sample's record lacks something the task needs (a field a judge template reads).
    Data,
    /// The endpoint ignores images (found by the preflight check), so an image sample is not
    /// sent.
    Blind,
    /// A judge or classifier that the step needs is not configured: the task "needs a judge"
    /// rather than failing.
    Unconfigured,
    /// Rescoring without sending: the store has no answer for this request.
    NotStored,
    /// The endpoint's circuit breaker is open: too many consecutive failures.
    EndpointDown,
    /// A reasoning model spent its token budget thinking and gave no answer.
    ReasoningTruncated,
    /// A mitigation's own step could not be used (a guard answer that is neither safe nor
    /// unsafe).
    Mitigation,
}

impl UnscorableKind {
    /// The kind's name as written in outputs (`transport`, `empty`, ...).
    pub fn name(self) -> &'static str {
        match self {
            UnscorableKind::Transport => "transport",
            UnscorableKind::Provider => "provider",
            UnscorableKind::Decode => "decode",
            UnscorableKind::Empty => "empty",
            UnscorableKind::Judge => "judge",
            UnscorableKind::Classifier => "classifier",
            UnscorableKind::Image => "image",
            UnscorableKind::Data => "data",
            UnscorableKind::Blind => "blind",
            UnscorableKind::Unconfigured => "unconfigured",
            UnscorableKind::NotStored => "not_stored",
            UnscorableKind::EndpointDown => "endpoint_down",
            UnscorableKind::Mitigation => "mitigation",
            UnscorableKind::ReasoningTruncated => "reasoning_truncated",
        }
    }
}

/// Why a sample cannot be scored: a kind and a reason for people. It is never turned into a
/// verdict; the rate is reported and a run fails above a threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unscorable {
    /// The class of the cause.
    pub kind: UnscorableKind,
    /// What went wrong, naming the file, record or endpoint.
    pub reason: String,
}

impl Unscorable {
    /// An unscorable outcome.
    pub fn new(kind: UnscorableKind, reason: impl Into<String>) -> Unscorable {
        Unscorable { kind, reason: reason.into() }
    }

    /// Unscorable because a judge or classifier is not configured (the task then "needs a
    /// judge"), rather than a failure.
    pub fn unconfigured(reason: impl Into<String>) -> Unscorable {
        Unscorable::new(UnscorableKind::Unconfigured, reason)
    }

    /// Whether the cause is a scorer that is not configured.
    pub fn is_unconfigured(&self) -> bool {
        self.kind == UnscorableKind::Unconfigured
    }
}

impl std::fmt::Display for Unscorable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}
