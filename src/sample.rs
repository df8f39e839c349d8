//! The data model: a [`Sample`] is one question put to a model, with what a correct answer is.
//!
//! Samples are built by the task loaders from the benchmark's files. They carry everything the
//! rest of the pipeline needs: the messages to send (text and images), the target the evaluators
//! compare against, the extra fields that judge prompts read, and a stable id.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::core::{Sha256Writer, Unscorable, UnscorableKind, push_hex};

/// Who speaks a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions placed before the conversation.
    System,
    /// The person asking.
    User,
    /// The model.
    Assistant,
}

/// An image on disk, identified by the hash of its bytes.
///
/// Images are read when a request is sent, never held in memory with the samples. The hash is
/// what enters request fingerprints, so moving the data folder does not invalidate the store.
/// Cloning is cheap: the description is shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef(Arc<ImageFile>);

/// What [`ImageRef`] shares: where the image is, how it is shown, its hash and type.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct ImageFile {
    /// Where the file is on this machine.
    #[serde(skip)]
    pub path: PathBuf,
    /// The path shown to people: relative to the data folder where it lies inside it.
    #[serde(skip)]
    pub display: String,
    /// SHA-256 of the file's bytes, as lower-case hex.
    pub sha256: String,
    /// The MIME type read from the file's first bytes (`image/png`, `image/jpeg`, ...).
    pub mime: &'static str,
}

impl ImageRef {
    /// An image reference.
    pub fn new(file: ImageFile) -> ImageRef {
        ImageRef(Arc::new(file))
    }
}

impl std::ops::Deref for ImageRef {
    type Target = ImageFile;

    fn deref(&self) -> &ImageFile {
        &self.0
    }
}

impl Serialize for ImageRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// One part of a message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Content {
    /// Plain text.
    Text {
        /// The text, shared by every copy of the message (a sample's prompt, each request made
        /// of it, its scores' `content`).
        text: Arc<str>,
    },
    /// An image.
    Image {
        /// The image.
        image: ImageRef,
    },
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// Text and image parts, in order.
    pub content: Vec<Content>,
}

impl Message {
    /// A user message with text and, optionally, one image (the benchmark's only shape).
    pub fn user(text: impl Into<Arc<str>>, image: Option<ImageRef>) -> Message {
        let mut content = vec![Content::Text { text: text.into() }];
        if let Some(image) = image {
            content.push(Content::Image { image });
        }
        Message { role: Role::User, content }
    }

    /// A system message.
    pub fn system(text: impl Into<Arc<str>>) -> Message {
        Message { role: Role::System, content: vec![Content::Text { text: text.into() }] }
    }

    /// All text parts joined with newlines.
    pub fn text(&self) -> String {
        match self.only_text() {
            Some(text) => text.to_string(),
            None => self.joined_text(),
        }
    }

    /// The text as [`Message::text`] gives it, sharing the message's own when it has one text
    /// part (the benchmark's shape) instead of copying it.
    pub fn shared_text(&self) -> Arc<str> {
        match self.only_text() {
            Some(text) => text.clone(),
            None => self.joined_text().into(),
        }
    }

    /// The text part of a message of one text, with or without an image after it.
    fn only_text(&self) -> Option<&Arc<str>> {
        match &self.content[..] {
            [Content::Text { text }] | [Content::Text { text }, Content::Image { .. }] => Some(text),
            _ => None,
        }
    }

    fn joined_text(&self) -> String {
        let parts: Vec<&str> = self
            .content
            .iter()
            .filter_map(|c| match c {
                Content::Text { text } => Some(&**text),
                Content::Image { .. } => None,
            })
            .collect();
        parts.join("\n")
    }

    /// The images of this message.
    pub fn images(&self) -> impl Iterator<Item = &ImageRef> {
        self.content.iter().filter_map(|c| match c {
            Content::Image { image } => Some(image),
            Content::Text { .. } => None,
        })
    }
}

/// What a correct answer is, in the shapes the benchmark uses.
///
/// The original stores ints (0/1), strings, floats, lists of accepted strings or nothing; the
/// evaluators depend on which, so the shape is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(untagged)]
pub enum Target {
    /// No target (open-ended and refusal tasks).
    #[default]
    None,
    /// A boolean label (read as 0/1).
    Bool(bool),
    /// An integer label such as 0/1.
    Int(i64),
    /// A numeric label such as a human agreement score.
    Float(f64),
    /// A string label.
    Text(String),
    /// A list of accepted strings.
    List(Vec<String>),
}

/// A target is read by the JSON type it has (as an untagged enum would, without trying each
/// shape in turn): `null`, a boolean, an integer (one beyond `i64` becomes a float), a float,
/// a string, or a list of strings.
impl<'de> serde::Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Target, D::Error> {
        deserializer.deserialize_any(TargetVisitor)
    }
}

