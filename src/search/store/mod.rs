//! Face-set storage: the `Store` interface the face sets use, and its backends — SQLite (`sqlite.rs`,
//! the embedded default: one file, no server) and PostgreSQL (`postgres.rs`, for a pool of daemons
//! sharing one gallery). Images are not stored unless `storage.keep_face_images` asks for a picture
//! of each enrolled face (for re-embedding); each embedding records the model that made it.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::error::SetError;
use super::fields::Schema;
use super::filter::Filter;
use crate::analyze::snapshot::FacePicture;
use crate::base::geometry::BoundingBox;
use crate::config::EmbedderKind;

pub mod database;
pub mod postgres;
pub mod sqlite;

pub use sqlite::SqliteStore;

#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct SetInfo {
    pub face_set_name: String,
    pub face_set_capacity: usize,
    pub face_number: usize,
    pub external_fields: Schema,
    /// The embedder whose vectors this set holds.
    #[serde(serialize_with = "EmbedderKind::serialize_stored")]
    #[schemars(with = "String")]
    pub model: EmbedderKind,
    pub create_time_ms: i64,
}

/// One entry of the change feed: a face added or updated (re-read it), or removed.
#[derive(Debug, Clone)]
pub struct Change {
    pub seq: i64,
    pub set: String,
    pub face_id: String,
    pub removed: bool,
}

#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct FaceRecord {
    pub face_id: String,
    pub face_set_name: String,
    pub external_image_id: String,
    pub external_fields: Map<String, Value>,
    pub bounding_box: BoundingBox,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip)]
    pub model: EmbedderKind,
    #[serde(skip)]
    pub vector: Vec<f32>,
}

/// A face to insert (the id is generated).
pub struct NewFace {
    pub external_image_id: String,
    pub fields: Map<String, Value>,
    pub bbox: BoundingBox,
    pub user_id: Option<String>,
    pub model: EmbedderKind,
    pub vector: Vec<f32>,
    /// Kept only when the face sets keep pictures.
    pub picture: Option<FacePicture>,
}

/// Which faces a delete applies to.
pub enum Selector {
    FaceId(String),
    ExternalImageId(String),
    Field(String, Value),
    Filter(Filter),
    User(String),
}

impl Selector {
    /// Whether a face with these fields is selected by a field or filter selector (the other
    /// selectors are matched by the backends' SQL).
    pub fn selects_fields(&self, fields: &Map<String, Value>) -> bool {
        match self {
            Selector::Field(k, v) => fields.get(k) == Some(v),
            Selector::Filter(f) => f.matches(fields),
            Selector::FaceId(_) | Selector::ExternalImageId(_) | Selector::User(_) => false,
        }
    }
}

impl FaceRecord {
    /// This face as a new face of another set (a user copied between groups): same vector, box,
    /// user and picture, no fields.
    pub fn copied(self, picture: Option<FacePicture>) -> NewFace {
        NewFace {
            picture,
            external_image_id: self.external_image_id,
            fields: Map::new(),
            bbox: self.bounding_box,
            user_id: self.user_id,
            model: self.model,
            vector: self.vector,
        }
    }
}

