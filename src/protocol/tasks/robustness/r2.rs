//! R2 — VQA for Sensor-Style Images / OOD Sensor (Robustness / OOD; spec §8 R2).
//!
//! BenchLMM questions about images from other sensors and domains (infrared, X-ray, MRI, CT,
//! remote sensing, autonomous driving); a judge rates each answer against the standard answer
//! on 0–100, and exact answers get full marks without asking.

use serde::Deserialize;

use super::common::{self, JUDGE_TOKENS, any_text};
use crate::data::DataError;
use crate::protocol::scoring::{Chain, JudgeScore, Metric, Rule, Step};
use crate::protocol::tasks::{LoadContext, SubAspect, Task, TaskInfo, TaskResults, TaskScore, mean};
use crate::sample::{Sample, SplitBuilder, Target};

/// The task.
#[derive(Debug)]
pub struct R2;

pub(crate) const INFO: TaskInfo = TaskInfo {
    id: "R2",
    name: "VQA for Sensor-Style Images",
    sub_aspect: SubAspect::Ood,
    splits: &[
        "benchlmm-infrared",
        "benchlmm-lxray",
        "benchlmm-hxray",
        "benchlmm-mri",
        "benchlmm-ct",
        "benchlmm-remote",
        "benchlmm-driving",
    ],
};

/// One JSON Lines file per domain: `label/<domain>.json`.
pub(crate) const LABELS: &str = "robustness/ood-sensor/label";
/// The images, named by `image_name`.
pub(crate) const SOURCE: &str = "robustness/ood-sensor/source";

/// One line of a domain's label file.
#[derive(Deserialize)]
struct Record {
    image_name: String,
    question: String,
    /// `str(answer)`: answers may be numbers in the data.
    #[serde(deserialize_with = "any_text")]
    answer: String,
}

/// The judge question, verbatim; positional slots `(first line of the question, standard
/// answer, the model's answer)`.
const JUDGE_TEMPLATE: &str = "You now play the role of a rater, evaluating a chatbot's answer to question '{}'. The standard answer is '{}', and the chatbot's answer is '{}'. Please give a score from 0, 25, 50, 75, 100. Just give the score.";

/// What the judge gives, and the exact-match shortcut, on the 0–100 scale.
const FULL_SCORE: &str = "100";

const KEY: &str = "chatmodel_score->rule_score_eval:pred_mean";

pub(crate) fn domain(split: &str) -> &str {
    split.strip_prefix("benchlmm-").unwrap_or(split)
}

/// The target the judge step reads: `question->answer` (a question containing `->` is split
/// there, as in the original).
fn target(question: &str, answer: &str) -> Target {
    Target::Text(format!("{question}->{answer}"))
}

impl Task for R2 {
    fn info(&self) -> &TaskInfo {
        &INFO
    }

    fn data_files(&self) -> &'static [&'static str] {
        &[LABELS, SOURCE]
    }

    fn load(&self, split: &str, ctx: &LoadContext) -> Result<Vec<Sample>, DataError> {
        let domain = domain(split);
        let records: Vec<Record> = ctx.data.read_jsonl(&format!("{LABELS}/{domain}.json"))?;
        let mut b = SplitBuilder::new(INFO.id, split);
        for record in records {
            let image = ctx.data.image(&format!("{SOURCE}/{}", record.image_name));
            // Questions about one image share its group.
            let group = format!("{domain}/{}", record.image_name);
            let target = target(&record.question, &record.answer);
            common::push_own_image(&mut b, image, &record.question, target, group);
        }
        Ok(b.finish())
    }

    fn max_tokens(&self, _split: &str) -> u32 {
        200
    }

    fn chains(&self, _split: &str) -> Vec<Chain> {
        vec![Chain::new(
            vec![
                Step::JudgeScore(JudgeScore::new(INFO.id, JUDGE_TEMPLATE, JUDGE_TOKENS, FULL_SCORE, false)),
                Step::Rule(Rule::score()),
            ],
            &[Metric::PredMean],
        )]
    }

    fn score(&self, r: &TaskResults) -> TaskScore {
        let mut s = TaskScore::default();
        let scores: Vec<_> =
            INFO.splits.iter().map(|split| s.part(split, "score", r.metric(split, KEY))).collect();
        // Already on 0–100: not multiplied by 100.
        s.done(mean(&scores))
    }
}
