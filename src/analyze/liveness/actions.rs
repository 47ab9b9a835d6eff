//! One detector per action over per-frame signal series: a head turn, a nod, a mouth opening or a blink
//! is a *transient* excursion from the clip's own baseline — it must both reach the amplitude threshold
//! and be away from it elsewhere in its window, so a face held still (or a photo held turned) never passes.

use serde::Serialize;

/// FRS action codes (5 = blink is our extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Action {
    /// 1: head turned to the subject's left (the image's right in an unmirrored video).
    ShakeLeft,
    /// 2: head turned to the subject's right.
    ShakeRight,
    /// 3: nod (down and up).
    Nod,
    /// 4: mouth opens and closes.
    Mouth,
    /// 5: eyes close and open.
    Blink,
}

impl Action {
    pub fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            1 => Action::ShakeLeft,
            2 => Action::ShakeRight,
            3 => Action::Nod,
            4 => Action::Mouth,
            5 => Action::Blink,
            _ => return None,
        })
    }

    pub fn code(self) -> u8 {
        match self {
            Action::ShakeLeft => 1,
            Action::ShakeRight => 2,
            Action::Nod => 3,
            Action::Mouth => 4,
            Action::Blink => 5,
        }
    }
}

/// Per-frame signals of the largest face (frames without a face are left out).
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub t: Vec<u64>,
    pub yaw: Vec<f32>,
    pub pitch: Vec<f32>,
    pub mouth: Vec<f32>,
    pub eye: Vec<f32>,
}

#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// Head turn in degrees from the clip's baseline yaw.
    pub shake_deg: f32,
    /// Nod: pitch down from baseline, degrees (FRS nod_threshold, 1..90).
    pub nod_deg: f32,
    /// Mouth opening ratio above the closed baseline.
    pub mouth: f32,
    /// Blink: eye opening falls by this share of its baseline.
    pub blink: f32,
    /// Which image side "left" (action 1) turns to: false = the subject's left (image right).
    pub left_is_image_left: bool,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            shake_deg: 15.0,
            nod_deg: 10.0,
            mouth: 0.2,
            blink: 0.4,
            left_is_image_left: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    pub action: Action,
    pub passed: bool,
    /// When the threshold was first crossed (ms), for order checking.
    pub at_ms: Option<u64>,
    /// Largest excursion found, in the threshold's unit.
    pub amplitude: f32,
    pub confidence: f32,
}

/// Fastest plausible head rotation between two frames (700°/s; a brisk real shake peaks near 250°/s).
pub const MAX_HEAD_DEG_PER_MS: f32 = 0.7;

fn median(v: &[f32]) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    s[s.len() / 2]
}

fn percentile(v: &[f32], p: f32) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    s[((s.len() - 1) as f32 * p) as usize]
}

/// 3-point median: removes single-frame landmark glitches without delaying real motion.
pub fn smooth(v: &[f32]) -> Vec<f32> {
    (0..v.len())
        .map(|i| {
            if i == 0 || i + 1 == v.len() {
                v[i]
            } else {
                let mut w = [v[i - 1], v[i], v[i + 1]];
                w.sort_by(f32::total_cmp);
                w[1]
            }
        })
        .collect()
}

/// Excursion values e(t) ≥ 0 in the action's direction, and its threshold.
fn excursion(a: Action, s: &Series, th: &Thresholds) -> (Vec<f32>, f32) {
    let left_sign = if th.left_is_image_left { -1.0 } else { 1.0 };
    match a {
        Action::ShakeLeft | Action::ShakeRight => {
            let base = median(&s.yaw);
            let sign = if a == Action::ShakeLeft {
                left_sign
            } else {
                -left_sign
            };
            (
                s.yaw.iter().map(|y| sign * (y - base)).collect(),
                th.shake_deg,
            )
        }
        Action::Nod => {
            let base = median(&s.pitch);
            (s.pitch.iter().map(|p| base - p).collect(), th.nod_deg)
        }
        Action::Mouth => {
            let closed = percentile(&s.mouth, 0.2);
            (s.mouth.iter().map(|m| m - closed).collect(), th.mouth)
        }
        Action::Blink => {
            let open = median(&s.eye).max(1e-3);
            (s.eye.iter().map(|e| (open - e) / open).collect(), th.blink)
        }
    }
}

