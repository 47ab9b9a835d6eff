//! The pool's cameras in the database: add, update, remove, list (`facestream camera …`), config
//! files seeding them, and the pool's status (`facestream cluster status`).

use serde::Serialize;

use super::ClusterError;
use crate::config::CameraConfig;
use crate::search::store::database::{Conn, Database};
use crate::search::store::postgres::{now_ms_db, off_runtime};

/// A pooled connection (its schema was migrated when the database was opened).
fn client(db: &Database) -> Result<Conn, ClusterError> {
    Ok(db.get()?)
}

fn check(cam: &CameraConfig) -> Result<String, ClusterError> {
    if let Some((field, message)) = cam.problem() {
        return Err(ClusterError::Camera {
            id: cam.id.clone(),
            message: format!("{field}: {message}"),
        });
    }
    serde_json::to_string(cam).map_err(|e| ClusterError::Camera {
        id: cam.id.clone(),
        message: e.to_string(),
    })
}

/// Adds a camera; refused when one with that id exists.
pub fn add(db: &Database, cam: &CameraConfig) -> Result<(), ClusterError> {
    let text = check(cam)?;
    off_runtime(|| {
        let mut c = client(db)?;
        let n = c.execute(
            "INSERT INTO cameras(id, config, enabled, updated_ms) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[&cam.id, &text, &cam.enabled, &now_ms_db()],
        )?;
        if n == 0 {
            return Err(ClusterError::Exists(cam.id.clone()));
        }
        Ok(())
    })
}

/// Replaces a camera's configuration; its holder restarts it at its next round.
pub fn update(db: &Database, cam: &CameraConfig) -> Result<(), ClusterError> {
    let text = check(cam)?;
    off_runtime(|| {
        let mut c = client(db)?;
        let n = c.execute(
            "UPDATE cameras SET config = $2, enabled = $3, updated_ms = $4 WHERE id = $1",
            &[&cam.id, &text, &cam.enabled, &now_ms_db()],
        )?;
        if n == 0 {
            return Err(ClusterError::NotFound(cam.id.clone()));
        }
        Ok(())
    })
}

/// Removes a camera (and its lease); its holder stops it at its next round.
pub fn remove(db: &Database, id: &str) -> Result<(), ClusterError> {
    off_runtime(|| {
        let mut c = client(db)?;
        if c.execute("DELETE FROM cameras WHERE id = $1", &[&id])? == 0 {
            return Err(ClusterError::NotFound(id.into()));
        }
        Ok(())
    })
}

/// Adds the cameras of a configuration file that the database does not have yet (existing ones
/// are left as they are: the database is the source of truth once a camera is in it).
pub fn seed(db: &Database, cams: &[CameraConfig]) -> Result<usize, ClusterError> {
    let texts = cams.iter().map(check).collect::<Result<Vec<_>, _>>()?;
    off_runtime(|| {
        let mut c = client(db)?;
        let mut added = 0;
        for (cam, text) in cams.iter().zip(&texts) {
            added += c.execute(
                "INSERT INTO cameras(id, config, enabled, updated_ms) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&cam.id, text, &cam.enabled, &now_ms_db()],
            )?;
        }
        Ok(added as usize)
    })
}

/// A camera of the pool and who watches it.
#[derive(Debug, Clone, Serialize)]
pub struct PoolCamera {
    pub camera: CameraConfig,
    /// The daemon holding its lease, if any live lease.
    pub node_id: Option<String>,
    pub token: Option<i64>,
    /// Seconds since the lease was taken.
    pub lease_age_s: Option<f64>,
    /// Seconds until it expires unless renewed.
    pub expires_in_s: Option<f64>,
}

/// A daemon of the pool.
#[derive(Debug, Clone, Serialize)]
pub struct PoolNode {
    pub node_id: String,
    pub capacity: i32,
    /// Seconds since its last round.
    pub seen_s_ago: f64,
    pub draining: bool,
    pub cameras: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PoolStatus {
    pub nodes: Vec<PoolNode>,
    pub cameras: Vec<PoolCamera>,
}

/// Every camera with its live lease, and every daemon with the cameras it holds.
pub fn status(db: &Database) -> Result<PoolStatus, ClusterError> {
    off_runtime(|| {
        let mut c = client(db)?;
        let mut cameras = vec![];
        for r in c.query(
            "SELECT k.id, k.config, l.node_id, l.token,
                    EXTRACT(EPOCH FROM clock_timestamp() - l.acquired_at)::FLOAT8,
                    EXTRACT(EPOCH FROM l.expires_at - clock_timestamp())::FLOAT8
             FROM cameras k LEFT JOIN leases l ON l.camera_id = k.id AND l.expires_at > clock_timestamp()
             ORDER BY k.id",
            &[],
        )? {
            let id: String = r.try_get(0)?;
            let text: String = r.try_get(1)?;
            let camera = serde_json::from_str(&text).map_err(|e| ClusterError::Camera {
                id: id.clone(),
                message: format!("stored configuration: {e}"),
            })?;
            cameras.push(PoolCamera {
                camera,
                node_id: r.try_get(2)?,
                token: r.try_get(3)?,
                lease_age_s: r.try_get(4)?,
                expires_in_s: r.try_get(5)?,
            });
        }
        let mut nodes = vec![];
        for r in c.query(
            "SELECT node_id, capacity, EXTRACT(EPOCH FROM clock_timestamp() - seen_at)::FLOAT8, draining
             FROM nodes ORDER BY node_id",
            &[],
        )? {
            let node_id: String = r.try_get(0)?;
            nodes.push(PoolNode {
                cameras: cameras
                    .iter()
                    .filter(|k| k.node_id.as_deref() == Some(node_id.as_str()))
                    .map(|k| k.camera.id.clone())
                    .collect(),
                node_id,
                capacity: r.try_get(1)?,
                seen_s_ago: r.try_get(2)?,
                draining: r.try_get(3)?,
            });
        }
        Ok(PoolStatus { nodes, cameras })
    })
}
