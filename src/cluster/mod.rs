//! A pool of daemons sharing cameras through PostgreSQL (`[cluster]`, docs/scaling.md).
//!
//! Cameras live in the `cameras` table. Each daemon renews its leases every third of
//! `cluster.lease_timeout_s`, takes free or expired cameras up to its fair share
//! (`ceil(enabled cameras / live daemons)`, at most `cluster.capacity`) and gives back what is over
//! it, so a daemon that joins gets cameras and one that dies (kill -9, lost database) has its
//! cameras taken by others once its leases expire. Leases are rows with database-clock expiry and
//! a fencing token from a sequence; taking an expired lease is one `INSERT … ON CONFLICT … WHERE
//! expired`, so two daemons never hold one camera. A daemon that cannot renew stops its cameras
//! when its own (local, conservative) view of its leases runs out, before anyone else may take
//! them.

pub mod cameras;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use postgres::Client;

use crate::config::{CameraConfig, ClusterConfig};
use crate::search::store::database::Database;
use crate::search::store::postgres::off_runtime;
use crate::search::SetError;

/// What went wrong with the pool or its cameras.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster database: {0}")]
    Database(String),
    #[error("camera {id}: {message}")]
    Camera { id: String, message: String },
    #[error("camera {0:?} exists already (update it instead)")]
    Exists(String),
    #[error("camera {0:?} not found")]
    NotFound(String),
}

impl ClusterError {
    pub fn kind(&self) -> crate::base::error::ErrorKind {
        use crate::base::error::ErrorKind as K;
        match self {
            ClusterError::Database(_) => K::Storage,
            ClusterError::Camera { .. } => K::BadCamera,
            ClusterError::Exists(_) => K::CameraExists,
            ClusterError::NotFound(_) => K::CameraNotFound,
        }
    }
}

impl From<postgres::Error> for ClusterError {
    fn from(e: postgres::Error) -> Self {
        ClusterError::Database(crate::search::store::postgres::describe(&e))
    }
}

impl From<SetError> for ClusterError {
    fn from(e: SetError) -> Self {
        ClusterError::Database(e.to_string())
    }
}

/// One camera this daemon holds: its configuration and the lease's fencing token.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub camera: CameraConfig,
    pub token: i64,
}

/// This daemon's membership in the pool.
pub struct Pool {
    db: Database,
    cfg: ClusterConfig,
    /// Until when the leases this daemon renewed last are surely still its own (local clock,
    /// counted from before the renewal was sent).
    valid_until: Option<Instant>,
    held: BTreeMap<String, Held>,
    /// Every enabled camera of the pool at the last round that reached the database.
    site: Option<std::collections::BTreeSet<String>>,
    /// Wall-clock ms of the last round that reached the database.
    last_round_ms: u64,
}

impl Pool {
    pub fn new(db: Database, cfg: &ClusterConfig) -> Self {
        Pool {
            db,
            cfg: cfg.clone(),
            valid_until: None,
            held: BTreeMap::new(),
            site: None,
            last_round_ms: 0,
        }
    }

    /// How often `tick` should run.
    pub fn tick_every(&self) -> Duration {
        Duration::from_secs_f64(self.cfg.lease_timeout_s / 3.0)
    }

    /// One round: renew, rebalance, take; returns the cameras to watch now. When the database
    /// cannot be reached, the cameras held stay until the leases would have expired, then none.
    pub fn tick(&mut self) -> Vec<CameraConfig> {
        let started = Instant::now();
        match self.round() {
            Ok((held, site)) => {
                self.held = held;
                self.site = Some(site);
                self.last_round_ms = crate::base::time::wall_ms();
                self.valid_until =
                    Some(started + Duration::from_secs_f64(self.cfg.lease_timeout_s));
            }
            Err(e) => {
                if self.valid_until.is_none_or(|t| Instant::now() >= t) {
                    if !self.held.is_empty() {
                        tracing::error!(error = %e, "cluster: leases lapsed without the database: stopping this daemon's cameras");
                    }
                    self.held.clear();
                } else {
                    tracing::warn!(error = %e, "cluster: cannot renew leases; keeping cameras until they lapse");
                }
            }
        }
        self.held.values().map(|h| h.camera.clone()).collect()
    }

