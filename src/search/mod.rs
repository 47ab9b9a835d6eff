//! Search: face sets (Huawei FRS) with Baidu-style users and groups on top, stored in SQLite,
//! searched exactly in memory. One `FaceSets` is shared by the CLI, the daemon and the API.

pub mod error;
pub mod fields;
pub mod filter;
pub mod index;
mod kmeans;
pub mod store;
pub mod tracks;
pub mod vector;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;
use serde_json::{Map, Value};

pub use error::SetError;
use fields::{check_values, validate_schema, Schema};
use filter::Filter;
use index::{IndexSettings, SetIndex};
use store::{FaceRecord, NewFace, Selector, SetInfo, Store};

use crate::analyze::snapshot::{enrolment_picture, FacePicture};
use crate::analyze::{Embedding, FaceAnalysis};
use crate::base::geometry::BoundingBox;
use crate::config::EmbedderKind;
use crate::detect::Detection;
use crate::frame::Frame;

pub fn model_name(kind: EmbedderKind) -> &'static str {
    match kind {
        EmbedderKind::Mobilefacenet => "mobilefacenet-192",
        EmbedderKind::Dlib => "dlib-resnet-128",
    }
}

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
    store: Mutex<Store>,
    indexes: RwLock<HashMap<String, SharedIndex>>,
    /// (SQLite data_version, last change-feed seq) this process has caught up with.
    seen: Mutex<(i64, i64)>,
    index_settings: IndexSettings,
    builds: std::sync::atomic::AtomicU64,
}

/// Change-feed entries kept for other processes; one that falls further behind reloads its sets.
const CHANGES_KEPT: i64 = 200_000;
/// More pending changes than this and a reload is cheaper than replaying them.
const REPLAY_AT_MOST: usize = 50_000;

/// A set's in-memory index: searches share it, adds and deletes update it in place.
type SharedIndex = Arc<RwLock<SetIndex>>;

