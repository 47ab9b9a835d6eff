//! Mask, age and gender: two small classifiers over the face (the mask one on two views of it),
//! run in batches.

use super::crops::{box_crop, square_crop, Layout};
use crate::config::AttributesConfig;
use crate::detect::Detection;
use crate::frame::Frame;
use crate::models::{batch_tensor, ModelError, ModelSession, Role, SessionSettings};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Attributes {
    /// Estimated age in years.
    pub age: f32,
    /// "male" or "female".
    pub gender: &'static str,
    /// Probability that the person is male, 0..1.
    pub male_probability: f32,
    /// True when a mask covers the mouth and nose (`mask_state` is masked).
    pub mask: bool,
    /// Probability of a mask, 0..1, as the model read it (also when the state is unknown).
    pub mask_probability: f32,
    /// Masked, bare, or unknown: a face too small for the model to tell ([`MaskRule`]).
    pub mask_state: MaskState,
}

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
    /// P(mask) from which a face is masked.
    pub threshold: f32,
    /// Faces whose shorter side is under this (px) are never masked: over the threshold, unknown.
    pub min_face_px: f32,
    /// Faces under this (px) are masked only from `sure_threshold`; between `threshold` and it,
    /// unknown.
    pub sure_face_px: f32,
    pub sure_threshold: f32,
}

impl MaskRule {
    pub fn from_config(cfg: &AttributesConfig) -> Self {
        Self {
            threshold: cfg.mask_threshold,
            min_face_px: cfg.mask_min_face_px,
            sure_face_px: cfg.mask_sure_face_px,
            sure_threshold: cfg.mask_sure_threshold,
        }
    }

    /// The state of a reading `p` on a face whose shorter side is `face_px`. A reading under the
    /// threshold is bare at any size (bare faces read low at every size measured); one over it is
    /// masked only on a face large enough for that reading to mean it, else unknown.
    pub fn state(&self, p: f32, face_px: f32) -> MaskState {
        if p < self.threshold {
            MaskState::Bare
        } else if face_px >= self.sure_face_px
            || (face_px >= self.min_face_px && p >= self.sure_threshold)
        {
            MaskState::Masked
        } else {
            MaskState::Unknown
        }
    }
}

pub struct AttributeModels {
    mask: ModelSession,
    age_gender: ModelSession,
    rule: MaskRule,
    square_view: bool,
}

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
const AGE_GENDER: Layout = Layout {
    size: 224,
    nchw: false,
    bgr: true,
    mean: [103.939, 116.779, 123.68],
    scale: 1.0,
};

impl AttributeModels {
    pub fn open(settings: &SessionSettings, cfg: &AttributesConfig) -> Result<Self, ModelError> {
        Ok(Self {
            mask: ModelSession::open(settings, Role::Mask)?,
            age_gender: ModelSession::open(settings, Role::AgeGender)?,
            rule: MaskRule::from_config(cfg),
            square_view: cfg.mask_square_view,
        })
    }

    /// What the age/gender model reads of one face (its input tensor, as run): the calibration
    /// of its int8 graph (`facestream model-calibration`) reads these.
    pub fn age_gender_input(frame: &Frame, det: &Detection) -> Vec<f32> {
        AGE_GENDER.fill(frame, &box_crop(frame, det, 10.0, 224))
    }

    /// What the mask model reads of one face (its input tensor), for the same calibration: the
    /// face box, no margin (the first of its two views).
    pub fn mask_input(frame: &Frame, det: &Detection) -> Vec<f32> {
        MASK.fill(frame, &box_crop(frame, det, 0.0, 224))
    }

    /// The mask model's second view: a square about the face, `MASK_GROW` of its side around it.
    fn mask_input_square(frame: &Frame, det: &Detection) -> Vec<f32> {
        MASK.fill(frame, &square_crop(frame, det, MASK_GROW, 224))
    }

    /// P(mask) for each face from the face box alone (the detector's second opinion on doubted
    /// faces reads this, with its own stricter bar).
    pub fn mask_probabilities(
        &mut self,
        faces: &[(&Frame, &Detection)],
    ) -> Result<Vec<f32>, ModelError> {
        Self::mask_run(&mut self.mask, faces, Self::mask_input)
    }