    /// What `/healthz` shows of the pool.
    pub fn health(&self) -> crate::metrics::ClusterHealth {
        crate::metrics::ClusterHealth {
            node_id: self.cfg.node_id.clone(),
            leases: self
                .held
                .iter()
                .map(|(id, h)| (id.clone(), h.token))
                .collect(),
            last_round_ms: self.last_round_ms,
        }
    }

    /// Every enabled camera of the pool at the last round that reached the database.
    pub fn site(&self) -> Option<&std::collections::BTreeSet<String>> {
        self.site.as_ref()
    }

    /// The cameras held after the last round, with their tokens.
    pub fn held(&self) -> Vec<Held> {
        self.held.values().cloned().collect()
    }

    fn round(&mut self) -> Result<(BTreeMap<String, Held>, BTreeSet<String>), ClusterError> {
        let (node, capacity, secs) = (
            self.cfg.node_id.clone(),
            self.cfg.capacity as i64,
            self.cfg.lease_timeout_s,
        );
        // Never wait for a connection past the leases still held: they must be dropped on time.
        let left = self.valid_until.map_or(Duration::MAX, |t| {
            t.saturating_duration_since(Instant::now())
        });
        // A third of a round: while the database is away the pool waits this long for a
        // connection on every round, and that wait delays noticing that the leases lapsed.
        let wait = (self.tick_every() / 3)
            .min(left)
            .max(Duration::from_millis(100));
        let db = &self.db;
        off_runtime(move || round(&mut *db.get_within(wait)?, &node, capacity, secs))
    }

    /// Gives every lease back and marks this daemon draining, so others take its cameras at
    /// their next round (SIGTERM).
    pub fn drain(&mut self) {
        let node = self.cfg.node_id.clone();
        let db = &self.db;
        let done = {
            off_runtime(move || -> Result<(), ClusterError> {
                let mut c = db.get()?;
                let mut tx = c.transaction()?;
                tx.execute("DELETE FROM leases WHERE node_id = $1", &[&node])?;
                tx.execute(
                    "UPDATE nodes SET draining = true WHERE node_id = $1",
                    &[&node],
                )?;
                tx.commit()?;
                Ok(())
            })
        };
        match done {
            Ok(()) => tracing::info!("cluster: cameras handed back to the pool"),
            Err(e) => {
                tracing::warn!(error = %e, "cluster: could not hand cameras back; they move once the leases expire");
            }
        }
        self.held.clear();
    }
}

