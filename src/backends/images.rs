//! Images as they are sent: read, checked against the hash they were loaded with, downscaled
//! when the request asks (`--max-image-side`), and base64-encoded, once per distinct image and
//! setting for the whole process, then shared by every request, model and judge that sends it.
//!
//! The work runs on tokio's blocking pool, never on the threads that drive the network, and at
//! most one decode per CPU runs at a time (each may hold up to the decoded-memory limit).
//! Concurrent requests for the same image wait for the one preparation under way
//! (single-flight). Prepared images are kept up to [`CACHE_BYTES`] of base64; beyond that the
//! oldest are dropped (and prepared again if asked for again).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex};

use tokio::sync::{OnceCell, Semaphore};

use crate::core::{CallError, ImageLimits, sha256_hex};
use crate::data::decode_image;
use crate::sample::ImageRef;

/// The most the cache keeps: base64 text, with each entry's bookkeeping.
pub const CACHE_BYTES: usize = 256 << 20;

/// An image ready to be spliced into a request body.
#[derive(Debug)]
pub struct Encoded {
    /// The MIME type of the bytes sent (a downscaled image is PNG when the original is, JPEG
    /// otherwise).
    pub mime: &'static str,
    /// The bytes, base64-encoded (standard alphabet, padded).
    pub base64: Vec<u8>,
}

/// What makes two preparations the same: the image's content, the downscaling and the limits.
type Key = (String, Option<u32>, ImageLimits);
type Slot = Arc<OnceCell<Result<Arc<Encoded>, String>>>;

#[derive(Default)]
struct Cache {
    slots: HashMap<Key, Slot>,
    /// Keys in the order they were prepared, with their size, for dropping the oldest.
    order: VecDeque<(Key, usize)>,
    bytes: usize,
}

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Mutex::default);

static DECODERS: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())));

/// The image as it is sent under a request's settings, prepared at most once per process (see
/// the module documentation). Fails, with kind `image`, when the file cannot be read, has
/// changed since it was loaded, or cannot be decoded within the limits.
pub async fn encoded(
    image: &ImageRef,
    max_side: Option<u32>,
    limits: &ImageLimits,
) -> Result<Arc<Encoded>, CallError> {
    let key: Key = (image.sha256.clone(), max_side, *limits);
    let slot = {
        let mut cache = CACHE.lock().map_err(|_| CallError::Image("the image cache is poisoned".into()))?;
        cache.slots.entry(key.clone()).or_default().clone()
    };
    let mut fresh = false;
    let result = slot
        .get_or_init(|| async {
            fresh = true;
            let _permit = DECODERS.acquire().await;
            let (image, limits) = (image.clone(), *limits);
            tokio::task::spawn_blocking(move || prepare(&image, max_side, &limits))
                .await
                .unwrap_or_else(|e| Err(format!("preparing the image failed: {e}")))
                .map(Arc::new)
        })
        .await
        .clone();
    if fresh {
        remember(key, result.as_ref().map_or(0, |e| e.base64.len()));
    }
    result.map_err(|reason| CallError::Image(format!("{}: {reason}", image.display)))
}

/// Counts a prepared image in the cache and drops the oldest beyond [`CACHE_BYTES`].
fn remember(key: Key, size: usize) {
    let Ok(mut cache) = CACHE.lock() else { return };
    // The key (held twice), the slot and the entries weigh about as much as a small image.
    let size = size + 2 * key.0.len() + 160;
    cache.order.push_back((key, size));
    cache.bytes += size;
    while cache.bytes > CACHE_BYTES && cache.order.len() > 1 {
        let Some((old, size)) = cache.order.pop_front() else { break };
        cache.slots.remove(&old);
        cache.bytes -= size;
    }
}

/// Drops every prepared image: for when nothing more is sent that could use them (after a
/// run's last model is asked), so that they do not stay resident while it scores and writes.
pub fn forget_all() {
    if let Ok(mut cache) = CACHE.lock() {
        *cache = Cache::default();
    }
}

/// Reads, checks, downscales and encodes one image (blocking).
fn prepare(image: &ImageRef, max_side: Option<u32>, limits: &ImageLimits) -> Result<Encoded, String> {
    let bytes = std::fs::read(&image.path).map_err(|e| format!("cannot read the image: {e}"))?;
    if sha256_hex(&bytes) != image.sha256 {
        return Err("the file changed after the data was loaded; run again to load it afresh".into());
    }
    let encode = |mime, bytes: &[u8]| Encoded { mime, base64: base64_simd::STANDARD.encode_type(bytes) };
    let Some(max_side) = max_side else { return Ok(encode(image.mime, &bytes)) };
    let (width, height) = image::ImageReader::new(std::io::Cursor::new(&bytes))
        .with_guessed_format()
        .map_err(|e| format!("cannot read the image: {e}"))?
        .into_dimensions()
        .map_err(|e| format!("the image header cannot be read ({e})"))?;
    if width.max(height) <= max_side {
        return Ok(encode(image.mime, &bytes));
    }
    let decoded = decode_image(&bytes, limits)?;
    let resized = decoded.resize(max_side, max_side, image::imageops::FilterType::Lanczos3);
    let (format, mime) = if image.mime == "image/png" {
        (image::ImageFormat::Png, "image/png")
    } else {
        (image::ImageFormat::Jpeg, "image/jpeg")
    };
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(resized.to_rgb8())
        .write_to(&mut out, format)
        .map_err(|e| format!("cannot encode the downscaled image: {e}"))?;
    Ok(encode(mime, out.get_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(e: &Encoded) -> image::DynamicImage {
        let bytes = base64_simd::STANDARD.decode_to_vec(&e.base64).unwrap();
        image::load_from_memory(&bytes).unwrap()
    }

    #[tokio::test]
    async fn large_images_are_downscaled_once_small_ones_sent_as_they_are() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a.png");
        image::RgbImage::new(800, 200).save(&path).unwrap();
        let limits = ImageLimits::default();
        let img = crate::data::image_ref(&path, "a.png", &limits).unwrap();
        let small = encoded(&img, Some(400), &limits).await.unwrap();
        let back = decode(&small);
        assert_eq!((back.width(), back.height(), small.mime), (400, 100, "image/png"));
        let again = encoded(&img, Some(400), &limits).await.unwrap();
        assert!(Arc::ptr_eq(&small, &again), "the second request reuses the first preparation");
        let same = encoded(&img, None, &limits).await.unwrap();
        assert_eq!(base64_simd::STANDARD.decode_to_vec(&same.base64).unwrap(), std::fs::read(&path).unwrap());
        let wide = encoded(&img, Some(1000), &limits).await.unwrap();
        assert_eq!(wide.base64, same.base64, "an image within the side is not re-encoded");
    }

    #[tokio::test]
    async fn an_image_beyond_the_limits_or_changed_since_loading_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("b.png");
        image::RgbImage::new(600, 600).save(&path).unwrap();
        let img = crate::data::image_ref(&path, "b.png", &ImageLimits::default()).unwrap();
        let tight = ImageLimits { max_side: 16_384, max_decoded_bytes: 1 << 20 };
        let err = encoded(&img, Some(100), &tight).await.unwrap_err();
        assert!(
            matches!(&err, CallError::Image(m) if m.contains("b.png") && m.contains("max_decoded_mib")),
            "{err}"
        );
        image::RgbImage::new(600, 601).save(&path).unwrap();
        let err = encoded(&img, Some(50), &ImageLimits::default()).await.unwrap_err();
        assert!(err.to_string().contains("changed"), "{err}");
    }
}
