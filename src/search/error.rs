//! Errors at the face-set boundary, each with a stable FRS-style code (docs/errors.md).

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
    pub fn code(&self) -> &'static str {
        match self {
            SetError::SetExists(_) => "FRS.0401",
            SetError::SetNotFound(_) => "FRS.0402",
            SetError::CapacityExceeded { .. } => "FRS.0403",
            SetError::FieldUndefined(_) => "FRS.0404",
            SetError::FieldType { .. } => "FRS.0405",
            SetError::BadSetName(_) => "FRS.0406",
            SetError::BadExternalImageId(_) => "FRS.0407",
            SetError::ReservedField(_) => "FRS.0408",
            SetError::FilterSyntax { .. } => "FRS.0409",
            SetError::FaceNotFound(_) => "FRS.0410",
            SetError::BadParameter { .. } => "FRS.0411",
            SetError::ModelMismatch { .. } => "FRS.0412",
            SetError::UserNotFound { .. } => "FRS.0413",
            SetError::LastGroup { .. } => "FRS.0414",
            SetError::BadFieldType { .. } => "FRS.0415",
            SetError::PicturesMissing { .. } => "FRS.0416",
            SetError::ReembedFailed { .. } => "FRS.0417",
            SetError::Storage(_) => "FRS.0098",
        }
    }
}

impl From<rusqlite::Error> for SetError {
    fn from(e: rusqlite::Error) -> Self {
        SetError::Storage(e.to_string())
    }
}
