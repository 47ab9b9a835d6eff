//! The mask model: when a reading is published as masked, bare or unknown ([`MaskRule`]), and how a
//! face is read — two views of it (the box, and a square about it), small faces at 112 px.

use super::crops::{box_crop, square_crop, Layout};
use crate::config::AttributesConfig;
use crate::detect::Detection;
use crate::frame::Frame;
use crate::models::{batch_tensor, ModelError, ModelSession, Role, SessionSettings};

/// What a mask reading says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MaskState {
    Masked,
    Bare,
    /// The model leans to a mask, but on a face this small such readings came from bare faces
    /// about as often as from masked ones (docs/calibration.md, "Mask unknown").
    Unknown,
}

/// When a mask reading is published as masked, bare or unknown (`attributes.mask_*`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaskRule {
    /// P(mask) from which a face read at 224 px is masked.
    pub threshold: f32,
    /// Faces whose shorter side is under this (px) are never masked: over the threshold, unknown.
    pub min_face_px: f32,
    /// Faces under this (px) are masked only from `sure_threshold`; between `threshold` and it,
    /// unknown.
    pub sure_face_px: f32,
    pub sure_threshold: f32,
    /// The same two thresholds for faces read at [`MASK_SMALL_INPUT`]: the model reads a face
    /// lower there (docs/calibration.md, "Small faces at 112 px").
    pub small_threshold: f32,
    pub small_sure_threshold: f32,
}

impl MaskRule {
    pub fn from_config(cfg: &AttributesConfig) -> Self {
        Self {
            threshold: cfg.mask_threshold,
            min_face_px: cfg.mask_min_face_px,
            sure_face_px: cfg.mask_sure_face_px,
            sure_threshold: cfg.mask_sure_threshold,
            small_threshold: cfg.mask_small_threshold,
            small_sure_threshold: cfg.mask_small_sure_threshold,
        }
    }

    /// The threshold of a reading at input `side`.
    fn threshold_at(&self, side: usize) -> f32 {
        if side == MASK_SMALL_INPUT {
            self.small_threshold
        } else {
            self.threshold
        }
    }

    /// The state of a reading `p` at input `side` on a face whose shorter side is `face_px`. A
    /// reading under the threshold is bare at any size (bare faces read low at every size
    /// measured); one over it is masked only on a face large enough for that reading to mean
    /// it, else unknown.
    pub fn state(&self, p: f32, face_px: f32, side: usize) -> MaskState {
        let sure = if side == MASK_SMALL_INPUT {
            self.small_sure_threshold
        } else {
            self.sure_threshold
        };
        if p < self.threshold_at(side) {
            MaskState::Bare
        } else if face_px >= self.sure_face_px || (face_px >= self.min_face_px && p >= sure) {
            MaskState::Masked
        } else {
            MaskState::Unknown
        }
    }
}

/// The mask model's input for small faces (px): a face that small is blown up to 224 for
/// nothing, and a run at 112 costs a quarter (docs/performance.md, session 36).
pub const MASK_SMALL_INPUT: usize = 112;

const MASK: Layout = Layout {
    size: 224,
    nchw: false,
    bgr: false,
    mean: [127.5; 3],
    scale: 1.0 / 127.5,
};
/// How much of the face's side the mask model's second view adds around it per side (measured at
/// 0, 5, 10, 15 and 20 %: docs/calibration.md, "Two views of a face").
pub const MASK_GROW: f32 = 0.1;
/// What the mask model reads of a face.
#[derive(Debug, Clone, Copy)]
enum MaskView {
    /// The face box, no margin.
    Box,
    /// A square about the face, `MASK_GROW` of its longer side around it.
    Square,
}

impl MaskView {
    fn input(self, frame: &Frame, det: &Detection, side: usize) -> Vec<f32> {
        let layout = Layout { size: side, ..MASK };
        match self {
            MaskView::Box => layout.fill(frame, &box_crop(frame, det, 0.0, side)),
            MaskView::Square => layout.fill(frame, &square_crop(frame, det, MASK_GROW, side)),
        }
    }
}

