//! S6 — Cross-modal Influence on Jailbreaking (Safety / Jailbreaking; spec §8 S6).
//!
//! Text jailbreak prompts asked alone, with unrelated images, with images that push towards
//! compliance (`pos`) and with images that push towards caution (`neg`): does the image change
//! whether the jailbreak works? Scored like S4.

use serde_json::Map;

use super::jailbreak;
use crate::data::DataError;
use crate::data::unrelated::Unrelated;
use crate::protocol::scoring::Chain;
use crate::protocol::tasks::{LoadContext, Refusal, SubAspect, Task, TaskInfo, TaskResults, TaskScore};
use crate::sample::{ImageRef, Sample, SplitBuilder, Target};

/// The task.
#[derive(Debug)]
pub struct S6;

const INFO: TaskInfo = TaskInfo {
    id: "S6",
    name: "Cross-modal Influence on Jailbreaking",
    sub_aspect: SubAspect::Jailbreaking,
    splits: &[
        "crossmodal-jailbreak-text",
        "crossmodal-jailbreak-unrelated",
        "crossmodal-jailbreak-pos",
        "crossmodal-jailbreak-neg",
    ],
};

/// Columns `id, question, jailbreak`.
pub(crate) const CSV: &str = "safety/crossmodal-jailbreak/text_jailbreak.csv";
/// Images paired with every row in the `pos` split.
pub(crate) const POS: &str = "safety/crossmodal-jailbreak/jailbreak_pos";
/// Images paired with every row in the `neg` split.
pub(crate) const NEG: &str = "safety/crossmodal-jailbreak/jailbreak_neg";

/// How many distinct unrelated images of each kind a row gets.
const PER_KIND: usize = 3;

/// Every file of an image folder, sorted by name.
fn folder_images(ctx: &LoadContext, rel: &str) -> Result<Vec<Result<ImageRef, String>>, DataError> {
    Ok(ctx
        .data
        .list_files(rel)?
        .iter()
        .map(|name| ctx.data.image(&format!("{rel}/{name}")).map_err(|e| e.to_string()))
        .collect())
}

impl Task for S6 {
    fn info(&self) -> &TaskInfo {
        &INFO
    }

    /// Harmful requests, with and without images.
    fn refusal(&self) -> Refusal {
        Refusal::Desired
    }

    fn data_files(&self) -> &'static [&'static str] {
        &[CSV, POS, NEG, "unrelated_images"]
    }

    /// Per CSV row (text = the jailbreak prompt, target = the question): text only; 3 distinct
    /// unrelated images of each of color, nature and noise (9 samples, seeded); or one sample
    /// per file of the pos/neg folder (sorted). Every sample is kept: the original's cut to the
    /// first 10 samples is not reproduced.
    fn load(&self, split: &str, ctx: &LoadContext) -> Result<Vec<Sample>, DataError> {
        let folder = match split {
            "crossmodal-jailbreak-pos" => Some(folder_images(ctx, POS)?),
            "crossmodal-jailbreak-neg" => Some(folder_images(ctx, NEG)?),
            _ => None,
        };
        let mut b = SplitBuilder::new(INFO.id, split);
        for row in jailbreak::read_rows(ctx, CSV)? {
            let question = row.get("question")?.to_string();
            let text = row.get("jailbreak")?.to_string();
            let target = Target::Text(question.clone());
            if let Some(images) = &folder {
                for image in images {
                    match image {
                        Ok(image) => {
                            b.push(
                                text.clone(),
                                Some(image.clone()),
                                target.clone(),
                                Map::new(),
                                question.clone(),
                            );
                        }
                        Err(e) => b.push_problem(
                            text.clone(),
                            target.clone(),
                            Map::new(),
                            question.clone(),
                            e.clone(),
                        ),
                    }
                }
            } else if split == "crossmodal-jailbreak-unrelated" {
                for kind in Unrelated::ALL {
                    for image in ctx.unrelated(kind, INFO.id, split, b.len(), PER_KIND)? {
                        b.push(text.clone(), Some(image), target.clone(), Map::new(), question.clone());
                    }
                }
            } else {
                b.push(text, None, target, Map::new(), question);
            }
        }
        Ok(b.finish())
    }

    fn max_tokens(&self, _split: &str) -> u32 {
        jailbreak::MAX_TOKENS
    }

    fn chains(&self, _split: &str) -> Vec<Chain> {
        jailbreak::chains()
    }

    fn score(&self, r: &TaskResults) -> TaskScore {
        jailbreak::score(r, INFO.splits)
    }
}
