//! `output-guard`: a guard model checks the final answer and replaces an unsafe one with a
//! refusal. The guard is given by `--guard`:
//!
//! - a chat model that answers `safe` or `unsafe` (and its categories on the next line), such
//!   as Llama Guard 3 Vision served by vLLM: it is sent the request (with its image) and the
//!   answer, as a user turn and an assistant turn, and its chat template does the rest;
//! - `moderation`: the `[classifiers.moderation]` endpoint on the answer's text, flagged when
//!   the API says `flagged` (or, for servers that omit it, when its top score is at least 0.5).
//!
//! A guard answer that is neither safe nor unsafe makes the sample unscorable (kind
//! `mitigation`), naming the guard and its answer. If the guard is also a scorer of the run
//! (the judge, or the moderation classifier), the run warns that the scores are inflated.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Access, Call, Chat, Hook, Info, Mitigation, Replied, Trace, request_text};
use crate::backends::scorers::{Moderation, TextRequest};
use crate::backends::{ChatRequest, ChatResponse, ChatService, Finish};
use crate::core::{Identity, Unscorable, UnscorableKind};
use crate::engine::{Engine, Stop};
use crate::protocol::fixtures::REFUSAL;
use crate::sample::{Content, Message, Role};

/// What it is.
pub static INFO: Info = Info {
    name: "output-guard",
    summary: "a guard model (--guard) checks the final answer; an unsafe one is replaced by a refusal",
    source: "output moderation with Llama Guard 3 Vision (Meta, arXiv 2411.10414) or the moderation API",
    hooks: &[Hook::OutputGuard],
    access: Access::Chat,
    auxiliary: "the guard given by --guard",
    extra_calls: "1 guard call",
    params: "",
};

/// The guard's token limit (a verdict and its categories).
pub const GUARD_TOKENS: u32 = 20;

/// The guard model.
#[derive(Clone)]
pub enum Guard {
    /// A chat model answering `safe` / `unsafe`.
    Chat(Arc<ChatService>),
    /// The moderation API.
    Moderation(Arc<Moderation>),
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Guard({})", self.identity().label())
    }
}

impl Guard {
    /// Who the guard is.
    pub fn identity(&self) -> &Identity {
        match self {
            Guard::Chat(s) => crate::engine::Service::identity(s.as_ref()),
            Guard::Moderation(m) => crate::engine::Service::identity(m.as_ref()),
        }
    }

    /// The verdict on each (request, answer): `Ok(Some(why))` when unsafe, `Ok(None)` when
    /// safe, with the guard call's trace.
    async fn check(
        &self,
        engine: &Engine,
        pairs: Vec<(ChatRequest, String)>,
    ) -> Result<Vec<Result<(Option<String>, Trace), Unscorable>>, Stop> {
        let who = self.identity().label();
        match self {
            Guard::Chat(service) => {
                let requests = pairs
                    .into_iter()
                    .map(|(request, answer)| {
                        let mut content = vec![Content::Text { text: request_text(&request).into() }];
                        for m in &request.messages {
                            content.extend(m.images().map(|image| Content::Image { image: image.clone() }));
                        }
                        let messages = vec![
                            Message { role: Role::User, content },
                            Message {
                                role: Role::Assistant,
                                content: vec![Content::Text { text: answer.into() }],
                            },
                        ];
                        ChatRequest {
                            messages,
                            max_tokens: GUARD_TOKENS,
                            temperature: 0.0,
                            params: Default::default(),
                            ..request
                        }
                    })
                    .collect();
                let outcomes = engine.run(service, requests, "output guard").await?;
                Ok(outcomes
                    .into_iter()
                    .map(|o| {
                        let a = o?;
                        let trace = Trace::call(&a.reply, a.cached);
                        let text = a.reply.text.trim().to_lowercase();
                        let first = text.lines().next().unwrap_or_default().trim();
                        match first {
                            "safe" => Ok((None, trace)),
                            f if f.starts_with("unsafe") => {
                                let categories =
                                    text.lines().nth(1).unwrap_or_default().trim().to_uppercase();
                                Ok((Some(format!("unsafe {categories}").trim().to_string()), trace))
                            }
                            _ => Err(Unscorable::new(
                                UnscorableKind::Mitigation,
                                format!(
                                    "the guard {who} answered neither safe nor unsafe: {:?}",
                                    a.reply.text
                                ),
                            )),
                        }
                    })
                    .collect())
            }
            Guard::Moderation(service) => {
                let requests = pairs.into_iter().map(|(_, text)| TextRequest { text }).collect();
                let outcomes = engine.run(service, requests, "output guard").await?;
                Ok(outcomes
                    .into_iter()
                    .map(|o| {
                        let a = o?;
                        let trace = Trace { calls: 1, sent: u32::from(!a.cached), ..Trace::default() };
                        let flagged = a
                            .reply
                            .raw
                            .pointer("/results/0/flagged")
                            .and_then(|f| f.as_bool())
                            .unwrap_or(a.reply.score >= 0.5);
                        Ok((flagged.then(|| format!("flagged (top score {:.2})", a.reply.score)), trace))
                    })
                    .collect())
            }
        }
    }
}

/// The mitigation.
#[derive(Debug)]
pub struct OutputGuard {
    /// The guard.
    pub guard: Guard,
}

impl Mitigation for OutputGuard {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn ask<'a>(
        &'a self,
        inner: &'a dyn Chat,
        engine: &'a Engine,
        calls: Vec<Call>,
    ) -> BoxFuture<'a, Result<Vec<Replied>, Stop>> {
        Box::pin(async move {
            let mut replies = inner.ask(calls.clone()).await?;
            let checked: Vec<usize> = (0..replies.len())
                .filter(|&i| {
                    replies[i]
                        .as_ref()
                        .is_ok_and(|r| !r.response.finish.is_block() && !r.response.text.trim().is_empty())
                })
                .collect();
            let pairs = checked
                .iter()
                .filter_map(|&i| {
                    Some((calls[i].request.clone(), replies[i].as_ref().ok()?.response.text.clone()))
                })
                .collect();
            let verdicts = self.guard.check(engine, pairs).await?;
            for (i, verdict) in checked.into_iter().zip(verdicts) {
                let Ok(reply) = &mut replies[i] else { continue };
                match verdict {
                    Err(e) => replies[i] = Err(e),
                    Ok((unsafe_, trace)) => {
                        reply.trace.add(&trace);
                        match unsafe_ {
                            None => reply.trace.steps.push("output-guard: safe".into()),
                            Some(why) => {
                                reply.trace.steps.push(format!(
                                    "output-guard: {why}; the answer is replaced by a refusal"
                                ));
                                reply.response = ChatResponse {
                                    text: REFUSAL.to_string(),
                                    reasoning: None,
                                    finish: Finish::Stop,
                                    finish_raw: Some("output-guard".into()),
                                    usage: reply.response.usage,
                                    raw: serde_json::Value::Null,
                                };
                                reply.fingerprint = None;
                            }
                        }
                    }
                }
            }
            Ok(replies)
        })
    }
}
