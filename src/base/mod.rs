//! The bottom layer: small types every other layer may use and which use nothing of the crate:
//! geometry shared by the published shapes and the face-set store, wall-clock time and event ids,
//! and dropping slow-to-drop values aside.
//! Nothing here imports another module of the crate (tests/layers.rs checks the whole order).

pub mod clock;
pub mod error;
pub mod geometry;
pub mod teardown;
pub mod time;
