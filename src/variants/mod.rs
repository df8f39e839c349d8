//! Images made by us: text rendered into pictures (P6's text-embedded images, typographic and
//! synthetic images). Everything here is deterministic and uses the embedded DejaVu fonts, never
//! a system font.

pub mod text_image;
