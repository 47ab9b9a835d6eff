//! The published MQTT payloads (a contract: docs/mqtt.md) and the [`Event`] that carries them to
//! the publisher. Each stage defines the messages it sends (`ingest::frames`, `detect::stage`,
//! `track::messages`, `search::tracks`); they are re-exported here so the whole flow reads in one
//! place: ingest → detect: [`IngestItem`]; detect → track: [`DetectedItem`]; track → analysis:
//! [`AnalyzeItem`]; analysis, search and ingest (status) → publish: [`Event`].

use serde::Serialize;

use crate::analyze::Quality;
use crate::base::geometry::BoundingBox;
use crate::shapes::AttributesJson;

pub use crate::detect::stage::DetectedItem;
pub use crate::ingest::frames::{CameraFrame, IngestItem, StatusEvent};
pub use crate::search::tracks::{MatchEvent, TrackIdentity};
pub use crate::track::messages::{AnalyzeItem, LiveFrame, LiveRequestMsg, TrackMsg, TrackPhase};

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

    /// The payload as a JSON value (the history keeps it without its snapshot).
    pub fn to_value(&self) -> serde_json::Result<serde_json::Value> {
        match self {
            Event::Face(f) => serde_json::to_value(f),
            Event::Status(s) => serde_json::to_value(s),
            Event::Match(m) => serde_json::to_value(m),
            Event::Liveness(l) => serde_json::to_value(l),
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
