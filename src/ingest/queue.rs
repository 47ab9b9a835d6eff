//! The per-camera frame queue between ingest and detection, with its when-full policy.
//! Each camera has its own queue so one busy camera cannot push out another's frames.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use crossbeam_queue::ArrayQueue;

use super::frames::IngestItem;
use crate::config::WhenFull;

pub struct FrameQueue {
    pub camera: Arc<str>,
    items: ArrayQueue<IngestItem>,
    policy: WhenFull,
    doorbell: Sender<()>,
    /// Rung when a frame is taken, for a `Block` camera waiting for room.
    room: (Mutex<()>, Condvar),
    /// Whether the detection stage has started reading ([`FrameQueues::start_detecting`]).
    detecting: Arc<AtomicBool>,
}

/// How long a blocked camera waits before it looks at its stop flag again.
const STOP_CHECK: Duration = Duration::from_millis(50);

/// What happened to a pushed item.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// The oldest queued frame was dropped to make room.
    DroppedOldest,
    /// The new frame was dropped.
    DroppedNewest,
    /// A frame made way for another before detection started (the daemon still opening its
    /// models, the camera already connected): as if it had not been read, as before cameras
    /// started that early — not a frame detection fell behind on.
    Replaced,
    /// Shutting down while blocked.
    Stopped,
}

impl FrameQueue {
    pub fn push(&self, item: IngestItem, stop: &AtomicBool) -> Pushed {
        let dropped = |p: Pushed| {
            if self.detecting.load(Ordering::Relaxed) {
                p
            } else {
                Pushed::Replaced
            }
        };
        let outcome = match self.policy {
            WhenFull::DropOldest => match self.items.force_push(item) {
                None => Pushed::Queued,
                Some(_) => dropped(Pushed::DroppedOldest),
            },
            WhenFull::DropNewest => match self.items.push(item) {
                Ok(()) => Pushed::Queued,
                Err(_) => dropped(Pushed::DroppedNewest),
            },
            WhenFull::Block => {
                let mut item = item;
                loop {
                    match self.items.push(item) {
                        Ok(()) => break Pushed::Queued,
                        Err(back) => {
                            item = back;
                            // Checked under the lock `pop` rings with, so a frame taken between
                            // the failed push and the wait is not missed.
                            let guard = self
                                .room
                                .0
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                            if !self.items.is_full() {
                                continue;
                            }
                            if stop.load(Ordering::Relaxed) {
                                break Pushed::Stopped;
                            }
                            let _ = self.room.1.wait_timeout(guard, STOP_CHECK);
                        }
                    }
                }
            }
        };
        let _ = self.doorbell.try_send(());
        outcome
    }

