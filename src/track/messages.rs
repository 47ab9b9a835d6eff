//! What the tracking stage sends to analysis: a track's start, updates and end, and the frames of
//! live liveness challenges; and the challenge requests it receives.

use crate::base::error::Problem;
use std::sync::Arc;

use serde::Serialize;

use crate::detect::Detection;
use crate::frame::Frame;

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

/// A liveness challenge received on `<prefix>/<camera>/liveness/request`.
#[derive(Debug, Clone)]
pub struct LiveRequestMsg {
    pub camera: String,
    pub request_id: String,
    /// The parsed request, or the problem to answer with.
    pub request: Result<crate::analyze::liveness::Request, Problem>,
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
    pub error: Option<Problem>,
}

/// What the analysis stage receives.
#[derive(Debug, Clone)]
pub enum AnalyzeItem {
    Track(TrackMsg),
    Live(LiveFrame),
}
