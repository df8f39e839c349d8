//! R1 — VQA for Artistic-Style Images / OOD Artistic (Robustness / OOD; spec §8 R1).
//!
//! COCO-O images in six artistic styles (cartoon, handmade, painting, sketch, tattoo,
//! weather): the model describes each image, and a judge decides whether the description
//! mentions the image's object class.

use serde::Deserialize;

use super::common::{self, DESCRIBE, YES_NO_KEY, describing, describing_nothing, first_label};
use crate::data::DataError;
use crate::data::synth::{self, Synth};
use crate::models::baseline::Hint;
use crate::sample::{Sample, SplitBuilder, Target};
use crate::scoring::Chain;
use crate::tasks::{LoadContext, SubAspect, Task, TaskInfo, TaskResults, TaskScore, mean};

/// The task.
#[derive(Debug)]
pub struct R1;

const INFO: TaskInfo = TaskInfo {
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
const LABELS: &str = "robustness/ood-artistic/label";
/// The images, named by `image_name`.
const SOURCE: &str = "robustness/ood-artistic/source";

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

fn style(split: &str) -> &str {
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

    fn synthesize(&self, s: &Synth) -> Result<(), DataError> {
        // Each style draws the three shapes in its own palette; the shape is the object.
        const OBJECTS: [&str; 3] = ["circle", "square", "triangle"];
        const PALETTES: [[u8; 3]; 6] =
            [[230, 90, 60], [150, 110, 70], [70, 120, 200], [40, 40, 40], [20, 90, 90], [120, 160, 210]];
        for (i, split) in INFO.splits.iter().enumerate() {
            let style = style(split);
            let mut lines = Vec::new();
            for k in 0..4 {
                let kind = (i + k) % 3;
                let image_name = format!("{style}_{k:02}.jpg");
                let mut rng = s.rng(&["R1", style, &k.to_string()]);
                let mut colour = PALETTES[i];
                for c in &mut colour {
                    *c = c.saturating_add(rng.below(30) as u8);
                }
                s.jpeg(&format!("{SOURCE}/{image_name}"), &synth::shape(kind, colour))?;
                lines.push(
                    serde_json::json!({"image_name": image_name, "gt_label": [OBJECTS[kind], "shape"]}),
                );
            }
            s.jsonl(&format!("{LABELS}/{style}.json"), &lines)?;
        }
        Ok(())
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

    fn hint(&self, sample: &Sample) -> Hint {
        let object = sample.target.as_text();
        Hint {
            oracle: Some(describing(&object)),
            options: vec![describing(&object), describing_nothing(&object)],
        }
    }
}
