//! The crops each model expects, expressed as affine maps from model-input pixels to image pixels,
//! and a writer that lays pixels out in the model's tensor order and normalisation.

use crate::detect::Detection;
use crate::frame::{similarity_transform, Affine, Frame};

/// ArcFace 112×112 template for the 5 YuNet points (MobileFaceNet).
pub const ARCFACE_112: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];
/// dlib 150×150 template for the 5 YuNet points (docs/models.md explains where it comes from).
pub const DLIB_150: [[f32; 2]; 5] = [
    [46.12, 44.49],
    [101.88, 44.66],
    [76.08, 78.78],
    [48.51, 103.35],
    [97.73, 103.65],
];

/// Tensor layout and pixel normalisation of a model input.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub size: usize,
    pub nchw: bool,
    pub bgr: bool,
    /// value = (pixel - mean[c]) * scale, with channels in the model's order.
    pub mean: [f32; 3],
    pub scale: f32,
}

impl Layout {
    /// Samples `frame` through `dst_to_src` into a flat tensor item of `size × size × 3` values.
    pub fn fill(&self, frame: &Frame, dst_to_src: &Affine) -> Vec<f32> {
        match (self.nchw, self.bgr) {
            (false, false) => self.fill_as::<false, false>(frame, dst_to_src),
            (false, true) => self.fill_as::<false, true>(frame, dst_to_src),
            (true, false) => self.fill_as::<true, false>(frame, dst_to_src),
            (true, true) => self.fill_as::<true, true>(frame, dst_to_src),
        }
    }

    /// `fill` for one layout, its branches decided at compile time (a mesh crop is 37 k pixels, and
    /// every track event reads three to five crops). Pixels come in row order, so an interleaved
    /// tensor is written front to back without zeroing it first.
    fn fill_as<const NCHW: bool, const BGR: bool>(&self, frame: &Frame, m: &Affine) -> Vec<f32> {
        let n = self.size;
        let plane = n * n;
        let (mean, scale) = (self.mean, self.scale);
        let value = move |p: [f32; 3]| {
            let px = if BGR { [p[2], p[1], p[0]] } else { p };
            [
                (px[0] - mean[0]) * scale,
                (px[1] - mean[1]) * scale,
                (px[2] - mean[2]) * scale,
            ]
        };
        if NCHW {
            let mut out = vec![0f32; 3 * plane];
            frame.warp(m, n, n, |x, y, p| {
                let o = y * n + x;
                let v = value(p);
                out[o] = v[0];
                out[plane + o] = v[1];
                out[2 * plane + o] = v[2];
            });
            out
        } else {
            let mut out = Vec::with_capacity(3 * plane);
            frame.warp(m, n, n, |_, _, p| out.extend_from_slice(&value(p)));
            debug_assert_eq!(out.len(), 3 * plane);
            out
        }
    }
}

/// Similarity warp from the 5 detector points onto a template of side `size` (alignment).
pub fn align(det: &Detection, template: &[[f32; 2]; 5]) -> Option<Affine> {
    similarity_transform(&det.landmarks, template)?.invert()
}

/// The face box (optionally grown by `margin` px per side, clipped to the image), resized to a square.
pub fn box_crop(frame: &Frame, det: &Detection, margin: f32, size: usize) -> Affine {
    let (x, y) = (det.x - margin, det.y - margin);
    clipped_crop(
        frame,
        [x, y, det.x + det.w + margin, det.y + det.h + margin],
        size,
    )
}

/// A square about the face box's centre, its side the box's longer side grown by `grow` of it per
/// side, clipped to the image, resized to `size` (the mask model's second view of a face).
pub fn square_crop(frame: &Frame, det: &Detection, grow: f32, size: usize) -> Affine {
    let half = det.w.max(det.h) * (0.5 + grow);
    let (cx, cy) = (det.x + det.w / 2.0, det.y + det.h / 2.0);
    clipped_crop(frame, [cx - half, cy - half, cx + half, cy + half], size)
}

/// The region `[x0, y0, x1, y1]` clipped to the image, resized to `size` × `size`.
fn clipped_crop(frame: &Frame, [x0, y0, x1, y1]: [f32; 4], size: usize) -> Affine {
    let (x0, y0) = (x0.max(0.0), y0.max(0.0));
    let x1 = x1.min(frame.width as f32);
    let y1 = y1.min(frame.height as f32);
    Affine::crop_resize(x0, y0, (x1 - x0).max(1.0), (y1 - y0).max(1.0), size, size)
}

