//! Logs written by the original MMTrustEval toolbox (`logs/<aspect>/<task>/<model>/<split>.json`):
//! their `per_sample_results` (`content`, `pred`, `label`, `extra`) read back as samples and
//! answers, so that the same evaluators score them again.
//!
//! A log is read as a stream: the file in blocks, the top level followed by a byte scanner and
//! each row parsed straight into a typed [`Row`], so memory holds one block and a few parts of
//! rows whatever the log's length. [`rescore`] scores the rows part by part and writes the
//! result file as it goes; [`read`] collects them for a caller that wants them all.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::PipelineError;
use super::plan::{Plan, Source};
use super::record::{Answer, Answered};
use super::score::{Scorer, score_split};
use crate::backends::{ChatResponse, Finish};
use crate::core::{Unscorable, UnscorableKind};
use crate::engine::Engine;
use crate::protocol::scoring::SplitScores;
use crate::protocol::scoring::chain::Pred;
use crate::protocol::scoring::chain::{Chain, Columns as ResultColumns, ResultRow, Tally};
use crate::protocol::scoring::metrics::json_number;
use crate::sample::{ImageFile, ImageRef, Sample, SplitBuilder, Target};

/// The bytes with Python's bare `NaN`, `Infinity` and `-Infinity` outside strings written
/// `null`.
fn lenient(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 16);
    let mut at = 0;
    while at < bytes.len() {
        let b = bytes[at];
        if b == b'"' {
            let end = string_end(bytes, at).unwrap_or(bytes.len());
            out.extend_from_slice(&bytes[at..end]);
            at = end;
            continue;
        }
        if let Some(token) =
            [&b"-Infinity"[..], b"Infinity", b"NaN"].iter().find(|t| bytes[at..].starts_with(t))
        {
            out.extend_from_slice(b"null");
            at += token.len();
            continue;
        }
        out.push(b);
        at += 1;
    }
    out
}

/// The position just after the string that opens at `start` (a `"`), or `None` if the bytes
/// end first.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut at = start + 1;
    loop {
        at += memchr::memchr2(b'"', b'\\', &bytes[at..])?;
        if bytes[at] == b'\\' {
            at += 2;
            if at > bytes.len() {
                return None;
            }
        } else {
            return Some(at + 1);
        }
    }
}

/// The position just after the JSON value that starts at `start`, or `None` if the bytes end
/// first. Only the structure is followed (strings, and the value's own kind of bracket, which
/// balance whatever else nests inside); the value is checked when it is parsed.
fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    let (open, close) = match bytes.get(start)? {
        b'"' => return string_end(bytes, start),
        b'{' => (b'{', b'}'),
        b'[' => (b'[', b']'),
        _ => {
            let len = bytes[start..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace());
            return len.map(|n| start + n);
        }
    };
    let mut depth = 0usize;
    let mut at = start;
    loop {
        at += memchr::memchr3(b'"', open, close, &bytes[at..])?;
        match bytes[at] {
            b'"' => at = string_end(bytes, at)?,
            b if b == open => {
                depth += 1;
                at += 1;
            }
            _ => {
                depth -= 1;
                at += 1;
                if depth == 0 {
                    return Some(at);
                }
            }
        }
    }
}

/// Where the reader is in the log's top-level object.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    /// Before the opening brace.
    Start,
    /// Between top-level entries.
    Entries,
    /// Inside `per_sample_results`.
    Rows,
    /// After the closing brace.
    End,
}

/// The rows of a log's `per_sample_results`, read from the file in blocks.
pub struct LogRows {
    file: File,
    path: PathBuf,
    buf: Vec<u8>,
    /// Room for the rows parsed at once, as a JSON list (reused).
    list: Vec<u8>,
    /// Consumed up to here.
    at: usize,
    eof: bool,
    place: Place,
    found: bool,
    /// Rows given so far.
    pub count: usize,
}

/// How much of the file is read at once.
const BLOCK: usize = 4 << 20;