struct TargetVisitor;

impl<'de> serde::de::Visitor<'de> for TargetVisitor {
    type Value = Target;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("null, a boolean, a number, a string or a list of strings")
    }

    fn visit_unit<E>(self) -> Result<Target, E> {
        Ok(Target::None)
    }

    fn visit_none<E>(self) -> Result<Target, E> {
        Ok(Target::None)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Target, D::Error> {
        serde::Deserialize::deserialize(d)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Target, E> {
        Ok(Target::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Target, E> {
        Ok(Target::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Target, E> {
        Ok(i64::try_from(v).map(Target::Int).unwrap_or(Target::Float(v as f64)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Target, E> {
        Ok(Target::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Target, E> {
        Ok(Target::Text(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Target, E> {
        Ok(Target::Text(v))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Target, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<String>()? {
            items.push(item);
        }
        Ok(Target::List(items))
    }
}

impl Target {
    /// The label as a number, where it is one (booleans are 0/1).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Target::Bool(b) => Some(f64::from(u8::from(*b))),
            Target::Int(i) => Some(*i as f64),
            Target::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The label as text: strings as they are, numbers in Python's `str()` form, lists joined.
    pub fn as_text(&self) -> String {
        match self {
            Target::None => "None".to_string(),
            Target::Bool(true) => "True".to_string(),
            Target::Bool(false) => "False".to_string(),
            Target::Int(i) => i.to_string(),
            Target::Float(f) => python_float(*f),
            Target::Text(s) => s.clone(),
            Target::List(items) => {
                let quoted: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
                format!("[{}]", quoted.join(", "))
            }
        }
    }

    /// Whether there is a target at all.
    pub fn is_none(&self) -> bool {
        matches!(self, Target::None)
    }

    /// The target as JSON, as the original writes it in its logs.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Formats a float as Python's `str(float)` does for the values labels hold (`50.0`, `-12.5`).
pub fn python_float(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else if f.is_nan() {
        "nan".to_string()
    } else {
        format!("{f}")
    }
}

/// One question to put to a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Stable id: the same data gives the same id (`TASK/SPLIT/ORDINAL-HASH`).
    pub id: String,
    /// Task id, e.g. `R3` (shared by the split's samples).
    pub task: Arc<str>,
    /// Split (the original's dataset id), e.g. `dt-text`.
    pub split: Arc<str>,
    /// The conversation to send; every benchmark sample is one user message.
    pub messages: Vec<Message>,
    /// What a correct answer is.
    pub target: Target,
    /// Extra fields for evaluators and judge prompts; `subset` selects subset metrics.
    pub extra: Map<String, Value>,
    /// The record this sample comes from: samples of one record (across splits too) are
    /// resampled together by the bootstrap.
    pub group: String,
    /// Why this sample cannot be sent (a missing image, say); it ends unscorable.
    pub problem: Option<Unscorable>,
}

impl Sample {
    /// The text of the (last) user message.
    pub fn text(&self) -> String {
        self.messages.last().map(Message::text).unwrap_or_default()
    }

    /// The first image of the conversation, if any.
    pub fn image(&self) -> Option<&ImageRef> {
        self.messages.iter().flat_map(Message::images).next()
    }

    /// The subset this sample belongs to (`extra.subset`), if any.
    pub fn subset(&self) -> Option<&str> {
        self.extra.get("subset").and_then(Value::as_str)
    }

    /// The `content` entry of the original's logs: the text, or `{image_path, text}`.
    pub fn log_content(&self) -> LogContent {
        LogContent {
            text: self.messages.last().map(Message::shared_text).unwrap_or_default(),
            image: self.image().map(|image| image.display.clone()),
        }
    }

    /// The extra fields as JSON, or `null` when there are none (as the original writes them).
    pub fn extra_json(&self) -> Value {
        if self.extra.is_empty() { Value::Null } else { Value::Object(self.extra.clone()) }
    }
}

/// A sample's `content` entry in the original's logs, written as it writes it: the text alone,
/// or `{"image_path": ..., "text": ...}` when the sample shows an image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogContent {
    /// The text of the user message (shared with the sample's message).
    pub text: Arc<str>,
    /// The image as the log names it.
    pub image: Option<String>,
}

impl Serialize for LogContent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match &self.image {
            None => serializer.serialize_str(&self.text),
            Some(path) => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("image_path", path)?;
                map.serialize_entry("text", &self.text)?;
                map.end()
            }
        }
    }
}

/// Builds the samples of one split, giving each a stable id.
///
/// The id is `TASK/SPLIT/ORDINAL-HASH`, where the ordinal is the sample's position in the
/// split's deterministic order and the hash covers its text, image and target, so that two runs
/// share an id only when they asked the same thing.
#[derive(Debug)]
pub struct SplitBuilder {
    task: Arc<str>,
    split: Arc<str>,
    samples: Vec<Sample>,
    /// Samples handed out by [`SplitBuilder::take`].
    taken: usize,
    /// Room for the JSON an id hashes.
    scratch: Vec<u8>,
}

impl SplitBuilder {
    /// A builder for one split of one task.
    pub fn new(task: &str, split: &str) -> SplitBuilder {
        SplitBuilder {
            task: task.into(),
            split: split.into(),
            samples: Vec::new(),
            taken: 0,
            scratch: Vec::new(),
        }
    }

    /// Adds a sample with one user message.
    pub fn push(
        &mut self,
        text: impl Into<Arc<str>>,
        image: Option<ImageRef>,
        target: Target,
        extra: Map<String, Value>,
        group: impl Into<String>,
    ) -> &mut Sample {
        let message = Message::user(text, image);
        let ordinal = self.taken + self.samples.len();
        // `TASK/SPLIT/ORDINAL-HASH`, built in one allocation (many thousands are made).
        let mut id = String::with_capacity(self.task.len() + self.split.len() + 20);
        let _ = write!(id, "{}/{}/{:05}-", self.task, self.split, ordinal);
        push_hex(&mut id, &content_digest(&mut self.scratch, &message, &target)[..4]);
        self.samples.push(Sample {
            id,
            task: self.task.clone(),
            split: self.split.clone(),
            messages: vec![message],
            target,
            extra,
            group: group.into(),
            problem: None,
        });
        let last = self.samples.len() - 1;
        &mut self.samples[last]
    }

    /// Adds a sample whose image cannot be used (missing, unreadable), with the reason; it is
    /// never sent and ends unscorable with kind `image`.
    pub fn push_problem(
        &mut self,
        text: impl Into<Arc<str>>,
        target: Target,
        extra: Map<String, Value>,
        group: impl Into<String>,
        problem: impl Into<String>,
    ) {
        let sample = self.push(text, None, target, extra, group);
        sample.problem = Some(Unscorable::new(UnscorableKind::Image, problem));
    }

    /// The task the split belongs to.
    pub fn task(&self) -> &str {
        &self.task
    }

    /// The split's name.
    pub fn split(&self) -> &str {
        &self.split
    }

    /// How many samples so far.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether no sample was added.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The samples, in order.
    pub fn finish(self) -> Vec<Sample> {
        self.samples
    }

    /// The samples pushed since the last take, leaving the builder to go on numbering after
    /// them (a split built and scored part by part).
    pub fn take(&mut self) -> Vec<Sample> {
        self.taken += self.samples.len();
        let capacity = self.samples.len();
        std::mem::replace(&mut self.samples, Vec::with_capacity(capacity))
    }
}

/// SHA-256 of the message and the target as compact JSON, one after the other; `scratch`
/// holds the JSON (reused from sample to sample).
fn content_digest(scratch: &mut Vec<u8>, message: &Message, target: &Target) -> [u8; 32] {
    scratch.clear();
    let _ = serde_json::to_writer(&mut *scratch, message);
    let _ = serde_json::to_writer(&mut *scratch, target);
    let mut hasher = Sha256Writer::default();
    hasher.update(scratch);
    hasher.digest()
}

/// Builds an `extra` map from key/value pairs.
pub fn extra<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_depend_on_content() {
        let build = |text: &str| {
            let mut b = SplitBuilder::new("R3", "dt-text");
            b.push(text, None, Target::Text("1".into()), Map::new(), "g");
            b.push("second", None, Target::None, Map::new(), "g");
            b.finish()
        };
        let a = build("hello");
        let b = build("hello");
        let c = build("other");
        assert_eq!(a[0].id, b[0].id);
        assert_ne!(a[0].id, c[0].id);
        assert!(a[0].id.starts_with("R3/dt-text/00000-"));
        assert!(a[1].id.starts_with("R3/dt-text/00001-"));
    }

    #[test]
    fn target_text_follows_python_str() {
        assert_eq!(Target::Float(50.0).as_text(), "50.0");
        assert_eq!(Target::Float(-12.5).as_text(), "-12.5");
        assert_eq!(Target::Int(1).as_text(), "1");
        assert_eq!(Target::List(vec!["a".into(), "b".into()]).as_text(), "['a', 'b']");
        assert_eq!(Target::Bool(true).as_f64(), Some(1.0));
    }

    #[test]
    fn target_json_shapes_round_trip() {
        for t in [
            Target::None,
            Target::Int(1),
            Target::Float(2.5),
            Target::Text("x".into()),
            Target::List(vec!["1".into()]),
        ] {
            let json = serde_json::to_string(&t).unwrap();
            let back: Target = serde_json::from_str(&json).unwrap();
            assert_eq!(back, t, "{json}");
        }
    }
}
