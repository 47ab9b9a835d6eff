//! The typed messages that travel between stages on bounded channels.
//! ingest → detect: [`CameraFrame`] / end of stream; detect → track: [`DetectedFrame`];
//! track → analyze: [`TrackMsg`]; analyze (and ingest, for status) → publish: [`Event`].

use std::sync::Arc;

use serde::Serialize;

use crate::analyze::Quality;
use crate::shapes::AttributesJson;
use crate::base::geometry::BoundingBox;
use crate::detect::Detection;
use crate::frame::Frame;

/// One decoded frame of one camera.
#[derive(Debug, Clone)]
pub struct CameraFrame {
    pub camera: Arc<str>,
    /// Frame number since the camera (re)started.
    pub seq: u64,
    /// Stream time of the frame in ms (from the stream's timestamps).
    pub pts_ms: u64,
    /// Wall-clock time the frame arrived, ms since the Unix epoch.
    pub wall_ms: u64,
    pub frame: Arc<Frame>,
}

/// What a camera's queue carries: frames, then possibly the end of a finite stream.
#[derive(Debug, Clone)]
pub enum IngestItem {
    Frame(CameraFrame),
    /// A file ended (or the camera was removed): its tracks can be closed.
    End {
        camera: Arc<str>,
        pts_ms: u64,
    },
}

