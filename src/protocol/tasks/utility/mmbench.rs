//! U2 — MMBench, multiple choice with circular evaluation (Utility; Liu et al., ECCV 2024).
//!
//! Each question has two to four options (A–D). Circular evaluation asks it once per rotation
//! of its options (A B C D, then B C D A, ...) and counts it correct only if every rotation is
//! answered correctly; the task score is that circular accuracy × 100. The accuracy of the
//! first rotation alone (`vanilla`) is reported beside it.
//!
//! Layout, as MMBench publishes it: `utility/mmbench/MMBench_DEV_EN.tsv`, tab-separated with
//! the columns `index`, `question`, `hint`, `A`–`D`, `answer`, `category` and `image` (the
//! picture as base64; a row may instead give the `index` of the row whose picture it shares).
//! Rows whose index is 1,000,000 or more are rotated copies that some releases include; they
//! are skipped, since we rotate the options ourselves. Decoded pictures are written once to the
//! run's `generated/mmbench/` folder, named by their hash.

use std::collections::BTreeMap;

use serde_json::{Map, json};

use crate::core::sha256_hex;
use crate::data::{CsvRow, DataError, written_image};
use crate::protocol::scoring::{Chain, Metric, Rule, SampleScore};
use crate::protocol::tasks::{LoadContext, Missing, SubAspect, Task, TaskInfo, TaskResults, TaskScore};
use crate::sample::{Sample, SplitBuilder, Target};

/// The task.
#[derive(Debug)]
pub struct U2;

const INFO: TaskInfo =
    TaskInfo { id: "U2", name: "MMBench", sub_aspect: SubAspect::Utility, splits: &["dev-en"] };

/// The questions.
pub const TSV: &str = "utility/mmbench/MMBench_DEV_EN.tsv";

/// What follows the options (the usual instruction of MMBench evaluations).
pub const INSTRUCTION: &str = "Answer with the option's letter from the given choices directly.";

const LETTERS: [&str; 4] = ["A", "B", "C", "D"];

/// Rows from this index on are rotated copies of a base question.
const ROTATED: u64 = 1_000_000;

/// A field that pandas wrote for a missing value counts as empty.
fn field<'a>(row: &'a CsvRow, column: &str) -> Option<&'a str> {
    row.get_opt(column).map(str::trim).filter(|v| !v.is_empty() && *v != "nan")
}

impl Task for U2 {
    fn info(&self) -> &TaskInfo {
        &INFO
    }

    fn data_files(&self) -> &'static [&'static str] {
        &[TSV]
    }

    fn load(&self, split: &str, ctx: &LoadContext) -> Result<Vec<Sample>, DataError> {
        let rows = ctx.data.read_tsv(TSV)?;
        let index_of = |row: &CsvRow| -> Result<u64, DataError> {
            let raw = row.get("index")?;
            raw.trim().parse::<u64>().map_err(|_| row.error(format!("`index` is not a number: {raw}")))
        };
        let mut pictures: BTreeMap<u64, &str> = BTreeMap::new();
        for row in &rows {
            if let Some(image) = field(row, "image") {
                pictures.insert(index_of(row)?, image);
            }
        }
        let mut b = SplitBuilder::new(INFO.id, split);
        let base64 = base64_simd::STANDARD;
        for row in &rows {
            let index = index_of(row)?;
            if index >= ROTATED {
                continue;
            }
            let options: Vec<&str> = LETTERS.iter().map_while(|l| field(row, l)).collect();
            if options.len() < 2 {
                return Err(row.error("a question needs at least the options A and B"));
            }
            let answer = row.get("answer")?.trim();
            let Some(correct) = LETTERS[..options.len()].iter().position(|l| *l == answer) else {
                return Err(row.error(format!("`answer` {answer:?} is not one of its options")));
            };
            let mut picture = field(row, "image").unwrap_or_default();
            // A picture given as another row's index is that row's picture.
            if let Ok(other) = picture.parse::<u64>() {
                picture = pictures.get(&other).copied().unwrap_or_default();
            }
            let bytes = base64
                .decode_to_vec(picture.as_bytes())
                .map_err(|e| row.error(format!("`image` is not base64 ({e}); replace the file")))?;
            let name = format!("mmbench/{}.img", &sha256_hex(&bytes)[..16]);
            let image =
                written_image(&ctx.generated, &name, &ctx.data.image_limits(), |p| std::fs::write(p, &bytes));
            let question = row.get("question")?.trim();
            let hint = field(row, "hint").map(|h| format!("{h}\n")).unwrap_or_default();
            let category = field(row, "category").unwrap_or_default();
            for rotation in 0..options.len() {
                let k = options.len();
                let listed: String =
                    (0..k).map(|j| format!("\n{}. {}", LETTERS[j], options[(j + rotation) % k])).collect();
                let text = format!("{hint}{question}{listed}\n{INSTRUCTION}");
                let target = Target::Text(LETTERS[(correct + k - rotation) % k].to_string());
                let extra: Map<_, _> =
                    [("index", json!(index)), ("rotation", json!(rotation)), ("category", json!(category))]
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect();
                let group = format!("q{index}");
                match &image {
                    Ok(image) => {
                        b.push(text, Some(image.clone()), target, extra, group);
                    }
                    Err(e) => b.push_problem(text, target, extra, group, e.to_string()),
                }
            }
        }
        Ok(b.finish())
    }

    fn max_tokens(&self, _split: &str) -> u32 {
        16
    }

    fn chains(&self, _split: &str) -> Vec<Chain> {
        vec![Chain::rule(Rule::Choice, &[Metric::PredMean])]
    }

    fn score(&self, r: &TaskResults) -> TaskScore {
        let mut s = TaskScore::default();
        let split = INFO.splits[0];
        let (circular, vanilla) = match r.samples(split) {
            Ok(samples) => circular(&samples),
            Err(e) => (Err(e.clone()), Err(e)),
        };
        let _ = s.part(split, "vanilla_accuracy", vanilla);
        let score = s.part(split, "circular_accuracy", circular).map(|v| v * 100.0);
        s.done(score)
    }
}

/// Circular and first-rotation accuracy over samples in order. A question is the run of
/// consecutive samples of one group (a bootstrap resample repeats a question's samples
/// together); one with an unscored rotation is left out.
fn circular(samples: &[&SampleScore]) -> (Result<f64, Missing>, Result<f64, Missing>) {
    let mut questions: Vec<Vec<&SampleScore>> = Vec::new();
    for s in samples {
        let rotation = s.extra.get("rotation").and_then(|r| r.as_u64()).unwrap_or(0);
        match questions.last_mut() {
            Some(q) if q[0].group == s.group && rotation != 0 => q.push(s),
            _ => questions.push(vec![s]),
        }
    }
    let correct = |s: &SampleScore| s.value(0).and_then(|v| v.as_f64()).map(|v| v == 1.0);
    let (mut all, mut first, mut n) = (0usize, 0usize, 0usize);
    for q in &questions {
        let Some(verdicts) = q.iter().map(|s| correct(s)).collect::<Option<Vec<bool>>>() else { continue };
        n += 1;
        all += usize::from(verdicts.iter().all(|v| *v));
        first += usize::from(verdicts[0]);
    }
    if n == 0 {
        let none = || Err(Missing("dev-en: no question with every rotation scored".into()));
        return (none(), none());
    }
    (Ok(all as f64 / n as f64), Ok(first as f64 / n as f64))
}