impl LogRows {
    /// Opens a log.
    pub fn open(path: &Path) -> Result<LogRows, PipelineError> {
        let file = File::open(path)
            .map_err(|e| PipelineError::Input(format!("{}: cannot read: {e}", path.display())))?;
        Ok(LogRows {
            file,
            path: path.to_path_buf(),
            buf: Vec::new(),
            list: Vec::new(),
            at: 0,
            eof: false,
            place: Place::Start,
            found: false,
            count: 0,
        })
    }

    fn error(&self, what: impl std::fmt::Display) -> PipelineError {
        PipelineError::Input(format!("{}: {what}", self.path.display()))
    }

    /// Reads another block; false at the end of the file.
    fn fill(&mut self) -> Result<bool, PipelineError> {
        if self.eof {
            return Ok(false);
        }
        self.buf.drain(..self.at);
        self.at = 0;
        let old = self.buf.len();
        self.buf.resize(old + BLOCK, 0);
        let mut got = 0;
        while got < BLOCK {
            match self.file.read(&mut self.buf[old + got..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.error(format!("cannot read: {e}"))),
            }
        }
        self.buf.truncate(old + got);
        Ok(got > 0)
    }

    /// The next byte that is not white space (reading more as needed), not consumed.
    fn peek(&mut self) -> Result<Option<u8>, PipelineError> {
        loop {
            if let Some(n) = self.buf[self.at..].iter().position(|b| !b.is_ascii_whitespace()) {
                self.at += n;
                return Ok(Some(self.buf[self.at]));
            }
            self.at = self.buf.len();
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// The extent of the value at the current position (reading more until it is whole).
    fn value(&mut self) -> Result<(usize, usize), PipelineError> {
        loop {
            if let Some(end) = value_end(&self.buf, self.at)
                && (end < self.buf.len() || self.eof)
            {
                let start = self.at;
                self.at = end;
                return Ok((start, end));
            }
            if !self.fill()? {
                return Err(self.error("the file ends inside a value (is it cut short?)"));
            }
        }
    }

    /// Parses the row at the current position, reading more until it is whole. A row with
    /// Python's bare `NaN` or `Infinity` is read with them as `null`.
    fn row<T: DeserializeOwned>(&mut self) -> Result<T, PipelineError> {
        loop {
            let mut stream = serde_json::Deserializer::from_slice(&self.buf[self.at..]).into_iter::<T>();
            match stream.next() {
                Some(Ok(row)) => {
                    self.at += stream.byte_offset();
                    return Ok(row);
                }
                Some(Err(e)) if e.is_eof() => {
                    if !self.fill()? {
                        return Err(self.error("the file ends inside a row (is it cut short?)"));
                    }
                }
                Some(Err(e)) => {
                    let (start, end) = self.value()?;
                    let strict = lenient(&self.buf[start..end]);
                    return serde_json::from_slice(&strict)
                        .map_err(|_| self.error(format!("per_sample_results[{}]: {e}", self.count)));
                }
                None => return Err(self.error("the file ends inside a row (is it cut short?)")),
            }
        }
    }

    /// Appends the next rows to `out`: as many as are whole in what has been read, at least
    /// one and at most `max`; false after the last row. Parsing many rows at once saves the
    /// parser's set-up for each.
    pub fn next_rows<T: DeserializeOwned>(
        &mut self,
        out: &mut Vec<T>,
        max: usize,
    ) -> Result<bool, PipelineError> {
        if !self.seek_row()? {
            return Ok(false);
        }
        // The rows that are whole, with the commas between them, from this one on.
        let (start, mut end, mut n) = (self.at, self.at, 0);
        let mut at = self.at;
        while n < max
            && let Some(row_end) = value_end(&self.buf, at).filter(|&e| e < self.buf.len())
        {
            (end, n) = (row_end, n + 1);
            let gap = self.buf[row_end..].iter().position(|b| !b.is_ascii_whitespace());
            let Some(comma) = gap.map(|g| row_end + g).filter(|&c| self.buf[c] == b',') else { break };
            let Some(next) = self.buf[comma + 1..].iter().position(|b| !b.is_ascii_whitespace()) else {
                break;
            };
            at = comma + 1 + next;
            if self.buf[at] != b'{' {
                break;
            }
        }
        if n > 1 {
            // Read as one list: `[` + the rows + `]`.
            let kept = out.len();
            let list = &mut self.list;
            list.clear();
            list.push(b'[');
            list.extend_from_slice(&self.buf[start..end]);
            list.push(b']');
            let mut de = serde_json::Deserializer::from_slice(list);
            if serde::de::DeserializeSeed::deserialize(Append(out), &mut de).is_ok() && out.len() == kept + n
            {
                self.at = end;
                self.count += n;
                return Ok(true);
            }
            // One of them is not plain JSON (Python's NaN, say): each is read alone, which
            // reads NaN as null or says which row is wrong.
            out.truncate(kept);
        }
        for k in 0..n.max(1) {
            if k > 0 {
                self.seek_row()?;
            }
            out.push(self.row()?);
            self.count += 1;
        }
        Ok(true)
    }

    /// Follows the log's structure to the next row; false after the last.
    fn seek_row(&mut self) -> Result<bool, PipelineError> {
        loop {
            let Some(b) = self.peek()? else {
                return match self.place {
                    Place::End => Ok(false),
                    _ => Err(self.error("the file ends before the log does (is it cut short?)")),
                };
            };
            match (self.place, b) {
                (Place::Start, b'{') => {
                    self.at += 1;
                    self.place = Place::Entries;
                }
                (Place::Start, _) => {
                    return Err(
                        self.error("not a JSON object; is this a log written by MMTrustEval's run_task.py?")
                    );
                }
                (Place::Entries, b',') => self.at += 1,
                (Place::Entries, b'}') => {
                    self.at += 1;
                    self.place = Place::End;
                    if !self.found {
                        return Err(self.error(
                            "no `per_sample_results` list; is this a log written by MMTrustEval's run_task.py?",
                        ));
                    }
                }
                (Place::Entries, b'"') => {
                    let (start, end) = self.value()?;
                    let key: String = serde_json::from_slice(&self.buf[start..end])
                        .map_err(|e| self.error(format!("a key that is not a string: {e}")))?;
                    if self.peek()? != Some(b':') {
                        return Err(self.error(format!("no `:` after the key `{key}`")));
                    }
                    self.at += 1;
                    let opens = self.peek()?;
                    if key == "per_sample_results" && opens == Some(b'[') {
                        self.at += 1;
                        self.place = Place::Rows;
                        self.found = true;
                    } else if key == "per_sample_results" {
                        return Err(self.error("`per_sample_results` is not a list"));
                    } else {
                        self.value()?;
                    }
                }
                (Place::Rows, b',') => self.at += 1,
                (Place::Rows, b']') => {
                    self.at += 1;
                    self.place = Place::Entries;
                }
                (Place::Rows, b'{') => return Ok(true),
                (Place::Rows, _) => {
                    return Err(self.error(format!("per_sample_results[{}] is not an object", self.count)));
                }
                (Place::End, _) => return Err(self.error("text after the log's closing brace")),
                (Place::Entries, other) => {
                    return Err(
                        self.error(format!("unexpected `{}` between the log's entries", other as char))
                    );
                }
            }
        }
    }
}

/// Reads a JSON list by appending its elements to a vector.
struct Append<'a, T>(&'a mut Vec<T>);

impl<'de, T: Deserialize<'de>> serde::de::DeserializeSeed<'de> for Append<'_, T> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Append<'_, T> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(row) = seq.next_element()? {
            self.0.push(row);
        }
        Ok(())
    }
}