    pub fn pop(&self) -> Option<IngestItem> {
        let item = self.items.pop();
        if item.is_some() && self.policy == WhenFull::Block {
            let _guard = self
                .room
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.room.1.notify_one();
        }
        item
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// All camera queues, read round-robin by the detection stage. Cameras come and go on reload.
pub struct FrameQueues {
    queues: Mutex<Vec<Arc<FrameQueue>>>,
    doorbell_tx: Sender<()>,
    pub doorbell: Receiver<()>,
    detecting: Arc<AtomicBool>,
}

impl Default for FrameQueues {
    fn default() -> Self {
        let (doorbell_tx, doorbell) = crossbeam_channel::bounded(1);
        Self {
            queues: Mutex::new(vec![]),
            doorbell_tx,
            doorbell,
            detecting: Arc::default(),
        }
    }
}

impl FrameQueues {
    pub fn add(&self, camera: Arc<str>, capacity: usize, policy: WhenFull) -> Arc<FrameQueue> {
        let q = Arc::new(FrameQueue {
            camera,
            items: ArrayQueue::new(capacity.max(1)),
            policy,
            doorbell: self.doorbell_tx.clone(),
            room: (Mutex::new(()), Condvar::new()),
            detecting: self.detecting.clone(),
        });
        self.lock().push(q.clone());
        q
    }

    /// The detection stage reads from now on: a frame a full queue drops is dropped, not
    /// [`Pushed::Replaced`].
    pub fn start_detecting(&self) {
        self.detecting.store(true, Ordering::Relaxed);
    }

    /// Forgets a camera's queue once it is empty (its end marker has been read).
    pub fn remove(&self, camera: &str) {
        self.lock().retain(|q| &*q.camera != camera);
    }

    /// Wakes the detection stage (it waits for the doorbell between frames), e.g. to notice a drain.
    pub fn ring(&self) {
        let _ = self.doorbell_tx.try_send(());
    }

    pub fn snapshot(&self) -> Vec<Arc<FrameQueue>> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<FrameQueue>>> {
        self.queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    //! Each when-full policy on a full queue: what is kept, what is dropped, and that a blocked
    //! push gives up on shutdown.
    use super::*;
    use crate::frame::Frame;
    use crate::ingest::frames::CameraFrame;

    fn frame(seq: u64) -> IngestItem {
        IngestItem::Frame(CameraFrame {
            camera: Arc::from("cam"),
            seq,
            pts_ms: seq * 40,
            wall_ms: 0,
            frame: Arc::new(Frame::new(1, 1, vec![0; 3]).unwrap()),
        })
    }

    fn seqs(q: &FrameQueue) -> Vec<u64> {
        std::iter::from_fn(|| q.pop())
            .map(|i| match i {
                IngestItem::Frame(f) => f.seq,
                IngestItem::End { .. } => u64::MAX,
            })
            .collect()
    }

    fn fill(policy: WhenFull) -> (Arc<FrameQueue>, Vec<Pushed>) {
        let queues = FrameQueues::default();
        queues.start_detecting();
        let q = queues.add(Arc::from("cam"), 3, policy);
        let stop = AtomicBool::new(false);
        let outcomes = (1..=5).map(|s| q.push(frame(s), &stop)).collect();
        (q, outcomes)
    }

    #[test]
    fn a_full_queue_drops_oldest_or_newest_as_configured_and_never_grows() {
        let (q, outcomes) = fill(WhenFull::DropOldest);
        assert_eq!(
            outcomes[3..],
            [Pushed::DroppedOldest, Pushed::DroppedOldest]
        );
        assert_eq!(q.len(), 3);
        assert_eq!(seqs(&q), [3, 4, 5], "the newest frames are kept");

        let (q, outcomes) = fill(WhenFull::DropNewest);
        assert_eq!(
            outcomes[3..],
            [Pushed::DroppedNewest, Pushed::DroppedNewest]
        );
        assert_eq!(seqs(&q), [1, 2, 3], "the oldest frames are kept");
    }

    /// Cameras connect while the daemon opens its models: what a full queue lets go before
    /// detection reads is not counted as dropped (no "detection is behind" at every start), what
    /// it lets go after is.
    #[test]
    fn frames_let_go_before_detection_starts_are_replaced_not_dropped() {
        // (policy, the sixth push once detection reads, what is left)
        for (policy, after, left) in [
            (WhenFull::DropOldest, Pushed::DroppedOldest, [4, 5, 6]),
            (WhenFull::DropNewest, Pushed::DroppedNewest, [1, 2, 3]),
        ] {
            let queues = FrameQueues::default();
            let q = queues.add(Arc::from("cam"), 3, policy);
            let stop = AtomicBool::new(false);
            let outcomes: Vec<_> = (1..=5).map(|s| q.push(frame(s), &stop)).collect();
            assert_eq!(
                outcomes[..3],
                [Pushed::Queued, Pushed::Queued, Pushed::Queued]
            );
            assert_eq!(outcomes[3..], [Pushed::Replaced, Pushed::Replaced]);
            assert_eq!(q.len(), 3, "bounded before detection too");
            queues.start_detecting();
            assert_eq!(q.push(frame(6), &stop), after);
            assert_eq!(seqs(&q), left);
        }
    }

    #[test]
    fn a_blocked_push_waits_for_room_and_gives_up_on_shutdown() {
        let queues = FrameQueues::default();
        let q = queues.add(Arc::from("cam"), 1, WhenFull::Block);
        let stop = Arc::new(AtomicBool::new(false));
        assert_eq!(q.push(frame(1), &stop), Pushed::Queued);
        // Room appears: the blocked push completes and nothing is lost.
        let popper = {
            let q = q.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                q.pop()
            })
        };
        assert_eq!(q.push(frame(2), &stop), Pushed::Queued);
        assert!(popper.join().unwrap().is_some());
        assert_eq!(seqs(&q), [2]);
        // Full and shutting down: the push returns instead of hanging.
        assert_eq!(q.push(frame(3), &stop), Pushed::Queued);
        stop.store(true, Ordering::Relaxed);
        assert_eq!(q.push(frame(4), &stop), Pushed::Stopped);
        assert_eq!(seqs(&q), [3]);
    }
}
