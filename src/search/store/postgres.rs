//! Face-set storage in PostgreSQL (`storage.url = "postgres://…"`): one gallery shared by a pool
//! of daemons. Same behaviour and errors as the SQLite store — one transaction per write,
//! capacities checked inside it, typed fields, the model recorded per set — plus what sharing
//! needs:
//! - **Ordered change feed.** Every write transaction first takes one transaction-scoped advisory
//!   lock, so change-feed sequence numbers are committed in the order they were handed out: a
//!   reader that has seen seq N has seen every change below N. (Writes are enrolments, not
//!   frames; serialising them costs nothing measurable.) A trigger on `faces` writes the feed and
//!   sends `NOTIFY facestream_changes` so other daemons learn of it at once.
//! - **Versioned migrations** applied at connect under another advisory lock (two daemons starting
//!   together do not race); a database newer than this build is refused, not silently used.
//!
//! The face sets call the store synchronously from pipeline threads, the CLI and API handlers, so
//! this uses rust-postgres's synchronous client (the `postgres` crate over `tokio-postgres`). It
//! runs its own small runtime, which may not block inside another: calls made on a tokio worker
//! run on a scoped thread instead (`off_runtime`). Connections come from the process's pool
//! (`database.rs`); `FaceSets` serialises its own calls as it does for SQLite.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Row, Transaction};
use serde_json::{Map, Value};

pub use super::database::Database;
use super::{
    bbox_from, bbox_json, blob_to_vec, now_ms, vec_to_blob, Change, FaceRecord, NewFace, Selector,
    SetInfo, Store,
};
use crate::analyze::snapshot::FacePicture;
use crate::config::EmbedderKind;
use crate::search::error::SetError;
use crate::search::fields::Schema;

/// Taken by every write transaction (see the module docs).
const WRITE_LOCK: i64 = 0x6661_6365_5752; // "faceWR"
/// Taken while migrating.
const MIGRATE_LOCK: i64 = 0x6661_6365_4d47; // "faceMG"
/// The channel the change trigger notifies.
pub const CHANGES_CHANNEL: &str = "facestream_changes";

/// The schema, as numbered migrations applied in order, each in the transaction that records it.
/// Never edit a released one: add the next.
pub const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        r#"
CREATE TABLE face_sets(
    name TEXT PRIMARY KEY, capacity BIGINT NOT NULL, fields TEXT NOT NULL,
    model TEXT NOT NULL, created_ms BIGINT NOT NULL);
CREATE TABLE faces(
    seq BIGSERIAL NOT NULL,
    face_id TEXT PRIMARY KEY,
    set_name TEXT NOT NULL REFERENCES face_sets(name) ON DELETE CASCADE,
    external_image_id TEXT NOT NULL, fields TEXT NOT NULL, bbox TEXT NOT NULL,
    user_id TEXT, model TEXT NOT NULL, vector BYTEA NOT NULL, created_ms BIGINT NOT NULL);
CREATE INDEX faces_by_set ON faces(set_name, seq);
CREATE INDEX faces_by_user ON faces(set_name, user_id);
CREATE TABLE users(
    set_name TEXT NOT NULL REFERENCES face_sets(name) ON DELETE CASCADE,
    user_id TEXT NOT NULL, user_info TEXT NOT NULL DEFAULT '',
    PRIMARY KEY(set_name, user_id));
CREATE TABLE changes(
    seq BIGSERIAL PRIMARY KEY, set_name TEXT NOT NULL, face_id TEXT NOT NULL, op TEXT NOT NULL);
CREATE FUNCTION facestream_face_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE s BIGINT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO changes(set_name, face_id, op) VALUES (OLD.set_name, OLD.face_id, 'del')
            RETURNING seq INTO s;
    ELSE
        INSERT INTO changes(set_name, face_id, op)
            VALUES (NEW.set_name, NEW.face_id, CASE TG_OP WHEN 'INSERT' THEN 'add' ELSE 'upd' END)
            RETURNING seq INTO s;
    END IF;
    PERFORM pg_notify('facestream_changes', s::text);
    RETURN NULL;
