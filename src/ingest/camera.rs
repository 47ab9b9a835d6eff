//! One camera: open its source, pull frames, watch for silence, and reconnect with exponential
//! backoff (gst-plugins-rs `fallbacksrc` style status). `run()` loops over a fallible `run_once()`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::frames::{CameraFrame, CameraStatus, IngestItem, StatusEvent, StatusSink};
use super::queue::{FrameQueue, Pushed};
use crate::base::clock::Clock;
use crate::config::{CameraConfig, PipelineConfig};
use crate::frame::Frame;
use crate::metrics::{CameraFailed, FramesDropped, Metrics};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot open {}: {message}", super::cause::mask_uri(uri))]
    Open { uri: String, message: String },
    #[error("stream error: {0}")]
    Stream(String),
    #[error("no frame for {0} ms")]
    NoFrames(u64),
    #[error("the stream ended (server gone?)")]
    UnexpectedEnd,
}

/// One pull from a source.
pub enum Pulled {
    Frame { frame: Frame, pts_ms: u64 },
    Timeout,
    Eos,
}

pub trait FrameSource: Send {
    fn pull(&mut self, timeout: Duration) -> Result<Pulled, IngestError>;

    /// Starts the stream again from its beginning after an end of stream, keeping the source open
    /// (a looping file then plays on without a gap). False when the source cannot: it is reopened.
    fn rewind(&mut self) -> bool {
        false
    }
}

pub trait SourceOpener: Send {
    fn open(&mut self, settings: &CameraSettings) -> Result<Box<dyn FrameSource>, IngestError>;
}

/// Settings of one camera, kept apart from its runtime state.
#[derive(Debug, Clone)]
pub struct CameraSettings {
    pub id: Arc<str>,
    pub uri: String,
    pub detect_fps: f32,
    pub looping: bool,
    pub width: u32,
    pub no_frame_timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub rtsp_latency_ms: u32,
    /// Pace file playback in real time (a file standing in for a camera); off for offline analysis.
    pub realtime: bool,
    /// How often a running camera republishes its status with fresh rates.
    pub status_interval: Duration,
    /// Threads of its software decoder (0: chosen by the stream's size: one up to 1280×720, else
    /// FFmpeg's own, one per core).
    pub decoder_threads: u32,
}

impl CameraSettings {
    pub fn new(c: &CameraConfig, p: &PipelineConfig, realtime: bool) -> Self {
        Self {
            id: Arc::from(c.id.as_str()),
            uri: c.uri.clone(),
            detect_fps: c.detect_fps,
            looping: c.looping,
            width: p.ingest_width,
            no_frame_timeout: Duration::from_millis(p.no_frame_timeout_ms),
            backoff_initial: Duration::from_millis(p.backoff_initial_ms),
            backoff_max: Duration::from_millis(p.backoff_max_ms),
            rtsp_latency_ms: p.rtsp_latency_ms,
            realtime,
            status_interval: Duration::from_secs(10),
            decoder_threads: p.decoder_threads.unwrap_or(0),
        }
    }

    pub fn is_live(&self) -> bool {
        self.uri.starts_with("rtsp://") || self.uri.starts_with("rtsps://")
    }
}

enum Finish {
    Stopped,
    Ended,
    /// A looping file reached its end: reopen at once.
    Loop,
}

pub struct Camera {
    pub settings: CameraSettings,
    pub opener: Box<dyn SourceOpener>,
    pub clock: Arc<dyn Clock>,
    pub queue: Arc<FrameQueue>,
    pub status_out: StatusSink,
    pub metrics: Arc<Metrics>,
    pub stop: Arc<AtomicBool>,
    status: CameraStatus,
    seq: u64,
    /// Stream time carried over loops and reconnects so timestamps never go back.
    pts_offset: u64,
    last_pts: u64,
    rate: Rate,
    rate_out: Rate,
    /// Which frames go to detection (`detect_fps`): kept across a looping file's reopening, so
    /// each round does not start a grid of its own.
    grid: DetectGrid,
}

