//! Ingest: where pictures enter the pipeline — still images, and camera / file streams through
//! GStreamer into per-camera bounded queues.
pub mod camera;
pub mod cause;
pub mod frames;
pub mod gst;
pub mod image;
pub mod queue;
pub mod video;
