//! Mitigations (MultiTrust-X): methods wrapped around any model, baselines included, so that a
//! mitigated model is evaluated like any other and compared with its plain self.
//!
//! A mitigation is a layer around a [`Chat`]: it receives the batch of calls a model would get,
//! may rewrite them (system or user text, images), may make more calls to the model it wraps
//! (ECSO's self-check), or to an auxiliary model (a guard), and gives one reply per call.
//! `A+B` stacks them: B wraps the model with A, so B's input changes come first and its output
//! changes last (`ecso+output-guard` guards ECSO's final answer). Every call still goes through
//! the engine, so a call identical to the plain model's (ECSO's first answer) has the same
//! fingerprint and comes from the store.
//!
//! One file per method. Each declares its [`Info`]: hook points, the access it needs, its
//! auxiliary models and its extra calls per sample; `multitrust mitigations` lists them. See
//! `docs/mitigations.md` for the sources and how to add one.

pub mod adashield_s;
pub mod caption_then_answer;
pub mod ecso;
pub mod fairness_reminder;
pub mod images;
pub mod output_guard;
pub mod privacy_reminder;
pub mod safety_prompt;
pub mod self_reminder;
pub mod think_first;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::backends::baseline::{self, Baseline};
use crate::backends::{ChatRequest, ChatResponse, ChatService};
use crate::config::Provider;
use crate::core::{ImageLimits, Unscorable, UnscorableKind};
use crate::engine::{Engine, Stop};
use crate::sample::{Content, Role};

pub use output_guard::Guard;

/// Where a mitigation acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hook {
    /// Adds a system prompt.
    SystemText,
    /// Adds text before or after the user's request.
    UserText,
    /// Transforms the images before they are sent.
    Image,
    /// Makes more than one call per sample and decides the answer.
    Pipeline,
    /// Checks the final answer with another model and may replace it.
    OutputGuard,
}

impl Hook {
    /// The hook's name as listed.
    pub fn name(self) -> &'static str {
        match self {
            Hook::SystemText => "system-text",
            Hook::UserText => "user-text",
            Hook::Image => "image",
            Hook::Pipeline => "pipeline",
            Hook::OutputGuard => "output-guard",
        }
    }
}

/// What a mitigation needs of the model it wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// A plain chat API: every provider and baseline.
    Chat,
    /// Token log-probabilities of the answer (OpenAI-compatible servers only).
    ChatLogprobs,
    /// Starting the assistant's answer with given text (not every provider).
    Prefill,
}

impl Access {
    /// Whether a provider gives this access: plain chat everywhere; log-probabilities from
    /// OpenAI-compatible servers; a prefilled answer from Anthropic and OpenAI-compatible
    /// servers that continue a final assistant message (vLLM, SGLang). A baseline answers
    /// plain chat only.
    pub fn offered_by(self, provider: Provider) -> bool {
        match self {
            Access::Chat => true,
            Access::ChatLogprobs => provider == Provider::Openai,
            Access::Prefill => matches!(provider, Provider::Openai | Provider::Anthropic),
        }
    }

    /// The access's name as listed.
    pub fn name(self) -> &'static str {
        match self {
            Access::Chat => "chat",
            Access::ChatLogprobs => "chat+logprobs",
            Access::Prefill => "chat+prefill",
        }
    }
}

/// What a mitigation is, for the listing, the run record and the checks before a run.
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    /// The name used in `--mitigation` and in model names (`MODEL+NAME`).
    pub name: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// Where it comes from.
    pub source: &'static str,
    /// Where it acts.
    pub hooks: &'static [Hook],
    /// What it needs of the wrapped model.
    pub access: Access,
    /// The models it uses besides the wrapped one.
    pub auxiliary: &'static str,
    /// Extra calls per sample beyond the plain model's one.
    pub extra_calls: &'static str,
    /// Its parameters, as `name=default`.
    pub params: &'static str,
}

/// One call of a batch: the request and the index of the sample it is for (a baseline answers
/// from the sample; the trace is kept per sample).
#[derive(Debug, Clone)]
pub struct Call {
    /// The request.
    pub request: ChatRequest,
    /// The sample's position in the batch the model was given.
    pub sample: usize,
}

