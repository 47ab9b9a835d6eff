//! Time as the daemon sees it, injected so reconnects, backoff, batching deadlines, request-date
//! windows and rate limits can be tested deterministically (Moonfire NVR style). Only measurements
//! (how long a model run took) read `Instant` directly.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub trait Clock: Send + Sync {
    /// Monotonic time since an arbitrary start.
    fn now(&self) -> Duration;
    /// Milliseconds since the Unix epoch (event timestamps, signed-request dates).
    fn wall_ms(&self) -> u64;
    /// Sleeps up to `d`, returning early when `stop` is set.
    fn sleep(&self, d: Duration, stop: &AtomicBool);
}

pub struct RealClock(Instant);

impl Default for RealClock {
    fn default() -> Self {
        RealClock(Instant::now())
    }
}

impl Clock for RealClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }

    fn wall_ms(&self) -> u64 {
        super::time::wall_ms()
    }

    fn sleep(&self, d: Duration, stop: &AtomicBool) {
        let end = Instant::now() + d;
        while !stop.load(Ordering::Relaxed) {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }
}

/// A clock that only moves when told to, or when something sleeps on it. Its wall time starts at
/// `wall_start_ms` (default 2026-01-01T00:00:00Z) and moves with it.
pub struct ManualClock {
    ms: AtomicU64,
    wall_start_ms: u64,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::starting_at(1_767_225_600_000)
    }
}

impl ManualClock {
    /// A clock whose wall time reads `wall_start_ms` now.
    pub fn starting_at(wall_start_ms: u64) -> Self {
        ManualClock {
            ms: AtomicU64::new(0),
            wall_start_ms,
        }
    }

    pub fn advance(&self, d: Duration) {
        self.ms.fetch_add(d.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_millis(self.ms.load(Ordering::SeqCst))
    }

    fn wall_ms(&self) -> u64 {
        self.wall_start_ms + self.ms.load(Ordering::SeqCst)
    }

    fn sleep(&self, d: Duration, _stop: &AtomicBool) {
        self.advance(d);
    }
}
