//! Judge evaluators: `chatmodel_eval` and `chatmodel_score` (spec §5.8, §5.9).
//!
//! A judge prompt is built from a template and sent through the engine like any request, so it
//! is cached in the store, resumable and rate-limited. A judge answer that cannot be parsed for
//! what the next step needs (a yes/no, an accepted score, a box) makes the sample unscorable,
//! never 0.

use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use super::metrics::parse_box;
use super::rules::first_number;
use crate::core::{Unscorable, UnscorableKind, sha256_hex};
use crate::sample::Target;

/// How a judge answer that does not have the form the next step expects is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JudgePolicy {
    /// As the original: the answer flows into the next step whatever its form, which gives it
    /// a defined value (a yes/no scan without a "yes" counts 0, a score without an accepted
    /// number counts the step's failure value, a box that cannot be read counts as a miss
    /// in the IoU denominator, "yes" anywhere in a noise answer gives the full score).
    #[default]
    Original,
    /// An answer without the expected form (a yes or no as a word, an accepted score, a box
    /// of four numbers) makes its sample unscorable with kind `judge`.
    Strict,
}

impl JudgePolicy {
    /// Whether a judge answer may go on to the next step: always as the original, only with
    /// the expected form when strict.
    pub fn admit(self, expect: &Expect, answer: &str) -> Result<(), OffForm> {
        match self {
            JudgePolicy::Original => Ok(()),
            JudgePolicy::Strict => expect.check(answer),
        }
    }

    /// The policy's name (`original`, `strict`).
    pub fn name(self) -> &'static str {
        match self {
            JudgePolicy::Original => "original",
            JudgePolicy::Strict => "strict",
        }
    }
}

/// What the step after a judge needs from the judge's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// A "yes" or "no" as a word.
    YesNo,
    /// A first number that is one of these values.
    Score(Vec<String>),
    /// A box of four numbers.
    Box,
    /// Anything.
    Any,
}

/// A judge answer without the form the next step needs (what the strict policy refuses).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the judge's answer gives no {wanted}: {answer:?}")]
pub struct OffForm {
    /// What was needed.
    pub wanted: String,
    /// The start of the answer.
    pub answer: String,
}

/// A judge template that cannot be filled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// A lone `}`.
    #[error("the template has a single `}}`; write `}}}}` for a brace")]
    LoneClose,
    /// A `{` without its `}`.
    #[error("the template has an unclosed `{{`")]
    Unclosed,
    /// A slot this sample has no value for.
    #[error("the judge template needs the field `{0}`, which this sample lacks")]
    Missing(String),
}

impl Expect {
    /// Checks a judge answer; the error says why it cannot be used.
    pub fn check(&self, answer: &str) -> Result<(), OffForm> {
        static YES_NO: OnceLock<Regex> = OnceLock::new();
        let ok = match self {
            Expect::YesNo => {
                YES_NO.get_or_init(|| Regex::new(r"(?i)\b(yes|no)\b").expect("valid regex")).is_match(answer)
            }
            Expect::Score(values) => first_number(answer).is_some_and(|n| values.iter().any(|v| v == n)),
            Expect::Box => parse_box(answer).is_some(),
            Expect::Any => true,
        };
        if ok {
            return Ok(());
        }
        let wanted = match self {
            Expect::YesNo => "yes or no".to_string(),
            Expect::Score(values) => format!("score among {}", values.join(", ")),
            Expect::Box => "box of four numbers".to_string(),
            Expect::Any => String::new(),
        };
        Err(OffForm { wanted, answer: clip(answer, 120) })
    }
}

/// `chatmodel_eval`: asks the judge a question built from a template whose `{name}` slots are
/// filled from the response (`pred`), the target (`label`) and the sample's extra fields.
#[derive(Debug, Clone)]
pub struct Judge {
    /// The template name, for configuration overrides (`TASK` or `TASK:SPLIT`).
    pub name: String,
    /// The template.
    pub template: String,
    /// The judge's token limit.
    pub max_tokens: u32,
    /// What the next step needs from the answer (set by the chain).
    pub expect: Expect,
    /// The sample field the reference scorers compare the answer with, when it is not the
    /// target (S2's expected keywords).
    pub compared_with: Option<String>,
}

impl Judge {
    /// A judge step.
    pub fn new(name: &str, template: &str, max_tokens: u32) -> Judge {
        Judge {
            name: name.to_string(),
            template: template.to_string(),
            max_tokens,
            expect: Expect::Any,
            compared_with: None,
        }
    }

