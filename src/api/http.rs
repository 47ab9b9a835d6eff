//! The FRS v2-compatible HTTP API (axum, on the daemon's tokio runtime): same paths, bodies, responses
//! and `{"error_code","error_msg"}` errors. API keys per tenant; a tenant only sees its own face sets.
//! Inference runs on a bounded pool: `max_concurrent` at once, the rest wait, then 503.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Extension;
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;

use super::auth::{
    canonical_request, hmac_hex, parse_authorization, parse_sdk_date, string_to_sign, AuthError,
    Guard,
};
use crate::analyze::liveness::{check, LivenessConfig, Request as LiveRequest};
use crate::analyze::{largest, Analyzer, Wanted};
use crate::api::shapes::{BoundingBox, FaceJson};
use crate::api::FaceError;
use crate::config::Config;
use crate::frame::Frame;
use crate::ingest::image::{decode_image, load_image};
use crate::search::fields::{FieldType, Schema};
use crate::search::store::Selector;
use crate::search::{FaceSets, SearchParams, SetError};

/// An API error: HTTP status plus FRS's body.
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    msg: String,
    retry_after: Option<u64>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(json!({"error_code": self.code, "error_msg": self.msg})),
        )
            .into_response();
        if let Some(s) = self.retry_after {
            if let Ok(v) = axum::http::HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert("retry-after", v);
            }
        }
        r
    }
}

fn err(status: StatusCode, code: &'static str, msg: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        msg: msg.into(),
        retry_after: None,
    }
}

/// The tenant an authenticated request acts for (set by the authentication layer).
#[derive(Clone)]
pub struct Tenant(pub String);

impl From<SetError> for ApiError {
    fn from(e: SetError) -> Self {
        let status = match e.code() {
            "FRS.0401" => StatusCode::CONFLICT,
            "FRS.0402" | "FRS.0410" | "FRS.0413" => StatusCode::NOT_FOUND,
            "FRS.0098" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        err(status, e.code(), e.to_string())
    }
}

impl From<FaceError> for ApiError {
    fn from(e: FaceError) -> Self {
        let status = if matches!(e, FaceError::Model(_)) {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::BAD_REQUEST
        };
        err(status, e.code(), e.to_string())
    }
}

impl From<crate::models::ModelError> for ApiError {
    fn from(e: crate::models::ModelError) -> Self {
        FaceError::Model(e).into()
    }
}

type ApiResult = Result<Response, ApiError>;

pub struct ApiState {
    cfg: Config,
    sets: Arc<FaceSets>,
    pool: Mutex<Vec<Analyzer>>,
    permits: Semaphore,
    /// key → (tenant, secret for signing)
    keys: HashMap<String, (String, Option<String>)>,
    guard: Guard,
}

impl ApiState {
    pub fn new(cfg: Config, sets: Arc<FaceSets>) -> Self {
        let keys = cfg
            .api
            .keys
            .iter()
            .map(|k| (k.key.clone(), (k.tenant.clone(), k.secret.clone())))
            .collect();
        let guard = Guard::new(
            cfg.api.signature_skew_s,
            cfg.api.rate_per_second,
            cfg.api.burst,
        );
        Self {
            permits: Semaphore::new(cfg.api.max_concurrent),
            pool: Mutex::new(vec![]),
            cfg,
            sets,
            keys,
            guard,
        }
    }

