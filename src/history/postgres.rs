//! The event history in PostgreSQL (`storage.url`): the `events` table of schema migration 3,
//! shared by a pool of daemons (each writes its cameras' events; any answers queries).

use postgres::types::ToSql;

use super::{EventQuery, HistoryError, NewEvent, Pruned, StoredEvent};
use crate::search::store::database::Database;
use crate::search::store::postgres::off_runtime;

pub fn insert(db: &Database, events: &[NewEvent]) -> Result<(), HistoryError> {
    off_runtime(|| {
        let mut c = db.get()?;
        let mut tx = c.transaction()?;
        let st = tx.prepare(
            "INSERT INTO events(event_id, kind, camera, track_id, person, face_set, wall_ms, payload, snapshot, bytes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
        )?;
        for n in events {
            let e = &n.event;
            tx.execute(
                &st,
                &[
                    &e.event_id,
                    &e.kind,
                    &e.camera,
                    &e.track_id,
                    &e.person,
                    &e.face_set,
                    &e.wall_time_ms,
                    &e.payload.to_string(),
                    &n.snapshot,
                    &n.bytes(),
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    })
}

const COLUMNS: &str =
    "event_id, kind, camera, track_id, person, face_set, wall_ms, snapshot IS NOT NULL, payload";

fn row(r: &postgres::Row) -> Result<StoredEvent, HistoryError> {
    let payload: String = r.try_get(8)?;
    Ok(StoredEvent {
        event_id: r.try_get(0)?,
        kind: r.try_get(1)?,
        camera: r.try_get(2)?,
        track_id: r.try_get(3)?,
        person: r.try_get(4)?,
        face_set: r.try_get(5)?,
        wall_time_ms: r.try_get(6)?,
        has_snapshot: r.try_get(7)?,
        payload: serde_json::from_str(&payload).unwrap_or_default(),
    })
}

pub fn query(db: &Database, q: &EventQuery) -> Result<Vec<StoredEvent>, HistoryError> {
    let mut sql = format!("SELECT {COLUMNS} FROM events WHERE true");
    let mut args: Vec<Box<dyn ToSql + Sync + Send>> = vec![];
    let mut add = |cond: &str, v: Box<dyn ToSql + Sync + Send>| {
        args.push(v);
        sql.push_str(&format!(" AND {cond} ${}", args.len()));
    };
    if let Some(v) = &q.camera {
        add("camera =", Box::new(v.clone()));
    }
    if let Some(v) = &q.person {
        add("person =", Box::new(v.clone()));
    }
    if let Some(v) = &q.kind {
        add("kind =", Box::new(v.clone()));
    }
    if let Some(v) = q.track_id {
        add("track_id =", Box::new(v));
    }
    if let Some(v) = q.from_ms {
        add("wall_ms >=", Box::new(v));
    }
    if let Some(v) = q.to_ms {
        add("wall_ms <", Box::new(v));
    }
    if let Some(t) = &q.tenant_sets {
        add("starts_with(face_set,", Box::new(format!("{t}--")));
        sql.push(')');
    }
    sql.push_str(&format!(
        " ORDER BY wall_ms DESC, event_id DESC LIMIT {} OFFSET {}",
        q.limit + 1,
        q.offset
    ));
    off_runtime(|| {
        let mut c = db.get()?;
        let refs: Vec<&(dyn ToSql + Sync)> = args
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect();
        c.query(&sql, &refs)?.iter().map(row).collect()
    })
}

pub fn get(db: &Database, id: &str) -> Result<Option<StoredEvent>, HistoryError> {
    off_runtime(|| {
        let mut c = db.get()?;
        c.query_opt(
            &format!("SELECT {COLUMNS} FROM events WHERE event_id = $1"),
            &[&id],
        )?
        .as_ref()
        .map(row)
        .transpose()
    })
}

pub fn snapshot(db: &Database, id: &str) -> Result<Option<Vec<u8>>, HistoryError> {
    off_runtime(|| {
        let mut c = db.get()?;
        Ok(
            c.query_opt("SELECT snapshot FROM events WHERE event_id = $1", &[&id])?
                .and_then(|r| r.get::<_, Option<Vec<u8>>>(0)),
        )
    })
}

pub fn prune(db: &Database, cutoff: i64, max_bytes: i64) -> Result<Pruned, HistoryError> {
    off_runtime(|| {
        let mut c = db.get()?;
        let by_age = c.execute("DELETE FROM events WHERE wall_ms < $1", &[&cutoff])? as usize;
        let total: i64 = c
            .query_one("SELECT COALESCE(SUM(bytes), 0)::BIGINT FROM events", &[])?
            .try_get(0)?;
        let mut by_size = 0;
        if total > max_bytes {
            by_size = c.execute(
                "DELETE FROM events WHERE event_id IN (
                    SELECT event_id FROM (
                        SELECT event_id, bytes, (SUM(bytes) OVER (ORDER BY wall_ms, event_id))::BIGINT AS running
                        FROM events) o
                    WHERE running - bytes < $1)",
                &[&(total - max_bytes)],
            )? as usize;
        }
        let bytes: i64 = c
            .query_one("SELECT COALESCE(SUM(bytes), 0)::BIGINT FROM events", &[])?
            .try_get(0)?;
        Ok(Pruned {
            by_age,
            by_size,
            bytes,
        })
    })
}

pub fn rename(db: &Database, from: &str, to: &str) -> Result<usize, HistoryError> {
    off_runtime(|| {
        let mut c = db.get()?;
        Ok(c.execute(
            "UPDATE events SET person = $2 WHERE person = $1",
            &[&from, &to],
        )? as usize)
    })
}
