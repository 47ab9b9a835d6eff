//! What ingest sends: each camera's frames (and the end of a finite stream) to detection, and its
//! status changes to the publisher.

use std::sync::Arc;

use serde::Serialize;

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

/// Where a camera is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraStatus {
    Stopped,
    /// Opening the source, waiting for the first frame.
    Buffering,
    /// Failed; waiting for the next attempt.
    Retrying,
    /// Frames are arriving.
    Running,
    /// A file reached its end (not looping).
    Ended,
}

impl CameraStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CameraStatus::Stopped => "stopped",
            CameraStatus::Buffering => "buffering",
            CameraStatus::Retrying => "retrying",
            CameraStatus::Running => "running",
            CameraStatus::Ended => "ended",
        }
    }
}

/// `<prefix>/<camera>/status` payload (docs/mqtt.md).
#[derive(Debug, Clone, Serialize)]
pub struct StatusEvent {
    pub camera: String,
    pub status: CameraStatus,
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

/// Where a camera reports its status changes (the daemon forwards them to the publisher). A sink
/// may block: status changes are never dropped.
pub type StatusSink = Box<dyn Fn(StatusEvent) + Send>;