impl Camera {
    pub fn new(
        settings: CameraSettings,
        opener: Box<dyn SourceOpener>,
        clock: Arc<dyn Clock>,
        queue: Arc<FrameQueue>,
        status_out: StatusSink,
        metrics: Arc<Metrics>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        Self {
            settings,
            opener,
            clock,
            queue,
            status_out,
            metrics,
            stop,
            status: CameraStatus::Stopped,
            seq: 0,
            pts_offset: 0,
            last_pts: 0,
            rate: Rate::default(),
            rate_out: Rate::default(),
            grid: DetectGrid::new(0.0),
        }
    }

    pub fn run(mut self) {
        let mut backoff = self.settings.backoff_initial;
        let mut looped = false;
        loop {
            if self.stopping() {
                break;
            }
            // A file reopened to loop is not an outage: it stays running, and its stream time
            // and detect_fps grid go on. A new stream (first open, after an outage) starts a grid.
            if !looped {
                self.set_status(CameraStatus::Buffering, None, None);
                self.grid = DetectGrid::new(self.settings.detect_fps);
            }
            looped = false;
            match self.run_once(&mut backoff) {
                Ok(Finish::Stopped) => break,
                Ok(Finish::Loop) => looped = true,
                Ok(Finish::Ended) => {
                    self.set_status(CameraStatus::Ended, None, None);
                    self.queue.push(
                        IngestItem::End {
                            camera: self.settings.id.clone(),
                            pts_ms: self.last_pts,
                        },
                        &self.stop,
                    );
                    return;
                }
                Err(e) => {
                    let msg = e.to_string();
                    let wait = backoff;
                    CameraFailed {
                        camera: &self.settings.id,
                        error: &msg,
                        retry_in_ms: wait.as_millis() as u64,
                    }
                    .emit(&self.metrics);
                    self.set_status(
                        CameraStatus::Retrying,
                        Some(msg),
                        Some(wait.as_millis() as u64),
                    );
                    self.clock.sleep(wait, &self.stop);
                    backoff = (backoff * 2).min(self.settings.backoff_max);
                }
            }
        }
        self.set_status(CameraStatus::Stopped, None, None);
        self.queue.push(
            IngestItem::End {
                camera: self.settings.id.clone(),
                pts_ms: self.last_pts,
            },
            &self.stop,
        );
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn run_once(&mut self, backoff: &mut Duration) -> Result<Finish, IngestError> {
        let mut source = self.opener.open(&self.settings)?;
        let mut last_frame = self.clock.now();
        let mut last_status = self.clock.now();
        let mut base = self.pts_offset;
        loop {
            if self.stopping() {
                return Ok(Finish::Stopped);
            }
            match source.pull(Duration::from_millis(200))? {
                Pulled::Frame { frame, pts_ms } => {
                    let now = self.clock.now();
                    last_frame = now;
                    if self.status != CameraStatus::Running {
                        *backoff = self.settings.backoff_initial;
                        self.set_status(CameraStatus::Running, None, None);
                        last_status = now;
                    }
                    let pts = base + pts_ms;
                    self.last_pts = self.last_pts.max(pts);
                    self.pts_offset = self.last_pts + 1;
                    let counters = self.metrics.camera(&self.settings.id);
                    counters.frames_in.fetch_add(1, Ordering::Relaxed);
                    counters.last_pts_ms.store(pts, Ordering::Relaxed);
                    self.rate.tick(now);
                    if !self.grid.keep(pts) {
                        continue;
                    }
                    self.seq += 1;
                    let item = IngestItem::Frame(CameraFrame {
                        camera: self.settings.id.clone(),
                        seq: self.seq,
                        pts_ms: pts,
                        wall_ms: self.clock.wall_ms(),
                        frame: Arc::new(frame),
                    });
                    match self.queue.push(item, &self.stop) {
                        Pushed::DroppedOldest | Pushed::DroppedNewest => FramesDropped {
                            camera: &self.settings.id,
                            count: 1,
                        }
                        .emit(&self.metrics),
                        Pushed::Stopped => return Ok(Finish::Stopped),
                        Pushed::Queued | Pushed::Replaced => self.rate_out.tick(now),
                    }
                    counters
                        .queue_depth
                        .store(self.queue.len() as u64, Ordering::Relaxed);
                    if now.saturating_sub(last_status) >= self.settings.status_interval {
                        last_status = now;
                        self.publish_status(None, None);
                    }
                }
                Pulled::Timeout => {
                    let silent = self.clock.now().saturating_sub(last_frame);
                    if silent >= self.settings.no_frame_timeout {
                        return Err(IngestError::NoFrames(silent.as_millis() as u64));
                    }
                }
                Pulled::Eos => {
                    if self.settings.is_live() {
                        return Err(IngestError::UnexpectedEnd);
                    }
                    if self.settings.looping && source.rewind() {
                        // Stream time goes on from where the last round ended, and so does
                        // the detect_fps grid.
                        base = self.pts_offset;
                        continue;
                    }
                    return Ok(if self.settings.looping {
                        Finish::Loop
                    } else {
                        Finish::Ended
                    });
                }
            }
        }
    }

    fn set_status(
        &mut self,
        status: CameraStatus,
        error: Option<String>,
        retry_in_ms: Option<u64>,
    ) {
        if status == self.status && error.is_none() {
            return;
        }
        self.status = status;
        let counters = self.metrics.camera(&self.settings.id);
        counters
            .online
            .store((status == CameraStatus::Running) as u64, Ordering::Relaxed);
        *counters
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = status.as_str();
        tracing::info!(
            camera = &*self.settings.id,
            status = status.as_str(),
            "camera status"
        );
        self.publish_status(error, retry_in_ms);
    }

    fn publish_status(&mut self, error: Option<String>, retry_in_ms: Option<u64>) {
        let c = self.metrics.camera(&self.settings.id);
        let now = self.clock.now();
        let ev = StatusEvent {
            camera: self.settings.id.to_string(),
            status: self.status,
            online: self.status == CameraStatus::Running,
            fps_in: self.rate.per_second(now),
            fps_out: self.rate_out.per_second(now),
            dropped_frames: c.frames_dropped.load(Ordering::Relaxed),
            error,
            retry_in_ms,
            wall_time_ms: self.clock.wall_ms(),
        };
        // Status events are never dropped: this blocks if the publish stage is behind.
        (self.status_out)(ev);
    }
}

/// `detect_fps`: which frames go to detection, on a regular grid of stream time whatever the
/// camera's own rate (a frame up to a quarter step early counts for its slot: timestamps jitter).
#[derive(Debug, Clone)]
pub struct DetectGrid {
    /// ms between slots; 0: every frame.
    step: u64,
    next_due: Option<u64>,
}

impl DetectGrid {
    pub fn new(detect_fps: f32) -> Self {
        let step = if detect_fps > 0.0 {
            (1000.0 / detect_fps) as u64
        } else {
            0
        };
        Self {
            step,
            next_due: None,
        }
    }

