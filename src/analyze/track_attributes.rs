//! Age, gender and mask of a track as a running estimate over its analysed frames, so a track's
//! published values do not flicker between updates: each frame adds its probabilities weighted by
//! how well the face can be read (size, and half weight when the quality gate fails), and a
//! published label changes only when the running estimate crosses the decision point by a
//! hysteresis margin.

use super::attributes::Attributes;
use super::mask::MaskState;

/// How far past the decision point the running estimate must go to flip a published label.
pub const HYSTERESIS: f32 = 0.15;
/// Readings during which the labels follow the running mean with a small margin (the first frames
/// of a track are its smallest and least reliable); after them, only the hysteresis flips a label.
pub const SETTLING: u32 = 3;
/// The margin while settling: a mean that wanders around the decision point (a 14-px face's mask
/// reading at 0.24, 0.18, 0.20 against 0.2) must not flip the label at each reading.
pub const SETTLING_MARGIN: f32 = 0.05;

/// One track's running estimate.
#[derive(Debug, Default, Clone)]
pub struct RunningAttributes {
    readings: u32,
    weight: f32,
    male: f32,
    /// P(mask) over every reading, and over those whose mask state was known (with their weight):
    /// only those decide the label; a track seen only too small to tell stays unknown.
    mask_any: f32,
    mask: f32,
    mask_weight: f32,
    mask_readings: u32,
    age: f32,
    gender: Option<&'static str>,
    masked: Option<bool>,
    /// What was published after the last reading.
    last: Option<Published>,
}

/// The published values of a track.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub gender: &'static str,
    /// Running mean probability that the person is male.
    pub male_probability: f32,
    /// 0..1: how far the running mean is from undecided (0.5).
    pub gender_confidence: f32,
    pub mask: bool,
    /// The running mean over the readings that could tell (over all of them while none could).
    pub mask_probability: f32,
    pub mask_confidence: f32,
    pub mask_state: MaskState,
    pub age: f32,
}

impl RunningAttributes {
    /// Adds one frame's reading; `weight` > 0 (bigger and gate-passing faces count more).
    pub fn add(&mut self, a: &Attributes, weight: f32, mask_threshold: f32) -> Published {
        let w = weight.max(1e-3);
        self.readings += 1;
        self.weight += w;
        self.male += w * a.male_probability;
        self.mask_any += w * a.mask_probability;
        if a.mask_state != MaskState::Unknown {
            self.mask += w * a.mask_probability;
            self.mask_weight += w;
            self.mask_readings += 1;
        }
        self.age += w * a.age;
        let male = self.male / self.weight;
        let known = self.mask_weight > 0.0;
        let mask = if known {
            self.mask / self.mask_weight
        } else {
            self.mask_any / self.weight
        };
        // Labels: set by the first reading, flipped only past the margin.
        let settling = self.readings <= SETTLING;
        let gender = match self.gender {
            Some("male") if settling && male < 0.5 - SETTLING_MARGIN => "female",
            Some("female") if settling && male > 0.5 + SETTLING_MARGIN => "male",
            Some(g) if settling => g,
            _ if settling => {
                if male >= 0.5 {
                    "male"
                } else {
                    "female"
                }
            }
            Some("male") if male < 0.5 - HYSTERESIS => "female",
            Some("female") if male > 0.5 + HYSTERESIS => "male",
            Some(g) => g,
            None => a.gender,
        };
        self.gender = Some(gender);
        let settle = SETTLING_MARGIN.min(mask_threshold / 2.0);
        // The mask settles over the readings that could tell it.
        let settling = self.mask_readings <= SETTLING;
        let masked = match self.masked {
            _ if !known => false,
            Some(true) if settling => mask >= mask_threshold - settle,
            Some(false) if settling => mask > mask_threshold + settle,
            _ if settling => mask >= mask_threshold,
            Some(true) if mask < mask_threshold - HYSTERESIS.min(mask_threshold / 2.0) => false,
            // A mask put on mid-track is rare: it takes a clear majority of the evidence.
            Some(false) if mask > (mask_threshold + HYSTERESIS).max(0.5) => true,
            Some(m) => m,
            None => mask >= mask_threshold,
        };
        if known {
            self.masked = Some(masked);
        }
        let p = Published {
            gender,
            male_probability: male,
            gender_confidence: ((male - 0.5).abs() * 2.0).min(1.0),
            mask: masked,
            mask_probability: mask,
            mask_confidence: if known {
                ((mask - mask_threshold).abs() / mask_threshold.max(1.0 - mask_threshold)).min(1.0)
            } else {
                0.0
            },
            mask_state: match (known, masked) {
                (false, _) => MaskState::Unknown,
                (true, true) => MaskState::Masked,
                (true, false) => MaskState::Bare,
            },
            age: self.age / self.weight,
        };
        self.last = Some(p.clone());
        p
    }

