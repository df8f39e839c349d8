//! Text rendered into an image with an embedded font.
//!
//! [`embed_text`] follows the original's `RelatedTextEmbedImage` layout (spec §2.4): size-90
//! monospace bold, greedy word wrap within 1024 px, a canvas at least 1024 px wide and
//! `ceil(90 × lines × 1.1)` tall, black text on white, centred as a block. The original's font
//! (FreeMonoBold) is replaced by DejaVu Sans Mono Bold, embedded in the binary, so the pictures
//! are the same on every machine.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use image::{Rgb, RgbImage};

/// The embedded fonts.
#[derive(Debug, Clone, Copy)]
pub enum Face {
    /// DejaVu Sans Mono Bold (text-embedded images, as the original's FreeMonoBold).
    MonoBold,
    /// DejaVu Sans (captions and synthetic pictures).
    Sans,
    /// DejaVu Sans Bold (typographic pictures).
    SansBold,
}

fn font(face: Face) -> FontRef<'static> {
    let bytes = match face {
        Face::MonoBold => dejavu::sans_mono::bold(),
        Face::Sans => dejavu::sans::regular(),
        Face::SansBold => dejavu::sans::bold(),
    };
    // The embedded fonts are valid TrueType files; a failure here is a broken build.
    FontRef::try_from_slice(bytes).expect("embedded DejaVu font")
}

/// The scale for a size in pixels per em (PIL's font size), since ab_glyph scales by the
/// font's full height (ascent to descent).
fn scale(font: &FontRef<'static>, size: f32) -> PxScale {
    let per_em = font.units_per_em().unwrap_or(2048.0);
    PxScale::from(size * font.height_unscaled() / per_em)
}

/// The width of a text in pixels at a size (the sum of glyph advances with kerning).
pub fn text_width(face: Face, size: f32, text: &str) -> f32 {
    let font = font(face);
    let scaled = font.as_scaled(scale(&font, size));
    let mut width = 0.0;
    let mut previous = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = previous {
            width += scaled.kern(p, id);
        }
        width += scaled.h_advance(id);
        previous = Some(id);
    }
    width
}