impl FaceSets {
    pub fn open(dir: &Path) -> Result<Self, SetError> {
        let store = Store::open(dir)?;
        let seen = (store.data_version()?, store.last_change()?);
        Ok(Self {
            keep_pictures: false,
            store: Mutex::new(store),
            indexes: RwLock::new(HashMap::new()),
            seen: Mutex::new(seen),
            index_settings: IndexSettings::default(),
            builds: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Overrides when sets are partitioned and how many lists a query scans.
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

    /// The cached index of `set`, if it is loaded.
    fn cached(&self, set: &str) -> Option<SharedIndex> {
        self.indexes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(set)
            .cloned()
    }

    /// Applies a change to the loaded index of `set` (nothing to do when it is not loaded);
    /// drops it when the change leaves its partition unfit, so the next search rebuilds it.
    fn update_index(&self, set: &str, change: impl FnOnce(&mut SetIndex)) {
        if let Some(ix) = self.cached(set) {
            let mut w = ix.write().unwrap_or_else(|e| e.into_inner());
            change(&mut w);
            if w.needs_rebuild() {
                drop(w);
                self.invalidate(set);
            }
        }
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn invalidate(&self, set: &str) {
        self.indexes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(set);
    }

    /// Catches up with another process's writes (enrolment while the daemon runs): loaded indexes
    /// replay the change feed in place; only when the feed has a gap or is very long are they
    /// dropped and rebuilt on the next search.
    pub fn refresh(&self) -> Result<(), SetError> {
        let v = self.store().data_version()?;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.0 == v {
            return Ok(());
        }
        seen.0 = v;
        let changes = self.store().changes_since(seen.1, REPLAY_AT_MOST)?;
        let Some(changes) = changes else {
            seen.1 = self.store().last_change()?;
            self.indexes
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
            tracing::info!("face sets changed too much elsewhere: indexes reload");
            return Ok(());
        };
        if let Some(last) = changes.last() {
            seen.1 = last.seq;
        }
        for c in changes {
            if self.cached(&c.set).is_none() {
                continue;
            }
            let record = if c.removed {
                None
            } else {
                match self.store().face(&c.set, &c.face_id) {
                    Ok(r) => Some(r),
                    // Added then removed again: the later 'del' entry handles it.
                    Err(SetError::FaceNotFound(_)) | Err(SetError::SetNotFound(_)) => continue,
                    Err(e) => return Err(e),
                }
            };
            // Re-embedded elsewhere with another model: the whole index is rebuilt.
            if let (Some(r), Some(ix)) = (&record, self.cached(&c.set)) {
                if ix.read().unwrap_or_else(|e| e.into_inner()).model != r.model {
                    self.invalidate(&c.set);
                    continue;
                }
            }
            self.update_index(&c.set, |ix| match record {
                Some(r) => {
                    ix.insert(r);
                }
                None => {
                    ix.remove(&c.face_id);
                }
            });
        }
        // Sets deleted elsewhere lose their index.
        let cached: Vec<String> = self
            .indexes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        for set in cached {
            if let Err(SetError::SetNotFound(_)) = self.store().get_set(&set) {
                self.invalidate(&set);
            }
        }
        Ok(())
    }

    /// How many times a set's index was built from the database (for tests and logs).
    pub fn index_builds(&self) -> u64 {
        self.builds.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Trims the change feed after writes (cheap: a range delete on the primary key).
    fn after_write(&self) {
        if let Err(e) = self.store().prune_changes(CHANGES_KEPT) {
            tracing::warn!(error = %e, "cannot prune the face-set change feed");
        }
    }

    fn index(&self, set: &str) -> Result<SharedIndex, SetError> {
        if let Some(ix) = self.cached(set) {
            return Ok(ix);
        }
        let (info, records) = {
            let st = self.store();
            (st.get_set(set)?, st.all_faces(set)?)
        };
        let dim = records.first().map(|r| r.vector.len()).unwrap_or(0);
        let n = records.len();
        let t = std::time::Instant::now();
        let ix = SetIndex::from_records(info.model, dim, records, self.index_settings);
        self.builds
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(set, faces = n, index = %ix.describe(), ms = t.elapsed().as_millis() as u64, "face set index built");
        let ix = Arc::new(RwLock::new(ix));
        self.indexes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(set.to_string(), ix.clone());
        Ok(ix)
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
        let target = model_name(to);
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
            if model_name(e.model) != target {
                return Err(failed(format!("embedded by {}", model_name(e.model))));
            }
            vectors.push((r.face_id.clone(), e.vector));
        }
        self.store().replace_vectors(set, target, &vectors)?;
        self.invalidate(set);
        self.after_write();
        Ok(Reembedded {
            face_set_name: set.into(),
            from_model: info.model,
            to_model: target.into(),
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
        self.store()
            .create_set(name, capacity, &schema, model_name(model))
    }

    pub fn list_sets(&self) -> Result<Vec<SetInfo>, SetError> {
        self.store().list_sets()
    }

    pub fn show_set(&self, name: &str) -> Result<SetInfo, SetError> {
        self.store().get_set(name)
    }

    pub fn delete_set(&self, name: &str) -> Result<(), SetError> {
        self.store().delete_set(name)?;
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
            let model = model_name(emb.model);
            if model != info.model {
                return Err(SetError::ModelMismatch {
                    set: set.into(),
                    stored: info.model.clone(),
                    configured: model.into(),
                });
            }
            new.push(NewFace {
                external_image_id: eid.clone(),
                fields: fields.clone(),
                bbox,
                user_id: user_id.map(String::from),
                model: model.into(),
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
            ix.update(&r.face_id, &r.external_image_id, r.external_fields.clone())
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

    pub fn search(
        &self,
        set: &str,
        query: &Embedding,
        p: &SearchParams,
    ) -> Result<Vec<SearchHit>, SetError> {
        if !(1..=1000).contains(&p.top_n) {
            return Err(SetError::BadParameter {
                name: "top_n",
                message: "must be 1..=1000".into(),
            });
        }
        if !(0.0..=1.0).contains(&p.threshold) {
            return Err(SetError::BadParameter {
                name: "threshold",
                message: "must be 0..=1".into(),
            });
        }
        let info = self.show_set(set)?;
        let filter = p
            .filter
            .as_deref()
            .map(|f| Filter::parse(f, &info.external_fields))
            .transpose()?;
        for (field, _) in &p.sort {
            match info.external_fields.get(field) {
                Some(t) if t.numeric() => {}
                Some(_) => {
                    return Err(SetError::BadParameter {
                        name: "sort",
                        message: format!("{field:?} is not numeric"),
                    })
                }
                None => return Err(SetError::FieldUndefined(field.clone())),
            }
        }
        if let Some(rf) = &p.return_fields {
            if let Some(bad) = rf.iter().find(|f| !info.external_fields.contains_key(*f)) {
                return Err(SetError::FieldUndefined(bad.clone()));
            }
        }
        let model = model_name(query.model);
        if model != info.model {
            return Err(SetError::ModelMismatch {
                set: set.into(),
                stored: info.model,
                configured: model.into(),
            });
        }
        let ix = self.index(set)?;
        let ix = ix.read().unwrap_or_else(|e| e.into_inner());
        let mut found: Vec<(&index::IndexedFace, f32)> = ix
            .search(&query.vector, p.top_n, p.threshold, filter.as_ref())
            .into_iter()
            .filter_map(|h| Some((ix.face(h.index)?, h.similarity)))
            .collect();
        if !p.sort.is_empty() {
            found.sort_by(|(a, _), (b, _)| {
                for (field, asc) in &p.sort {
                    let va = a.fields.get(field).and_then(|v| v.as_f64());
                    let vb = b.fields.get(field).and_then(|v| v.as_f64());
                    let o = va.partial_cmp(&vb).unwrap_or(std::cmp::Ordering::Equal);
                    let o = if *asc { o } else { o.reverse() };
                    if o.is_ne() {
                        return o;
                    }
                }
                std::cmp::Ordering::Equal
            });
        }
        let hits = found
            .into_iter()
            .map(|(f, similarity)| {
                let fields = match &p.return_fields {
                    Some(keep) => f
                        .fields
                        .iter()
                        .filter(|(k, _)| keep.contains(k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    None => f.fields.clone(),
                };
                SearchHit {
                    face_id: f.face_id.clone(),
                    external_image_id: f.external_image_id.clone(),
                    external_fields: fields,
                    similarity: (similarity as f64 * 10000.0).round() / 10000.0,
                    bounding_box: f.bbox.clone(),
                    user_id: f.user_id.clone(),
                    face_set_name: set.to_string(),
                }
            })
            .collect();
        Ok(hits)
    }

    /// Search with a stored face's own vector.
    pub fn search_by_face_id(
        &self,
        set: &str,
        face_id: &str,
        p: &SearchParams,
    ) -> Result<Vec<SearchHit>, SetError> {
        let f = self.face(set, face_id)?;
        let kind = if f.model == model_name(EmbedderKind::Dlib) {
            EmbedderKind::Dlib
        } else {
            EmbedderKind::Mobilefacenet
        };
        self.search(
            set,
            &Embedding {
                model: kind,
                vector: f.vector,
            },
            p,
        )
    }

    /// Baidu identify: the best users over several groups (each user scored by its best face).
    pub fn identify(
        &self,
        groups: &[String],
        query: &Embedding,
        threshold: f32,
        top_users: usize,
    ) -> Result<Vec<UserHit>, SetError> {
        let mut best: HashMap<(String, String), f64> = HashMap::new();
        for g in groups {
            let p = SearchParams {
                top_n: 1000.min(self.show_set(g)?.face_number.max(1)),
                ..SearchParams::new(threshold)
            };
            for h in self.search(g, query, &p)? {
                if let Some(u) = h.user_id {
                    let e = best.entry((g.clone(), u)).or_insert(0.0);
                    *e = e.max(h.similarity);
                }
            }
        }
        let mut users: Vec<UserHit> = best
            .into_iter()
            .map(|((group_id, user_id), score)| {
                let user_info = self
                    .store()
                    .user_info(&group_id, &user_id)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                UserHit {
                    group_id,
                    user_id,
                    user_info,
                    score,
                }
            })
            .collect();
        users.sort_by(|a, b| b.score.total_cmp(&a.score));
        users.truncate(top_users.max(1));
        Ok(users)
    }

    pub fn set_user_info(&self, group: &str, user: &str, info: &str) -> Result<(), SetError> {
        self.show_set(group)?;
        self.store().set_user_info(group, user, info)
    }

    /// Users of a group, in id order (Baidu `group/getusers`).
    pub fn group_users(
        &self,
        group: &str,
        start: usize,
        length: usize,
    ) -> Result<Vec<String>, SetError> {
        self.store().group_users(group, start, length)
    }

    /// How many users a group has.
    pub fn group_user_count(&self, group: &str) -> Result<usize, SetError> {
        self.show_set(group)?;
        self.store().group_user_count(group)
    }

    /// A user's faces in one group: (face id, creation time in ms).
    pub fn user_faces(&self, group: &str, user: &str) -> Result<Vec<(String, i64)>, SetError> {
        self.show_set(group)?;
        self.store().user_faces(group, user)
    }

    pub fn user_info(&self, group: &str, user: &str) -> Result<Option<String>, SetError> {
        self.store().user_info(group, user)
    }

    pub fn user_groups(&self, user: &str) -> Result<Vec<String>, SetError> {
        self.store().user_groups(user)
    }

    pub fn copy_user(&self, user: &str, from: &str, to: &str) -> Result<usize, SetError> {
        let n = self.store().copy_user(user, from, to)?;
        self.invalidate(to);
        Ok(n)
    }

    /// Removes a user from one group; refused when it is the user's last group.
    pub fn remove_user(&self, user: &str, group: &str) -> Result<usize, SetError> {
        let groups = self.user_groups(user)?;
        if !groups.iter().any(|g| g == group) {
            return Err(SetError::UserNotFound {
                user: user.into(),
                group: group.into(),
            });
        }
        if groups.len() == 1 {
            return Err(SetError::LastGroup {
                user: user.into(),
                group: group.into(),
            });
        }
        self.delete_faces(group, Selector::User(user.into()))
    }
}

/// Baidu-style identify result.
#[derive(Debug, Clone, Serialize)]
pub struct UserHit {
    pub group_id: String,
    pub user_id: String,
    pub user_info: String,
    /// Similarity 0..1 like the rest of the API (Baidu's 0..100 score is `score * 100`).
    pub score: f64,
}
