//! Scoring again without asking the models: from a run directory (`samples.jsonl` and the
//! response store), or from a per-split log written by the original MMTrustEval toolbox.
//!
//! Model answers are read back as they were; judge and classifier answers come from the store
//! under the same request fingerprints. When a judge is configured, missing judge answers are
//! requested; otherwise such samples are unscorable and everything else is still computed.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::config::{Profile, Provider};
use crate::engine::Unscorable;
use crate::models::{ChatResponse, Finish};
use crate::run::{Answer, LoadedTask, ModelRun};
use crate::sample::{ImageFile, ImageRef, Message, Sample, SplitBuilder, Target};
use crate::scoring::chain::{Pred, Preds};
use crate::tasks::Task;

/// What a run directory holds for rescoring.
#[derive(Debug)]
pub struct RunData {
    /// The manifest (`run.json`).
    pub manifest: Value,
    /// Per model, in the run's order: its profile, samples and answers.
    pub models: Vec<ModelRun>,
}

/// Reads `run.json` and `samples.jsonl` of a run directory, for the given tasks.
pub fn read_run(dir: &Path, tasks: &[Box<dyn Task>]) -> Result<RunData, String> {
    let manifest_path = dir.join("run.json");
    let manifest: Value = std::fs::read_to_string(&manifest_path)
        .map_err(|e| format!("{}: cannot read: {e} (is this a run directory?)", manifest_path.display()))
        .and_then(|t| serde_json::from_str(&t).map_err(|e| format!("{}: {e}", manifest_path.display())))?;
    let samples_path = dir.join("samples.jsonl");
    let text = std::fs::read_to_string(&samples_path).map_err(|e| {
        format!(
            "{}: cannot read: {e} (the run did not finish a model; run it again first)",
            samples_path.display()
        )
    })?;
    // model -> task -> split -> (samples, answers), in file order.
    type Splits = BTreeMap<String, (Vec<Sample>, Vec<Answer>)>;
    let mut by_model: Vec<(String, BTreeMap<String, Splits>)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let where_ = || format!("{}: line {}", samples_path.display(), i + 1);
        let v: Value = serde_json::from_str(line).map_err(|e| format!("{}: {e}", where_()))?;
        let field =
            |k: &str| v.get(k).and_then(Value::as_str).ok_or_else(|| format!("{}: no `{k}`", where_()));
        let (model, task, split) = (field("model")?, field("task")?, field("split")?);
        let sample = sample_from_line(&v).map_err(|e| format!("{}: {e}", where_()))?;
        let answer = match v.get("response").and_then(Value::as_str) {
            Some(text) => {
                let finish: Finish = serde_json::from_value(v["finish"].clone()).unwrap_or(Finish::Stop);
                let response = ChatResponse {
                    text: text.to_string(),
                    finish,
                    finish_raw: None,
                    usage: serde_json::from_value(v["usage"].clone()).ok(),
                    raw: Value::Null,
                };
                Ok((response, v["fingerprint"].as_str().map(str::to_string)))
            }
            None => Err(Unscorable::new(v["reason"].as_str().unwrap_or("no answer in the run").to_string())),
        };
        if !by_model.iter().any(|(m, _)| m == model) {
            by_model.push((model.to_string(), BTreeMap::new()));
        }
        let entry = by_model.iter_mut().find(|(m, _)| m == model).map(|(_, t)| t);
        if let Some(tasks) = entry {
            let split_entry =
                tasks.entry(task.to_string()).or_default().entry(split.to_string()).or_default();
            split_entry.0.push(sample);
            split_entry.1.push(answer);
        }
    }
    let described: Vec<Value> = manifest["models"].as_array().cloned().unwrap_or_default();
    let mut models = Vec::new();
    for (name, mut by_task) in by_model {
        let profile = described
            .iter()
            .find(|m| m["name"] == name.as_str())
            .map(profile_from_manifest)
            .unwrap_or_else(|| Profile::shorthand(&name, None))?;
        let mut loaded = Vec::new();
        let mut answers = Vec::new();
        for task in tasks {
            let mut splits_in = by_task.remove(task.info().id).unwrap_or_default();
            let mut lt = LoadedTask { splits: Vec::new() };
            let mut task_answers = Vec::new();
            for split in task.info().splits {
                match splits_in.remove(*split) {
                    Some((samples, split_answers)) => {
                        lt.splits.push((split.to_string(), Ok(samples)));
                        task_answers.push(split_answers);
                    }
                    None => {
                        lt.splits
                            .push((split.to_string(), Err(format!("split {split} is not in samples.jsonl"))));
                        task_answers.push(Vec::new());
                    }
                }
            }
            loaded.push(lt);
            answers.push(task_answers);
        }
        models.push(ModelRun { profile, loaded, answers });
    }
    Ok(RunData { manifest, models })
}

