//! Preflight: before the bulk of a run, each model endpoint is checked in seconds. Is it
//! reachable (otherwise the run stops with the URL and the full cause)? And when the run sends
//! images, does it see them? Four tiny requests answer that from the prompt tokens the server
//! reports: a short and a long question, each with and without a picture. An endpoint that
//! ignores images (a text model, a llama.cpp server without its vision projector) or drops the
//! text of messages that carry an image is "blind": its image samples are not sent unless the
//! user says so. The probes go through the engine and the store like every request.

use std::path::Path;
use std::sync::Arc;

use super::PipelineError;
use crate::backends::scorers::{ClassReply, ClassifierSet, PromptRequest, TextRequest};
use crate::backends::{ChatRequest, ChatResponse, ChatService};
use crate::core::Unscorable;
use crate::data::{DataError, generated_image};
use crate::engine::{Engine, Outcome, Stop};
use crate::protocol::scoring::classifier::HARMBENCH_TEMPLATE;
use crate::protocol::scoring::judge::format_named;
use crate::sample::{ImageRef, Message};

/// What the preflight check found about an endpoint and images.
#[derive(Debug, Clone, PartialEq)]
pub enum Sight {
    /// The image adds prompt tokens, and so does longer text beside it.
    Sees,
    /// The endpoint ignores images or the text beside them; the reason says what was seen.
    Blind(String),
    /// Cannot tell (the server reports no token usage, say); the reason says why.
    Unknown(String),
}

/// The short probe question.
pub const SHORT: &str = "Reply with the word OK.";

/// The long probe question: the short one and about sixty more words, so that the server's
/// prompt token count has something to grow by.
pub const LONG: &str = "Reply with the word OK. This paragraph is only here to make the question longer, so \
that the number of prompt tokens the server reports can be compared between a short and a long version \
of the same request. It says nothing that needs an answer: it lists some ordinary words such as river, \
window, pencil, autumn, garden, bicycle, lantern, meadow, harbour, violin, orchard, compass, and then it \
ends. Reply with the word OK.";

/// The side of the probe picture: large enough that every vision encoder spends tokens on it.
pub const PROBE_SIDE: u32 = 448;

/// Fewer extra prompt tokens than this for the picture means the picture was not seen.
pub const MIN_IMAGE_TOKENS: u64 = 8;

/// Writes the probe picture (once) into a folder and opens it.
pub fn probe_image(dir: &Path) -> Result<ImageRef, DataError> {
    generated_image(dir, &format!("preflight-{PROBE_SIDE}.png"), || {
        // Stripes and a disc: something for a vision encoder to look at.
        image::RgbImage::from_fn(PROBE_SIDE, PROBE_SIDE, |x, y| {
            let (dx, dy) = (x as f32 - 224.0, y as f32 - 224.0);
            if dx * dx + dy * dy < 120.0 * 120.0 {
                image::Rgb([200, 40, 40])
            } else if (x / 32 + y / 32) % 2 == 0 {
                image::Rgb([240, 240, 230])
            } else {
                image::Rgb([40, 90, 200])
            }
        })
    })
}

/// Checks one chat endpoint: reachable, and (when `images` is given) whether it sees images.
/// An unreachable endpoint, a wrong model name or a refused key is an error naming the URL and
/// the cause.
pub async fn check(
    engine: &Engine,
    service: &Arc<ChatService>,
    name: &str,
    url: &str,
    params: &std::collections::BTreeMap<String, serde_json::Value>,
    images: Option<(&ImageRef, Option<u32>)>,
) -> Result<Sight, PipelineError> {
    let request = |text: &str, image: Option<&ImageRef>| ChatRequest {
        messages: vec![Message::user(text, image.cloned())],
        max_tokens: 4,
        temperature: 0.0,
        params: params.clone(),
        max_image_side: images.and_then(|(_, side)| side),
        reasoning: None,
        image_limits: crate::core::ImageLimits::default(),
    };
    let fail = |u: &Unscorable| {
        PipelineError::Preflight(format!(
            "{name}: the preflight request to {url} failed: {u}. Is the server running, and are the \
             model name and the key right? Fix it and run again (nothing else was sent)."
        ))
    };
    let label = format!("preflight {name}");
    // All four at once: one round trip before the run, not two (an endpoint that is down
    // fails the short question like the others, and that is the error given).
    let mut probes = vec![request(SHORT, None)];
    if let Some((image, _)) = images {
        probes.extend([request(LONG, None), request(SHORT, Some(image)), request(LONG, Some(image))]);
    }
    let out = engine.run(service, probes, &label).await?;
    match out.first() {
        Some(Err(u)) => return Err(fail(u)),
        None => return Ok(Sight::Unknown("no answer".into())),
        Some(Ok(_)) => {}
    }
    if images.is_none() {
        return Ok(Sight::Unknown("no image is sent".into()));
    }
    Ok(judge_sight(&out))
}