END $$;
CREATE TRIGGER faces_changed AFTER INSERT OR UPDATE OR DELETE ON faces
    FOR EACH ROW EXECUTE FUNCTION facestream_face_changed();
CREATE TABLE face_pictures(
    face_id TEXT PRIMARY KEY REFERENCES faces(face_id) ON DELETE CASCADE,
    jpeg BYTEA NOT NULL, landmarks TEXT NOT NULL);
"#,
    ),
    (
        2,
        r#"
-- A pool of daemons (src/cluster/): the cameras, the daemons, and who watches what.
CREATE TABLE cameras(
    id TEXT PRIMARY KEY, config TEXT NOT NULL, enabled BOOLEAN NOT NULL, updated_ms BIGINT NOT NULL);
CREATE TABLE nodes(
    node_id TEXT PRIMARY KEY, capacity INT NOT NULL, seen_at TIMESTAMPTZ NOT NULL,
    draining BOOLEAN NOT NULL DEFAULT false);
CREATE SEQUENCE lease_tokens;
CREATE TABLE leases(
    camera_id TEXT PRIMARY KEY REFERENCES cameras(id) ON DELETE CASCADE,
    node_id TEXT NOT NULL, token BIGINT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ NOT NULL);
"#,
    ),
    (
        3,
        r#"
-- The event history (src/history/): what the console's timeline and /facestream/v1/events show.
CREATE TABLE events(
    event_id TEXT PRIMARY KEY, kind TEXT NOT NULL, camera TEXT NOT NULL,
    track_id BIGINT, person TEXT, face_set TEXT, wall_ms BIGINT NOT NULL,
    payload TEXT NOT NULL, snapshot BYTEA, bytes BIGINT NOT NULL);
CREATE INDEX events_by_time ON events(wall_ms);
CREATE INDEX events_by_camera ON events(camera, wall_ms);
CREATE INDEX events_by_person ON events(person, wall_ms);
"#,
    ),
];

impl From<postgres::Error> for SetError {
    fn from(e: postgres::Error) -> Self {
        SetError::Storage(format!("postgres: {}", describe(&e)))
    }
}

/// The whole of a client error: the server's SQLSTATE and message, or the chain of causes
/// (rust-postgres's own text is only "db error" or "error connecting to server").
pub fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Runs `f` where the synchronous client may block: on this thread, or on a scoped thread when
/// this one is inside a tokio runtime (the client's own runtime cannot block inside another).
pub fn off_runtime<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| s.spawn(f).join()).unwrap_or_else(|p| std::panic::resume_unwind(p))
    } else {
        f()
    }
}

/// Applies the migrations this database lacks; returns the versions applied now.
pub fn migrate(c: &mut Client) -> Result<Vec<i32>, SetError> {
    off_runtime(|| {
        let mut tx = c.transaction()?;
        tx.query("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations(version INT PRIMARY KEY, applied_ms BIGINT NOT NULL)",
        )?;
        let done: Vec<i32> = tx
            .query("SELECT version FROM schema_migrations", &[])?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let latest = MIGRATIONS.last().map_or(0, |m| m.0);
        if let Some(v) = done.iter().find(|v| **v > latest) {
            return Err(SetError::Storage(format!(
                "the database's schema is at version {v}, newer than this facestream knows ({latest}): upgrade facestream"
            )));
        }
        let mut applied = vec![];
        for (v, sql) in MIGRATIONS.iter().filter(|(v, _)| !done.contains(v)) {
            tx.batch_execute(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations(version, applied_ms) VALUES ($1, $2)",
                &[v, &now_ms()],
            )?;
            applied.push(*v);
        }
        tx.commit()?;
        Ok(applied)
    })
}

/// Wall-clock ms for rows written (the same clock as the SQLite store's).
pub fn now_ms_db() -> i64 {
    now_ms()
}

/// Applies the migrations the database of `storage` lacks (`facestream db migrate`).
pub fn migrate_storage(storage: &crate::config::StorageConfig) -> Result<Vec<i32>, SetError> {
    let db = Database::open(storage)?;
    off_runtime(|| migrate(&mut *db.get()?))
}

