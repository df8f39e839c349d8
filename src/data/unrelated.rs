//! The unrelated-image pool (spec §2.1): the images paired with text samples in every
//! `*-unrelated-image-{color,nature,noise}` split.
//!
//! The pool for a kind is every file of `data/unrelated_images/` whose name contains the kind
//! word, in natural sort order. The original draws one image per sample with Python's unseeded
//! `random`; we draw from the run seed and the sample's position, so a run is reproducible.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{DataDir, DataError, natural_cmp};
use crate::core::rng::Rng;
use crate::sample::ImageRef;

/// The folder of the pool, relative to the data folder.
pub const POOL_DIR: &str = "unrelated_images";

/// The three kinds of unrelated image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unrelated {
    /// Solid colour images.
    Color,
    /// Natural photographs.
    Nature,
    /// Uniform random noise.
    Noise,
}

impl Unrelated {
    /// All kinds, in the order the original's S3 pairs them (color, nature, noise).
    pub const ALL: [Unrelated; 3] = [Unrelated::Color, Unrelated::Nature, Unrelated::Noise];

    /// The word in file names and split ids.
    pub fn word(self) -> &'static str {
        match self {
            Unrelated::Color => "color",
            Unrelated::Nature => "nature",
            Unrelated::Noise => "noise",
        }
    }

    /// The kind named at the end of a split id such as `dt-unrelated-image-noise`.
    pub fn from_split(split: &str) -> Option<Unrelated> {
        Unrelated::ALL.into_iter().find(|k| split.ends_with(k.word()))
    }
}

/// The pools, read once per run and shared by every task.
#[derive(Debug, Default)]
pub struct Pools {
    cache: Mutex<HashMap<Unrelated, Arc<Pool>>>,
}

/// The images of one kind, and the files of the folder that are not used (with why): a file
/// whose name has no kind word, or that is not an image that can be opened. An unusable file
/// is left out of the pool (a warning), never the cause of a failed split.
#[derive(Debug)]
pub struct Pool {
    /// The images, in natural order of their names.
    pub images: Vec<ImageRef>,
    /// Files left out, each naming the file and why.
    pub ignored: Vec<String>,
}

impl Pools {
    /// The pool of one kind; an error if the folder is missing or holds no usable image of
    /// that kind.
    pub fn get(&self, data: &DataDir, kind: Unrelated) -> Result<Arc<Pool>, DataError> {
        if let Some(pool) = self.cache.lock().ok().and_then(|c| c.get(&kind).cloned()) {
            return Ok(pool);
        }
        let mut files = data.list_files(POOL_DIR)?;
        files.sort_by(|a, b| natural_cmp(a, b));
        let mut pool = Pool { images: Vec::new(), ignored: Vec::new() };
        for name in files {
            let rel = format!("{POOL_DIR}/{name}");
            if !Unrelated::ALL.iter().any(|k| name.contains(k.word())) {
                pool.ignored.push(format!(
                    "{}: its name has none of color, nature, noise, so it is in no unrelated-image pool",
                    data.shown(&rel)
                ));
            } else if name.contains(kind.word()) {
                match data.image(&rel) {
                    Ok(image) => pool.images.push(image),
                    Err(e) => pool.ignored.push(format!("{e} (left out of the {} pool)", kind.word())),
                }
            }
        }
        if pool.images.is_empty() {
            return Err(DataError::Missing {
                path: data.shown(&format!("{POOL_DIR}/*{}*", kind.word())),
                hint: format!(
                    "no usable unrelated image has `{}` in its name; the pool is needed by the \
                     unrelated-image splits",
                    kind.word()
                ),
            });
        }
        let pool = Arc::new(pool);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(kind, pool.clone());
        }
        Ok(pool)
    }
}

/// Draws `k` distinct images of a pool for one sample, from the run seed and a key naming the
/// sample (task, split, position). `k = 1` is the common case.
pub fn draw(pool: &[ImageRef], seed: u64, key: &[&str], k: usize) -> Vec<ImageRef> {
    let mut rng = Rng::keyed(seed, key);
    rng.sample_indices(pool.len(), k).into_iter().map(|i| pool[i].clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_is_filtered_by_kind_and_naturally_sorted_and_draws_are_seeded() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(POOL_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["color_10.png", "color_2.png", "noise_1.png", "color_1.png"] {
            image::RgbImage::new(1, 1).save(dir.join(name)).unwrap();
        }
        std::fs::write(dir.join("color_notes.txt"), "not an image").unwrap();
        std::fs::write(dir.join("README"), "about the pool").unwrap();
        let data = DataDir::new(tmp.path());
        let pools = Pools::default();
        let pool = pools.get(&data, Unrelated::Color).unwrap();
        assert_eq!(pool.ignored.len(), 2, "{:?}", pool.ignored);
        assert!(
            pool.ignored
                .iter()
                .any(|w| w.contains("color_notes.txt") && w.contains("not a recognised image"))
        );
        assert!(pool.ignored.iter().any(|w| w.contains("README") && w.contains("no unrelated-image pool")));
        let colors = &pool.images;
        let names: Vec<&str> = colors.iter().map(|i| i.display.as_str()).collect();
        assert_eq!(
            names,
            [
                "data/unrelated_images/color_1.png",
                "data/unrelated_images/color_2.png",
                "data/unrelated_images/color_10.png"
            ]
        );
        assert!(pools.get(&data, Unrelated::Nature).is_err());
        let a = draw(colors, 1, &["T4", "x", "3"], 1);
        let b = draw(colors, 1, &["T4", "x", "3"], 1);
        assert_eq!(a, b);
        assert_eq!(draw(colors, 1, &["k"], 3).len(), 3);
        assert_eq!(Unrelated::from_split("dt-unrelated-image-noise"), Some(Unrelated::Noise));
    }
}