    /// P(mask) of each face as published: the geometric mean of the two views (a mask must show
    /// in both). On the box alone small and blurred bare faces read as masked far more often, on
    /// the square alone some bare faces in dim light or behind a microphone do; both together were
    /// no worse than the box alone on any clip, light or photo set (docs/calibration.md, "Two views
    /// of a face"). A face whose box reads under threshold² cannot reach the threshold whatever
    /// the square reads (√(p·1) < threshold), so it is not read again and its box's value stands.
    /// Without `attributes.mask_square_view`, the box alone.
    fn mask_probabilities_of(
        model: &mut ModelSession,
        faces: &[(&Frame, &Detection)],
        threshold: f32,
        square_view: bool,
    ) -> Result<Vec<f32>, ModelError> {
        let mut p = Self::mask_run(model, faces, Self::mask_input)?;
        let again: Vec<usize> = (0..faces.len())
            .filter(|&i| square_view && p[i] >= threshold * threshold)
            .collect();
        if !again.is_empty() {
            let doubted: Vec<(&Frame, &Detection)> = again.iter().map(|&i| faces[i]).collect();
            let square = Self::mask_run(model, &doubted, Self::mask_input_square)?;
            for (&i, q) in again.iter().zip(square) {
                p[i] = (p[i] * q).sqrt();
            }
        }
        Ok(p)
    }

    fn mask_run(
        model: &mut ModelSession,
        faces: &[(&Frame, &Detection)],
        input: fn(&Frame, &Detection) -> Vec<f32>,
    ) -> Result<Vec<f32>, ModelError> {
        if faces.is_empty() {
            return Ok(vec![]);
        }
        let items = faces.iter().map(|(f, d)| input(f, d)).collect();
        let mask = model
            .run(batch_tensor(&[224, 224, 3], items)?, &["probs"])?
            .remove(0);
        if mask.shape() != [faces.len(), 2] {
            return Err(ModelError::Output {
                model: model.name().into(),
                message: format!("shape {:?}", mask.shape()),
            });
        }
        Ok((0..faces.len()).map(|i| mask[[i, 0]]).collect())
    }

    pub fn classify(
        &mut self,
        faces: &[(&Frame, &Detection)],
    ) -> Result<Vec<Attributes>, ModelError> {
        if faces.is_empty() {
            return Ok(vec![]);
        }
        // The two models side by side, each on its own core: at batch 1 neither fills two
        // intra-op threads (docs/performance.md, session 32).
        let age_gender = &mut self.age_gender;
        let (mask, ag) = std::thread::scope(|scope| {
            let ag = scope.spawn(|| {
                let items = faces
                    .iter()
                    .map(|(f, d)| Self::age_gender_input(f, d))
                    .collect();
                age_gender.run(
                    batch_tensor(&[224, 224, 3], items)?,
                    &["age_probs", "male_prob"],
                )
            });
            let mask = Self::mask_probabilities_of(
                &mut self.mask,
                faces,
                self.rule.threshold,
                self.square_view,
            );
            (mask, crate::models::joined(ag.join(), "age/gender"))
        });
        let (mask, ag) = (mask?, ag?);
        let (ages, male) = (&ag[0], &ag[1]);
        let bad = |m: &str| ModelError::Output {
            model: "attributes".into(),
            message: m.into(),
        };
        if ages.shape() != [faces.len(), 100] || male.len() != faces.len() {
            return Err(bad("unexpected output shapes"));
        }
        let male: Vec<f32> = male.iter().copied().collect();
        Ok((0..faces.len())
            .map(|i| {
                let probs: Vec<f32> = (0..100).map(|k| ages[[i, k]]).collect();
                let p_mask = mask[i];
                let (_, d) = faces[i];
                let mask_state = self.rule.state(p_mask, d.w.min(d.h));
                Attributes {
                    age: decode_age(&probs),
                    gender: if male[i] >= 0.5 { "male" } else { "female" },
                    male_probability: male[i],
                    mask: mask_state == MaskState::Masked,
                    mask_probability: p_mask,
                    mask_state,
                }
            })
            .collect())
    }
}

/// The original's decoding: the two likeliest ages, weighted by their renormalised probabilities.
fn decode_age(probs: &[f32]) -> f32 {
    let mut idx: Vec<usize> = (0..probs.len()).collect();
    idx.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    let (i, j) = (idx[0], idx[1]);
    let sum = (probs[i] + probs[j]).max(1e-12);
    1.0 + (i as f32 * probs[i] + j as f32 * probs[j]) / sum
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
            assert_eq!(rule.state(p, px), want, "P {p} at {px} px");
        }
        // 0 px: every face is read as before (the threshold alone).
        let all = MaskRule {
            min_face_px: 0.0,
            sure_face_px: 0.0,
            ..rule
        };
        assert_eq!(all.state(0.3, 10.0), MaskState::Masked);
        assert_eq!(all.state(0.1, 10.0), MaskState::Bare);
    }

    #[test]
    fn age_is_the_weighted_top_two() {
        let mut p = vec![0.0; 100];
        p[29] = 0.3;
        p[31] = 0.1;
        p[50] = 0.05;
        assert!((super::decode_age(&p) - 30.5).abs() < 1e-4);
    }
}
