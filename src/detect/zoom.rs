//! The detector's input size per camera frame, chosen from the faces the camera shows: while every
//! face in view is large, most frames are detected at a smaller input (the smallest face still
//! `detector.zoom_face_px` there), and a full-size frame every `detector.zoom_full_every_ms`, or
//! at once when a face goes missing at the small size, looks for small and new faces.
//!
//! YuNet's cost grows with its input's pixels: a talking head of 250 px in a 512-px frame is found
//! as surely at 160 px (the face 78 px there), for a tenth of the work (docs/performance.md).

use std::collections::HashMap;
use std::sync::Arc;

use super::Detection;

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

impl Zoom {
    /// The long side to detect this frame at: `full_side` (the detector's `max_side`), or less.
    /// Called for each frame in stream order, also for several frames before any of them settles
    /// (a batch): of those, only the first due for the periodic look is full size — the others
    /// would look again at the same moment, and a face it finds that they miss brings the full
    /// size back (`settle`).
    pub fn side_for(
        &mut self,
        s: ZoomSettings,
        camera: &str,
        pts_ms: u64,
        frame_long: u32,
        full_side: u32,
    ) -> u32 {
        let Some(c) = self.cameras.get_mut(camera) else {
            return full_side;
        };
        let Some(last) = c.last_full_ms else {
            return full_side;
        };
        if s.face_px <= 0.0 || c.recheck || c.faces.is_empty() || pts_ms < last {
            return full_side;
        }
        let looked = c
            .looking
            .is_some_and(|t| pts_ms >= t && pts_ms - t < s.full_every_ms);
        if pts_ms.saturating_sub(last) >= s.full_every_ms && !looked {
            c.looking = Some(pts_ms);
            return full_side;
        }
        let full_long = frame_long.min(full_side) as f32;
        // The smallest face as the full-size input shows it, and the reduction that keeps it
        // `face_px` there.
        let smallest_in_input = c.smallest * full_long / frame_long.max(1) as f32;
        let k = s.face_px / smallest_in_input.max(1.0);
        if k >= WORTH_IT {
            return full_side;
        }
        let side = ((full_long * k).ceil() as u32).div_ceil(32) * 32;
        side.max(MIN_SIDE).min(full_side)
    }

