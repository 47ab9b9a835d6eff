//! Detect: faces (boxes, 5 landmarks, scores) in frames, batched across images.
pub mod stage;
pub mod yunet;
pub use yunet::{Detection, Detector};
