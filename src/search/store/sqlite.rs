//! Face-set storage in SQLite, WAL mode (crash-safe, no server): the embedded default. Every write
//! is one transaction that takes the write lock up front (`BEGIN IMMEDIATE`) and waits up to 10 s
//! for it: a deferred one that read first could not wait when another process (the CLI beside the
//! daemon) wrote meanwhile.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::{Map, Value};

use super::{
    bbox_from, bbox_json, blob_to_vec, now_ms, vec_to_blob, Change, FaceRecord, NewFace, Selector,
    SetInfo, Store,
};
use crate::analyze::snapshot::FacePicture;
use crate::config::EmbedderKind;
use crate::search::error::SetError;
use crate::search::fields::Schema;

pub struct SqliteStore {
    conn: Connection,
}

const FACE_COLUMNS: &str =
    "face_id, set_name, external_image_id, fields, bbox, user_id, model, vector";

/// The embedder a stored `model` column names; a name no embedder has is a storage error (the
/// database was written by a newer facestream or edited by hand), not a silent default.
fn model_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<EmbedderKind> {
    let name: String = r.get(i)?;
    EmbedderKind::from_stored_name(&name).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("unknown embedding model {name:?}").into(),
        )
    })
}

fn face_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FaceRecord> {
    let fields: String = r.get(3)?;
    let bbox: String = r.get(4)?;
    let blob: Vec<u8> = r.get(7)?;
    Ok(FaceRecord {
        face_id: r.get(0)?,
        face_set_name: r.get(1)?,
        external_image_id: r.get(2)?,
        external_fields: serde_json::from_str(&fields).unwrap_or_default(),
        bounding_box: bbox_from(&bbox),
        user_id: r.get(5)?,
        model: model_at(r, 6)?,
        vector: blob_to_vec(&blob),
    })
}

/// How many faces a set holds, read inside the caller's transaction.
fn faces_in(tx: &rusqlite::Transaction<'_>, set: &str) -> Result<i64, SetError> {
    Ok(tx.query_row(
        "SELECT COUNT(*) FROM faces WHERE set_name = ?1",
        [set],
        |r| r.get(0),
    )?)
}

impl SqliteStore {
    pub fn open(dir: &Path) -> Result<Self, SetError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| SetError::Storage(format!("{}: {e}", dir.display())))?;
        let conn = Connection::open(dir.join("facesets.db"))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS face_sets(
                name TEXT PRIMARY KEY, capacity INTEGER NOT NULL, fields TEXT NOT NULL,
                model TEXT NOT NULL, created_ms INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS faces(
                face_id TEXT PRIMARY KEY,
                set_name TEXT NOT NULL REFERENCES face_sets(name) ON DELETE CASCADE,
                external_image_id TEXT NOT NULL, fields TEXT NOT NULL, bbox TEXT NOT NULL,
                user_id TEXT, model TEXT NOT NULL, vector BLOB NOT NULL, created_ms INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS faces_by_set ON faces(set_name);
             CREATE INDEX IF NOT EXISTS faces_by_user ON faces(set_name, user_id);
             CREATE TABLE IF NOT EXISTS users(
                set_name TEXT NOT NULL REFERENCES face_sets(name) ON DELETE CASCADE,
                user_id TEXT NOT NULL, user_info TEXT NOT NULL DEFAULT '',
                PRIMARY KEY(set_name, user_id));
             -- A feed of face changes, so another process (the daemon) can update its in-memory
             -- index instead of reloading whole sets. Face-set deletes cascade into 'del' rows.
             CREATE TABLE IF NOT EXISTS changes(
                seq INTEGER PRIMARY KEY AUTOINCREMENT, set_name TEXT NOT NULL,
                face_id TEXT NOT NULL, op TEXT NOT NULL);
             CREATE TRIGGER IF NOT EXISTS faces_added AFTER INSERT ON faces BEGIN
                INSERT INTO changes(set_name, face_id, op) VALUES (NEW.set_name, NEW.face_id, 'add'); END;
             CREATE TRIGGER IF NOT EXISTS faces_removed AFTER DELETE ON faces BEGIN
                INSERT INTO changes(set_name, face_id, op) VALUES (OLD.set_name, OLD.face_id, 'del'); END;
             CREATE TRIGGER IF NOT EXISTS faces_updated AFTER UPDATE ON faces BEGIN
                INSERT INTO changes(set_name, face_id, op) VALUES (NEW.set_name, NEW.face_id, 'upd'); END;
             -- Enrolment pictures (storage.keep_face_images): the face with a margin as JPEG, and
             -- its 5 landmarks in the picture's pixels; they go with their face.
             CREATE TABLE IF NOT EXISTS face_pictures(
                face_id TEXT PRIMARY KEY REFERENCES faces(face_id) ON DELETE CASCADE,
                jpeg BLOB NOT NULL, landmarks TEXT NOT NULL);",
        )?;
        Ok(Self { conn })
    }
}

