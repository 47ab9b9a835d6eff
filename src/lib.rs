//! facestream: a self-hosted streaming face analysis daemon.
//!
//! The pipeline reads top to bottom: `ingest` → `detect` → `analyze` → (search, publish).
//! `models` wraps ONNX Runtime sessions, `config` the TOML file, `api` the JSON shapes and error codes.

pub mod analyze;
pub mod api;
pub mod base;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod detect;
pub mod draw;
pub mod frame;
pub mod ingest;
pub mod messages;
pub mod metrics;
pub mod models;
pub mod publish;
pub mod search;
pub mod shapes;
pub mod tls;
pub mod track;