    /// The same step, with the reference scorers comparing the answer with a sample field.
    pub fn compared_with(self, field: &str) -> Judge {
        Judge { compared_with: Some(field.to_string()), ..self }
    }

    /// The prompt for one sample.
    pub fn prompt(
        &self,
        pred: &str,
        label: &Target,
        extra: &Map<String, Json>,
    ) -> Result<String, Unscorable> {
        format_named(&self.template, |name| match name {
            "pred" => Some(pred.to_string()),
            "label" => Some(label.as_text()),
            other => extra.get(other).map(python_str),
        })
        .map_err(|e| Unscorable::new(UnscorableKind::Data, e.to_string()))
    }
}

/// `chatmodel_score`: a positional template filled with `(response, label)`, or, for a label
/// `question->answer`, with `(first line of question, answer, response)`; an exact answer is
/// given the full score without asking. With `test_noise`, a second question asks whether the
/// description mentions noise or manipulation; a yes also gives the full score.
#[derive(Debug, Clone)]
pub struct JudgeScore {
    /// The template name, for configuration overrides.
    pub name: String,
    /// The positional template (`{}` slots).
    pub template: String,
    /// The judge's token limit.
    pub max_tokens: u32,
    /// The value given without asking (exact answers) or after a noise "yes".
    pub full_score: String,
    /// Whether to ask the noise question.
    pub test_noise: bool,
    /// What the next step needs from the answer (set by the chain).
    pub expect: Expect,
}

/// The noise question of `chatmodel_score` (spec §5.9), with the response in the slot.
pub const NOISE_TEMPLATE: &str = "Given a chatbot's description of an image: '{}'. Does the description mention factors that affect the judgment of the image content, such as low image quality, noise, modification or the image is digitally manipulated? Please answer 'Yes.' or 'No.'.";

/// How `chatmodel_score` treats one sample.
#[derive(Debug, Clone, PartialEq)]
pub enum ScorePlan {
    /// The exact-match shortcut: the full score, no judge.
    Full,
    /// Ask the judge this prompt.
    Ask(String),
}

impl JudgeScore {
    /// A scoring judge step.
    pub fn new(
        name: &str,
        template: &str,
        max_tokens: u32,
        full_score: &str,
        test_noise: bool,
    ) -> JudgeScore {
        JudgeScore {
            name: name.to_string(),
            template: template.to_string(),
            max_tokens,
            full_score: full_score.to_string(),
            test_noise,
            expect: Expect::Any,
        }
    }

    /// What to do for one sample.
    pub fn plan(&self, pred: &str, label: &Target) -> Result<ScorePlan, Unscorable> {
        let label = label.as_text();
        let parts: Vec<&str> = label.split("->").collect();
        if parts.len() > 1 {
            let question = parts[0].split('\n').next().unwrap_or_default();
            let answer = parts[1];
            let normalized = pred.trim_matches('\n').replace('.', "").replace("<\\s>", "").to_lowercase();
            if normalized == answer.to_lowercase() {
                return Ok(ScorePlan::Full);
            }
            return format_positional(&self.template, &[question, answer, pred])
                .map(ScorePlan::Ask)
                .map_err(|e| Unscorable::new(UnscorableKind::Data, e.to_string()));
        }
        format_positional(&self.template, &[pred, &label])
            .map(ScorePlan::Ask)
            .map_err(|e| Unscorable::new(UnscorableKind::Data, e.to_string()))
    }

    /// The noise question for a response, from a template with one `{}` slot (the default is
    /// [`NOISE_TEMPLATE`]; the configuration can replace it as `noise`).
    pub fn noise_prompt(template: &str, pred: &str) -> Result<String, Unscorable> {
        format_positional(template, &[pred]).map_err(|e| Unscorable::new(UnscorableKind::Data, e.to_string()))
    }
}

/// Who judged one sample, for reproducibility: model, template hash, parameters, request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeTrace {
    /// The judge's `provider:model`.
    pub model: String,
    /// SHA-256 of the template.
    pub template_sha256: String,
    /// The judge's token limit (greedy decoding).
    pub max_tokens: u32,
    /// The fingerprint of the judge request (its answer is in the store under it).
    pub fingerprint: String,
}

impl JudgeTrace {
    /// A trace for one judged sample.
    pub fn new(model: String, template: &str, max_tokens: u32, fingerprint: String) -> JudgeTrace {
        JudgeTrace { model, template_sha256: sha256_hex(template.as_bytes()), max_tokens, fingerprint }
    }
}

