//! facestream: a self-hosted streaming face analysis daemon.
//!
//! Layers, bottom first (each uses only those below it; tests/layers.rs checks, DEVELOPERS.md
//! explains): `base`, `frame`, `tls`, `draw` — small core types; `config`, `models`, `metrics`;
//! the stages in the flow's order `ingest` → `detect` → `analyze` → `track` → `search`; the
//! published contracts `codes` (each API family's error codes), `shapes` (JSON) and `messages`
//! (MQTT payloads); `publish`; `history` (the event history, a publish sink); the wiring
//! `api`, `daemon` (whose service runs the API), `cli`.

// No `unwrap()` on anything that can come from input; unit tests may.
#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod analyze;
pub mod api;
pub mod base;
pub mod cli;
pub mod cluster;
pub mod codes;
pub mod config;
pub mod daemon;
pub mod detect;
pub mod draw;
pub mod frame;
pub mod history;
pub mod ingest;
pub mod messages;
pub mod metrics;
pub mod models;
pub mod publish;
pub mod search;
pub mod shapes;
pub mod tls;
pub mod track;