/// The mask model's sessions: the configured graph (int8 by default) for faces read at 224 px, and
/// the float graph for small faces at 112 px — the int8 one, calibrated at 224, called masked faces
/// of 32 px bare more often there (docs/calibration.md, "Small faces at 112 px").
pub struct MaskModels {
    large: ModelSession,
    /// None: the large session reads small faces too (it is the float graph).
    small: Option<ModelSession>,
    /// Faces under this many px are read at [`MASK_SMALL_INPUT`] (0: none; also when no graph
    /// takes that size).
    small_below: f32,
}

/// Whether a session's graph takes any height and width (NHWC).
fn any_size(s: &ModelSession) -> bool {
    matches!(s.input_dims().as_slice(), [_, h, w, 3] if *h < 0 && *w < 0)
}

impl MaskModels {
    pub fn open(settings: &SessionSettings, small_face_px: f32) -> Result<Self, ModelError> {
        let (large_path, large_name) = ModelSession::graph(settings, Role::Mask)?;
        // The float graph for small faces, unless the large session already is it (no int8
        // graph beside the model): checked before opening, a session costs its weights again.
        let float_settings = SessionSettings {
            int8_mask: false,
            ..settings.clone()
        };
        let float = if small_face_px > 0.0 && settings.int8_mask {
            Some(ModelSession::graph(&float_settings, Role::Mask)?)
                .filter(|(_, name)| *name != large_name)
        } else {
            None
        };
        // The two sessions side by side (`models::opened_beside`).
        let (large, float) = std::thread::scope(|scope| {
            let float = float.map(|(path, name)| {
                scope.spawn(|| ModelSession::open_graph(&float_settings, path, name))
            });
            let large = ModelSession::open_graph(settings, large_path, large_name);
            let float = float
                .map(|h| crate::models::opened_beside(h.join(), settings, "small-face mask"))
                .transpose();
            (large, float)
        });
        let (large, float) = (large?, float?);
        if small_face_px <= 0.0 {
            return Ok(Self {
                large,
                small: None,
                small_below: 0.0,
            });
        }
        if !any_size(float.as_ref().unwrap_or(&large)) {
            // The model as shipped, before scripts/setup.sh rewrote it.
            tracing::info!(
                "the mask graph takes 224 px only: small faces are read at 224 (scripts/setup.sh writes one that takes any size)"
            );
            return Ok(Self {
                large,
                small: None,
                small_below: 0.0,
            });
        }
        Ok(Self {
            large,
            small: float,
            small_below: small_face_px,
        })
    }

    /// The input side a face is read at.
    pub fn side(&self, det: &Detection) -> usize {
        if det.w.min(det.h) < self.small_below {
            MASK_SMALL_INPUT
        } else {
            MASK.size
        }
    }

    /// The face box at 224 px, as the int8 graph's calibration reads it.
    pub fn input_224(frame: &Frame, det: &Detection) -> Vec<f32> {
        MaskView::Box.input(frame, det, MASK.size)
    }

    /// P(mask) from the face box alone, every face at 224 px.
    pub fn box_alone(&mut self, faces: &[(&Frame, &Detection)]) -> Result<Vec<f32>, ModelError> {
        let at = vec![MASK.size; faces.len()];
        self.run(faces, &at, MaskView::Box)
    }