    /// Token or AK/SK signature → tenant, then the key's rate limit.
    fn authorize(
        &self,
        parts: &axum::http::request::Parts,
        body: &[u8],
    ) -> Result<String, ApiError> {
        if !self.cfg.api.auth {
            return Ok("public".into());
        }
        let denied = |m: &str| err(StatusCode::FORBIDDEN, "FRS.0002", m);
        let h = &parts.headers;
        let header = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
        let key = if let Some(auth) =
            header("authorization").filter(|a| a.starts_with("SDK-HMAC-SHA256"))
        {
            let (ak, signed, sig) = parse_authorization(auth)
                .ok_or_else(|| denied("malformed Authorization header"))?;
            let (_, secret) = self
                .keys
                .get(&ak)
                .ok_or_else(|| denied("unknown access key"))?;
            let secret = secret
                .as_ref()
                .ok_or_else(|| denied("this key has no secret: use X-Auth-Token"))?;
            if !signed.iter().any(|s| s == "x-sdk-date") {
                return Err(denied("x-sdk-date must be a signed header"));
            }
            let date = header("x-sdk-date").ok_or_else(|| {
                err(
                    StatusCode::UNAUTHORIZED,
                    "FRS.0002",
                    "X-Sdk-Date is missing",
                )
            })?;
            let date_s = parse_sdk_date(date)
                .ok_or_else(|| denied("X-Sdk-Date is malformed (YYYYMMDDTHHMMSSZ)"))?;
            let all: Vec<(String, String)> = h
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                .collect();
            let canonical = canonical_request(
                parts.method.as_str(),
                parts.uri.path(),
                parts.uri.query().unwrap_or(""),
                &all,
                &signed,
                body,
            );
            let want = hmac_hex(
                secret.as_bytes(),
                string_to_sign(date, &canonical).as_bytes(),
            );
            if want.len() != sig.len()
                || want
                    .bytes()
                    .zip(sig.bytes())
                    .fold(0u8, |a, (x, y)| a | (x ^ y))
                    != 0
            {
                return Err(denied("signature mismatch"));
            }
            match self
                .guard
                .fresh(date_s, crate::messages::wall_ms() as i64 / 1000, &sig)
            {
                Ok(()) => {}
                Err(AuthError::Expired) => {
                    return Err(denied(
                        "request expired: X-Sdk-Date is outside the allowed window",
                    ))
                }
                Err(_) => return Err(denied("replayed request")),
            }
            ak
        } else {
            let token = header("x-auth-token").ok_or_else(|| {
                err(
                    StatusCode::UNAUTHORIZED,
                    "FRS.0002",
                    "X-Auth-Token is missing",
                )
            })?;
            if !self.keys.contains_key(token) {
                return Err(denied("token authentication failed"));
            }
            token.to_string()
        };
        if let Err(AuthError::RateLimited { retry_after_s }) = self.guard.admit(&key) {
            return Err(ApiError {
                retry_after: Some(retry_after_s),
                ..err(
                    StatusCode::TOO_MANY_REQUESTS,
                    "FRS.0429",
                    "rate limit exceeded",
                )
            });
        }
        Ok(self.keys.get(&key).map(|k| k.0.clone()).unwrap_or_default())
    }

    /// Runs inference on a pooled analyzer, within the concurrency cap and the request timeout.
    async fn infer<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Analyzer) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let busy = || {
            err(
                StatusCode::SERVICE_UNAVAILABLE,
                "FRS.0503",
                "the service is busy; retry later",
            )
        };
        let permit = tokio::time::timeout(
            Duration::from_millis(self.cfg.api.queue_timeout_ms),
            self.permits.acquire(),
        )
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
        let me = self.clone();
        let job = tokio::task::spawn_blocking(move || {
            let pooled = me.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let mut an = match pooled {
                Some(a) => a,
                None => Analyzer::open(&me.cfg)?,
            };
            let out = f(&mut an);
            me.pool.lock().unwrap_or_else(|e| e.into_inner()).push(an);
            out
        });
        let res =
            tokio::time::timeout(Duration::from_millis(self.cfg.api.request_timeout_ms), job).await;
        drop(permit);
        match res {
            Err(_) => Err(err(
                StatusCode::SERVICE_UNAVAILABLE,
                "FRS.0504",
                "request timed out",
            )),
            Ok(Err(_)) => Err(err(
                StatusCode::INTERNAL_SERVER_ERROR,
                "FRS.0099",
                "inference task failed",
            )),
            Ok(Ok(r)) => r,
        }
    }
}

fn body_json(b: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(b) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(err(
            StatusCode::BAD_REQUEST,
            "FRS.0014",
            "the body is not a JSON object",
        )),
    }
}

/// Where an image comes from: inline base64, or a permitted `image_url`.
enum ImageSource {
    Bytes(Vec<u8>),
    File(PathBuf),
}

