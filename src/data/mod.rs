//! Reading the benchmark's files from the official data layout.
//!
//! Every loader goes through [`DataDir`]: paths are resolved inside the data folder only, files
//! are listed in sorted order, and every parse error names the file and the record. Records a
//! loader skips (as the original does, for a missing image say) are counted in a [`LoadLog`]
//! and reported in the run log.

pub mod synth;
pub mod text_image;
pub mod unrelated;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::core::{ImageLimits, hex};
use crate::sample::{ImageFile, ImageRef};

/// A problem with the data files, naming the file and, where it applies, the record.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A required file or folder does not exist.
    #[error("{path}: not found. {hint}")]
    Missing {
        /// The missing path.
        path: String,
        /// What to do about it.
        hint: String,
    },
    /// A file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file or one of its records does not have the expected shape.
    #[error("{path}: {location}: {message}")]
    Malformed {
        /// The file.
        path: String,
        /// `line 12`, `record 3`, `row 7`, or `whole file`.
        location: String,
        /// What is wrong, and what was expected.
        message: String,
    },
    /// A path in the data points outside the data folder (by `..`, an absolute path, or a
    /// symbolic link).
    #[error(
        "{path}: {how}, outside the data folder; every file a task reads must lie inside it (replace the link or path with the file itself)"
    )]
    OutsideData {
        /// The offending path.
        path: String,
        /// How it leaves the folder.
        how: String,
    },
    /// An image that cannot be used: its header does not parse, or it is beyond the decoding
    /// limits.
    #[error("{path}: {reason}")]
    Image {
        /// The image, as shown to people.
        path: String,
        /// What is wrong, and what to do.
        reason: String,
    },
}

impl DataError {
    /// A malformed-record error.
    pub fn malformed(path: &str, location: impl Into<String>, message: impl Into<String>) -> Self {
        DataError::Malformed { path: path.to_string(), location: location.into(), message: message.into() }
    }
}

/// What kind of data problem a [`DataWarning`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WarningKind {
    /// Records left out (as the original leaves them out: a missing image, an empty query).
    Skipped,
    /// Files in a folder a task reads that are not used (not an image, or an image that
    /// cannot be opened, in the unrelated-image pool).
    Ignored,
    /// Categories of a data file that the task does not know (a misspelt style name), whose
    /// records are not asked; or known categories that are absent.
    Unknown,
}

/// One problem found while loading a task's data, and how many records it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataWarning {
    /// What kind of problem.
    pub kind: WarningKind,
    /// What was left out and why, naming the file.
    pub what: String,
    /// Records skipped for this reason (for ignored files and unknown categories: 1 per
    /// file or category, however many splits read it).
    pub count: usize,
}

impl fmt::Display for DataWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            WarningKind::Skipped => write!(f, "skipped {} record(s): {}", self.count, self.what),
            WarningKind::Ignored => write!(f, "ignored {}", self.what),
            WarningKind::Unknown => write!(f, "{}", self.what),
        }
    }
}

/// The data warnings of the task being loaded (the pipeline takes them after each task).
#[derive(Debug, Default)]
pub struct LoadLog {
    entries: Mutex<BTreeMap<(WarningKind, String), usize>>,
}

impl LoadLog {
    /// Counts one skipped record, with the reason (which should name the file or split).
    pub fn skip(&self, reason: impl Into<String>) {
        if let Ok(mut map) = self.entries.lock() {
            *map.entry((WarningKind::Skipped, reason.into())).or_default() += 1;
        }
    }

    /// Notes a file that is not used, with why (named once however often it is met).
    pub fn ignore(&self, what: impl Into<String>) {
        if let Ok(mut map) = self.entries.lock() {
            map.insert((WarningKind::Ignored, what.into()), 1);
        }
    }

    /// Notes an unknown or absent category (named once however often it is met).
    pub fn unknown(&self, what: impl Into<String>) {
        if let Ok(mut map) = self.entries.lock() {
            map.insert((WarningKind::Unknown, what.into()), 1);
        }
    }

    /// The skipped records so far, by reason (the log keeps them).
    pub fn skipped(&self) -> BTreeMap<String, usize> {
        let entries = self.entries.lock().map(|m| m.clone()).unwrap_or_default();
        entries
            .into_iter()
            .filter(|((kind, _), _)| *kind == WarningKind::Skipped)
            .map(|((_, w), n)| (w, n))
            .collect()
    }