/// One entry of `per_sample_results`, read in one pass into what a sample needs. A field of
/// an unexpected type is read as the original's loader would take it (see each field).
#[derive(Debug, Deserialize)]
pub struct Row {
    /// The text, or `{image_path, text}`.
    #[serde(default)]
    content: Content,
    /// The model's answer.
    #[serde(default)]
    pred: PredField,
    /// The target.
    #[serde(default)]
    label: Target,
    /// Extra fields.
    #[serde(default)]
    extra: Extra,
}

/// What [`rescore`]'s first pass reads of a row: what decides the result's columns.
#[derive(Debug, Deserialize)]
struct RowColumns {
    #[serde(default)]
    label: Target,
    #[serde(default)]
    extra: Extra,
}

/// A row's `content`: a text, or an image path with its text (either absent or not a string
/// reads as empty); anything else reads as an empty text.
#[derive(Debug, Default)]
enum Content {
    #[default]
    Empty,
    Text(String),
    Image {
        path: String,
        text: String,
    },
}

/// A row's `pred`: a string; `null` or absent (no answer); anything else, written as compact
/// JSON.
#[derive(Debug, Default)]
enum PredField {
    #[default]
    Missing,
    Text(String),
}

/// A row's `extra`: its fields when it is an object, none otherwise.
#[derive(Debug, Default)]
struct Extra(Map<String, Value>);

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Content, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Content;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a text or {image_path, text}")
            }
            fn visit_str<E>(self, v: &str) -> Result<Content, E> {
                Ok(Content::Text(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Content, E> {
                Ok(Content::Text(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Content, A::Error> {
                let (mut path, mut text) = (String::new(), String::new());
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "image_path" => path = map.next_value::<AnyStr>()?.0,
                        "text" => text = map.next_value::<AnyStr>()?.0,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Content::Image { path, text })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Content::Empty)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Content, E> {
                Ok(Content::Empty)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Content, E> {
                Ok(Content::Empty)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Content, E> {
                Ok(Content::Empty)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Content, E> {
                Ok(Content::Empty)
            }
            fn visit_unit<E>(self) -> Result<Content, E> {
                Ok(Content::Empty)
            }
        }
        d.deserialize_any(Visit)
    }
}

/// A string, or empty for a value of another type.
struct AnyStr(String);

impl<'de> Deserialize<'de> for AnyStr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<AnyStr, D::Error> {
        Ok(AnyStr(match d.deserialize_any(Text)? {
            Some(Ok(s)) => s,
            _ => String::new(),
        }))
    }
}

impl<'de> Deserialize<'de> for PredField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PredField, D::Error> {
        Ok(match d.deserialize_any(Text)? {
            None => PredField::Missing,
            Some(Ok(s)) => PredField::Text(s),
            Some(Err(other)) => PredField::Text(other.to_string()),
        })
    }
}

/// Reads a value as `Some(Ok(string))`, `None` for `null`, or `Some(Err(value))` for any
/// other value: a string is taken without building a JSON tree around it.
struct Text;

impl<'de> Visitor<'de> for Text {
    type Value = Option<Result<String, Value>>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Ok(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Ok(v)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Err(Value::Bool(v))))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Err(Value::from(v))))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Err(Value::from(v))))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Err(Value::from(v))))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let value = Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Some(Err(value)))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let value = Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(Some(Err(value)))
    }
}