    /// P(mask) of each face as published, and the side it was read at: the geometric mean of the
    /// two views (a mask must show in both). On the box alone small and blurred bare faces read
    /// as masked far more often, on the square alone some bare faces in dim light or behind a
    /// microphone do; both together were no worse than the box alone on any clip, light or photo
    /// set (docs/calibration.md, "Two views of a face"). A face whose box reads under threshold²
    /// cannot reach the threshold whatever the square reads (√(p·1) < threshold), so it is not
    /// read again and its box's value stands. Without `square_view`, the box alone.
    pub fn published(
        &mut self,
        faces: &[(&Frame, &Detection)],
        rule: &MaskRule,
        square_view: bool,
    ) -> Result<Vec<(f32, usize)>, ModelError> {
        let sides: Vec<usize> = faces.iter().map(|(_, d)| self.side(d)).collect();
        let mut p = self.run(faces, &sides, MaskView::Box)?;
        let again: Vec<usize> = (0..faces.len())
            .filter(|&i| {
                let t = rule.threshold_at(sides[i]);
                square_view && p[i] >= t * t
            })
            .collect();
        if !again.is_empty() {
            let doubted: Vec<(&Frame, &Detection)> = again.iter().map(|&i| faces[i]).collect();
            let at: Vec<usize> = again.iter().map(|&i| sides[i]).collect();
            let square = self.run(&doubted, &at, MaskView::Square)?;
            for (&i, q) in again.iter().zip(square) {
                p[i] = (p[i] * q).sqrt();
            }
        }
        Ok(p.into_iter().zip(sides).collect())
    }

    /// One view of each face, each at its side (`sides[i]`), one run per side.
    fn run(
        &mut self,
        faces: &[(&Frame, &Detection)],
        sides: &[usize],
        view: MaskView,
    ) -> Result<Vec<f32>, ModelError> {
        let mut p = vec![0.0; faces.len()];
        for side in [MASK.size, MASK_SMALL_INPUT] {
            let these: Vec<usize> = (0..faces.len()).filter(|&i| sides[i] == side).collect();
            if these.is_empty() {
                continue;
            }
            let model = match &mut self.small {
                Some(small) if side == MASK_SMALL_INPUT => small,
                _ => &mut self.large,
            };
            let items = these
                .iter()
                .map(|&i| view.input(faces[i].0, faces[i].1, side))
                .collect();
            let mask = model
                .run(batch_tensor(&[side, side, 3], items)?, &["probs"])?
                .remove(0);
            if mask.shape() != [these.len(), 2] {
                return Err(ModelError::Output {
                    model: model.name().into(),
                    message: format!("shape {:?}", mask.shape()),
                });
            }
            for (k, &i) in these.iter().enumerate() {
                p[i] = mask[[k, 0]];
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mask_is_unknown_on_faces_too_small_and_weak_readings_of_small_faces() {
        let rule = MaskRule::from_config(&AttributesConfig::default());
        let cases = [
            // (P, face px, state)
            (0.9, 20.0, MaskState::Unknown),
            (0.21, 25.9, MaskState::Unknown),
            (0.05, 14.0, MaskState::Bare),
            (0.5, 26.0, MaskState::Masked),
            (0.3, 40.0, MaskState::Unknown),
            (0.5, 40.0, MaskState::Masked),
            (0.19, 40.0, MaskState::Bare),
            (0.3, 64.0, MaskState::Masked),
            (0.1, 300.0, MaskState::Bare),
        ];
        for (p, px, want) in cases {
            assert_eq!(rule.state(p, px, 224), want, "P {p} at {px} px");
        }
        // Read at 112 px: its own thresholds.
        for (p, px, want) in [
            (0.04, 40.0, MaskState::Bare),
            (0.15, 40.0, MaskState::Unknown),
            (0.4, 40.0, MaskState::Masked),
            (0.9, 20.0, MaskState::Unknown),
        ] {
            assert_eq!(
                rule.state(p, px, MASK_SMALL_INPUT),
                want,
                "P {p} at {px} px, 112"
            );
        }
        // 0 px: every face is read as before (the threshold alone).
        let all = MaskRule {
            min_face_px: 0.0,
            sure_face_px: 0.0,
            ..rule
        };
        assert_eq!(all.state(0.3, 10.0, 224), MaskState::Masked);
        assert_eq!(all.state(0.1, 10.0, 224), MaskState::Bare);
    }
}