/// Looks for `a` in [from_ms, to_ms]. `coverage` (0..1, share of frames with a face) scales confidence.
pub fn detect(
    a: Action,
    s: &Series,
    from_ms: u64,
    to_ms: u64,
    th: &Thresholds,
    coverage: f32,
) -> Outcome {
    let (e, thr) = excursion(a, s, th);
    let idx: Vec<usize> = (0..s.t.len())
        .filter(|&i| s.t[i] >= from_ms && s.t[i] <= to_ms)
        .collect();
    let amplitude = idx.iter().map(|&i| e[i]).fold(0.0f32, f32::max);
    let rests = idx.iter().any(|&i| e[i] <= thr / 2.0);
    let at_ms = idx.iter().find(|&&i| e[i] >= thr).map(|&i| s.t[i]);
    // A head cannot jump tens of degrees between two frames: stitched stills and cut-together clips can.
    let continuous = !matches!(a, Action::ShakeLeft | Action::ShakeRight | Action::Nod)
        || idx.windows(2).all(|w| {
            let dt = s.t[w[1]].saturating_sub(s.t[w[0]]).max(1) as f32;
            (e[w[1]] - e[w[0]]).abs() / dt <= MAX_HEAD_DEG_PER_MS
        });
    let passed = at_ms.is_some() && rests && continuous;
    let margin = ((amplitude - thr) / thr).clamp(0.0, 1.0);
    let confidence = if passed {
        ((0.6 + 0.4 * margin) * coverage).clamp(0.0, 1.0)
    } else {
        (0.5 * amplitude / thr).clamp(0.0, 0.49) * coverage
    };
    Outcome {
        action: a,
        passed,
        at_ms,
        amplitude,
        confidence,
    }
}

