//! Is this detection a human face? YuNet alone scores some animal faces like human ones, so a
//! detection is confirmed by one of three opinions (docs/calibration.md has the measurements):
//!
//! 1. the mesh model's face-presence output (`detector.min_presence`);
//! 2. a second look: the detector run again on the face re-framed at a fixed size
//!    (`detector.min_second_look`). The mesh rejects dark faces in dim light (Michelle Obama in the
//!    hamilton audience reads presence 0.01) while this look scores them like any other face
//!    (0.89); the animal negatives score 0 at this scale;
//! 3. a confident mask classification, because a mask hides the mesh's cues.
//!
//! Faces too small for the mesh are judged by the detector alone in video (see `stage.rs`).

use crate::detect::Detection;
use crate::frame::{Affine, Frame};

/// Face size (longer box side, px) the second look re-frames a face to. Measured: at 64 px the
/// shared animal negatives score 0 (dogs, cartoon alpaca, shiba) or at most 0.31 among those the
/// mesh rejects, while human faces keep their score (median 0.92); at 100 px and more, animals
/// climb back to 0.3–0.86.
pub const SECOND_LOOK_FACE_PX: f32 = 64.0;
/// Side of the square picture the face is re-framed into (2.5 × the face: the context the
/// detector needs; a multiple of 32, so no padding).
pub const SECOND_LOOK_SIDE: usize = 160;

/// The face re-framed: centred, its longer side scaled to [`SECOND_LOOK_FACE_PX`], black outside
/// the image.
pub fn second_look_picture(frame: &Frame, det: &Detection) -> Frame {
    let n = SECOND_LOOK_SIDE;
    let k = det.w.max(det.h).max(1.0) / SECOND_LOOK_FACE_PX;
    let (cx, cy) = (det.x + det.w / 2.0, det.y + det.h / 2.0);
    let half = n as f32 / 2.0;
    let map = Affine([k, 0.0, cx - half * k, 0.0, k, cy - half * k]);
    let mut rgb = vec![0u8; n * n * 3];
    frame.warp(&map, n, n, |x, y, p| {
        let i = (y * n + x) * 3;
        for c in 0..3 {
            rgb[i + c] = p[c].round().clamp(0.0, 255.0) as u8;
        }
    });
    Frame {
        width: n as u32,
        height: n as u32,
        rgb,
    }
}

/// The second look's verdict from the detections in a re-framed picture: the best score of a
/// detection centred near the middle (another face in the context does not count).
pub fn second_look_score(found: &[Detection]) -> f32 {
    let mid = SECOND_LOOK_SIDE as f32 / 2.0;
    let near = 0.15 * SECOND_LOOK_SIDE as f32;
    found
        .iter()
        .filter(|d| {
            ((d.x + d.w / 2.0) - mid).abs() < near && ((d.y + d.h / 2.0) - mid).abs() < near
        })
        .map(|d| d.score)
        .fold(0.0, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, y: f32, w: f32, score: f32) -> Detection {
        Detection {
            x,
            y,
            w,
            h: w,
            score,
            landmarks: [[0.0; 2]; 5],
        }
    }

    #[test]
    fn the_face_is_reframed_at_the_fixed_size() {
        // A white 40 px square on black: re-framed, it is 64 px wide about the centre.
        let (w, h) = (200u32, 100u32);
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        for y in 30..70 {
            for x in 120..160 {
                let i = ((y * w + x) * 3) as usize;
                rgb[i..i + 3].copy_from_slice(&[255, 255, 255]);
            }
        }
        let f = Frame::new(w, h, rgb).expect("frame");
        let p = second_look_picture(&f, &det(120.0, 30.0, 40.0, 0.9));
        let row = 80 * SECOND_LOOK_SIDE;
        let white: Vec<usize> = (0..SECOND_LOOK_SIDE)
            .filter(|x| p.rgb[(row + x) * 3] > 128)
            .collect();
        assert_eq!(white.first().copied(), Some(48));
        assert_eq!(white.last().copied(), Some(111));
    }

    #[test]
    fn only_a_face_in_the_middle_counts() {
        assert_eq!(second_look_score(&[]), 0.0);
        let off_centre = det(0.0, 0.0, 40.0, 0.95);
        let centred = det(50.0, 50.0, 64.0, 0.8);
        assert_eq!(second_look_score(&[off_centre.clone()]), 0.0);
        assert_eq!(second_look_score(&[off_centre, centred]), 0.8);
    }
}
