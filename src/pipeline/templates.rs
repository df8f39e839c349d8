//! Prompt texts: which templates each task's judges and classifiers use, whether a run used
//! the original toolbox's texts (checked byte for byte by their SHA-256), and
//! `multitrust templates import`, which reads those texts from the user's own checkout of the
//! original toolbox (they are never copied into this repository).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::record::{TaskTexts, TemplateUse, TextOrigin};
use crate::core::sha256_hex;
use crate::protocol::scoring::Step;
use crate::protocol::scoring::classifier::{Classifier, HARMBENCH_TEMPLATE};
use crate::protocol::scoring::judge::NOISE_TEMPLATE;
use crate::protocol::tasks::Task;

/// Where the original toolbox keeps a template, and the SHA-256 of its text as the importer
/// reads it (the same in v0.1.0, v0.2.x and `main` at a067801).
#[derive(Debug, Clone, Copy)]
pub struct OriginalText {
    /// Our template name.
    pub name: &'static str,
    /// The file in the original checkout.
    pub file: &'static str,
    /// SHA-256 of the text.
    pub sha256: &'static str,
}

/// Every template the original defines for the tasks' judges and classifiers.
pub const ORIGINAL_TEXTS: [OriginalText; 15] = [
    OriginalText {
        name: "T1:g-basic-grounding",
        file: "mmte/configs/task/truthfulness/t1-basic-grounding.yaml",
        sha256: "9e0fa5f9bf15c9da6f14ee26d1fc0378ebbb580a0b1b8fc9b58dbcb6e406e4fa",
    },
    OriginalText {
        name: "T1:g-basic-ocr",
        file: "mmte/configs/task/truthfulness/t1-basic-ocr.yaml",
        sha256: "8aad8230b8ff0af7bb77e156bd05c10f7c3dfb1fe9ef6599ab82e63568606bc5",
    },
    OriginalText {
        name: "T3:instruction-enhancement-factual",
        file: "mmte/configs/task/truthfulness/t3-instruction-enhancement-factual.yaml",
        sha256: "1071955ab9b04e2513157c42a397d297efa3e7d2ad7787551792f365d46ee216",
    },
    OriginalText {
        name: "T3:instruction-enhancement-logic",
        file: "mmte/configs/task/truthfulness/t3-instruction-enhancement-logic.yaml",
        sha256: "ee14670d27023bb77ba4433c41d9dc22b7266e909a4eeb99c2173ffdc8f9bcab",
    },
    OriginalText {
        name: "T4",
        file: "mmte/configs/task/truthfulness/t4-visual-assistance.yaml",
        sha256: "06b86d96d83d941cd5b2942bd1418f114a63559d2496e30efc929dce380e415a",
    },
    OriginalText {
        name: "T5",
        file: "mmte/configs/task/truthfulness/t5-text-misleading.yaml",
        sha256: "06b86d96d83d941cd5b2942bd1418f114a63559d2496e30efc929dce380e415a",
    },
    OriginalText {
        name: "T7",
        file: "mmte/configs/task/truthfulness/t7-visual-misleading.yaml",
        sha256: "06b86d96d83d941cd5b2942bd1418f114a63559d2496e30efc929dce380e415a",
    },
    OriginalText {
        name: "S2",
        file: "mmte/configs/task/safety/s2-risk-identification.yaml",
        sha256: "5d06f32dc9c9303f2672b70a49f90b9b79468e240b33f12d2559dec416a7cdbe",
    },
    OriginalText {
        name: "R1",
        file: "mmte/configs/task/robustness/r1-ood-artistic.yaml",
        sha256: "59fec32410f0d7f597b8103cb91f4db3cdbb34445fae1fb58216ae51696ee883",
    },
    OriginalText {
        name: "R2",
        file: "mmte/configs/task/robustness/r2-ood-sensor.yaml",
        sha256: "084532d51a8f5409d5f9a2fa6621f727cf07b8f32f3c5693bd4a593f3c25dd34",
    },
    OriginalText {
        name: "R4",
        file: "mmte/configs/task/robustness/r4-adversarial-untarget.yaml",
        sha256: "3a811929d3cec118fbc6b50b0ad922ccfe060ab0d8f0ce45d0ba187c8ec11e28",
    },
    OriginalText {
        name: "R5",
        file: "mmte/configs/task/robustness/r5-adversarial-target.yaml",
        sha256: "3a811929d3cec118fbc6b50b0ad922ccfe060ab0d8f0ce45d0ba187c8ec11e28",
    },
    OriginalText {
        name: "F1",
        file: "mmte/configs/task/fairness/f1-stereo-generation.yaml",
        sha256: "049aba14b4a4a6804a88d2cc0d1e266252320e86d12a04bdfac6064448886182",
    },
    OriginalText {
        name: "harmbench",
        file: "mmte/evaluators/classifier_eval.py",
        sha256: "4016eb2e1758f37cfbf37f0e1540f15f26857e048c28e69796c23337ae0a285a",
    },
    OriginalText {
        name: "noise",
        file: "mmte/evaluators/chatmodel_eval.py",
        sha256: "4b68f605da1af1af356649cecc7bf6318ce8f71a07e25a0b168ee0392c5c652d",
    },
];

