//! The history as a publish sink: events are kept in batches (one transaction each) from the
//! publish thread, and pruning runs there every `events.prune_every_s`. A store failure is
//! logged and counted, never blocks publishing: the batch waits and is retried, up to a bound.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{EventLog, NewEvent};
use crate::config::EventsConfig;
use crate::messages::Event;
use crate::metrics::Metrics;
use crate::publish::Sink;

/// Events kept in one transaction at most; also the trigger for an early write.
const BATCH: usize = 64;
/// Events waiting while the store fails; beyond it the oldest are dropped (counted).
const MAX_PENDING: usize = 10_000;
/// How long an event waits for its batch.
const FLUSH_EVERY: Duration = Duration::from_millis(500);

pub struct HistorySink {
    log: Arc<EventLog>,
    cfg: EventsConfig,
    pending: Vec<NewEvent>,
    last_flush: Instant,
    last_prune: Option<Instant>,
    metrics: Arc<Metrics>,
    failing: bool,
}

impl HistorySink {
    pub fn new(log: Arc<EventLog>, cfg: &EventsConfig, metrics: Arc<Metrics>) -> Self {
        Self {
            log,
            cfg: cfg.clone(),
            pending: vec![],
            last_flush: Instant::now(),
            last_prune: None,
            metrics,
            failing: false,
        }
    }

    fn flush(&mut self) {
        self.last_flush = Instant::now();
        if self.pending.is_empty() {
            return;
        }
        for chunk_end in (0..self.pending.len()).step_by(BATCH) {
            let end = (chunk_end + BATCH).min(self.pending.len());
            if let Err(e) = self.log.insert(&self.pending[chunk_end..end]) {
                if !self.failing {
                    tracing::error!(error = %e, "event history: cannot keep events; retrying");
                }
                self.failing = true;
                self.pending.drain(..chunk_end);
                return;
            }
            self.metrics
                .history_kept
                .fetch_add((end - chunk_end) as u64, Ordering::Relaxed);
        }
        if self.failing {
            tracing::info!("event history: keeping events again");
        }
        self.failing = false;
        self.pending.clear();
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
        let Some(e) = NewEvent::from_event(event, self.cfg.keep_snapshots) else {
            return;
        };
        if self.pending.len() >= MAX_PENDING {
            self.pending.remove(0);
            self.metrics.history_dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.pending.push(e);
        if self.pending.len() >= BATCH && !self.failing {
            self.flush();
        }
    }

    fn tick(&mut self) {
        if self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush();
        }
        self.prune();
    }

    fn finish(&mut self) {
        self.flush();
    }
}
