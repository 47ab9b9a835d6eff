//! What of each camera frame the detector reads, chosen from the faces the camera shows: while
//! every face in view is large, most frames are detected at a smaller input (the smallest face
//! still `detector.zoom_face_px` there) and only around the faces (a crop with a margin of most of
//! a face on each side), and a full-size frame every `detector.zoom_full_every_ms`, or at once
//! when a face goes missing or appears in the reduced view, looks for small and new faces.
//!
//! YuNet's cost grows with its input's pixels: a talking head of 250 px in a 512-px frame is found
//! as surely at 160 px (the face 78 px there), for a tenth of the work, and a 65-px signer in a
//! 640×480 frame as surely in a 192×192 crop around it, for an eighth (docs/performance.md).

use std::collections::HashMap;
use std::sync::Arc;

use super::{Detection, View};

/// When to leave the full size, and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZoomSettings {
    /// The smallest face's shorter side in the reduced input (px); 0 turns zooming off.
    pub face_px: f32,
    /// Longest stream time between two full-size frames of a camera (ms).
    pub full_every_ms: u64,
}

/// The decision's inputs, read off the camera's last full-size frame and kept up to date.
#[derive(Debug, Clone, Default)]
struct CameraZoom {
    /// Stream time of the last full-size frame.
    last_full_ms: Option<u64>,
    /// The faces of the camera's last frame (full size, or reduced and kept).
    faces: Vec<Detection>,
    /// Shorter side of the smallest face found since the last full-size frame (frame pixels).
    smallest: f32,
    /// A reduced frame found fewer or more faces: the next frame is full size.
    recheck: bool,
    /// Stream time of a frame already sized full for the periodic look (in the batch being
    /// formed, not yet settled): the frames after it in that batch need not look again.
    looking: Option<u64>,
}

/// Every camera's state, kept by the detection stage.
#[derive(Debug, Default)]
pub struct Zoom {
    cameras: HashMap<Arc<str>, CameraZoom>,
}

/// Smallest reduced input side (px): below it the gain is nothing and the border dominates.
const MIN_SIDE: u32 = 128;
/// Reductions smaller than this (of the long side) are not worth a less sure detection.
const WORTH_IT: f32 = 0.75;
/// Overlap with a face of the frame before for a reduced frame's face to be that face.
const FOLLOWS_IOU: f32 = 0.3;
/// A crop's margin around the faces, on each side, in sides of the largest face: room for the
/// faces to move until the next full-size frame (a batch is sized before its frames are read).
const CROP_MARGIN: f32 = 0.75;
/// A crop is read only if its input is at most this share of the whole frame's at the same scale.
const CROP_WORTH_IT: f64 = 0.6;
/// A face whose box comes within this many input pixels of a crop's edge inside the frame may be
/// cut by it: not trusted (the next frame is full size).
const CROP_EDGE_PX: f32 = 2.0;

impl Zoom {
    /// How to read this frame: the whole of it at `full_side` (the detector's `max_side`), or a
    /// smaller input and maybe a crop. Called for each frame in stream order, also for several
    /// frames before any of them settles (a batch): of those, only the first due for the periodic
    /// look is full size — the others would look again at the same moment, and a face it finds
    /// that they miss brings the full size back (`settle`).
    pub fn view_for(
        &mut self,
        s: ZoomSettings,
        camera: &str,
        pts_ms: u64,
        (frame_w, frame_h): (u32, u32),
        full_side: u32,
    ) -> View {
        let whole = View::whole(full_side);
        let Some(c) = self.cameras.get_mut(camera) else {
            return whole;
        };
        let Some(last) = c.last_full_ms else {
            return whole;
        };
        if s.face_px <= 0.0 || c.recheck || c.faces.is_empty() || pts_ms < last {
            return whole;
        }
        let looked = c
            .looking
            .is_some_and(|t| pts_ms >= t && pts_ms - t < s.full_every_ms);
        if pts_ms.saturating_sub(last) >= s.full_every_ms && !looked {
            c.looking = Some(pts_ms);
            return whole;
        }
        let frame_long = frame_w.max(frame_h).max(1);
        let full_long = frame_long.min(full_side) as f32;
        // The smallest face as the full-size input shows it, and the reduction that keeps it
        // `face_px` there. Faces under `face_px` keep the whole frame at full size (a crowd, a
        // CCTV view: new faces are found on the frame they arrive).
        let smallest_in_input = c.smallest * full_long / frame_long as f32;
        let k = s.face_px / smallest_in_input.max(1.0);
        if k > 1.0 {
            return whole;
        }
        let side = if k < WORTH_IT {
            let side = ((full_long * k).ceil() as u32).div_ceil(32) * 32;
            side.max(MIN_SIDE).min(full_side)
        } else {
            full_side
        };
        let crop = crop_around(&c.faces, (frame_w, frame_h), side);
        View { side, crop }
    }