fn image_source(
    cfg: &Config,
    body: &Map<String, Value>,
    prefix: &str,
) -> Result<ImageSource, ApiError> {
    if let Some(b64) = body
        .get(&format!("{prefix}_base64"))
        .and_then(|v| v.as_str())
    {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| {
                err(
                    StatusCode::BAD_REQUEST,
                    "FRS.0015",
                    format!("{prefix}_base64 is not valid base64: {e}"),
                )
            })?;
        return Ok(ImageSource::Bytes(bytes));
    }
    if let Some(url) = body.get(&format!("{prefix}_url")).and_then(|v| v.as_str()) {
        if url.starts_with("http://") || url.starts_with("https://") {
            return Err(err(
                StatusCode::BAD_REQUEST,
                "FRS.0012",
                "http(s) image_url is not enabled on this server",
            ));
        }
        let dir = cfg.api.image_dir.as_ref().ok_or_else(|| {
            err(
                StatusCode::BAD_REQUEST,
                "FRS.0012",
                "image_url is not enabled (api.image_dir)",
            )
        })?;
        let path = PathBuf::from(url.strip_prefix("file://").unwrap_or(url));
        let (Ok(real), Ok(root)) = (std::fs::canonicalize(&path), std::fs::canonicalize(dir))
        else {
            return Err(err(
                StatusCode::BAD_REQUEST,
                "FRS.0020",
                format!("{url}: file not found"),
            ));
        };
        if !real.starts_with(&root) {
            return Err(err(
                StatusCode::FORBIDDEN,
                "FRS.0012",
                format!("{url} is outside the permitted image folder"),
            ));
        }
        return Ok(ImageSource::File(real));
    }
    Err(err(
        StatusCode::BAD_REQUEST,
        "FRS.0011",
        format!("{prefix}_base64 or {prefix}_url is required"),
    ))
}

fn load(cfg: &Config, src: ImageSource, name: &str) -> Result<Frame, ApiError> {
    let r = match src {
        ImageSource::Bytes(b) => decode_image(&b, std::path::Path::new(name), &cfg.images),
        ImageSource::File(p) => load_image(&p, &cfg.images),
    };
    r.map_err(|e| FaceError::Input(e).into())
}

fn scoped(tenant: &str, name: &str) -> Result<String, ApiError> {
    if !crate::search::valid_set_name(name) || name.len() + tenant.len() + 2 > 64 {
        return Err(SetError::BadSetName(name.into()).into());
    }
    Ok(format!("{tenant}--{name}"))
}

fn unscoped(tenant: &str, v: &mut Value) {
    if let Some(s) = v
        .get("face_set_name")
        .and_then(|s| s.as_str())
        .and_then(|s| s.strip_prefix(&format!("{tenant}--")))
        .map(String::from)
    {
        v["face_set_name"] = Value::String(s);
    }
}

fn ok(v: Value) -> ApiResult {
    Ok((StatusCode::OK, Json(v)).into_response())
}

fn flag(body: &Map<String, Value>, keys: &[&str]) -> bool {
    keys.iter().any(|k| {
        body.get(*k).is_some_and(|v| {
            v.as_bool().unwrap_or(false) || v.as_str().is_some_and(|s| !s.is_empty())
        })
    })
}

async fn face_detect(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    b: Bytes,
) -> ApiResult {
    let _ = t;
    let body = body_json(&b)?;
    let src = image_source(&st.cfg, &body, "image")?;
    // FRS `attributes`, Tencent `NeedFaceAttributes` / `NeedQualityDetection`.
    let want = Wanted {
        attributes: flag(&body, &["attributes", "NeedFaceAttributes"]),
        quality: flag(&body, &["NeedQualityDetection", "quality"]),
        antispoof: false,
        embedding: false,
    };
    let cfg = st.cfg.clone();
    let faces = st
        .infer(move |an| {
            let frame = load(&cfg, src, "image")?;
            let faces = an.analyze(&frame, want)?;
            if faces.is_empty() {
                return Err(FaceError::NoFace {
                    path: "image".into(),
                }
                .into());
            }
            Ok(faces.iter().map(FaceJson::from).collect::<Vec<_>>())
        })
        .await?;
    ok(json!({ "faces": faces }))
}

async fn face_compare(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    b: Bytes,
) -> ApiResult {
    let _ = t;
    let body = body_json(&b)?;
    let (s1, s2) = (
        image_source(&st.cfg, &body, "image1")?,
        image_source(&st.cfg, &body, "image2")?,
    );
    let cfg = st.cfg.clone();
    let v = st
        .infer(move |an| {
            let (f1, f2) = (load(&cfg, s1, "image1")?, load(&cfg, s2, "image2")?);
            match an.compare(&f1, &f2)? {
                Ok(c) => Ok(json!({
                    "image1_face": FaceJson::from(&c.face1), "image2_face": FaceJson::from(&c.face2),
                    "similarity": (c.similarity as f64 * 10000.0).round() / 10000.0, "same_person": c.same_person, "threshold": c.threshold })),
                Err(which) => Err(FaceError::NoFace { path: format!("image{}", which.0).into() }.into()),
            }
        })
        .await?;
    ok(v)
}

