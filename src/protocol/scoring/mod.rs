//! Scoring: evaluator chains, the rule, judge and classifier evaluators, and the metrics.
//!
//! A task scores a split with one or more [`Chain`]s, each a sequence of evaluators whose last
//! step feeds the metrics, named as the original names them (`a->b:metric`, `a:pred_no_op` for
//! intermediate steps). Every per-sample value is computed once; subset metrics and bootstrap
//! resamples reuse them, so no judge or classifier is ever called twice for one sample.

pub mod chain;
pub mod classifier;
pub mod judge;
pub mod metrics;
pub mod reference;
pub mod rules;
pub mod substitute;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

pub use chain::{Chain, ChainSpec, Rule, SampleScore, SplitScores, Step};
pub use classifier::Classifier;
pub use judge::{Expect, Judge, JudgeScore, JudgeTrace};
pub use metrics::Metric;

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

    /// The value as text (numbers in Python's `str()` form); a text is borrowed, not copied.
    pub fn as_text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Value::Int(i) => i.to_string().into(),
            Value::Float(f) => crate::sample::python_float(*f).into(),
            Value::Text(s) => s.as_str().into(),
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
