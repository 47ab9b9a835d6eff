//! Several detector sessions that run the frames of one batch side by side.
//!
//! Why not one session with ONNX Runtime's intra-op threads: those threads meet at a barrier after
//! every layer, so when decoding or analysis holds one of the two cores, the whole run waits for
//! the descheduled thread at each of YuNet's layers. Frames are independent: one single-threaded
//! session per worker keeps both cores busy without those meetings (YuNet at 640×384 on this
//! machine: 4.3–5.0 ms a frame with 2 intra-op threads, 3.0–3.8 ms with two 1-thread sessions side
//! by side; docs/performance.md).

use super::{Detection, Detector};
use crate::config::DetectorConfig;
use crate::frame::Frame;
use crate::models::{ModelError, SessionSettings};

pub struct DetectorPool {
    workers: Vec<Detector>,
}

impl DetectorPool {
    /// Opens `cfg.workers` detector sessions: one thread each when there are several, else the
    /// settings' `intra_threads`.
    pub fn open(settings: &SessionSettings, cfg: &DetectorConfig) -> Result<Self, ModelError> {
        let n = cfg.workers.max(1);
        let one = SessionSettings {
            intra_threads: if n > 1 { 1 } else { settings.intra_threads },
            ..settings.clone()
        };
        let workers = (0..n)
            .map(|_| Detector::open(&one, cfg))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { workers })
    }

    /// Time spent inside ONNX Runtime, summed over the workers.
    pub fn session_time(&self) -> std::time::Duration {
        self.workers.iter().map(Detector::session_time).sum()
    }

    /// Detects faces in every frame; the frames are shared out in order, one contiguous part per
    /// worker, and the answers come back in the frames' order.
    pub fn detect_batch(&mut self, frames: &[&Frame]) -> Result<Vec<Vec<Detection>>, ModelError> {
        let parts = self.workers.len().min(frames.len()).max(1);
        if parts == 1 {
            return self.workers[0].detect_batch(frames);
        }
        let per = frames.len().div_ceil(parts);
        let (first, rest) = self.workers.split_at_mut(1);
        let mut chunks = frames.chunks(per);
        let head = chunks.next().unwrap_or_default();
        std::thread::scope(|scope| {
            let others: Vec<_> = rest
                .iter_mut()
                .zip(chunks)
                .map(|(det, chunk)| scope.spawn(move || det.detect_batch(chunk)))
                .collect();
            let mut all = first[0].detect_batch(head)?;
            for h in others {
                let part = h.join().map_err(|_| ModelError::Run {
                    model: "detector".into(),
                    message: "a detection worker panicked".into(),
                })??;
                all.extend(part);
            }
            Ok(all)
        })
    }
}
