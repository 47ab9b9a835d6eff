//! Detect: faces (boxes, 5 landmarks, scores) in frames, batched across images.
pub mod pool;
pub mod stage;
pub mod yunet;
pub mod zoom;
pub use pool::DetectorPool;
pub use yunet::{Detection, Detector, View};
