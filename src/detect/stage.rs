//! The detection stage: gathers frames from every camera's queue (round-robin) into batches of up
//! to `batch_size` — every frame already waiting, then at most `batch_timeout` for more (0 by
//! default: a live frame is not held back for frames that may come) — and runs one inference.
//! Offline analysis runs whole batches only, whatever the timing, so its events never depend on
//! how fast the machine decoded (the zoom's full-size look is one frame a batch: `zoom.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::zoom::{Zoom, ZoomSettings};
use super::{DetectorPool, View};
use crate::base::clock::Clock;
use crate::ingest::frames::{CameraFrame, IngestItem};
use crate::ingest::queue::FrameQueues;
use crate::metrics::Metrics;
use crate::models::ModelError;

pub struct DetectStage {
    /// Dropped aside: its sessions take ~15 ms to tear down, which the stages after it need not wait for.
    pub detector: crate::base::teardown::DropAside<DetectorPool>,
    pub queues: Arc<FrameQueues>,
    pub out: Sender<DetectedItem>,
    pub batch_size: usize,
    /// None: whole batches only (offline analysis), a partial one only at a stream's end.
    pub batch_timeout: Option<Duration>,
    pub metrics: Arc<Metrics>,
    /// Set once ingest has stopped: the stage drains the queues and returns.
    pub drain: Arc<AtomicBool>,
    pub clock: Arc<dyn Clock>,
    /// Each camera's detector input size, from the faces it shows (`zoom.rs`).
    pub zoom: Zoom,
    pub zoom_settings: ZoomSettings,
}

/// When a batch is run: as soon as it is full, or `timeout` after its first frame arrived (never,
/// without a timeout).
#[derive(Debug)]
pub struct Batcher {
    size: usize,
    timeout: Option<Duration>,
    /// Set while a batch is open: when it must run at the latest.
    deadline: Option<Duration>,
}

impl Batcher {
    pub fn new(size: usize, timeout: Option<Duration>) -> Self {
        Batcher {
            size: size.max(1),
            timeout,
            deadline: None,
        }
    }

    pub fn is_full(&self, len: usize) -> bool {
        len >= self.size
    }

    /// Should a batch of `len` frames run now? Opens the batch's deadline at its first frame.
    pub fn due(&mut self, len: usize, now: Duration) -> bool {
        if len == 0 {
            return false;
        }
        let Some(timeout) = self.timeout else {
            return self.is_full(len);
        };
        let deadline = *self.deadline.get_or_insert(now + timeout);
        self.is_full(len) || now >= deadline
    }

    /// The batch ran: the next one opens at its first frame.
    pub fn ran(&mut self) {
        self.deadline = None;
    }

    /// How long to wait for more frames: until the open batch's deadline, else `idle`.
    pub fn wait(&self, now: Duration, idle: Duration) -> Duration {
        self.deadline
            .map_or(idle, |d| d.saturating_sub(now))
            .max(Duration::from_millis(1))
    }
}

impl DetectStage {
    pub fn run(mut self) -> Result<(), ModelError> {
        self.queues.start_detecting();
        let mut batch: Vec<CameraFrame> = vec![];
        let mut batcher = Batcher::new(self.batch_size, self.batch_timeout);
        let mut cursor = 0usize;
        loop {
            self.metrics
                .heartbeat_ms
                .store(self.clock.wall_ms(), Ordering::Relaxed);
            let queues = self.queues.snapshot();
            let mut took = false;
            // One item per camera per round keeps cameras fair.
            for k in 0..queues.len() {
                if batcher.is_full(batch.len()) {
                    break;
                }
                let q = &queues[(cursor + k) % queues.len()];
                match q.pop() {
                    Some(IngestItem::Frame(f)) => {
                        took = true;
                        batch.push(f);
                    }
                    Some(IngestItem::End { camera, pts_ms }) => {
                        took = true;
                        // Frames already batched for this camera go first, so the end follows them.
                        self.flush(&mut batch)?;
                        batcher.ran();
                        self.zoom.forget(&camera);
                        if self.out.send(DetectedItem::End { camera, pts_ms }).is_err() {
                            return Ok(());
                        }
                    }
                    None => {}
                }
                self.metrics
                    .camera(&q.camera)
                    .queue_depth
                    .store(q.len() as u64, Ordering::Relaxed);
            }
            cursor = cursor.wrapping_add(1);
            // Frames still waiting in the queues join the batch first (up to its size), so a
            // batch never runs short of frames that are already here.
            let due = batcher.due(batch.len(), self.clock.now());
            if batcher.is_full(batch.len()) || (due && !took) {
                self.flush(&mut batch)?;
                batcher.ran();
                continue;
            }
            if took {
                continue;
            }
            let all_empty = queues.iter().all(|q| q.is_empty());
            if all_empty && self.drain.load(Ordering::Relaxed) {
                self.flush(&mut batch)?;
                return Ok(());
            }
            let wait = batcher.wait(self.clock.now(), Duration::from_millis(100));
            let _ = self.queues.doorbell.recv_timeout(wait);
        }
    }

