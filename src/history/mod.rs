//! The event history: the daemon's face, match, unknown and liveness events with their best-face
//! snapshot, kept in the store the face sets use (SQLite `events.db` in `storage.dir`, or the
//! PostgreSQL database of `storage.url`), pruned by age and total size, and queried by camera,
//! person, time and kind (the console, `GET /facestream/v1/events`, `facestream events`).
//!
//! Only what a person looks back at is kept: a track's `end` face event (one per track, with its
//! best face), every `match` and `unknown`, and liveness results. Face `start`/`update` events and
//! camera statuses travel over MQTT only.

mod postgres;
pub mod sink;
mod sqlite;

use base64::Engine;
use serde::Serialize;
use serde_json::Value;

use crate::config::{EventsConfig, StorageConfig};
use crate::messages::{Event, TrackPhase};
use crate::search::SetError;

/// Why the history could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("event history: {0}")]
    Storage(String),
    #[error("event {0} not found")]
    NotFound(String),
    #[error("{0}")]
    BadQuery(String),
}

impl HistoryError {
    pub fn kind(&self) -> crate::base::error::ErrorKind {
        use crate::base::error::ErrorKind as K;
        match self {
            HistoryError::Storage(_) => K::Storage,
            HistoryError::NotFound(_) => K::EventNotFound,
            HistoryError::BadQuery(_) => K::BadParameter,
        }
    }
}

impl From<SetError> for HistoryError {
    fn from(e: SetError) -> Self {
        HistoryError::Storage(e.to_string())
    }
}

impl From<rusqlite::Error> for HistoryError {
    fn from(e: rusqlite::Error) -> Self {
        HistoryError::Storage(format!("sqlite: {e}"))
    }
}

impl From<::postgres::Error> for HistoryError {
    fn from(e: ::postgres::Error) -> Self {
        HistoryError::Storage(format!(
            "postgres: {}",
            crate::search::store::postgres::describe(&e)
        ))
    }
}

/// One event as kept.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoredEvent {
    pub event_id: String,
    /// `face` (a track's end), `match`, `unknown` or `liveness`.
    pub kind: String,
    pub camera: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track_id: Option<i64>,
    /// For `match`: the person (`user_id`, else `external_image_id`); for `unknown`: its
    /// `unknown-N` id; for a track's `face` event: who it was matched to, if anyone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// The face set of a `match` (as stored: `tenant--set` for API tenants).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_set: Option<String>,
    pub wall_time_ms: i64,
    pub has_snapshot: bool,
    /// The published payload (docs/mqtt.md) without its snapshot.
    pub payload: Value,
}

/// An event about to be kept, with its snapshot bytes.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event: StoredEvent,
    pub snapshot: Option<Vec<u8>>,
}

impl NewEvent {
    /// The record kept for a published event, or `None` for what the history does not keep.
    pub fn from_event(ev: &Event, keep_snapshots: bool) -> Option<NewEvent> {
        let (kind, track_id, person, face_set, wall, snapshot) = match ev {
            Event::Face(f) if f.event == TrackPhase::End => (
                "face",
                Some(f.track_id as i64),
                f.identity.as_ref().map(|i| i.name.clone()),
                f.identity.as_ref().map(|i| i.face_set.clone()),
                f.wall_time_ms,
                f.snapshot_jpeg.as_deref(),
            ),
            Event::Match(m) => (
                m.event,
                Some(m.track_id as i64),
                if m.event == "unknown" {
                    m.unknown_id.clone()
                } else {
                    m.user_id.clone().or_else(|| m.external_image_id.clone())
                },
                m.face_set.clone(),
                m.wall_time_ms,
                m.snapshot_jpeg.as_deref(),
            ),
            Event::Liveness(l) => (
                "liveness",
                l.track_id.map(|t| t as i64),
                None,
                None,
                crate::base::time::wall_ms(),
                None,
            ),
            _ => return None,
        };
        let mut payload = ev.to_value().ok()?;
        if let Some(o) = payload.as_object_mut() {
            o.remove("snapshot_jpeg");
        }
        let snapshot = snapshot
            .filter(|_| keep_snapshots)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
        let event_id = payload
            .get("event_id")
            .and_then(Value::as_str)
            .map_or_else(crate::base::time::event_id, String::from);
        Some(NewEvent {
            event: StoredEvent {
                event_id,
                kind: kind.to_string(),
                camera: ev.camera().to_string(),
                track_id,
                person,
                face_set,
                wall_time_ms: wall as i64,
                has_snapshot: snapshot.is_some(),
                payload,
            },
            snapshot,
        })
    }

    /// What the record costs in the store (payload and snapshot), counted against `max_bytes`.
    pub fn bytes(&self) -> i64 {
        (self.event.payload.to_string().len() + self.snapshot.as_ref().map_or(0, Vec::len) + 64)
            as i64
    }
}

/// Which events to list: every field narrows; newest first.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub camera: Option<String>,
    pub person: Option<String>,
    pub kind: Option<String>,
    pub track_id: Option<i64>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Only matches in face sets of this tenant (`tenant--…`); `None`: every event.
    pub tenant_sets: Option<String>,
    pub offset: usize,
    pub limit: usize,
}

