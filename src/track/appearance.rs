//! Cheap appearance cues for tracking, so a track never carries over to another person: a face
//! signature (what the face box looks like) and a scene-cut detector (the whole picture changed).
//! Both read a few thousand pixels per face or frame — far cheaper than an embedding.

use crate::detect::Detection;
use crate::frame::Frame;

/// Side of the face thumbnail the signature is made of.
const GRID: usize = 12;
/// Chromaticity histogram bins per axis (r = R/sum, g = G/sum).
const CHROMA_BINS: usize = 6;

/// What a face box looks like, independent of brightness and contrast: the layout of light and
/// dark in the inner face (a 12×12 luma thumbnail, zero-mean and unit-norm: eyes, brows, hair
/// line, glasses), and its colour as a chromaticity histogram (skin and hair hue, not brightness).
#[derive(Debug, Clone, PartialEq)]
pub struct Signature {
    layout: [f32; GRID * GRID],
    chroma: [f32; CHROMA_BINS * CHROMA_BINS],
}

impl Signature {
    /// The signature of a detection in its frame; `None` for a box too small to read or outside
    /// the frame.
    pub fn of(frame: &Frame, d: &Detection) -> Option<Signature> {
        // The inner face: trims background and hair at the sides that change with the scene.
        let (cx, cy) = (d.x + d.w / 2.0, d.y + d.h / 2.0);
        let (w, h) = (d.w * 0.8, d.h * 0.9);
        let (x0, y0) = (cx - w / 2.0, cy - h / 2.0);
        if w < 8.0 || h < 8.0 || frame.width == 0 || frame.height == 0 {
            return None;
        }
        let (fw, fh) = (frame.width as i64, frame.height as i64);
        let mut layout = [0f32; GRID * GRID];
        let mut chroma = [0f32; CHROMA_BINS * CHROMA_BINS];
        let mut inside = 0usize;
        // 3×3 samples per cell: 1296 pixels whatever the face size.
        for gy in 0..GRID {
            for gx in 0..GRID {
                let mut sum = 0.0;
                for sy in 0..3 {
                    for sx in 0..3 {
                        let px = x0 + (gx as f32 + (sx as f32 + 0.5) / 3.0) * w / GRID as f32;
                        let py = y0 + (gy as f32 + (sy as f32 + 0.5) / 3.0) * h / GRID as f32;
                        let (px, py) = (px as i64, py as i64);
                        if px < 0 || py < 0 || px >= fw || py >= fh {
                            continue;
                        }
                        inside += 1;
                        let i = ((py * fw + px) * 3) as usize;
                        let (r, g, b) = (
                            frame.rgb[i] as f32,
                            frame.rgb[i + 1] as f32,
                            frame.rgb[i + 2] as f32,
                        );
                        sum += 0.299 * r + 0.587 * g + 0.114 * b;
                        let total = r + g + b;
                        if total > 30.0 {
                            let bin = |v: f32| {
                                ((v / total * 2.0 * CHROMA_BINS as f32) as usize)
                                    .min(CHROMA_BINS - 1)
                            };
                            chroma[bin(r) * CHROMA_BINS + bin(g)] += 1.0;
                        }
                    }
                }
                layout[gy * GRID + gx] = sum / 9.0;
            }
        }
        if inside < GRID * GRID * 9 / 2 {
            return None;
        }
        let mean = layout.iter().sum::<f32>() / layout.len() as f32;
        layout.iter_mut().for_each(|v| *v -= mean);
        let norm = layout.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-3);
        layout.iter_mut().for_each(|v| *v /= norm);
        let total = chroma.iter().sum::<f32>().max(1.0);
        chroma.iter_mut().for_each(|v| *v /= total);
        Some(Signature { layout, chroma })
    }

    /// Similarity 0..1: the mean of the layout's correlation (mapped from -1..1) and the colour
    /// histograms' overlap.
    pub fn similarity(&self, other: &Signature) -> f32 {
        let corr: f32 = self
            .layout
            .iter()
            .zip(&other.layout)
            .map(|(a, b)| a * b)
            .sum();
        let overlap: f32 = self
            .chroma
            .iter()
            .zip(&other.chroma)
            .map(|(a, b)| a.min(*b))
            .sum();
        0.5 * (corr.clamp(-1.0, 1.0) + 1.0) / 2.0 + 0.5 * overlap
    }

    /// Moves this (a track's reference) a step towards `seen`: slow changes (turning, light) are
    /// followed, a sudden different face is not absorbed.
    pub fn follow(&mut self, seen: &Signature, rate: f32) {
        for (a, b) in self.layout.iter_mut().zip(&seen.layout) {
            *a = (1.0 - rate) * *a + rate * b;
        }
        let norm = self
            .layout
            .iter()
            .map(|v| v * v)
            .sum::<f32>()
            .sqrt()
            .max(1e-3);
        self.layout.iter_mut().for_each(|v| *v /= norm);
        for (a, b) in self.chroma.iter_mut().zip(&seen.chroma) {
            *a = (1.0 - rate) * *a + rate * b;
        }
    }
}

/// Identity features of a face (a unit-length embedding), computed only when the cheap signature
/// is in doubt. The daemon plugs in the face embedder; tests and the off switch leave it out.
pub trait Reidentify: Send {
    fn features(&mut self, frame: &Frame, det: &Detection) -> Option<Vec<f32>>;
}

/// Cosine similarity of two unit-length feature vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A whole-frame thumbnail: 16×9 cells of mean R, G, B.
const CUT_W: usize = 16;
const CUT_H: usize = 9;

