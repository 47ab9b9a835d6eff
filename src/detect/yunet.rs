//! YuNet face detector: batched inference, decoding, non-maximum suppression.
//! Coordinates come back in the original image's pixels.

use crate::config::DetectorConfig;
use crate::frame::{Affine, Frame};
use crate::models::{ModelError, ModelSession, Role, SessionSettings};

/// One face found in an image.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Detection {
    /// Box left, top, width, height in image pixels.
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    /// Detector confidence 0..1.
    pub score: f32,
    /// Subject's right eye, left eye, nose tip, right mouth corner, left mouth corner (image pixels).
    pub landmarks: [[f32; 2]; 5],
}

impl Detection {
    pub fn area(&self) -> f32 {
        self.w.max(0.0) * self.h.max(0.0)
    }

    pub fn iou(&self, o: &Detection) -> f32 {
        let ix = (self.x + self.w).min(o.x + o.w) - self.x.max(o.x);
        let iy = (self.y + self.h).min(o.y + o.h) - self.y.max(o.y);
        if ix <= 0.0 || iy <= 0.0 {
            return 0.0;
        }
        let inter = ix * iy;
        inter / (self.area() + o.area() - inter)
    }

    /// How far the nose tip sits from the eyes' midpoint, in eye distances: 0 frontal, about 0.5
    /// in profile.
    pub fn nose_offset(&self) -> f32 {
        let [re, le, nose, _, _] = self.landmarks;
        let iod = ((le[0] - re[0]).powi(2) + (le[1] - re[1]).powi(2))
            .sqrt()
            .max(1.0);
        (nose[0] - (re[0] + le[0]) / 2.0).abs() / iod
    }

    /// 1 for a frontal face, falling to 0 as the nose moves out to an eye (profile).
    pub fn frontalness(&self) -> f32 {
        (1.0 - 2.0 * self.nose_offset()).clamp(0.0, 1.0)
    }
}

const STRIDES: [usize; 3] = [8, 16, 32];

pub struct Detector {
    session: ModelSession,
    cfg: DetectorConfig,
    output_names: Vec<String>,
}

/// What of a frame the detector reads, and at what scale (`zoom.rs` chooses it per frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// Long-side cap of the whole frame's scaling: `detector.max_side`, or less when zoomed.
    pub side: u32,
    /// The part of the frame read (left, top, width, height in frame pixels), at the scale the
    /// whole frame would have; None: all of it.
    pub crop: Option<[u32; 4]>,
}

impl View {
    /// The whole frame, its long side capped at `side`.
    pub fn whole(side: u32) -> Self {
        Self { side, crop: None }
    }

    /// The factor that brings a `(width, height)` frame's long side to at most `side` (never up).
    pub fn scale(&self, (width, height): (u32, u32)) -> f32 {
        (self.side as f32 / width.max(height).max(1) as f32).min(1.0)
    }

    /// Pixels of the detector's input for `f` (what a run costs grows with them).
    pub fn input_pixels(&self, f: &Frame) -> f64 {
        let p = place(f, *self);
        (p.rw * p.rh) as f64
    }
}

struct Placement {
    /// Size of the image (or its crop) after the long-side cap.
    rw: usize,
    rh: usize,
    /// Factors from detector input pixels back to image pixels.
    fx: f32,
    fy: f32,
    /// The crop's left and top in image pixels (0 for the whole image).
    ox: f32,
    oy: f32,
    /// The part read (image pixels).
    cw: f32,
    ch: f32,
}

fn round_up32(v: usize) -> usize {
    v.div_ceil(32) * 32
}

impl Detector {
    /// Time spent inside ONNX Runtime for this model.
    pub fn session_time(&self) -> std::time::Duration {
        self.session.run_time()
    }

    pub fn open(settings: &SessionSettings, cfg: &DetectorConfig) -> Result<Self, ModelError> {
        let session = ModelSession::open(settings, Role::Detector)?;
        let mut output_names = vec![];
        for kind in ["cls", "obj", "bbox", "kps"] {
            for s in STRIDES {
                output_names.push(format!("{kind}_{s}"));
            }
        }
        Ok(Self {
            session,
            cfg: cfg.clone(),
            output_names,
        })
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.cfg
    }