/// MiniFASNet crop: the box scaled about its centre (factor capped to fit), shifted inside the image.
pub fn antispoof_crop(frame: &Frame, det: &Detection, scale: f32, size: usize) -> Affine {
    let (sw, sh) = (frame.width as f32, frame.height as f32);
    let (bw, bh) = (det.w.max(1.0), det.h.max(1.0));
    let s = scale.min((sh - 1.0) / bh).min((sw - 1.0) / bw).max(0.1);
    let (nw, nh) = (bw * s, bh * s);
    let (cx, cy) = (det.x + bw / 2.0, det.y + bh / 2.0);
    let (mut l, mut t, mut r, mut b) = (cx - nw / 2.0, cy - nh / 2.0, cx + nw / 2.0, cy + nh / 2.0);
    if l < 0.0 {
        r -= l;
        l = 0.0;
    }
    if t < 0.0 {
        b -= t;
        t = 0.0;
    }
    if r > sw - 1.0 {
        l -= r - sw + 1.0;
        r = sw - 1.0;
    }
    if b > sh - 1.0 {
        t -= b - sh + 1.0;
        b = sh - 1.0;
    }
    let (l, t, r, b) = (l.floor(), t.floor(), r.floor(), b.floor());
    Affine::crop_resize(l, t, r - l + 1.0, b - t + 1.0, size, size)
}

/// MediaPipe mesh crop: a square of 1.5 × the box's longer side about its centre, rotated so the eyes
/// are level. The returned map takes crop pixels to image pixels (also used to map landmarks back).
pub fn mesh_crop(det: &Detection, size: usize) -> Affine {
    let side = 1.5 * det.w.max(det.h);
    let (cx, cy) = (det.x + det.w / 2.0, det.y + det.h / 2.0);
    let [e0, e1] = [det.landmarks[0], det.landmarks[1]];
    let theta = (e1[1] - e0[1]).atan2(e1[0] - e0[0]);
    let k = side / size as f32;
    let (c, s) = (theta.cos(), theta.sin());
    // src = centre + R(θ)·(k·(u + 0.5) − side/2, k·(v + 0.5) − side/2)
    let off = 0.5 * k - side / 2.0;
    Affine([
        k * c,
        -k * s,
        cx + c * off - s * off,
        k * s,
        k * c,
        cy + s * off + c * off,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `fill` as it was written before it was specialised per layout: every value the same, bit for
    /// bit, whatever the layout and however the crop lies (rotated, off the image, shrunk).
    fn fill_reference(l: &Layout, frame: &Frame, dst_to_src: &Affine) -> Vec<f32> {
        let n = l.size;
        let plane = n * n;
        let mut out = vec![0f32; 3 * plane];
        frame.warp(dst_to_src, n, n, |x, y, p| {
            let px = if l.bgr { [p[2], p[1], p[0]] } else { p };
            for (c, &p) in px.iter().enumerate() {
                let v = (p - l.mean[c]) * l.scale;
                let idx = if l.nchw {
                    c * plane + y * n + x
                } else {
                    (y * n + x) * 3 + c
                };
                out[idx] = v;
            }
        });
        out
    }

    #[test]
    fn every_layout_fills_what_the_reference_fills() {
        let (w, h) = (97usize, 61usize);
        let rgb: Vec<u8> = (0..w * h * 3).map(|v| (v * 37 % 251) as u8).collect();
        let f = Frame::new(w as u32, h as u32, rgb).unwrap();
        let det = |x: f32, y: f32, s: f32, tilt: f32| Detection {
            x,
            y,
            w: s,
            h: s * 1.3,
            score: 0.8,
            landmarks: [
                [x + 0.3 * s, y + 0.4 * s],
                [x + 0.7 * s, y + 0.4 * s + tilt],
                [x + 0.5 * s, y + 0.6 * s],
                [x + 0.35 * s, y + 0.8 * s],
                [x + 0.65 * s, y + 0.8 * s],
            ],
        };
        let faces = [
            det(20.3, 10.7, 22.4, 3.0),
            det(-5.0, -8.0, 30.0, -6.0),
            det(80.0, 40.0, 25.0, 0.0),
            det(10.0, 5.0, 70.0, 12.0),
        ];
        for nchw in [false, true] {
            for bgr in [false, true] {
                let l = Layout {
                    size: 37,
                    nchw,
                    bgr,
                    mean: [103.9, 116.8, 123.7],
                    scale: 0.017,
                };
                for d in &faces {
                    for m in [
                        mesh_crop(d, 37),
                        box_crop(&f, d, 10.0, 37),
                        square_crop(&f, d, 0.1, 37),
                    ] {
                        let (got, want) = (l.fill(&f, &m), fill_reference(&l, &f, &m));
                        assert_eq!(got.len(), want.len());
                        assert!(
                            got.iter()
                                .zip(&want)
                                .all(|(a, b)| a.to_bits() == b.to_bits()),
                            "nchw {nchw} bgr {bgr} {m:?}"
                        );
                    }
                }
            }
        }
    }
}
