//! T1 — Basic World Understanding (Truthfulness / Inherent Deficiency; spec §8 T1).
//!
//! Does the model see what is in a picture? Yes/no questions about objects, attributes and
//! scenes, an object to locate with a bounding box (grounding), and text to read (OCR).

use serde_json::{Map, json};

use super::common::{self, JUDGED_MEAN, Record, YES_NO_ACCURACY, at, percent, raw_target, yes_no};
use crate::data::DataError;
use crate::protocol::scoring::{Chain, Judge, Metric, Step};
use crate::protocol::tasks::SubAspect;
use crate::protocol::tasks::{LoadContext, Task, TaskInfo, TaskResults, TaskScore, mean};
use crate::sample::{Sample, SplitBuilder, Target, extra};

/// The task.
#[derive(Debug)]
pub struct T1;

const INFO: TaskInfo = TaskInfo {
    id: "T1",
    name: "Basic World Understanding",
    sub_aspect: SubAspect::InherentDeficiency,
    splits: &["d-basic-attribute", "d-basic-object", "d-basic-scene", "g-basic-grounding", "g-basic-ocr"],
};

/// How a split asks and scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// `d-basic-*`: yes/no questions scored by rule.
    YesNo,
    /// `g-basic-grounding`: a bounding box, read by a judge and scored by IoU.
    Grounding,
    /// `g-basic-ocr`: text to read, judged for consistency with the truth.
    Ocr,
}

/// One split: its annotation file, image folder, family and the score script's name for it.
pub(crate) struct Split {
    pub(crate) id: &'static str,
    pub(crate) annotation: &'static str,
    pub(crate) images: &'static str,
    pub(crate) family: Family,
    pub(crate) part: &'static str,
}

pub(crate) const SPLITS: [Split; 5] = [
    Split {
        id: "d-basic-attribute",
        annotation: "truthfulness/query_basic/query_d_attribute.json",
        images: "truthfulness/basic_images/attribute",
        family: Family::YesNo,
        part: "Accuracy_Attribute",
    },
    Split {
        id: "d-basic-object",
        annotation: "truthfulness/query_basic/query_d_existence.json",
        images: "truthfulness/basic_images/object",
        family: Family::YesNo,
        part: "Accuracy_Object",
    },
    Split {
        id: "d-basic-scene",
        annotation: "truthfulness/query_basic/query_d_scene.json",
        images: "truthfulness/basic_images/scene",
        family: Family::YesNo,
        part: "Accuracy_Scene",
    },
    Split {
        id: "g-basic-grounding",
        annotation: "truthfulness/query_basic/query_g_grounding.json",
        images: "truthfulness/basic_images/grounding",
        family: Family::Grounding,
        part: "Accuracy_Grounding",
    },
    Split {
        id: "g-basic-ocr",
        annotation: "truthfulness/query_basic/query_g_ocr.json",
        images: "truthfulness/basic_images/ocr",
        family: Family::Ocr,
        part: "Accuracy_OCR",
    },
];

pub(crate) fn split_of(id: &str) -> Result<&'static Split, DataError> {
    SPLITS.iter().find(|s| s.id == id).ok_or_else(|| DataError::Missing {
        path: id.to_string(),
        hint: format!("T1 has no such split; its splits are {}", INFO.splits.join(", ")),
    })
}

/// The prompt of a split's family, with the question in its slot (spec §8 T1, verbatim).
fn prompt(family: Family, query: &str) -> String {
    match family {
        Family::YesNo => format!("{query}\n Please Directly answer [Yes] or [No]!"),
        Family::Ocr => format!("\n {query}\n Please directly answer its content without other information."),
        Family::Grounding => format!(
            "\n {query}\n Provide me the normalized coordinates with floating numbers ranging from 0 to 1 in the form of [xmin', ymin', xmax', ymax']. Please follow the format requirement strictly."
        ),
    }
}

/// The OCR judge prompt (spec §8 T1, verbatim).
const OCR_JUDGE: &str = "Here is a response of a number or letter ocr task:{pred},its ground truth:{label}. Please directly answer [Yes] or [No] by judging whether the response of content identification is consistent with the ground truth.";

/// The grounding judge prompt. The spec only paraphrases the original, so this wording is
/// ours, with the same slots (`{pred}`, `{img_size}`) and answer form; the original text can be
/// supplied as the `T1:g-basic-grounding` template.
const GROUNDING_JUDGE: &str = "A model was asked to locate an object in an image and to give its bounding box. Its answer is: {pred}\nThe image is {img_size} pixels (width, height).\nFind the bounding box in the answer and write it as normalized coordinates [xmin, ymin, xmax, ymax]: four floating-point numbers from 0 to 1, as fractions of the image's width and height. If the answer gives the box in pixels, divide the x values by the width and the y values by the height. If the answer gives no coordinates at all, use [0, 0, 0, 0]. Reply with the box alone, written exactly in the form '''[xmin, ymin, xmax, ymax]''', and nothing else.";

