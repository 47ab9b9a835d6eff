//! The history as a publish sink. Events are handed to a writer thread of their own through a
//! bounded queue, so a slow or unreachable store never holds up publishing: when the queue is full
//! the event is not kept (counted in `facestream_history_dropped_total`). The writer keeps events in
//! batches (one transaction each), retries a failed batch with backoff, and prunes every
//! `events.prune_every_s`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use super::{EventLog, NewEvent};
use crate::config::EventsConfig;
use crate::messages::Event;
use crate::metrics::Metrics;
use crate::publish::Sink;

/// Events kept in one transaction at most.
const BATCH: usize = 64;
/// Events waiting for the writer; beyond it new ones are dropped (counted).
const QUEUE: usize = 10_000;
/// How long an event waits for its batch.
const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// Retry delays while the store fails.
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// At shutdown, how long the writer may take to keep what is queued.
const FINISH_WITHIN: Duration = Duration::from_secs(5);

pub struct HistorySink {
    keep_snapshots: bool,
    tx: Option<Sender<NewEvent>>,
    writer: Option<std::thread::JoinHandle<()>>,
    metrics: Arc<Metrics>,
}

struct Writer {
    log: Arc<EventLog>,
    cfg: EventsConfig,
    rx: Receiver<NewEvent>,
    metrics: Arc<Metrics>,
    pending: Vec<NewEvent>,
    retry_at: Option<Instant>,
    retry_delay: Duration,
    last_prune: Option<Instant>,
}

impl HistorySink {
    pub fn new(log: Arc<EventLog>, cfg: &EventsConfig, metrics: Arc<Metrics>) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let w = Writer {
            log,
            cfg: cfg.clone(),
            rx,
            metrics: metrics.clone(),
            pending: vec![],
            retry_at: None,
            retry_delay: RETRY_MIN,
            last_prune: None,
        };
        let writer = std::thread::Builder::new()
            .name("event-history".into())
            .spawn(move || w.run())
            .map_err(|e| tracing::error!(error = %e, "event history: cannot start its writer"))
            .ok();
        Self {
            keep_snapshots: cfg.keep_snapshots,
            tx: writer.as_ref().map(|_| tx),
            writer,
            metrics,
        }
    }
}

