//! The published JSON shapes shared by the CLI, MQTT events and the HTTP API, and the error of a
//! request about an image. Field names follow the seeds (Huawei FRS) where they exist; keep them stable.

use std::path::PathBuf;

use serde::Serialize;

use crate::analyze::mask::MaskState;
use crate::analyze::{FaceAnalysis, Quality};
use crate::detect::Detection;
use crate::ingest::image::InputError;
use crate::models::ModelError;

pub use crate::base::geometry::BoundingBox;

impl From<&Detection> for BoundingBox {
    fn from(d: &Detection) -> Self {
        BoundingBox {
            top_left_x: d.x.round() as i32,
            top_left_y: d.y.round() as i32,
            width: d.w.round() as i32,
            height: d.h.round() as i32,
        }
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AttributesJson {
    pub age: f32,
    pub gender: &'static str,
    /// True only when the mask is known to be there (`mask_state` "masked").
    pub mask: bool,
    pub mask_probability: f32,
    /// "masked", "bare" or "unknown" (a face too small for the model to tell).
    pub mask_state: MaskState,
    pub male_probability: f32,
    pub yaw: Option<f32>,
    pub pitch: Option<f32>,
    pub roll: Option<f32>,
    /// On a track's face events: how settled the track's running gender estimate is (0..1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender_confidence: Option<f32>,
    /// On a track's face events: how settled the track's running mask estimate is (0..1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mask_confidence: Option<f32>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FaceJson {
    pub bounding_box: BoundingBox,
    pub score: f32,
    pub landmarks: Vec<[f32; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<AttributesJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<Quality>,
    /// Passive anti-spoof probability of a live face (extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub real_score: Option<f32>,
    /// Probability from the mesh model that this is a human face (extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_probability: Option<f32>,
}

pub fn round2(v: f32) -> f32 {
    (v * 100.0).round() / 100.0
}

pub fn round4(v: f32) -> f32 {
    (v * 10000.0).round() / 10000.0
}

impl From<&FaceAnalysis> for FaceJson {
    fn from(f: &FaceAnalysis) -> Self {
        let d = &f.detection;
        FaceJson {
            bounding_box: d.into(),
            score: round4(d.score),
            landmarks: d
                .landmarks
                .iter()
                .map(|p| [round2(p[0]), round2(p[1])])
                .collect(),
            attributes: f.attributes.as_ref().map(|a| AttributesJson {
                age: a.age.round(),
                gender: a.gender,
                mask: a.mask,
                mask_probability: round4(a.mask_probability),
                mask_state: a.mask_state,
                male_probability: round4(a.male_probability),
                yaw: f.pose.map(|p| round2(p.yaw)),
                pitch: f.pose.map(|p| round2(p.pitch)),
                roll: f.pose.map(|p| round2(p.roll)),
                gender_confidence: None,
                mask_confidence: None,
            }),
            quality: f.quality.as_ref().map(|q| Quality {
                blur: round4(q.blur),
                illumination: round2(q.illumination),
                yaw: round2(q.yaw),
                pitch: round2(q.pitch),
                roll: round2(q.roll),
                completeness: round4(q.completeness),
                face_size: round2(q.face_size),
                ..q.clone()
            }),
            real_score: f.real_score.map(round4),
            face_probability: f.presence.map(round4),
        }
    }
}

/// `facestream detect --json`: one object per image.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ImageResult {
    Faces {
        image: String,
        faces: Vec<FaceJson>,
    },
    Error {
        image: String,
        error_code: &'static str,
        error_msg: String,
    },
}

impl ImageResult {
    pub fn error(image: &str, e: &FaceError) -> Self {
        ImageResult::Error {
            image: image.to_string(),
            error_code: crate::codes::frs::code(e.kind()),
            error_msg: e.to_string(),
        }
    }
}

/// `facestream compare --json`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CompareResult {
    pub similarity: f32,
    pub same_person: bool,
    pub threshold: f32,
    pub image1_face: FaceJson,
    pub image2_face: FaceJson,
}

/// FRS silent liveness (`live-detect-face`): is the largest face a live person.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LiveFaceResult {
    pub alive: bool,
    /// Anti-spoof probability of a live face, 0..1.
    pub confidence: f64,
    /// The face, base64 JPEG.
    pub picture: String,
}

/// The seeds' error body.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ErrorBody {
    pub error_code: &'static str,
    pub error_msg: String,
}

impl From<&FaceError> for ErrorBody {
    fn from(e: &FaceError) -> Self {
        ErrorBody {
            error_code: crate::codes::frs::code(e.kind()),
            error_msg: e.to_string(),
        }
    }
}

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
    pub fn kind(&self) -> crate::base::error::ErrorKind {
        match self {
            FaceError::Input(e) => e.kind(),
            FaceError::NoFace { .. } => crate::base::error::ErrorKind::NoFace,
            FaceError::Model(_) => crate::base::error::ErrorKind::Internal,
        }
    }
}
