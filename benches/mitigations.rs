//! What mitigations cost locally: image purification per image (JPEG re-encode and resize of a
//! 1024×1024 picture, decode and encode included, as a run does it once per image), and the
//! engine's overhead per sample of a mitigation pipeline around a model that answers at once
//! (so only our own work is timed: request rewriting, fingerprints, batching, traces).
//!
//! Run with `cargo bench --bench mitigations`. Each line is the fastest of several passes (the
//! machine is shared).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;

use multitrust::backends::{ChatModel, ChatRequest, ChatResponse, ChatService, Finish, Usage};
use multitrust::core::rng::Rng;
use multitrust::core::{CallError, Identity, ImageLimits, Limits};
use multitrust::engine::Engine;
use multitrust::mitigations::images::Transform;
use multitrust::mitigations::{self, Call, Context, Served};
use multitrust::sample::Message;

/// A model that answers every request at once with "Yes".
struct Instant0 {
    identity: Identity,
}

impl ChatModel for Instant0 {
    fn identity(&self) -> &Identity {
        &self.identity
    }

    fn chat<'a>(&'a self, _request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse, CallError>> {
        Box::pin(async {
            Ok(ChatResponse {
                text: "Yes".into(),
                reasoning: None,
                finish: Finish::Stop,
                finish_raw: None,
                usage: Some(Usage { input: 20, output: 1, reasoning: 0 }),
                raw: serde_json::Value::Null,
            })
        })
    }
}

/// A 1024×1024 picture with smooth regions and noise, as PNG bytes.
fn picture() -> Vec<u8> {
    let mut rng = Rng::new(7);
    let img = image::RgbImage::from_fn(1024, 1024, |x, y| {
        let n = (rng.below(32)) as u8;
        image::Rgb([(x / 4) as u8 ^ n, (y / 4) as u8, ((x + y) / 8) as u8 ^ n])
    });
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap_or_default();
    out
}

fn purification() {
    let png = picture();
    for t in [Transform::Jpeg(75), Transform::Resize(224)] {
        let mut best = f64::INFINITY;
        let mut size = 0;
        for _ in 0..7 {
            let started = Instant::now();
            size =
                black_box(t.apply(black_box(&png), &ImageLimits::default())).map_or(0, |(out, _)| out.len());
            best = best.min(started.elapsed().as_secs_f64());
        }
        println!("{:<18} 1024×1024 PNG: {:7.1} ms per image ({} bytes out)", t.spec(), best * 1e3, size);
    }
}

fn pipeline(runtime: &tokio::runtime::Runtime) {
    const N: usize = 20_000;
    let model: Arc<dyn ChatModel> =
        Arc::new(Instant0 { identity: Identity::new("bench", "instant", "local") });
    let limits = Limits { concurrency: 64, ..Limits::default() };
    let service = Arc::new(ChatService::new(model, limits));
    let calls: Vec<Call> = (0..N)
        .map(|i| Call {
            request: ChatRequest::greedy(
                vec![Message::user(format!("Question number {i}: is it red?"), None)],
                32,
            ),
            sample: i,
        })
        .collect();
    let ctx = Context::default();
    let mut plain_us = 0.0;
    for stack in ["", "safety-prompt", "self-reminder+think-first", "ecso"] {
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            // No store: every call is sent to the instant model, so nothing is reused.
            let engine = Engine::new(None).quiet();
            let layers = if stack.is_empty() {
                Vec::new()
            } else {
                mitigations::stack(stack, &ctx).unwrap_or_default()
            };
            let tags = ("<think>".to_string(), "</think>".to_string());
            let base = Box::new(Served {
                engine: &engine,
                service: service.clone(),
                label: "bench".into(),
                think_tags: tags,
            });
            let chat = mitigations::wrap(base, &layers, &engine);
            let started = Instant::now();
            let replies = runtime.block_on(chat.ask(calls.clone()));
            best = best.min(started.elapsed().as_secs_f64());
            black_box(replies.map(|r| r.len()).unwrap_or(0));
        }
        let us = best / N as f64 * 1e6;
        if stack.is_empty() {
            plain_us = us;
            println!("{:<28} {us:6.2} µs per sample (the plain model)", "plain");
        } else {
            println!("{stack:<28} {us:6.2} µs per sample ({:+.2} µs over plain)", us - plain_us);
        }
    }
}

fn main() {
    purification();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
    pipeline(&runtime);
}
