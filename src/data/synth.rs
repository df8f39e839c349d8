//! The synthetic suite: a small, license-clean data set in the official layout for every task,
//! written by us and deterministic from a seed.
//!
//! It exists so that everything runs with no download: the default `multitrust run`, the tests,
//! a first look at the reports. Its texts are ours, its pictures are drawn here (solid colours,
//! noise, simple scenes and shapes, rendered text). It is **not** the benchmark's data and a
//! model's scores on it mean nothing; the README it writes says so.
//!
//! Each task writes its own part (`Task::synthesize`), next to the loader that reads it; this
//! module holds the shared writers, pictures, and the unrelated-image pool.

use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use serde::Serialize;
use serde_json::Value;

use super::DataError;
use super::unrelated::{POOL_DIR, Unrelated};
use crate::core::rng::Rng;
use crate::data::text_image;

/// The side of the synthetic pictures.
pub const SIDE: u32 = 96;

/// The README written at the top of a synthetic suite.
pub const README: &str =
    "This folder is a SYNTHETIC data set written by multitrust (`multitrust data synth`).

It follows the layout of the MultiTrust benchmark's data so that every task can run without a
download, but it is NOT the benchmark's data: the texts were written for multitrust and the
pictures are drawn by it (solid colours, noise, simple shapes and scenes, rendered text). Scores
computed on it say nothing about a model; use it to try the pipeline, the reports and the
reference baselines. For real numbers, download the MultiTrust data and pass it with --data.

Everything here is generated deterministically from the seed recorded in synthetic.json, and
may be used freely.
";

/// Writes synthetic files into a folder that has the official layout.
#[derive(Debug)]
pub struct Synth {
    root: PathBuf,
    seed: u64,
}

impl Synth {
    /// A writer into `root` (the data folder) with a seed.
    pub fn new(root: &Path, seed: u64) -> Synth {
        Synth { root: root.to_path_buf(), seed }
    }

    /// The data folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A generator for one named purpose.
    pub fn rng(&self, key: &[&str]) -> Rng {
        let mut parts = vec!["synth"];
        parts.extend_from_slice(key);
        Rng::keyed(self.seed, &parts)
    }

    fn path(&self, rel: &str) -> Result<PathBuf, DataError> {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|source| DataError::Io { path: parent.display().to_string(), source })?;
        }
        Ok(path)
    }

    /// Writes bytes.
    pub fn bytes(&self, rel: &str, bytes: &[u8]) -> Result<(), DataError> {
        let path = self.path(rel)?;
        std::fs::write(&path, bytes)
            .map_err(|source| DataError::Io { path: path.display().to_string(), source })
    }

    /// Writes a text file.
    pub fn text(&self, rel: &str, text: &str) -> Result<(), DataError> {
        self.bytes(rel, text.as_bytes())
    }

    /// Writes a JSON file.
    pub fn json(&self, rel: &str, value: &impl Serialize) -> Result<(), DataError> {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| DataError::malformed(rel, "whole file", e.to_string()))?;
        self.text(rel, &text)
    }

    /// Writes a JSON Lines file.
    pub fn jsonl(&self, rel: &str, records: &[Value]) -> Result<(), DataError> {
        let mut text = String::new();
        for r in records {
            text.push_str(&r.to_string());
            text.push('\n');
        }
        self.text(rel, &text)
    }

    /// Writes a CSV file with a header row.
    pub fn csv(&self, rel: &str, header: &[&str], rows: &[Vec<String>]) -> Result<(), DataError> {
        let path = self.path(rel)?;
        let mut writer = csv::Writer::from_path(&path)
            .map_err(|e| DataError::malformed(rel, "whole file", e.to_string()))?;
        let io = |e: csv::Error| DataError::malformed(rel, "whole file", e.to_string());
        writer.write_record(header).map_err(io)?;
        for row in rows {
            writer.write_record(row).map_err(io)?;
        }
        writer.flush().map_err(|source| DataError::Io { path: path.display().to_string(), source })
    }

    /// Writes a PNG picture.
    pub fn png(&self, rel: &str, img: &RgbImage) -> Result<(), DataError> {
        let path = self.path(rel)?;
        img.save(&path).map_err(|e| DataError::malformed(rel, "whole file", e.to_string()))
    }

    /// Writes a JPEG picture.
    pub fn jpeg(&self, rel: &str, img: &RgbImage) -> Result<(), DataError> {
        let path = self.path(rel)?;
        img.save_with_format(&path, image::ImageFormat::Jpeg)
            .map_err(|e| DataError::malformed(rel, "whole file", e.to_string()))
    }
}

