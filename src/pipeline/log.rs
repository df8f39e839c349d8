//! Logs written by the original MMTrustEval toolbox (`logs/<aspect>/<task>/<model>/<split>.json`):
//! their `per_sample_results` (`content`, `pred`, `label`, `extra`) read back as samples and
//! answers, so that the same evaluators score them again.

use std::path::Path;

use serde_json::{Map, Value};

use super::PipelineError;
use super::record::{Answer, Answered};
use crate::backends::{ChatResponse, Finish};
use crate::core::{Unscorable, UnscorableKind};
use crate::sample::{ImageFile, ImageRef, Sample, SplitBuilder, Target};

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
pub fn read(path: &Path, task: &str, split: &str) -> Result<(Vec<Sample>, Vec<Answer>), PipelineError> {
    let input = |m: String| PipelineError::Input(m);
    let text =
        std::fs::read_to_string(path).map_err(|e| input(format!("{}: cannot read: {e}", path.display())))?;
    let log = parse_lenient_json(&text).map_err(|e| input(format!("{}: not JSON: {e}", path.display())))?;
    let rows = log["per_sample_results"].as_array().ok_or_else(|| {
        input(format!(
            "{}: no `per_sample_results` list; is this a log written by MMTrustEval's run_task.py?",
            path.display()
        ))
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
                .map_err(|e| input(format!("{}: per_sample_results[{i}].label: {e}", path.display())))?,
        };
        let extra: Map<String, Value> =
            row.get("extra").and_then(Value::as_object).cloned().unwrap_or_default();
        let group = format!("{i}");
        builder.push(text, image, target, extra, group);
        let answer = |text: String| {
            let response = ChatResponse {
                text,
                reasoning: None,
                finish: Finish::Stop,
                finish_raw: None,
                usage: None,
                raw: Value::Null,
            };
            Ok(Answered { response, fingerprint: None, trace: None })
        };
        answers.push(match row.get("pred") {
            Some(Value::String(p)) => answer(p.clone()),
            Some(Value::Null) | None => Err(Unscorable::new(
                UnscorableKind::Data,
                format!("{}: per_sample_results[{i}] has no pred", path.display()),
            )),
            Some(other) => answer(other.to_string()),
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