    fn flush(&mut self, batch: &mut Vec<CameraFrame>) -> Result<(), ModelError> {
        if batch.is_empty() {
            return Ok(());
        }
        let full = self.detector.max_side();
        let (zoom, settings) = (&mut self.zoom, self.zoom_settings);
        let frames: Vec<_> = batch
            .iter()
            .map(|f| {
                let dims = (f.frame.width, f.frame.height);
                let view = zoom.view_for(settings, &f.camera, f.pts_ms, dims, full);
                (&*f.frame, view)
            })
            .collect();
        let started = Instant::now();
        let faces = self.detector.detect_sized(&frames)?;
        let reduced = frames.iter().filter(|(_, v)| v.side < full).count();
        let cropped = frames.iter().filter(|(_, v)| v.crop.is_some()).count();
        self.metrics
            .frames_zoomed
            .fetch_add(reduced as u64, Ordering::Relaxed);
        self.metrics
            .frames_cropped
            .fetch_add(cropped as u64, Ordering::Relaxed);
        let views: Vec<View> = frames.iter().map(|&(_, v)| v).collect();
        let faces: Vec<_> = batch
            .iter()
            .zip(views)
            .zip(faces)
            .map(|((f, view), found)| {
                let dims = (f.frame.width, f.frame.height);
                self.zoom
                    .settle(&f.camera, f.pts_ms, view, full, dims, found)
            })
            .collect();
        self.metrics
            .inference_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        self.metrics.batches.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .batch_frames
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        if batch.iter().any(|f| f.camera != batch[0].camera) {
            self.metrics.mixed_batches.fetch_add(1, Ordering::Relaxed);
        }
        for (frame, faces) in batch.drain(..).zip(faces) {
            self.metrics
                .camera(&frame.camera)
                .frames_detected
                .fetch_add(1, Ordering::Relaxed);
            // Downstream stages block rather than drop: events are never lost here.
            if self.out.send(DetectedItem::Frame { frame, faces }).is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// What detection sends to tracking: a frame with its faces, or the end of a finite stream.
#[derive(Debug, Clone)]
pub enum DetectedItem {
    Frame {
        frame: CameraFrame,
        faces: Vec<super::Detection>,
    },
    End {
        camera: Arc<str>,
        pts_ms: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::Batcher;
    use std::time::Duration;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_full_batch_runs_at_once() {
        let mut b = Batcher::new(4, Some(20 * MS));
        assert!(!b.due(3, Duration::ZERO));
        assert!(b.due(4, 1 * MS));
        b.ran();
        assert!(!b.due(0, 2 * MS), "nothing to run");
    }

    /// A partial batch waits `timeout` from its first frame, not from the last one.
    #[test]
    fn a_partial_batch_runs_at_its_deadline() {
        let mut b = Batcher::new(8, Some(20 * MS));
        assert!(!b.due(1, 100 * MS));
        assert_eq!(b.wait(105 * MS, 100 * MS), 15 * MS);
        assert!(!b.due(2, 119 * MS));
        assert!(b.due(2, 120 * MS));
        b.ran();
        // The next batch opens at its own first frame.
        assert!(!b.due(1, 130 * MS));
        assert!(b.due(1, 150 * MS));
    }

    #[test]
    fn idle_waits_for_the_doorbell_and_never_spins() {
        let mut b = Batcher::new(2, Some(Duration::ZERO));
        assert_eq!(b.wait(Duration::ZERO, 100 * MS), 100 * MS);
        assert!(b.due(1, 5 * MS), "a zero timeout runs every frame at once");
        assert_eq!(b.wait(5 * MS, 100 * MS), MS, "at least 1 ms");
        assert!(Batcher::new(0, Some(MS)).is_full(1), "size 0 means 1");
    }

    /// Offline analysis: a batch runs only when full, however long its frames take to come.
    #[test]
    fn without_a_timeout_only_a_full_batch_runs() {
        let mut b = Batcher::new(4, None);
        assert!(!b.due(3, Duration::ZERO));
        assert!(!b.due(3, 3_600_000 * MS), "an hour later, still waiting");
        assert_eq!(b.wait(Duration::ZERO, 100 * MS), 100 * MS);
        assert!(b.due(4, 3_600_001 * MS));
    }
}