    /// What a frame read through `view` found, as the rest of the pipeline is to see it. A reduced
    /// frame only follows the faces already known: a face it finds where none was is dropped and
    /// the next frame is full size (a reduced input scores some blurred faces higher than the full
    /// one does, and the full size decides which faces a camera shows); a face it misses, or one
    /// a crop's edge may cut, brings the full size back too (the tracker bridges the one frame).
    pub fn settle(
        &mut self,
        camera: &Arc<str>,
        pts_ms: u64,
        view: View,
        full_side: u32,
        frame: (u32, u32),
        dets: Vec<Detection>,
    ) -> Vec<Detection> {
        let c = self.cameras.entry(camera.clone()).or_default();
        let smallest = |ds: &[Detection]| {
            ds.iter()
                .map(|d| d.w.min(d.h))
                .fold(f32::INFINITY, f32::min)
        };
        if view.side >= full_side && view.crop.is_none() {
            *c = CameraZoom {
                last_full_ms: Some(pts_ms),
                smallest: smallest(&dets),
                faces: dets.clone(),
                recheck: false,
                looking: None,
            };
            return dets;
        }
        let found = dets.len();
        let kept: Vec<Detection> = dets
            .into_iter()
            .filter(|d| c.faces.iter().any(|k| k.iou(d) >= FOLLOWS_IOU))
            .filter(|d| !at_crop_edge(d, view, frame))
            .collect();
        if kept.len() != found || kept.len() != c.faces.len() {
            c.recheck = true;
        }
        // A face grown smaller (walking away) keeps `face_px` from the next frame on.
        c.smallest = c.smallest.min(smallest(&kept));
        c.faces.clone_from(&kept);
        kept
    }

    /// A camera's stream ended or restarted: its next frame is full size.
    pub fn forget(&mut self, camera: &str) {
        self.cameras.remove(camera);
    }
}

/// The part of a `frame` around `faces` worth reading at `side` instead of the whole frame: their
/// bounding box widened by [`CROP_MARGIN`] of the largest face on each side, sized so its input is
/// a whole number of the detector's 32-px cells (no padding) and kept inside the frame; None when
/// it would not save enough ([`CROP_WORTH_IT`]).
fn crop_around(faces: &[Detection], (frame_w, frame_h): (u32, u32), side: u32) -> Option<[u32; 4]> {
    let scale = View::whole(side).scale((frame_w, frame_h));
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    let mut largest = 0f32;
    for d in faces {
        (x0, y0) = (x0.min(d.x), y0.min(d.y));
        (x1, y1) = (x1.max(d.x + d.w), y1.max(d.y + d.h));
        largest = largest.max(d.w.max(d.h));
    }
    if faces.is_empty() || !(x1 > x0 && y1 > y0) {
        return None;
    }
    let margin = CROP_MARGIN * largest;
    // One axis: the crop's start and length in frame pixels.
    let axis = |lo: f32, hi: f32, frame: u32| -> (u32, u32) {
        let input = (((hi - lo + 2.0 * margin) * scale).ceil() as u32).div_ceil(32) * 32;
        // Floor: the input, rounded, is then at most the whole cells asked for.
        let len = ((input as f32 / scale).floor() as u32).min(frame);
        let centre = (lo + hi) / 2.0;
        let start = (centre - len as f32 / 2.0)
            .round()
            .clamp(0.0, (frame - len) as f32) as u32;
        (start, len)
    };
    let (x, w) = axis(x0, x1, frame_w);
    let (y, h) = axis(y0, y1, frame_h);
    // Both at the same scale: the share of pixels is the share of the input.
    let share = f64::from(w) * f64::from(h) / (f64::from(frame_w) * f64::from(frame_h));
    (share <= CROP_WORTH_IT).then_some([x, y, w, h])
}

