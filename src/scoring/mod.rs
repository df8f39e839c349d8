//! Scoring: evaluator chains, the rule, judge and classifier evaluators, and the metrics.
//!
//! A task scores a split with one or more [`Chain`]s, each a sequence of evaluators whose last
//! step feeds the metrics, named as the original names them (`a->b:metric`, `a:pred_no_op` for
//! intermediate steps). Every per-sample value is computed once; subset metrics and bootstrap
//! resamples reuse them, so no judge or classifier is ever called twice for one sample.

pub mod chain;
pub mod classifiers;
pub mod judge;
pub mod metrics;
pub mod rules;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

pub use chain::{Chain, ChainSpec, Rule, SampleScore, SplitScores, Step, score_split};
pub use classifiers::{Classifier, ClassifierSet};
pub use judge::{Expect, Judge, JudgeScore, JudgeTrace};
pub use metrics::Metric;

use crate::engine::Engine;
use crate::models::ChatService;

/// A per-sample value: a text (a judge's answer), an integer (a 0/1 verdict) or a float (a
/// toxicity score, an agreement score, NaN for a failed parse).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// An integer.
    Int(i64),
    /// A float (NaN allowed; written as `null`).
    Float(f64),
    /// A text.
    Text(String),
}

impl Value {
    /// The value as a number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Text(_) => None,
        }
    }

    /// The value as text (numbers in Python's `str()` form).
    pub fn as_text(&self) -> String {
        match self {
            Value::Int(i) => i.to_string(),
            Value::Float(f) => crate::sample::python_float(*f),
            Value::Text(s) => s.clone(),
        }
    }

    /// The value as JSON (NaN as `null`).
    pub fn to_json(&self) -> Json {
        match self {
            Value::Int(i) => Json::from(*i),
            Value::Float(f) => metrics::json_number(Some(*f)),
            Value::Text(s) => Json::String(s.clone()),
        }
    }
}

/// What scoring has to work with: the engine, the judge and the classifiers that are
/// configured, and template overrides.
#[derive(Debug)]
pub struct Scorer<'a> {
    /// The engine that sends judge and classifier requests (or reads them from the store).
    pub engine: &'a Engine,
    /// The judge, if one is configured.
    pub judge: Option<Arc<ChatService>>,
    /// The classifiers that are configured.
    pub classifiers: ClassifierSet,
    /// Prompt templates overridden from the configuration, by name (`T1:g-basic-grounding`,
    /// `S2`, `harmbench`, ...).
    pub templates: BTreeMap<String, String>,
}

impl<'a> Scorer<'a> {
    /// A scorer with nothing configured but the engine.
    pub fn new(engine: &'a Engine) -> Scorer<'a> {
        Scorer { engine, judge: None, classifiers: ClassifierSet::default(), templates: BTreeMap::new() }
    }
}
