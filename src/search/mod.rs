//! Search: face sets (Huawei FRS) with Baidu-style users and groups on top, stored in SQLite,
//! searched in memory. One `FaceSets` is shared by the CLI, the daemon and the API. This file holds
//! the sets and their faces (create, add, update, delete, re-embed); `cache.rs` the in-memory
//! indexes and the change-feed replay; `query.rs` search semantics; `users.rs` Baidu's users and
//! groups; `tracks.rs` a camera track's identity decision.

mod cache;
pub mod error;
pub mod fields;
pub mod filter;
pub mod graph;
pub mod huge_pages;
pub mod index;
mod query;
pub mod store;
pub mod strangers;
pub mod tracks;
mod users;
pub mod vector;

pub use users::UserHit;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;
use serde_json::{Map, Value};

pub use error::SetError;
use fields::{check_values, validate_schema, Schema};
use filter::Filter;
use index::{IndexSettings, SetIndex};
use store::{FaceRecord, NewFace, Selector, SetInfo, SqliteStore, Store};

use crate::analyze::snapshot::{enrolment_picture, FacePicture};
use crate::analyze::{Embedding, FaceAnalysis};
use crate::base::geometry::BoundingBox;
use crate::config::EmbedderKind;
use crate::config::StorageConfig;
use crate::detect::Detection;
use crate::frame::Frame;

/// The longest `user_id` a face may carry (Baidu's limit).
pub const MAX_USER_ID_BYTES: usize = 128;

/// Face-set names follow the same rule as camera ids (1–64 of `A-Z a-z 0-9 - _`).
pub use crate::config::stream::valid_id as valid_set_name;

/// One search result in FRS's shape.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SearchHit {
    pub face_id: String,
    pub external_image_id: String,
    pub external_fields: Map<String, Value>,
    pub similarity: f64,
    pub bounding_box: BoundingBox,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip)]
    pub face_set_name: String,
}

/// Search options with FRS's names and limits.
#[derive(Debug, Clone)]
pub struct SearchParams {
    pub top_n: usize,
    pub threshold: f32,
    pub filter: Option<String>,
    /// (numeric field, ascending)
    pub sort: Vec<(String, bool)>,
    pub return_fields: Option<Vec<String>>,
}

impl SearchParams {
    pub fn new(threshold: f32) -> Self {
        Self {
            top_n: 10,
            threshold,
            filter: None,
            sort: vec![],
            return_fields: None,
        }
    }
}

/// A detected, embedded face to enrol, with its picture when the sets keep pictures.
pub struct Enrolment {
    pub bbox: BoundingBox,
    pub embedding: Embedding,
    pub picture: Option<FacePicture>,
}

impl From<(BoundingBox, Embedding)> for Enrolment {
    fn from((bbox, embedding): (BoundingBox, Embedding)) -> Self {
        Self {
            bbox,
            embedding,
            picture: None,
        }
    }
}

impl Enrolment {
    /// An analysed face (its picture, if one was asked for, goes along) and its embedding.
    pub fn analysed(face: &FaceAnalysis, embedding: Embedding) -> Self {
        Self {
            bbox: BoundingBox::from(&face.detection),
            embedding,
            picture: face.picture.clone(),
        }
    }

    /// A face found in `frame`; its picture is cut out only when `keep_picture`.
    pub fn of(frame: &Frame, det: &Detection, embedding: Embedding, keep_picture: bool) -> Self {
        Self {
            bbox: BoundingBox::from(det),
            embedding,
            picture: keep_picture
                .then(|| enrolment_picture(frame, det))
                .flatten(),
        }
    }
}

/// What re-embedding a set did.
#[derive(Debug, Clone, Serialize)]
pub struct Reembedded {
    pub face_set_name: String,
    pub from_model: String,
    pub to_model: String,
    pub faces: usize,
}

pub struct FaceSets {
    /// Keep each enrolled face's picture (`storage.keep_face_images`).
    keep_pictures: bool,
    store: Mutex<Box<dyn Store>>,
    indexes: RwLock<HashMap<String, SharedIndex>>,
    /// (the store's data_version, last change-feed seq) this process has caught up with.
    seen: Mutex<(i64, i64)>,
    index_settings: IndexSettings,
    builds: std::sync::atomic::AtomicU64,
    /// Where large sets' graphs are saved (`<storage.dir>/graphs`); none: rebuilt every start.
    graph_dir: Option<PathBuf>,
}

/// Change-feed entries kept for other processes; one that falls further behind reloads its sets.
const CHANGES_KEPT: i64 = 200_000;
/// More pending changes than this and a reload is cheaper than replaying them.
const REPLAY_AT_MOST: usize = 50_000;

/// A set's in-memory index: searches share it, adds and deletes update it in place.
type SharedIndex = Arc<RwLock<SetIndex>>;

impl FaceSets {
    /// The face sets in SQLite under `dir` (the embedded default).
    pub fn open(dir: &Path) -> Result<Self, SetError> {
        Ok(Self::with_store(Box::new(SqliteStore::open(dir)?))?.with_graph_dir(dir.join("graphs")))
    }