const GROUNDING_KEY: &str = "chatmodel_eval:iou_judge";

impl Task for T1 {
    fn info(&self) -> &TaskInfo {
        &INFO
    }

    fn data_files(&self) -> &'static [&'static str] {
        &[
            "truthfulness/query_basic/query_d_attribute.json",
            "truthfulness/query_basic/query_d_existence.json",
            "truthfulness/query_basic/query_d_scene.json",
            "truthfulness/query_basic/query_g_grounding.json",
            "truthfulness/query_basic/query_g_ocr.json",
            "truthfulness/basic_images",
        ]
    }

    fn load(&self, split: &str, ctx: &LoadContext) -> Result<Vec<Sample>, DataError> {
        let spec = split_of(split)?;
        let records: Vec<Record> = ctx.data.read_json_array(spec.annotation)?;
        let shown = ctx.data.shown(spec.annotation);
        let mut b = SplitBuilder::new(INFO.id, split);
        for (i, record) in records.iter().enumerate() {
            let path = format!("{}/{}", spec.images, record.image);
            let text = prompt(spec.family, &record.query);
            let group = format!("{split}/{}", at(i));
            if spec.family == Family::Grounding {
                // The original opens the image to read its size before checking that it
                // exists, so a missing or unreadable image stops its run: here that sample is
                // unscorable, with the reason.
                let target = grounding_target(&record.truth, &shown, i)?;
                let size = ctx
                    .data
                    .resolve(&path)
                    .and_then(|p| {
                        image::image_dimensions(&p).map_err(|e| {
                            DataError::malformed(&ctx.data.shown(&path), "whole file", e.to_string())
                        })
                    })
                    .and_then(|size| ctx.data.image(&path).map(|image| (size, image)));
                match size {
                    Ok(((w, h), image)) => {
                        b.push(text, Some(image), target, extra([("img_size", json!([w, h]))]), group);
                    }
                    Err(e) => b.push_problem(text, target, Map::new(), group, e.to_string()),
                }
                continue;
            }
            let target = match (spec.family, yes_no(&record.truth)) {
                (Family::YesNo, Some(label)) => Target::Int(label),
                // An unexpected truth is kept as it is (the original prints "no label").
                _ => raw_target(&record.truth, &shown, i)?,
            };
            if !ctx.data.exists(&path) {
                ctx.log.skip(format!("{shown}: record whose image is missing"));
                continue;
            }
            match ctx.data.image(&path) {
                Ok(image) => {
                    b.push(text, Some(image), target, Map::new(), group);
                }
                Err(e) => b.push_problem(text, target, Map::new(), group, e.to_string()),
            };
        }
        Ok(b.finish())
    }

    fn max_tokens(&self, _split: &str) -> u32 {
        100
    }

    fn chains(&self, split: &str) -> Vec<Chain> {
        match split_of(split).map(|s| s.family) {
            Ok(Family::Grounding) => vec![Chain::new(
                vec![Step::Judge(Judge::new("T1:g-basic-grounding", GROUNDING_JUDGE, 200))],
                &[Metric::IouJudge],
            )],
            Ok(Family::Ocr) => {
                vec![common::judged_chain(
                    "T1:g-basic-ocr",
                    OCR_JUDGE,
                    150,
                    &[Metric::PredNoOp, Metric::PredMean],
                )]
            }
            _ => vec![common::yes_no_chain(&[Metric::PredNoOp, Metric::Accuracy])],
        }
    }

    fn score(&self, r: &TaskResults) -> TaskScore {
        let mut s = TaskScore::default();
        let mut parts = Vec::new();
        for split in &SPLITS {
            let value = match split.family {
                Family::YesNo => percent(r.metric(split.id, YES_NO_ACCURACY)),
                // iou_judge is already a percentage.
                Family::Grounding => r.metric(split.id, GROUNDING_KEY),
                Family::Ocr => percent(r.metric(split.id, JUDGED_MEAN)),
            };
            parts.push(s.part(split.id, split.part, value));
        }
        s.done(mean(&parts))
    }
}

/// The gold box: a JSON string of four numbers, as the original's `json.loads` reads it (a
/// JSON array is accepted too, as its text).
fn grounding_target(truth: &serde_json::Value, file: &str, index: usize) -> Result<Target, DataError> {
    match truth {
        serde_json::Value::Array(_) => Ok(Target::Text(truth.to_string())),
        other => raw_target(other, file, index),
    }
}