    pub fn detect(&mut self, frame: &Frame) -> Result<Vec<Detection>, ModelError> {
        Ok(self.detect_batch(&[frame])?.pop().unwrap_or_default())
    }

    /// Detects faces in several images, one inference run per input size. Each image is resized to the
    /// long-side cap and padded (bottom and right, zeros) to a multiple of 32. Images of the same padded
    /// size share a run; different sizes are not padded further, because the network's biases make
    /// extra padding change the scores near the border (a batch must equal single runs).
    pub fn detect_batch(&mut self, frames: &[&Frame]) -> Result<Vec<Vec<Detection>>, ModelError> {
        let view = View::whole(self.cfg.max_side);
        let sized: Vec<(&Frame, View)> = frames.iter().map(|&f| (f, view)).collect();
        self.detect_sized(&sized)
    }

    /// As [`Detector::detect_batch`], each image with its own view: a long-side cap and maybe a
    /// crop (`zoom.rs`); boxes and landmarks always come back in the image's own pixels.
    pub fn detect_sized(
        &mut self,
        frames: &[(&Frame, View)],
    ) -> Result<Vec<Vec<Detection>>, ModelError> {
        let mut groups: Vec<((usize, usize), Vec<usize>)> = vec![];
        for (i, &(f, view)) in frames.iter().enumerate() {
            let p = place(f, view);
            let key = (round_up32(p.rh), round_up32(p.rw));
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => v.push(i),
                None => groups.push((key, vec![i])),
            }
        }
        let mut result = vec![vec![]; frames.len()];
        for ((h, w), idx) in groups {
            // Large inputs run in parts: per frame, big batches are slower (`batch_pixels`).
            let per_run = (self.cfg.batch_pixels / (h * w).max(1)).max(1);
            for part in idx.chunks(per_run) {
                let group: Vec<(&Frame, View)> = part.iter().map(|&i| frames[i]).collect();
                for (&i, dets) in part.iter().zip(self.run_same_size(&group)?) {
                    result[i] = dets;
                }
            }
        }
        Ok(result)
    }

    fn run_same_size(
        &mut self,
        sized: &[(&Frame, View)],
    ) -> Result<Vec<Vec<Detection>>, ModelError> {
        if sized.is_empty() {
            return Ok(vec![]);
        }
        let places: Vec<Placement> = sized.iter().map(|&(f, view)| place(f, view)).collect();
        let frames: Vec<&Frame> = sized.iter().map(|&(f, _)| f).collect();
        let h = places.iter().map(|p| round_up32(p.rh)).max().unwrap_or(32);
        let w = places.iter().map(|p| round_up32(p.rw)).max().unwrap_or(32);
        let mut data = Vec::with_capacity(frames.len() * 3 * h * w);
        for (f, pl) in frames.iter().zip(&places) {
            let m = Affine::crop_resize(pl.ox, pl.oy, pl.cw, pl.ch, pl.rw, pl.rh);
            f.push_bgr_planes(&m, (pl.rw, pl.rh), (w, h), &mut data);
        }
        let input = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[frames.len(), 3, h, w]), data)
            .map_err(|e| ModelError::Run {
                model: self.session.name().into(),
                message: e.to_string(),
            })?;
        let names: Vec<&str> = self
            .output_names
            .iter()
            .map(std::string::String::as_str)
            .collect();
        let outs = self.session.run(input, &names)?;
        let mut result = Vec::with_capacity(frames.len());
        for (i, pl) in places.iter().enumerate() {
            let mut dets = vec![];
            for (si, &s) in STRIDES.iter().enumerate() {
                let cols = w / s;
                // Only cells over this image's own padded area, so a batch decodes as single runs do.
                let own_rows = round_up32(pl.rh) / s;
                let own_cols = round_up32(pl.rw) / s;
                let (cls, obj, bbox, kps) =
                    (&outs[si], &outs[3 + si], &outs[6 + si], &outs[9 + si]);
                let check = |a: &ndarray::ArrayD<f32>, last: usize| {
                    a.ndim() == 3 && a.shape()[1] == (h / s) * cols && a.shape()[2] == last
                };
                let bad = || ModelError::Output {
                    model: self.session.name().into(),
                    message: format!("unexpected shapes at stride {s}"),
                };
                if !(check(cls, 1) && check(obj, 1) && check(bbox, 4) && check(kps, 10)) {
                    return Err(bad());
                }
                // Plain slices of this image's rows: dynamic-rank indexing per cell costs more than
                // the decoding itself.
                let cells = (h / s) * cols;
                let (Some(cls), Some(obj), Some(bbox), Some(kps)) = (
                    rows_of(cls, i, cells, 1),
                    rows_of(obj, i, cells, 1),
                    rows_of(bbox, i, cells, 4),
                    rows_of(kps, i, cells, 10),
                ) else {
                    return Err(bad());
                };
                for row in 0..own_rows {
                    for col in 0..own_cols {
                        let idx = row * cols + col;
                        let score = (cls[idx].clamp(0.0, 1.0) * obj[idx].clamp(0.0, 1.0)).sqrt();
                        if score < self.cfg.score_threshold {
                            continue;
                        }
                        let (b, k) = (&bbox[idx * 4..idx * 4 + 4], &kps[idx * 10..idx * 10 + 10]);
                        let sf = s as f32;
                        let cx = (col as f32 + b[0]) * sf;
                        let cy = (row as f32 + b[1]) * sf;
                        let bw = b[2].exp() * sf;
                        let bh = b[3].exp() * sf;
                        let mut landmarks = [[0f32; 2]; 5];
                        for (j, lm) in landmarks.iter_mut().enumerate() {
                            lm[0] = (col as f32 + k[2 * j]) * sf * pl.fx + pl.ox;
                            lm[1] = (row as f32 + k[2 * j + 1]) * sf * pl.fy + pl.oy;
                        }
                        dets.push(Detection {
                            x: (cx - bw / 2.0) * pl.fx + pl.ox,
                            y: (cy - bh / 2.0) * pl.fy + pl.oy,
                            w: bw * pl.fx,
                            h: bh * pl.fy,
                            score,
                            landmarks,
                        });
                    }
                }
            }
            result.push(nms(dets, self.cfg.nms_iou, self.cfg.max_faces));
        }
        Ok(result)
    }
}