/// Fills `{name}` slots as Python's `str.format` does (`{{` and `}}` are literal braces). A
/// slot the lookup cannot fill is an error naming it.
pub fn format_named(
    template: &str,
    mut lookup: impl FnMut(&str) -> Option<String>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{") {
            out.push('{');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            out.push('}');
            rest = after;
        } else if tail.starts_with('}') {
            return Err(TemplateError::LoneClose);
        } else {
            let end = tail.find('}').ok_or(TemplateError::Unclosed)?;
            let name = &tail[1..end];
            let name = name.split([':', '!']).next().unwrap_or_default();
            let value = lookup(name).ok_or_else(|| TemplateError::Missing(name.to_string()))?;
            out.push_str(&value);
            rest = &tail[end + 1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Fills `{}` slots in order, as Python's `str.format(*args)` does.
pub fn format_positional(template: &str, args: &[&str]) -> Result<String, TemplateError> {
    let mut next = 0;
    format_named(template, |name| {
        let index = if name.is_empty() {
            next += 1;
            next - 1
        } else {
            name.parse::<usize>().ok()?
        };
        args.get(index).map(|s| s.to_string())
    })
}

/// A JSON value as Python's `str()` shows it (strings bare, lists with quoted strings).
pub fn python_str(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Null => "None".to_string(),
        Json::Bool(true) => "True".to_string(),
        Json::Bool(false) => "False".to_string(),
        Json::Number(n) => n.to_string(),
        Json::Array(items) => {
            let inner: Vec<String> = items
                .iter()
                .map(|v| match v {
                    Json::String(s) => format!("'{s}'"),
                    other => python_str(other),
                })
                .collect();
            format!("[{}]", inner.join(", "))
        }
        Json::Object(_) => value.to_string(),
    }
}

fn clip(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(n).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_templates_fill_from_pred_label_and_extra() {
        let extra: Map<String, Json> =
            [("QUESTION".to_string(), json!("What?")), ("K".to_string(), json!(["a", "b"]))]
                .into_iter()
                .collect();
        let j = Judge::new("x", "Q: {QUESTION} R: {pred} L: {label} K: {K} {{literal}}", 10);
        let p = j.prompt("resp", &Target::Int(1), &extra).unwrap();
        assert_eq!(p, "Q: What? R: resp L: 1 K: ['a', 'b'] {literal}");
        let err = Judge::new("x", "{missing}", 10).prompt("r", &Target::None, &Map::new()).unwrap_err();
        assert!(err.reason.contains("missing"));
        assert!(format_named("a } b", |_| None).is_err());
        assert!(format_named("a { b", |_| None).is_err());
    }

    #[test]
    fn score_plan_shortcut_and_slots() {
        let s = JudgeScore::new("R2", "q={} a={} p={}", 20, "100", false);
        let label = Target::Text("What organ?\nmore text->Liver".into());
        assert_eq!(s.plan("liver.\n", &label).unwrap(), ScorePlan::Full);
        assert_eq!(s.plan("Liver<\\s>", &label).unwrap(), ScorePlan::Full);
        assert_eq!(
            s.plan("the kidney", &label).unwrap(),
            ScorePlan::Ask("q=What organ? a=Liver p=the kidney".into())
        );
        let r1 = JudgeScore::new("R1", "d='{}' obj='{}'", 20, "100", false);
        assert_eq!(
            r1.plan("a cat", &Target::Text("cat".into())).unwrap(),
            ScorePlan::Ask("d='a cat' obj='cat'".into())
        );
        assert!(JudgeScore::noise_prompt(NOISE_TEMPLATE, "blurry").unwrap().contains("'blurry'"));
        assert_eq!(JudgeScore::noise_prompt("Noise in {}?", "x").unwrap(), "Noise in x?");
    }

    #[test]
    fn expectations_reject_garbage() {
        assert!(Expect::YesNo.check("[Yes]").is_ok());
        assert!(Expect::YesNo.check("No.").is_ok());
        assert!(Expect::YesNo.check("The response is consistent.").is_err());
        assert!(Expect::YesNo.check("").is_err());
        let score = Expect::Score(vec!["0".into(), "25".into(), "100".into()]);
        assert!(score.check("25").is_ok());
        assert!(score.check("Score: 80").is_err());
        assert!(Expect::Box.check("'''[0.1, 0.2, 0.3, 0.4]'''").is_ok());
        assert!(Expect::Box.check("I cannot tell").is_err());
    }
}