impl<'de> Deserialize<'de> for Extra {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Extra, D::Error> {
        Ok(Extra(match Value::deserialize(d)? {
            Value::Object(map) => map,
            _ => Map::new(),
        }))
    }
}

impl Row {
    /// The row as a sample of the split being built, with its answer.
    fn into_sample(self, i: usize, builder: &mut SplitBuilder, path: &Path) -> Answer {
        let (text, image) = match self.content {
            Content::Empty => (String::new(), None),
            Content::Text(text) => (text, None),
            Content::Image { path: shown, text } => {
                let mime =
                    match Path::new(&shown).extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase)
                    {
                        Some(e) if e == "png" => "image/png",
                        Some(e) if e == "jpg" || e == "jpeg" => "image/jpeg",
                        _ => "application/octet-stream",
                    };
                let image = ImageRef::new(ImageFile {
                    path: shown.clone().into(),
                    display: shown,
                    sha256: String::new(),
                    mime,
                });
                (text, Some(image))
            }
        };
        builder.push(text, image, self.label, self.extra.0, format!("{i}"));
        match self.pred {
            PredField::Missing => Err(Unscorable::new(
                UnscorableKind::Data,
                format!("{}: per_sample_results[{i}] has no pred", path.display()),
            )),
            PredField::Text(text) => {
                let response = ChatResponse {
                    text,
                    reasoning: None,
                    finish: Finish::Stop,
                    finish_raw: None,
                    usage: None,
                    raw: Value::Null,
                };
                Ok(Answered { response, fingerprint: None, trace: None })
            }
        }
    }
}