/// Most events one query returns.
pub const MAX_PAGE: usize = 500;
pub const KINDS: [&str; 4] = ["face", "match", "unknown", "liveness"];

impl EventQuery {
    pub fn check(&self) -> Result<(), HistoryError> {
        if self.limit == 0 || self.limit > MAX_PAGE {
            return Err(HistoryError::BadQuery(format!(
                "limit must be 1..={MAX_PAGE}"
            )));
        }
        if let Some(k) = &self.kind {
            if !KINDS.contains(&k.as_str()) {
                return Err(HistoryError::BadQuery(format!(
                    "kind must be one of {KINDS:?}, got {k:?}"
                )));
            }
        }
        if self.offset > 1_000_000 {
            return Err(HistoryError::BadQuery(
                "offset must be at most 1000000".into(),
            ));
        }
        for (name, v) in [("camera", &self.camera), ("person", &self.person)] {
            if v.as_ref().is_some_and(|s| s.len() > 256) {
                return Err(HistoryError::BadQuery(format!(
                    "{name} is longer than 256 bytes"
                )));
            }
        }
        Ok(())
    }
}

/// A page of events.
#[derive(Debug, Clone, Serialize)]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    /// Pass as `offset` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<usize>,
}

/// What a pruning pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Pruned {
    pub by_age: usize,
    pub by_size: usize,
    /// Bytes kept after the pass.
    pub bytes: i64,
}

enum Backend {
    Sqlite(std::sync::Mutex<rusqlite::Connection>),
    Postgres(Box<crate::search::store::database::Database>),
}

/// The event history of one store. Cheap to share (`Arc`); calls block (keep them off async
/// workers).
pub struct EventLog {
    backend: Backend,
}

impl EventLog {
    /// The history in the store `storage` names.
    pub fn open(storage: &StorageConfig) -> Result<EventLog, HistoryError> {
        let backend = if storage.url.is_empty() {
            Backend::Sqlite(std::sync::Mutex::new(sqlite::open(&storage.dir)?))
        } else {
            Backend::Postgres(Box::new(crate::search::store::database::Database::shared(
                storage,
            )?))
        };
        Ok(EventLog { backend })
    }

    fn sqlite(
        m: &std::sync::Mutex<rusqlite::Connection>,
    ) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `events` (one transaction); an event already kept (a redelivery) is left as it is.
    pub fn insert(&self, events: &[NewEvent]) -> Result<(), HistoryError> {
        if events.is_empty() {
            return Ok(());
        }
        match &self.backend {
            Backend::Sqlite(c) => sqlite::insert(&mut Self::sqlite(c), events),
            Backend::Postgres(db) => postgres::insert(db, events),
        }
    }

    pub fn query(&self, q: &EventQuery) -> Result<EventPage, HistoryError> {
        q.check()?;
        let mut events = match &self.backend {
            Backend::Sqlite(c) => sqlite::query(&Self::sqlite(c), q)?,
            Backend::Postgres(db) => postgres::query(db, q)?,
        };
        let next_offset = (events.len() > q.limit).then_some(q.offset + q.limit);
        events.truncate(q.limit);
        Ok(EventPage {
            events,
            next_offset,
        })
    }

    /// One event (with its payload), or `NotFound`.
    pub fn get(&self, event_id: &str) -> Result<StoredEvent, HistoryError> {
        match &self.backend {
            Backend::Sqlite(c) => sqlite::get(&Self::sqlite(c), event_id),
            Backend::Postgres(db) => postgres::get(db, event_id),
        }?
        .ok_or_else(|| HistoryError::NotFound(event_id.into()))
    }

    /// An event's snapshot JPEG, or `NotFound` (no such event, or no snapshot kept).
    pub fn snapshot(&self, event_id: &str) -> Result<Vec<u8>, HistoryError> {
        match &self.backend {
            Backend::Sqlite(c) => sqlite::snapshot(&Self::sqlite(c), event_id),
            Backend::Postgres(db) => postgres::snapshot(db, event_id),
        }?
        .ok_or_else(|| HistoryError::NotFound(event_id.into()))
    }

    /// Removes events older than the retention, then the oldest while over `max_bytes`.
    pub fn prune(&self, cfg: &EventsConfig, now_ms: i64) -> Result<Pruned, HistoryError> {
        let cutoff = now_ms - (cfg.retention_days * 86_400_000.0) as i64;
        let max = cfg.max_bytes as i64;
        match &self.backend {
            Backend::Sqlite(c) => sqlite::prune(&mut Self::sqlite(c), cutoff, max),
            Backend::Postgres(db) => postgres::prune(db, cutoff, max),
        }
    }

    /// Changes the person named by events of `unknown_id` (a stranger was named): their
    /// `person` becomes `name`, so the timeline shows who it was.
    pub fn rename_person(&self, from: &str, to: &str) -> Result<usize, HistoryError> {
        match &self.backend {
            Backend::Sqlite(c) => sqlite::rename(&Self::sqlite(c), from, to),
            Backend::Postgres(db) => postgres::rename(db, from, to),
        }
    }
}

#[cfg(test)]
mod tests;