/// A model's profile as the manifest describes it (provider, model, endpoint, parameters).
pub fn profile_from_manifest(described: &Value) -> Result<Profile, String> {
    let name = described["name"].as_str().unwrap_or_default();
    let provider = described["provider"].as_str().unwrap_or_default();
    let model = described["model"].as_str().unwrap_or_default();
    let mut profile = Profile::shorthand(&format!("{provider}:{model}"), described["endpoint"].as_str())?;
    profile.name = name.to_string();
    if let Some(params) = described["params"].as_object() {
        profile.params = params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    }
    if profile.provider == Provider::Baseline {
        profile.base_url = None;
    }
    Ok(profile)
}

fn sample_from_line(v: &Value) -> Result<Sample, String> {
    let image = match &v["image"] {
        Value::Object(im) => Some(ImageRef::new(ImageFile {
            path: im.get("path").and_then(Value::as_str).unwrap_or_default().into(),
            display: im.get("path").and_then(Value::as_str).unwrap_or_default().to_string(),
            sha256: im.get("sha256").and_then(Value::as_str).unwrap_or_default().to_string(),
            mime: static_mime(im.get("mime").and_then(Value::as_str).unwrap_or_default()),
        })),
        _ => None,
    };
    let target: Target = serde_json::from_value(v["target"].clone()).map_err(|e| format!("target: {e}"))?;
    Ok(Sample {
        id: v["id"].as_str().ok_or("no `id`")?.to_string(),
        task: v["task"].as_str().unwrap_or_default().to_string(),
        split: v["split"].as_str().unwrap_or_default().to_string(),
        messages: vec![Message::user(v["text"].as_str().unwrap_or_default(), image)],
        target,
        extra: v["extra"].as_object().cloned().unwrap_or_default(),
        group: v["group"].as_str().unwrap_or_default().to_string(),
        problem: None,
    })
}

/// The MIME type as a static string (for images read back from files that name it).
pub fn static_mime(mime: &str) -> &'static str {
    match mime {
        "image/png" => "image/png",
        "image/jpeg" => "image/jpeg",
        "image/webp" => "image/webp",
        "image/gif" => "image/gif",
        "image/bmp" => "image/bmp",
        _ => "application/octet-stream",
    }
}

/// Parses JSON as Python's `json.dump` writes it: bare `NaN`, `Infinity` and `-Infinity`
/// (outside strings) are read as `null`.
pub fn parse_lenient_json(text: &str) -> Result<Value, serde_json::Error> {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '"' {
            in_string = true;
        } else if let Some(token) = ["-Infinity", "Infinity", "NaN"].iter().find(|t| rest.starts_with(**t)) {
            out.push_str("null");
            rest = &rest[token.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    serde_json::from_str(&out)
}

/// Reads a per-split log of the original toolbox (`per_sample_results` with `content`, `pred`,
/// `label`, `extra`) into samples and answers for a task's split.
pub fn read_mmtrusteval_log(path: &Path, task: &str, split: &str) -> Result<(Vec<Sample>, Preds), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let log = parse_lenient_json(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    let rows = log["per_sample_results"].as_array().ok_or_else(|| {
        format!(
            "{}: no `per_sample_results` list; is this a log written by MMTrustEval's run_task.py?",
            path.display()
        )
    })?;
    let mut builder = SplitBuilder::new(task, split);
    let mut answers = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let (text, image) = match &row["content"] {
            Value::String(s) => (s.clone(), None),
            Value::Object(c) => {
                let path_shown = c.get("image_path").and_then(Value::as_str).unwrap_or_default();
                let mime = match Path::new(path_shown)
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase)
                {
                    Some(e) if e == "png" => "image/png",
                    Some(e) if e == "jpg" || e == "jpeg" => "image/jpeg",
                    _ => "application/octet-stream",
                };
                let image = ImageRef::new(ImageFile {
                    path: path_shown.into(),
                    display: path_shown.to_string(),
                    sha256: String::new(),
                    mime,
                });
                (c.get("text").and_then(Value::as_str).unwrap_or_default().to_string(), Some(image))
            }
            _ => (String::new(), None),
        };
        let target: Target = match row.get("label") {
            None | Some(Value::Null) => Target::None,
            Some(label) => serde_json::from_value(label.clone())
                .map_err(|e| format!("{}: per_sample_results[{i}].label: {e}", path.display()))?,
        };
        let extra: Map<String, Value> =
            row.get("extra").and_then(Value::as_object).cloned().unwrap_or_default();
        let group = format!("{i}");
        builder.push(text, image, target, extra, group);
        answers.push(match row.get("pred") {
            Some(Value::String(p)) => Ok(Pred { text: p.clone(), blocked: false }),
            Some(Value::Null) | None => Err(Unscorable::new(format!("per_sample_results[{i}] has no pred"))),
            Some(other) => Ok(Pred { text: other.to_string(), blocked: false }),
        });
    }
    Ok((builder.finish(), answers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_json_reads_bare_nan_outside_strings_only() {
        let v =
            parse_lenient_json(r#"{"a": NaN, "b": [1, -Infinity, Infinity], "c": "NaN and \"Infinity\""}"#)
                .unwrap();
        assert!(v["a"].is_null());
        assert_eq!(v["b"], serde_json::json!([1, null, null]));
        assert_eq!(v["c"], "NaN and \"Infinity\"");
    }
}