async fn live_detect(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    b: Bytes,
) -> ApiResult {
    let _ = t;
    let body = body_json(&b)?;
    let actions = body
        .get("actions")
        .and_then(|v| v.as_str())
        .ok_or_else(|| err(StatusCode::BAD_REQUEST, "FRS.0011", "actions is required"))?;
    let nod = body
        .get("nod_threshold")
        .and_then(|v| v.as_f64())
        .unwrap_or(10.0) as f32;
    let req = LiveRequest::parse(
        actions,
        body.get("action_time").and_then(|v| v.as_str()),
        nod,
    )
    .map_err(|e| err(StatusCode::BAD_REQUEST, e.code(), e.to_string()))?;
    let video = match image_source(&st.cfg, &body, "video")? {
        ImageSource::Bytes(b) => {
            let p = std::env::temp_dir().join(format!(
                "facestream-live-{}.bin",
                uuid::Uuid::new_v4().simple()
            ));
            std::fs::write(&p, b)
                .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, "FRS.0099", e.to_string()))?;
            (p, true)
        }
        ImageSource::File(p) => (p, false),
    };
    let r = st
        .infer(move |an| {
            let r = check(an, &video.0, &req, &LivenessConfig::default());
            if video.1 {
                let _ = std::fs::remove_file(&video.0);
            }
            r.map_err(|e| {
                err(
                    if e.code() == "FRS.0099" {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::BAD_REQUEST
                    },
                    e.code(),
                    e.to_string(),
                )
            })
        })
        .await?;
    ok(serde_json::to_value(r).unwrap_or(Value::Null))
}

async fn create_set(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    b: Bytes,
) -> ApiResult {
    let tenant = t.0;
    let body = body_json(&b)?;
    let name = body
        .get("face_set_name")
        .and_then(|v| v.as_str())
        .ok_or_else(|| {
            err(
                StatusCode::BAD_REQUEST,
                "FRS.0011",
                "face_set_name is required",
            )
        })?;
    let capacity = body
        .get("face_set_capacity")
        .and_then(|v| v.as_u64())
        .unwrap_or(100_000) as usize;
    let mut schema = Schema::new();
    if let Some(fields) = body.get("external_fields").and_then(|v| v.as_object()) {
        for (k, v) in fields {
            let ty = v
                .get("type")
                .and_then(|t| t.as_str())
                .or(v.as_str())
                .unwrap_or("");
            schema.insert(k.clone(), FieldType::parse(k, ty)?);
        }
    }
    let mut info = serde_json::to_value(st.sets.create_set(
        &scoped(&tenant, name)?,
        capacity,
        schema,
        st.cfg.models.embedder,
    )?)
    .unwrap_or(Value::Null);
    unscoped(&tenant, &mut info);
    ok(json!({ "face_set_info": info }))
}

async fn list_sets(State(st): State<Arc<ApiState>>, Extension(t): Extension<Tenant>) -> ApiResult {
    let tenant = t.0;
    let prefix = format!("{tenant}--");
    let mut list: Vec<Value> = st
        .sets
        .list_sets()?
        .into_iter()
        .filter(|s| s.face_set_name.starts_with(&prefix))
        .filter_map(|s| serde_json::to_value(s).ok())
        .collect();
    list.iter_mut().for_each(|v| unscoped(&tenant, v));
    ok(json!({ "face_sets_info": list }))
}

async fn show_set(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    Path((_p, name)): Path<(String, String)>,
) -> ApiResult {
    let tenant = t.0;
    let mut info =
        serde_json::to_value(st.sets.show_set(&scoped(&tenant, &name)?)?).unwrap_or(Value::Null);
    unscoped(&tenant, &mut info);
    ok(json!({ "face_set_info": info }))
}

async fn delete_set(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    Path((_p, name)): Path<(String, String)>,
) -> ApiResult {
    let tenant = t.0;
    st.sets.delete_set(&scoped(&tenant, &name)?)?;
    ok(json!({ "face_set_name": name }))
}