/// Reads a whole per-split log of the original toolbox into samples and answers for a task's
/// split.
pub fn read(path: &Path, task: &str, split: &str) -> Result<(Vec<Sample>, Vec<Answer>), PipelineError> {
    let mut rows = LogRows::open(path)?;
    let mut builder = SplitBuilder::new(task, split);
    let (mut answers, mut read) = (Vec::new(), Vec::new());
    while rows.next_rows::<Row>(&mut read, PART)? {
        for row in read.drain(..) {
            let i = answers.len();
            answers.push(row.into_sample(i, &mut builder, path));
        }
    }
    Ok((builder.finish(), answers))
}

/// Rows scored together: enough that a judge's concurrency is kept busy, few enough that
/// memory stays small.
const PART: usize = 2048;

/// Rows scored together by rules alone: each part's time is the rules' own, so small parts
/// keep the stages' memory (a few parts each) small without slowing them.
const RULES_PART: usize = 512;

/// Rescores a log (the plan of `multitrust score --mmtrusteval-log`) and writes its result file
/// in the original's layout to the plan's output, or to stdout: the same bytes as scoring the
/// whole split at once, with memory for one part of rows. The rows are scored part by part and
/// written to a temporary file beside the output, keeping only each sample's target and final
/// values for the totals, which go first. Gives the number of samples.
///
/// Which columns the result has (`label`, `extra`) depends on every row. With rules only, the
/// first part's columns are taken and the log is read once more in the rare case that a later
/// row widens them; with a judge or a classifier (whose answers must not be asked for twice) a
/// first pass over the log reads them before any row is written.
pub async fn rescore(plan: &Plan, engine: &Engine) -> Result<usize, PipelineError> {
    let Source::Log { path, split } = &plan.source else {
        return Err(PipelineError::Usage("rescore takes a log plan".into()));
    };
    let task =
        plan.tasks.first().ok_or_else(|| PipelineError::Usage("a log is rescored for one task".into()))?;
    let scorer = Scorer::of_plan(plan, engine);
    let chains = task.chains(split);
    let rules_only = chains.iter().all(|c| c.needs().is_empty());

    // The rows go to a file of their own first: the totals, known at the end, come before them.
    let base = match &plan.out {
        Some(out) => out.clone(),
        None => std::env::temp_dir().join(format!("multitrust-rescore-{}", std::process::id())),
    };
    if let Some(dir) = base.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| PipelineError::Input(format!("{}: {e}", dir.display())))?;
    }
    let body = Partial(with_suffix(&base, ".rows.partial"));
    let written = |e: std::io::Error| PipelineError::Input(format!("{}: cannot write: {e}", base.display()));

    let mut columns = match rules_only {
        true => None,
        false => {
            let path = path.clone();
            let read = tokio::task::spawn_blocking(move || read_columns(&path)).await;
            Some(read.map_err(|_| PipelineError::Usage("reading the log failed".into()))??)
        }
    };
    let (tally, n) = loop {
        let part = if rules_only { RULES_PART } else { PART };
        let pass =
            Pass { path, split, task: task.info().id, chains: &chains, scorer: &scorer, body: &body.0, part };
        let (tally, n, used, seen) = pass.run(columns).await?;
        if used == seen {
            break (tally, n);
        }
        tracing::debug!(
            "{}: a later row widens the result's columns; writing the rows again",
            path.display()
        );
        columns = Some(seen);
    };
    if n == 0 {
        return Err(PipelineError::Input(format!("{}: the log holds no sample", path.display())));
    }

    let totals: Map<String, Value> = tally.totals().into_iter().map(|(k, v)| (k, json_number(v))).collect();
    let shell = serde_json::json!({"total_results": totals, "per_sample_results": []});
    let mut head = Vec::new();
    write_pretty(&mut head, &shell).map_err(written)?;
    let cut = head.len() - "]\n}".len();
    let (open, _) = head.split_at(cut);
    // Generic over the output so that the standard library copies file to file (or to a
    // redirected stdout) in the kernel.
    fn assemble<W: Write>(mut w: W, open: &[u8], body: &Path) -> std::io::Result<()> {
        w.write_all(open)?;
        std::io::copy(&mut File::open(body)?, &mut w)?;
        w.write_all(b"\n    ]\n}\n")?;
        w.flush()
    }
    match &plan.out {
        Some(out) => {
            let whole = Partial(with_suffix(out, ".partial"));
            assemble(File::create(&whole.0).map_err(written)?, open, &body.0).map_err(written)?;
            std::fs::rename(&whole.0, out).map_err(written)?;
        }
        None => assemble(std::io::stdout().lock(), open, &body.0).map_err(written)?,
    }
    Ok(n)
}

