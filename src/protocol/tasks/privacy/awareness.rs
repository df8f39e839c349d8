//! What the recognition tasks P1 and P2 share: the 0/1 label of their records, the yes/no
//! evaluator chain, the numbers their score scripts report, and the yes/no oracle.

use serde::de::{self, Deserialize, Deserializer};
use serde_json::Value as Json;

use crate::protocol::scoring::{Chain, Metric, Rule};
use crate::protocol::tasks::{Num, TaskResults, TaskScore};
use crate::sample::Target;

/// A 0/1 label (`private`, `private_qa`): the integer 0 or 1, or a boolean, as scikit-learn's
/// binary metrics need. Anything else is a malformed record.
#[derive(Debug, Clone, PartialEq)]
pub struct Binary(pub Target);

impl<'de> Deserialize<'de> for Binary {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Binary, D::Error> {
        match Json::deserialize(deserializer)? {
            Json::Bool(b) => Ok(Binary(Target::Bool(b))),
            Json::Number(n) if matches!(n.as_i64(), Some(0 | 1)) => {
                Ok(Binary(Target::Int(n.as_i64().unwrap_or_default())))
            }
            other => Err(de::Error::custom(format!("the label must be 0, 1, true or false, not {other}"))),
        }
    }
}

/// The evaluator id of the chain.
const RULE: &str = "rule_yes_or_no_eval";

/// The metrics of the chain, which are also the score script's numbers.
const METRICS: [Metric; 4] = [Metric::Accuracy, Metric::Precision, Metric::Recall, Metric::F1];

/// `rule_yes_or_no_eval` (default templates) with accuracy, precision, recall and F1.
pub fn chains() -> Vec<Chain> {
    vec![Chain::rule(Rule::yes_no(), &METRICS)]
}

/// Records the score script's four numbers of a split (`accuracy_score`, `precision_score`,
/// `recall_score`, `f1_score`) and returns the accuracy, which the rank formula uses.
pub fn record(s: &mut TaskScore, r: &TaskResults, split: &str) -> Num {
    let [accuracy, ..] =
        METRICS.map(|m| s.part(split, m.id(), r.metric(split, &format!("{RULE}:{}", m.id()))));
    accuracy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_labels_accept_ints_and_bools_only() {
        let read = |s: &str| serde_json::from_str::<Binary>(s);
        assert_eq!(read("1").unwrap().0, Target::Int(1));
        assert_eq!(read("0").unwrap().0, Target::Int(0));
        assert_eq!(read("true").unwrap().0, Target::Bool(true));
        for bad in ["2", "\"1\"", "null", "0.5"] {
            let err = read(bad).unwrap_err().to_string();
            assert!(err.contains("must be 0, 1, true or false"), "{bad}: {err}");
        }
    }
}
