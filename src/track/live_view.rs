//! The latest tracked frame of each camera, for the console's live view. The track stage leaves a
//! frame here at most `console.live_fps` times a second (an `Arc` clone, no copy); it is drawn and
//! encoded only when someone looks (`jpeg`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::detect::Detection;
use crate::frame::Frame;

struct Latest {
    pts_ms: u64,
    frame: Arc<Frame>,
    tracks: Vec<(u64, Detection)>,
}

pub struct LiveView {
    every_ms: u64,
    latest: Mutex<HashMap<String, Latest>>,
}

impl LiveView {
    pub fn new(fps: f64) -> Self {
        Self {
            every_ms: (1000.0 / fps.max(0.01)) as u64,
            latest: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps `frame` as the camera's latest unless one was kept less than a period ago.
    pub fn offer(
        &self,
        camera: &str,
        pts_ms: u64,
        frame: &Arc<Frame>,
        tracks: &[(u64, Detection)],
    ) {
        let mut m = self
            .latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = m
            .get(camera)
            .is_none_or(|l| pts_ms < l.pts_ms || pts_ms - l.pts_ms >= self.every_ms);
        if due {
            m.insert(
                camera.to_string(),
                Latest {
                    pts_ms,
                    frame: frame.clone(),
                    tracks: tracks.to_vec(),
                },
            );
        }
    }

    /// Forgets a camera that stopped.
    pub fn forget(&self, camera: &str) {
        self.latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(camera);
    }

    /// The camera's latest frame with its tracks drawn, as JPEG; `None` before its first frame.
    pub fn jpeg(&self, camera: &str) -> Option<Vec<u8>> {
        let (frame, tracks) = {
            let m = self
                .latest
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let l = m.get(camera)?;
            (l.frame.clone(), l.tracks.clone())
        };
        let mut canvas = (*frame).clone();
        let s = crate::draw::stroke_for(&canvas);
        for (id, d) in &tracks {
            crate::draw::rect(&mut canvas, d.x, d.y, d.w, d.h, s, crate::draw::GREEN);
            let y = (d.y - 8.0 * s as f32 - 4.0).max(0.0);
            crate::draw::label(
                &mut canvas,
                d.x,
                y,
                &format!("#{id}"),
                s,
                crate::draw::WHITE,
            );
        }
        crate::draw::jpeg_bytes(canvas)
    }
}