async fn add_faces(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    Path((_p, name)): Path<(String, String)>,
    b: Bytes,
) -> ApiResult {
    let tenant = t.0;
    let set = scoped(&tenant, &name)?;
    st.sets.show_set(&set)?;
    let body = body_json(&b)?;
    let src = image_source(&st.cfg, &body, "image")?;
    let single = body
        .get("single")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let fields = body
        .get("external_fields")
        .and_then(|v| v.as_object())
        .cloned()
        .unwrap_or_default();
    let eid = body
        .get("external_image_id")
        .and_then(|v| v.as_str())
        .map(String::from);
    let user = body
        .get("user_id")
        .and_then(|v| v.as_str())
        .map(String::from);
    let cfg = st.cfg.clone();
    let faces = st
        .infer(move |an| {
            let frame = load(&cfg, src, "image")?;
            let mut dets: Vec<_> = an
                .detect_verified(&frame)?
                .into_iter()
                .map(|(d, _)| d)
                .collect();
            if dets.is_empty() {
                return Err(FaceError::NoFace {
                    path: "image".into(),
                }
                .into());
            }
            if single {
                let i = largest(&dets).unwrap_or(0);
                dets = vec![dets.swap_remove(i)];
            }
            let refs: Vec<_> = dets.iter().map(|d| (&frame, d)).collect();
            let embs = an.embedder()?.embed(&refs)?;
            Ok(dets
                .iter()
                .zip(embs)
                .filter_map(|(d, e)| Some((BoundingBox::from(d), e?)))
                .collect::<Vec<_>>())
        })
        .await?;
    let added = st
        .sets
        .add_faces(&set, faces, eid.as_deref(), &fields, user.as_deref())?;
    let mut v = json!({ "face_set_name": name, "face_set_id": name, "faces": added });
    if let Some(list) = v["faces"].as_array_mut() {
        list.iter_mut().for_each(|f| unscoped(&tenant, f));
    }
    ok(v)
}

async fn get_faces(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    Path((_p, name)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let tenant = t.0;
    let set = scoped(&tenant, &name)?;
    let mut faces = match q.get("face_id") {
        Some(id) => vec![serde_json::to_value(st.sets.face(&set, id)?).unwrap_or(Value::Null)],
        None => {
            let num = |k: &str, d: usize| -> Result<usize, ApiError> {
                q.get(k)
                    .map(|v| {
                        v.parse().map_err(|_| {
                            err(
                                StatusCode::BAD_REQUEST,
                                "FRS.0012",
                                format!("{k} must be a number"),
                            )
                        })
                    })
                    .transpose()
                    .map(|v| v.unwrap_or(d))
            };
            st.sets
                .list_faces(&set, num("offset", 0)?, num("limit", 5)?)?
                .into_iter()
                .filter_map(|f| serde_json::to_value(f).ok())
                .collect()
        }
    };
    faces.iter_mut().for_each(|f| unscoped(&tenant, f));
    ok(json!({ "face_set_name": name, "faces": faces }))
}

async fn update_face(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    Path((_p, name)): Path<(String, String)>,
    b: Bytes,
) -> ApiResult {
    let tenant = t.0;
    let body = body_json(&b)?;
    let id = body
        .get("face_id")
        .and_then(|v| v.as_str())
        .ok_or_else(|| err(StatusCode::BAD_REQUEST, "FRS.0011", "face_id is required"))?;
    let fields = body.get("external_fields").and_then(|v| v.as_object());
    let eid = body.get("external_image_id").and_then(|v| v.as_str());
    st.sets
        .update_face(&scoped(&tenant, &name)?, id, eid, fields)?;
    ok(json!({ "face_number": 1, "face_set_name": name }))
}

async fn delete_faces(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    Path((_p, name)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let tenant = t.0;
    let set = scoped(&tenant, &name)?;
    let sel = if let Some(id) = q.get("face_id") {
        Selector::FaceId(id.clone())
    } else if let Some(e) = q.get("external_image_id") {
        Selector::ExternalImageId(e.clone())
    } else if let Some((k, v)) = q.iter().next() {
        st.sets.field_selector(&set, k, v)?
    } else {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "FRS.0011",
            "face_id, external_image_id or a custom field is required",
        ));
    };
    ok(json!({ "face_number": st.sets.delete_faces(&set, sel)?, "face_set_name": name }))
}

async fn batch_delete(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    Path((_p, name)): Path<(String, String)>,
    b: Bytes,
) -> ApiResult {
    let tenant = t.0;
    let set = scoped(&tenant, &name)?;
    let body = body_json(&b)?;
    let filter = body
        .get("filter")
        .and_then(|v| v.as_str())
        .ok_or_else(|| err(StatusCode::BAD_REQUEST, "FRS.0011", "filter is required"))?;
    let f = st.sets.parse_filter(&set, filter)?;
    ok(
        json!({ "face_number": st.sets.delete_faces(&set, Selector::Filter(f))?, "face_set_name": name }),
    )
}