/// One pass over a log: read, score and write every row.
struct Pass<'a> {
    path: &'a Path,
    split: &'a str,
    task: &'a str,
    chains: &'a [Chain],
    scorer: &'a Scorer<'a>,
    /// Where the rows are written.
    body: &'a Path,
    /// Rows scored together.
    part: usize,
}

impl Pass<'_> {
    /// Reads, scores and writes every row with the given columns, or with the first part's
    /// when none are given; gives the tally, the number of rows, the columns the rows were
    /// written with and the columns the rows have.
    ///
    /// Four stages at once, each on its own thread but the scoring (which may ask a judge):
    /// parsing rows; making them samples (with their ids' digests); scoring them; writing them
    /// and keeping the tally. Parts of rows go between them through short queues, so memory
    /// holds a few parts.
    async fn run(
        &self,
        columns: Option<ResultColumns>,
    ) -> Result<(Tally, usize, ResultColumns, ResultColumns), PipelineError> {
        let written =
            |e: std::io::Error| PipelineError::Input(format!("{}: cannot write: {e}", self.body.display()));
        let (parts, mut parts_rx) =
            tokio::sync::mpsc::channel::<Result<(Vec<Sample>, Vec<Answer>), PipelineError>>(2);
        let (rows_tx, rows_rx) = std::sync::mpsc::sync_channel::<Result<(usize, Vec<Row>), PipelineError>>(2);
        let reader = {
            let (path, part) = (self.path.to_path_buf(), self.part);
            std::thread::spawn(move || {
                let mut rows = match LogRows::open(&path) {
                    Ok(rows) => rows,
                    Err(e) => {
                        let _ = rows_tx.send(Err(e));
                        return;
                    }
                };
                loop {
                    let (first, mut read) = (rows.count, Vec::with_capacity(part));
                    let more = loop {
                        let room = part - read.len();
                        match rows.next_rows::<Row>(&mut read, room) {
                            Ok(true) if read.len() < part => {}
                            Ok(more) => break more,
                            Err(e) => {
                                let _ = rows_tx.send(Err(e));
                                return;
                            }
                        }
                    };
                    if (!read.is_empty() && rows_tx.send(Ok((first, read))).is_err()) || !more {
                        return;
                    }
                }
            })
        };
        let builder = {
            let (path, task, split) =
                (self.path.to_path_buf(), self.task.to_string(), self.split.to_string());
            std::thread::spawn(move || {
                let mut builder = SplitBuilder::new(&task, &split);
                for part in rows_rx {
                    let part = part.map(|(first, read)| {
                        let answers: Vec<Answer> = (first..)
                            .zip(read)
                            .map(|(i, row)| row.into_sample(i, &mut builder, &path))
                            .collect();
                        (builder.take(), answers)
                    });
                    if parts.blocking_send(part).is_err() {
                        return;
                    }
                }
            })
        };
        let (scored, mut scored_rx) = tokio::sync::mpsc::channel::<SplitScores>(2);
        let writer = {
            let file = File::create(self.body).map_err(written)?;
            let specs = self.chains.iter().map(|c| c.spec()).collect();
            std::thread::spawn(
                move || -> Result<(Tally, usize, ResultColumns, ResultColumns), std::io::Error> {
                    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
                    let mut tally = Tally::new(specs);
                    let (mut n, mut scratch) = (0, Vec::new());
                    let mut seen = ResultColumns::default();
                    let mut used = columns;
                    while let Some(scores) = scored_rx.blocking_recv() {
                        seen = scores.samples.iter().fold(seen, |c, s| c.with(&s.target, !s.extra.is_null()));
                        let columns = *used.get_or_insert(seen);
                        for sample in &scores.samples {
                            w.write_all(if n == 0 { b"\n        " } else { b",\n        " })?;
                            let row = ResultRow { chains: &scores.chains, sample, columns };
                            write_row(&mut w, &row, &mut scratch)?;
                            n += 1;
                        }
                        tally.add(&scores);
                    }
                    w.flush()?;
                    Ok((tally, n, used.unwrap_or(seen), seen))
                },
            )
        };
        let mut failed = None;
        while let Some(part) = parts_rx.recv().await {
            let (samples, answers) = match part {
                Ok(part) => part,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            };
            let preds: Vec<Result<Pred, Unscorable>> = answers
                .into_iter()
                .map(|a: Answer| {
                    a.map(|a| Pred { text: a.response.text, blocked: a.response.finish.is_block() })
                })
                .collect();
            let scores =
                match score_split(self.task, self.split, samples, preds, self.chains, self.scorer).await {
                    Ok(scores) => scores,
                    Err(e) => {
                        failed = Some(e.into());
                        break;
                    }
                };
            if scored.send(scores).await.is_err() {
                break;
            }
        }
        drop(scored);
        drop(parts_rx);
        let _ = reader.join();
        let _ = builder.join();
        let written = writer
            .join()
            .map_err(|_| PipelineError::Usage("writing the result failed".into()))?
            .map_err(written);
        match failed {
            Some(e) => Err(e),
            None => written,
        }
    }
}

