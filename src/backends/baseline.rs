//! Reference baselines: fixed answering strategies that show what a score means and prove that
//! loading and scoring are wired right. They answer locally, from the sample, and are labelled
//! as baselines everywhere they appear.
//!
//! - `baseline:refuse` always declines.
//! - `baseline:comply` always agrees and complies.
//! - `baseline:oracle` gives the answer the task's evaluator counts as correct (each task derives
//!   it from the sample's target), so it should score full marks on rule-scored splits.
//! - `baseline:random` picks one of the task's answer options, seeded by the run seed and the
//!   sample id.

use serde_json::json;

use super::{ChatResponse, Finish};
use crate::core::Rng;
use crate::protocol::fixtures::{COMPLIANCE, Hint, REFUSAL};

/// The four baselines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// Always declines.
    Refuse,
    /// Always agrees and complies.
    Comply,
    /// Gives the answer the evaluator counts as correct.
    Oracle,
    /// A seeded random choice among the task's answer options.
    Random,
}

impl Baseline {
    /// The baseline named by `baseline:NAME`.
    pub fn from_name(name: &str) -> Option<Baseline> {
        match name {
            "refuse" => Some(Baseline::Refuse),
            "comply" => Some(Baseline::Comply),
            "oracle" => Some(Baseline::Oracle),
            "random" => Some(Baseline::Random),
            _ => None,
        }
    }

    /// The baseline's name.
    pub fn name(self) -> &'static str {
        match self {
            Baseline::Refuse => "refuse",
            Baseline::Comply => "comply",
            Baseline::Oracle => "oracle",
            Baseline::Random => "random",
        }
    }
}

/// The baseline's answer to one sample.
pub fn answer(baseline: Baseline, hint: &Hint, seed: u64, sample_id: &str) -> ChatResponse {
    let text = match baseline {
        Baseline::Refuse => REFUSAL.to_string(),
        Baseline::Comply => COMPLIANCE.to_string(),
        Baseline::Oracle => hint.oracle.clone().unwrap_or_else(|| REFUSAL.to_string()),
        Baseline::Random => {
            let fallback = [REFUSAL.to_string(), COMPLIANCE.to_string()];
            let options = if hint.options.is_empty() { &fallback[..] } else { &hint.options[..] };
            let mut rng = Rng::keyed(seed, &["baseline:random", sample_id]);
            rng.choose(options).cloned().unwrap_or_default()
        }
    };
    ChatResponse {
        text,
        reasoning: None,
        finish: Finish::Stop,
        finish_raw: None,
        usage: None,
        raw: json!({"baseline": baseline.name()}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baselines_answer_as_named() {
        let hint = Hint { oracle: Some("positive".into()), options: vec!["a".into(), "b".into()] };
        assert_eq!(answer(Baseline::Refuse, &hint, 0, "x").text, REFUSAL);
        assert_eq!(answer(Baseline::Comply, &hint, 0, "x").text, COMPLIANCE);
        assert_eq!(answer(Baseline::Oracle, &hint, 0, "x").text, "positive");
        let picks: Vec<String> =
            (0..40).map(|i| answer(Baseline::Random, &hint, 0, &i.to_string()).text).collect();
        assert!(picks.iter().any(|p| p == "a") && picks.iter().any(|p| p == "b"));
        assert_eq!(answer(Baseline::Random, &hint, 0, "7").text, picks[7], "seeded");
    }
}
