//! R1 — VQA for Artistic-Style Images / OOD Artistic (Robustness / OOD; spec §8 R1).
//!
//! COCO-O images in six artistic styles (cartoon, handmade, painting, sketch, tattoo,
//! weather): the model describes each image, and a judge decides whether the description
//! mentions the image's object class.

use serde::Deserialize;

use super::common::{self, DESCRIBE, YES_NO_KEY, first_label};
use crate::data::DataError;
use crate::protocol::scoring::Chain;
use crate::protocol::tasks::{LoadContext, SubAspect, Task, TaskInfo, TaskResults, TaskScore, mean};
use crate::sample::{Sample, SplitBuilder, Target};

/// The task.
#[derive(Debug)]
pub struct R1;

pub(crate) const INFO: TaskInfo = TaskInfo {
    id: "R1",
    name: "VQA for Artistic-Style Images",
    sub_aspect: SubAspect::Ood,
    splits: &[
        "coco-o-cartoon",
        "coco-o-handmake",
        "coco-o-painting",
        "coco-o-sketch",
        "coco-o-tattoo",
        "coco-o-weather",
    ],
};

/// One JSON Lines file per style: `label/<style>.json`.
pub(crate) const LABELS: &str = "robustness/ood-artistic/label";
/// The images, named by `image_name`.
pub(crate) const SOURCE: &str = "robustness/ood-artistic/source";

/// One line of a style's label file.
#[derive(Deserialize)]
struct Record {
    image_name: String,
    /// `gt_label[0]`: the object class the description should mention.
    #[serde(rename = "gt_label", deserialize_with = "first_label")]
    object: String,
}

/// The judge question, verbatim; positional slots `(description, object)`.
const JUDGE_TEMPLATE: &str = "Given a chatbot's description of an image: '{}'. If it is stated in the description that there is any '{}'? Please answer 'Yes.' or 'No.'.";

pub(crate) fn style(split: &str) -> &str {
    split.strip_prefix("coco-o-").unwrap_or(split)
}

impl Task for R1 {
    fn info(&self) -> &TaskInfo {
        &INFO
    }

    fn data_files(&self) -> &'static [&'static str] {
        &[LABELS, SOURCE]
    }

    fn load(&self, split: &str, ctx: &LoadContext) -> Result<Vec<Sample>, DataError> {
        let style = style(split);
        let records: Vec<Record> = ctx.data.read_jsonl(&format!("{LABELS}/{style}.json"))?;
        let mut b = SplitBuilder::new(INFO.id, split);
        for record in records {
            let image = ctx.data.image(&format!("{SOURCE}/{}", record.image_name));
            let group = format!("{style}/{}", record.image_name);
            common::push_own_image(&mut b, image, DESCRIBE, Target::Text(record.object), group);
        }
        Ok(b.finish())
    }

    fn max_tokens(&self, _split: &str) -> u32 {
        300
    }

    fn chains(&self, _split: &str) -> Vec<Chain> {
        vec![common::description_chain(INFO.id, JUDGE_TEMPLATE, "100", false)]
    }

    fn score(&self, r: &TaskResults) -> TaskScore {
        let mut s = TaskScore::default();
        let accuracies: Vec<_> =
            INFO.splits.iter().map(|split| s.part(split, "accuracy", r.metric(split, YES_NO_KEY))).collect();
        let score = mean(&accuracies).map(|v| 100.0 * v);
        s.done(score)
    }
}