/// The templates a task's chains use, by name, with our default text.
pub fn uses(task: &dyn Task) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for split in task.info().splits {
        for chain in task.chains(split) {
            for step in &chain.steps {
                match step {
                    Step::Judge(j) => {
                        out.insert(j.name.clone(), j.template.clone());
                    }
                    Step::JudgeScore(j) => {
                        out.insert(j.name.clone(), j.template.clone());
                        if j.test_noise {
                            out.insert("noise".to_string(), NOISE_TEMPLATE.to_string());
                        }
                    }
                    Step::Classify(Classifier::HarmBench) => {
                        out.insert("harmbench".to_string(), HARMBENCH_TEMPLATE.to_string());
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// Where one template's text comes from: the original's (by hash), ours (the default), or a
/// configured text that is neither.
pub fn origin(name: &str, text: &str, overridden: bool) -> TextOrigin {
    let hash = sha256_hex(text.as_bytes());
    if ORIGINAL_TEXTS.iter().any(|o| o.name == name && o.sha256 == hash) {
        TextOrigin::Original
    } else if overridden {
        TextOrigin::Custom
    } else {
        TextOrigin::Ours
    }
}

/// The texts a task's scorers use with these overrides: each template's hash and origin, and
/// the task's summary (`original`, `ours`, `custom`, or `none`).
pub fn task_texts(task: &dyn Task, overrides: &BTreeMap<String, String>) -> TaskTexts {
    let templates: BTreeMap<String, TemplateUse> = uses(task)
        .into_iter()
        .map(|(name, default)| {
            let text = overrides.get(&name).unwrap_or(&default);
            let origin = origin(&name, text, overrides.contains_key(&name));
            (name, TemplateUse { sha256: sha256_hex(text.as_bytes()), origin })
        })
        .collect();
    let texts = if templates.is_empty() {
        "none"
    } else if templates.values().all(|t| t.origin == TextOrigin::Original) {
        "original"
    } else if templates.values().any(|t| t.origin == TextOrigin::Custom) {
        "custom"
    } else {
        "ours"
    };
    TaskTexts { texts: texts.to_string(), templates }
}

/// Why the original texts could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file of the checkout cannot be read.
    #[error("{path}: cannot read: {source} (is {checkout} a checkout of MMTrustEval?)")]
    Read {
        /// The file.
        path: String,
        /// The checkout given.
        checkout: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file does not hold the template where the original keeps it.
    #[error("{path}: {message}")]
    Shape {
        /// The file.
        path: String,
        /// What was expected.
        message: String,
    },
}

#[derive(Deserialize)]
struct TaskYaml {
    #[serde(default)]
    evaluator_seq_cfgs: Vec<BTreeMap<String, EvaluatorYaml>>,
}

#[derive(Deserialize)]
struct EvaluatorYaml {
    #[serde(default)]
    prompt_template: Option<String>,
}

/// Reads every original template from a checkout of the original toolbox: the judge prompts
/// from the task configurations, the HarmBench classifier prompt and the noise question from
/// the evaluators' sources. Returns the texts by our template name.
pub fn import(checkout: &Path) -> Result<BTreeMap<String, String>, ImportError> {
    let mut out = BTreeMap::new();
    for original in ORIGINAL_TEXTS {
        let path = checkout.join(original.file);
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| ImportError::Read {
            path: shown.clone(),
            checkout: checkout.display().to_string(),
            source,
        })?;
        let shape = |message: &str| ImportError::Shape { path: shown.clone(), message: message.to_string() };
        let template = match original.name {
            "harmbench" => python_block(&text, "LLAMA2_CLS_PROMPT", "\"prompt\": '''")
                .ok_or_else(|| shape("no LLAMA2_CLS_PROMPT[\"prompt\"] text in triple quotes"))?,
            "noise" => noise_question(&text).ok_or_else(|| shape("no test_noise_prompt f-string"))?,
            _ => {
                let parsed: TaskYaml = serde_saphyr::from_str(&text)
                    .map_err(|e| shape(&format!("not the YAML of a task configuration: {e}")))?;
                parsed
                    .evaluator_seq_cfgs
                    .iter()
                    .flat_map(|seq| seq.values())
                    .find_map(|e| e.prompt_template.clone())
                    .ok_or_else(|| shape("no evaluator with a prompt_template"))?
            }
        };
        out.insert(original.name.to_string(), template);
    }
    Ok(out)
}

/// The text of a triple-quoted Python string that follows `key` after `var` (no escapes are
/// processed: the original's classifier prompt has none).
fn python_block(source: &str, var: &str, key: &str) -> Option<String> {
    let after_var = &source[source.find(var)?..];
    let start = after_var.find(key)? + key.len();
    let rest = &after_var[start..];
    let end = rest.find("'''")?;
    Some(rest[..end].to_string())
}

/// The noise question of `chatmodel_score`: the f-string assigned to `test_noise_prompt`, with
/// `\'` read as a quote and the `{pred}` slot made positional, as our templates write it.
fn noise_question(source: &str) -> Option<String> {
    let line = source.lines().find(|l| l.trim_start().starts_with("test_noise_prompt = f'"))?;
    let body = line.trim().strip_prefix("test_noise_prompt = f'")?.strip_suffix('\'')?;
    Some(body.replace("\\'", "'").replace("{pred}", "{}"))
}

/// Writes imported templates as a TOML templates file, with where they came from.
pub fn templates_file(texts: &BTreeMap<String, String>, checkout: &Path, commit: Option<&str>) -> String {
    let mut doc = toml::Table::new();
    let mut source = toml::Table::new();
    source.insert("checkout".into(), toml::Value::String(checkout.display().to_string()));
    if let Some(c) = commit {
        source.insert("commit".into(), toml::Value::String(c.to_string()));
    }
    doc.insert("source".into(), toml::Value::Table(source));
    let templates: toml::Table =
        texts.iter().map(|(k, v)| (k.clone(), toml::Value::String(v.clone()))).collect();
    doc.insert("templates".into(), toml::Value::Table(templates));
    format!(
        "# Written by `multitrust templates import` from the user's own checkout of MMTrustEval.\n\
         # Point the configuration at this file with `templates_file = \"...\"`.\n{}",
        toml::to_string(&doc).unwrap_or_default()
    )
}
