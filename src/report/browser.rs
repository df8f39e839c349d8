//! The report's sample browser: the samples of every model as one compact JSON document that
//! `report.html` embeds and its script filters (by model, task, split, outcome, verdict and free
//! text) and shows a page at a time.
//!
//! Compact: every text (prompt, answer, evaluator values, split and sample ids) is stored once
//! in `strings` and rows refer to it by index, so a prompt asked of twelve models costs one
//! copy; each distinct image becomes one small JPEG thumbnail, however many samples show it.
//! Thumbnails are made on all cores (on one while `run` asks the models) and kept in the run's
//! `generated/thumbnails-96.txt`, so a second report of the same run decodes no image.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::io::{BufRead, Write as _};
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use super::compare::{self, Runs};
use crate::sample::Sample;

/// The most samples the browser holds; beyond it every model and task keeps the same share
/// (the page says how many it shows; every sample is in `samples.jsonl`).
pub const LIMIT: usize = 60_000;

/// The most characters kept of a prompt, answer or evaluator value.
pub const TEXT_LIMIT: usize = 2_000;

/// The longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 96;

/// No index (a missing answer, reason, verdict or image).
const NONE: i64 = -1;

/// The browser's data, as the page's script reads it.
#[derive(Debug, Default, Serialize)]
pub struct Browser {
    /// Every distinct text; rows hold indices into it.
    pub strings: Vec<String>,
    /// One thumbnail per distinct image, serialized as a data URL (empty for an image that
    /// could not be read).
    pub images: Thumbnails,
    /// Model names (rows hold indices).
    pub models: Vec<String>,
    /// Task ids and names, as `T1 Name`.
    pub tasks: Vec<String>,
    /// One row per sample: model, task, split, sample id, prompt, answer, outcome (`scored` or
    /// the unscorable kind), reason, verdict, evaluator values, image. Texts are indices into
    /// `strings`, the image an index into `images`; `-1` where there is none.
    pub rows: Vec<[i64; 11]>,
    /// How many samples the runs hold (more than `rows` when over [`LIMIT`]).
    pub total: usize,
}

impl Browser {
    /// Writes the data as JSON that is safe inside a `<script>` element: every `<` is written
    /// as `\u003c`, so no text can close the element or open a comment. (A `<` can only be
    /// inside a JSON string, where `\u003c` reads back as the same character.) Streamed: the
    /// document, tens of megabytes for a large run, is never held whole.
    pub fn write_script_json(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer(ScriptSafe(w), self).map_err(std::io::Error::other)
    }
}

/// A writer that passes bytes on with every `<` written as `\u003c`.
struct ScriptSafe<W>(W);