    /// The face sets `storage` configures: PostgreSQL when `storage.url` is set, else SQLite in
    /// `storage.dir`; with `storage.keep_face_images`.
    pub fn open_storage(storage: &StorageConfig) -> Result<Self, SetError> {
        let store: Box<dyn Store> = if storage.url.is_empty() {
            Box::new(SqliteStore::open(&storage.dir)?)
        } else {
            Box::new(store::postgres::PgStore::open(storage)?)
        };
        let mut index = IndexSettings {
            graph_from: storage.graph_from.max(1),
            ..IndexSettings::default()
        };
        index.graph.expansion_search = storage.graph_breadth;
        index.retry_breadth = storage.graph_retry_breadth;
        index.graph.precision = graph::Precision::from_name(&storage.graph_precision);
        index.graph.huge_pages = storage.graph_huge_pages;
        Ok(Self::with_store(store)?
            .with_face_pictures(storage.keep_face_images)
            .with_graph_dir(storage.dir.join("graphs"))
            .with_index_settings(index))
    }

    pub fn with_store(store: Box<dyn Store>) -> Result<Self, SetError> {
        let seen = (store.data_version()?, store.last_change()?);
        Ok(Self {
            keep_pictures: false,
            store: Mutex::new(store),
            indexes: RwLock::new(HashMap::new()),
            seen: Mutex::new(seen),
            index_settings: IndexSettings::default(),
            builds: std::sync::atomic::AtomicU64::new(0),
            graph_dir: None,
        })
    }

    /// Saves large sets' graphs under `dir` and loads them from there at the next start.
    pub fn with_graph_dir(mut self, dir: PathBuf) -> Self {
        self.graph_dir = Some(dir);
        self
    }

    /// Overrides when sets get their graph and how it is built and searched.
    pub fn with_index_settings(mut self, settings: IndexSettings) -> Self {
        self.index_settings = settings;
        self
    }

    /// Keeps (or not) a picture of each face enrolled from now on (`storage.keep_face_images`).
    pub fn with_face_pictures(mut self, keep: bool) -> Self {
        self.keep_pictures = keep;
        self
    }

    /// Whether enrolment should hand over face pictures (callers skip cutting them otherwise).
    pub fn keeps_face_pictures(&self) -> bool {
        self.keep_pictures
    }

    pub(super) fn store(&self) -> std::sync::MutexGuard<'_, Box<dyn Store>> {
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Re-embeds every face of `set` from its kept picture with `embed` (the `to` embedder), then
    /// moves the set to that model in one transaction. Refused, with nothing changed, when a face
    /// has no kept picture, a picture no longer gives an embedding, or the set changes meanwhile.
    pub fn reembed(
        &self,
        set: &str,
        to: EmbedderKind,
        mut embed: impl FnMut(&FacePicture) -> Result<Embedding, String>,
    ) -> Result<Reembedded, SetError> {
        let info = self.show_set(set)?;
        let (records, pictures) = {
            let st = self.store();
            (st.all_faces(set)?, st.pictures(set)?)
        };
        let missing = records
            .iter()
            .filter(|r| !pictures.contains_key(&r.face_id))
            .count();
        if missing > 0 {
            return Err(SetError::PicturesMissing {
                set: set.into(),
                missing,
                faces: records.len(),
            });
        }
        let mut vectors = Vec::with_capacity(records.len());
        for r in &records {
            let failed = |message: String| SetError::ReembedFailed {
                face_id: r.face_id.clone(),
                message,
            };
            let e = pictures.get(&r.face_id).map_or_else(
                || Err(failed("picture gone".into())),
                |p| embed(p).map_err(failed),
            )?;
            if e.model != to {
                return Err(failed(format!("embedded by {}", e.model.stored_name())));
            }
            vectors.push((r.face_id.clone(), e.vector));
        }
        self.store().replace_vectors(set, to, &vectors)?;
        self.invalidate(set);
        self.after_write();
        Ok(Reembedded {
            face_set_name: set.into(),
            from_model: info.model.stored_name().into(),
            to_model: to.stored_name().into(),
            faces: vectors.len(),
        })
    }

    pub fn create_set(
        &self,
        name: &str,
        capacity: usize,
        schema: Schema,
        model: EmbedderKind,
    ) -> Result<SetInfo, SetError> {
        if !valid_set_name(name) {
            return Err(SetError::BadSetName(name.into()));
        }
        if !(1..=100_000_000).contains(&capacity) {
            return Err(SetError::BadParameter {
                name: "face_set_capacity",
                message: "must be 1..=100000000".into(),
            });
        }
        validate_schema(&schema)?;
        self.store().create_set(name, capacity, &schema, model)
    }

    pub fn list_sets(&self) -> Result<Vec<SetInfo>, SetError> {
        self.store().list_sets()
    }

