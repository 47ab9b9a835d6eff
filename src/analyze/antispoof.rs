//! Passive anti-spoofing: two MiniFASNet models on two crop scales, fused as in the original
//! (sum of both softmax outputs; the score of "real" is its half).

use super::crops::{antispoof_crop, Layout};
use crate::detect::Detection;
use crate::frame::Frame;
use crate::models::{batch_tensor, ModelError, ModelSession, Role, SessionSettings};

const LAYOUT: Layout = Layout {
    size: 80,
    nchw: true,
    bgr: true,
    mean: [0.0; 3],
    scale: 1.0,
};

/// Real-face probability at or above which one photo is called live. One photo gives less evidence
/// than a clip (whose threshold is 0.3): on the shared media, live photos with context around the
/// face scored ≥ 0.5 in 36 of 38, the three printed / screen spoofs 0.00–0.32 (docs/api.md).
pub const PHOTO_LIVE_THRESHOLD: f32 = 0.5;

pub struct AntiSpoof {
    v2: ModelSession,
    v1se: ModelSession,
}

impl AntiSpoof {
    pub fn open(settings: &SessionSettings) -> Result<Self, ModelError> {
        Ok(Self {
            v2: ModelSession::open(settings, Role::AntispoofV2)?,
            v1se: ModelSession::open(settings, Role::AntispoofV1se)?,
        })
    }

    /// Probability 0..1 that each face is a live person (not a print or a screen).
    pub fn real_scores(&mut self, faces: &[(&Frame, &Detection)]) -> Result<Vec<f32>, ModelError> {
        if faces.is_empty() {
            return Ok(vec![]);
        }
        let mut sums = vec![0f32; faces.len()];
        for (session, scale) in [(&mut self.v2, 2.7f32), (&mut self.v1se, 4.0)] {
            let items = faces
                .iter()
                .map(|(f, d)| LAYOUT.fill(f, &antispoof_crop(f, d, scale, 80)))
                .collect();
            let probs = session
                .run(batch_tensor(&[3, 80, 80], items)?, &["probs"])?
                .remove(0);
            if probs.shape() != [faces.len(), 3] {
                return Err(ModelError::Output {
                    model: session.name().into(),
                    message: format!("shape {:?}", probs.shape()),
                });
            }
            for (i, s) in sums.iter_mut().enumerate() {
                *s += probs[[i, 1]];
            }
        }
        Ok(sums.into_iter().map(|s| s / 2.0).collect())
    }
}
