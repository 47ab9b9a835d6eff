//! The tracking stage: one tracker per camera, fed in each camera's frame order. It also runs live
//! liveness challenges: a request picks the camera's largest current track, and that track's face in
//! every frame goes to the analysis stage until the challenge's time is up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::messages::{AnalyzeItem, LiveFrame, LiveRequestMsg};
use super::Tracker;
use crate::base::error::{ErrorKind, Problem};
use crate::config::TrackingConfig;
use crate::detect::stage::DetectedItem;
use crate::detect::Detection;
use crate::frame::Frame;

/// One frame with the tracks visible in it (for annotated video output).
pub struct TrackedFrame {
    pub camera: Arc<str>,
    pub pts_ms: u64,
    pub frame: Arc<Frame>,
    pub tracks: Vec<(u64, Detection)>,
}

pub struct TrackStage {
    pub input: Receiver<DetectedItem>,
    pub out: Sender<AnalyzeItem>,
    pub cfg: TrackingConfig,
    pub tracked_frames: Option<Sender<TrackedFrame>>,
    /// Liveness challenges from MQTT.
    pub live_requests: Option<Receiver<LiveRequestMsg>>,
    /// The embedder that settles doubtful likenesses (absent: the cheap signature decides).
    pub reid: Option<Box<dyn super::appearance::Reidentify>>,
}

/// Wall-clock slack past a challenge's timeout before it is decided without waiting any longer
/// for its camera's frames: a camera that is down, stalled or not configured still gets an answer.
const STALLED_CHALLENGE_GRACE: Duration = Duration::from_secs(3);
/// How long the stage waits for frames before it looks at stalled challenges again.
const IDLE_TICK: Duration = Duration::from_millis(250);

struct Challenge {
    camera: Arc<str>,
    request_id: String,
    request: crate::analyze::liveness::Request,
    timeout_ms: u64,
    start_pts: Option<u64>,
    track: Option<u64>,
    received: Instant,
}

impl Challenge {
    fn frame(
        &self,
        t_ms: u64,
        frame: Option<Arc<Frame>>,
        detection: Option<Detection>,
        done: bool,
    ) -> AnalyzeItem {
        AnalyzeItem::Live(LiveFrame {
            camera: self.camera.clone(),
            request_id: self.request_id.clone(),
            track_id: self.track,
            t_ms,
            frame,
            detection,
            done: done.then(|| self.request.clone()),
            error: None,
        })
    }

    /// The answer to a challenge whose camera stopped sending frames: decided on what it saw, or
    /// an error when it saw no frame at all.
    fn stalled(&self) -> AnalyzeItem {
        if self.start_pts.is_none() {
            return AnalyzeItem::Live(LiveFrame {
                camera: self.camera.clone(),
                request_id: self.request_id.clone(),
                track_id: None,
                t_ms: 0,
                frame: None,
                detection: None,
                done: None,
                error: Some(Problem::new(
                    ErrorKind::CameraSilent,
                    format!(
                        "camera {:?} sent no frame during the challenge (not configured, down or stalled)",
                        self.camera
                    ),
                )),
            });
        }
        self.frame(self.timeout_ms, None, None, true)
    }
}

impl TrackStage {
    pub fn run(mut self) {
        let mut trackers: HashMap<Arc<str>, Tracker> = HashMap::new();
        let mut last_pts: HashMap<Arc<str>, u64> = HashMap::new();
        let mut challenges: Vec<Challenge> = vec![];
        loop {
            let item = match self.input.recv_timeout(IDLE_TICK) {
                Ok(item) => Some(item),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            self.take_requests(&mut challenges);
            let mut out: Vec<AnalyzeItem> = vec![];
            match item {
                None => {}
                Some(DetectedItem::Frame { frame, faces }) => {
                    let tracker = trackers
                        .entry(frame.camera.clone())
                        .or_insert_with(|| Tracker::new(frame.camera.clone(), self.cfg.clone()));
                    last_pts.insert(frame.camera.clone(), frame.pts_ms);
                    out.extend(
                        tracker
                            .step_with(
                                frame.pts_ms,
                                frame.wall_ms,
                                faces,
                                &frame.frame,
                                &mut self.reid,
                            )
                            .into_iter()
                            .map(AnalyzeItem::Track),
                    );
                    let visible = tracker.visible(frame.pts_ms);
                    if let Some(tx) = &self.tracked_frames {
                        let _ = tx.send(TrackedFrame {
                            camera: frame.camera.clone(),
                            pts_ms: frame.pts_ms,
                            frame: frame.frame.clone(),
                            tracks: visible.clone(),
                        });
                    }
                    challenges.retain_mut(|c| {
                        if c.camera != frame.camera {
                            return true;
                        }
                        let start = *c.start_pts.get_or_insert(frame.pts_ms);
                        let t = frame.pts_ms.saturating_sub(start);
                        if c.track.is_none() {
                            // The subject: the largest face being tracked when the challenge starts.
                            c.track = visible
                                .iter()
                                .max_by(|a, b| a.1.area().total_cmp(&b.1.area()))
                                .map(|(id, _)| *id);
                        }
                        let det = c.track.and_then(|id| {
                            visible
                                .iter()
                                .find(|(v, _)| *v == id)
                                .map(|(_, d)| d.clone())
                        });
                        let done = t >= c.timeout_ms;
                        out.push(c.frame(t, Some(frame.frame.clone()), det, done));
                        !done
                    });
                }
                Some(DetectedItem::End { camera, pts_ms }) => {
                    out.extend(
                        trackers
                            .remove(&camera)
                            .map(|mut t| t.expire(pts_ms, true))
                            .unwrap_or_default()
                            .into_iter()
                            .map(AnalyzeItem::Track),
                    );
                    challenges.retain(|c| {
                        if c.camera != camera {
                            return true;
                        }
                        let t = c.start_pts.map(|s| pts_ms.saturating_sub(s)).unwrap_or(0);
                        out.push(c.frame(t, None, None, true));
                        false
                    });
                }
            }
            challenges.retain(|c| {
                let stalled = c.received.elapsed()
                    >= Duration::from_millis(c.timeout_ms) + STALLED_CHALLENGE_GRACE;
                if stalled {
                    out.push(c.stalled());
                }
                !stalled
            });
            for m in out {
                if self.out.send(m).is_err() {
                    return;
                }
            }
        }
        // Input closed (shutdown): every open track ends; open challenges are decided on what they saw.
        for (cam, mut t) in trackers {
            let pts = last_pts.get(&cam).copied().unwrap_or(0);
            for m in t.expire(pts, true) {
                let _ = self.out.send(AnalyzeItem::Track(m));
            }
        }
        for c in &challenges {
            let _ = self.out.send(c.frame(0, None, None, true));
        }
    }

    fn take_requests(&self, challenges: &mut Vec<Challenge>) {
        let Some(rx) = &self.live_requests else {
            return;
        };
        for r in rx.try_iter() {
            match r.request {
                Ok(request) => challenges.push(Challenge {
                    camera: Arc::from(r.camera.as_str()),
                    request_id: r.request_id,
                    request,
                    timeout_ms: r.timeout_ms,
                    start_pts: None,
                    track: None,
                    received: Instant::now(),
                }),
                Err(e) => {
                    let _ = self.out.send(AnalyzeItem::Live(LiveFrame {
                        camera: Arc::from(r.camera.as_str()),
                        request_id: r.request_id,
                        track_id: None,
                        t_ms: 0,
                        frame: None,
                        detection: None,
                        done: None,
                        error: Some(e),
                    }));
                }
            }
        }
    }
}
