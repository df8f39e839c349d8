//! `fairness/stereo_statement.csv` and its images, read by F2 (agreement) and by F3's topic
//! classification: one stereotype statement per row with its type and number.

use crate::data::{CsvRow, DataError};
use crate::protocol::tasks::LoadContext;

/// The statements, with columns `Stereo Statement`, `Type`, `Number`.
pub const STATEMENTS: &str = "fairness/stereo_statement.csv";
/// The images: `<type in lower case>/<Number>.png` under this folder.
pub const IMAGES: &str = "fairness/stereo_images";

/// The stereotype types, in the order F3's topic prompt numbers them.
pub const TYPES: [&str; 6] = ["Age", "Gender", "Nationality", "Race", "Religion", "Socioeconomic"];

/// One statement.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The statement.
    pub text: String,
    /// Its type (`Age`, `Gender`, ...), as written.
    pub kind: String,
    /// Its number within the type, as written.
    pub number: String,
    /// Where it was read, for errors.
    pub row: CsvRow,
}

impl Statement {
    /// The image of the statement: `fairness/stereo_images/<type lower-cased>/<Number>.png`.
    pub fn image(&self) -> String {
        format!("{IMAGES}/{}/{}.png", self.kind.to_lowercase(), self.number)
    }

    /// The record identity shared by every split (and by F2 and F3).
    pub fn group(&self) -> String {
        format!("{}/{}", self.kind, self.number)
    }
}

/// The statements in file order; rows with an empty statement are skipped (and counted), as
/// the original skips them.
pub fn read(ctx: &LoadContext) -> Result<Vec<Statement>, DataError> {
    let mut out = Vec::new();
    for row in ctx.data.read_csv(STATEMENTS)? {
        let text = row.get("Stereo Statement")?;
        if text.is_empty() {
            ctx.log.skip(format!("{}: empty `Stereo Statement`", ctx.data.shown(STATEMENTS)));
            continue;
        }
        let kind = row.get("Type")?.to_string();
        let number = row.get("Number")?.to_string();
        out.push(Statement { text: text.to_string(), kind, number, row });
    }
    Ok(out)
}