/// A solid colour picture.
pub fn solid(rgb: [u8; 3]) -> RgbImage {
    RgbImage::from_pixel(SIDE, SIDE, Rgb(rgb))
}

/// A picture of uniform random noise.
pub fn noise(rng: &mut Rng) -> RgbImage {
    RgbImage::from_fn(SIDE, SIDE, |_, _| {
        let v = rng.next_u64();
        Rgb([v as u8, (v >> 8) as u8, (v >> 16) as u8])
    })
}

/// A simple landscape: a sky gradient, a sun, hills and grass.
pub fn scene(rng: &mut Rng) -> RgbImage {
    let sun = (rng.below(SIDE as usize) as f32, 10.0 + rng.below(20) as f32);
    let hill = 50.0 + rng.below(20) as f32;
    let hue = rng.below(60) as u8;
    RgbImage::from_fn(SIDE, SIDE, |x, y| {
        let (xf, yf) = (x as f32, y as f32);
        let ground = hill + 8.0 * (xf / 12.0).sin();
        if (xf - sun.0).powi(2) + (yf - sun.1).powi(2) < 64.0 {
            Rgb([250, 220, 90])
        } else if yf > ground {
            Rgb([40 + hue / 2, 120 + hue, 50])
        } else {
            let t = yf / ground;
            Rgb([(90.0 + 100.0 * t) as u8, (150.0 + 60.0 * t) as u8, 235])
        }
    })
}

/// A picture of one shape (circle, square or triangle) in a colour on a light background.
pub fn shape(kind: usize, rgb: [u8; 3]) -> RgbImage {
    let c = SIDE as f32 / 2.0;
    RgbImage::from_fn(SIDE, SIDE, |x, y| {
        let (dx, dy) = (x as f32 - c, y as f32 - c);
        let inside = match kind % 3 {
            0 => dx * dx + dy * dy < (c * 0.6).powi(2),
            1 => dx.abs() < c * 0.55 && dy.abs() < c * 0.55,
            _ => dy > -c * 0.6 && dy < c * 0.5 && dx.abs() < (dy + c * 0.6) * 0.55,
        };
        if inside { Rgb(rgb) } else { Rgb([235, 235, 228]) }
    })
}

/// A picture showing a short text (signs, typographic prompts, OCR samples).
pub fn words(text: &str) -> RgbImage {
    text_image::caption(text, SIDE * 2, SIDE, 18.0, [245, 245, 240], [15, 15, 15])
}

/// The unrelated-image pool: three pictures of each kind.
pub fn write_unrelated_pool(s: &Synth) -> Result<(), DataError> {
    for kind in Unrelated::ALL {
        for i in 0..3 {
            let mut rng = s.rng(&["unrelated", kind.word(), &i.to_string()]);
            let img = match kind {
                Unrelated::Color => solid([rng.below(256) as u8, rng.below(256) as u8, rng.below(256) as u8]),
                Unrelated::Nature => scene(&mut rng),
                Unrelated::Noise => noise(&mut rng),
            };
            s.png(&format!("{POOL_DIR}/{}_{i}.png", kind.word()), &img)?;
        }
    }
    Ok(())
}

/// Whether a data folder is a synthetic suite.
pub fn is_synthetic(root: &Path) -> bool {
    root.join("synthetic.json").is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_deterministic_and_distinct() {
        let a = noise(&mut Rng::new(1));
        assert_eq!(a, noise(&mut Rng::new(1)));
        assert_ne!(a, noise(&mut Rng::new(2)));
        assert_ne!(shape(0, [200, 0, 0]), shape(1, [200, 0, 0]));
        assert_eq!(scene(&mut Rng::new(3)).dimensions(), (SIDE, SIDE));
        let w = words("STOP");
        assert!(w.pixels().any(|p| p.0[0] < 60), "the text is drawn");
    }
}
