//! Fairness tasks: stereotype (F1–F4) and bias & preference (F5–F7).
//!
//! Shared here: how a cross-modal split pairs a record with an image ([`push_paired`]);
//! in sibling modules, the stereotype statements that F2 and F3 both read ([`statements`]),
//! the preference questions that F5 and F7 both read ([`preference`]), and the refusal rate
//! that F4, F5 and F7 all score ([`refusal`]).

pub mod f1;
pub mod f2;
pub mod f3;
pub mod f4;
pub mod f5;
pub mod f6;
pub mod f7;
pub mod preference;
pub mod refusal;
pub mod statements;

use serde_json::{Map, Value as Json};

use super::{LoadContext, Pairing, Task};
use crate::data::DataError;
use crate::sample::{ImageRef, SplitBuilder, Target};

/// The fairness tasks, in order.
pub fn tasks() -> Vec<Box<dyn Task>> {
    vec![
        Box::new(f1::F1),
        Box::new(f2::F2),
        Box::new(f3::F3),
        Box::new(f4::F4),
        Box::new(f5::F5),
        Box::new(f6::F6),
        Box::new(f7::F7),
    ]
}

/// What one record asks, before it is paired with an image.
#[derive(Debug)]
struct Ask {
    text: String,
    target: Target,
    extra: Map<String, Json>,
    group: String,
}

/// Adds the sample of one record to a split, paired as its name says ([`Pairing::of`]): text
/// only (`...-text`), the record's own image (opened by `own`; a missing or unreadable one makes the sample unscorable with the
/// file named, where the original would crash), or a seeded draw from the unrelated pool.
fn push_paired(
    b: &mut SplitBuilder,
    ctx: &LoadContext,
    task: &str,
    split: &str,
    own: impl FnOnce() -> Result<ImageRef, DataError>,
    ask: Ask,
) -> Result<(), DataError> {
    let pairing = Pairing::of(split);
    match ctx.pair(pairing, own, task, split, b.len()) {
        Ok(image) => {
            b.push(ask.text, image, ask.target, ask.extra, ask.group);
        }
        Err(e) if pairing == Pairing::Own => {
            b.push_problem(ask.text, ask.target, ask.extra, ask.group, e.to_string())
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// The mean of a number over the three unrelated-image splits `<prefix>-unrelated-image-{color,
/// nature,noise}`, as the score scripts combine them.
fn unrelated_mean(prefix: &str, mut number: impl FnMut(&str) -> super::Num) -> super::Num {
    super::mean(&[
        number(&format!("{prefix}-unrelated-image-color")),
        number(&format!("{prefix}-unrelated-image-nature")),
        number(&format!("{prefix}-unrelated-image-noise")),
    ])
}
