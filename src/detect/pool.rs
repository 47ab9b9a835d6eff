//! Several detector sessions that run the frames of one batch side by side.
//!
//! Why not one session with ONNX Runtime's intra-op threads: those threads meet at a barrier after
//! every layer, so when decoding or analysis holds one of the two cores, the whole run waits for
//! the descheduled thread at each of YuNet's layers. Frames are independent: one single-threaded
//! session per worker keeps both cores busy without those meetings (YuNet at 640×384 on this
//! machine: 4.3–5.0 ms a frame with 2 intra-op threads, 3.0–3.8 ms with two 1-thread sessions side
//! by side; docs/performance.md).

use super::{Detection, Detector, View};
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
        // Side by side (`models::opened_beside`).
        let workers = std::thread::scope(|scope| {
            let others: Vec<_> = (1..n)
                .map(|_| scope.spawn(|| Detector::open(&one, cfg)))
                .collect();
            let first = Detector::open(&one, cfg);
            std::iter::once(first)
                .chain(
                    others
                        .into_iter()
                        .map(|h| crate::models::opened_beside(h.join(), &one, "detector")),
                )
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(Self { workers })
    }

    /// The detector's input long side for a frame at full size (`detector.max_side`).
    pub fn max_side(&self) -> u32 {
        self.workers[0].config().max_side
    }

    /// Time spent inside ONNX Runtime, summed over the workers.
    pub fn session_time(&self) -> std::time::Duration {
        self.workers.iter().map(Detector::session_time).sum()
    }

    /// Detects faces in every frame; the frames are shared out in order, one contiguous part of
    /// about equal work per worker, and the answers come back in the frames' order.
    pub fn detect_batch(&mut self, frames: &[&Frame]) -> Result<Vec<Vec<Detection>>, ModelError> {
        let view = View::whole(self.max_side());
        let sized: Vec<(&Frame, View)> = frames.iter().map(|&f| (f, view)).collect();
        self.detect_sized(&sized)
    }

    /// As [`DetectorPool::detect_batch`], each frame with its own view (`zoom.rs`).
    pub fn detect_sized(
        &mut self,
        frames: &[(&Frame, View)],
    ) -> Result<Vec<Vec<Detection>>, ModelError> {
        let parts = self.workers.len().min(frames.len()).max(1);
        if parts == 1 {
            return self.workers[0].detect_sized(frames);
        }
        let (first, rest) = self.workers.split_at_mut(1);
        let mut chunks = balanced(frames, parts).into_iter();
        let head = chunks.next().unwrap_or_default();
        std::thread::scope(|scope| {
            let others: Vec<_> = rest
                .iter_mut()
                .zip(chunks)
                .map(|(det, chunk)| scope.spawn(move || det.detect_sized(chunk)))
                .collect();
            let mut all = first[0].detect_sized(head)?;
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

/// The frames cut, in order, into `parts` runs of about equal work: a full-size frame costs as
/// many reduced or cropped ones as it has times their input's pixels (`zoom.rs`), so equal
/// counts would leave one worker waiting for the other.
fn balanced<'a, 'f>(frames: &'a [(&'f Frame, View)], parts: usize) -> Vec<&'a [(&'f Frame, View)]> {
    let cost = |&(f, view): &(&Frame, View)| view.input_pixels(f);
    let total: f64 = frames.iter().map(cost).sum();
    let mut out = Vec::with_capacity(parts);
    let (mut start, mut done) = (0, 0.0);
    for (i, fr) in frames.iter().enumerate() {
        done += cost(fr);
        // Parts still to open after this one; each needs a frame.
        let parts_left = parts - out.len() - 1;
        if parts_left == 0 {
            break;
        }
        let share_done = done >= total * (out.len() + 1) as f64 / parts as f64;
        if share_done || frames.len() - i - 1 == parts_left {
            out.push(&frames[start..=i]);
            start = i + 1;
        }
    }
    out.push(&frames[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(sides: &[u32]) -> Vec<(Frame, View)> {
        sides
            .iter()
            .map(|&s| {
                let f = Frame::new(640, 640, vec![0; 640 * 640 * 3]).unwrap();
                (f, View::whole(s))
            })
            .collect()
    }

    #[test]
    fn frames_are_shared_out_by_their_work_in_order() {
        let owned = frames(&[640, 160, 160, 160]);
        let f: Vec<(&Frame, View)> = owned.iter().map(|(f, s)| (f, *s)).collect();
        let parts = balanced(&f, 2);
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![1, 3]
        );
        let owned = frames(&[640, 640, 640, 640]);
        let f: Vec<(&Frame, View)> = owned.iter().map(|(f, s)| (f, *s)).collect();
        assert_eq!(
            balanced(&f, 2).iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![2, 2]
        );
        let owned = frames(&[160, 160, 160, 640]);
        let f: Vec<(&Frame, View)> = owned.iter().map(|(f, s)| (f, *s)).collect();
        assert_eq!(
            balanced(&f, 2).iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![3, 1]
        );
        let owned = frames(&[640, 640]);
        let f: Vec<(&Frame, View)> = owned.iter().map(|(f, s)| (f, *s)).collect();
        assert_eq!(
            balanced(&f, 2).iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![1, 1]
        );
    }
}
