//! Face quality with the seeds' fields, and the configurable gate.

use super::crops::box_crop;
use super::mesh::Pose;
use crate::config::QualityGate;
use crate::detect::Detection;
use crate::frame::Frame;

#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Quality {
    /// 0 sharp .. 1 blurred (variance of the Laplacian on the face, normalised).
    pub blur: f32,
    /// Mean luma of the face, 0..255.
    pub illumination: f32,
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
    /// Share of the face box inside the image, 0..1.
    pub completeness: f32,
    /// Shorter side of the face box in pixels.
    pub face_size: f32,
    /// True when every gate check passes.
    pub passed: bool,
    /// The checks that failed, by name (pose, blur, illumination, face_size, completeness).
    pub reasons: Vec<&'static str>,
}

/// Laplacian variance at which blur is 0.5. Sharp faces measure several hundred on the 112 px crop.
const BLUR_HALF_VARIANCE: f32 = 60.0;
const BLUR_CROP: usize = 112;

/// Variance of the 4-neighbour Laplacian of the face box's luma, resampled to 112×112.
pub fn laplacian_variance(frame: &Frame, det: &Detection) -> f32 {
    let n = BLUR_CROP;
    let mut g = vec![0f32; n * n];
    frame.warp(&box_crop(frame, det, 0.0, n), n, n, |x, y, p| {
        g[y * n + x] = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
    });
    let (mut sum, mut sq, mut cnt) = (0f64, 0f64, 0f64);
    for y in 1..n - 1 {
        for x in 1..n - 1 {
            let i = y * n + x;
            let l = (g[i - 1] + g[i + 1] + g[i - n] + g[i + n] - 4.0 * g[i]) as f64;
            sum += l;
            sq += l * l;
            cnt += 1.0;
        }
    }
    let mean = sum / cnt;
    (sq / cnt - mean * mean) as f32
}

pub fn blur_score(variance: f32) -> f32 {
    BLUR_HALF_VARIANCE / (BLUR_HALF_VARIANCE + variance.max(0.0))
}

pub fn measure(frame: &Frame, det: &Detection, pose: Option<Pose>, gate: &QualityGate) -> Quality {
    let blur = blur_score(laplacian_variance(frame, det));
    let illumination = frame.mean_luma(det.x, det.y, det.w, det.h).unwrap_or(0.0);
    let ix = (det.x + det.w).min(frame.width as f32) - det.x.max(0.0);
    let iy = (det.y + det.h).min(frame.height as f32) - det.y.max(0.0);
    let completeness = if det.area() > 0.0 {
        (ix.max(0.0) * iy.max(0.0) / det.area()).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let face_size = det.w.min(det.h);
    let mut reasons = vec![];
    let (yaw, pitch, roll) = match pose {
        Some(p) => (p.yaw, p.pitch, p.roll),
        None => {
            reasons.push("pose");
            (f32::NAN, f32::NAN, f32::NAN)
        }
    };
    if pose.is_some()
        && [yaw, pitch, roll]
            .iter()
            .any(|a| a.abs() >= gate.max_pose_deg)
    {
        reasons.push("pose");
    }
    if blur >= gate.max_blur {
        reasons.push("blur");
    }
    if illumination <= gate.min_illumination {
        reasons.push("illumination");
    }
    if face_size < gate.min_face_px {
        reasons.push("face_size");
    }
    if completeness < gate.min_completeness {
        reasons.push("completeness");
    }
    Quality {
        blur,
        illumination,
        yaw,
        pitch,
        roll,
        completeness,
        face_size,
        passed: reasons.is_empty(),
        reasons,
    }
}