    /// How many records and files the warnings so far concern.
    pub fn total(&self) -> usize {
        self.entries.lock().map(|m| m.values().sum()).unwrap_or_default()
    }

    /// The warnings so far, leaving the log empty for the next task.
    pub fn take(&self) -> Vec<DataWarning> {
        let entries = self.entries.lock().map(|mut m| std::mem::take(&mut *m)).unwrap_or_default();
        entries.into_iter().map(|((kind, what), count)| DataWarning { kind, what, count }).collect()
    }

    /// Checks the categories (top-level keys) of a JSON object file against those a task
    /// knows: an unknown key (its records are not asked) and a known one that is absent are
    /// warnings. `unused` lists keys that are known but not asked (R3's `base`).
    pub fn categories(
        &self,
        file: &str,
        found: &serde_json::Map<String, Value>,
        known: &[&str],
        unused: &[&str],
    ) {
        for (key, value) in found {
            if !known.contains(&key.as_str()) && !unused.contains(&key.as_str()) {
                let n = value.as_array().map_or(1, Vec::len);
                self.unknown(format!(
                    "{file}: unknown category `{key}` ({n} record(s) not asked); the task knows {}",
                    known.join(", ")
                ));
            }
        }
        for key in known {
            if !found.contains_key(*key) {
                self.unknown(format!("{file}: category `{key}` is absent"));
            }
        }
    }
}

/// The data folder, as the original's `./data` (the folder that holds `truthfulness/`,
/// `safety/`, `robustness/`, `fairness/`, `privacy/` and `unrelated_images/`).
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
    /// The root with every symbolic link resolved, which every path read must lie in.
    real_root: PathBuf,
    /// The limits every image is checked against when it is opened.
    image_limits: ImageLimits,
    /// The images opened so far, by the name the data gives: a task shows the same few
    /// unrelated images to thousands of samples, each checked and hashed once.
    images: Arc<Mutex<std::collections::HashMap<String, ImageRef>>>,
}