/// Reads the four probe answers (short, long, short with image, long with image).
pub fn judge_sight(out: &[Outcome<ChatResponse>]) -> Sight {
    let tokens =
        |i: usize| out.get(i).and_then(|o| o.as_ref().ok()).and_then(|a| a.reply.usage).map(|u| u.input);
    if let Some(Err(u)) = out.get(2) {
        return Sight::Blind(format!("the endpoint refused a question with an image: {u}"));
    }
    let (Some(short), Some(long), Some(short_img), Some(long_img)) =
        (tokens(0), tokens(1), tokens(2), tokens(3))
    else {
        return Sight::Unknown(
            "the server reports no prompt token usage, so whether it sees images cannot be told".into(),
        );
    };
    let text = long.saturating_sub(short);
    if text < 10 {
        return Sight::Unknown(format!(
            "the server's prompt token counts do not follow the text ({short} and {long} tokens for a short and a long question)"
        ));
    }
    if short_img < short + MIN_IMAGE_TOKENS {
        return Sight::Blind(format!(
            "a question took {short} prompt tokens without a {PROBE_SIDE}×{PROBE_SIDE} picture and {short_img} with it: \
             the endpoint ignores images"
        ));
    }
    if long_img.saturating_sub(short_img) < text / 2 {
        return Sight::Blind(format!(
            "with a picture, the long question took {long_img} prompt tokens and the short one {short_img} \
             (without a picture {long} and {short}): the endpoint drops the text of messages that carry an image"
        ));
    }
    Sight::Sees
}

/// Checks each configured classifier endpoint with one tiny request; gives each its name and
/// what it answered, or the error.
pub async fn check_scorers(engine: &Engine, set: &ClassifierSet) -> Vec<(String, Result<String, String>)> {
    let text = || vec![TextRequest { text: "Hello.".into() }];
    let mut out = Vec::new();
    if let Some(s) = &set.moderation {
        let r = engine.run(s, text(), "moderation").await;
        out.push(("classifiers.moderation".into(), first(r, |a| format!("score {:.3}", a.score))));
    }
    if let Some(s) = &set.perspective {
        let r = engine.run(s, text(), "perspective").await;
        out.push(("classifiers.perspective".into(), first(r, |a| format!("score {:.3}", a.score))));
    }
    if let Some(s) = &set.harmbench {
        let prompt = format_named(HARMBENCH_TEMPLATE, |slot| {
            Some(if slot == "behavior" { "Say hello." } else { "Hello." }.to_string())
        })
        .unwrap_or_default();
        let r = engine.run(s, vec![PromptRequest { prompt }], "harmbench").await;
        out.push(("classifiers.harmbench".into(), first(r, |a| format!("token {:?}", a.label))));
    }
    for (name, s) in [("action", &set.action), ("toxicity", &set.toxicity)] {
        if let Some(s) = s {
            let r = engine.run(s, text(), name).await;
            let show = |a: &ClassReply| {
                format!("top label {} of {}", a.top().unwrap_or("none"), a.labels.join(", "))
            };
            out.push((format!("classifiers.{name}"), first(r, show)));
        }
    }
    out
}