/// Whether a face found in a crop comes so near one of its edges inside the frame that the edge
/// may cut it (its box and landmarks then lie).
fn at_crop_edge(d: &Detection, view: View, (frame_w, frame_h): (u32, u32)) -> bool {
    let Some([x, y, w, h]) = view.crop else {
        return false;
    };
    let scale = view.scale((frame_w, frame_h));
    let near = CROP_EDGE_PX / scale;
    let (x, y, w, h) = (x as f32, y as f32, w as f32, h as f32);
    (x > 0.0 && d.x < x + near)
        || (y > 0.0 && d.y < y + near)
        || (x + w < frame_w as f32 && d.x + d.w > x + w - near)
        || (y + h < frame_h as f32 && d.y + d.h > y + h - near)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a full-size look (640) at `frame` found.
    fn full(
        z: &mut Zoom,
        cam: &Arc<str>,
        pts: u64,
        frame: (u32, u32),
        faces: Vec<Detection>,
    ) -> Vec<Detection> {
        z.settle(cam, pts, View::whole(640), 640, frame, faces)
    }

    const ON: ZoomSettings = ZoomSettings {
        face_px: 64.0,
        full_every_ms: 250,
    };

    fn face(side: f32) -> Detection {
        Detection {
            x: 10.0,
            y: 10.0,
            w: side,
            h: side,
            score: 0.9,
            landmarks: [[0.0; 2]; 5],
        }
    }

    #[test]
    fn a_large_face_is_detected_smaller_between_full_frames() {
        let cam: Arc<str> = "door".into();
        let mut z = Zoom::default();
        // First frame: full size.
        assert_eq!(z.view_for(ON, "door", 0, (512, 512), 640).side, 640);
        full(&mut z, &cam, 0, (1280, 1280), vec![face(256.0)]);
        // 256 px in a 512-px frame: 64 px at a quarter, 128 px (the floor).
        assert_eq!(z.view_for(ON, "door", 33, (512, 512), 640).side, 128);
        z.settle(
            &cam,
            33,
            View::whole(128),
            640,
            (1280, 1280),
            vec![face(250.0)],
        );
        // Until the full frame is due again (the face now 250 px: 64 px at 131, so 160).
        assert_eq!(z.view_for(ON, "door", 249, (512, 512), 640).side, 160);
        assert_eq!(z.view_for(ON, "door", 250, (512, 512), 640).side, 640);
        // Another camera is not affected.
        assert_eq!(z.view_for(ON, "yard", 33, (512, 512), 640).side, 640);
    }

    #[test]
    fn a_batch_sized_at_once_looks_at_full_size_once() {
        let cam: Arc<str> = "door".into();
        let mut z = Zoom::default();
        full(&mut z, &cam, 0, (1280, 1280), vec![face(256.0)]);
        // Four frames sized before any settles: the first due looks, the others stay reduced.
        let sides: Vec<u32> = [250, 283, 316, 350]
            .map(|t| z.view_for(ON, "door", t, (512, 512), 640).side)
            .to_vec();
        assert_eq!(sides, vec![640, 128, 128, 128]);
        // Another camera in the same batch looks for itself.
        full(&mut z, &"yard".into(), 0, (1280, 1280), vec![face(256.0)]);
        assert_eq!(z.view_for(ON, "yard", 250, (512, 512), 640).side, 640);
        // Settled in order: the look found a new face the reduced frames missed, so the next
        // batch starts at full size again, all of it (a recheck, not the periodic look).
        full(
            &mut z,
            &cam,
            250,
            (1280, 1280),
            vec![face(256.0), face(100.0)],
        );
        z.settle(
            &cam,
            283,
            View::whole(128),
            640,
            (1280, 1280),
            vec![face(256.0)],
        );
        assert_eq!(z.view_for(ON, "door", 383, (512, 512), 640).side, 640);
        assert_eq!(z.view_for(ON, "door", 416, (512, 512), 640).side, 640);
    }

    #[test]
    fn a_face_lost_or_found_at_the_small_size_brings_the_full_size_back() {
        let cam: Arc<str> = "door".into();
        let mut z = Zoom::default();
        full(
            &mut z,
            &cam,
            0,
            (1280, 1280),
            vec![face(300.0), face(200.0)],
        );
        let side = z.view_for(ON, "door", 40, (1280, 1280), 640).side;
        assert!(side < 640, "{side}");
        z.settle(
            &cam,
            40,
            View::whole(side),
            640,
            (1280, 1280),
            vec![face(300.0)],
        );
        assert_eq!(z.view_for(ON, "door", 80, (1280, 1280), 640).side, 640);
        full(&mut z, &cam, 80, (1280, 1280), vec![face(300.0)]);
        let side = z.view_for(ON, "door", 120, (1280, 1280), 640).side;
        // A face where none was, found only at the reduced size: not passed on, and the next
        // frame, full size, decides.
        let kept = z.settle(
            &cam,
            120,
            View::whole(side),
            640,
            (1280, 1280),
            vec![face(300.0), face(150.0)],
        );
        assert_eq!(kept.len(), 1);
        assert_eq!(z.view_for(ON, "door", 160, (1280, 1280), 640).side, 640);
    }

    #[test]
    fn small_faces_no_faces_and_zoom_off_keep_the_full_size() {
        let cam: Arc<str> = "door".into();
        let mut z = Zoom::default();
        // A 60-px face in a 640 frame: already near `face_px`.
        full(&mut z, &cam, 0, (1280, 1280), vec![face(300.0), face(60.0)]);
        assert_eq!(z.view_for(ON, "door", 40, (640, 640), 640).side, 640);
        full(&mut z, &cam, 40, (1280, 1280), vec![]);
        assert_eq!(z.view_for(ON, "door", 80, (640, 640), 640).side, 640);
        full(&mut z, &cam, 80, (1280, 1280), vec![face(300.0)]);
        let off = ZoomSettings { face_px: 0.0, ..ON };
        assert_eq!(z.view_for(off, "door", 120, (640, 640), 640).side, 640);
        assert!(z.view_for(ON, "door", 120, (640, 640), 640).side < 640);
        // A stream that starts again (time back) or ends starts at full size.
        assert_eq!(z.view_for(ON, "door", 10, (640, 640), 640).side, 640);
        z.forget("door");
        assert_eq!(z.view_for(ON, "door", 160, (640, 640), 640).side, 640);
    }

    #[test]
    fn a_face_walking_away_shrinks_the_reduction() {
        let cam: Arc<str> = "door".into();
        let mut z = Zoom::default();
        full(&mut z, &cam, 0, (1280, 1280), vec![face(400.0)]);
        let first = z.view_for(ON, "door", 40, (1280, 1280), 640).side;
        z.settle(
            &cam,
            40,
            View::whole(first),
            640,
            (1280, 1280),
            vec![face(340.0)],
        );
        let next = z.view_for(ON, "door", 80, (1280, 1280), 640).side;
        assert!(next > first, "{first} → {next}");
    }

    fn face_at(x: f32, y: f32, side: f32) -> Detection {
        Detection { x, y, ..face(side) }
    }

    #[test]
    fn a_lone_large_face_is_read_in_a_crop_around_it() {
        let cam: Arc<str> = "signer".into();
        let mut z = Zoom::default();
        let frame = (640, 480);
        full(&mut z, &cam, 0, frame, vec![face_at(300.0, 60.0, 65.0)]);
        // 65 px against 64: not worth reducing, but the rest of the frame is not worth reading.
        // The face and most of a face on each side, in whole 32-px cells: 192 px; its top
        // would be above the frame, so it starts at the top.
        let view = z.view_for(ON, "signer", 33, frame, 640);
        assert_eq!(view.side, 640);
        assert_eq!(view.crop, Some([237, 0, 192, 192]));
        // The face moved a little: followed, and the next crop follows it.
        let kept = z.settle(&cam, 33, view, 640, frame, vec![face_at(310.0, 62.0, 65.0)]);
        assert_eq!(kept.len(), 1);
        let next = z.view_for(ON, "signer", 66, frame, 640);
        assert_eq!(next.crop, Some([247, 0, 192, 192]));
        // A face at the crop's edge may be cut by it: not passed on, and the whole frame decides.
        let kept = z.settle(&cam, 66, next, 640, frame, vec![face_at(248.0, 62.0, 65.0)]);
        assert!(kept.is_empty());
        assert_eq!(z.view_for(ON, "signer", 100, frame, 640), View::whole(640));
        // A frame edge is no crop edge: a face at the top of the frame is trusted.
        full(&mut z, &cam, 100, frame, vec![face_at(300.0, 0.0, 65.0)]);
        let view = z.view_for(ON, "signer", 133, frame, 640);
        assert_eq!(view.crop.map(|c| c[1]), Some(0));
        let kept = z.settle(&cam, 133, view, 640, frame, vec![face_at(301.0, 0.0, 65.0)]);
        assert_eq!(kept.len(), 1);
    }

    #[test]
    fn faces_far_apart_or_small_are_not_cropped() {
        let cam: Arc<str> = "hall".into();
        let mut z = Zoom::default();
        let frame = (640, 480);
        // Two large faces in opposite corners: their crop would be most of the frame.
        let apart = vec![face_at(10.0, 10.0, 70.0), face_at(560.0, 400.0, 70.0)];
        full(&mut z, &cam, 0, frame, apart);
        assert_eq!(z.view_for(ON, "hall", 33, frame, 640), View::whole(640));
        // A face under `face_px` keeps the whole frame: new faces are found where they arrive.
        full(&mut z, &cam, 33, frame, vec![face_at(300.0, 60.0, 50.0)]);
        assert_eq!(z.view_for(ON, "hall", 66, frame, 640), View::whole(640));
    }

    #[test]
    fn a_crop_of_a_frame_larger_than_the_input_is_sized_at_its_scale() {
        let cam: Arc<str> = "gate".into();
        let mut z = Zoom::default();
        // 1920×1080 read at 640: a third. A 300-px face is 100 px there: reduced to 64/100 (a
        // 416-px long side), and cropped to 300 + 2 × 225 px around it: 750 × 416 / 1920 = 162.5
        // input px, so six whole cells of 32.
        let frame = (1920, 1080);
        full(&mut z, &cam, 0, frame, vec![face_at(800.0, 300.0, 300.0)]);
        let view = z.view_for(ON, "gate", 33, frame, 640);
        assert_eq!(view.side, 416);
        let [x, y, w, h] = view.crop.unwrap();
        let scale = 416.0 / 1920.0;
        assert_eq!(
            ((w as f32 * scale).round(), (h as f32 * scale).round()),
            (192.0, 192.0)
        );
        assert!(x <= 800 - 225 && x + w >= 1100 + 225, "{x} {w}");
        assert!(y <= 300 - 225 && y + h >= 600 + 225, "{y} {h}");
    }
}
