//! Counters and gauges for `/metrics`, and the observable events that log and count themselves.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

mod delay;
pub use delay::{DelayHistogram, DelaySnapshot};

/// Per-camera counters.
#[derive(Debug, Default)]
pub struct CameraCounters {
    pub frames_in: AtomicU64,
    pub frames_detected: AtomicU64,
    pub frames_dropped: AtomicU64,
    pub reconnects: AtomicU64,
    pub queue_depth: AtomicU64,
    /// 1 when running.
    pub online: AtomicU64,
    /// The camera's status as published (`running`, `retrying`, …; empty before the first).
    pub status: Mutex<&'static str>,
    /// Stream time of the latest frame (ms).
    pub last_pts_ms: AtomicU64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    cameras: Mutex<BTreeMap<String, Arc<CameraCounters>>>,
    pub batches: AtomicU64,
    pub batch_frames: AtomicU64,
    /// Detection runs holding frames of more than one camera.
    pub mixed_batches: AtomicU64,
    pub inference_us: AtomicU64,
    /// Time in per-track analysis inference (mesh, mask, age/gender).
    pub analysis_us: AtomicU64,
    pub events_published: AtomicU64,
    pub events_buffered: AtomicU64,
    pub events_overflowed: AtomicU64,
    /// Events kept in the history, pruned from it, dropped while its store failed; its size.
    pub history_kept: AtomicU64,
    pub history_pruned: AtomicU64,
    pub history_dropped: AtomicU64,
    pub history_bytes: AtomicU64,
    /// Unknown tracks given a stranger's id seen before, and new strangers.
    pub strangers_seen_again: AtomicU64,
    pub strangers_new: AtomicU64,
    /// New strangers moved to another number: a daemon of the pool took the same one at once.
    pub strangers_renumbered: AtomicU64,
    /// Face events made, and how many of them read age, gender and mask afresh (the others carry
    /// the track's estimate: docs/performance.md, the analysis schedule).
    pub face_events: AtomicU64,
    pub attribute_readings: AtomicU64,
    /// Runs of the age/gender and mask models (one run reads the faces of several track events).
    pub attribute_runs: AtomicU64,
    /// Frames detected at a reduced input size (`detector.zoom_face_px`).
    pub frames_zoomed: AtomicU64,
    /// Frames detected only around their faces (a crop), all faces in view being large.
    pub frames_cropped: AtomicU64,
    /// Faces of track events whose face mesh was read (all of them with `tracking.pose = "mesh"`).
    pub mesh_readings: AtomicU64,
    /// What the analysis stage keeps of live tracks (entries): back to 0 when every track ended.
    pub analysis_tracks_held: AtomicU64,
    /// How late `start` and `update` face events leave analysis, from their frame's arrival
    /// (an `end` carries its track's best face, often long past).
    pub face_event_delay: DelayHistogram,
    pub mqtt_reconnects: AtomicU64,
    /// Moves to the next broker of `mqtt.hosts`.
    pub mqtt_failovers: AtomicU64,
    /// The pool's view of this daemon (`/healthz`), when it is in one.
    pub cluster: Mutex<Option<ClusterHealth>>,
    /// The broker link: [`MQTT_DISABLED`], [`MQTT_DOWN`] or [`MQTT_CONNECTED`].
    pub mqtt_link: AtomicU64,
    pub tracks_started: AtomicU64,
    /// `match` events published (a track matched an enrolled face).
    pub matches: AtomicU64,
    /// Unix ms of the last detection-stage loop: the watchdog pings only while this moves.
    pub heartbeat_ms: AtomicU64,
    /// HTTP API requests by (API family, HTTP status).
    api_requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// Error answers by (API family, error code): Baidu and Tencent errors travel as HTTP 200.
    api_errors: Mutex<BTreeMap<(&'static str, String), u64>>,
    pub api_us: AtomicU64,
    /// API inference jobs running now (each holds one of `api.max_concurrent` slots until its work
    /// ends, even when its client has been answered 503 or has gone).
    pub api_inference_running: AtomicU64,
    /// The most API inference jobs ever running at once.
    pub api_inference_peak: AtomicU64,
    /// Analyzers (model sessions) the API pool has opened: never more than `api.max_concurrent`.
    pub api_analyzers: AtomicU64,
    /// `image_url` downloads running now (bounded by `api.max_downloads`).
    pub api_downloads_running: AtomicU64,
}

/// What the daemon did since it started, summed over its cameras.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub cameras: u64,
    pub online: u64,
    pub frames_in: u64,
    pub frames_dropped: u64,
    pub tracks: u64,
    pub matches: u64,
    pub events_overflowed: u64,
    pub face_event_delay: DelaySnapshot,
}