#[derive(Debug, Clone)]
pub enum DetectedItem {
    Frame {
        frame: CameraFrame,
        faces: Vec<Detection>,
    },
    End {
        camera: Arc<str>,
        pts_ms: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackPhase {
    Start,
    Update,
    End,
}

/// A track reached a point worth analysing or reporting.
#[derive(Debug, Clone)]
pub struct TrackMsg {
    pub camera: Arc<str>,
    pub track_id: u64,
    pub phase: TrackPhase,
    pub first_ms: u64,
    pub last_ms: u64,
    pub hits: u32,
    /// The detection this message is about (the latest one; for `end`, the best one).
    pub detection: Detection,
    pub pts_ms: u64,
    pub wall_ms: u64,
    /// The frame holding `detection`, for analysis and the snapshot.
    pub frame: Arc<Frame>,
}

/// `<prefix>/<camera>/face` payload (docs/mqtt.md).
#[derive(Debug, Clone, Serialize)]
pub struct FaceEvent {
    /// Unique per event, kept when a delivery is repeated (at-least-once): subscribers dedupe on it.
    pub event_id: String,
    pub camera: String,
    pub track_id: u64,
    pub event: TrackPhase,
    /// Stream time of the frame this event describes (ms).
    pub timestamp_ms: u64,
    /// Wall-clock time (ms since the Unix epoch).
    pub wall_time_ms: u64,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// Frames in which the track was detected so far.
    pub frames: u32,
    pub bounding_box: BoundingBox,
    pub score: f32,
    pub landmarks: Vec<[f32; 2]>,
    /// Size of the analysed frame the coordinates refer to.
    pub frame_width: u32,
    pub frame_height: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<AttributesJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<Quality>,
    /// Best face of the track as base64 JPEG (on `end`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_jpeg: Option<String>,
    /// Who the track is, once its `match` is decided (Frigate's `sub_label`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<TrackIdentity>,
}

/// A track's decided identity, carried on its `face` events.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TrackIdentity {
    /// The `user_id` of the matched faces, or their `external_image_id`.
    pub name: String,
    pub face_set: String,
    /// Its quality-weighted mean similarity over the track's searched frames.
    pub similarity: f64,
}

/// `<prefix>/<camera>/status` payload (docs/mqtt.md).
#[derive(Debug, Clone, Serialize)]
pub struct StatusEvent {
    pub camera: String,
    /// stopped | buffering | retrying | running | ended | failed
    pub status: &'static str,
    pub online: bool,
    pub fps_in: f32,
    pub fps_out: f32,
    pub dropped_frames: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Next attempt after this many ms (when retrying).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_in_ms: Option<u64>,
    pub wall_time_ms: u64,
}

/// `<prefix>/<camera>/match` payload (docs/mqtt.md): a track matched an enrolled face, or its
/// track ended without reaching the threshold (`event: "unknown"`).
#[derive(Debug, Clone, Serialize)]
pub struct MatchEvent {
    /// Unique per event, kept when a delivery is repeated (at-least-once): subscribers dedupe on it.
    pub event_id: String,
    pub camera: String,
    pub track_id: u64,
    /// `match` or `unknown`
    pub event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_set: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_image_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_fields: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// For `match`: the identity's quality-weighted mean similarity over the track's searched
    /// frames; for `unknown`: the best similarity seen.
    pub similarity: f64,
    /// For `match`: the identity's best single-frame similarity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_similarity: Option<f64>,
    /// For `match`: how far its mean leads the next identity's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub margin: Option<f64>,
    /// For `match`: searched frames whose best hit it was, above the threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames_agreeing: Option<u32>,
    /// For a revised `match`: the identity the track was matched to before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revises: Option<String>,
    pub threshold: f32,
    /// Embeddings of this track searched so far.
    pub searched: u32,
    pub timestamp_ms: u64,
    pub wall_time_ms: u64,
    pub bounding_box: BoundingBox,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_jpeg: Option<String>,
}

/// A liveness challenge received on `<prefix>/<camera>/liveness/request`.
#[derive(Debug, Clone)]
pub struct LiveRequestMsg {
    pub camera: String,
    pub request_id: String,
    /// The parsed request, or the error code and message to answer with.
    pub request: Result<crate::analyze::liveness::Request, (&'static str, String)>,
    /// How long the challenge watches the camera (ms of stream time).
    pub timeout_ms: u64,
}

/// One frame of a live challenge's subject, from the tracker to the analysis stage.
#[derive(Debug, Clone)]
pub struct LiveFrame {
    pub camera: Arc<str>,
    pub request_id: String,
    pub track_id: Option<u64>,
    /// ms since the challenge started
    pub t_ms: u64,
    pub frame: Option<Arc<Frame>>,
    pub detection: Option<Detection>,
    /// Set on the challenge's last message: evaluate now.
    pub done: Option<crate::analyze::liveness::Request>,
    /// Set instead when the request itself was invalid.
    pub error: Option<(&'static str, String)>,
}

/// What the analysis stage receives.
#[derive(Debug, Clone)]
pub enum AnalyzeItem {
    Track(TrackMsg),
    Live(LiveFrame),
}

/// `<prefix>/<camera>/liveness/result` payload: the file check's structure plus request_id.
#[derive(Debug, Clone, Serialize)]
pub struct LiveResultEvent {
    pub camera: String,
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track_id: Option<u64>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub result: Option<crate::analyze::liveness::LivenessResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_msg: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Event {
    Face(Box<FaceEvent>),
    Status(StatusEvent),
    Match(Box<MatchEvent>),
    Liveness(Box<LiveResultEvent>),
}

impl Event {
    pub fn camera(&self) -> &str {
        match self {
            Event::Face(f) => &f.camera,
            Event::Status(s) => &s.camera,
            Event::Match(m) => &m.camera,
            Event::Liveness(l) => &l.camera,
        }
    }

    /// Topic suffix after `<prefix>/<camera>/`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Face(_) => "face",
            Event::Status(_) => "status",
            Event::Match(_) => "match",
            Event::Liveness(_) => "liveness/result",
        }
    }

    pub fn to_json(&self) -> String {
        let r = match self {
            Event::Face(f) => serde_json::to_string(f),
            Event::Status(s) => serde_json::to_string(s),
            Event::Match(m) => serde_json::to_string(m),
            Event::Liveness(l) => serde_json::to_string(l),
        };
        r.unwrap_or_else(|e| format!("{{\"error\":\"serialise: {e}\"}}"))
    }
}


/// `YYYY-MM-DD HH:MM:SS` (UTC) for a time in ms since the Unix epoch (Baidu's `ctime` format).
pub fn utc_datetime(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod utc_tests {
    #[test]
    fn formats_known_instants() {
        assert_eq!(super::utc_datetime(0), "1970-01-01 00:00:00");
        assert_eq!(super::utc_datetime(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(
            super::utc_datetime(1_795_000_000_000),
            "2026-11-18 11:06:40"
        );
    }
}
