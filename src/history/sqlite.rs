//! The event history in SQLite: `events.db` beside the face sets (its own file, so event writes
//! never wait behind an enrolment).

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use super::{EventQuery, HistoryError, NewEvent, Pruned, StoredEvent};

pub fn open(dir: &Path) -> Result<Connection, HistoryError> {
    let named = |e: &dyn std::fmt::Display| {
        HistoryError::Storage(format!("storage.dir {}: {e}", dir.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| named(&e))?;
    let c = Connection::open(dir.join("events.db")).map_err(|e| named(&e))?;
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "NORMAL")?;
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS events(
            event_id TEXT PRIMARY KEY, kind TEXT NOT NULL, camera TEXT NOT NULL,
            track_id INTEGER, person TEXT, face_set TEXT, wall_ms INTEGER NOT NULL,
            payload TEXT NOT NULL, snapshot BLOB, bytes INTEGER NOT NULL);
         CREATE INDEX IF NOT EXISTS events_by_time ON events(wall_ms);
         CREATE INDEX IF NOT EXISTS events_by_camera ON events(camera, wall_ms);
         CREATE INDEX IF NOT EXISTS events_by_person ON events(person, wall_ms);",
    )?;
    Ok(c)
}

pub fn insert(c: &mut Connection, events: &[NewEvent]) -> Result<(), HistoryError> {
    let tx = c.transaction()?;
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO events(event_id, kind, camera, track_id, person, face_set, wall_ms, payload, snapshot, bytes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT DO NOTHING",
        )?;
        for n in events {
            let e = &n.event;
            st.execute(params![
                e.event_id,
                e.kind,
                e.camera,
                e.track_id,
                e.person,
                e.face_set,
                e.wall_time_ms,
                e.payload.to_string(),
                n.snapshot,
                n.bytes()
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

const COLUMNS: &str =
    "event_id, kind, camera, track_id, person, face_set, wall_ms, snapshot IS NOT NULL, payload";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    let payload: String = r.get(8)?;
    Ok(StoredEvent {
        event_id: r.get(0)?,
        kind: r.get(1)?,
        camera: r.get(2)?,
        track_id: r.get(3)?,
        person: r.get(4)?,
        face_set: r.get(5)?,
        wall_time_ms: r.get(6)?,
        has_snapshot: r.get(7)?,
        payload: serde_json::from_str(&payload).unwrap_or_default(),
    })
}

pub fn query(c: &Connection, q: &EventQuery) -> Result<Vec<StoredEvent>, HistoryError> {
    let mut sql = format!("SELECT {COLUMNS} FROM events WHERE 1=1");
    let mut args: Vec<rusqlite::types::Value> = vec![];
    let mut add = |cond: &str, v: rusqlite::types::Value| {
        args.push(v);
        sql.push_str(&format!(" AND {cond} ?{}", args.len()));
    };
    if let Some(v) = &q.camera {
        add("camera =", v.clone().into());
    }
    if let Some(v) = &q.person {
        add("person =", v.clone().into());
    }
    if let Some(v) = &q.kind {
        add("kind =", v.clone().into());
    }
    if let Some(v) = q.track_id {
        add("track_id =", v.into());
    }
    if let Some(v) = q.from_ms {
        add("wall_ms >=", v.into());
    }
    if let Some(v) = q.to_ms {
        add("wall_ms <", v.into());
    }
    if let Some(t) = &q.tenant_sets {
        // Escape LIKE's wildcards in the tenant name itself.
        let t = t
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        add("face_set LIKE", format!("{t}--%").into());
        sql.push_str(" ESCAPE '\\'");
    }
    sql.push_str(&format!(
        " ORDER BY wall_ms DESC, event_id DESC LIMIT {} OFFSET {}",
        q.limit + 1,
        q.offset
    ));
    let mut st = c.prepare(&sql)?;
    let rows = st
        .query_map(rusqlite::params_from_iter(args), row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn get(c: &Connection, id: &str) -> Result<Option<StoredEvent>, HistoryError> {
    Ok(c.query_row(
        &format!("SELECT {COLUMNS} FROM events WHERE event_id = ?1"),
        [id],
        row,
    )
    .optional()?)
}

pub fn snapshot(c: &Connection, id: &str) -> Result<Option<Vec<u8>>, HistoryError> {
    Ok(c.query_row(
        "SELECT snapshot FROM events WHERE event_id = ?1",
        [id],
        |r| r.get::<_, Option<Vec<u8>>>(0),
    )
    .optional()?
    .flatten())
}

pub fn prune(c: &mut Connection, cutoff: i64, max_bytes: i64) -> Result<Pruned, HistoryError> {
    let by_age = c.execute("DELETE FROM events WHERE wall_ms < ?1", [cutoff])?;
    let mut by_size = 0;
    loop {
        let total: i64 = c.query_row("SELECT COALESCE(SUM(bytes), 0) FROM events", [], |r| {
            r.get(0)
        })?;
        if total <= max_bytes {
            return Ok(Pruned {
                by_age,
                by_size,
                bytes: total,
            });
        }
        // The oldest events whose bytes cover the excess, in one statement.
        let n = c.execute(
            "DELETE FROM events WHERE event_id IN (
                SELECT event_id FROM (
                    SELECT event_id, SUM(bytes) OVER (ORDER BY wall_ms, event_id) AS running
                    FROM events ORDER BY wall_ms, event_id)
                WHERE running - bytes < ?1)",
            [total - max_bytes],
        )?;
        by_size += n;
        if n == 0 {
            return Ok(Pruned {
                by_age,
                by_size,
                bytes: total,
            });
        }
    }
}

pub fn rename(c: &Connection, from: &str, to: &str) -> Result<usize, HistoryError> {
    Ok(c.execute(
        "UPDATE events SET person = ?2 WHERE person = ?1",
        params![from, to],
    )?)
}
