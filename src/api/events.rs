//! The event history over HTTP (facestream's own paths; docs/api.md): `GET /facestream/v1/events`
//! (filters `camera`, `person`, `kind`, `track_id`, `from_ms`, `to_ms`; `limit`, `offset`),
//! `GET /facestream/v1/events/{id}` and `GET /facestream/v1/events/{id}/snapshot` (image/jpeg).
//! A key of the tenant `admin` (or `public` without auth) sees every event; another tenant sees
//! the matches in its own face sets only, with set names as it knows them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::Value;

use super::error::{fail, ok, ApiError, ApiResult, ErrorKind};
use super::state::{ApiState, Tenant};
use crate::history::{EventLog, EventQuery, HistoryError, StoredEvent};

impl From<HistoryError> for ApiError {
    fn from(e: HistoryError) -> Self {
        fail(e.kind(), e.to_string())
    }
}

/// Whether `tenant` sees every event (the site's operator).
pub fn sees_all(tenant: &str) -> bool {
    tenant == "admin" || tenant == "public"
}

/// The query a tenant may run: the filters asked for, narrowed to its own sets.
pub fn query_for(tenant: &str, params: &HashMap<String, String>) -> Result<EventQuery, ApiError> {
    let num = |k: &str| -> Result<Option<i64>, ApiError> {
        params
            .get(k)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    fail(
                        ErrorKind::BadParameter,
                        format!("{k} must be an integer, got {v:?}"),
                    )
                })
            })
            .transpose()
    };
    let text = |k: &str| params.get(k).filter(|v| !v.is_empty()).cloned();
    let limit = num("limit")?.unwrap_or(50);
    let offset = num("offset")?.unwrap_or(0);
    if limit < 0 || offset < 0 {
        return Err(fail(
            ErrorKind::BadParameter,
            "limit and offset must not be negative",
        ));
    }
    for k in params.keys() {
        if ![
            "camera", "person", "kind", "track_id", "from_ms", "to_ms", "limit", "offset",
        ]
        .contains(&k.as_str())
        {
            return Err(fail(
                ErrorKind::BadParameter,
                format!("unknown parameter {k:?}"),
            ));
        }
    }
    Ok(EventQuery {
        camera: text("camera"),
        person: text("person"),
        kind: text("kind"),
        track_id: num("track_id")?,
        from_ms: num("from_ms")?,
        to_ms: num("to_ms")?,
        tenant_sets: (!sees_all(tenant)).then(|| tenant.to_string()),
        offset: offset as usize,
        limit: limit as usize,
    })
}

/// An event as `tenant` is shown it: its face set without the tenant's prefix.
pub fn shown(tenant: &str, mut e: StoredEvent) -> StoredEvent {
    let prefix = format!("{tenant}--");
    if let Some(s) = e
        .face_set
        .as_deref()
        .and_then(|s| s.strip_prefix(&prefix))
        .map(String::from)
    {
        e.payload["face_set"] = Value::String(s.clone());
        e.face_set = Some(s);
    }
    e
}

/// The event `id` if `tenant` may see it (else not found, as if it did not exist).
pub fn visible(log: &EventLog, tenant: &str, id: &str) -> Result<StoredEvent, HistoryError> {
    let e = log.get(id)?;
    let mine = sees_all(tenant)
        || e.face_set
            .as_deref()
            .is_some_and(|s| s.starts_with(&format!("{tenant}--")));
    if mine {
        Ok(e)
    } else {
        Err(HistoryError::NotFound(id.into()))
    }
}

async fn blocking<R: Send + 'static>(
    st: Arc<ApiState>,
    f: impl FnOnce(&EventLog) -> Result<R, HistoryError> + Send + 'static,
) -> Result<R, ApiError> {
    tokio::task::spawn_blocking(move || f(&*st.history()?))
        .await
        .map_err(|_| fail(ErrorKind::Internal, "event history task failed"))?
        .map_err(ApiError::from)
}

pub async fn list(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult {
    let q = query_for(&t.0, &params)?;
    let tenant = t.0.clone();
    let mut page = blocking(st, move |log| log.query(&q)).await?;
    page.events = page.events.into_iter().map(|e| shown(&tenant, e)).collect();
    ok(serde_json::to_value(page).unwrap_or(Value::Null))
}

pub async fn one(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult {
    let tenant = t.0.clone();
    let e = blocking(st, move |log| visible(log, &tenant, &id)).await?;
    ok(serde_json::to_value(shown(&t.0, e)).unwrap_or(Value::Null))
}

pub async fn snapshot(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let jpeg = blocking(st, move |log| {
        visible(log, &t.0, &id)?;
        log.snapshot(&id)
    })
    .await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/jpeg"),
            (axum::http::header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        jpeg,
    )
        .into_response())
}