impl DataDir {
    /// A data folder. A path that ends in a `data` folder holding the aspects is used as is;
    /// a checkout of the original (which holds `data/`) is accepted too.
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        let root = root.into();
        let nested = root.join("data");
        let looks_like_data = |p: &Path| {
            ["truthfulness", "safety", "robustness", "fairness", "privacy"].iter().any(|a| p.join(a).is_dir())
        };
        let root = if !looks_like_data(&root) && looks_like_data(&nested) { nested } else { root };
        let real_root = root.canonicalize().unwrap_or_else(|_| root.clone());
        DataDir { root, real_root, image_limits: ImageLimits::default(), images: Default::default() }
    }

    /// The limits images of this folder are opened within.
    pub fn image_limits(&self) -> ImageLimits {
        self.image_limits
    }

    /// The same folder with other image limits.
    pub fn with_image_limits(mut self, limits: ImageLimits) -> DataDir {
        self.image_limits = limits;
        // Images opened under other limits are checked again under these.
        self.images = Default::default();
        self
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves a path relative to the data folder, refusing to leave it: by `..`, by an
    /// absolute path, or through a symbolic link (of the file or of a folder on the way).
    pub fn resolve(&self, rel: &str) -> Result<PathBuf, DataError> {
        let rel = rel.trim_start_matches("./");
        let rel = rel.strip_prefix("data/").unwrap_or(rel);
        let path = Path::new(rel);
        let escapes = path
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::RootDir | Component::Prefix(_)));
        if escapes {
            return Err(DataError::OutsideData {
                path: self.shown(rel),
                how: "names a path above it".into(),
            });
        }
        let joined = self.root.join(path);
        if let Ok(real) = joined.canonicalize()
            && !real.starts_with(&self.real_root)
        {
            return Err(DataError::OutsideData {
                path: self.shown(rel),
                how: format!("is a link to {}", real.display()),
            });
        }
        Ok(joined)
    }

    /// Whether a path exists inside the data folder.
    pub fn exists(&self, rel: &str) -> bool {
        self.resolve(rel).map(|p| p.exists()).unwrap_or(false)
    }

    /// Reads a whole file as text.
    pub fn read_text(&self, rel: &str) -> Result<String, DataError> {
        let path = self.resolve(rel)?;
        if !path.exists() {
            return Err(missing(&path));
        }
        fs::read_to_string(&path).map_err(|source| DataError::Io { path: shown(&path), source })
    }

    /// Reads a JSON file into any shape.
    pub fn read_json<T: DeserializeOwned>(&self, rel: &str) -> Result<T, DataError> {
        let text = self.read_text(rel)?;
        serde_json::from_str(&text)
            .map_err(|e| DataError::malformed(&self.shown(rel), format!("line {}", e.line()), e.to_string()))
    }

    /// Reads a file holding a JSON array of records, each into `T`; errors name the record.
    pub fn read_json_array<T: DeserializeOwned>(&self, rel: &str) -> Result<Vec<T>, DataError> {
        let items: Vec<Value> = self.read_json(rel).map_err(|e| match e {
            DataError::Malformed { path, location, message } => DataError::Malformed {
                path,
                location,
                message: format!("{message} (expected a JSON array of records)"),
            },
            other => other,
        })?;
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                serde_json::from_value(item)
                    .map_err(|e| DataError::malformed(&self.shown(rel), format!("record {i}"), e.to_string()))
            })
            .collect()
    }

    /// Reads a JSON Lines file, one record per non-empty line; errors name the line.
    pub fn read_jsonl<T: DeserializeOwned>(&self, rel: &str) -> Result<Vec<T>, DataError> {
        let text = self.read_text(rel)?;
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let record = serde_json::from_str(line).map_err(|e| {
                DataError::malformed(
                    &self.shown(rel),
                    format!("line {}", i + 1),
                    format!("{e} (expected one JSON object per line)"),
                )
            })?;
            out.push(record);
        }
        Ok(out)
    }

    /// Reads a CSV file with a header row into maps from column name to value.
    pub fn read_csv(&self, rel: &str) -> Result<Vec<CsvRow>, DataError> {
        self.read_table(rel, b',')
    }

    /// Reads a tab-separated file with a header row (MMBench's TSV) like [`DataDir::read_csv`].
    pub fn read_tsv(&self, rel: &str) -> Result<Vec<CsvRow>, DataError> {
        self.read_table(rel, b'\t')
    }

    fn read_table(&self, rel: &str, delimiter: u8) -> Result<Vec<CsvRow>, DataError> {
        let path = self.resolve(rel)?;
        if !path.exists() {
            return Err(missing(&path));
        }
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .from_path(&path)
            .map_err(|e| DataError::malformed(&shown(&path), "whole file", e.to_string()))?;
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| DataError::malformed(&shown(&path), "header", e.to_string()))?
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').to_string())
            .collect();
        let mut rows = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let record = record
                .map_err(|e| DataError::malformed(&shown(&path), format!("row {}", i + 1), e.to_string()))?;
            let fields = headers.iter().cloned().zip(record.iter().map(str::to_string)).collect();
            rows.push(CsvRow { file: shown(&path), row: i + 1, fields });
        }
        Ok(rows)
    }

    /// The entries of a folder, sorted by name (the original's listing order is the
    /// file system's; we sort so that runs are reproducible).
    pub fn list(&self, rel: &str) -> Result<Vec<PathBuf>, DataError> {
        let path = self.resolve(rel)?;
        if !path.is_dir() {
            return Err(missing(&path));
        }
        let mut entries: Vec<PathBuf> = fs::read_dir(&path)
            .map_err(|source| DataError::Io { path: shown(&path), source })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| !is_hidden(p))
            .collect();
        entries.sort();
        Ok(entries)
    }

    /// The names of the files of a folder, sorted.
    pub fn list_files(&self, rel: &str) -> Result<Vec<String>, DataError> {
        Ok(names(self.list(rel)?.into_iter().filter(|p| p.is_file())))
    }

    /// The names of the sub-folders of a folder, sorted.
    pub fn list_dirs(&self, rel: &str) -> Result<Vec<String>, DataError> {
        Ok(names(self.list(rel)?.into_iter().filter(|p| p.is_dir())))
    }

    /// Opens an image inside the data folder: hashes it, reads its type from its first bytes
    /// and its size from its header, which must be within the image limits.
    pub fn image(&self, rel: &str) -> Result<ImageRef, DataError> {
        if let Some(known) = self.images.lock().ok().and_then(|known| known.get(rel).cloned()) {
            return Ok(known);
        }
        let path = self.resolve(rel)?;
        let image = image_ref(&path, &self.shown(rel), &self.image_limits)?;
        if let Ok(mut known) = self.images.lock() {
            known.insert(rel.to_string(), image.clone());
        }
        Ok(image)
    }

    /// A path as shown to people: relative to the data folder.
    pub fn shown(&self, rel: &str) -> String {
        let rel = rel.trim_start_matches("./");
        let rel = rel.strip_prefix("data/").unwrap_or(rel);
        format!("data/{rel}")
    }

    /// A path inside the data folder, as shown to people.
    pub fn shown_path(&self, path: &Path) -> String {
        match path.strip_prefix(&self.root) {
            Ok(rel) => format!("data/{}", rel.to_string_lossy()),
            Err(_) => path.to_string_lossy().into_owned(),
        }
    }

    /// SHA-256 of a file, for the run manifest.
    pub fn file_sha256(&self, rel: &str) -> Option<String> {
        let path = self.resolve(rel).ok()?;
        hash_file(&path).ok().map(|(h, _)| h)
    }
}