/// Greedy word wrap as the original does it: words are added while the running width stays
/// under `max_width`; an over-long word is not broken; every input line ends a line.
pub fn wrap(face: Face, size: f32, text: &str, max_width: f32) -> Vec<String> {
    let space = text_width(face, size, " ");
    let mut lines = Vec::new();
    for input in text.split('\n') {
        let mut current = String::new();
        let mut width = 0.0;
        for word in input.split(' ') {
            let w = text_width(face, size, word);
            if width + w < max_width {
                current.push_str(word);
                current.push(' ');
                width += w + space;
            } else {
                lines.push(current.trim().to_string());
                current = format!("{word} ");
                width = w + space;
            }
        }
        lines.push(current.trim().to_string());
    }
    // The original joins the lines and strips the result: drop blank lines at both ends.
    while lines.first().is_some_and(|l| l.is_empty()) {
        lines.remove(0);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// How text is drawn: the font, its size in pixels per em, and its colour.
#[derive(Debug, Clone, Copy)]
pub struct Pen {
    /// The font.
    pub face: Face,
    /// Pixels per em.
    pub size: f32,
    /// The ink.
    pub color: [u8; 3],
}

/// Draws lines of text onto an image, left-aligned from `x`, starting at `y`, each line
/// `advance` pixels below the previous.
pub fn draw_lines(img: &mut RgbImage, pen: Pen, lines: &[String], x: f32, y: f32, advance: f32) {
    let font = font(pen.face);
    let scale = scale(&font, pen.size);
    let scaled = font.as_scaled(scale);
    for (i, line) in lines.iter().enumerate() {
        let baseline = y + scaled.ascent() + i as f32 * advance;
        let mut caret = x;
        let mut previous = None;
        for c in line.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = previous {
                caret += scaled.kern(p, id);
            }
            let glyph = id.with_scale_and_position(scale, point(caret, baseline));
            if let Some(outline) = font.outline_glyph(glyph) {
                let bounds = outline.px_bounds();
                outline.draw(|gx, gy, coverage| {
                    let px = bounds.min.x as i64 + i64::from(gx);
                    let py = bounds.min.y as i64 + i64::from(gy);
                    if px >= 0 && py >= 0 && (px as u32) < img.width() && (py as u32) < img.height() {
                        let pixel = img.get_pixel_mut(px as u32, py as u32);
                        for (channel, ink) in pixel.0.iter_mut().zip(pen.color) {
                            let bg = f32::from(*channel);
                            *channel = (bg + (f32::from(ink) - bg) * coverage.clamp(0.0, 1.0)).round() as u8;
                        }
                    }
                });
            }
            caret += scaled.h_advance(id);
            previous = Some(id);
        }
    }
}

/// P6's text-embedded image of a text (spec §2.4 layout).
pub fn embed_text(text: &str) -> RgbImage {
    const SIZE: f32 = 90.0;
    const MAX_WIDTH: f32 = 1024.0;
    let lines = wrap(Face::MonoBold, SIZE, text, MAX_WIDTH);
    let widest = lines.iter().map(|l| text_width(Face::MonoBold, SIZE, l)).fold(0.0, f32::max);
    let width = widest.max(MAX_WIDTH) as u32;
    let height = ((SIZE * lines.len().max(1) as f32 * 1.1).ceil() as u32).max(1);
    let mut img = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    let font = font(Face::MonoBold);
    let advance = font.as_scaled(scale(&font, SIZE)).ascent() + 4.0;
    let x = ((width as f32 - widest) / 2.0).floor();
    draw_lines(&mut img, Pen { face: Face::MonoBold, size: SIZE, color: [0, 0, 0] }, &lines, x, 0.0, advance);
    img
}

/// A caption picture: text wrapped to fit, centred vertically, on a background colour.
pub fn caption(
    text: &str,
    width: u32,
    height: u32,
    size: f32,
    background: [u8; 3],
    color: [u8; 3],
) -> RgbImage {
    let mut img = RgbImage::from_pixel(width, height, Rgb(background));
    let margin = size * 0.5;
    let lines = wrap(Face::SansBold, size, text, width as f32 - 2.0 * margin);
    let advance = size * 1.2;
    let block = advance * lines.len() as f32;
    let y = ((height as f32 - block) / 2.0).max(0.0);
    draw_lines(&mut img, Pen { face: Face::SansBold, size, color }, &lines, margin, y, advance);
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_follows_the_greedy_rule() {
        let w = text_width(Face::MonoBold, 90.0, "x");
        assert!(w > 40.0 && w < 70.0, "monospace advance at 90 px: {w}");
        // A monospace character is 0.6 em, 54 px at 90 px per em: 1024 px holds 18 of them,
        // and "aaaa bbbb cccc dddd" is 19.
        let lines = wrap(Face::MonoBold, 90.0, "aaaa bbbb cccc dddd", 1024.0);
        assert_eq!(lines, vec!["aaaa bbbb cccc", "dddd"]);
        let long = "x".repeat(40);
        assert_eq!(
            wrap(Face::MonoBold, 90.0, &long, 1024.0),
            vec![long.clone()],
            "a long word is not broken"
        );
        assert_eq!(wrap(Face::MonoBold, 90.0, "a\n\nb", 1024.0), vec!["a", "", "b"]);
    }

    #[test]
    fn embedded_text_images_have_the_original_geometry_and_ink() {
        let img = embed_text("phone number\n\n555 0100");
        assert_eq!(img.width(), 1024);
        assert_eq!(img.height(), (90.0f32 * 3.0 * 1.1).ceil() as u32);
        let dark = img.pixels().filter(|p| p.0[0] < 128).count();
        assert!(dark > 1000, "text is drawn: {dark} dark pixels");
        let wide = embed_text(&"w".repeat(30));
        assert!(wide.width() > 1024, "an over-long line widens the canvas");
        assert_eq!(embed_text("same"), embed_text("same"), "deterministic");
    }
}