/// The image (or the view's crop of it, kept inside the image) at the scale that brings the
/// whole image's long side to at most `view.side` (never up).
fn place(f: &Frame, view: View) -> Placement {
    let scale = view.scale((f.width, f.height));
    let [x, y, w, h] = match view.crop {
        Some([x, y, w, h]) => {
            let x = x.min(f.width.saturating_sub(1));
            let y = y.min(f.height.saturating_sub(1));
            [x, y, w.min(f.width - x).max(1), h.min(f.height - y).max(1)]
        }
        None => [0, 0, f.width, f.height],
    };
    let (cw, ch) = (w as f32, h as f32);
    let rw = ((cw * scale).round() as usize).max(1);
    let rh = ((ch * scale).round() as usize).max(1);
    Placement {
        rw,
        rh,
        fx: cw / rw as f32,
        fy: ch / rh as f32,
        ox: x as f32,
        oy: y as f32,
        cw,
        ch,
    }
}

/// Image `i`'s rows of a `[N, cells, last]` output as one slice (None when not contiguous).
fn rows_of(a: &ndarray::ArrayD<f32>, i: usize, cells: usize, last: usize) -> Option<&[f32]> {
    a.as_slice()?.get(i * cells * last..(i + 1) * cells * last)
}

/// Greedy non-maximum suppression, best score first.
pub fn nms(mut dets: Vec<Detection>, iou: f32, max: usize) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut keep: Vec<Detection> = vec![];
    for d in dets {
        if keep.len() >= max {
            break;
        }
        if keep.iter().all(|k| k.iou(&d) <= iou) {
            keep.push(d);
        }
    }
    keep
}
