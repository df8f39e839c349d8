//! Scorer profiles: which scorer answers each classifier step of the benchmark.
//!
//! The original scores toxicity with the Perspective and moderation APIs, jailbreaks with the
//! HarmBench classifier and refusals with a Longformer action classifier. Not all of them can
//! be run today (Perspective closes after 2026-12-31), so a run names a profile, records it per
//! step, and compares numbers only within one profile.

use serde::{Deserialize, Serialize};

use super::Need;

/// A named set of scorers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScorerProfile {
    /// The original's scorers: `[classifiers.perspective]`, `[classifiers.moderation]`,
    /// `[classifiers.harmbench]`, `[classifiers.action]` and the judge. The only profile
    /// placed on the published leaderboard.
    #[default]
    Original,
    /// Open weights: `[classifiers.toxicity]` (a local toxicity classifier such as Detoxify's
    /// unbiased model) for both toxicity steps, `[classifiers.action]` (the Longformer action
    /// classifier, local or served), `[classifiers.harmbench]` when configured and otherwise
    /// the judge as a marked substitute, and the judge.
    Open,
    /// One chat model, the judge, answers every step; classifier steps with the substitute
    /// prompts of `docs/scoring.md`.
    Judge,
    /// Reference scorers: rules that answer from the sample's own target (the synthetic
    /// default run). Not a judge.
    Reference,
}

/// Who answers one kind of step under a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by", content = "section")]
pub enum StepSource {
    /// The classifier configured in `[classifiers.NAME]`.
    Classifier(&'static str),
    /// The judge, for a judge step.
    Judge,
    /// The judge answering a classifier step with a substitute prompt.
    Substitute,
    /// The reference rules.
    Reference,
}

impl ScorerProfile {
    /// Every profile, in a fixed order.
    pub const ALL: [ScorerProfile; 4] =
        [ScorerProfile::Original, ScorerProfile::Open, ScorerProfile::Judge, ScorerProfile::Reference];

    /// The name used on the command line, in the configuration and in outputs.
    pub fn name(self) -> &'static str {
        match self {
            ScorerProfile::Original => "original",
            ScorerProfile::Open => "open",
            ScorerProfile::Judge => "judge",
            ScorerProfile::Reference => "reference",
        }
    }

    /// The profile of a name.
    pub fn from_name(name: &str) -> Option<ScorerProfile> {
        ScorerProfile::ALL.into_iter().find(|p| p.name() == name)
    }

    /// How a score from this profile is labelled where it is shown.
    pub fn label(self) -> &'static str {
        match self {
            ScorerProfile::Original => "original scorers",
            ScorerProfile::Open => "open scorers",
            ScorerProfile::Judge => "judge-only scorers",
            ScorerProfile::Reference => "reference scorers, not a judge",
        }
    }

    /// Who answers steps of kind `need`; `harmbench_configured` says whether
    /// `[classifiers.harmbench]` is set (the open profile falls back to a substitute).
    pub fn source(self, need: Need, harmbench_configured: bool) -> StepSource {
        match (self, need) {
            (ScorerProfile::Reference, _) => StepSource::Reference,
            (_, Need::Judge) => StepSource::Judge,
            (ScorerProfile::Judge, _) => StepSource::Substitute,
            (ScorerProfile::Original, need) => StepSource::Classifier(need.name()),
            (ScorerProfile::Open, Need::Perspective | Need::Moderation) => StepSource::Classifier("toxicity"),
            (ScorerProfile::Open, Need::HarmBench) if !harmbench_configured => StepSource::Substitute,
            (ScorerProfile::Open, need) => StepSource::Classifier(need.name()),
        }
    }
}

impl std::fmt::Display for ScorerProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_route_each_step() {
        use StepSource::*;
        let p = ScorerProfile::Open;
        assert_eq!(p.source(Need::Perspective, false), Classifier("toxicity"));
        assert_eq!(p.source(Need::Moderation, false), Classifier("toxicity"));
        assert_eq!(p.source(Need::HarmBench, false), Substitute);
        assert_eq!(p.source(Need::HarmBench, true), Classifier("harmbench"));
        assert_eq!(p.source(Need::Action, false), Classifier("action"));
        assert_eq!(ScorerProfile::Original.source(Need::Perspective, false), Classifier("perspective"));
        assert_eq!(ScorerProfile::Judge.source(Need::Action, true), Substitute);
        assert_eq!(ScorerProfile::Judge.source(Need::Judge, true), Judge);
        assert_eq!(ScorerProfile::Reference.source(Need::Judge, true), Reference);
        for p in ScorerProfile::ALL {
            assert_eq!(ScorerProfile::from_name(p.name()), Some(p));
        }
    }
}
