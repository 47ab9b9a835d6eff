//! MediaPipe 468-point face mesh, and the head pose (yaw, pitch, roll in degrees) fitted to it in 3-D.

use super::crops::{mesh_crop, Layout};
use crate::detect::Detection;
use crate::frame::Frame;
use crate::models::{batch_tensor, ModelError, ModelSession, Role, SessionSettings};

const LAYOUT: Layout = Layout {
    size: 192,
    nchw: false,
    bgr: false,
    mean: [0.0; 3],
    scale: 1.0 / 255.0,
};

/// 468 points in image pixels; z is depth on the same scale (more negative = nearer the camera).
#[derive(Debug, Clone)]
pub struct Mesh {
    pub points: Vec<[f32; 3]>,
    /// Probability that the crop holds a face, 0..1.
    pub presence: f32,
}

/// Head pose in degrees. yaw < 0: face turned to image-left; pitch > 0: face up;
/// roll > 0: head tilted so the eye on the image's right is higher.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Pose {
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
}

pub struct MeshModel {
    session: ModelSession,
}

impl MeshModel {
    pub fn open(settings: &SessionSettings) -> Result<Self, ModelError> {
        Ok(Self {
            session: ModelSession::open(settings, Role::Landmarks)?,
        })
    }

    pub fn landmarks(&mut self, faces: &[(&Frame, &Detection)]) -> Result<Vec<Mesh>, ModelError> {
        if faces.is_empty() {
            return Ok(vec![]);
        }
        let maps: Vec<_> = faces.iter().map(|(_, d)| mesh_crop(d, 192)).collect();
        let items = faces
            .iter()
            .zip(&maps)
            .map(|((f, _), m)| LAYOUT.fill(f, m))
            .collect();
        let out = self.session.run(
            batch_tensor(&[192, 192, 3], items)?,
            &["landmarks", "face_flag"],
        )?;
        let (lm, flag) = (&out[0], &out[1]);
        if lm.len() != faces.len() * 1404 || flag.len() != faces.len() {
            return Err(ModelError::Output {
                model: self.session.name().into(),
                message: format!("shape {:?}", lm.shape()),
            });
        }
        let lm: Vec<f32> = lm.iter().copied().collect();
        let flag: Vec<f32> = flag.iter().copied().collect();
        Ok(maps
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let k = m.scale();
                let points = (0..468)
                    .map(|j| {
                        let b = i * 1404 + j * 3;
                        let (x, y) = m.apply(lm[b] - 0.5, lm[b + 1] - 0.5);
                        [x, y, lm[b + 2] * k]
                    })
                    .collect();
                Mesh {
                    points,
                    presence: 1.0 / (1.0 + (-flag[i]).exp()),
                }
            })
            .collect())
    }
}

/// Mirror pairs of the mesh (subject's right side first): face oval, eye corners, mouth corners.
const PAIRS: [(usize, usize); 20] = [
    (109, 338),
    (67, 297),
    (103, 332),
    (54, 284),
    (21, 251),
    (162, 389),
    (127, 356),
    (234, 454),
    (93, 323),
    (132, 361),
    (58, 288),
    (172, 397),
    (136, 365),
    (150, 379),
    (149, 378),
    (176, 400),
    (148, 377),
    (33, 263),
    (133, 362),
    (61, 291),
];
const FOREHEAD: usize = 10;
const CHIN: usize = 152;
/// The chin-to-forehead line leans back from the face's front direction on a frontal face; this
/// offset (degrees) zeroes the pitch of frontal gallery faces (docs/calibration.md).
pub const PITCH_OFFSET_DEG: f32 = 0.0;

type V3 = [f32; 3];
fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn dot(a: V3, b: V3) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
fn unit(a: V3) -> Option<V3> {
    let n = dot(a, a).sqrt();
    (n > 1e-6).then(|| [a[0] / n, a[1] / n, a[2] / n])
}

impl Mesh {
    /// Camera coordinates: x right, y up, z towards the camera.
    fn cam(&self, i: usize) -> V3 {
        let p = self.points[i];
        [p[0], -p[1], -p[2]]
    }

    /// Rigid 3-D fit of the face frame: the left-right axis is the mean over mirror pairs, the up axis
    /// runs chin to forehead (made orthogonal), and the face's front is their cross product.
    pub fn pose(&self) -> Option<Pose> {
        if self.points.len() != 468 {
            return None;
        }
        let mut x = [0f32; 3];
        for (r, l) in PAIRS {
            let d = sub(self.cam(l), self.cam(r));
            x = [x[0] + d[0], x[1] + d[1], x[2] + d[2]];
        }
        let x = unit(x)?;
        let up = sub(self.cam(FOREHEAD), self.cam(CHIN));
        let k = dot(up, x);
        let y = unit([up[0] - k * x[0], up[1] - k * x[1], up[2] - k * x[2]])?;
        let z = cross(x, y);
        let deg = 180.0 / std::f32::consts::PI;
        let yaw = z[0].atan2(z[2]) * deg;
        let pitch = z[1].clamp(-1.0, 1.0).asin() * deg - PITCH_OFFSET_DEG;
        let roll = x[1].atan2(x[0]) * deg;
        Some(Pose { yaw, pitch, roll })
    }

    fn dist(&self, a: usize, b: usize) -> f32 {
        let (p, q) = (self.points[a], self.points[b]);
        ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt()
    }

    /// Inner-lip gap over mouth width: about 0 closed, 0.3+ clearly open.
    pub fn mouth_open(&self) -> f32 {
        self.dist(13, 14) / self.dist(61, 291).max(1e-3)
    }

    /// Eyelid gap over eye width, both eyes averaged: about 0.3 open, under 0.1 closed.
    pub fn eye_open(&self) -> f32 {
        let r = self.dist(159, 145) / self.dist(33, 133).max(1e-3);
        let l = self.dist(386, 374) / self.dist(362, 263).max(1e-3);
        (r + l) / 2.0
    }
}
