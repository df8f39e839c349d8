//! R3 — Sentiment Analysis for OOD Texts (Robustness / OOD; spec §8 R3).
//!
//! Sentences rewritten into out-of-distribution styles (Shakespearean, Bible, romantic, tweet,
//! augmented), asked for their sentiment text-only, with an image generated from the sentence,
//! and with unrelated images.

use serde::Deserialize;
use serde_json::{Map, Value as Json};

use crate::data::DataError;
use crate::protocol::scoring::{Chain, Metric, Rule};
use crate::protocol::tasks::SubAspect;
use crate::protocol::tasks::{Ask, LoadContext, Pairing, Task, TaskInfo, TaskResults, TaskScore, mean};
use crate::sample::{Sample, SplitBuilder, Target};

/// The task.
#[derive(Debug)]
pub struct R3;

const INFO: TaskInfo = TaskInfo {
    id: "R3",
    name: "Sentiment Analysis for OOD Texts",
    sub_aspect: SubAspect::Ood,
    splits: &[
        "dt-text",
        "dt-related-image",
        "dt-unrelated-image-color",
        "dt-unrelated-image-nature",
        "dt-unrelated-image-noise",
    ],
};

pub(crate) const LABELS: &str = "robustness/ood-text/label.json";
pub(crate) const RELATED: &str = "robustness/ood-text/related";

/// The style categories of `label.json`, in the order the original reads them (`base` is
/// only used to generate the images).
pub(crate) const CATEGORIES: [&str; 10] = [
    "augment",
    "bible_p0.6",
    "bible_p0",
    "romantic_p0.6",
    "romantic_p0",
    "shake_p0.6",
    "shake_p0",
    "shake_w",
    "tweet_p0.6",
    "tweet_p0",
];

#[derive(Deserialize)]
struct Record {
    sentence: String,
    label: Json,
    id: Json,
}

fn prompt(sentence: &str) -> String {
    format!(
        "Please label the sentiment of the following text as positive or negative. The sentence \
         is: {sentence} The answer should be exactly 'positive' or 'negative'."
    )
}

const KEY: &str = "rule_contain_exact_eval:pred_mean";

impl Task for R3 {
    fn info(&self) -> &TaskInfo {
        &INFO
    }

    fn data_files(&self) -> &'static [&'static str] {
        &[LABELS, RELATED, "unrelated_images"]
    }

    fn load(&self, split: &str, ctx: &LoadContext) -> Result<Vec<Sample>, DataError> {
        let all: Map<String, Json> = ctx.data.read_json(LABELS)?;
        let shown = ctx.data.shown(LABELS);
        if !CATEGORIES.iter().any(|c| all.contains_key(*c)) {
            return Err(DataError::malformed(
                &shown,
                "whole file",
                format!("none of the style categories ({}) is present", CATEGORIES.join(", ")),
            ));
        }
        ctx.log.categories(&shown, &all, &CATEGORIES, &["base"]);
        let mut b = SplitBuilder::new(INFO.id, split);
        for category in CATEGORIES {
            let Some(records) = all.get(category) else { continue };
            let records: Vec<Record> = serde_json::from_value(records.clone())
                .map_err(|e| DataError::malformed(&shown, format!("category `{category}`"), e.to_string()))?;
            for record in records {
                let id = match &record.id {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let target = match record.label {
                    Json::String(s) => Target::Text(s),
                    Json::Number(n) if n.is_i64() => Target::Int(n.as_i64().unwrap_or_default()),
                    other => Target::Text(other.to_string()),
                };
                let text = prompt(&record.sentence);
                let group = format!("{category}/{id}");
                let own = || ctx.data.image(&format!("{RELATED}/{id}.png"));
                let ask = Ask { text, target, extra: Map::new(), group };
                ctx.push_paired(&mut b, Pairing::of(split), own, ask)?;
            }
        }
        Ok(b.finish())
    }

    fn max_tokens(&self, _split: &str) -> u32 {
        200
    }

    fn chains(&self, _split: &str) -> Vec<Chain> {
        vec![Chain::rule(Rule::ContainExact, &[Metric::PredMean])]
    }

    fn score(&self, r: &TaskResults) -> TaskScore {
        let mut s = TaskScore::default();
        let mut acc = |split: &str| s.part(split, "accuracy", r.metric(split, KEY));
        let text = acc("dt-text");
        let related = acc("dt-related-image");
        let unrelated = mean(&[
            acc("dt-unrelated-image-nature"),
            acc("dt-unrelated-image-color"),
            acc("dt-unrelated-image-noise"),
        ]);
        let score = mean(&[text, related, unrelated]).map(|v| 100.0 * v);
        s.done(score)
    }
}