/// What answering one sample took: calls, tokens and what the mitigations decided.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// Calls made to the model and to auxiliary models (answered from the store or sent).
    pub calls: u32,
    /// Of those, the calls that were sent (not found in the store). Not written out: it
    /// depends on what the store held, and outputs are the same for the same answers.
    #[serde(skip)]
    pub sent: u32,
    /// Prompt tokens over every call, as reported.
    pub input_tokens: u64,
    /// Generated tokens over every call, as reported.
    pub output_tokens: u64,
    /// What each mitigation did, in order ("ecso: self-check says harmful; answered from the
    /// caption").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
}

impl Trace {
    /// The trace of one call.
    pub fn call(response: &ChatResponse, cached: bool) -> Trace {
        let usage = response.usage.unwrap_or_default();
        Trace {
            calls: 1,
            sent: u32::from(!cached),
            input_tokens: usage.input,
            output_tokens: usage.output,
            steps: Vec::new(),
        }
    }

    /// Adds another call's (or pipeline's) counts and steps to this one.
    pub fn add(&mut self, other: &Trace) {
        self.calls += other.calls;
        self.sent += other.sent;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.steps.extend(other.steps.iter().cloned());
    }
}

/// A reply to one call.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The answer that is scored.
    pub response: ChatResponse,
    /// The fingerprint of the call that gave it (none for a baseline or a replaced answer).
    pub fingerprint: Option<String>,
    /// What it took.
    pub trace: Trace,
}

/// The reply to one call, or why there is none.
pub type Replied = Result<Reply, Unscorable>;

/// Something that answers a batch of calls, in order: a model, or a mitigation around one.
pub trait Chat: Send + Sync {
    /// Answers every call; stops with [`Stop`] on Ctrl-C or when an endpoint is down.
    fn ask<'a>(&'a self, calls: Vec<Call>) -> BoxFuture<'a, Result<Vec<Replied>, Stop>>;
}

/// A served model, through the engine (store, limits, retries). Reasoning left in an answer
/// between the think tags is moved apart here, so that mitigations (a self-check, a guard)
/// see the answer as the evaluators do.
pub struct Served<'e> {
    /// The engine.
    pub engine: &'e Engine,
    /// The model.
    pub service: Arc<ChatService>,
    /// The progress bar's label.
    pub label: String,
    /// The tags around reasoning left in the answer (`<think>`, `</think>` by default).
    pub think_tags: (String, String),
}

impl Chat for Served<'_> {
    fn ask<'a>(&'a self, calls: Vec<Call>) -> BoxFuture<'a, Result<Vec<Replied>, Stop>> {
        Box::pin(async move {
            let requests = calls.into_iter().map(|c| c.request).collect();
            let outcomes = self.engine.run(&self.service, requests, &self.label).await?;
            Ok(outcomes
                .into_iter()
                .map(|o| {
                    o.map(|a| Reply {
                        trace: Trace::call(&a.reply, a.cached),
                        response: a.reply.split_reasoning(&self.think_tags.0, &self.think_tags.1),
                        fingerprint: Some(a.fingerprint),
                    })
                })
                .collect())
        })
    }
}

/// A reference baseline: it answers every call for a sample with its answer to that sample,
/// whatever the call says (a baseline does not read prompts), without sending anything.
pub struct Baselined {
    /// The baseline's answer to each sample of the batch.
    pub answers: Vec<ChatResponse>,
}

impl Baselined {
    /// The answers of a baseline to samples given by their hints and ids.
    pub fn new<'s>(
        kind: Baseline,
        seed: u64,
        samples: impl Iterator<Item = (crate::protocol::fixtures::Hint, &'s str)>,
    ) -> Baselined {
        Baselined { answers: samples.map(|(hint, id)| baseline::answer(kind, &hint, seed, id)).collect() }
    }
}

