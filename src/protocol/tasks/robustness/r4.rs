//! R4 — Image Captioning under Untargeted Attack (Robustness / Adversarial; spec §8 R4).
//!
//! NIPS 2017 adversarial-competition images, clean and after an untargeted attack that pushes
//! them away from their true class. The model describes each image; a judge decides whether
//! the true object is still described. A description that says the image is noisy or
//! manipulated also counts as correct (the attack was noticed).

use serde::Deserialize;

use super::adv_nips::{CLEAN, JUDGE_TEMPLATE, LABELS, UNTARGET};
use super::common::{self, DESCRIBE, YES_NO_KEY, first_label};
use crate::data::DataError;
use crate::protocol::scoring::Chain;
use crate::protocol::tasks::{LoadContext, SubAspect, Task, TaskInfo, TaskResults, TaskScore};
use crate::sample::{Sample, SplitBuilder, Target};

/// The task.
#[derive(Debug)]
pub struct R4;

const INFO: TaskInfo = TaskInfo {
    id: "R4",
    name: "Image Captioning under Untargeted Attack",
    sub_aspect: SubAspect::AdversarialAttack,
    splits: &["adv-clean", "adv-untarget"],
};

/// One line of the label file; only the true class is used here.
#[derive(Deserialize)]
struct Record {
    image_name: String,
    /// `untarget[0]`: the true object class, which the attack tries to hide.
    #[serde(rename = "untarget", deserialize_with = "first_label")]
    object: String,
}

impl Task for R4 {
    fn info(&self) -> &TaskInfo {
        &INFO
    }

    fn data_files(&self) -> &'static [&'static str] {
        &[LABELS, CLEAN, UNTARGET]
    }

    fn load(&self, split: &str, ctx: &LoadContext) -> Result<Vec<Sample>, DataError> {
        let folder = if split == "adv-clean" { CLEAN } else { UNTARGET };
        let records: Vec<Record> = ctx.data.read_jsonl(LABELS)?;
        let mut b = SplitBuilder::new(INFO.id, split);
        for record in records {
            let image = ctx.data.image(&format!("{folder}/{}", record.image_name));
            // The clean and the attacked image of a record are resampled together.
            let group = record.image_name.clone();
            common::push_own_image(&mut b, image, DESCRIBE, Target::Text(record.object), group);
        }
        Ok(b.finish())
    }

    fn max_tokens(&self, _split: &str) -> u32 {
        300
    }

    fn chains(&self, _split: &str) -> Vec<Chain> {
        // Noticing the noise counts as describing the object: full score "Yes.".
        vec![common::description_chain(INFO.id, JUDGE_TEMPLATE, "Yes.", true)]
    }

    fn score(&self, r: &TaskResults) -> TaskScore {
        let mut s = TaskScore::default();
        // The score script reports both files; only the attacked one is ranked.
        s.part("adv-clean", "accuracy", r.metric("adv-clean", YES_NO_KEY)).ok();
        let attacked = s.part("adv-untarget", "accuracy", r.metric("adv-untarget", YES_NO_KEY));
        s.done(attacked.map(|v| 100.0 * v))
    }
}
