//! U1 — POPE, object hallucination (Utility; Li et al., EMNLP 2023).
//!
//! Yes/no questions "Is there a X in the image?" on COCO pictures, half of them about objects
//! that are not there, drawn at random, among the most frequent objects (popular) or among
//! objects that often appear together with the ones present (adversarial). Scored by rule:
//! accuracy, precision, recall, F1 and the share of "yes" answers (a model that says yes to
//! everything has F1 0.67 and yes-ratio 1). The task score is the mean F1 × 100.
//!
//! Layout, as POPE publishes it: `utility/pope/coco_pope_<split>.json`, one JSON object a line
//! (`question_id`, `image`, `text`, `label` "yes" or "no"), and the COCO val2014 pictures in
//! `utility/pope/images/`.

use serde::Deserialize;
use serde_json::{Map, json};

use crate::data::DataError;
use crate::protocol::scoring::{Chain, Metric, Rule};
use crate::protocol::tasks::privacy::{push_image, record_image};
use crate::protocol::tasks::{LoadContext, SubAspect, Task, TaskInfo, TaskResults, TaskScore, mean};
use crate::sample::{Sample, SplitBuilder, Target};

/// The task.
#[derive(Debug)]
pub struct U1;

const INFO: TaskInfo = TaskInfo {
    id: "U1",
    name: "POPE",
    sub_aspect: SubAspect::Utility,
    splits: &["random", "popular", "adversarial"],
};

/// The question files, by split.
pub fn file(split: &str) -> String {
    format!("utility/pope/coco_pope_{split}.json")
}

/// The pictures.
pub const IMAGES: &str = "utility/pope/images";

/// What follows each question (the short-answer instruction of common POPE evaluations).
pub const SUFFIX: &str = " Please answer yes or no.";

#[derive(Deserialize)]
struct Record {
    question_id: serde_json::Value,
    image: String,
    text: String,
    label: String,
}

const METRICS: [Metric; 5] =
    [Metric::Accuracy, Metric::Precision, Metric::Recall, Metric::F1, Metric::PredMean];

const RULE: &str = "rule_yes_or_no_eval";

impl Task for U1 {
    fn info(&self) -> &TaskInfo {
        &INFO
    }

    fn data_files(&self) -> &'static [&'static str] {
        &[
            "utility/pope/coco_pope_random.json",
            "utility/pope/coco_pope_popular.json",
            "utility/pope/coco_pope_adversarial.json",
            IMAGES,
        ]
    }

    fn load(&self, split: &str, ctx: &LoadContext) -> Result<Vec<Sample>, DataError> {
        let rel = file(split);
        let mut b = SplitBuilder::new(INFO.id, split);
        for (i, record) in ctx.data.read_jsonl::<Record>(&rel)?.into_iter().enumerate() {
            let label = match record.label.trim().to_lowercase().as_str() {
                "yes" => 1,
                "no" => 0,
                other => {
                    return Err(DataError::malformed(
                        &ctx.data.shown(&rel),
                        format!("line {}", i + 1),
                        format!("`label` must be \"yes\" or \"no\", not \"{other}\""),
                    ));
                }
            };
            let path = format!("{IMAGES}/{}", record.image);
            let Some(image) = record_image(ctx, &path)? else {
                ctx.log.skip(format!("{}: image missing, record dropped", ctx.data.shown(&rel)));
                continue;
            };
            let extra: Map<_, _> =
                [("question_id".to_string(), json!(record.question_id))].into_iter().collect();
            let group = format!("{split}/{}", record.image);
            push_image(
                &mut b,
                format!("{}{SUFFIX}", record.text.trim()),
                image,
                Target::Int(label),
                extra,
                group,
            );
        }
        Ok(b.finish())
    }

    fn max_tokens(&self, _split: &str) -> u32 {
        16
    }

    /// The benchmark's yes/no rule with "yes" as its only template: "yes" in the first five
    /// characters is yes, "no" in the first four is no, otherwise whether "yes" occurs.
    fn chains(&self, _split: &str) -> Vec<Chain> {
        vec![Chain::rule(Rule::yes_no_with(&["yes"]), &METRICS)]
    }

    fn score(&self, r: &TaskResults) -> TaskScore {
        let mut s = TaskScore::default();
        let mut f1s = Vec::new();
        for split in INFO.splits {
            for (name, metric) in [
                ("accuracy", Metric::Accuracy),
                ("precision", Metric::Precision),
                ("recall", Metric::Recall),
                ("f1", Metric::F1),
                ("yes_ratio", Metric::PredMean),
            ] {
                let value = s.part(split, name, r.metric(split, &format!("{RULE}:{}", metric.id())));
                if name == "f1" {
                    f1s.push(value.map(|v| v * 100.0));
                }
            }
        }
        let score = mean(&f1s);
        s.done(score)
    }
}
