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
//! In video, faces too small for the mesh are judged by the detector alone (a track still has to
//! persist for `tracking.min_hits` frames); in still images they need one of the opinions above.

use crate::detect::Detection;
use crate::frame::{Affine, Frame};

/// Where a face is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Still,
    Video,
}

/// Below this face size (px, shorter box side) the mesh's face-presence output is not trusted.
pub const MESH_MIN_FACE_PX: f32 = 64.0;

/// Whether a face is too small for the mesh to judge.
pub fn too_small_for_mesh(det: &Detection) -> bool {
    det.w.min(det.h) < MESH_MIN_FACE_PX
}

/// Face size (longer box side, px) the second look re-frames a face to. Measured: at 64 px the
/// shared animal negatives score 0 (dogs, cartoon alpaca, shiba) or at most 0.31 among those the
/// mesh rejects, while human faces keep their score (median 0.92); at 100 px and more, animals
/// climb back to 0.3–0.86.
pub const SECOND_LOOK_FACE_PX: f32 = 64.0;
/// Side of the square picture the face is re-framed into (2.5 × the face: the context the
/// detector needs; a multiple of 32, so no padding).
pub const SECOND_LOOK_SIDE: usize = 160;

/// The face re-framed: its longer side scaled to [`SECOND_LOOK_FACE_PX`], centred, except that a
/// face at the image's edge has its window shifted inside the image (black context would hide it
/// from the detector). Returns the picture and where the face's centre lies in it.
pub fn second_look_picture(frame: &Frame, det: &Detection) -> (Frame, [f32; 2]) {
    let n = SECOND_LOOK_SIDE;
    let k = det.w.max(det.h).max(1.0) / SECOND_LOOK_FACE_PX;
    let side = n as f32 * k;
    let (cx, cy) = (det.x + det.w / 2.0, det.y + det.h / 2.0);
    // The window's top-left corner in the image, kept inside it when the image is large enough.
    let inside = |c: f32, len: u32| {
        let start = c - side / 2.0;
        if side >= len as f32 {
            start
        } else {
            start.clamp(0.0, len as f32 - side)
        }
    };
    let (x0, y0) = (inside(cx, frame.width), inside(cy, frame.height));
    let map = Affine([k, 0.0, x0, 0.0, k, y0]);
    let mut rgb = vec![0u8; n * n * 3];
    frame.warp(&map, n, n, |x, y, p| {
        let i = (y * n + x) * 3;
        for c in 0..3 {
            rgb[i + c] = p[c].round().clamp(0.0, 255.0) as u8;
        }
    });
    let picture = Frame {
        width: n as u32,
        height: n as u32,
        rgb,
    };
    (picture, [(cx - x0) / k, (cy - y0) / k])
}

/// The second look's verdict from the detections in a re-framed picture: the best score of a
/// detection centred near where the face is (another face in the context does not count).
pub fn second_look_score(found: &[Detection], centre: [f32; 2]) -> f32 {
    let near = 0.15 * SECOND_LOOK_SIDE as f32;
    found
        .iter()
        .filter(|d| {
            ((d.x + d.w / 2.0) - centre[0]).abs() < near
                && ((d.y + d.h / 2.0) - centre[1]).abs() < near
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
        let (p, centre) = second_look_picture(&f, &det(120.0, 30.0, 40.0, 0.9));
        // The 100 px high image is smaller than the 250 px window: no shift, the face is centred.
        assert_eq!(centre, [80.0, 80.0]);
        let row = 80 * SECOND_LOOK_SIDE;
        let white: Vec<usize> = (0..SECOND_LOOK_SIDE)
            .filter(|x| p.rgb[(row + x) * 3] > 128)
            .collect();
        assert_eq!(white.first().copied(), Some(48));
        assert_eq!(white.last().copied(), Some(111));
    }

    #[test]
    fn only_a_face_in_the_middle_counts() {
        let mid = [80.0, 80.0];
        assert_eq!(second_look_score(&[], mid), 0.0);
        let off_centre = det(0.0, 0.0, 40.0, 0.95);
        let centred = det(50.0, 50.0, 64.0, 0.8);
        assert_eq!(
            second_look_score(std::slice::from_ref(&off_centre), mid),
            0.0
        );
        assert_eq!(second_look_score(&[off_centre.clone(), centred], mid), 0.8);
        assert_eq!(second_look_score(&[off_centre], [20.0, 20.0]), 0.95);
    }

    #[test]
    fn a_face_at_the_edge_keeps_its_context() {
        // A 20 px face at the right edge of a 400 px image: the 50 px window moves inside the image.
        let f = Frame::new(400, 300, vec![0; 400 * 300 * 3]).expect("frame");
        let (_, centre) = second_look_picture(&f, &det(380.0, 100.0, 20.0, 0.9));
        assert!((centre[0] - 128.0).abs() < 1e-3, "{centre:?}");
        assert!((centre[1] - 80.0).abs() < 1e-3, "{centre:?}");
    }
}