    pub fn show_set(&self, name: &str) -> Result<SetInfo, SetError> {
        self.store().get_set(name)
    }

    pub fn delete_set(&self, name: &str) -> Result<(), SetError> {
        self.store().delete_set(name)?;
        match self.cached(name) {
            Some(ix) => ix
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .discard_saved_graph(),
            None => {
                if let Some(dir) = &self.graph_dir {
                    let path = graph::file_for(dir, name);
                    let _ = std::fs::remove_file(path.with_extension("keys"));
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        self.invalidate(name);
        Ok(())
    }

    /// Adds embedded faces. `external_image_id` is generated when absent; fields are checked
    /// against the set's schema before anything is written.
    pub fn add_faces(
        &self,
        set: &str,
        faces: Vec<impl Into<Enrolment>>,
        external_image_id: Option<&str>,
        fields: &Map<String, Value>,
        user_id: Option<&str>,
    ) -> Result<Vec<FaceRecord>, SetError> {
        let info = self.show_set(set)?;
        check_values(&info.external_fields, fields)?;
        if let Some(u) = user_id.filter(|u| u.is_empty() || u.len() > MAX_USER_ID_BYTES) {
            return Err(SetError::BadParameter {
                name: "user_id",
                message: format!("{} bytes; use 1-{MAX_USER_ID_BYTES}", u.len()),
            });
        }
        let eid = match external_image_id {
            Some(e) if (1..=36).contains(&e.chars().count()) => e.to_string(),
            Some(e) => return Err(SetError::BadExternalImageId(e.into())),
            None => uuid::Uuid::new_v4().simple().to_string()[..16].to_string(),
        };
        let mut new = vec![];
        for face in faces {
            let Enrolment {
                bbox,
                embedding: emb,
                picture,
            } = face.into();
            if emb.model != info.model {
                return Err(SetError::ModelMismatch {
                    set: set.into(),
                    stored: info.model.stored_name().into(),
                    configured: emb.model.stored_name().into(),
                });
            }
            new.push(NewFace {
                external_image_id: eid.clone(),
                fields: fields.clone(),
                bbox,
                user_id: user_id.map(String::from),
                model: emb.model,
                vector: emb.vector,
                picture: picture.filter(|_| self.keep_pictures),
            });
        }
        let ids = self.store().add_faces(set, new)?;
        let added: Vec<FaceRecord> = {
            let st = self.store();
            ids.iter()
                .map(|id| st.face(set, id))
                .collect::<Result<_, _>>()?
        };
        self.update_index(set, |ix| {
            for r in &added {
                ix.insert(r.clone());
            }
        });
        self.after_write();
        Ok(added)
    }

    pub fn list_faces(
        &self,
        set: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<FaceRecord>, SetError> {
        if limit == 0 || offset + limit > 10_000 {
            return Err(SetError::BadParameter {
                name: "offset/limit",
                message: "limit >= 1 and offset + limit <= 10000".into(),
            });
        }
        self.store().faces(set, offset, limit)
    }

    pub fn face(&self, set: &str, face_id: &str) -> Result<FaceRecord, SetError> {
        self.store().face(set, face_id)
    }

    pub fn update_face(
        &self,
        set: &str,
        face_id: &str,
        external_image_id: Option<&str>,
        fields: Option<&Map<String, Value>>,
    ) -> Result<FaceRecord, SetError> {
        let info = self.show_set(set)?;
        if let Some(f) = fields {
            check_values(&info.external_fields, f)?;
        }
        if let Some(e) = external_image_id {
            if !(1..=36).contains(&e.chars().count()) {
                return Err(SetError::BadExternalImageId(e.into()));
            }
        }
        let r = self
            .store()
            .update_face(set, face_id, external_image_id, fields)?;
        self.update_index(set, |ix| {
            ix.update(&r.face_id, &r.external_image_id, r.external_fields.clone());
        });
        Ok(r)
    }

    /// Deletes by face id, external image id, one custom field value, or a filter.
    pub fn delete_faces(&self, set: &str, sel: Selector) -> Result<usize, SetError> {
        let gone = self.store().delete_faces(set, &sel)?;
        self.update_index(set, |ix| {
            for id in &gone {
                ix.remove(id);
            }
        });
        self.after_write();
        Ok(gone.len())
    }

    pub fn parse_filter(&self, set: &str, text: &str) -> Result<Filter, SetError> {
        Filter::parse(text, &self.show_set(set)?.external_fields)
    }

    /// Field-equality delete with the value typed by the schema (`field=value` from a CLI or URL).
    pub fn field_selector(&self, set: &str, field: &str, raw: &str) -> Result<Selector, SetError> {
        let f = self.parse_filter(set, &format!("{field}:\"{}\"", raw.replace('"', "\\\"")))?;
        match f {
            Filter::Eq(k, v) => Ok(Selector::Field(k, v)),
            _ => Err(SetError::BadParameter {
                name: "field",
                message: "expected field=value".into(),
            }),
        }
    }
}
