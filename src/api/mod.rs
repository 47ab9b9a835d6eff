//! The stable JSON shapes (seed field names) shared by the CLI, MQTT events and the HTTP API,
//! and the error type at that boundary with its FRS-style codes.

pub mod auth;
pub mod baidu;
pub mod body;
pub mod ctyun;
pub mod error;
pub mod frs;
pub mod http;
pub mod openapi;
pub mod shapes;
pub mod state;
pub mod tencent;

use std::path::PathBuf;

use crate::ingest::image::InputError;
use crate::models::ModelError;

/// Why a request about an image failed.
#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{path}: no face found")]
    NoFace { path: PathBuf },
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl FaceError {
    pub fn code(&self) -> &'static str {
        match self {
            FaceError::Input(e) => e.code(),
            FaceError::NoFace { .. } => "FRS.0501",
            FaceError::Model(_) => "FRS.0099",
        }
    }
}