fn round(
    c: &mut Client,
    node: &str,
    capacity: i64,
    secs: f64,
) -> Result<(BTreeMap<String, Held>, BTreeSet<String>), ClusterError> {
    c.execute(
        "INSERT INTO nodes(node_id, capacity, seen_at, draining) VALUES ($1, $2, clock_timestamp(), false)
         ON CONFLICT (node_id) DO UPDATE SET capacity = excluded.capacity, seen_at = excluded.seen_at, draining = false",
        &[&node, &(capacity as i32)],
    )?;
    // Disabled or removed cameras lose their lease, whoever holds it.
    c.execute(
        "DELETE FROM leases l USING cameras k WHERE l.camera_id = k.id AND NOT k.enabled",
        &[],
    )?;
    let renewed = c
        .query(
            "UPDATE leases SET expires_at = clock_timestamp() + make_interval(secs => $2)
             WHERE node_id = $1 AND expires_at > clock_timestamp() RETURNING camera_id",
            &[&node, &secs],
        )?
        .len() as i64;
    let site: BTreeSet<String> = c
        .query("SELECT id FROM cameras WHERE enabled", &[])?
        .iter()
        .map(|r| r.try_get::<_, String>(0))
        .collect::<Result<_, _>>()?;
    let cameras = site.len() as i64;
    let capacities: Vec<i64> = c
        .query(
            "SELECT capacity FROM nodes WHERE NOT draining
                AND seen_at > clock_timestamp() - make_interval(secs => $1)",
            &[&secs],
        )?
        .iter()
        .map(|r| r.try_get::<_, i32>(0).map(i64::from))
        .collect::<Result<_, _>>()?;
    let share = fair_share(cameras, &capacities).min(capacity);
    if renewed > share {
        // Over the fair share (a daemon joined): the last cameras by id go back to the pool.
        c.execute(
            "DELETE FROM leases WHERE camera_id IN (
                SELECT camera_id FROM leases WHERE node_id = $1 ORDER BY camera_id DESC LIMIT $2)",
            &[&node, &(renewed - share)],
        )?;
    } else if renewed < share {
        take(c, node, secs, share - renewed)?;
    }
    let mut held = BTreeMap::new();
    for r in c.query(
        "SELECT l.camera_id, l.token, k.config FROM leases l JOIN cameras k ON k.id = l.camera_id
         WHERE l.node_id = $1 AND l.expires_at > clock_timestamp() AND k.enabled ORDER BY l.camera_id",
        &[&node],
    )? {
        let id: String = r.try_get(0)?;
        let text: String = r.try_get(2)?;
        let camera: CameraConfig =
            serde_json::from_str(&text).map_err(|e| ClusterError::Camera {
                id: id.clone(),
                message: format!("stored configuration: {e}"),
            })?;
        held.insert(
            id,
            Held {
                camera,
                token: r.try_get(1)?,
            },
        );
    }
    Ok((held, site))
}

/// Takes up to `n` free cameras (no lease, or an expired one) in id order.
fn take(c: &mut Client, node: &str, secs: f64, n: i64) -> Result<(), ClusterError> {
    c.execute(
        "INSERT INTO leases(camera_id, node_id, token, acquired_at, expires_at)
         SELECT k.id, $1, nextval('lease_tokens'), clock_timestamp(), clock_timestamp() + make_interval(secs => $2)
         FROM cameras k LEFT JOIN leases l ON l.camera_id = k.id
         WHERE k.enabled AND (l.camera_id IS NULL OR l.expires_at <= clock_timestamp())
         ORDER BY k.id LIMIT $3
         ON CONFLICT (camera_id) DO UPDATE SET node_id = excluded.node_id, token = excluded.token,
             acquired_at = excluded.acquired_at, expires_at = excluded.expires_at
         WHERE leases.expires_at <= clock_timestamp()",
        &[&node, &secs, &n],
    )?;
    Ok(())
}

/// Each live daemon's share of `cameras`: the level that fills them when every daemon takes up to
/// that many, at most its capacity (a small daemon takes what it can, the others the rest).
pub fn fair_share(cameras: i64, capacities: &[i64]) -> i64 {
    let most = capacities.iter().copied().max().unwrap_or(0);
    let mut level = 0;
    while level < most && capacities.iter().map(|c| (*c).min(level)).sum::<i64>() < cameras {
        level += 1;
    }
    level
}

#[cfg(test)]
mod tests {
    use super::fair_share;

    #[test]
    fn shares_fill_the_cameras_within_capacities() {
        assert_eq!(fair_share(6, &[8, 8, 8]), 2);
        assert_eq!(fair_share(7, &[8, 8, 8]), 3);
        assert_eq!(fair_share(6, &[8]), 6);
        assert_eq!(
            fair_share(9, &[1, 8, 8]),
            4,
            "the small daemon's rest goes to the others"
        );
        assert_eq!(
            fair_share(100, &[8, 8]),
            8,
            "never above the largest capacity"
        );
        assert_eq!(fair_share(0, &[8, 8]), 0);
        assert_eq!(fair_share(5, &[]), 0);
    }
}
