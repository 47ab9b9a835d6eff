//! Head pose from the detector's five landmarks (eyes, nose tip, mouth corners), for the track
//! events of a video with `tracking.pose = "landmarks"` (docs/performance.md, "Head pose without
//! the mesh").
//!
//! Measured against the media's labelled poses (tests/pose.rs, 587 faces of 22 clips, at their
//! own size and shrunk to ~40 and ~24 px): median error yaw 3.5–4.4°, pitch 4.2–5.1°, roll
//! 2.1–3.5°, against the mesh's 3.1–3.4°, 5.4–6.1°, 3.3–3.6°.

use super::mesh::Pose;
use crate::detect::Detection;

/// Degrees of yaw per unit of the nose's distance to one eye minus the other (in eye distances).
const YAW_PER_SKEW: f32 = 70.8;
const YAW_OFFSET: f32 = -1.0;
/// Degrees of pitch per unit of the nose tip's height between the eye line (0) and mouth line (1).
const PITCH_PER_HEIGHT: f32 = -81.8;
const PITCH_OFFSET: f32 = 42.0;
// The four constants are a least-squares fit to the face mesh's pose on the same faces at their
// own size (not to the labels the test measures against).

/// The geometry the pose is read from: the nose tip's distance to the subject's right eye minus
/// its distance to the left eye (in eye distances; a turned head brings the nose nearer one
/// eye), the nose tip's height between the eye line (0) and the mouth line (1) measured with the
/// eye line made level, and the eye line's angle (degrees, image y down).
pub fn features(det: &Detection) -> Option<[f32; 3]> {
    if det.landmarks.iter().flatten().any(|v| !v.is_finite()) {
        return None;
    }
    let [re, le, nose, rm, lm] = det.landmarks;
    let (dx, dy) = (le[0] - re[0], le[1] - re[1]);
    let eyes = dx.hypot(dy);
    if eyes <= 1e-3 {
        return None;
    }
    let dist = |a: [f32; 2], b: [f32; 2]| (a[0] - b[0]).hypot(a[1] - b[1]);
    let skew = (dist(nose, re) - dist(nose, le)) / eyes;
    // Down the face, perpendicular to the eye line.
    let down = |p: [f32; 2]| (-p[0] * dy + p[1] * dx) / eyes;
    let eye = (down(re) + down(le)) / 2.0;
    let mouth = (down(rm) + down(lm)) / 2.0;
    if mouth - eye <= 1e-3 {
        return None;
    }
    let height = (down(nose) - eye) / (mouth - eye);
    Some([skew, height, dy.atan2(dx).to_degrees()])
}

/// Yaw, pitch and roll in the mesh's conventions ([`Pose`]); None for landmarks that make no
/// face (eyes on one point, mouth not below the eyes).
pub fn pose(det: &Detection) -> Option<Pose> {
    let [skew, height, tilt] = features(det)?;
    Some(Pose {
        yaw: YAW_PER_SKEW * skew + YAW_OFFSET,
        pitch: PITCH_PER_HEIGHT * height + PITCH_OFFSET,
        roll: -tilt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(landmarks: [[f32; 2]; 5]) -> Detection {
        Detection {
            x: 0.0,
            y: 0.0,
            w: 100.0,
            h: 100.0,
            score: 0.9,
            landmarks,
        }
    }

    const FRONTAL: [[f32; 2]; 5] = [
        [30.0, 40.0],
        [70.0, 40.0],
        [50.0, 60.0],
        [35.0, 80.0],
        [65.0, 80.0],
    ];

    #[test]
    fn a_frontal_face_is_level_and_a_turned_one_has_the_mesh_sign() {
        let p = pose(&face(FRONTAL)).unwrap();
        assert!(p.yaw.abs() < 2.0 && p.roll.abs() < 0.01, "{p:?}");
        // Nose towards the image's left (nearer the subject's right eye): turned to image-left.
        let mut left = FRONTAL;
        left[2][0] = 40.0;
        assert!(pose(&face(left)).unwrap().yaw < -15.0);
        // The eye on the image's right higher: roll > 0 (mesh.rs's convention).
        let mut tilted = FRONTAL;
        tilted[1][1] = 30.0;
        assert!(pose(&face(tilted)).unwrap().roll > 10.0);
        // The nose nearer the eyes: face up.
        let mut up = FRONTAL;
        up[2][1] = 50.0;
        assert!(pose(&face(up)).unwrap().pitch > p.pitch + 10.0);
    }

    #[test]
    fn landmarks_that_make_no_face_give_no_pose() {
        let mut same_eye = FRONTAL;
        same_eye[1] = same_eye[0];
        assert!(pose(&face(same_eye)).is_none());
        let mut mouth_up = FRONTAL;
        mouth_up[3][1] = 20.0;
        mouth_up[4][1] = 20.0;
        assert!(pose(&face(mouth_up)).is_none());
        let mut nan = FRONTAL;
        nan[2][0] = f32::NAN;
        assert!(pose(&face(nan)).is_none());
    }
}