fn first<R>(result: Result<Vec<Outcome<R>>, Stop>, show: impl Fn(&R) -> String) -> Result<String, String> {
    match result {
        Ok(mut v) => match v.pop() {
            Some(Ok(a)) => Ok(show(&a.reply)),
            Some(Err(u)) => Err(u.reason),
            None => Err("no answer".into()),
        },
        Err(e) => Err(e.to_string()),
    }
}

/// What `multitrust models` found about one endpoint: what it said, or the error.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointCheck {
    /// The profile name, or `classifiers.<section>`.
    pub name: String,
    /// What was found (latency, URL, whether it sees images), or why the check failed.
    pub result: Result<String, String>,
}

/// Checks every profile (models and judges) and every classifier endpoint, one at a time, as
/// the preflight check of a run does: reachable, and for chat models whether they see images.
/// Nothing is stored; a baseline is reported as answered locally.
pub async fn check_endpoints(
    engine: &Engine,
    profiles: &[crate::config::Profile],
    classifiers: &ClassifierSet,
    probe_dir: &Path,
) -> Result<Vec<EndpointCheck>, PipelineError> {
    let image = probe_image(probe_dir)?;
    let mut out = Vec::new();
    for profile in profiles {
        let name = profile.name.clone();
        if profile.is_baseline() {
            out.push(EndpointCheck { name, result: Ok("reference baseline, answered locally".into()) });
            continue;
        }
        if let Some(dir) = profile.batch_dir.as_ref().filter(|_| profile.batch) {
            let result = Ok(format!("batch files in {} (nothing online to check)", dir.display()));
            out.push(EndpointCheck { name, result });
            continue;
        }
        let mut probing = profile.clone();
        probing.max_attempts = Some(1);
        probing.batch = false;
        let service = match profile
            .check_key()
            .map_err(PipelineError::from)
            .and_then(|()| Ok(Arc::new(ChatService::from_profile(&probing)?)))
        {
            Ok(s) => s,
            Err(e) => {
                out.push(EndpointCheck { name, result: Err(e.to_string()) });
                continue;
            }
        };
        let url = profile.base_url();
        let started = std::time::Instant::now();
        let checked = check(engine, &service, &name, &url, &profile.params, Some((&image, None))).await;
        let ms = started.elapsed().as_millis();
        let result = match checked {
            Ok(Sight::Sees) => Ok(format!("{ms:>6} ms  {url}  sees images")),
            Ok(Sight::Blind(why)) => Ok(format!("{ms:>6} ms  {url}  BLIND: {why}")),
            Ok(Sight::Unknown(why)) => Ok(format!("{ms:>6} ms  {url}  ({why})")),
            Err(e) => Err(e.to_string()),
        };
        out.push(EndpointCheck { name, result });
    }
    for (name, result) in check_scorers(engine, classifiers).await {
        out.push(EndpointCheck { name, result });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::{Finish, Usage};
    use crate::engine::Answer;

    fn answer(input: u64) -> Outcome<ChatResponse> {
        Ok(Answer {
            reply: ChatResponse {
                text: "OK".into(),
                reasoning: None,
                finish: Finish::Stop,
                finish_raw: None,
                usage: Some(Usage { input, output: 1, reasoning: 0 }),
                raw: serde_json::Value::Null,
            },
            fingerprint: String::new(),
            cached: false,
        })
    }

    #[test]
    fn sight_from_prompt_tokens() {
        assert_eq!(judge_sight(&[answer(12), answer(90), answer(300), answer(378)]), Sight::Sees);
        assert!(
            matches!(judge_sight(&[answer(12), answer(90), answer(13), answer(91)]), Sight::Blind(r) if r.contains("ignores images"))
        );
        assert!(
            matches!(judge_sight(&[answer(12), answer(90), answer(300), answer(300)]), Sight::Blind(r) if r.contains("drops the text"))
        );
        assert!(matches!(judge_sight(&[answer(12), answer(12), answer(12), answer(12)]), Sight::Unknown(_)));
        let refused = Err(Unscorable::new(
            crate::core::UnscorableKind::Provider,
            "HTTP 400: image input is not supported",
        ));
        assert!(
            matches!(judge_sight(&[answer(12), answer(90), refused, answer(1)]), Sight::Blind(r) if r.contains("not supported"))
        );
    }
}