/// Checks actions in order: each one must happen after the previous one was reached (or inside its own
/// window when windows are given).
pub fn check_sequence(
    actions: &[Action],
    windows: Option<&[(u64, u64)]>,
    s: &Series,
    th: &Thresholds,
    coverage: f32,
) -> Vec<Outcome> {
    let end = s.t.last().copied().unwrap_or(0);
    let mut cursor = 0u64;
    let mut out = vec![];
    for (k, &a) in actions.iter().enumerate() {
        let (from, to) = match windows {
            Some(w) => w[k],
            None => (cursor, end),
        };
        let o = detect(a, s, from, to, th, coverage);
        if let Some(t) = o.at_ms.filter(|_| o.passed) {
            cursor = t;
        }
        out.push(o);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clip at 30 fps where `f(t_ms)` gives (yaw, pitch, mouth, eye).
    fn series(ms: u64, f: impl Fn(u64) -> (f32, f32, f32, f32)) -> Series {
        let mut s = Series::default();
        let mut t = 0;
        while t <= ms {
            let (y, p, m, e) = f(t);
            s.t.push(t);
            s.yaw.push(y);
            s.pitch.push(p);
            s.mouth.push(m);
            s.eye.push(e);
            t += 33;
        }
        s
    }

    /// A bump of height `amp` between `a` and `b` ms (smooth rise and fall).
    fn bump(t: u64, a: u64, b: u64, amp: f32) -> f32 {
        if t < a || t > b {
            return 0.0;
        }
        let x = (t - a) as f32 / (b - a) as f32;
        amp * (std::f32::consts::PI * x).sin()
    }

    const TH: Thresholds = Thresholds {
        shake_deg: 15.0,
        nod_deg: 10.0,
        mouth: 0.2,
        blink: 0.5,
        left_is_image_left: false,
    };

    #[test]
    fn each_detector_passes_just_over_and_fails_just_under_its_threshold() {
        type Motion = Box<dyn Fn(u64, f32) -> (f32, f32, f32, f32)>;
        let cases: Vec<(Action, Motion, f32)> = vec![
            (
                Action::ShakeLeft,
                Box::new(|t, a| (bump(t, 1000, 2000, a), 0.0, 0.02, 0.3)),
                15.0,
            ),
            (
                Action::ShakeRight,
                Box::new(|t, a| (-bump(t, 1000, 2000, a), 0.0, 0.02, 0.3)),
                15.0,
            ),
            (
                Action::Nod,
                Box::new(|t, a| (0.0, -bump(t, 1000, 2000, a), 0.02, 0.3)),
                10.0,
            ),
            (
                Action::Mouth,
                Box::new(|t, a| (0.0, 0.0, 0.02 + bump(t, 1000, 2000, a), 0.3)),
                0.2,
            ),
            (
                Action::Blink,
                Box::new(|t, a| (0.0, 0.0, 0.02, 0.3 * (1.0 - bump(t, 1000, 1300, a)))),
                0.5,
            ),
        ];
        for (action, f, thr) in cases {
            let over = series(3000, |t| f(t, thr * 1.1));
            let under = series(3000, |t| f(t, thr * 0.9));
            let o = detect(action, &over, 0, 3000, &TH, 1.0);
            let u = detect(action, &under, 0, 3000, &TH, 1.0);
            assert!(o.passed, "{action:?} at 110% should pass: {o:?}");
            assert!(!u.passed, "{action:?} at 90% should fail: {u:?}");
            assert!(
                o.confidence >= 0.6 && u.confidence < 0.5,
                "{action:?}: {o:?} {u:?}"
            );
            // Every other action stays quiet on this clip.
            for other in [
                Action::ShakeLeft,
                Action::ShakeRight,
                Action::Nod,
                Action::Mouth,
                Action::Blink,
            ] {
                if other != action {
                    assert!(
                        !detect(other, &over, 0, 3000, &TH, 1.0).passed,
                        "{other:?} fired on a {action:?} clip"
                    );
                }
            }
        }
    }

    #[test]
    fn order_windows_and_static_faces() {
        // Left turn at 1-2 s, then a nod at 3-4 s.
        let s = series(5000, |t| {
            (
                bump(t, 1000, 2000, 25.0),
                -bump(t, 3000, 4000, 20.0),
                0.02,
                0.3,
            )
        });
        let ok = check_sequence(&[Action::ShakeLeft, Action::Nod], None, &s, &TH, 1.0);
        assert!(ok.iter().all(|o| o.passed), "{ok:?}");
        let reversed = check_sequence(&[Action::Nod, Action::ShakeLeft], None, &s, &TH, 1.0);
        assert!(
            reversed[0].passed && !reversed[1].passed,
            "the turn happened before the nod: {reversed:?}"
        );
        let windows = [(3000, 4500), (0, 2500)];
        let w = check_sequence(
            &[Action::Nod, Action::ShakeLeft],
            Some(&windows),
            &s,
            &TH,
            1.0,
        );
        assert!(
            w.iter().all(|o| o.passed),
            "each action inside its own window: {w:?}"
        );
        let outside = check_sequence(&[Action::ShakeLeft], Some(&[(2500, 5000)]), &s, &TH, 1.0);
        assert!(!outside[0].passed, "the turn is outside its window");
        // A face held turned the whole time (a photo held at an angle) never "turns".
        let held = series(3000, |_| (30.0, 0.0, 0.02, 0.3));
        for a in [Action::ShakeLeft, Action::ShakeRight, Action::Nod] {
            assert!(!detect(a, &held, 0, 3000, &TH, 1.0).passed, "{a:?}");
        }
        // A turn made of jumps between held stills (a cut-together fake) does not count.
        let jumps = series(3000, |t| {
            (
                if (1000..2000).contains(&t) { 30.0 } else { 0.0 },
                0.0,
                0.02,
                0.3,
            )
        });
        assert!(!detect(Action::ShakeLeft, &jumps, 0, 3000, &TH, 1.0).passed);
        // The side of "left" is a setting.
        let flipped = Thresholds {
            left_is_image_left: true,
            ..TH
        };
        assert!(!detect(Action::ShakeLeft, &s, 0, 5000, &flipped, 1.0).passed);
        assert!(detect(Action::ShakeRight, &s, 0, 5000, &flipped, 1.0).passed);
    }
}
