//! `jpeg` and `resize`: image purification before sending, against adversarial perturbations
//! (classical input transforms; no VLM-specific published numbers were found, so measure the
//! clean tasks too: OCR-heavy ones suffer first).
//!
//! - `jpeg:q=75`: re-encode as JPEG at quality `q` (1–100).
//! - `resize:side=224`: shrink so that the longer side is `side` pixels, then scale back to the
//!   original size (bilinear both ways), which removes detail finer than the small size.
//!
//! The purified image is written once to the run's `generated/purified/` folder, named by the
//! source image's hash and the transform, and sent in place of the original: its own hash
//! enters the request fingerprint, so purified and plain answers never mix in the store. An
//! image that cannot be purified makes its sample unscorable (kind `image`), naming the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};

use futures::future::BoxFuture;
use image::imageops::FilterType;

use super::{Access, Call, Chat, Context, Hook, Info, Mitigation, MitigationError, Params, Replied};
use crate::core::{ImageLimits, Unscorable, UnscorableKind};
use crate::data::{decode_image, written_image};
use crate::engine::{Engine, Stop};
use crate::sample::{Content, ImageRef};

/// What `jpeg` is.
pub static JPEG: Info = Info {
    name: "jpeg",
    summary: "re-encode every image as JPEG at quality q",
    source: "classical input transform against adversarial images",
    hooks: &[Hook::Image],
    access: Access::Chat,
    auxiliary: "none (local)",
    extra_calls: "0",
    params: "q=75",
};

/// What `resize` is.
pub static RESIZE: Info = Info {
    name: "resize",
    summary: "shrink every image to a longer side of `side` pixels and scale it back up",
    source: "classical input transform against adversarial images",
    hooks: &[Hook::Image],
    access: Access::Chat,
    auxiliary: "none (local)",
    extra_calls: "0",
    params: "side=224",
};

/// A purification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    /// JPEG at this quality.
    Jpeg(u8),
    /// Down to this longer side and back up.
    Resize(u32),
}

impl Transform {
    /// The transform as it appears in names (`jpeg:q=75`).
    pub fn spec(self) -> String {
        match self {
            Transform::Jpeg(q) => format!("jpeg:q={q}"),
            Transform::Resize(s) => format!("resize:side={s}"),
        }
    }

    /// Applies the transform to an image's bytes; gives the new bytes and their extension.
    pub fn apply(self, bytes: &[u8], limits: &ImageLimits) -> Result<(Vec<u8>, &'static str), String> {
        let decoded = decode_image(bytes, limits)?;
        let rgb = decoded.to_rgb8();
        let mut out = Vec::new();
        match self {
            Transform::Jpeg(q) => {
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q)
                    .encode_image(&rgb)
                    .map_err(|e| format!("cannot encode the JPEG: {e}"))?;
                Ok((out, "jpg"))
            }
            Transform::Resize(side) => {
                let (w, h) = rgb.dimensions();
                let longer = w.max(h).max(1);
                let purified = if longer > side {
                    let scale = side as f64 / longer as f64;
                    let (sw, sh) = (
                        ((w as f64 * scale).round() as u32).max(1),
                        ((h as f64 * scale).round() as u32).max(1),
                    );
                    let small = image::imageops::resize(&rgb, sw, sh, FilterType::Triangle);
                    image::imageops::resize(&small, w, h, FilterType::Triangle)
                } else {
                    rgb
                };
                // Fast compression: the file is read once, to be base64-encoded and sent.
                let encoder = image::codecs::png::PngEncoder::new_with_quality(
                    &mut out,
                    image::codecs::png::CompressionType::Fast,
                    image::codecs::png::FilterType::Adaptive,
                );
                purified.write_with_encoder(encoder).map_err(|e| format!("cannot encode the PNG: {e}"))?;
                Ok((out, "png"))
            }
        }
    }
}

/// Purified copies made by this process, by source hash and transform.
static MADE: LazyLock<Mutex<HashMap<(String, Transform), ImageRef>>> = LazyLock::new(Mutex::default);

