//! T4 — QA under Visual Assistance (Truthfulness / Inherent Deficiency; spec §8 T4).
//!
//! Does a helpful picture help? Factual questions asked text-only, with a picture that shows
//! the answer, and with unrelated pictures.

use super::common::{self, JUDGED_MEAN, assistance, percent};
use crate::data::DataError;
use crate::protocol::scoring::Chain;
use crate::protocol::tasks::SubAspect;
use crate::protocol::tasks::{LoadContext, Pairing, Task, TaskInfo, TaskResults, TaskScore, weighted};
use crate::sample::Sample;

/// The task.
#[derive(Debug)]
pub struct T4;

const INFO: TaskInfo = TaskInfo {
    id: "T4",
    name: "QA under Visual Assistance",
    sub_aspect: SubAspect::InherentDeficiency,
    splits: &[
        "visual-assistance-text",
        "visual-assistance-image",
        "visual-assistance-unrelated-image-color",
        "visual-assistance-unrelated-image-nature",
        "visual-assistance-unrelated-image-noise",
    ],
};

impl Task for T4 {
    fn info(&self) -> &TaskInfo {
        &INFO
    }

    fn data_files(&self) -> &'static [&'static str] {
        &[assistance::ANNOTATION, assistance::HELPFUL, "unrelated_images"]
    }

    /// `visual-assistance-text` is text only, `visual-assistance-image` sends the record's
    /// helpful picture, the unrelated splits a seeded draw from the pool.
    fn load(&self, split: &str, ctx: &LoadContext) -> Result<Vec<Sample>, DataError> {
        assistance::load(ctx, INFO.id, split, Pairing::of(split), assistance::HELPFUL)
    }

    fn max_tokens(&self, _split: &str) -> u32 {
        100
    }

    fn chains(&self, _split: &str) -> Vec<Chain> {
        vec![common::consistency_chain(INFO.id)]
    }

    /// T4 = 0.7 · text + 0.3 · image; the unrelated splits are reported but unused.
    fn score(&self, r: &TaskResults) -> TaskScore {
        let mut s = TaskScore::default();
        let mut acc = |split: &str| s.part(split, "Accuracy", percent(r.metric(split, JUDGED_MEAN)));
        let text = acc("visual-assistance-text");
        let image = acc("visual-assistance-image");
        for split in &INFO.splits[2..] {
            acc(split).ok();
        }
        s.done(weighted(&[(0.7, text), (0.3, image)]))
    }
}