impl<W: std::io::Write> std::io::Write for ScriptSafe<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf).map(|()| buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        for (i, part) in buf.split(|&b| b == b'<').enumerate() {
            if i > 0 {
                self.0.write_all(b"\\u003c")?;
            }
            self.0.write_all(part)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Gathers every sample of every model of the runs (up to [`LIMIT`]).
pub fn gather(runs: &Runs) -> Browser {
    let mut b = Browser::default();
    // Each text's index by the text's hash, so that the texts are held once (in `strings`);
    // a text whose hash another text already has is kept again under an index of its own.
    let hasher = std::hash::RandomState::new();
    let mut strings: HashMap<u64, i64> = HashMap::new();
    let mut intern = |b: &mut Browser, text: String| -> i64 {
        let hash = hasher.hash_one(&text);
        if let Some(&i) = strings.get(&hash)
            && b.strings[i as usize] == text
        {
            return i;
        }
        let i = b.strings.len() as i64;
        strings.entry(hash).or_insert(i);
        b.strings.push(text);
        i
    };
    b.total = runs
        .models
        .iter()
        .flat_map(|m| &m.record.tasks)
        .flat_map(|t| &t.splits)
        .map(|s| s.samples.len())
        .sum();
    let cells = runs.models.iter().map(|m| m.record.tasks.len()).sum::<usize>().max(1);
    // Over the limit, each model and task keeps an equal share, taken across its splits.
    let share = if b.total > LIMIT { (LIMIT / cells).max(1) } else { usize::MAX };
    // Distinct images, by content hash: (hash, file) in first-seen order.
    let mut images: Vec<(String, PathBuf)> = Vec::new();
    let mut image_index: HashMap<String, i64> = HashMap::new();
    for m in &runs.models {
        let model = b.models.len() as i64;
        b.models.push(compare::label(m, runs));
        let data_root = PathBuf::from(&m.run.manifest.data.path);
        for task in &m.record.tasks {
            let name = runs.tasks.iter().find(|t| t.info().id == task.id).map(|t| t.info().name);
            let label = format!("{} {}", task.id, name.unwrap_or_default());
            let task_index = match b.tasks.iter().position(|t| *t == label) {
                Some(i) => i as i64,
                None => {
                    b.tasks.push(label);
                    b.tasks.len() as i64 - 1
                }
            };
            let per_split = share.div_ceil(task.splits.len().max(1));
            for split in &task.splits {
                let split_name = intern(&mut b, split.scores.split.clone());
                let rows = split.samples.iter().zip(&split.answers).zip(&split.scores.samples);
                for ((sample, answer), score) in rows.take(per_split) {
                    let image = match sample.image() {
                        Some(im) => *image_index.entry(im.sha256.clone()).or_insert_with(|| {
                            images.push((im.sha256.clone(), on_disk(&im.path, &im.display, &data_root)));
                            images.len() as i64 - 1
                        }),
                        None => NONE,
                    };
                    let failure = score.failure();
                    let values: Vec<String> = split
                        .scores
                        .chains
                        .iter()
                        .zip(&score.steps)
                        .flat_map(|(spec, steps)| {
                            spec.prefixes.iter().zip(steps).map(|(p, v)| match v {
                                Ok(v) => format!("{p}: {}", clip(&v.as_text(), TEXT_LIMIT / 2)),
                                Err(u) => format!("{p}: unscorable ({}): {}", u.kind.name(), u.reason),
                            })
                        })
                        .collect();
                    let verdict = score.steps.iter().find_map(|s| s.last()?.as_ref().ok());
                    let row = [
                        model,
                        task_index,
                        split_name,
                        intern(&mut b, sample.id.clone()),
                        intern(&mut b, clip(&sample.text(), TEXT_LIMIT)),
                        match answer {
                            Ok(a) => intern(&mut b, clip(&a.response.text, TEXT_LIMIT)),
                            Err(_) => NONE,
                        },
                        intern(&mut b, failure.map_or("scored", |u| u.kind.name()).to_string()),
                        match failure {
                            Some(u) => intern(&mut b, u.reason.clone()),
                            None => NONE,
                        },
                        match verdict {
                            Some(v) => intern(&mut b, clip(&v.as_text(), 40)),
                            None => NONE,
                        },
                        intern(&mut b, values.join("\n")),
                        image,
                    ];
                    b.rows.push(row);
                }
            }
        }
    }
    let cache = runs.models.first().map(|m| m.run.dir.join("generated"));
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    b.images = thumbnails(&images, cache.as_deref(), cores);
    b
}

/// The distinct images of these samples, as the thumbnails are keyed: SHA-256 and file.
pub fn images_of<'a>(samples: impl Iterator<Item = &'a Sample>) -> Vec<(String, PathBuf)> {
    let mut seen = std::collections::HashSet::new();
    samples
        .filter_map(Sample::image)
        .filter(|im| seen.insert(im.sha256.clone()))
        .map(|im| (im.sha256.clone(), im.path.clone()))
        .collect()
}

/// Makes the thumbnails of these images into the run's cache (`generated_dir`) ahead of the
/// report, on one thread: `run` does it while the models are asked (leaving the other cores to
/// the engine and the store), so the report finds them made.
pub fn prepare_thumbnails(images: &[(String, PathBuf)], generated_dir: &Path) {
    thumbnails(images, Some(generated_dir), 1);
}

/// Where an image of a run lies on this machine: its recorded path, or its path shown to
/// people under the run's data folder (a shown path that climbs out of it is not followed).
fn on_disk(path: &Path, display: &str, data_root: &Path) -> PathBuf {
    if path.is_file() {
        return path.to_path_buf();
    }
    let rel = Path::new(display.strip_prefix("data/").unwrap_or(display));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return PathBuf::new();
    }
    data_root.join(rel)
}

/// The thumbnails of a page's images: the base64 JPEGs kept in one text (the cache file's
/// `HASH BASE64` lines), each image a span of it; serialized as a list of data URLs, written
/// as they are serialized rather than built as strings first.
#[derive(Debug, Default)]
pub struct Thumbnails {
    text: String,
    spans: Vec<Option<Range<usize>>>,
}

impl Serialize for Thumbnails {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct DataUrl<'a>(Option<&'a str>);
        impl Serialize for DataUrl<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self.0 {
                    Some(b) => serializer.collect_str(&format_args!("data:image/jpeg;base64,{b}")),
                    None => serializer.serialize_str(""),
                }
            }
        }
        serializer.collect_seq(self.spans.iter().map(|span| DataUrl(span.clone().map(|r| &self.text[r]))))
    }
}