impl Writer {
    fn run(mut self) {
        let mut last_flush = Instant::now();
        loop {
            match self.rx.recv_timeout(FLUSH_EVERY / 5) {
                Ok(e) => self.pending.push(e),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // Take what else is waiting, up to a batch.
            while self.pending.len() < BATCH {
                match self.rx.try_recv() {
                    Ok(e) => self.pending.push(e),
                    Err(_) => break,
                }
            }
            if self.pending.len() >= BATCH || last_flush.elapsed() >= FLUSH_EVERY {
                self.flush();
                last_flush = Instant::now();
            }
            self.prune();
        }
        // Shutdown: keep what is left, trying for a short while.
        let until = Instant::now() + FINISH_WITHIN;
        self.pending.extend(self.rx.try_iter());
        while !self.pending.is_empty() && Instant::now() < until {
            self.retry_at = None;
            self.flush();
            if !self.pending.is_empty() {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        if !self.pending.is_empty() {
            self.metrics
                .history_dropped
                .fetch_add(self.pending.len() as u64, Ordering::Relaxed);
            tracing::warn!(
                events = self.pending.len(),
                "event history: store unavailable at shutdown; events not kept"
            );
        }
    }

    fn flush(&mut self) {
        if self.pending.is_empty() || self.retry_at.is_some_and(|t| Instant::now() < t) {
            return;
        }
        while !self.pending.is_empty() {
            let n = self.pending.len().min(BATCH);
            match self.log.insert(&self.pending[..n]) {
                Ok(()) => {
                    self.pending.drain(..n);
                    self.metrics
                        .history_kept
                        .fetch_add(n as u64, Ordering::Relaxed);
                    if self.retry_at.take().is_some() {
                        tracing::info!("event history: keeping events again");
                    }
                    self.retry_delay = RETRY_MIN;
                }
                Err(e) => {
                    if self.retry_at.is_none() {
                        tracing::error!(error = %e, "event history: cannot keep events; retrying with backoff");
                    }
                    self.retry_at = Some(Instant::now() + self.retry_delay);
                    self.retry_delay = (self.retry_delay * 2).min(RETRY_MAX);
                    // While failing, what waits here is bounded like the queue.
                    if self.pending.len() > QUEUE {
                        let over = self.pending.len() - QUEUE;
                        self.pending.drain(..over);
                        self.metrics
                            .history_dropped
                            .fetch_add(over as u64, Ordering::Relaxed);
                    }
                    return;
                }
            }
        }
    }

    fn prune(&mut self) {
        let due = self
            .last_prune
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(self.cfg.prune_every_s));
        if !due {
            return;
        }
        self.last_prune = Some(Instant::now());
        match self
            .log
            .prune(&self.cfg, crate::base::time::wall_ms() as i64)
        {
            Ok(p) => {
                self.metrics
                    .history_pruned
                    .fetch_add((p.by_age + p.by_size) as u64, Ordering::Relaxed);
                self.metrics
                    .history_bytes
                    .store(p.bytes as u64, Ordering::Relaxed);
                if p.by_age + p.by_size > 0 {
                    tracing::info!(
                        by_age = p.by_age,
                        by_size = p.by_size,
                        bytes = p.bytes,
                        "event history pruned"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "event history: pruning failed"),
        }
    }
}

impl Sink for HistorySink {
    fn send(&mut self, event: &Event) {
        let Some(tx) = &self.tx else {
            return;
        };
        let Some(e) = NewEvent::from_event(event, self.keep_snapshots) else {
            return;
        };
        match tx.try_send(e) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.metrics.history_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn finish(&mut self) {
        // Closing the queue ends the writer once it has kept what is queued (or given up).
        self.tx = None;
        if let Some(w) = self.writer.take() {
            if w.join().is_err() {
                tracing::error!("event history: its writer failed");
            }
        }
    }
}

impl Drop for HistorySink {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StorageConfig;

    fn face_end(id: u64) -> Event {
        let m = crate::search::tracks::MatchEvent {
            event_id: format!("e{id}"),
            similarity: 0.1,
            unknown_id: Some("unknown-1".into()),
            threshold: 0.55,
            searched: 1,
            wall_time_ms: crate::base::time::wall_ms() + id,
            ..crate::search::tracks::MatchEvent::unknown(
                "door",
                id,
                crate::base::geometry::BoundingBox {
                    top_left_x: 0,
                    top_left_y: 0,
                    width: 1,
                    height: 1,
                },
            )
        };
        Event::Match(Box::new(m))
    }

    /// Events reach the store from the writer thread, all of them by `finish`; `send` never waits
    /// for the store.
    #[test]
    fn the_writer_keeps_every_event_by_finish_and_send_does_not_wait() {
        let dir = tempfile::tempdir().unwrap();
        let storage = StorageConfig {
            dir: dir.path().into(),
            ..Default::default()
        };
        let log = Arc::new(EventLog::open(&storage).unwrap());
        let metrics = Arc::new(Metrics::default());
        let mut sink = HistorySink::new(log.clone(), &EventsConfig::default(), metrics.clone());
        let t = Instant::now();
        for i in 0..500 {
            sink.send(&face_end(i));
        }
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "send waited: {:?}",
            t.elapsed()
        );
        sink.finish();
        assert_eq!(
            metrics.history_kept.load(Ordering::Relaxed),
            500,
            "dropped {}",
            metrics.history_dropped.load(Ordering::Relaxed)
        );
        let all = log
            .query(&crate::history::EventQuery {
                limit: 500,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(all.events.len(), 500);
    }
}