/// One CSV row, with where it came from for error messages.
#[derive(Debug, Clone)]
pub struct CsvRow {
    /// The file, as shown to people.
    pub file: String,
    /// The row number (1 = the first row after the header).
    pub row: usize,
    fields: BTreeMap<String, String>,
}

impl CsvRow {
    /// A column's value, or an error naming the file, row and column.
    pub fn get(&self, column: &str) -> Result<&str, DataError> {
        self.fields.get(column).map(String::as_str).ok_or_else(|| {
            DataError::malformed(&self.file, format!("row {}", self.row), format!("no column `{column}`"))
        })
    }

    /// A column's value, or `None` when the column is absent.
    pub fn get_opt(&self, column: &str) -> Option<&str> {
        self.fields.get(column).map(String::as_str)
    }

    /// A malformed-row error for this row.
    pub fn error(&self, message: impl Into<String>) -> DataError {
        DataError::malformed(&self.file, format!("row {}", self.row), message)
    }
}

/// An image the run makes itself (P6's text images, the preflight probe) in the `generated`
/// folder of the run directory: drawn and written once (through a temporary name, so a killed
/// run never leaves half a file), then opened like any image. Shown as `generated/<name>`.
pub fn generated_image(
    dir: &Path,
    name: &str,
    draw: impl FnOnce() -> image::RgbImage,
) -> Result<ImageRef, DataError> {
    written_image(dir, name, &ImageLimits::default(), |partial| {
        draw().save_with_format(partial, image::ImageFormat::Png).map_err(std::io::Error::other)
    })
}

/// An image file the run writes into `dir` (a generated picture, an image decoded from a
/// TSV, a purified copy): written once by `write` through a temporary name, so a killed run
/// never leaves half a file, then opened like any image within `limits`. Shown as
/// `generated/<name>`.
pub fn written_image(
    dir: &Path,
    name: &str,
    limits: &ImageLimits,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<ImageRef, DataError> {
    let path = dir.join(name);
    let io = |source: std::io::Error| DataError::Io { path: path.display().to_string(), source };
    if !path.is_file() {
        fs::create_dir_all(path.parent().unwrap_or(dir)).map_err(io)?;
        let partial = dir.join(format!("{name}.{}.partial", std::process::id()));
        write(&partial).map_err(io)?;
        fs::rename(&partial, &path).map_err(io)?;
    }
    image_ref(&path, &format!("generated/{name}"), limits)
}

/// Opens an image anywhere on disk: hashes it, reads its type from its first bytes, and
/// checks the size its header declares against the limits (without decoding the pixels).
pub fn image_ref(path: &Path, display: &str, limits: &ImageLimits) -> Result<ImageRef, DataError> {
    if !path.is_file() {
        return Err(DataError::Missing {
            path: display.to_string(),
            hint: "the image named by the data is not there; check the download is complete".to_string(),
        });
    }
    let (sha256, head) =
        hash_file(path).map_err(|source| DataError::Io { path: display.to_string(), source })?;
    let mime = image_mime(&head).ok_or_else(|| {
        DataError::malformed(
            display,
            "whole file",
            "not a recognised image (expected PNG, JPEG, WebP, GIF or BMP); replace the file",
        )
    })?;
    let reader = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|source| DataError::Io { path: display.to_string(), source })?;
    let header = reader.into_decoder().map_err(|e| DataError::Image {
        path: display.to_string(),
        reason: format!("the image header cannot be read ({e}); replace the file"),
    })?;
    let (width, height) = image::ImageDecoder::dimensions(&header);
    if let Some(reason) = limits.refuse(width, height, image::ImageDecoder::total_bytes(&header)) {
        return Err(DataError::Image { path: display.to_string(), reason });
    }
    Ok(ImageRef::new(ImageFile { path: path.to_path_buf(), display: display.to_string(), sha256, mime }))
}

