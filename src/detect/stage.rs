//! The detection stage: gathers frames from every camera's queue (round-robin) into batches of up
//! to `batch_size`, waiting at most `batch_timeout` for a batch to fill, and runs one inference.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::Detector;
use crate::base::time::wall_ms;
use crate::ingest::frames::{CameraFrame, IngestItem};
use crate::ingest::queue::FrameQueues;
use crate::metrics::Metrics;
use crate::models::ModelError;

pub struct DetectStage {
    pub detector: Detector,
    pub queues: Arc<FrameQueues>,
    pub out: Sender<DetectedItem>,
    pub batch_size: usize,
    pub batch_timeout: Duration,
    pub metrics: Arc<Metrics>,
    /// Set once ingest has stopped: the stage drains the queues and returns.
    pub drain: Arc<AtomicBool>,
}

impl DetectStage {
    pub fn run(mut self) -> Result<(), ModelError> {
        let mut batch: Vec<CameraFrame> = vec![];
        let mut deadline: Option<Instant> = None;
        let mut cursor = 0usize;
        loop {
            self.metrics
                .heartbeat_ms
                .store(wall_ms(), Ordering::Relaxed);
            let queues = self.queues.snapshot();
            let mut took = false;
            // One item per camera per round keeps cameras fair.
            for k in 0..queues.len() {
                if batch.len() >= self.batch_size {
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
            if !batch.is_empty() && deadline.is_none() {
                deadline = Some(Instant::now() + self.batch_timeout);
            }
            let due = deadline.is_some_and(|d| Instant::now() >= d);
            if batch.len() >= self.batch_size || (due && !batch.is_empty()) {
                self.flush(&mut batch)?;
                deadline = None;
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
            let wait = deadline
                .map(|d| d.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_millis(100));
            let _ = self
                .queues
                .doorbell
                .recv_timeout(wait.max(Duration::from_millis(1)));
        }
    }

    fn flush(&mut self, batch: &mut Vec<CameraFrame>) -> Result<(), ModelError> {
        if batch.is_empty() {
            return Ok(());
        }
        let frames: Vec<_> = batch.iter().map(|f| &*f.frame).collect();
        let started = Instant::now();
        let faces = self.detector.detect_batch(&frames)?;
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
