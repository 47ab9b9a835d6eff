//! The pool's cameras over HTTP (facestream's own paths; docs/api.md, docs/scaling.md):
//! `GET|POST /facestream/v1/cameras`, `PUT|DELETE /facestream/v1/cameras/{id}` and
//! `GET /facestream/v1/cluster`. Cameras are shared by every tenant, so only a key of the tenant
//! `admin` may change them; any key may read.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Extension;
use serde_json::{json, Value};

use super::error::{fail, ok, ApiError, ApiResult, ErrorKind};
use super::state::{ApiState, Tenant};
use crate::cluster::{cameras, ClusterError};
use crate::config::CameraConfig;
use crate::search::store::database::Database;

impl From<ClusterError> for ApiError {
    fn from(e: ClusterError) -> Self {
        fail(e.kind(), e.to_string())
    }
}

/// The pool's database settings (the database itself is opened off the async workers).
fn pool_url(st: &ApiState) -> Result<crate::config::StorageConfig, ApiError> {
    if st.cfg.storage.url.is_empty() {
        return Err(fail(
            ErrorKind::NoPool,
            "cameras are managed over HTTP in a pool of daemons (storage.url); this daemon reads them from its configuration file",
        ));
    }
    Ok(st.cfg.storage.clone())
}

fn admin(t: &Tenant) -> Result<(), ApiError> {
    if t.0 != "admin" && t.0 != "public" {
        return Err(fail(
            ErrorKind::Forbidden,
            "changing the pool's cameras needs a key of the tenant \"admin\"",
        ));
    }
    Ok(())
}

fn camera(body: &[u8], id: Option<&str>) -> Result<CameraConfig, ApiError> {
    let mut v: Value = serde_json::from_slice(body)
        .map_err(|e| fail(ErrorKind::BadBody, format!("the body is not JSON: {e}")))?;
    if let (Some(id), Some(o)) = (id, v.as_object_mut()) {
        o.insert("id".into(), json!(id));
    }
    serde_json::from_value(v).map_err(|e| {
        fail(
            ErrorKind::BadCamera,
            format!("a camera is {{id, uri, detect_fps?, enabled?, loop?, face_sets?}}: {e}"),
        )
    })
}

/// Runs a blocking pool call off the async workers.
async fn blocking<R: Send + 'static>(
    storage: crate::config::StorageConfig,
    f: impl FnOnce(&Database) -> Result<R, ClusterError> + Send + 'static,
) -> Result<R, ApiError> {
    tokio::task::spawn_blocking(move || f(&Database::shared(&storage)?))
        .await
        .map_err(|_| fail(ErrorKind::Internal, "pool task failed"))?
        .map_err(ApiError::from)
}

pub async fn list(State(st): State<Arc<ApiState>>) -> ApiResult {
    let url = pool_url(&st)?;
    let s = blocking(url, cameras::status).await?;
    ok(json!({ "cameras": s.cameras }))
}

pub async fn add(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    b: Bytes,
) -> ApiResult {
    admin(&t)?;
    let url = pool_url(&st)?;
    let cam = camera(&b, None)?;
    let id = cam.id.clone();
    blocking(url, move |db| cameras::add(db, &cam)).await?;
    ok(json!({ "id": id, "added": true }))
}

pub async fn update(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    Path(id): Path<String>,
    b: Bytes,
) -> ApiResult {
    admin(&t)?;
    let url = pool_url(&st)?;
    let cam = camera(&b, Some(&id))?;
    blocking(url, move |db| cameras::update(db, &cam)).await?;
    ok(json!({ "id": id, "updated": true }))
}

pub async fn remove(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult {
    admin(&t)?;
    let url = pool_url(&st)?;
    let gone = id.clone();
    blocking(url, move |db| cameras::remove(db, &gone)).await?;
    ok(json!({ "id": id, "removed": true }))
}

pub async fn cluster(State(st): State<Arc<ApiState>>) -> ApiResult {
    let url = pool_url(&st)?;
    let s = blocking(url, cameras::status).await?;
    ok(serde_json::to_value(s).unwrap_or(Value::Null))
}