impl Totals {
    /// The one-line summary of the interval from `before` to `self` lasting `secs`.
    pub fn summary_since(&self, before: &Totals, secs: f64) -> String {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        format!(
            "cameras {}/{} online, {:.1} fps in, {} tracks, {} matches, {} frames dropped, {} events dropped, face events p99 {} late",
            self.online,
            self.cameras,
            d(self.frames_in, before.frames_in) as f64 / secs.max(1e-3),
            d(self.tracks, before.tracks),
            d(self.matches, before.matches),
            d(self.frames_dropped, before.frames_dropped),
            d(self.events_overflowed, before.events_overflowed),
            self.face_event_delay
                .since(&before.face_event_delay)
                .describe(0.99),
        )
    }
}

/// One counter family labelled by API and one more label.
fn by_api(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    rows: impl Iterator<Item = (&'static str, String, u64)>,
) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
    for (api, value, n) in rows {
        out.push_str(&format!(
            "{name}{{api=\"{api}\",{label}=\"{value}\"}} {n}\n"
        ));
    }
}

/// Reads one counter of a camera.
type CounterOf = fn(&CameraCounters) -> &AtomicU64;

pub const MQTT_DISABLED: u64 = 0;
pub const MQTT_DOWN: u64 = 1;
pub const MQTT_CONNECTED: u64 = 2;

/// Longest the detection stage may go without a loop before the daemon counts as stalled.
const STALLED_AFTER_MS: u64 = 10_000;

/// `/healthz`: whether the daemon is working (the status code) and what each part is doing.
#[derive(Debug, serde::Serialize)]
pub struct Health {
    /// `ok`, or `stalled` when the detection stage has not looped for 10 s (HTTP 503).
    pub status: &'static str,
    pub detection_heartbeat_age_ms: u64,
    /// `connected`, `down` (events are buffered) or `disabled`.
    pub mqtt: &'static str,
    pub events_buffered: u64,
    pub cameras: BTreeMap<String, CameraHealth>,
    /// In a pool (`[cluster]`): this daemon's name, the cameras it holds and its last round.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterHealth>,
}

/// This daemon's part of the pool, as its last round left it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterHealth {
    pub node_id: String,
    /// camera → the lease's fencing token.
    pub leases: BTreeMap<String, i64>,
    /// Wall-clock ms of the last round that reached the database.
    pub last_round_ms: u64,
}

#[derive(Debug, serde::Serialize)]
pub struct CameraHealth {
    pub status: &'static str,
    pub online: bool,
    pub frames_in: u64,
    pub frames_dropped: u64,
}

impl Metrics {
    /// The daemon's health: stalled only when detection stops; a failing camera or a lost broker is
    /// reported, not fatal (a restart would not bring either back).
    pub fn health(&self) -> Health {
        let age = self.heartbeat_age_ms();
        let cameras = self
            .cameras
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(id, c)| {
                let status = *c
                    .status
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                (
                    id.clone(),
                    CameraHealth {
                        status,
                        online: c.online.load(Ordering::Relaxed) == 1,
                        frames_in: c.frames_in.load(Ordering::Relaxed),
                        frames_dropped: c.frames_dropped.load(Ordering::Relaxed),
                    },
                )
            })
            .collect();
        Health {
            status: if self.detection_stalled() {
                "stalled"
            } else {
                "ok"
            },
            detection_heartbeat_age_ms: age,
            mqtt: match self.mqtt_link.load(Ordering::Relaxed) {
                MQTT_CONNECTED => "connected",
                MQTT_DOWN => "down",
                _ => "disabled",
            },
            events_buffered: self.events_buffered.load(Ordering::Relaxed),
            cameras,
            cluster: self
                .cluster
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }

    fn heartbeat_age_ms(&self) -> u64 {
        crate::base::time::wall_ms().saturating_sub(self.heartbeat_ms.load(Ordering::Relaxed))
    }

    /// True when the detection stage has not looped for 10 s (what the watchdog and /healthz judge).
    pub fn detection_stalled(&self) -> bool {
        self.heartbeat_age_ms() >= STALLED_AFTER_MS
    }

    pub fn camera(&self, id: &str) -> Arc<CameraCounters> {
        let mut m = self
            .cameras
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        m.entry(id.to_string()).or_default().clone()
    }

    /// Counts one API request: `api` is frs, baidu, tencent or other.
    pub fn api_request(&self, api: &'static str, status: u16, error: Option<&str>, micros: u64) {
        *self
            .api_requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry((api, status))
            .or_default() += 1;
        if let Some(code) = error {
            // Codes come from the server's own fixed lists, so the label set stays small.
            *self
                .api_errors
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry((api, code.to_string()))
                .or_default() += 1;
        }
        self.api_us.fetch_add(micros, Ordering::Relaxed);
    }

    fn render_api(&self, out: &mut String) {
        let reqs = self
            .api_requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let errors = self
            .api_errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        by_api(
            out,
            "facestream_api_requests_total",
            "HTTP API requests by API and HTTP status (Baidu and Tencent errors are HTTP 200: see facestream_api_errors_total)",
            "status",
            reqs.into_iter().map(|((api, s), n)| (api, s.to_string(), n)),
        );
        by_api(
            out,
            "facestream_api_errors_total",
            "API error answers by API and error code",
            "code",
            errors.into_iter().map(|((api, c), n)| (api, c, n)),
        );
        out.push_str(&format!(
            "# HELP facestream_api_request_microseconds_total Time spent answering API requests\n# TYPE facestream_api_request_microseconds_total counter\nfacestream_api_request_microseconds_total {}\n",
            self.api_us.load(Ordering::Relaxed)
        ));
        for (name, help, v) in [
            (
                "facestream_api_inference_running",
                "API inference jobs running now (at most api.max_concurrent)",
                &self.api_inference_running,
            ),
            (
                "facestream_api_inference_peak",
                "Most API inference jobs ever running at once",
                &self.api_inference_peak,
            ),
            (
                "facestream_api_analyzers",
                "Analyzers the API inference pool has opened (at most api.max_concurrent)",
                &self.api_analyzers,
            ),
            (
                "facestream_api_downloads_running",
                "image_url downloads running now (at most api.max_downloads)",
                &self.api_downloads_running,
            ),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}\n",
                v.load(Ordering::Relaxed)
            ));
        }
    }

    /// Totals for the once-a-minute log line: (cameras online, cameras, frames in, frames dropped,
    /// tracks started, matches, events overflowed).
    pub fn totals(&self) -> Totals {
        let cams = self
            .cameras
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let sum = |f: CounterOf| {
            cams.values()
                .map(|c| f(c).load(Ordering::Relaxed))
                .sum::<u64>()
        };
        Totals {
            cameras: cams.len() as u64,
            online: sum(|c| &c.online),
            frames_in: sum(|c| &c.frames_in),
            frames_dropped: sum(|c| &c.frames_dropped),
            tracks: self.tracks_started.load(Ordering::Relaxed),
            matches: self.matches.load(Ordering::Relaxed),
            events_overflowed: self.events_overflowed.load(Ordering::Relaxed),
            face_event_delay: self.face_event_delay.snapshot(),
        }
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_api(&mut out);
        if let Some(c) = self
            .cluster
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            out.push_str(&format!(
                "# HELP facestream_cluster_cameras_held Cameras this daemon holds a lease on\n# TYPE facestream_cluster_cameras_held gauge\nfacestream_cluster_cameras_held{{node=\"{}\"}} {}\n",
                c.node_id,
                c.leases.len()
            ));
        }
        let cams = self
            .cameras
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let per_cam: [(&str, &str, &str, CounterOf); 6] = [
            (
                "facestream_frames_in_total",
                "counter",
                "Frames decoded per camera",
                |c| &c.frames_in,
            ),
            (
                "facestream_frames_detected_total",
                "counter",
                "Frames through detection per camera",
                |c| &c.frames_detected,
            ),
            (
                "facestream_frames_dropped_total",
                "counter",
                "Frames dropped at ingest (queue full) per camera",
                |c| &c.frames_dropped,
            ),
            (
                "facestream_camera_reconnects_total",
                "counter",
                "Camera restarts after a failure",
                |c| &c.reconnects,
            ),
            (
                "facestream_frame_queue_depth",
                "gauge",
                "Frames waiting for detection per camera",
                |c| &c.queue_depth,
            ),
            (
                "facestream_camera_online",
                "gauge",
                "1 when the camera is running",
                |c| &c.online,
            ),
        ];
        for (name, kind, help, get) in per_cam {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (id, c) in &cams {
                out.push_str(&format!(
                    "{name}{{camera=\"{id}\"}} {}\n",
                    get(c).load(Ordering::Relaxed)
                ));
            }
        }
        let global: [(&str, &str, &str, &AtomicU64); 26] = [
            (
                "facestream_mqtt_link",
                "gauge",
                "Broker link: 0 disabled, 1 down (events buffered), 2 connected",
                &self.mqtt_link,
            ),
            (
                "facestream_analysis_inference_microseconds_total",
                "counter",
                "Time in per-track analysis inference",
                &self.analysis_us,
            ),
            (
                "facestream_detect_mixed_batches_total",
                "counter",
                "Detection runs shared by several cameras",
                &self.mixed_batches,
            ),
            (
                "facestream_detect_batches_total",
                "counter",
                "Detection runs",
                &self.batches,
            ),
            (
                "facestream_detect_batch_frames_total",
                "counter",
                "Frames in all detection runs (÷ batches = mean batch size)",
                &self.batch_frames,
            ),
            (
                "facestream_detect_inference_microseconds_total",
                "counter",
                "Time in detection inference",
                &self.inference_us,
            ),
            (
                "facestream_events_published_total",
                "counter",
                "Events handed to the broker",
                &self.events_published,
            ),
            (
                "facestream_events_buffered",
                "gauge",
                "Events waiting for the broker",
                &self.events_buffered,
            ),
            (
                "facestream_events_overflowed_total",
                "counter",
                "Events dropped because the broker buffer was full",
                &self.events_overflowed,
            ),
            (
                "facestream_history_kept_total",
                "counter",
                "Events kept in the event history",
                &self.history_kept,
            ),
            (
                "facestream_history_pruned_total",
                "counter",
                "Events pruned from the history (age or size)",
                &self.history_pruned,
            ),
            (
                "facestream_history_dropped_total",
                "counter",
                "Events not kept because the history's store failed too long",
                &self.history_dropped,
            ),
            (
                "facestream_history_bytes",
                "gauge",
                "Bytes the history holds (payloads and snapshots), after the last pruning",
                &self.history_bytes,
            ),
            (
                "facestream_strangers_seen_again_total",
                "counter",
                "Unknown tracks that got the id of a stranger seen before",
                &self.strangers_seen_again,
            ),
            (
                "facestream_strangers_new_total",
                "counter",
                "Unknown tracks that became a new stranger",
                &self.strangers_new,
            ),
            (
                "facestream_strangers_renumbered_total",
                "counter",
                "New strangers moved to the next free id because another daemon of the pool took theirs at the same moment",
                &self.strangers_renumbered,
            ),
            (
                "facestream_face_events_total",
                "counter",
                "Face events made (start, update, end)",
                &self.face_events,
            ),
            (
                "facestream_attribute_readings_total",
                "counter",
                "Face events whose age, gender and mask were read afresh (a better face than before)",
                &self.attribute_readings,
            ),
            (
                "facestream_attribute_runs_total",
                "counter",
                "Runs of the age/gender and mask models; one run reads the faces of up to 4 track events waiting together",
                &self.attribute_runs,
            ),
            (
                "facestream_frames_zoomed_total",
                "counter",
                "Frames detected at a reduced input size, all faces in view being large (detector.zoom_face_px)",
                &self.frames_zoomed,
            ),
            (
                "facestream_frames_cropped_total",
                "counter",
                "Frames detected only around the faces a camera shows (a crop), all faces in view being large (detector.zoom_face_px)",
                &self.frames_cropped,
            ),
            (
                "facestream_mesh_readings_total",
                "counter",
                "Track events whose face mesh was read (to confirm a new track, or every event with tracking.pose = mesh)",
                &self.mesh_readings,
            ),
            (
                "facestream_analysis_tracks_held",
                "gauge",
                "What the analysis stage keeps of live tracks (entries; 0 when every track ended)",
                &self.analysis_tracks_held,
            ),
            (
                "facestream_mqtt_reconnects_total",
                "counter",
                "Broker connection failures",
                &self.mqtt_reconnects,
            ),
            (
                "facestream_mqtt_failovers_total",
                "counter",
                "Moves to the next broker of mqtt.hosts",
                &self.mqtt_failovers,
            ),
            (
                "facestream_tracks_started_total",
                "counter",
                "Face tracks started",
                &self.tracks_started,
            ),
        ];
        for (name, kind, help, v) in global {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}\n",
                v.load(Ordering::Relaxed)
            ));
        }
        self.face_event_delay.render(
            "facestream_face_event_delay_seconds",
            "From a frame's arrival to its start or update face event leaving analysis",
            &mut out,
        );
        out
    }
}

