//! The tracking stage: one tracker per camera, fed in each camera's frame order.

use std::collections::HashMap;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::Tracker;
use crate::config::TrackingConfig;
use crate::detect::Detection;
use crate::frame::Frame;
use crate::messages::{DetectedItem, TrackMsg};

/// One frame with the tracks visible in it (for annotated video output).
pub struct TrackedFrame {
    pub camera: Arc<str>,
    pub pts_ms: u64,
    pub frame: Arc<Frame>,
    pub tracks: Vec<(u64, Detection)>,
}

pub struct TrackStage {
    pub input: Receiver<DetectedItem>,
    pub out: Sender<TrackMsg>,
    pub cfg: TrackingConfig,
    pub tracked_frames: Option<Sender<TrackedFrame>>,
}

impl TrackStage {
    pub fn run(self) {
        let mut trackers: HashMap<Arc<str>, Tracker> = HashMap::new();
        let mut last_pts: HashMap<Arc<str>, u64> = HashMap::new();
        for item in self.input.iter() {
            let msgs = match item {
                DetectedItem::Frame { frame, faces } => {
                    let tracker = trackers
                        .entry(frame.camera.clone())
                        .or_insert_with(|| Tracker::new(frame.camera.clone(), self.cfg.clone()));
                    last_pts.insert(frame.camera.clone(), frame.pts_ms);
                    let msgs = tracker.step(frame.pts_ms, frame.wall_ms, faces, &frame.frame);
                    if let Some(tx) = &self.tracked_frames {
                        let _ = tx.send(TrackedFrame {
                            camera: frame.camera.clone(),
                            pts_ms: frame.pts_ms,
                            frame: frame.frame.clone(),
                            tracks: tracker.visible(frame.pts_ms),
                        });
                    }
                    msgs
                }
                DetectedItem::End { camera, pts_ms } => match trackers.remove(&camera) {
                    Some(mut t) => t.expire(pts_ms, true),
                    None => vec![],
                },
            };
            for m in msgs {
                if self.out.send(m).is_err() {
                    return;
                }
            }
        }
        // Input closed (shutdown): every open track ends.
        for (cam, mut t) in trackers {
            let pts = last_pts.get(&cam).copied().unwrap_or(0);
            for m in t.expire(pts, true) {
                let _ = self.out.send(m);
            }
        }
    }
}
