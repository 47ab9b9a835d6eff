//! How late face events are: from the frame's arrival to its event leaving analysis, as a
//! Prometheus histogram with fixed buckets (a few atomics; the exposition here is written by hand
//! throughout, and the `prometheus` crate would bring its own registry for this one family).

use std::sync::atomic::{AtomicU64, Ordering};

/// Bucket bounds in ms: a live camera's events are normally tens of ms late; seconds mean analysis
/// is falling behind.
pub const BOUNDS_MS: [u64; 14] = [
    5, 10, 25, 50, 75, 100, 150, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000,
];
const BUCKETS: usize = BOUNDS_MS.len() + 1;

/// Counts per bucket (the last: later than every bound) and the sum, updated without locks.
#[derive(Debug, Default)]
pub struct DelayHistogram {
    counts: [AtomicU64; BUCKETS],
    sum_ms: AtomicU64,
}

/// The histogram at one moment; differences of two give an interval's figures.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DelaySnapshot {
    counts: [u64; BUCKETS],
    sum_ms: u64,
}

impl DelayHistogram {
    pub fn observe_ms(&self, ms: u64) {
        let i = BOUNDS_MS.partition_point(|&b| b < ms);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ms.fetch_add(ms, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> DelaySnapshot {
        DelaySnapshot {
            counts: std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed)),
            sum_ms: self.sum_ms.load(Ordering::Relaxed),
        }
    }

    /// Prometheus text exposition of a histogram in seconds (cumulative buckets).
    pub fn render(&self, name: &str, help: &str, out: &mut String) {
        let s = self.snapshot();
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} histogram\n"));
        let mut below = 0;
        for (i, n) in s.counts.iter().enumerate() {
            below += n;
            let le = BOUNDS_MS
                .get(i)
                .map_or("+Inf".to_string(), |&b| (b as f64 / 1000.0).to_string());
            out.push_str(&format!("{name}_bucket{{le=\"{le}\"}} {below}\n"));
        }
        out.push_str(&format!(
            "{name}_sum {}\n{name}_count {below}\n",
            s.sum_ms as f64 / 1000.0
        ));
    }
}

impl DelaySnapshot {
    /// What was observed after `before`.
    pub fn since(&self, before: &DelaySnapshot) -> DelaySnapshot {
        DelaySnapshot {
            counts: std::array::from_fn(|i| self.counts[i].saturating_sub(before.counts[i])),
            sum_ms: self.sum_ms.saturating_sub(before.sum_ms),
        }
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The bucket bound (ms) that a share `q` of the observations do not exceed: `Some(None)` when
    /// they go past the last bound, None when nothing was observed.
    pub fn quantile_ms(&self, q: f64) -> Option<Option<u64>> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let want = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut below = 0;
        for (i, c) in self.counts.iter().enumerate() {
            below += c;
            if below >= want {
                return Some(BOUNDS_MS.get(i).copied());
            }
        }
        Some(None)
    }

    /// "≤ 50 ms", "> 30 s" or "-" (nothing observed), for logs and benchmarks.
    pub fn describe(&self, q: f64) -> String {
        match self.quantile_ms(q) {
            None => "-".into(),
            Some(Some(ms)) => format!("≤{ms} ms"),
            Some(None) => format!("> {} s", BOUNDS_MS[BOUNDS_MS.len() - 1] / 1000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_fall_in_the_bucket_of_their_bound() {
        let h = DelayHistogram::default();
        for ms in [0, 10, 11, 49, 50, 51, 30_000, 30_001, u64::MAX / 4] {
            h.observe_ms(ms);
        }
        let s = h.snapshot();
        // ≤5: 0 · ≤10: 10 · ≤25: 11 · ≤50: 49, 50 · ≤75: 51 · ≤30 000: 30 000 · above: 2.
        assert_eq!(s.counts, [1, 1, 1, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(s.count(), 9);
        assert_eq!(s.quantile_ms(0.5), Some(Some(50)), "5th of 9 is 50");
        assert_eq!(s.quantile_ms(0.0), Some(Some(5)));
        assert_eq!(s.quantile_ms(1.0), Some(None));
        assert_eq!(s.describe(1.0), "> 30 s");
        assert_eq!(DelaySnapshot::default().describe(0.5), "-");
    }

    #[test]
    fn an_interval_is_the_difference_of_two_snapshots() {
        let h = DelayHistogram::default();
        h.observe_ms(5);
        let before = h.snapshot();
        h.observe_ms(200);
        h.observe_ms(300);
        let d = h.snapshot().since(&before);
        assert_eq!(d.count(), 2);
        assert_eq!(d.sum_ms, 500);
        assert_eq!(d.describe(0.5), "≤250 ms");
        assert_eq!(d.describe(0.0), "≤250 ms");
        assert_eq!(d.describe(0.99), "≤500 ms");
    }

    #[test]
    fn the_exposition_is_cumulative_in_seconds() {
        let h = DelayHistogram::default();
        h.observe_ms(20);
        h.observe_ms(700);
        let mut out = String::new();
        h.render("x_seconds", "help", &mut out);
        assert!(out.contains("# TYPE x_seconds histogram\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"0.005\"} 0\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"0.01\"} 0\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"0.025\"} 1\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"1\"} 2\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"+Inf\"} 2\n"), "{out}");
        assert!(
            out.contains("x_seconds_sum 0.72\nx_seconds_count 2\n"),
            "{out}"
        );
    }
}