/// The purified copy of an image (made once per process and folder).
pub fn purified(
    image: &ImageRef,
    t: Transform,
    dir: &Path,
    limits: &ImageLimits,
) -> Result<ImageRef, String> {
    let key = (image.sha256.clone(), t);
    if let Some(done) = MADE.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(done);
    }
    let bytes = std::fs::read(&image.path).map_err(|e| format!("{}: cannot read ({e})", image.display))?;
    let (out, ext) = t.apply(&bytes, limits).map_err(|e| format!("{}: {e}", image.display))?;
    let name = format!("purified/{}-{}.{ext}", &image.sha256[..16], t.spec().replace([':', '='], "-"));
    let made = written_image(dir, &name, limits, |p| std::fs::write(p, &out)).map_err(|e| e.to_string())?;
    if let Ok(mut m) = MADE.lock() {
        m.insert(key, made.clone());
    }
    Ok(made)
}

/// The mitigation: one transform on every image of every call.
#[derive(Debug)]
pub struct Purify {
    transform: Transform,
    dir: PathBuf,
    limits: ImageLimits,
}

impl Purify {
    /// `jpeg`, reading `q`.
    pub fn jpeg(params: &mut Params, ctx: &Context) -> Result<Purify, MitigationError> {
        let q = params.number("q", 75, 1..=100)? as u8;
        Ok(Purify { transform: Transform::Jpeg(q), dir: ctx.generated.clone(), limits: ctx.image_limits })
    }

    /// `resize`, reading `side`.
    pub fn resize(params: &mut Params, ctx: &Context) -> Result<Purify, MitigationError> {
        let side = params.number("side", 224, 8..=8192)?;
        Ok(Purify {
            transform: Transform::Resize(side),
            dir: ctx.generated.clone(),
            limits: ctx.image_limits,
        })
    }
}

impl Mitigation for Purify {
    fn info(&self) -> &'static Info {
        match self.transform {
            Transform::Jpeg(_) => &JPEG,
            Transform::Resize(_) => &RESIZE,
        }
    }

    fn spec(&self) -> String {
        self.transform.spec()
    }

    fn ask<'a>(
        &'a self,
        inner: &'a dyn Chat,
        _engine: &'a Engine,
        mut calls: Vec<Call>,
    ) -> BoxFuture<'a, Result<Vec<Replied>, Stop>> {
        Box::pin(async move {
            let (t, dir, limits) = (self.transform, self.dir.clone(), self.limits);
            let work = std::mem::take(&mut calls);
            // Decoding and encoding are CPU work: off the network threads.
            let done = tokio::task::spawn_blocking(move || {
                work.into_iter()
                    .map(|mut call| {
                        for m in &mut call.request.messages {
                            for c in &mut m.content {
                                if let Content::Image { image } = c {
                                    *image = purified(image, t, &dir, &limits)?;
                                }
                            }
                        }
                        Ok(call)
                    })
                    .collect::<Vec<Result<Call, String>>>()
            })
            .await
            .unwrap_or_default();
            let mut slots = Vec::new();
            let mut outcomes: Vec<Option<Replied>> = Vec::new();
            for (i, result) in done.into_iter().enumerate() {
                match result {
                    Ok(call) => {
                        calls.push(call);
                        slots.push(i);
                        outcomes.push(None);
                    }
                    Err(why) => outcomes.push(Some(Err(Unscorable::new(
                        UnscorableKind::Image,
                        format!("{}: {why}", t.spec()),
                    )))),
                }
            }
            let answers = inner.ask(calls).await?;
            for (slot, answer) in slots.into_iter().zip(answers) {
                outcomes[slot] = Some(answer);
            }
            Ok(outcomes
                .into_iter()
                .map(|o| o.unwrap_or_else(|| Err(Unscorable::new(UnscorableKind::Transport, "no answer"))))
                .collect())
        })
    }
}