impl Chat for Baselined {
    fn ask<'a>(&'a self, calls: Vec<Call>) -> BoxFuture<'a, Result<Vec<Replied>, Stop>> {
        Box::pin(async move {
            Ok(calls
                .into_iter()
                .map(|c| {
                    let response = self.answers.get(c.sample).cloned().ok_or_else(|| {
                        Unscorable::new(UnscorableKind::Data, "the baseline has no answer for this sample")
                    })?;
                    let trace = Trace { calls: 1, ..Trace::default() };
                    Ok(Reply { response, fingerprint: None, trace })
                })
                .collect())
        })
    }
}

/// A mitigation: its description and how it answers a batch through the model it wraps.
pub trait Mitigation: Send + Sync + fmt::Debug {
    /// What it is.
    fn info(&self) -> &'static Info;
    /// Its name with its parameters (`jpeg:q=75`), as it appears in model names.
    fn spec(&self) -> String {
        self.info().name.to_string()
    }
    /// Answers the calls, asking `inner` what it needs (and any auxiliary model, through
    /// `engine`).
    fn ask<'a>(
        &'a self,
        inner: &'a dyn Chat,
        engine: &'a Engine,
        calls: Vec<Call>,
    ) -> BoxFuture<'a, Result<Vec<Replied>, Stop>>;
}

/// A mitigation around a chat.
pub struct Layer<'e> {
    /// The mitigation.
    pub mitigation: Arc<dyn Mitigation>,
    /// What it wraps.
    pub inner: Box<dyn Chat + 'e>,
    /// The engine its auxiliary calls go through.
    pub engine: &'e Engine,
}

impl Chat for Layer<'_> {
    fn ask<'a>(&'a self, calls: Vec<Call>) -> BoxFuture<'a, Result<Vec<Replied>, Stop>> {
        self.mitigation.ask(self.inner.as_ref(), self.engine, calls)
    }
}

/// Wraps a chat in a stack of mitigations, the first innermost.
pub fn wrap<'e>(
    base: Box<dyn Chat + 'e>,
    stack: &[Arc<dyn Mitigation>],
    engine: &'e Engine,
) -> Box<dyn Chat + 'e> {
    stack.iter().fold(base, |inner, m| Box::new(Layer { mitigation: m.clone(), inner, engine }))
}

/// What mitigations need from the run: the guard, where to write purified images, and the
/// image limits.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The guard model given by `--guard`, if any.
    pub guard: Option<Guard>,
    /// Where purified images are written (the run's `generated` folder).
    pub generated: PathBuf,
    /// The limits images are decoded within.
    pub image_limits: ImageLimits,
}

/// Why a mitigation stack cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MitigationError {
    /// No mitigation has this name.
    #[error("unknown mitigation `{name}`; `multitrust mitigations` lists them ({known})")]
    Unknown {
        /// The name given.
        name: String,
        /// The known names.
        known: String,
    },
    /// A parameter is unknown or out of range.
    #[error("mitigation `{spec}`: {reason}")]
    Param {
        /// The part of the stack.
        spec: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// The stack cannot work as given.
    #[error("mitigation `{stack}`: {reason}")]
    Stack {
        /// The stack.
        stack: String,
        /// Why.
        reason: String,
    },
}

/// Every mitigation, as listed.
pub fn all() -> [&'static Info; 11] {
    [
        &safety_prompt::INFO,
        &self_reminder::INFO,
        &adashield_s::INFO,
        &privacy_reminder::INFO,
        &fairness_reminder::INFO,
        &think_first::INFO,
        &ecso::INFO,
        &caption_then_answer::INFO,
        &output_guard::INFO,
        &images::JPEG,
        &images::RESIZE,
    ]
}

/// The parameters of one part of a stack (`jpeg:q=75`), taken one by one; whatever is left
/// is an error.
#[derive(Debug)]
pub struct Params {
    spec: String,
    values: BTreeMap<String, String>,
}

