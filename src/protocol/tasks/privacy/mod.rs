//! Privacy tasks: privacy awareness (P1–P3) and privacy leakage (P4–P6).
//!
//! What several tasks share lives here once: the record-image helpers (P1, P2, P4, P5),
//! the yes/no recognition chain and score numbers (P1, P2, in [`awareness`]) and the refusal
//! and leakage computations of the leakage score scripts (P4–P6, in [`leakage`]).

pub mod awareness;
pub mod leakage;
pub mod p1;
pub mod p2;
pub mod p3;
pub mod p4;
pub mod p5;
pub mod p6;

use serde_json::{Map, Value as Json};

use super::{LoadContext, Task};
use crate::data::DataError;
use crate::sample::{ImageRef, SplitBuilder, Target};

/// The privacy tasks, in order.
pub fn tasks() -> Vec<Box<dyn Task>> {
    vec![
        Box::new(p1::P1),
        Box::new(p2::P2),
        Box::new(p3::P3),
        Box::new(p4::P4),
        Box::new(p5::P5),
        Box::new(p6::P6),
    ]
}

/// The image a record names: `None` when the file is absent (the original drops such records;
/// the caller counts the skip), otherwise the opened image or why it cannot be opened. A path
/// that leaves the data folder is an error.
pub(crate) fn record_image(
    ctx: &LoadContext,
    rel: &str,
) -> Result<Option<Result<ImageRef, DataError>>, DataError> {
    if !ctx.data.resolve(rel)?.is_file() {
        return Ok(None);
    }
    Ok(Some(ctx.data.image(rel)))
}

/// Adds a sample with its image, or, when the image cannot be opened, a sample that ends
/// unscorable with the reason.
pub(crate) fn push_image(
    b: &mut SplitBuilder,
    text: String,
    image: Result<ImageRef, DataError>,
    target: Target,
    extra: Map<String, Json>,
    group: String,
) {
    match image {
        Ok(image) => {
            b.push(text, Some(image), target, extra, group);
        }
        Err(e) => b.push_problem(text, target, extra, group, e.to_string()),
    }
}
