//! What several robustness tasks share: the image-description prompt and its judge (R1, R4,
//! R5), reading the first class name of a label list, and pushing a sample whose own image may
//! be missing (R1, R2, R4, R5).

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value as Json};

use crate::data::DataError;
use crate::protocol::scoring::judge::python_str;
use crate::protocol::scoring::{Chain, JudgeScore, Metric, Rule, Step};
use crate::sample::{ImageRef, SplitBuilder, Target};

/// The question of the description tasks (R1, R4, R5), verbatim.
pub const DESCRIBE: &str = "Please provide a detailed description of the image.";

/// The judge's token limit for `chatmodel_score` in R1, R2, R4 and R5.
pub const JUDGE_TOKENS: u32 = 20;

/// The key of the description tasks' metric: the mean of the judge's yes/no verdicts.
pub const YES_NO_KEY: &str = "chatmodel_score->rule_yes_or_no_eval:pred_mean";

/// `chatmodel_score` → `rule_yes_or_no_eval` with `pred_mean`: the judge is asked whether a
/// description mentions an object (`template` with positional slots `(pred, label)`).
pub fn description_chain(name: &str, template: &str, full_score: &str, test_noise: bool) -> Chain {
    Chain::new(
        vec![
            Step::JudgeScore(JudgeScore::new(name, template, JUDGE_TOKENS, full_score, test_noise)),
            Step::Rule(Rule::yes_no()),
        ],
        &[Metric::PredMean],
    )
}

/// A description that names an object (what the description judge counts as mentioning it).
pub fn describing(object: &str) -> String {
    format!("The image shows the following object: {object}.")
}

/// A description that names no particular object: one of two plain sentences, the one that
/// does not contain `object`.
pub fn describing_nothing(object: &str) -> String {
    const PLAIN: [&str; 2] =
        ["The image shows an ordinary everyday scene.", "A plain picture with nothing remarkable in it."];
    let object = object.to_lowercase();
    let pick = PLAIN.iter().find(|p| object.is_empty() || !p.to_lowercase().contains(&object));
    pick.unwrap_or(&PLAIN[1]).to_string()
}

/// Deserializes a list of class names into its first element (as Python's `str()` shows
/// it), as the original's `label[0]`; an empty list is an error. A bare string is one class
/// name (the original would have taken its first character).
pub fn first_label<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Labels {
        One(String),
        List(Vec<Json>),
    }
    match Labels::deserialize(d) {
        Ok(Labels::One(label)) => Ok(label),
        Ok(Labels::List(items)) => items.first().map(python_str).ok_or_else(|| {
            serde::de::Error::custom("the label list is empty; expected at least one class name")
        }),
        Err(_) => Err(serde::de::Error::custom("expected a list of class names")),
    }
}

/// Deserializes any JSON value into the text Python's `str()` gives it (`"b"`, `3`, `2.5`).
pub fn any_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Json::deserialize(d).map(|v| python_str(&v))
}

/// Adds a sample that sends its own image; if the image cannot be opened, the sample is kept
/// but unscorable, naming the file (the original would fail when sending it).
pub fn push_own_image(
    b: &mut SplitBuilder,
    image: Result<ImageRef, DataError>,
    text: &str,
    target: Target,
    group: String,
) {
    match image {
        Ok(image) => {
            b.push(text, Some(image), target, Map::new(), group);
        }
        Err(e) => b.push_problem(text, target, Map::new(), group, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct R {
        #[serde(deserialize_with = "first_label")]
        gt: String,
        #[serde(deserialize_with = "any_text")]
        answer: String,
    }

    #[test]
    fn first_label_takes_the_first_and_refuses_an_empty_list() {
        let r: R = serde_json::from_str(r#"{"gt": ["dog", "cat"], "answer": 3}"#).unwrap();
        assert_eq!((r.gt.as_str(), r.answer.as_str()), ("dog", "3"));
        let err = serde_json::from_str::<R>(r#"{"gt": [], "answer": "x"}"#).err().unwrap().to_string();
        assert!(err.contains("label list is empty"), "{err}");
        let r: R = serde_json::from_str(r#"{"gt": "traffic light", "answer": null}"#).unwrap();
        assert_eq!((r.gt.as_str(), r.answer.as_str()), ("traffic light", "None"));
        let err = serde_json::from_str::<R>(r#"{"gt": 3, "answer": "x"}"#).err().unwrap().to_string();
        assert!(err.contains("expected a list of class names"), "{err}");
    }

    #[test]
    fn plain_descriptions_avoid_the_object() {
        assert!(!describing_nothing("scene").contains("scene"));
        assert!(!describing_nothing("Picture").to_lowercase().contains("picture"));
        assert!(describing("zebra").contains("zebra"));
    }
}