impl Params {
    fn parse(spec: &str, text: &str) -> Result<Params, MitigationError> {
        let mut values = BTreeMap::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = pair.split_once('=') else {
                return Err(MitigationError::Param {
                    spec: spec.into(),
                    reason: format!("`{pair}` is not NAME=VALUE"),
                });
            };
            values.insert(k.trim().to_string(), v.trim().to_string());
        }
        Ok(Params { spec: spec.to_string(), values })
    }

    /// A whole-number parameter within a range, or its default.
    pub fn number(
        &mut self,
        name: &str,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<u32, MitigationError> {
        let Some(raw) = self.values.remove(name) else { return Ok(default) };
        match raw.parse::<u32>() {
            Ok(v) if range.contains(&v) => Ok(v),
            _ => Err(MitigationError::Param {
                spec: self.spec.clone(),
                reason: format!(
                    "{name}={raw}: expected a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            }),
        }
    }

    fn finish(self) -> Result<(), MitigationError> {
        match self.values.keys().next() {
            None => Ok(()),
            Some(k) => Err(MitigationError::Param {
                spec: self.spec.clone(),
                reason: format!(
                    "unknown parameter `{k}`; `multitrust mitigations` lists each one's parameters"
                ),
            }),
        }
    }
}

/// Builds the stack `A+B+...` (each part `NAME` or `NAME:K=V,...`), checking everything that
/// can be checked before anything is sent: known names, parameters, no method twice, an output
/// guard last and given by `--guard`.
pub fn stack(spec: &str, ctx: &Context) -> Result<Vec<Arc<dyn Mitigation>>, MitigationError> {
    let mut out: Vec<Arc<dyn Mitigation>> = Vec::new();
    let parts: Vec<&str> = spec.split('+').map(str::trim).collect();
    let stack_error = |reason: String| MitigationError::Stack { stack: spec.to_string(), reason };
    for (i, part) in parts.iter().enumerate() {
        let (name, params) = part.split_once(':').unwrap_or((part, ""));
        let mut params = Params::parse(part, params)?;
        let m: Arc<dyn Mitigation> = match name {
            "safety-prompt" => Arc::new(safety_prompt::mitigation()),
            "self-reminder" => Arc::new(self_reminder::mitigation()),
            "adashield-s" => Arc::new(adashield_s::mitigation()),
            "privacy-reminder" => Arc::new(privacy_reminder::mitigation()),
            "fairness-reminder" => Arc::new(fairness_reminder::mitigation()),
            "think-first" => Arc::new(think_first::ThinkFirst::new(&mut params)?),
            "ecso" => Arc::new(ecso::Ecso),
            "caption-then-answer" => Arc::new(caption_then_answer::CaptionThenAnswer),
            "output-guard" => {
                let Some(guard) = ctx.guard.clone() else {
                    return Err(stack_error(
                        "output-guard needs a guard model: pass --guard MODEL (a chat model such as \
                         Llama Guard 3 Vision served by vLLM) or --guard moderation ([classifiers.moderation])"
                            .into(),
                    ));
                };
                if i + 1 != parts.len() {
                    return Err(stack_error(
                        "output-guard must come last: a mitigation after it would change the answer it guarded".into(),
                    ));
                }
                Arc::new(output_guard::OutputGuard { guard })
            }
            "jpeg" => Arc::new(images::Purify::jpeg(&mut params, ctx)?),
            "resize" => Arc::new(images::Purify::resize(&mut params, ctx)?),
            _ => {
                let known: Vec<&str> = all().iter().map(|i| i.name).collect();
                return Err(MitigationError::Unknown { name: name.to_string(), known: known.join(", ") });
            }
        };
        params.finish()?;
        if out.iter().any(|o| o.info().name == m.info().name) {
            return Err(stack_error(format!("{name} appears twice")));
        }
        out.push(m);
    }
    Ok(out)
}

/// The canonical name of a stack (`jpeg:q=75+safety-prompt`), as model names show it.
pub fn name(stack: &[Arc<dyn Mitigation>]) -> String {
    stack.iter().map(|m| m.spec()).collect::<Vec<_>>().join("+")
}

/// The user's request of a call: the text of its last user message.
pub fn request_text(request: &ChatRequest) -> String {
    request.messages.iter().rev().find(|m| m.role == Role::User).map(|m| m.text()).unwrap_or_default()
}

/// Puts a system prompt first: its own system message, or before the text of the one the
/// sample has (providers take one system prompt).
pub fn add_system(request: &mut ChatRequest, text: &str) {
    match request.messages.first_mut() {
        Some(m) if m.role == Role::System => {
            let old = m.text();
            m.content = vec![Content::Text { text: format!("{text}\n\n{old}").into() }];
        }
        _ => request.messages.insert(0, crate::sample::Message::system(text)),
    }
}

/// Adds text before and after the first text part of the last user message.
pub fn wrap_user(request: &mut ChatRequest, before: &str, after: &str) {
    let Some(m) = request.messages.iter_mut().rev().find(|m| m.role == Role::User) else { return };
    match m.content.iter_mut().find_map(|c| match c {
        Content::Text { text } => Some(text),
        Content::Image { .. } => None,
    }) {
        Some(text) => *text = format!("{before}{text}{after}").into(),
        None => m.content.insert(0, Content::Text { text: format!("{before}{after}").into() }),
    }
}

/// A mitigation that only adds text (a system prompt, text before and after the request) and
/// keeps the model's answer: what the prompt methods are.
#[derive(Debug)]
pub struct Prompt {
    /// What it is.
    pub info: &'static Info,
    /// The system prompt it adds, if any.
    pub system: Option<String>,
    /// Text before the request.
    pub before: &'static str,
    /// Text after the request.
    pub after: &'static str,
}

impl Mitigation for Prompt {
    fn info(&self) -> &'static Info {
        self.info
    }

    fn ask<'a>(
        &'a self,
        inner: &'a dyn Chat,
        _engine: &'a Engine,
        calls: Vec<Call>,
    ) -> BoxFuture<'a, Result<Vec<Replied>, Stop>> {
        Box::pin(rewritten(inner, calls, |r| {
            if let Some(system) = &self.system {
                add_system(r, system);
            }
            if !self.before.is_empty() || !self.after.is_empty() {
                wrap_user(r, self.before, self.after);
            }
        }))
    }
}

