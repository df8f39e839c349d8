//! `caption-then-answer`: ECSO's last two steps for every sample with an image: a caption of
//! the image in the light of the request, then a text-only answer from the caption. Isolates
//! what "closing the eyes" costs and gains without the self-check. A sample without an image
//! gets the plain answer.

use futures::future::BoxFuture;

use super::ecso::answer_from_caption;
use super::{Access, Call, Chat, Hook, Info, Mitigation, Replied, Reply, Trace};
use crate::engine::{Engine, Stop};

/// What it is.
pub static INFO: Info = Info {
    name: "caption-then-answer",
    summary: "caption the image for the request, then answer from the caption without the image",
    source: "ECSO's steps 3 and 4 (Gou et al., ECCV 2024), applied to every image sample",
    hooks: &[Hook::Pipeline, Hook::Image],
    access: Access::Chat,
    auxiliary: "none",
    extra_calls: "1 per image sample (2 calls in place of 1)",
    params: "",
};

/// The mitigation.
#[derive(Debug)]
pub struct CaptionThenAnswer;

impl Mitigation for CaptionThenAnswer {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn ask<'a>(
        &'a self,
        inner: &'a dyn Chat,
        _engine: &'a Engine,
        calls: Vec<Call>,
    ) -> BoxFuture<'a, Result<Vec<Replied>, Stop>> {
        Box::pin(async move {
            let imaged: Vec<usize> = (0..calls.len())
                .filter(|&i| calls[i].request.messages.iter().any(|m| m.images().next().is_some()))
                .collect();
            let plain: Vec<Call> = calls
                .iter()
                .enumerate()
                .filter(|(i, _)| !imaged.contains(i))
                .map(|(_, c)| c.clone())
                .collect();
            let mut plain_replies = inner.ask(plain).await?.into_iter();
            // Image samples start from an empty reply that the caption pipeline fills in.
            let mut replies: Vec<Replied> = (0..calls.len())
                .map(|i| match imaged.contains(&i) {
                    true => Ok(Reply {
                        response: crate::backends::ChatResponse {
                            text: String::new(),
                            reasoning: None,
                            finish: crate::backends::Finish::Stop,
                            finish_raw: None,
                            usage: None,
                            raw: serde_json::Value::Null,
                        },
                        fingerprint: None,
                        trace: Trace::default(),
                    }),
                    false => plain_replies.next().unwrap_or_else(|| {
                        Err(crate::core::Unscorable::new(crate::core::UnscorableKind::Transport, "no answer"))
                    }),
                })
                .collect();
            answer_from_caption(inner, &calls, &mut replies, &imaged, "caption-then-answer").await?;
            Ok(replies)
        })
    }
}
