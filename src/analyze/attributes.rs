//! Mask, age and gender: two small classifiers over the face (the mask one on two views of it,
//! `mask.rs`), run side by side.

use super::crops::{box_crop, Layout};
use super::mask::{MaskModels, MaskRule, MaskState};
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

pub struct AttributeModels {
    mask: MaskModels,
    age_gender: ModelSession,
    rule: MaskRule,
    square_view: bool,
}

const AGE_GENDER: Layout = Layout {
    size: 224,
    nchw: false,
    bgr: true,
    mean: [103.939, 116.779, 123.68],
    scale: 1.0,
};

impl AttributeModels {
    pub fn open(settings: &SessionSettings, cfg: &AttributesConfig) -> Result<Self, ModelError> {
        let (mask, age_gender) = std::thread::scope(|scope| {
            let age_gender = scope.spawn(|| ModelSession::open(settings, Role::AgeGender));
            let mask = MaskModels::open(settings, cfg.mask_small_face_px);
            (
                mask,
                crate::models::opened_beside(age_gender.join(), settings, "age/gender"),
            )
        });
        Ok(Self {
            mask: mask?,
            age_gender: age_gender?,
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
    /// face box, no margin (the first of its two views), at the model's own 224 px.
    pub fn mask_input(frame: &Frame, det: &Detection) -> Vec<f32> {
        MaskModels::input_224(frame, det)
    }

    /// P(mask) for each face from the face box alone at 224 px (the detector's second opinion on
    /// doubted faces reads this, with its own stricter bar calibrated there).
    pub fn mask_probabilities(
        &mut self,
        faces: &[(&Frame, &Detection)],
    ) -> Result<Vec<f32>, ModelError> {
        self.mask.box_alone(faces)
    }

    /// Age, gender and mask of faces (of any frames), each model in one run over all of them.
    pub fn classify(
        &mut self,
        faces: &[(&Frame, &Detection)],
    ) -> Result<Vec<Attributes>, ModelError> {
        self.classify_runs(faces, faces.len())
    }

    /// Age, gender and mask of faces, each model in runs of `run` faces. The two models side by
    /// side, each on its own core (at batch 1 neither fills two intra-op threads: session 32),
    /// and each goes through all its runs without waiting for the other between faces: waiting
    /// face by face left a core idle whenever the two runs of a face took unequal times (an
    /// age/gender run 4.5 ms a face, a mask read 1.7–7 ms), most of all at the end of a clip when
    /// nothing else runs (docs/performance.md, session 39).
    pub fn classify_runs(
        &mut self,
        faces: &[(&Frame, &Detection)],
        run: usize,
    ) -> Result<Vec<Attributes>, ModelError> {
        if faces.is_empty() {
            return Ok(vec![]);
        }
        let run = run.max(1);
        let (age_gender, mask_models) = (&mut self.age_gender, &mut self.mask);
        let (rule, square_view) = (&self.rule, self.square_view);
        let (mask, ag) = std::thread::scope(|scope| {
            let ag = scope.spawn(|| {
                faces
                    .chunks(run)
                    .map(|part| {
                        let items = part
                            .iter()
                            .map(|(f, d)| Self::age_gender_input(f, d))
                            .collect();
                        let out = age_gender.run(
                            batch_tensor(&[224, 224, 3], items)?,
                            &["age_probs", "male_prob"],
                        )?;
                        age_gender_of(&out, part.len())
                    })
                    .collect::<Result<Vec<_>, _>>()
            });
            let mask = faces
                .chunks(run)
                .map(|part| mask_models.published(part, rule, square_view))
                .collect::<Result<Vec<_>, _>>();
            (mask, crate::models::joined(ag.join(), "age/gender"))
        });
        let (mask, ag): (Vec<_>, Vec<_>) = (
            mask?.into_iter().flatten().collect(),
            ag?.into_iter().flatten().collect(),
        );
        if mask.len() != faces.len() || ag.len() != faces.len() {
            return Err(ModelError::Output {
                model: "attributes".into(),
                message: format!(
                    "{} faces read as {} ages and {} masks",
                    faces.len(),
                    ag.len(),
                    mask.len()
                ),
            });
        }
        Ok(faces
            .iter()
            .zip(ag)
            .zip(mask)
            .map(|(((_, d), (age, male)), (p_mask, side))| {
                let mask_state = rule.state(p_mask, d.w.min(d.h), side);
                Attributes {
                    age,
                    gender: if male >= 0.5 { "male" } else { "female" },
                    male_probability: male,
                    mask: mask_state == MaskState::Masked,
                    mask_probability: p_mask,
                    mask_state,
                }
            })
            .collect())
    }
}

/// Age and P(male) of each of `n` faces from one run of the age/gender model.
fn age_gender_of(out: &[ndarray::ArrayD<f32>], n: usize) -> Result<Vec<(f32, f32)>, ModelError> {
    let bad = |m: &str| ModelError::Output {
        model: "attributes".into(),
        message: m.into(),
    };
    let [ages, male] = out else {
        return Err(bad("expected two outputs"));
    };
    if ages.shape() != [n, 100] || male.len() != n {
        return Err(bad("unexpected output shapes"));
    }
    Ok(male
        .iter()
        .enumerate()
        .map(|(i, &m)| {
            let probs: Vec<f32> = (0..100).map(|k| ages[[i, k]]).collect();
            (decode_age(&probs), m)
        })
        .collect())
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
    #[test]
    fn age_is_the_weighted_top_two() {
        let mut p = vec![0.0; 100];
        p[29] = 0.3;
        p[31] = 0.1;
        p[50] = 0.05;
        assert!((super::decode_age(&p) - 30.5).abs() < 1e-4);
    }
}