    /// What a frame detected at `side` found, as the rest of the pipeline is to see it. A reduced
    /// frame only follows the faces already known: a face it finds where none was is dropped and
    /// the next frame is full size (a reduced input scores some blurred faces higher than the full
    /// one does, and the full size decides which faces a camera shows); a face it misses brings
    /// the full size back too (the tracker bridges the one frame).
    pub fn settle(
        &mut self,
        camera: &Arc<str>,
        pts_ms: u64,
        side: u32,
        full_side: u32,
        dets: Vec<Detection>,
    ) -> Vec<Detection> {
        let c = self.cameras.entry(camera.clone()).or_default();
        let smallest = |ds: &[Detection]| {
            ds.iter()
                .map(|d| d.w.min(d.h))
                .fold(f32::INFINITY, f32::min)
        };
        if side >= full_side {
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(z.side_for(ON, "door", 0, 512, 640), 640);
        z.settle(&cam, 0, 640, 640, vec![face(256.0)]);
        // 256 px in a 512-px frame: 64 px at a quarter, 128 px (the floor).
        assert_eq!(z.side_for(ON, "door", 33, 512, 640), 128);
        z.settle(&cam, 33, 128, 640, vec![face(250.0)]);
        // Until the full frame is due again (the face now 250 px: 64 px at 131, so 160).
        assert_eq!(z.side_for(ON, "door", 249, 512, 640), 160);
        assert_eq!(z.side_for(ON, "door", 250, 512, 640), 640);
        // Another camera is not affected.
        assert_eq!(z.side_for(ON, "yard", 33, 512, 640), 640);
    }

    #[test]
    fn a_batch_sized_at_once_looks_at_full_size_once() {
        let cam: Arc<str> = "door".into();
        let mut z = Zoom::default();
        z.settle(&cam, 0, 640, 640, vec![face(256.0)]);
        // Four frames sized before any settles: the first due looks, the others stay reduced.
        let sides: Vec<u32> = [250, 283, 316, 350]
            .map(|t| z.side_for(ON, "door", t, 512, 640))
            .to_vec();
        assert_eq!(sides, vec![640, 128, 128, 128]);
        // Another camera in the same batch looks for itself.
        z.settle(&"yard".into(), 0, 640, 640, vec![face(256.0)]);
        assert_eq!(z.side_for(ON, "yard", 250, 512, 640), 640);
        // Settled in order: the look found a new face the reduced frames missed, so the next
        // batch starts at full size again, all of it (a recheck, not the periodic look).
        z.settle(&cam, 250, 640, 640, vec![face(256.0), face(100.0)]);
        z.settle(&cam, 283, 128, 640, vec![face(256.0)]);
        assert_eq!(z.side_for(ON, "door", 383, 512, 640), 640);
        assert_eq!(z.side_for(ON, "door", 416, 512, 640), 640);
    }

    #[test]
    fn a_face_lost_or_found_at_the_small_size_brings_the_full_size_back() {
        let cam: Arc<str> = "door".into();
        let mut z = Zoom::default();
        z.settle(&cam, 0, 640, 640, vec![face(300.0), face(200.0)]);
        let side = z.side_for(ON, "door", 40, 1280, 640);
        assert!(side < 640, "{side}");
        z.settle(&cam, 40, side, 640, vec![face(300.0)]);
        assert_eq!(z.side_for(ON, "door", 80, 1280, 640), 640);
        z.settle(&cam, 80, 640, 640, vec![face(300.0)]);
        let side = z.side_for(ON, "door", 120, 1280, 640);
        // A face where none was, found only at the reduced size: not passed on, and the next
        // frame, full size, decides.
        let kept = z.settle(&cam, 120, side, 640, vec![face(300.0), face(150.0)]);
        assert_eq!(kept.len(), 1);
        assert_eq!(z.side_for(ON, "door", 160, 1280, 640), 640);
    }

    #[test]
    fn small_faces_no_faces_and_zoom_off_keep_the_full_size() {
        let cam: Arc<str> = "door".into();
        let mut z = Zoom::default();
        // A 60-px face in a 640 frame: already near `face_px`.
        z.settle(&cam, 0, 640, 640, vec![face(300.0), face(60.0)]);
        assert_eq!(z.side_for(ON, "door", 40, 640, 640), 640);
        z.settle(&cam, 40, 640, 640, vec![]);
        assert_eq!(z.side_for(ON, "door", 80, 640, 640), 640);
        z.settle(&cam, 80, 640, 640, vec![face(300.0)]);
        let off = ZoomSettings { face_px: 0.0, ..ON };
        assert_eq!(z.side_for(off, "door", 120, 640, 640), 640);
        assert!(z.side_for(ON, "door", 120, 640, 640) < 640);
        // A stream that starts again (time back) or ends starts at full size.
        assert_eq!(z.side_for(ON, "door", 10, 640, 640), 640);
        z.forget("door");
        assert_eq!(z.side_for(ON, "door", 160, 640, 640), 640);
    }

    #[test]
    fn a_face_walking_away_shrinks_the_reduction() {
        let cam: Arc<str> = "door".into();
        let mut z = Zoom::default();
        z.settle(&cam, 0, 640, 640, vec![face(400.0)]);
        let first = z.side_for(ON, "door", 40, 1280, 640);
        z.settle(&cam, 40, first, 640, vec![face(340.0)]);
        let next = z.side_for(ON, "door", 80, 1280, 640);
        assert!(next > first, "{first} → {next}");
    }
}