/// Detects hard cuts between consecutive frames of one camera: the mean absolute difference of
/// the frames' 16×9 colour thumbnails, each cell compared after removing the frame's overall
/// brightness change (a light switching on is not a cut). A cut is a change of at least
/// `threshold` that is also [`CUT_RATIO`] times the camera's recent frame-to-frame change, so a
/// pan or a hand sweeping past (large changes, but every frame) is not one. Measured
/// (docs/calibration.md): the three cuts of the hamilton clip 23.7–29.8 at 6.8–14.9× the recent
/// change; the Foreman pan up to 20.9 but at most 2.5×.
#[derive(Default)]
pub struct CutDetector {
    last: Option<Vec<f32>>,
    recent: std::collections::VecDeque<f32>,
}

/// How many times the recent frame-to-frame change a cut must be.
pub const CUT_RATIO: f32 = 4.0;

impl CutDetector {
    /// Feeds a frame; true when it starts a new scene.
    pub fn is_cut(&mut self, frame: &Frame, threshold: f32) -> bool {
        let thumb = thumbnail(frame);
        let cut = match &self.last {
            Some(prev) if prev.len() == thumb.len() => {
                let d = cut_distance(prev, &thumb);
                let mut sorted: Vec<f32> = self.recent.iter().copied().collect();
                sorted.sort_by(f32::total_cmp);
                let typical = sorted
                    .get(sorted.len() / 2)
                    .copied()
                    .unwrap_or(0.0)
                    .max(2.0);
                if self.recent.len() == 8 {
                    self.recent.pop_front();
                }
                self.recent.push_back(d);
                d >= threshold && d >= CUT_RATIO * typical
            }
            _ => false,
        };
        self.last = Some(thumb);
        cut
    }
}

fn thumbnail(frame: &Frame) -> Vec<f32> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let mut out = vec![0f32; CUT_W * CUT_H * 3];
    if w == 0 || h == 0 {
        return out;
    }
    // 4×4 samples per cell.
    for cy in 0..CUT_H {
        for cx in 0..CUT_W {
            let mut acc = [0f32; 3];
            for sy in 0..4 {
                for sx in 0..4 {
                    let x = ((cx * 4 + sx) * w / (CUT_W * 4)).min(w - 1);
                    let y = ((cy * 4 + sy) * h / (CUT_H * 4)).min(h - 1);
                    let i = (y * w + x) * 3;
                    for (c, a) in acc.iter_mut().enumerate() {
                        *a += frame.rgb[i + c] as f32;
                    }
                }
            }
            for (c, a) in acc.iter().enumerate() {
                out[(cy * CUT_W + cx) * 3 + c] = a / 16.0;
            }
        }
    }
    out
}

/// Mean absolute cell difference (0..255) after matching the two thumbnails' mean brightness.
fn cut_distance(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len() as f32;
    let shift = (b.iter().sum::<f32>() - a.iter().sum::<f32>()) / n;
    a.iter()
        .zip(b)
        .map(|(x, y)| (y - x - shift).abs())
        .sum::<f32>()
        / n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Frame {
        let mut rgb = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                rgb.extend_from_slice(&f(x, y));
            }
        }
        Frame::new(w, h, rgb).unwrap()
    }

    fn det(x: f32, y: f32, s: f32) -> Detection {
        Detection {
            x,
            y,
            w: s,
            h: s,
            score: 0.9,
            landmarks: [[0.0; 2]; 5],
        }
    }

    #[test]
    fn signatures_ignore_brightness_and_tell_patterns_apart() {
        let stripes = |k: u8| {
            move |x: u32, y: u32| {
                let v = if (x / 10 + y / 20).is_multiple_of(2) {
                    60
                } else {
                    180
                };
                [v / k, (v / 2) / k, (v / 3) / k]
            }
        };
        let a = frame(200, 200, stripes(1));
        let darker = frame(200, 200, stripes(2));
        let other = frame(200, 200, |x, _| {
            if x % 50 < 25 {
                [200, 40, 40]
            } else {
                [40, 40, 200]
            }
        });
        let d = det(40.0, 40.0, 120.0);
        let (sa, sd, so) = (
            Signature::of(&a, &d).unwrap(),
            Signature::of(&darker, &d).unwrap(),
            Signature::of(&other, &d).unwrap(),
        );
        assert!(sa.similarity(&sd) > 0.95, "{}", sa.similarity(&sd));
        assert!(sa.similarity(&so) < 0.6, "{}", sa.similarity(&so));
        assert!(
            Signature::of(&a, &det(190.0, 190.0, 100.0)).is_none(),
            "mostly outside"
        );
    }

    #[test]
    fn cuts_are_found_and_brightness_changes_are_not() {
        let scene =
            |k: u32| move |x: u32, y: u32| [((x * k) % 255) as u8, ((y * 3) % 255) as u8, 90];
        let mut c = CutDetector::default();
        assert!(!c.is_cut(&frame(160, 90, scene(2)), 25.0));
        assert!(!c.is_cut(&frame(160, 90, scene(2)), 25.0), "same picture");
        assert!(!c.is_cut(&frame(160, 90, scene(2)), 25.0), "same picture");
        let brighter = frame(160, 90, |x, y| {
            let p = scene(2)(x, y);
            [p[0].saturating_add(20), p[1].saturating_add(20), p[2] + 20]
        });
        assert!(!c.is_cut(&brighter, 25.0), "a light switched on");
        assert!(c.is_cut(
            &frame(160, 90, |x, y| [
                ((y * 7) % 255) as u8,
                200,
                ((x * 5) % 255) as u8
            ]),
            25.0
        ));
    }
}
