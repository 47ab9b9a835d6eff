//! Annotating frames so a person can look at what the pipeline saw: boxes, points, labels.

use font8x8::UnicodeFonts;

use crate::frame::Frame;

pub type Rgb = [u8; 3];
pub const GREEN: Rgb = [40, 220, 60];
pub const RED: Rgb = [230, 40, 40];
pub const YELLOW: Rgb = [250, 220, 0];
pub const WHITE: Rgb = [255, 255, 255];
pub const BLACK: Rgb = [0, 0, 0];

fn put(f: &mut Frame, x: i64, y: i64, c: Rgb) {
    if x >= 0 && y >= 0 && x < f.width as i64 && y < f.height as i64 {
        let i = (y as usize * f.width as usize + x as usize) * 3;
        f.rgb[i..i + 3].copy_from_slice(&c);
    }
}

pub fn fill_rect(f: &mut Frame, x: i64, y: i64, w: i64, h: i64, c: Rgb) {
    for yy in y.max(0)..(y + h).min(f.height as i64) {
        for xx in x.max(0)..(x + w).min(f.width as i64) {
            put(f, xx, yy, c);
        }
    }
}

/// Rectangle outline of the given thickness.
pub fn rect(f: &mut Frame, x: f32, y: f32, w: f32, h: f32, thick: i64, c: Rgb) {
    let (x, y, w, h) = (
        x.round() as i64,
        y.round() as i64,
        w.round() as i64,
        h.round() as i64,
    );
    fill_rect(f, x, y, w, thick, c);
    fill_rect(f, x, y + h - thick, w, thick, c);
    fill_rect(f, x, y, thick, h, c);
    fill_rect(f, x + w - thick, y, thick, h, c);
}

pub fn dot(f: &mut Frame, x: f32, y: f32, r: i64, c: Rgb) {
    let (cx, cy) = (x.round() as i64, y.round() as i64);
    for dy in -r..=r {
        for dx in -r..=r {
            if dx * dx + dy * dy <= r * r {
                put(f, cx + dx, cy + dy, c);
            }
        }
    }
}

/// Text in an 8×8 bitmap font scaled by `scale`, on a dark band for contrast.
pub fn label(f: &mut Frame, x: f32, y: f32, text: &str, scale: i64, c: Rgb) {
    let (x0, y0) = (x.round() as i64, y.round() as i64);
    let w = text.chars().count() as i64 * 8 * scale;
    fill_rect(f, x0 - 1, y0 - 1, w + 2, 8 * scale + 2, BLACK);
    for (k, ch) in text.chars().enumerate() {
        let glyph = font8x8::BASIC_FONTS
            .get(ch)
            .or_else(|| font8x8::BASIC_FONTS.get('?'))
            .unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) != 0 {
                    fill_rect(
                        f,
                        x0 + (k as i64 * 8 + col) * scale,
                        y0 + row as i64 * scale,
                        scale,
                        scale,
                        c,
                    );
                }
            }
        }
    }
}

/// A size for strokes and text that stays readable on small and large pictures.
pub fn stroke_for(f: &Frame) -> i64 {
    ((f.width.max(f.height) as i64) / 500).clamp(1, 6)
}

/// `f` as JPEG bytes (consumes the frame: no copy of its pixels).
pub fn jpeg_bytes(f: Frame) -> Option<Vec<u8>> {
    let img = image::RgbImage::from_raw(f.width, f.height, f.rgb)?;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).ok()?;
    Some(out.into_inner())
}

pub fn save_jpeg(f: &Frame, path: &std::path::Path) -> Result<(), image::ImageError> {
    let img = image::RgbImage::from_raw(f.width, f.height, f.rgb.clone()).ok_or_else(|| {
        image::ImageError::Parameter(image::error::ParameterError::from_kind(
            image::error::ParameterErrorKind::DimensionMismatch,
        ))
    })?;
    img.save(path)
}
