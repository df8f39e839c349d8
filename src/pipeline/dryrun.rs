//! `multitrust run --dry-run`: what a run would send and what it would cost, before paying.
//! Nothing is sent: per model, the requests the store lacks with their estimated input tokens
//! (text at about four characters a token, images by each provider's published formula) and
//! their output tokens at most (the token limit); per judge and classifier, how many requests
//! the answers would lead to. With a price per million tokens in the profile, the cost.

use std::collections::HashMap;

use serde::Serialize;

use super::execute::{pending, request};
use super::load::Loaded;
use super::plan::Plan;
use crate::backends::{ChatRequest, ChatService};
use crate::config::{Profile, Provider};
use crate::core::Need;
use crate::engine::Engine;

/// What one model, judge or classifier would be asked.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedCalls {
    /// `model`, `judge` or the classifier's section name.
    pub role: String,
    /// Its name.
    pub name: String,
    /// Requests of the run.
    pub requests: usize,
    /// Of them, those the store lacks (what would be sent); for judges and classifiers, an
    /// estimate: one per answer of a task that needs it (their text depends on the answers).
    pub lacking: usize,
    /// The lacking requests' input tokens, estimated.
    pub input_tokens: u64,
    /// The lacking requests' output tokens at most (their token limits).
    pub output_tokens_max: u64,
    /// How image tokens were estimated.
    pub image_formula: &'static str,
    /// The cost at most, when the profile has prices.
    pub cost_max: Option<f64>,
}

/// Plans every model of the run (and the judge and classifiers they would need).
pub async fn plan_calls(
    plan: &Plan,
    loaded: &Loaded,
    engine: &Engine,
) -> Result<Vec<PlannedCalls>, super::PipelineError> {
    let mut out = Vec::new();
    let mut sizes: HashMap<String, (u32, u32)> = HashMap::new();
    let mut judged = 0;
    let mut classified: HashMap<Need, usize> = HashMap::new();
    for m in &plan.models {
        let tasks_in = loaded.for_model(&m.info.name);
        for (task, _) in pending(plan, tasks_in) {
            for need in task.needs() {
                match need {
                    Need::Judge => judged += 1,
                    other => *classified.entry(other).or_default() += 1,
                }
            }
        }
        let Some(profile) = m.profile.as_ref().filter(|p| !p.is_baseline()) else { continue };
        let service = ChatService::from_profile(profile)?;
        let requests: Vec<ChatRequest> =
            pending(plan, tasks_in).map(|(task, sample)| request(plan, profile, task, sample)).collect();
        let lacking = engine.lacking(&service, &requests).await;
        let formula = ImageFormula::of(profile);
        let mut input = 0u64;
        let mut output = 0u64;
        for &i in &lacking {
            let r = &requests[i];
            output += u64::from(r.max_tokens);
            for message in &r.messages {
                input += message.text().chars().count().div_ceil(4) as u64 + 4;
                for image in message.images() {
                    let (w, h) = *sizes
                        .entry(image.sha256.clone())
                        .or_insert_with(|| image::image_dimensions(&image.path).unwrap_or((512, 512)));
                    let (w, h) = match r.max_image_side {
                        Some(side) if w.max(h) > side => {
                            let f = f64::from(side) / f64::from(w.max(h));
                            ((f64::from(w) * f).round() as u32, (f64::from(h) * f).round() as u32)
                        }
                        _ => (w, h),
                    };
                    input += formula.tokens(w, h);
                }
            }
        }
        out.push(PlannedCalls {
            role: "model".into(),
            name: m.info.name.clone(),
            requests: requests.len(),
            lacking: lacking.len(),
            input_tokens: input,
            output_tokens_max: output,
            image_formula: formula.describe(),
            cost_max: cost(profile, input, output),
        });
    }
    if let Some((profile, _)) = &plan.judge
        && judged > 0
    {
        out.push(PlannedCalls {
            role: "judge".into(),
            name: profile.label(),
            requests: judged,
            lacking: judged,
            input_tokens: 0,
            output_tokens_max: 0,
            image_formula: "",
            cost_max: None,
        });
    }
    let configured: Vec<String> = plan.classifiers.identities().iter().map(|i| i.label()).collect();
    let mut needs: Vec<(Need, usize)> = classified.into_iter().collect();
    needs.sort();
    // Only the configured ones are asked (a task's need that is not configured is scored by
    // the reference scorers or left unscored).
    for (need, n) in needs {
        let Some(name) = configured.iter().find(|c| c.contains(&need.to_string())) else { continue };
        out.push(PlannedCalls {
            role: need.to_string(),
            name: name.clone(),
            requests: n,
            lacking: n,
            input_tokens: 0,
            output_tokens_max: 0,
            image_formula: "",
            cost_max: None,
        });
    }
    Ok(out)
}