/// Frames dropped at ingest because detection fell behind.
pub struct FramesDropped<'a> {
    pub camera: &'a str,
    pub count: u64,
}

impl FramesDropped<'_> {
    pub fn emit(&self, m: &Metrics) {
        let total = m
            .camera(self.camera)
            .frames_dropped
            .fetch_add(self.count, Ordering::Relaxed)
            + self.count;
        // Log the first drop and then every 100th, so an overload does not flood the journal.
        if total == self.count || total / 100 != (total - self.count) / 100 {
            tracing::warn!(
                camera = self.camera,
                total,
                "frames dropped at ingest: detection is behind"
            );
        }
    }
}

/// A camera failed and will be retried.
pub struct CameraFailed<'a> {
    pub camera: &'a str,
    pub error: &'a str,
    pub retry_in_ms: u64,
}

impl CameraFailed<'_> {
    pub fn emit(&self, m: &Metrics) {
        m.camera(self.camera)
            .reconnects
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            camera = self.camera,
            error = self.error,
            retry_in_ms = self.retry_in_ms,
            "camera failed"
        );
    }
}

/// Events dropped because the broker stayed away longer than the buffer lasts.
pub struct EventsOverflowed {
    pub count: u64,
}

impl EventsOverflowed {
    pub fn emit(&self, m: &Metrics) {
        let total = m.events_overflowed.fetch_add(self.count, Ordering::Relaxed) + self.count;
        tracing::error!(
            total,
            "event buffer full: oldest events dropped while the broker is unreachable"
        );
    }
}

#[cfg(test)]
mod summary_tests {
    use super::*;

    /// The once-a-minute log line reports the minute's differences, not totals since start.
    #[test]
    fn the_minute_line_reports_differences() {
        let m = Metrics::default();
        let c = m.camera("door");
        c.online.store(1, Ordering::Relaxed);
        m.camera("gate");
        c.frames_in.store(100, Ordering::Relaxed);
        m.tracks_started.store(3, Ordering::Relaxed);
        let before = m.totals();
        c.frames_in.store(700, Ordering::Relaxed);
        c.frames_dropped.store(5, Ordering::Relaxed);
        m.tracks_started.store(7, Ordering::Relaxed);
        m.matches.store(2, Ordering::Relaxed);
        assert_eq!(
            m.totals().summary_since(&before, 60.0),
            "cameras 1/2 online, 10.0 fps in, 4 tracks, 2 matches, 5 frames dropped, 0 events dropped, face events p99 - late"
        );
        m.face_event_delay.observe_ms(40);
        let before = m.totals();
        m.face_event_delay.observe_ms(80);
        assert!(
            m.totals()
                .summary_since(&before, 60.0)
                .ends_with("face events p99 ≤100 ms late"),
            "the minute's events only"
        );
    }
}
