//! Errors at the face-set boundary, each with a domain kind (the API families' codes are chosen
//! from it in src/codes/; docs/errors.md lists them).

use crate::base::error::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum SetError {
    #[error("face set {0:?} already exists")]
    SetExists(String),
    #[error("face set {0:?} not found")]
    SetNotFound(String),
    #[error("face set name {0:?} is invalid: use 1-64 letters, digits, - or _")]
    BadSetName(String),
    #[error("face set {name:?} is full: capacity {capacity}")]
    CapacityExceeded { name: String, capacity: usize },
    #[error("field {0:?} is not defined in the face set's external_fields")]
    FieldUndefined(String),
    #[error("field {field:?} expects {expected}, got {got}")]
    FieldType {
        field: String,
        expected: &'static str,
        got: String,
    },
    #[error("field name {0:?} is reserved")]
    ReservedField(String),
    #[error(
        "field {field:?}: unknown type {ty:?} (string, integer, long, float, double, boolean)"
    )]
    BadFieldType { field: String, ty: String },
    #[error("external_image_id {0:?} is invalid: 1-36 characters")]
    BadExternalImageId(String),
    #[error("filter syntax error at column {column}: {message}")]
    FilterSyntax { column: usize, message: String },
    #[error("face {0:?} not found")]
    FaceNotFound(String),
    #[error("invalid parameter {name}: {message}")]
    BadParameter { name: &'static str, message: String },
    #[error("face set {set:?} holds {stored} embeddings; the configured embedder is {configured}: run `facestream faceset reembed {set}` if the set kept its face pictures (storage.keep_face_images), else re-enrol or switch models.embedder back")]
    ModelMismatch {
        set: String,
        stored: String,
        configured: String,
    },
    #[error("user {user:?} not found in group {group:?}")]
    UserNotFound { user: String, group: String },
    #[error("no stranger {0:?} (an unknown-N id seen in an unknown event)")]
    StrangerNotFound(String),
    #[error("group {group:?} is the last group of user {user:?}; delete the user instead")]
    LastGroup { user: String, group: String },
    #[error("face set {set:?}: {missing} of its {faces} faces have no kept picture (storage.keep_face_images was off when they were enrolled): re-enrol them")]
    PicturesMissing {
        set: String,
        missing: usize,
        faces: usize,
    },
    #[error("face {face_id:?} cannot be re-embedded from its kept picture: {message}")]
    ReembedFailed { face_id: String, message: String },
    #[error("storage: {0}")]
    Storage(String),
}

impl SetError {
    /// What went wrong; the API families choose their codes from it (src/codes/).
    pub fn kind(&self) -> ErrorKind {
        use ErrorKind as K;
        match self {
            SetError::SetExists(_) => K::SetExists,
            SetError::SetNotFound(_) => K::SetNotFound,
            SetError::CapacityExceeded { .. } => K::SetFull,
            SetError::FieldUndefined(_) => K::FieldUndefined,
            SetError::FieldType { .. } => K::FieldType,
            SetError::BadSetName(_) => K::BadSetName,
            SetError::BadExternalImageId(_) => K::BadExternalImageId,
            SetError::ReservedField(_) => K::ReservedField,
            SetError::FilterSyntax { .. } => K::FilterSyntax,
            SetError::FaceNotFound(_) => K::FaceNotFound,
            SetError::BadParameter { .. } => K::BadParameter,
            SetError::ModelMismatch { .. } => K::ModelMismatch,
            SetError::UserNotFound { .. } => K::UserNotFound,
            SetError::StrangerNotFound(_) => K::StrangerNotFound,
            SetError::LastGroup { .. } => K::LastGroup,
            SetError::BadFieldType { .. } => K::BadFieldType,
            SetError::PicturesMissing { .. } => K::PicturesMissing,
            SetError::ReembedFailed { .. } => K::ReembedFailed,
            SetError::Storage(_) => K::Storage,
        }
    }
}

impl From<rusqlite::Error> for SetError {
    fn from(e: rusqlite::Error) -> Self {
        SetError::Storage(e.to_string())
    }
}