/// The cost at most in the profile's currency, from its prices per million tokens.
fn cost(profile: &Profile, input: u64, output: u64) -> Option<f64> {
    let (i, o) = (profile.input_price?, profile.output_price?);
    Some((input as f64 * i + output as f64 * o) / 1e6)
}

/// How a provider counts an image's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ImageFormula {
    /// OpenAI's published rule for high detail: fit in 2048², shortest side to 768, then
    /// 85 + 170 per 512-px tile.
    OpenAi,
    /// Anthropic's: long side at most 1568 px, then width × height / 750.
    Anthropic,
    /// Gemini's: 258 for an image of at most 384 px a side, else 258 per 768-px tile.
    Gemini,
    /// A served open model (vLLM, SGLang, Ollama, llama.cpp): Qwen2-VL's 28-px patches, one
    /// token each; the real count depends on the model.
    Patches,
}

impl ImageFormula {
    fn of(profile: &Profile) -> ImageFormula {
        match profile.provider {
            Provider::Anthropic => ImageFormula::Anthropic,
            Provider::Gemini => ImageFormula::Gemini,
            _ if profile.base_url().contains("api.openai.com") => ImageFormula::OpenAi,
            _ => ImageFormula::Patches,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            ImageFormula::OpenAi => "OpenAI high detail: 85 + 170 per 512-px tile",
            ImageFormula::Anthropic => "Anthropic: width × height / 750",
            ImageFormula::Gemini => "Gemini: 258 per 768-px tile",
            ImageFormula::Patches => {
                "served model: one token per 28-px patch (Qwen2-VL's rule; models differ)"
            }
        }
    }

    /// The tokens of an image of `w` × `h` pixels.
    fn tokens(self, w: u32, h: u32) -> u64 {
        let (w, h) = (f64::from(w.max(1)), f64::from(h.max(1)));
        let fit = |w: f64, h: f64, side: f64| {
            let f = (side / w.max(h)).min(1.0);
            (w * f, h * f)
        };
        match self {
            ImageFormula::OpenAi => {
                let (w, h) = fit(w, h, 2048.0);
                let f = (768.0 / w.min(h)).min(1.0);
                let (w, h) = (w * f, h * f);
                85 + 170 * ((w / 512.0).ceil() * (h / 512.0).ceil()) as u64
            }
            ImageFormula::Anthropic => {
                let (w, h) = fit(w, h, 1568.0);
                (w * h / 750.0).ceil() as u64
            }
            ImageFormula::Gemini => {
                if w <= 384.0 && h <= 384.0 {
                    258
                } else {
                    258 * ((w / 768.0).ceil() * (h / 768.0).ceil()) as u64
                }
            }
            ImageFormula::Patches => ((w / 28.0).ceil() * (h / 28.0).ceil()) as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ImageFormula;

    #[test]
    fn image_tokens_follow_the_published_formulas() {
        // OpenAI's own examples: 1024² → 768² → 4 tiles → 765; 2048×4096 → 768×1536 → 6 tiles.
        assert_eq!(ImageFormula::OpenAi.tokens(1024, 1024), 765);
        assert_eq!(ImageFormula::OpenAi.tokens(2048, 4096), 1105);
        // Anthropic: 1000×1000 / 750 = 1334 (rounded up); larger images are fitted to 1568.
        assert_eq!(ImageFormula::Anthropic.tokens(1000, 1000), 1334);
        assert_eq!(ImageFormula::Anthropic.tokens(3136, 3136), 3279);
        assert_eq!(ImageFormula::Gemini.tokens(384, 300), 258);
        assert_eq!(ImageFormula::Gemini.tokens(1000, 700), 516);
        assert_eq!(ImageFormula::Patches.tokens(448, 448), 256);
    }
}