async fn search(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    Path((_p, name)): Path<(String, String)>,
    b: Bytes,
) -> ApiResult {
    let tenant = t.0;
    let set = scoped(&tenant, &name)?;
    st.sets.show_set(&set)?;
    let body = body_json(&b)?;
    let mut p = SearchParams::new(
        body.get("threshold")
            .and_then(|v| v.as_f64())
            .map(|t| t as f32)
            .unwrap_or(st.cfg.compare.threshold_for(st.cfg.models.embedder)),
    );
    p.top_n = body.get("top_n").and_then(|v| v.as_u64()).unwrap_or(10) as usize;
    p.filter = body
        .get("filter")
        .and_then(|v| v.as_str())
        .map(String::from);
    if let Some(sorts) = body.get("sort").and_then(|v| v.as_array()) {
        for s in sorts.iter().filter_map(|s| s.as_object()) {
            for (k, v) in s {
                p.sort.push((k.clone(), v.as_str() != Some("desc")));
            }
        }
    }
    p.return_fields = body
        .get("return_fields")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        });
    let hits = if let Some(id) = body.get("face_id").and_then(|v| v.as_str()) {
        st.sets.search_by_face_id(&set, id, &p)?
    } else {
        let src = image_source(&st.cfg, &body, "image")?;
        let cfg = st.cfg.clone();
        let emb = st
            .infer(move |an| {
                let frame = load(&cfg, src, "image")?;
                let dets: Vec<_> = an
                    .detect_verified(&frame)?
                    .into_iter()
                    .map(|(d, _)| d)
                    .collect();
                let i = largest(&dets).ok_or_else(|| {
                    ApiError::from(FaceError::NoFace {
                        path: "image".into(),
                    })
                })?;
                an.embedder()?
                    .embed(&[(&frame, &dets[i])])?
                    .pop()
                    .flatten()
                    .ok_or_else(|| {
                        FaceError::NoFace {
                            path: "image".into(),
                        }
                        .into()
                    })
            })
            .await?;
        st.sets.search(&set, &emb, &p)?
    };
    ok(json!({ "faces": hits }))
}

async fn openapi() -> Json<Value> {
    Json(super::openapi::spec())
}

/// Authenticates every API route (not /openapi.json): the body is read here once, within the limit,
/// because signatures cover it; the handler gets it back unchanged.
async fn authenticate(
    State(st): State<Arc<ApiState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, st.cfg.api.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return err(
                StatusCode::PAYLOAD_TOO_LARGE,
                "FRS.0413",
                "request body over api.max_body_bytes",
            )
            .into_response()
        }
    };
    match st.authorize(&parts, &bytes) {
        Ok(tenant) => {
            let mut req = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
            req.extensions_mut().insert(Tenant(tenant));
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// The router; `serve` binds it.
pub fn router(state: Arc<ApiState>) -> Router {
    let limit = state.cfg.api.max_body_bytes;
    Router::new()
        .route("/v2/{project_id}/face-detect", post(face_detect))
        .route("/v2/{project_id}/face-compare", post(face_compare))
        .route("/v2/{project_id}/live-detect", post(live_detect))
        .route(
            "/v2/{project_id}/face-sets",
            post(create_set).get(list_sets),
        )
        .route(
            "/v2/{project_id}/face-sets/{face_set_name}",
            get(show_set).delete(delete_set),
        )
        .route(
            "/v2/{project_id}/face-sets/{face_set_name}/faces",
            post(add_faces)
                .get(get_faces)
                .put(update_face)
                .delete(delete_faces),
        )
        .route(
            "/v2/{project_id}/face-sets/{face_set_name}/faces/batch",
            delete(batch_delete),
        )
        .route(
            "/v2/{project_id}/face-sets/{face_set_name}/search",
            post(search),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
        .route("/openapi.json", get(openapi))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

pub async fn serve_on(
    listener: tokio::net::TcpListener,
    cfg: Config,
    sets: Arc<FaceSets>,
) -> std::io::Result<()> {
    tracing::info!(bind = %cfg.api.bind, "FRS-compatible API listening");
    axum::serve(listener, router(Arc::new(ApiState::new(cfg, sets)))).await
}