/// A mitigation that only rewrites each request and keeps the model's answer.
pub async fn rewritten(
    inner: &dyn Chat,
    mut calls: Vec<Call>,
    rewrite: impl Fn(&mut ChatRequest),
) -> Result<Vec<Replied>, Stop> {
    for c in &mut calls {
        rewrite(&mut c.request);
    }
    inner.ask(calls).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_are_named_in_order_with_their_parameters() {
        let ctx = Context::default();
        let s = stack("jpeg+resize:side=64+think-first:budget=100", &ctx).unwrap();
        assert_eq!(name(&s), "jpeg:q=75+resize:side=64+think-first:budget=100");
        assert_eq!(
            name(&stack("think-first", &ctx).unwrap()),
            "think-first",
            "a default parameter is not shown"
        );
    }

    #[test]
    fn access_beyond_chat_is_offered_by_some_providers_only() {
        assert!(Access::Chat.offered_by(Provider::Baseline) && Access::Chat.offered_by(Provider::Gemini));
        assert!(Access::ChatLogprobs.offered_by(Provider::Openai));
        assert!(!Access::ChatLogprobs.offered_by(Provider::Anthropic));
        assert!(
            !Access::Prefill.offered_by(Provider::Gemini) && !Access::Prefill.offered_by(Provider::Baseline)
        );
        // Every first-wave method needs plain chat only, so it wraps any model.
        assert!(all().iter().all(|m| m.access == Access::Chat));
    }

    #[test]
    fn text_goes_around_the_first_text_part_and_system_prompts_merge() {
        let mut r = ChatRequest::greedy(
            vec![crate::sample::Message::system("Be brief."), crate::sample::Message::user("Q?", None)],
            8,
        );
        add_system(&mut r, "Be safe.");
        wrap_user(&mut r, "<", ">");
        assert_eq!(r.messages.len(), 2, "one system message");
        assert_eq!(r.messages[0].text(), "Be safe.\n\nBe brief.");
        assert_eq!(request_text(&r), "<Q?>");
    }
}