/// Decodes an image held in memory, within the limits (checked from the header first, then
/// enforced by the decoder); the error says why, for the sample's unscorable reason.
pub fn decode_image(bytes: &[u8], limits: &ImageLimits) -> Result<image::DynamicImage, String> {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("cannot read the image: {e}"))?;
    let mut decoder = reader.into_decoder().map_err(|e| format!("the image header cannot be read ({e})"))?;
    let (width, height) = image::ImageDecoder::dimensions(&decoder);
    if let Some(reason) = limits.refuse(width, height, image::ImageDecoder::total_bytes(&decoder)) {
        return Err(reason);
    }
    let mut decoding = image::Limits::default();
    decoding.max_image_width = Some(limits.max_side);
    decoding.max_image_height = Some(limits.max_side);
    decoding.max_alloc = Some(limits.max_decoded_bytes.saturating_mul(2));
    image::ImageDecoder::set_limits(&mut decoder, decoding)
        .map_err(|e| format!("cannot limit decoding: {e}"))?;
    image::DynamicImage::from_decoder(decoder).map_err(|e| format!("the image cannot be decoded ({e})"))
}

/// The MIME type of an image from its first bytes.
pub fn image_mime(head: &[u8]) -> Option<&'static str> {
    match image::guess_format(head).ok()? {
        image::ImageFormat::Png => Some("image/png"),
        image::ImageFormat::Jpeg => Some("image/jpeg"),
        image::ImageFormat::WebP => Some("image/webp"),
        image::ImageFormat::Gif => Some("image/gif"),
        image::ImageFormat::Bmp => Some("image/bmp"),
        _ => None,
    }
}

/// Streams a file through SHA-256; returns the hex digest and the first bytes.
fn hash_file(path: &Path) -> std::io::Result<(String, Vec<u8>)> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut head = Vec::new();
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if head.len() < 32 {
            head.extend_from_slice(&buf[..n.min(32 - head.len())]);
        }
        hasher.update(&buf[..n]);
    }
    Ok((hex(&hasher.finalize()), head))
}

/// The last components of paths (a name that is not UTF-8 is shown with replacement
/// characters, and then names no file: opening it fails with the name shown).
fn names(paths: impl Iterator<Item = PathBuf>) -> Vec<String> {
    paths.filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())).collect()
}

fn is_hidden(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'))
}