/// What a face-set backend does. Every write is one transaction: all of it or nothing. The change
/// feed (`changes_since`) lets another process (or daemon) keep its in-memory indexes in step.
pub trait Store: Send {
    /// A number that changes when another connection has committed (cheap; checked before
    /// replaying the change feed).
    fn data_version(&self) -> Result<i64, SetError>;
    /// The newest sequence number the change feed ever handed out (0 before the first change);
    /// it survives pruning, unlike the newest row.
    fn last_change(&self) -> Result<i64, SetError>;
    /// Changes after `seq`, oldest first, at most `limit`; `None` when the feed cannot bring a
    /// reader at `seq` up to date (entries after it were pruned, more than `limit` are pending,
    /// or the database is older than the reader): reload instead.
    fn changes_since(&self, seq: i64, limit: usize) -> Result<Option<Vec<Change>>, SetError>;
    /// Keeps the newest `keep` entries of the change feed.
    fn prune_changes(&self, keep: i64) -> Result<(), SetError>;
    fn create_set(
        &mut self,
        name: &str,
        capacity: usize,
        schema: &Schema,
        model: EmbedderKind,
    ) -> Result<SetInfo, SetError>;
    fn get_set(&self, name: &str) -> Result<SetInfo, SetError>;
    fn list_sets(&self) -> Result<Vec<SetInfo>, SetError>;
    fn delete_set(&mut self, name: &str) -> Result<(), SetError>;
    /// Inserts all faces or none; the capacity is checked inside the transaction.
    fn add_faces(&mut self, set: &str, faces: Vec<NewFace>) -> Result<Vec<String>, SetError>;
    /// Faces in insertion order, `offset`..`offset + limit`.
    fn faces(&self, set: &str, offset: usize, limit: usize) -> Result<Vec<FaceRecord>, SetError>;
    fn all_faces(&self, set: &str) -> Result<Vec<FaceRecord>, SetError> {
        self.faces(set, 0, i64::MAX as usize)
    }
    fn face(&self, set: &str, face_id: &str) -> Result<FaceRecord, SetError>;
    /// Sets the external image id and merges `fields` into the face's fields.
    fn update_face(
        &mut self,
        set: &str,
        face_id: &str,
        external_image_id: Option<&str>,
        fields: Option<&Map<String, Value>>,
    ) -> Result<FaceRecord, SetError>;
    /// Deletes the selected faces of a set; returns their face ids.
    fn delete_faces(&mut self, set: &str, sel: &Selector) -> Result<Vec<String>, SetError>;
    /// Users of a group in id order, `start`..`start + length`.
    fn group_users(&self, set: &str, start: usize, length: usize) -> Result<Vec<String>, SetError>;
    fn group_user_count(&self, set: &str) -> Result<usize, SetError>;
    /// A user's faces in one group: (face id, creation time in ms), in the order they were
    /// stored (committed) — not by the clock time, which daemons of a pool take before they wait
    /// for the store, so a face stored later may carry an earlier time.
    fn user_faces(&self, set: &str, user: &str) -> Result<Vec<(String, i64)>, SetError>;
    /// Groups (face sets) a user belongs to.
    fn user_groups(&self, user: &str) -> Result<Vec<String>, SetError>;
    fn set_user_info(&mut self, set: &str, user: &str, info: &str) -> Result<(), SetError>;
    fn user_info(&self, set: &str, user: &str) -> Result<Option<String>, SetError>;
    /// Copies a user's faces (and info) into another group.
    fn copy_user(&mut self, user: &str, from: &str, to: &str) -> Result<usize, SetError>;
    /// The kept pictures of a set's faces, by face id.
    fn pictures(&self, set: &str) -> Result<HashMap<String, FacePicture>, SetError>;
    /// Replaces every vector of a set with another model's, and the set's model, in one
    /// transaction. Refused (nothing written) unless `vectors` covers exactly the set's faces: a
    /// face added or removed meanwhile would otherwise leave two models in one set.
    fn replace_vectors(
        &mut self,
        set: &str,
        model: EmbedderKind,
        vectors: &[(String, Vec<f32>)],
    ) -> Result<(), SetError>;
}

fn bbox_json(b: &BoundingBox) -> String {
    serde_json::to_string(b).unwrap_or_else(|_| "{}".into())
}

fn bbox_from(s: &str) -> BoundingBox {
    let v: Value = serde_json::from_str(s).unwrap_or(Value::Null);
    let g = |k: &str| v[k].as_i64().unwrap_or(0) as i32;
    BoundingBox {
        top_left_x: g("top_left_x"),
        top_left_y: g("top_left_y"),
        width: g("width"),
        height: g("height"),
    }
}

fn vec_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn blob_to_vec(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

pub fn now_ms() -> i64 {
    crate::base::time::wall_ms() as i64
}