/// One thumbnail per image, made on up to `threads` threads; an image that cannot be read has
/// none (the page then shows its sample without one). Thumbnails already made are read from
/// the cache, one file in the run (`HASH BASE64` a line), and the new ones added to it: one
/// file, not one per image, since creating thousands of small files at once costs more than
/// making the thumbnails. The cache is read a line at a time and only these images' lines are
/// kept: it holds every image of the run (`run` makes them while it asks), and a page over
/// [`LIMIT`] shows fewer.
fn thumbnails(images: &[(String, PathBuf)], cache: Option<&Path>, threads: usize) -> Thumbnails {
    if images.is_empty() {
        return Thumbnails::default();
    }
    let file = cache.map(|dir| dir.join(format!("thumbnails-{THUMBNAIL_SIDE}.txt")));
    let wanted: HashMap<&str, usize> =
        images.iter().enumerate().map(|(i, (hash, _))| (hash.as_str(), i)).collect();
    let mut text = String::new();
    let mut spans: Vec<Option<Range<usize>>> = vec![None; images.len()];
    fn keep(text: &mut String, spans: &mut [Option<Range<usize>>], i: usize, base64: &str) {
        spans[i] = Some(text.len()..text.len() + base64.len());
        text.push_str(base64);
    }
    let mut cached_ends_line = true;
    if let Some(cached) = file.as_ref().and_then(|f| std::fs::File::open(f).ok()) {
        let mut lines = std::io::BufReader::new(cached);
        let mut line = String::new();
        while matches!(lines.read_line(&mut line), Ok(n) if n > 0) {
            cached_ends_line = line.ends_with('\n');
            if let Some((hash, base64)) = line.trim_end_matches('\n').split_once(' ')
                && let Some(&i) = wanted.get(hash)
            {
                keep(&mut text, &mut spans, i, base64);
            }
            line.clear();
        }
    }
    let missing: Vec<(usize, &Path)> = spans
        .iter()
        .zip(images)
        .enumerate()
        .filter(|(_, (s, _))| s.is_none())
        .map(|(i, (_, (_, p)))| (i, p.as_path()))
        .collect();
    if missing.is_empty() {
        return Thumbnails { text, spans };
    }
    let threads = threads.clamp(1, missing.len());
    let chunk = missing.len().div_ceil(threads);
    let made: Vec<(usize, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = missing
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .filter_map(|&(i, path)| {
                            let jpeg = thumbnail_jpeg(path)?;
                            Some((i, base64_simd::STANDARD.encode_to_string(&jpeg)))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    for (i, base64) in &made {
        keep(&mut text, &mut spans, *i, base64);
    }
    if let Some(file) = file.filter(|_| !made.is_empty()) {
        // The cache again, with the new lines after the old ones. A cache that cannot be
        // written only costs the next report the decoding.
        let _ = file.parent().map(std::fs::create_dir_all);
        let _ = super::atomic_write_with(&file, |w| {
            let failed = |e| super::write_error(&file, e);
            if let Ok(mut old) = std::fs::File::open(&file) {
                std::io::copy(&mut old, w).map_err(failed)?;
            }
            if !cached_ends_line {
                w.write_all(b"\n").map_err(failed)?;
            }
            for (i, base64) in &made {
                writeln!(w, "{} {base64}", images[*i].0).map_err(failed)?;
            }
            Ok(())
        });
    }
    Thumbnails { text, spans }
}

/// A JPEG thumbnail (longest side at most [`THUMBNAIL_SIDE`]; a smaller image keeps its size) of
/// an image file; none for a file that is not an image, larger than 64 MiB, or beyond the default
/// decoding limits.
pub fn thumbnail_jpeg(path: &Path) -> Option<Vec<u8>> {
    if std::fs::metadata(path).ok()?.len() > 64 << 20 {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    let img = crate::data::decode_image(&bytes, &crate::core::ImageLimits::default()).ok()?;
    // An image already within the side is kept at its size: scaling it up costs nine times the
    // pixels to encode and shows nothing more (the page sizes thumbnails itself).
    let small = if img.width().max(img.height()) <= THUMBNAIL_SIDE {
        img.to_rgb8()
    } else {
        img.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE).to_rgb8()
    };
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80).encode_image(&small).ok()?;
    Some(out)
}

/// The text cut to `n` characters, marked where it was cut.
fn clip(text: &str, n: usize) -> String {
    match text.char_indices().nth(n) {
        None => text.to_string(),
        Some((i, _)) => format!("{}… (cut; the whole text is in samples.jsonl)", &text[..i]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_its_element() {
        let b = Browser {
            strings: vec!["</script><!-- <img src=x onerror=alert(1)>".into()],
            ..Browser::default()
        };
        let mut out = Vec::new();
        b.write_script_json(&mut out).unwrap();
        let json = String::from_utf8(out).unwrap();
        assert!(!json.contains('<'), "{json}");
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["strings"][0], "</script><!-- <img src=x onerror=alert(1)>");
    }

    #[test]
    fn clipping_keeps_short_texts_and_marks_cut_ones() {
        assert_eq!(clip("héllo", 5), "héllo");
        assert_eq!(clip("héllo", 2), "hé… (cut; the whole text is in samples.jsonl)");
    }

    #[test]
    fn a_shown_path_that_climbs_out_of_the_data_folder_is_not_followed() {
        let root = Path::new("/data");
        assert_eq!(on_disk(Path::new("/nowhere/x.png"), "data/../../etc/passwd", root), PathBuf::new());
        assert_eq!(on_disk(Path::new("/nowhere/x.png"), "data/img/x.png", root), root.join("img/x.png"));
    }

    #[test]
    fn a_thumbnail_shrinks_a_large_image_and_keeps_a_small_one_at_its_size() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let side = |w: u32, h: u32| {
            let path = dir.path().join(format!("{w}x{h}.png"));
            image::RgbImage::from_pixel(w, h, image::Rgb([200, 40, 10])).save(&path).expect("the image");
            let jpeg = thumbnail_jpeg(&path).expect("a thumbnail");
            let small = image::load_from_memory(&jpeg).expect("a JPEG");
            (small.width(), small.height())
        };
        assert_eq!(side(400, 200), (THUMBNAIL_SIDE, THUMBNAIL_SIDE / 2));
        assert_eq!(side(32, 20), (32, 20));
        assert_eq!(side(THUMBNAIL_SIDE, 10), (THUMBNAIL_SIDE, 10));
        assert_eq!(thumbnail_jpeg(&dir.path().join("absent.png")), None);
    }

    #[test]
    fn thumbnails_are_cached_once_and_read_back_as_the_same_data_urls() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let image = |name: &str, rgb: [u8; 3]| {
            let path = dir.path().join(name);
            image::RgbImage::from_pixel(8, 6, image::Rgb(rgb)).save(&path).expect("the image");
            (format!("hash-{name}"), path)
        };
        let (a, b) = (image("a.png", [200, 0, 0]), image("b.png", [0, 0, 200]));
        let absent = ("hash-absent".to_string(), dir.path().join("absent.png"));
        let cache = dir.path().join("cache");
        let as_json = |t: &Thumbnails| serde_json::to_value(t).expect("JSON");

        let first = thumbnails(&[a.clone(), absent.clone()], Some(&cache), 2);
        let urls = as_json(&first);
        let url = urls[0].as_str().expect("a data URL");
        let jpeg = base64_simd::STANDARD
            .decode_to_vec(url.strip_prefix("data:image/jpeg;base64,").expect("a JPEG data URL"))
            .expect("base64");
        assert_eq!(image::load_from_memory(&jpeg).expect("a JPEG").width(), 8);
        assert_eq!(urls[1], "", "an unreadable image has no thumbnail");

        // A second page adds b to the cache and reads a from it, in the order it asks.
        std::fs::remove_file(&a.1).expect("a removed");
        let second = thumbnails(&[b.clone(), a.clone()], Some(&cache), 1);
        let again = as_json(&second);
        assert_eq!(again[1], urls[0], "a comes from the cache");
        assert!(again[0].as_str().is_some_and(|u| u.len() > 30 && u != url));
        let text =
            std::fs::read_to_string(cache.join(format!("thumbnails-{THUMBNAIL_SIDE}.txt"))).expect("cache");
        assert_eq!(text.lines().count(), 2, "one line an image: {text}");
        // A third page, with neither file left, reads both from the cache as the second had them.
        std::fs::remove_file(&b.1).expect("b removed");
        assert_eq!(as_json(&thumbnails(&[b.clone(), a.clone()], Some(&cache), 1)), again);
        // A page of fewer images keeps only their thumbnails of the cache.
        let only_b = thumbnails(std::slice::from_ref(&b), Some(&cache), 1);
        assert_eq!(as_json(&only_b)[0], again[0]);
        let b_base64 = again[0].as_str().and_then(|u| u.strip_prefix("data:image/jpeg;base64,"));
        assert_eq!(only_b.text.len(), b_base64.map_or(0, str::len));
        // A cache whose last line lost its newline gets the new line after it, not on it.
        let file = cache.join(format!("thumbnails-{THUMBNAIL_SIDE}.txt"));
        let cut = std::fs::read_to_string(&file).expect("cache").trim_end().to_string();
        std::fs::write(&file, &cut).expect("cache cut");
        let c = image("c.png", [0, 200, 0]);
        let third = as_json(&thumbnails(&[a.clone(), b.clone(), c.clone()], Some(&cache), 1));
        assert_eq!((&third[0], &third[1]), (&urls[0], &again[0]));
        std::fs::remove_file(&c.1).expect("c removed");
        let text = std::fs::read_to_string(&file).expect("cache");
        assert_eq!(text.lines().count(), 3, "one line an image: {text}");
        assert_eq!(
            as_json(&thumbnails(&[c.clone(), a.clone()], Some(&cache), 1)),
            serde_json::json!([third[2], urls[0]])
        );
    }
}