pub struct PgStore {
    db: Database,
    /// Bumped by the listener on every change notification (and when its 1 s poll finds the feed
    /// moved): what `data_version` reports, so an unchanged gallery costs no query per search.
    changed: Arc<AtomicI64>,
    stop: Arc<AtomicBool>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// How often the listener checks the feed itself, in case a notification was lost (a dropped
/// connection): the bound on how stale another daemon's view can get while the database is up.
pub const POLL_EVERY: Duration = Duration::from_secs(1);

/// Follows `LISTEN facestream_changes` on its own connection, bumping `changed` for each
/// notification, and polls the feed every `POLL_EVERY` as a safety net. Reconnects (every
/// second) while the database is away; returns once `stop` is set.
fn listen(db: Database, changed: Arc<AtomicI64>, stop: Arc<AtomicBool>) {
    let mut last_seen = -1i64;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut c) = db.connect() else {
            std::thread::sleep(POLL_EVERY);
            continue;
        };
        if c.batch_execute(&format!("LISTEN {CHANGES_CHANNEL}"))
            .is_err()
        {
            continue;
        }
        // Whatever happened while we were away is news.
        changed.fetch_add(1, Ordering::Relaxed);
        'connected: while !stop.load(Ordering::Relaxed) {
            let mut got = false;
            {
                let mut notes = c.notifications();
                let mut waiting = notes.timeout_iter(POLL_EVERY);
                loop {
                    match waiting.next() {
                        Ok(Some(_)) => {
                            changed.fetch_add(1, Ordering::Relaxed);
                            got = true;
                        }
                        Ok(None) => break,
                        Err(_) => break 'connected,
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
            }
            if got {
                continue;
            }
            match c.query_one("SELECT COALESCE(MAX(seq), 0) FROM changes", &[]) {
                Ok(r) => {
                    let seq: i64 = r.try_get(0).unwrap_or(last_seen);
                    if seq != last_seen {
                        last_seen = seq;
                        changed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(_) => break,
            }
        }
    }
}

fn model_of(name: &str) -> Result<EmbedderKind, SetError> {
    EmbedderKind::from_stored_name(name)
        .ok_or_else(|| SetError::Storage(format!("unknown embedding model {name:?}")))
}

const FACE_COLUMNS: &str =
    "face_id, set_name, external_image_id, fields, bbox, user_id, model, vector";

fn face_row(r: &Row) -> Result<FaceRecord, SetError> {
    let fields: String = r.try_get(3)?;
    let bbox: String = r.try_get(4)?;
    let model: String = r.try_get(6)?;
    let blob: Vec<u8> = r.try_get(7)?;
    Ok(FaceRecord {
        face_id: r.try_get(0)?,
        face_set_name: r.try_get(1)?,
        external_image_id: r.try_get(2)?,
        external_fields: serde_json::from_str(&fields).unwrap_or_default(),
        bounding_box: bbox_from(&bbox),
        user_id: r.try_get(5)?,
        model: model_of(&model)?,
        vector: blob_to_vec(&blob),
    })
}

/// A write transaction, holding the write lock (see the module docs).
fn write_tx(c: &mut Client) -> Result<Transaction<'_>, SetError> {
    let mut tx = c.transaction()?;
    tx.query("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
    Ok(tx)
}

fn set_info(c: &mut impl postgres::GenericClient, name: &str) -> Result<SetInfo, SetError> {
    let row = c
        .query_opt(
            "SELECT name, capacity, fields, model, created_ms, (SELECT COUNT(*) FROM faces WHERE set_name = s.name) FROM face_sets s WHERE name = $1",
            &[&name],
        )?
        .ok_or_else(|| SetError::SetNotFound(name.into()))?;
    let fields: String = row.try_get(2)?;
    let model: String = row.try_get(3)?;
    Ok(SetInfo {
        face_set_name: row.try_get(0)?,
        face_set_capacity: row.try_get::<_, i64>(1)? as usize,
        external_fields: serde_json::from_str(&fields).unwrap_or_default(),
        model: model_of(&model)?,
        create_time_ms: row.try_get(4)?,
        face_number: row.try_get::<_, i64>(5)? as usize,
    })
}

fn face_in(
    c: &mut impl postgres::GenericClient,
    set: &str,
    face_id: &str,
) -> Result<FaceRecord, SetError> {
    set_info(c, set)?;
    let row = c
        .query_opt(
            &format!("SELECT {FACE_COLUMNS} FROM faces WHERE set_name = $1 AND face_id = $2"),
            &[&set, &face_id],
        )?
        .ok_or_else(|| SetError::FaceNotFound(face_id.into()))?;
    face_row(&row)
}

/// Inserts `faces` into `set` inside `tx`, checking the capacity there.
fn insert_faces(
    tx: &mut Transaction<'_>,
    set: &str,
    faces: Vec<NewFace>,
) -> Result<Vec<String>, SetError> {
    let info = set_info(tx, set)?;
    if info.face_number + faces.len() > info.face_set_capacity {
        return Err(SetError::CapacityExceeded {
            name: set.into(),
            capacity: info.face_set_capacity,
        });
    }
    let insert = tx.prepare(&format!(
        "INSERT INTO faces({FACE_COLUMNS}, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))?;
    let mut ids = vec![];
    for f in faces {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let fields = Value::Object(f.fields).to_string();
        tx.execute(
            &insert,
            &[
                &id,
                &set,
                &f.external_image_id,
                &fields,
                &bbox_json(&f.bbox),
                &f.user_id,
                &f.model.stored_name(),
                &vec_to_blob(&f.vector),
                &now_ms(),
            ],
        )?;
        if let Some(u) = &f.user_id {
            tx.execute(
                "INSERT INTO users(set_name, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&set, u],
            )?;
        }
        if let Some(p) = &f.picture {
            let landmarks = serde_json::to_string(&p.landmarks)
                .map_err(|e| SetError::Storage(e.to_string()))?;
            tx.execute(
                "INSERT INTO face_pictures(face_id, jpeg, landmarks) VALUES ($1, $2, $3)",
                &[&id, &p.jpeg, &landmarks],
            )?;
        }
        ids.push(id);
    }
    Ok(ids)
}

impl PgStore {
    /// The face sets in `db` (schema migrated when it was opened), following its change feed.
    pub fn new(db: Database) -> Result<Self, SetError> {
        let changed = Arc::new(AtomicI64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (d, ch, st) = (db.clone(), changed.clone(), stop.clone());
        std::thread::Builder::new()
            .name("faceset-listen".into())
            .spawn(move || listen(d, ch, st))
            .map_err(|e| SetError::Storage(format!("cannot start the change listener: {e}")))?;
        Ok(PgStore { db, changed, stop })
    }

    /// The face sets in the database of `storage` (the process's shared pool).
    pub fn open(storage: &crate::config::StorageConfig) -> Result<Self, SetError> {
        Self::new(Database::shared(storage)?)
    }

    /// Runs `f` on a pooled connection, off any tokio runtime.
    fn with<R: Send>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<R, SetError> + Send,
    ) -> Result<R, SetError> {
        off_runtime(move || {
            let mut c = self.db.get()?;
            f(&mut c)
        })
    }
}

impl Store for PgStore {
    fn data_version(&self) -> Result<i64, SetError> {
        Ok(self.changed.load(Ordering::Relaxed))
    }

    fn last_change(&self) -> Result<i64, SetError> {
        self.with(|c| {
            Ok(
                c.query_one("SELECT COALESCE(MAX(seq), 0) FROM changes", &[])?
                    .try_get(0)?,
            )
        })
    }

    fn changes_since(&self, seq: i64, limit: usize) -> Result<Option<Vec<Change>>, SetError> {
        self.with(|c| {
            let row = c.query_one("SELECT COALESCE(MAX(seq), 0), MIN(seq) FROM changes", &[])?;
            let last: i64 = row.try_get(0)?;
            let oldest: Option<i64> = row.try_get(1)?;
            if last == seq {
                return Ok(Some(vec![]));
            }
            if last < seq || oldest.is_none_or(|o| o > seq + 1) {
                return Ok(None);
            }
            let rows = c.query(
                "SELECT seq, set_name, face_id, op FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&seq, &(limit as i64 + 1)],
            )?;
            let changes = rows
                .iter()
                .map(|r| {
                    Ok(Change {
                        seq: r.try_get(0)?,
                        set: r.try_get(1)?,
                        face_id: r.try_get(2)?,
                        removed: r.try_get::<_, String>(3)? == "del",
                    })
                })
                .collect::<Result<Vec<_>, SetError>>()?;
            Ok((changes.len() <= limit).then_some(changes))
        })
    }

    fn prune_changes(&self, keep: i64) -> Result<(), SetError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM changes WHERE seq <= (SELECT MAX(seq) FROM changes) - $1",
                &[&keep],
            )?;
            Ok(())
        })
    }