impl Store for SqliteStore {
    /// Changes when another connection (another process) commits: time to reload indexes.
    fn data_version(&self) -> Result<i64, SetError> {
        Ok(self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    /// The newest sequence number the change feed ever handed out (0 before the first change);
    /// it survives pruning, unlike the newest row.
    fn last_change(&self) -> Result<i64, SetError> {
        Ok(self.conn.query_row(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0)",
            [],
            |r| r.get(0),
        )?)
    }

    /// Changes after `seq`, oldest first, at most `limit`; `None` when the feed cannot bring a
    /// reader at `seq` up to date (entries after it were pruned, more than `limit` are pending,
    /// or the database is older than the reader): reload instead.
    fn changes_since(&self, seq: i64, limit: usize) -> Result<Option<Vec<Change>>, SetError> {
        let last = self.last_change()?;
        if last == seq {
            return Ok(Some(vec![]));
        }
        let oldest: Option<i64> = self
            .conn
            .query_row("SELECT MIN(seq) FROM changes", [], |r| r.get(0))?;
        if last < seq || oldest.is_none_or(|o| o > seq + 1) {
            return Ok(None);
        }
        let mut st = self.conn.prepare(
            "SELECT seq, set_name, face_id, op FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows: Vec<Change> = st
            .query_map(params![seq, limit as i64 + 1], |r| {
                Ok(Change {
                    seq: r.get(0)?,
                    set: r.get(1)?,
                    face_id: r.get(2)?,
                    removed: r.get::<_, String>(3)? == "del",
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok((rows.len() <= limit).then_some(rows))
    }

    /// Keeps the newest `keep` entries of the change feed.
    fn prune_changes(&self, keep: i64) -> Result<(), SetError> {
        self.conn.execute(
            "DELETE FROM changes WHERE seq <= (SELECT MAX(seq) FROM changes) - ?1",
            [keep],
        )?;
        Ok(())
    }

    fn create_set(
        &mut self,
        name: &str,
        capacity: usize,
        schema: &Schema,
        model: EmbedderKind,
    ) -> Result<SetInfo, SetError> {
        let fields = serde_json::to_string(schema).map_err(|e| SetError::Storage(e.to_string()))?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: bool = tx
            .query_row("SELECT 1 FROM face_sets WHERE name = ?1", [name], |_| {
                Ok(true)
            })
            .optional()?
            .is_some();
        if exists {
            return Err(SetError::SetExists(name.into()));
        }
        tx.execute("INSERT INTO face_sets(name, capacity, fields, model, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)", params![name, capacity as i64, fields, model.stored_name(), now_ms()])?;
        tx.commit()?;
        self.get_set(name)
    }

    fn get_set(&self, name: &str) -> Result<SetInfo, SetError> {
        self.conn
            .query_row(
                "SELECT name, capacity, fields, model, created_ms, (SELECT COUNT(*) FROM faces WHERE set_name = s.name) FROM face_sets s WHERE name = ?1",
                [name],
                |r| {
                    let fields: String = r.get(2)?;
                    Ok(SetInfo {
                        face_set_name: r.get(0)?,
                        face_set_capacity: r.get::<_, i64>(1)? as usize,
                        external_fields: serde_json::from_str(&fields).unwrap_or_default(),
                        model: model_at(r, 3)?,
                        create_time_ms: r.get(4)?,
                        face_number: r.get::<_, i64>(5)? as usize,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| SetError::SetNotFound(name.into()))
    }

    fn list_sets(&self) -> Result<Vec<SetInfo>, SetError> {
        let mut st = self
            .conn
            .prepare("SELECT name FROM face_sets ORDER BY name")?;
        let names: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        names.iter().map(|n| self.get_set(n)).collect()
    }

    fn delete_set(&mut self, name: &str) -> Result<(), SetError> {
        let n = self
            .conn
            .execute("DELETE FROM face_sets WHERE name = ?1", [name])?;
        if n == 0 {
            return Err(SetError::SetNotFound(name.into()));
        }
        Ok(())
    }

    /// Inserts all faces or none; the capacity is checked inside the transaction.
    fn add_faces(&mut self, set: &str, faces: Vec<NewFace>) -> Result<Vec<String>, SetError> {
        let info = self.get_set(set)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let count = faces_in(&tx, set)?;
        if count as usize + faces.len() > info.face_set_capacity {
            return Err(SetError::CapacityExceeded {
                name: set.into(),
                capacity: info.face_set_capacity,
            });
        }
        let mut ids = vec![];
        {
            let mut ins = tx.prepare(&format!("INSERT INTO faces({FACE_COLUMNS}, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"))?;
            for f in faces {
                let id = uuid::Uuid::new_v4().simple().to_string();
                let fields = Value::Object(f.fields).to_string();
                ins.execute(params![
                    id,
                    set,
                    f.external_image_id,
                    fields,
                    bbox_json(&f.bbox),
                    f.user_id,
                    f.model.stored_name(),
                    vec_to_blob(&f.vector),
                    now_ms()
                ])?;
                if let Some(u) = &f.user_id {
                    tx.execute(
                        "INSERT OR IGNORE INTO users(set_name, user_id) VALUES (?1, ?2)",
                        params![set, u],
                    )?;
                }
                if let Some(p) = &f.picture {
                    let landmarks = serde_json::to_string(&p.landmarks)
                        .map_err(|e| SetError::Storage(e.to_string()))?;
                    tx.execute(
                        "INSERT INTO face_pictures(face_id, jpeg, landmarks) VALUES (?1, ?2, ?3)",
                        params![id, p.jpeg, landmarks],
                    )?;
                }
                ids.push(id);
            }
        }
        tx.commit()?;
        Ok(ids)
    }

    fn faces(&self, set: &str, offset: usize, limit: usize) -> Result<Vec<FaceRecord>, SetError> {
        self.get_set(set)?;
        let mut st = self.conn.prepare(&format!("SELECT {FACE_COLUMNS} FROM faces WHERE set_name = ?1 ORDER BY rowid LIMIT ?2 OFFSET ?3"))?;
        let rows = st
            .query_map(params![set, limit as i64, offset as i64], face_row)?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn all_faces(&self, set: &str) -> Result<Vec<FaceRecord>, SetError> {
        self.faces(set, 0, i64::MAX as usize)
    }

    fn face(&self, set: &str, face_id: &str) -> Result<FaceRecord, SetError> {
        self.get_set(set)?;
        self.conn
            .query_row(
                &format!("SELECT {FACE_COLUMNS} FROM faces WHERE set_name = ?1 AND face_id = ?2"),
                params![set, face_id],
                face_row,
            )
            .optional()?
            .ok_or_else(|| SetError::FaceNotFound(face_id.into()))
    }

    fn update_face(
        &mut self,
        set: &str,
        face_id: &str,
        external_image_id: Option<&str>,
        fields: Option<&Map<String, Value>>,
    ) -> Result<FaceRecord, SetError> {
        let cur = self.face(set, face_id)?;
        let eid = external_image_id.unwrap_or(&cur.external_image_id);
        let mut merged = cur.external_fields.clone();
        if let Some(f) = fields {
            for (k, v) in f {
                merged.insert(k.clone(), v.clone());
            }
        }
        self.conn.execute(
            "UPDATE faces SET external_image_id = ?1, fields = ?2 WHERE set_name = ?3 AND face_id = ?4",
            params![eid, Value::Object(merged).to_string(), set, face_id],
        )?;
        self.face(set, face_id)
    }

    /// Deletes the selected faces of a set; returns their face ids.
    fn delete_faces(&mut self, set: &str, sel: &Selector) -> Result<Vec<String>, SetError> {
        self.get_set(set)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let gone = {
            let returning = |sql: &str, value: &str| -> Result<Vec<String>, SetError> {
                let mut st = tx.prepare(sql)?;
                let rows = st.query_map(params![set, value], |r| r.get::<_, String>(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            };
            match sel {
                Selector::FaceId(id) => returning(
                    "DELETE FROM faces WHERE set_name = ?1 AND face_id = ?2 RETURNING face_id",
                    id,
                )?,
                Selector::ExternalImageId(e) => returning(
                    "DELETE FROM faces WHERE set_name = ?1 AND external_image_id = ?2 RETURNING face_id",
                    e,
                )?,
                Selector::User(u) => {
                    tx.execute(
                        "DELETE FROM users WHERE set_name = ?1 AND user_id = ?2",
                        params![set, u],
                    )?;
                    returning(
                        "DELETE FROM faces WHERE set_name = ?1 AND user_id = ?2 RETURNING face_id",
                        u,
                    )?
                }
                Selector::Field(..) | Selector::Filter(_) => {
                    let ids: Vec<String> = {
                        let mut st =
                            tx.prepare("SELECT face_id, fields FROM faces WHERE set_name = ?1")?;
                        let rows = st.query_map([set], |r| {
                            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                        })?;
                        let mut ids = vec![];
                        for row in rows {
                            let (id, fields) = row?;
                            let f: Map<String, Value> =
                                serde_json::from_str(&fields).unwrap_or_default();
                            if sel.selects_fields(&f) {
                                ids.push(id);
                            }
                        }
                        ids
                    };
                    for id in &ids {
                        tx.execute("DELETE FROM faces WHERE face_id = ?1", [id])?;
                    }
                    ids
                }
            }
        };
        tx.commit()?;
        Ok(gone)
    }

    /// Users of a group in id order, `start`..`start + length`.
    fn group_users(&self, set: &str, start: usize, length: usize) -> Result<Vec<String>, SetError> {
        self.get_set(set)?;
        let mut st = self.conn.prepare(
            "SELECT user_id FROM users WHERE set_name = ?1 ORDER BY user_id LIMIT ?2 OFFSET ?3",
        )?;
        let v = st
            .query_map(params![set, length as i64, start as i64], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(v)
    }

    /// A user's faces in one group: (face id, creation time in ms), oldest first.
    fn group_user_count(&self, set: &str) -> Result<usize, SetError> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM users WHERE set_name = ?1",
            [set],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }

    fn user_faces(&self, set: &str, user: &str) -> Result<Vec<(String, i64)>, SetError> {
        let mut st = self.conn.prepare(
            "SELECT face_id, created_ms FROM faces WHERE set_name = ?1 AND user_id = ?2 ORDER BY rowid",
        )?;
        let v = st
            .query_map(params![set, user], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(v)
    }

    /// Groups (face sets) a user belongs to.
    fn user_groups(&self, user: &str) -> Result<Vec<String>, SetError> {
        let mut st = self
            .conn
            .prepare("SELECT set_name FROM users WHERE user_id = ?1 ORDER BY set_name")?;
        let v = st
            .query_map([user], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(v)
    }

    fn set_user_info(&mut self, set: &str, user: &str, info: &str) -> Result<(), SetError> {
        self.conn.execute(
            "INSERT INTO users(set_name, user_id, user_info) VALUES (?1, ?2, ?3) ON CONFLICT(set_name, user_id) DO UPDATE SET user_info = excluded.user_info",
            params![set, user, info],
        )?;
        Ok(())
    }

    fn user_info(&self, set: &str, user: &str) -> Result<Option<String>, SetError> {
        Ok(self
            .conn
            .query_row(
                "SELECT user_info FROM users WHERE set_name = ?1 AND user_id = ?2",
                params![set, user],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Copies a user's faces (and info) into another group, in one transaction.
    fn copy_user(&mut self, user: &str, from: &str, to: &str) -> Result<usize, SetError> {
        let info = self
            .user_info(from, user)?
            .ok_or_else(|| SetError::UserNotFound {
                user: user.into(),
                group: from.into(),
            })?;
        let dst = self.get_set(to)?;
        let src_info = self.get_set(from)?;
        if src_info.model != dst.model {
            return Err(SetError::ModelMismatch {
                set: to.into(),
                stored: dst.model.stored_name().into(),
                configured: src_info.model.stored_name().into(),
            });
        }
        let faces: Vec<FaceRecord> = self
            .all_faces(from)?
            .into_iter()
            .filter(|f| f.user_id.as_deref() == Some(user))
            .collect();
        let n = faces.len();
        let mut pictures = self.pictures(from)?;
        let new = faces
            .into_iter()
            .map(|f| {
                let picture = pictures.remove(&f.face_id);
                f.copied(picture)
            })
            .collect();
        self.add_faces(to, new)?;
        self.set_user_info(to, user, &info)?;
        Ok(n)
    }

    /// The kept pictures of a set's faces, by face id.
    fn pictures(&self, set: &str) -> Result<HashMap<String, FacePicture>, SetError> {
        let mut st = self.conn.prepare(
            "SELECT p.face_id, p.jpeg, p.landmarks FROM face_pictures p JOIN faces f ON f.face_id = p.face_id WHERE f.set_name = ?1",
        )?;
        let rows = st.query_map([set], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = HashMap::new();
        for row in rows {
            let (id, jpeg, landmarks) = row?;
            let landmarks = serde_json::from_str(&landmarks).map_err(|e| {
                SetError::Storage(format!("face {id}: stored picture landmarks: {e}"))
            })?;
            out.insert(id, FacePicture { jpeg, landmarks });
        }
        Ok(out)
    }

    /// Replaces every vector of a set with another model's, and the set's model, in one
    /// transaction. Refused (nothing written) unless `vectors` covers exactly the set's faces: a
    /// face added or removed meanwhile would otherwise leave two models in one set.
    fn replace_vectors(
        &mut self,
        set: &str,
        model: EmbedderKind,
        vectors: &[(String, Vec<f32>)],
    ) -> Result<(), SetError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let count = faces_in(&tx, set)?;
        let mut updated = 0usize;
        {
            let mut up = tx.prepare(
                "UPDATE faces SET model = ?1, vector = ?2 WHERE set_name = ?3 AND face_id = ?4",
            )?;
            for (id, v) in vectors {
                updated += up.execute(params![model.stored_name(), vec_to_blob(v), set, id])?;
            }
        }
        if updated != vectors.len() || count as usize != vectors.len() {
            return Err(SetError::Storage(format!(
                "face set {set:?} changed while it was re-embedded (now {count} faces); nothing was changed, run it again"
            )));
        }
        tx.execute(
            "UPDATE face_sets SET model = ?1 WHERE name = ?2",
            params![model.stored_name(), set],
        )?;
        tx.commit()?;
        Ok(())
    }
}