    /// The estimate as published after the last reading (none before the first).
    pub fn current(&self) -> Option<&Published> {
        self.last.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(male: f32, mask: f32, age: f32) -> Attributes {
        Attributes {
            age,
            gender: if male >= 0.5 { "male" } else { "female" },
            male_probability: male,
            mask: mask >= 0.2,
            mask_probability: mask,
            mask_state: if mask >= 0.2 {
                MaskState::Masked
            } else {
                MaskState::Bare
            },
        }
    }

    /// The walking-and-pause track that used to flip m/f/m/m and mask T/F/F/T/T between updates.
    #[test]
    fn published_values_hold_unless_the_evidence_clearly_changes() {
        let mut r = RunningAttributes::default();
        let seen: Vec<Published> = [
            (0.52, 0.3, 30.0),
            (0.49, 0.1, 34.0),
            (0.58, 0.1, 30.0),
            (0.58, 0.25, 30.0),
            (0.58, 0.25, 30.0),
        ]
        .iter()
        .map(|(m, k, a)| r.add(&reading(*m, *k, *a), 1.0, 0.2))
        .collect();
        assert!(seen.iter().all(|p| p.gender == "male"), "{seen:?}");
        // The woman of that clip (readings .51, .36, .30, .30, .36): one early correction, then steady.
        let mut r = RunningAttributes::default();
        let g: Vec<&str> = [0.51, 0.36, 0.30, 0.30, 0.36]
            .iter()
            .map(|m| r.add(&reading(*m, 0.0, 30.0), 1.0, 0.2).gender)
            .collect();
        assert_eq!(g, ["male", "female", "female", "female", "female"]);
        let masks: Vec<bool> = seen.iter().map(|p| p.mask).collect();
        assert!(
            masks.windows(2).filter(|w| w[0] != w[1]).count() <= 1,
            "{masks:?}"
        );
        // Clear, lasting evidence does change it.
        let mut r = RunningAttributes::default();
        r.add(&reading(0.6, 0.0, 30.0), 1.0, 0.2);
        let mut last = None;
        for _ in 0..6 {
            last = Some(r.add(&reading(0.05, 0.0, 30.0), 1.0, 0.2));
        }
        assert_eq!(last.map(|p| p.gender), Some("female"));
    }

    /// A 14-px face at native size (walking clip, no upscaling): a running mask mean of 0.25,
    /// 0.185, 0.203 against the threshold 0.2 used to publish T, F, T while the track settled.
    #[test]
    fn a_mean_wandering_around_the_threshold_does_not_flip_while_settling() {
        // Readings 0.25, 0.12, 0.24: running means 0.25, 0.185, 0.203.
        let mut r = RunningAttributes::default();
        let masks: Vec<bool> = [0.25, 0.12, 0.24, 0.2, 0.2]
            .iter()
            .map(|k| r.add(&reading(0.6, *k, 30.0), 1.0, 0.2).mask)
            .collect();
        assert_eq!(masks, [true; 5]);
        // A clear change while settling still shows at once.
        let mut r = RunningAttributes::default();
        r.add(&reading(0.6, 0.25, 30.0), 1.0, 0.2);
        assert!(!r.add(&reading(0.6, 0.0, 30.0), 1.0, 0.2).mask);
    }

    /// A track seen only too small to tell publishes its mask as unknown (not masked, not bare),
    /// whatever the model read; its first readable face decides, and settles as a first one.
    #[test]
    fn a_track_too_small_to_tell_is_unknown_until_a_face_can_tell() {
        let unknown = |p: f32| Attributes {
            mask_state: MaskState::Unknown,
            mask: false,
            ..reading(0.6, p, 30.0)
        };
        let mut r = RunningAttributes::default();
        for p in [0.45, 0.3, 0.6] {
            let got = r.add(&unknown(p), 0.2, 0.2);
            assert_eq!(got.mask_state, MaskState::Unknown);
            assert!(!got.mask);
            assert_eq!(got.mask_confidence, 0.0);
        }
        // The raw mean while nothing could tell.
        let now = r.current().map(|p| p.mask_probability).unwrap_or_default();
        assert!((now - 0.45).abs() < 1e-5, "{now}");
        // A bare reading of a readable face decides, alone (the unknown ones do not weigh in).
        let got = r.add(&reading(0.6, 0.05, 30.0), 1.0, 0.2);
        assert_eq!(got.mask_state, MaskState::Bare);
        assert!((got.mask_probability - 0.05).abs() < 1e-5);
        // Later unknown readings change nothing.
        let got = r.add(&unknown(0.9), 1.0, 0.2);
        assert_eq!((got.mask_state, got.mask), (MaskState::Bare, false));
        // A masked first readable face after unknown ones: masked at once.
        let mut r = RunningAttributes::default();
        for _ in 0..5 {
            r.add(&unknown(0.1), 0.2, 0.2);
        }
        let got = r.add(&reading(0.6, 0.7, 30.0), 1.0, 0.2);
        assert_eq!((got.mask_state, got.mask), (MaskState::Masked, true));
    }
}