fn shown(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn missing(path: &Path) -> DataError {
    DataError::Missing {
        path: shown(path),
        hint: "Point --data at the MultiTrust data folder (the one holding truthfulness/, \
               safety/, ...), or create a synthetic one with `multitrust data synth`."
            .to_string(),
    }
}

/// Compares two strings the way `natsort` orders file names: digit runs as numbers.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(cb.iter()) {
        let ord = match (x, y) {
            ((true, x), (true, y)) => {
                let (xt, yt) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                xt.len().cmp(&yt.len()).then(xt.cmp(yt)).then(x.len().cmp(&y.len()))
            }
            ((_, x), (_, y)) => x.cmp(y),
        };
        if ord != std::cmp::Ordering::Equal {
            return ord;
        }
    }
    ca.len().cmp(&cb.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_is_opened_once_and_checked_again_under_other_limits() {
        let tmp = tempfile::tempdir().unwrap();
        image::RgbImage::new(40, 30).save(tmp.path().join("a.png")).unwrap();
        let dir = DataDir::new(tmp.path());
        let first = dir.image("a.png").unwrap();
        // Gone from the disk, it is still known to this folder (opened once).
        std::fs::remove_file(tmp.path().join("a.png")).unwrap();
        assert_eq!(dir.image("a.png").unwrap().sha256, first.sha256);
        // Under tighter limits it is opened and checked again.
        let strict = dir.clone().with_image_limits(ImageLimits { max_side: 20, ..ImageLimits::default() });
        image::RgbImage::new(40, 30).save(tmp.path().join("a.png")).unwrap();
        assert!(matches!(strict.image("a.png"), Err(DataError::Image { .. })));
    }

    #[test]
    fn resolve_refuses_to_leave_the_data_folder() {
        let dir = DataDir::new("/tmp/x");
        assert!(dir.resolve("a/b.json").is_ok());
        assert_eq!(dir.resolve("./data/a.json").unwrap(), PathBuf::from("/tmp/x/a.json"));
        assert!(matches!(dir.resolve("../etc/passwd"), Err(DataError::OutsideData { .. })));
        let err = dir.resolve("../etc/passwd").unwrap_err().to_string();
        assert!(err.contains("data/../etc/passwd") && err.contains("outside the data folder"), "{err}");
        assert!(matches!(dir.resolve("/etc/passwd"), Err(DataError::OutsideData { .. })));
        assert!(matches!(dir.resolve("a/../../b"), Err(DataError::OutsideData { .. })));
    }

    #[test]
    fn links_that_leave_the_data_folder_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let (data, outside) = (tmp.path().join("data"), tmp.path().join("secret"));
        fs::create_dir_all(data.join("inside")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("key.txt"), "secret").unwrap();
        fs::write(data.join("inside/ok.txt"), "ok").unwrap();
        std::os::unix::fs::symlink(outside.join("key.txt"), data.join("inside/file-link.txt")).unwrap();
        std::os::unix::fs::symlink(&outside, data.join("folder-link")).unwrap();
        std::os::unix::fs::symlink(data.join("inside/ok.txt"), data.join("inside/ok-link.txt")).unwrap();
        let dir = DataDir::new(&data);
        assert_eq!(dir.read_text("inside/ok-link.txt").unwrap(), "ok", "a link inside the folder is fine");
        let err = dir.read_text("inside/file-link.txt").unwrap_err().to_string();
        assert!(
            err.contains("data/inside/file-link.txt")
                && err.contains("is a link to")
                && err.contains("secret"),
            "{err}"
        );
        assert!(matches!(dir.read_text("folder-link/key.txt"), Err(DataError::OutsideData { .. })));
        assert!(matches!(dir.image("folder-link/key.txt"), Err(DataError::OutsideData { .. })));
    }

    #[test]
    fn natural_order_sorts_numbers_as_numbers() {
        let mut names = vec!["color_10.png", "color_2.png", "color_1.png", "a.png"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["a.png", "color_1.png", "color_2.png", "color_10.png"]);
    }

    #[test]
    fn jsonl_errors_name_the_line() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("x.jsonl"), "{\"a\": 1}\n\n{broken\n").unwrap();
        let dir = DataDir::new(tmp.path());
        let err = dir.read_jsonl::<Value>("x.jsonl").unwrap_err().to_string();
        assert!(err.contains("data/x.jsonl: line 3"), "{err}");
    }

    #[test]
    fn array_errors_name_the_record() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct R {
            query: String,
        }
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("x.json"), r#"[{"query": "a"}, {"q": 1}]"#).unwrap();
        let dir = DataDir::new(tmp.path());
        let err = dir.read_json_array::<R>("x.json").unwrap_err().to_string();
        assert!(err.contains("record 1") && err.contains("query"), "{err}");
    }

    #[test]
    fn images_are_hashed_and_typed_and_junk_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let png = tmp.path().join("a.png");
        image::RgbImage::new(2, 2).save(&png).unwrap();
        fs::write(tmp.path().join("b.png"), b"not an image at all").unwrap();
        let dir = DataDir::new(tmp.path());
        let img = dir.image("a.png").unwrap();
        assert_eq!(img.mime, "image/png");
        assert_eq!(img.sha256.len(), 64);
        let err = dir.image("b.png").unwrap_err().to_string();
        assert!(err.contains("data/b.png") && err.contains("not a recognised image"), "{err}");
        assert!(matches!(dir.image("c.png"), Err(DataError::Missing { .. })));
    }
}