    /// Whether the frame at `pts` (ms of stream time) is detected.
    pub fn keep(&mut self, pts: u64) -> bool {
        let step = self.step;
        if step == 0 {
            return true;
        }
        self.next_due = Some(match self.next_due {
            // Earlier than the frame that took the last slot could be: the stream's time went
            // back (a source restarting its timestamps). The grid starts again here instead of
            // skipping every frame until time comes back to where it was.
            Some(due) if pts + step + step / 4 < due => pts + step,
            Some(due) if pts + step / 4 < due => return false,
            // The next slot, not a step after this frame: a frame let through early would move
            // the grid earlier each time (a 25-fps camera at 10 was detected at 12.5 a second).
            Some(due) if pts < due + step => due + step,
            // The first frame, or after a gap: the grid starts again here.
            _ => pts + step,
        });
        true
    }
}

/// Frames per second over the last few seconds.
#[derive(Default)]
struct Rate {
    times: std::collections::VecDeque<Duration>,
}

impl Rate {
    fn tick(&mut self, now: Duration) {
        self.times.push_back(now);
        while self
            .times
            .front()
            .is_some_and(|t| now.saturating_sub(*t) > Duration::from_secs(5))
        {
            self.times.pop_front();
        }
    }

    fn per_second(&self, now: Duration) -> f32 {
        match self.times.front() {
            Some(first) if self.times.len() > 1 => {
                let span = now.saturating_sub(*first).as_secs_f32().max(1e-3);
                (self.times.len() - 1) as f32 / span
            }
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    //! The reconnect state machine on an injected clock: deterministic, no sleeping.
    use super::*;
    use crate::base::clock::ManualClock;
    use crate::config::WhenFull;
    use crate::ingest::queue::FrameQueues;

    /// Scripted source behaviour per open attempt.
    enum Script {
        FailOpen,
        /// `n` frames 40 ms apart, then silence forever.
        FramesThenSilence(u32),
        /// `n` frames, then end of stream.
        FramesThenEos(u32),
        /// `n` frames and end of stream, `rounds` times: the source rewinds in place in between.
        Rewinding(u32, u32),
        /// `n` frames this many ms apart, then end of stream.
        FramesEvery(u32, u64),
    }

    struct Opener {
        scripts: std::collections::VecDeque<Script>,
        clock: Arc<ManualClock>,
        stop: Arc<AtomicBool>,
    }

    struct Src {
        left: u32,
        eos: bool,
        pts: u64,
        clock: Arc<ManualClock>,
        per_round: u32,
        rewinds_left: u32,
        every_ms: u64,
    }

    impl FrameSource for Src {
        fn pull(&mut self, timeout: Duration) -> Result<Pulled, IngestError> {
            if self.left > 0 {
                self.left -= 1;
                self.pts += self.every_ms;
                self.clock.advance(Duration::from_millis(self.every_ms));
                return Ok(Pulled::Frame {
                    frame: Frame::new(2, 2, vec![0; 12]).unwrap(),
                    pts_ms: self.pts,
                });
            }
            if self.eos {
                return Ok(Pulled::Eos);
            }
            self.clock.advance(timeout);
            Ok(Pulled::Timeout)
        }

        fn rewind(&mut self) -> bool {
            if self.rewinds_left == 0 {
                return false;
            }
            self.rewinds_left -= 1;
            self.left = self.per_round;
            self.pts = 0;
            true
        }
    }

    fn src(left: u32, eos: bool, rewinds_left: u32, clock: Arc<ManualClock>) -> Box<Src> {
        Box::new(Src {
            left,
            eos,
            pts: 0,
            clock,
            per_round: left,
            rewinds_left,
            every_ms: 40,
        })
    }

    impl SourceOpener for Opener {
        fn open(&mut self, _: &CameraSettings) -> Result<Box<dyn FrameSource>, IngestError> {
            let clock = self.clock.clone();
            match self.scripts.pop_front() {
                None => {
                    self.stop.store(true, Ordering::SeqCst);
                    Err(IngestError::Open {
                        uri: "x".into(),
                        message: "script over".into(),
                    })
                }
                Some(Script::FailOpen) => Err(IngestError::Open {
                    uri: "x".into(),
                    message: "refused".into(),
                }),
                Some(Script::FramesThenSilence(n)) => Ok(src(n, false, 0, clock)),
                Some(Script::FramesThenEos(n)) => Ok(src(n, true, 0, clock)),
                Some(Script::Rewinding(n, rounds)) => {
                    Ok(src(n, true, rounds.saturating_sub(1), clock))
                }
                Some(Script::FramesEvery(n, ms)) => {
                    let mut s = src(n, true, 0, clock);
                    s.every_ms = ms;
                    Ok(s)
                }
            }
        }
    }

    fn run(uri: &str, looping: bool, scripts: Vec<Script>) -> (Vec<StatusEvent>, Vec<IngestItem>) {
        run_at(uri, looping, 0.0, scripts)
    }

    fn run_at(
        uri: &str,
        looping: bool,
        detect_fps: f32,
        scripts: Vec<Script>,
    ) -> (Vec<StatusEvent>, Vec<IngestItem>) {
        let clock = Arc::new(ManualClock::default());
        let stop = Arc::new(AtomicBool::new(false));
        let queues = FrameQueues::default();
        let queue = queues.add(Arc::from("cam"), 1000, WhenFull::Block);
        let (tx, rx) = crossbeam_channel::unbounded();
        let cfg = PipelineConfig {
            backoff_initial_ms: 500,
            backoff_max_ms: 2000,
            no_frame_timeout_ms: 3000,
            ..PipelineConfig::default()
        };
        let cam = CameraConfig {
            id: "cam".into(),
            uri: uri.into(),
            detect_fps,
            enabled: true,
            looping,
            face_sets: vec![],
        };
        let opener = Opener {
            scripts: scripts.into(),
            clock: clock.clone(),
            stop: stop.clone(),
        };
        Camera::new(
            CameraSettings::new(&cam, &cfg, false),
            Box::new(opener),
            clock,
            queue.clone(),
            Box::new(move |ev| {
                let _ = tx.send(ev);
            }),
            Arc::new(Metrics::default()),
            stop,
        )
        .run();
        let statuses = rx.try_iter().collect();
        let items = std::iter::from_fn(|| queue.pop()).collect();
        (statuses, items)
    }

    /// Frames a camera's full queue lets go (`DropOldest`, 2 frames, 6 sent): counted as dropped
    /// once detection reads, not while the daemon is still opening its models.
    fn dropped(detecting: bool) -> u64 {
        let clock = Arc::new(ManualClock::default());
        let stop = Arc::new(AtomicBool::new(false));
        let queues = FrameQueues::default();
        if detecting {
            queues.start_detecting();
        }
        let queue = queues.add(Arc::from("cam"), 2, WhenFull::DropOldest);
        let cam = CameraConfig {
            id: "cam".into(),
            uri: "x.mp4".into(),
            detect_fps: 0.0,
            enabled: true,
            looping: false,
            face_sets: vec![],
        };
        let opener = Opener {
            scripts: vec![Script::FramesThenEos(6)].into(),
            clock: clock.clone(),
            stop: stop.clone(),
        };
        let metrics = Arc::new(Metrics::default());
        Camera::new(
            CameraSettings::new(&cam, &PipelineConfig::default(), false),
            Box::new(opener),
            clock,
            queue,
            Box::new(|_| {}),
            metrics.clone(),
            stop,
        )
        .run();
        metrics.camera("cam").frames_dropped.load(Ordering::Relaxed)
    }

    #[test]
    fn frames_let_go_before_detection_starts_are_not_counted_as_dropped() {
        assert_eq!(dropped(false), 0);
        assert_eq!(dropped(true), 4);
    }

    /// The statuses published before the first retry.
    fn until_retrying(st: &[StatusEvent]) -> Vec<&str> {
        st.iter()
            .map(|s| s.status.as_str())
            .take_while(|s| *s != "retrying")
            .collect()
    }

    fn frame_pts(items: &[IngestItem]) -> Vec<u64> {
        items
            .iter()
            .filter_map(|i| match i {
                IngestItem::Frame(f) => Some(f.pts_ms),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets_after_frames_arrive() {
        use Script::*;
        let (st, items) = run(
            "rtsp://cam",
            false,
            vec![
                FailOpen,
                FailOpen,
                FailOpen,
                FailOpen,
                FramesThenSilence(5),
                FailOpen,
            ],
        );
        let retries: Vec<u64> = st
            .iter()
            .filter(|s| s.status.as_str() == "retrying")
            .filter_map(|s| s.retry_in_ms)
            .collect();
        // 500, 1000, 2000, 2000 (cap); then frames reset it: the silence after them retries at 500 again.
        assert_eq!(retries[..6], [500, 1000, 2000, 2000, 500, 1000]);
        let seq: Vec<&str> = st.iter().map(|s| s.status.as_str()).collect();
        assert!(
            seq.windows(2).any(|w| w == ["buffering", "running"]),
            "{seq:?}"
        );
        // The silent stream is detected by the watchdog, not by waiting forever.
        assert!(
            st.iter().any(|s| s
                .error
                .as_deref()
                .is_some_and(|e| e.starts_with("no frame for"))),
            "{seq:?}"
        );
        assert_eq!(
            items
                .iter()
                .filter(|i| matches!(i, IngestItem::Frame(_)))
                .count(),
            5
        );
        assert!(matches!(items.last(), Some(IngestItem::End { .. })));
    }

    #[test]
    fn a_file_ends_cleanly_or_loops_with_rising_timestamps_and_an_rtsp_eos_is_a_failure() {
        use Script::*;
        let (st, items) = run("/videos/a.mp4", false, vec![FramesThenEos(3)]);
        assert_eq!(st.last().map(|s| s.status.as_str()), Some("ended"));
        assert!(!st.iter().any(|s| s.status.as_str() == "retrying"));
        assert_eq!(items.len(), 4, "3 frames and the end marker");

        let (st, items) = run(
            "/videos/a.mp4",
            true,
            vec![FramesThenEos(3), FramesThenEos(3)],
        );
        let pts = frame_pts(&items);
        assert_eq!(pts.len(), 6);
        assert!(
            pts.windows(2).all(|w| w[1] > w[0]),
            "looped timestamps keep rising: {pts:?}"
        );
        assert!(!st.iter().any(|s| s.status.as_str() == "retrying"
            && s.error.as_deref() != Some("cannot open x: script over")));
        // Reopened to loop, the file never looked offline: one buffering, one running.
        assert_eq!(until_retrying(&st), ["buffering", "running"], "{st:?}");

        // A source that rewinds in place: three rounds from one open, timestamps still rising.
        let (st, items) = run("/videos/a.mp4", true, vec![Rewinding(3, 3)]);
        let pts = frame_pts(&items);
        assert_eq!(pts.len(), 9);
        assert!(pts.windows(2).all(|w| w[1] > w[0]), "{pts:?}");
        assert_eq!(until_retrying(&st), ["buffering", "running"], "{st:?}");

        let (st, _) = run("rtsp://cam", false, vec![FramesThenEos(2)]);
        assert!(st.iter().any(|s| s.status.as_str() == "retrying"
            && s.error.as_deref().is_some_and(|e| e.contains("ended"))));
    }

    /// A stream whose time goes back keeps being detected (before: nothing until its time came
    /// back to where it had been — for a source restarting its timestamps, possibly hours).
    #[test]
    fn detect_fps_survives_time_going_back() {
        let mut grid = DetectGrid::new(10.0);
        let kept: Vec<u64> = (0..20u64)
            .map(|i| 3_600_000 + i * 40)
            .chain((0..20u64).map(|i| i * 40))
            .filter(|&pts| grid.keep(pts))
            .collect();
        assert_eq!(
            kept,
            [
                3_600_000, 3_600_080, 3_600_200, 3_600_280, 3_600_400, 3_600_480, 3_600_600,
                3_600_680
            ]
            .into_iter()
            .chain([0, 80, 200, 280, 400, 480, 600, 680])
            .collect::<Vec<_>>()
        );
    }

    /// `detect_fps` is what reaches detection whatever the camera's own rate: before, a frame
    /// let through early by the jitter tolerance moved the grid earlier, so a 12-fps camera at
    /// `detect_fps = 10` was detected at 12 a second, a 25-fps one at 12.5 and a 15-fps one at 7.5.
    #[test]
    fn detect_fps_is_kept_whatever_the_camera_rate() {
        for every_ms in [20u64, 33, 40, 50, 67, 83, 90, 100, 200] {
            let frames = (10_000 / every_ms) as u32;
            let (_, items) = run_at(
                "file:///x.mp4",
                false,
                10.0,
                vec![Script::FramesEvery(frames, every_ms)],
            );
            let kept = items
                .iter()
                .filter(|i| matches!(i, IngestItem::Frame(_)))
                .count() as f64;
            let camera_fps = 1000.0 / every_ms as f64;
            let want = 10.0 * camera_fps.min(10.0);
            assert!(
                (kept - want).abs() <= 1.0,
                "a {camera_fps:.1}-fps camera at detect_fps 10 for 10 s: {kept} frames detected, want {want}"
            );
        }
        // A looping file keeps the grid across its rounds (25 fps, 20 rounds of 13 frames, 10.4
        // s): before, each round started a grid of its own and gave a frame more — whether its
        // source rewinds in place or is reopened for each round.
        let reopened = (0..20).map(|_| Script::FramesThenEos(13)).collect();
        for (how, scripts) in [
            ("rewound", vec![Script::Rewinding(13, 20)]),
            ("reopened", reopened),
        ] {
            let (_, items) = run_at("/videos/a.mp4", true, 10.0, scripts);
            let kept = items
                .iter()
                .filter(|i| matches!(i, IngestItem::Frame(_)))
                .count();
            assert!(
                (103..=105).contains(&kept),
                "10.4 s of a looping 25-fps file {how} each round at detect_fps 10: {kept} frames detected"
            );
        }
    }
}
