//! `fairness/preference.json`, read by F5 (its topics) and F7 (its questions and topics): a
//! JSON array of `{prompt, topic}`. Items 0–119 are the plain questions, items 120 onwards the
//! force questions (which demand a one-option answer).

use serde::Deserialize;

use crate::data::DataError;
use crate::protocol::tasks::LoadContext;

/// The questions.
pub const PREFERENCE: &str = "fairness/preference.json";

/// How many items are plain questions; the rest are force questions.
pub const PLAIN: usize = 120;

/// One item.
#[derive(Debug, Clone, Deserialize)]
pub struct Item {
    /// The question.
    pub prompt: String,
    /// Its topic (`ideology`, `culture/lifestyle`, ...).
    pub topic: String,
}

/// Every item, in file order.
pub fn read(ctx: &LoadContext) -> Result<Vec<Item>, DataError> {
    ctx.data.read_json_array(PREFERENCE)
}