/// Which columns the result of a log has, from a reading of every row.
fn read_columns(path: &Path) -> Result<ResultColumns, PipelineError> {
    let mut columns = ResultColumns::default();
    let mut rows = LogRows::open(path)?;
    let mut read = Vec::new();
    while rows.next_rows::<RowColumns>(&mut read, PART)? {
        columns = read.drain(..).fold(columns, |c, row| c.with(&row.label, !row.extra.0.is_empty()));
    }
    match rows.count {
        0 => Err(PipelineError::Input(format!("{}: the log holds no sample", path.display()))),
        _ => Ok(columns),
    }
}

/// A file that is removed when it goes out of scope (renamed away first when it is done).
struct Partial(PathBuf);

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Writes a value as the result file does (four-space indent), as an entry at depth two of
/// the file: every line after the first indented by eight spaces more. Raw newlines only occur
/// between tokens (strings escape theirs), so indenting after each is exact. `scratch` is
/// reused from row to row.
fn write_row(
    w: &mut impl Write,
    value: &impl serde::Serialize,
    scratch: &mut Vec<u8>,
) -> std::io::Result<()> {
    scratch.clear();
    write_pretty(scratch, value)?;
    let mut from = 0;
    for at in memchr::memchr_iter(b'\n', scratch) {
        w.write_all(&scratch[from..=at])?;
        w.write_all(b"        ")?;
        from = at + 1;
    }
    w.write_all(&scratch[from..])
}

/// Writes a value with the result file's four-space indent.
fn write_pretty(w: &mut impl Write, value: &impl serde::Serialize) -> std::io::Result<()> {
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(w, formatter);
    serde::Serialize::serialize(value, &mut ser).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_json_reads_bare_nan_outside_strings_only() {
        let text = br#"{"a": NaN, "b": [1, -Infinity, Infinity], "c": "NaN and \"Infinity\""}"#;
        let v: Value = serde_json::from_slice(&lenient(text)).unwrap();
        assert!(v["a"].is_null());
        assert_eq!(v["b"], serde_json::json!([1, null, null]));
        assert_eq!(v["c"], "NaN and \"Infinity\"");
    }

    #[test]
    fn values_end_where_their_structure_does() {
        let text = br#"{"a": "x}\"y", "b": [1, {"c": "]"}], "d": 2}, rest"#;
        assert_eq!(value_end(text, 0), Some(text.len() - 6));
        assert_eq!(value_end(br#"[1, [2], {"x": "]"}] ,"#, 0), Some(20));
        assert_eq!(value_end(br#""a\\" b"#, 0), Some(5));
        assert_eq!(value_end(b"12.5, ", 0), Some(4));
        assert_eq!(value_end(br#"{"a": "cut"#, 0), None);
        assert_eq!(value_end(br#"{"a": {"b": 1}"#, 0), None);
    }
}
