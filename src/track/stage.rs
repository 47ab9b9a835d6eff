//! The tracking stage: one tracker per camera, fed in each camera's frame order. It also runs live
//! liveness challenges: a request picks the camera's largest current track, and that track's face in
//! every frame goes to the analysis stage until the challenge's time is up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::messages::{AnalyzeItem, LiveFrame, LiveRequestMsg};
use super::Tracker;
use crate::base::clock::Clock;
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
    /// The console's live view: the latest tracked frame per camera.
    pub live_view: Option<Arc<super::live_view::LiveView>>,
    /// Liveness challenges from MQTT.
    pub live_requests: Option<Receiver<LiveRequestMsg>>,
    /// The embedder that settles doubtful likenesses (absent: the cheap signature decides).
    pub reid: Option<Box<dyn super::appearance::Reidentify>>,
    /// Decides when a challenge whose camera sent nothing has waited long enough.
    pub clock: Arc<dyn Clock>,
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
    /// When the request arrived, on the stage's clock.
    received: Duration,
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
                    if let Some(lv) = &self.live_view {
                        lv.offer(&frame.camera, frame.pts_ms, &frame.frame, &visible);
                    }
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
                let stalled = self.clock.now().saturating_sub(c.received)
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
                    received: self.clock.now(),
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

#[cfg(test)]
mod tests {
    //! The stage on synthetic detections and an injected clock: no model, no sleeping on time.

    use super::*;
    use crate::base::clock::ManualClock;
    use crate::ingest::frames::CameraFrame;
    use crate::track::messages::{TrackMsg, TrackPhase};
    use crate::track::tests::det;

    struct Running {
        input: Sender<DetectedItem>,
        requests: Sender<LiveRequestMsg>,
        out: Receiver<AnalyzeItem>,
        clock: Arc<ManualClock>,
        handle: std::thread::JoinHandle<()>,
    }

    fn start() -> Running {
        let (input, rx) = crossbeam_channel::unbounded();
        let (out_tx, out) = crossbeam_channel::unbounded();
        let (requests, req_rx) = crossbeam_channel::unbounded();
        let clock = Arc::new(ManualClock::default());
        let stage = TrackStage {
            input: rx,
            out: out_tx,
            cfg: TrackingConfig {
                min_hits: 2,
                ..TrackingConfig::default()
            },
            tracked_frames: None,
            live_view: None,
            live_requests: Some(req_rx),
            reid: None,
            clock: clock.clone(),
        };
        let handle = std::thread::spawn(move || stage.run());
        Running {
            input,
            requests,
            out,
            clock,
            handle,
        }
    }

    fn frame(camera: &str, pts_ms: u64, faces: Vec<Detection>) -> DetectedItem {
        DetectedItem::Frame {
            frame: CameraFrame {
                camera: Arc::from(camera),
                seq: pts_ms / 100,
                pts_ms,
                wall_ms: 1_000_000 + pts_ms,
                frame: Arc::new(Frame::new(64, 48, vec![90; 64 * 48 * 3]).expect("frame")),
            },
            faces,
        }
    }

    fn next(r: &Running) -> AnalyzeItem {
        r.out
            .recv_timeout(Duration::from_secs(5))
            .expect("the stage answers")
    }

    /// One face moving slowly on one camera is one track: start once it has `min_hits`
    /// detections, and end (with the same id) when the stream ends.
    #[test]
    fn a_steady_face_is_one_track_from_start_to_end() {
        let r = start();
        for i in 0..5u64 {
            r.input
                .send(frame(
                    "door",
                    i * 100,
                    vec![det(10.0 + i as f32, 10.0, 20.0)],
                ))
                .expect("send");
        }
        r.input
            .send(DetectedItem::End {
                camera: Arc::from("door"),
                pts_ms: 500,
            })
            .expect("send");
        drop(r.input);
        let msgs: Vec<TrackMsg> = r
            .out
            .iter()
            .filter_map(|m| match m {
                AnalyzeItem::Track(t) => Some(t),
                AnalyzeItem::Live(_) => None,
            })
            .collect();
        r.handle.join().expect("stage thread");
        let starts: Vec<_> = msgs
            .iter()
            .filter(|m| m.phase == TrackPhase::Start)
            .collect();
        let ends: Vec<_> = msgs.iter().filter(|m| m.phase == TrackPhase::End).collect();
        assert_eq!((starts.len(), ends.len()), (1, 1), "{msgs:?}");
        assert_eq!(starts[0].track_id, ends[0].track_id);
        assert!(msgs.iter().all(|m| &*m.camera == "door"));
        assert_eq!(ends[0].hits, 5);
    }

    /// A challenge for a camera that sends nothing is answered "camera silent" once its timeout
    /// plus the grace has passed on the stage's clock — not before.
    #[test]
    fn a_challenge_on_a_silent_camera_is_answered_after_its_timeout() {
        let r = start();
        r.requests
            .send(LiveRequestMsg {
                camera: "gate".into(),
                request_id: "r1".into(),
                request: crate::analyze::liveness::Request::parse("1", None, 10.0)
                    .map_err(|e| e.problem()),
                timeout_ms: 2000,
            })
            .expect("send");
        // Let the stage take the request (it looks every IDLE_TICK).
        std::thread::sleep(IDLE_TICK * 2);
        r.clock.advance(Duration::from_millis(4000));
        assert!(
            r.out.recv_timeout(IDLE_TICK * 3).is_err(),
            "4 s < 2 s timeout + 3 s grace: still waiting"
        );
        r.clock.advance(Duration::from_millis(1000));
        match next(&r) {
            AnalyzeItem::Live(l) => {
                assert_eq!(l.request_id, "r1");
                let p = l.error.expect("an error answer");
                assert_eq!(p.kind, ErrorKind::CameraSilent, "{p}");
                assert!(p.message.contains("gate"), "{p}");
            }
            other => panic!("{other:?}"),
        }
        drop(r.input);
        r.handle.join().expect("stage thread");
    }

    /// An invalid request is answered at once with its problem, whatever the camera does.
    #[test]
    fn an_invalid_challenge_is_answered_at_once() {
        let r = start();
        r.requests
            .send(LiveRequestMsg {
                camera: "gate".into(),
                request_id: "bad".into(),
                request: Err(Problem::new(ErrorKind::BadTimeout, "timeout_ms must be …")),
                timeout_ms: 500,
            })
            .expect("send");
        r.input.send(frame("gate", 0, vec![])).expect("send");
        match next(&r) {
            AnalyzeItem::Live(l) => {
                assert_eq!(l.error.map(|p| p.kind), Some(ErrorKind::BadTimeout));
            }
            other => panic!("{other:?}"),
        }
        drop(r.input);
        r.handle.join().expect("stage thread");
    }
}