    fn create_set(
        &mut self,
        name: &str,
        capacity: usize,
        schema: &Schema,
        model: EmbedderKind,
    ) -> Result<SetInfo, SetError> {
        let fields = serde_json::to_string(schema).map_err(|e| SetError::Storage(e.to_string()))?;
        self.with(|c| {
            let mut tx = write_tx(c)?;
            if tx
                .query_opt("SELECT 1 FROM face_sets WHERE name = $1", &[&name])?
                .is_some()
            {
                return Err(SetError::SetExists(name.into()));
            }
            tx.execute(
                "INSERT INTO face_sets(name, capacity, fields, model, created_ms) VALUES ($1, $2, $3, $4, $5)",
                &[&name, &(capacity as i64), &fields, &model.stored_name(), &now_ms()],
            )?;
            let info = set_info(&mut tx, name)?;
            tx.commit()?;
            Ok(info)
        })
    }

    fn get_set(&self, name: &str) -> Result<SetInfo, SetError> {
        self.with(|c| set_info(c, name))
    }

    fn list_sets(&self) -> Result<Vec<SetInfo>, SetError> {
        self.with(|c| {
            let names: Vec<String> = c
                .query("SELECT name FROM face_sets ORDER BY name", &[])?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            names.iter().map(|n| set_info(c, n)).collect()
        })
    }

    fn delete_set(&mut self, name: &str) -> Result<(), SetError> {
        self.with(|c| {
            let mut tx = write_tx(c)?;
            if tx.execute("DELETE FROM face_sets WHERE name = $1", &[&name])? == 0 {
                return Err(SetError::SetNotFound(name.into()));
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn add_faces(&mut self, set: &str, faces: Vec<NewFace>) -> Result<Vec<String>, SetError> {
        self.with(|c| {
            let mut tx = write_tx(c)?;
            let ids = insert_faces(&mut tx, set, faces)?;
            tx.commit()?;
            Ok(ids)
        })
    }

    fn faces(&self, set: &str, offset: usize, limit: usize) -> Result<Vec<FaceRecord>, SetError> {
        self.with(|c| {
            set_info(c, set)?;
            c.query(
                &format!("SELECT {FACE_COLUMNS} FROM faces WHERE set_name = $1 ORDER BY seq LIMIT $2 OFFSET $3"),
                &[&set, &(limit.min(i64::MAX as usize) as i64), &(offset as i64)],
            )?
            .iter()
            .map(face_row)
            .collect()
        })
    }

    fn face(&self, set: &str, face_id: &str) -> Result<FaceRecord, SetError> {
        self.with(|c| face_in(c, set, face_id))
    }

    fn update_face(
        &mut self,
        set: &str,
        face_id: &str,
        external_image_id: Option<&str>,
        fields: Option<&Map<String, Value>>,
    ) -> Result<FaceRecord, SetError> {
        self.with(|c| {
            let mut tx = write_tx(c)?;
            let cur = face_in(&mut tx, set, face_id)?;
            let eid = external_image_id.unwrap_or(&cur.external_image_id);
            let mut merged = cur.external_fields.clone();
            for (k, v) in fields.into_iter().flatten() {
                merged.insert(k.clone(), v.clone());
            }
            tx.execute(
                "UPDATE faces SET external_image_id = $1, fields = $2 WHERE set_name = $3 AND face_id = $4",
                &[&eid, &Value::Object(merged).to_string(), &set, &face_id],
            )?;
            let updated = face_in(&mut tx, set, face_id)?;
            tx.commit()?;
            Ok(updated)
        })
    }

    fn delete_faces(&mut self, set: &str, sel: &Selector) -> Result<Vec<String>, SetError> {
        self.with(|c| {
            let mut tx = write_tx(c)?;
            set_info(&mut tx, set)?;
            let ids_of = |rows: Vec<Row>| -> Result<Vec<String>, SetError> {
                rows.iter()
                    .map(|r| r.try_get(0).map_err(SetError::from))
                    .collect()
            };
            let gone = match sel {
                Selector::FaceId(id) => ids_of(tx.query(
                    "DELETE FROM faces WHERE set_name = $1 AND face_id = $2 RETURNING face_id",
                    &[&set, id],
                )?)?,
                Selector::ExternalImageId(e) => ids_of(tx.query(
                    "DELETE FROM faces WHERE set_name = $1 AND external_image_id = $2 RETURNING face_id",
                    &[&set, e],
                )?)?,
                Selector::User(u) => {
                    tx.execute(
                        "DELETE FROM users WHERE set_name = $1 AND user_id = $2",
                        &[&set, u],
                    )?;
                    ids_of(tx.query(
                        "DELETE FROM faces WHERE set_name = $1 AND user_id = $2 RETURNING face_id",
                        &[&set, u],
                    )?)?
                }
                Selector::Field(..) | Selector::Filter(_) => {
                    let mut ids = vec![];
                    for r in tx.query(
                        "SELECT face_id, fields FROM faces WHERE set_name = $1 ORDER BY seq",
                        &[&set],
                    )? {
                        let fields: String = r.try_get(1)?;
                        let f: Map<String, Value> =
                            serde_json::from_str(&fields).unwrap_or_default();
                        if sel.selects_fields(&f) {
                            ids.push(r.try_get::<_, String>(0)?);
                        }
                    }
                    if !ids.is_empty() {
                        tx.execute("DELETE FROM faces WHERE face_id = ANY($1)", &[&ids])?;
                    }
                    ids
                }
            };
            tx.commit()?;
            Ok(gone)
        })
    }

    fn group_users(&self, set: &str, start: usize, length: usize) -> Result<Vec<String>, SetError> {
        self.with(|c| {
            set_info(c, set)?;
            c.query(
                "SELECT user_id FROM users WHERE set_name = $1 ORDER BY user_id LIMIT $2 OFFSET $3",
                &[&set, &(length as i64), &(start as i64)],
            )?
            .iter()
            .map(|r| r.try_get(0).map_err(SetError::from))
            .collect()
        })
    }

    fn group_user_count(&self, set: &str) -> Result<usize, SetError> {
        self.with(|c| {
            let n: i64 = c
                .query_one("SELECT COUNT(*) FROM users WHERE set_name = $1", &[&set])?
                .try_get(0)?;
            Ok(n as usize)
        })
    }

    fn user_faces(&self, set: &str, user: &str) -> Result<Vec<(String, i64)>, SetError> {
        self.with(|c| {
            c.query(
                "SELECT face_id, created_ms FROM faces WHERE set_name = $1 AND user_id = $2 ORDER BY seq",
                &[&set, &user],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
        })
    }

    fn user_groups(&self, user: &str) -> Result<Vec<String>, SetError> {
        self.with(|c| {
            c.query(
                "SELECT set_name FROM users WHERE user_id = $1 ORDER BY set_name",
                &[&user],
            )?
            .iter()
            .map(|r| r.try_get(0).map_err(SetError::from))
            .collect()
        })
    }

    fn set_user_info(&mut self, set: &str, user: &str, info: &str) -> Result<(), SetError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO users(set_name, user_id, user_info) VALUES ($1, $2, $3) ON CONFLICT(set_name, user_id) DO UPDATE SET user_info = excluded.user_info",
                &[&set, &user, &info],
            )?;
            Ok(())
        })
    }

    fn user_info(&self, set: &str, user: &str) -> Result<Option<String>, SetError> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT user_info FROM users WHERE set_name = $1 AND user_id = $2",
                &[&set, &user],
            )?
            .map(|r| r.try_get(0))
            .transpose()?)
        })
    }

    /// In one transaction: the faces, their pictures and the user's info arrive together.
    fn copy_user(&mut self, user: &str, from: &str, to: &str) -> Result<usize, SetError> {
        self.with(|c| {
            let mut tx = write_tx(c)?;
            let info: String = tx
                .query_opt(
                    "SELECT user_info FROM users WHERE set_name = $1 AND user_id = $2",
                    &[&from, &user],
                )?
                .ok_or_else(|| SetError::UserNotFound {
                    user: user.into(),
                    group: from.into(),
                })?
                .try_get(0)?;
            let dst = set_info(&mut tx, to)?;
            let src = set_info(&mut tx, from)?;
            if src.model != dst.model {
                return Err(SetError::ModelMismatch {
                    set: to.into(),
                    stored: dst.model.stored_name().into(),
                    configured: src.model.stored_name().into(),
                });
            }
            let faces = tx
                .query(
                    &format!("SELECT {FACE_COLUMNS} FROM faces WHERE set_name = $1 AND user_id = $2 ORDER BY seq"),
                    &[&from, &user],
                )?
                .iter()
                .map(face_row)
                .collect::<Result<Vec<_>, _>>()?;
            let mut pictures = pictures_of(&mut tx, from)?;
            let n = faces.len();
            let new = faces
                .into_iter()
                .map(|f| {
                    let picture = pictures.remove(&f.face_id);
                    f.copied(picture)
                })
                .collect();
            insert_faces(&mut tx, to, new)?;
            tx.execute(
                "INSERT INTO users(set_name, user_id, user_info) VALUES ($1, $2, $3) ON CONFLICT(set_name, user_id) DO UPDATE SET user_info = excluded.user_info",
                &[&to, &user, &info],
            )?;
            tx.commit()?;
            Ok(n)
        })
    }

    fn pictures(&self, set: &str) -> Result<HashMap<String, FacePicture>, SetError> {
        self.with(|c| pictures_of(c, set))
    }

    fn replace_vectors(
        &mut self,
        set: &str,
        model: EmbedderKind,
        vectors: &[(String, Vec<f32>)],
    ) -> Result<(), SetError> {
        self.with(|c| {
            let mut tx = write_tx(c)?;
            let count = set_info(&mut tx, set)?.face_number;
            let update = tx.prepare(
                "UPDATE faces SET model = $1, vector = $2 WHERE set_name = $3 AND face_id = $4",
            )?;
            let mut updated = 0usize;
            for (id, v) in vectors {
                updated += tx.execute(
                    &update,
                    &[&model.stored_name(), &vec_to_blob(v), &set, id],
                )? as usize;
            }
            if updated != vectors.len() || count != vectors.len() {
                return Err(SetError::Storage(format!(
                    "face set {set:?} changed while it was re-embedded (now {count} faces); nothing was changed, run it again"
                )));
            }
            tx.execute(
                "UPDATE face_sets SET model = $1 WHERE name = $2",
                &[&model.stored_name(), &set],
            )?;
            tx.commit()?;
            Ok(())
        })
    }
}

fn pictures_of(
    c: &mut impl postgres::GenericClient,
    set: &str,
) -> Result<HashMap<String, FacePicture>, SetError> {
    let mut out = HashMap::new();
    for r in c.query(
        "SELECT p.face_id, p.jpeg, p.landmarks FROM face_pictures p JOIN faces f ON f.face_id = p.face_id WHERE f.set_name = $1",
        &[&set],
    )? {
        let id: String = r.try_get(0)?;
        let landmarks: String = r.try_get(2)?;
        let landmarks = serde_json::from_str(&landmarks)
            .map_err(|e| SetError::Storage(format!("face {id}: stored picture landmarks: {e}")))?;
        out.insert(
            id,
            FacePicture {
                jpeg: r.try_get(1)?,
                landmarks,
            },
        );
    }
    Ok(out)
}
