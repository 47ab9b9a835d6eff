//! The HTTP server (axum, on the daemon's tokio runtime): authentication (API keys, FRS AK/SK and
//! Tencent TC3 signatures, rate limits) and the routes of the FRS v2, Baidu v3 and Tencent families.
//! A tenant only sees its own face sets; errors keep each family's shape.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;

use super::auth::{
    canonical_request_with, hmac_hex, parse_authorization, parse_sdk_date, parse_tc3, same,
    string_to_sign, tc3_signature, AuthError,
};
use super::error::{fail, ApiError, ErrorKind};
use super::frs::*;
use super::state::{ApiState, Tenant};
use crate::config::Config;
use crate::search::FaceSets;

/// The canonical request (shared by the FRS and TC3 signature schemes) of an incoming request;
/// `lower_values` lower-cases the signed headers' values (TC3 as Tencent documents it).
fn canonical_of(
    parts: &axum::http::request::Parts,
    signed: &[String],
    body: &[u8],
    lower_values: bool,
) -> String {
    let all: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    canonical_request_with(
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query().unwrap_or(""),
        &all,
        signed,
        body,
        lower_values,
    )
}

impl ApiState {
    /// The signing secret of a key, when it has one.
    pub(super) fn secret_of(&self, key: &str) -> Option<&str> {
        self.keys.get(key).and_then(|(_, s)| s.as_deref())
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
        let denied = |m: &str| fail(ErrorKind::Forbidden, m);
        let h = &parts.headers;
        let header = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
        let key = if let Some(auth) =
            header("authorization").filter(|a| a.starts_with("TC3-HMAC-SHA256"))
        {
            self.tc3_key(parts, auth, body)?
        } else if let Some(auth) =
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
            let date = header("x-sdk-date")
                .ok_or_else(|| fail(ErrorKind::Unauthenticated, "X-Sdk-Date is missing"))?;
            let date_s = parse_sdk_date(date)
                .ok_or_else(|| denied("X-Sdk-Date is malformed (YYYYMMDDTHHMMSSZ)"))?;
            let canonical = canonical_of(parts, &signed, body, false);
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
            // Identical requests sign identically: they may repeat inside the window unless the
            // client signs a nonce, which makes each signature good once.
            let now_s = self.clock.wall_ms() as i64 / 1000;
            let checked = if signed.iter().any(|s| s == "x-sdk-nonce") {
                self.guard.fresh(date_s, now_s, &sig)
            } else {
                self.guard.in_window(date_s, now_s)
            };
            match checked {
                Ok(()) => {}
                Err(AuthError::Expired) => {
                    return Err(denied(
                        "request expired: X-Sdk-Date is outside the allowed window",
                    ))
                }
                Err(_) => return Err(denied("replayed request")),
            }
            ak
        } else if let (Some(app_key), Some(sign)) = (header("appkey"), header("sign")) {
            self.ctyun_key(parts, app_key, sign, body)?
        } else {
            // Baidu clients send their key as `?access_token=` (URL-encoded).
            let query_token = parts.uri.query().and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "access_token")
                    .map(|(_, v)| v.into_owned())
            });
            let token = header("x-auth-token").map(String::from).or(query_token);
            let token = token
                .as_deref()
                .ok_or_else(|| fail(ErrorKind::Unauthenticated, "X-Auth-Token is missing"))?;
            if self.keys.contains_key(token) {
                token.to_string()
            } else {
                // An access token from /oauth/2.0/token (Baidu's SDKs).
                let now_s = self.clock.wall_ms() as i64 / 1000;
                super::baidu::token_key(token, |k| self.secret_of(k), now_s)
                    .ok_or_else(|| denied("token authentication failed"))?
                    .to_string()
            }
        };
        if let Err(AuthError::RateLimited { retry_after_s }) =
            self.guard.admit(&key, self.clock.now())
        {
            return Err(ApiError {
                retry_after: Some(retry_after_s),
                ..fail(ErrorKind::RateLimited, "rate limit exceeded")
            });
        }
        Ok(self.keys.get(&key).map(|k| k.0.clone()).unwrap_or_default())
    }

    /// China Telecom's signature: `Sign` = lower-case hex MD5(AppKey + AppSecret + Timestamp +
    /// Path + Body) with a 13-digit millisecond `Timestamp` inside the skew window; the AppKey is
    /// a key with a `secret`. A signature is good once (it covers the millisecond timestamp, so
    /// identical legitimate requests differ).
    fn ctyun_key(
        &self,
        parts: &axum::http::request::Parts,
        app_key: &str,
        sign: &str,
        body: &[u8],
    ) -> Result<String, ApiError> {
        use md5::{Digest, Md5};
        let denied = |m: &str| fail(ErrorKind::Forbidden, m);
        let (_, secret) = self
            .keys
            .get(app_key)
            .ok_or_else(|| denied("unknown AppKey"))?;
        let secret = secret
            .as_ref()
            .ok_or_else(|| denied("this key has no secret: use X-Auth-Token"))?;
        let ts = parts
            .headers
            .get("timestamp")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .ok_or_else(|| denied("Timestamp is missing"))?;
        let ts_ms: i64 = ts
            .parse()
            .ok()
            .filter(|_| ts.len() == 13 && ts.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| denied("Timestamp must be 13 digits (milliseconds since 1970)"))?;
        let mut h = Md5::new();
        h.update(app_key.as_bytes());
        h.update(secret.as_bytes());
        h.update(ts.as_bytes());
        h.update(parts.uri.path().as_bytes());
        h.update(body);
        let want = super::auth::hex(&h.finalize());
        if !same(&want, &sign.trim().to_ascii_lowercase()) {
            return Err(denied("signature mismatch"));
        }
        match self
            .guard
            .fresh(ts_ms / 1000, self.clock.wall_ms() as i64 / 1000, &want)
        {
            Ok(()) => Ok(app_key.to_string()),
            Err(AuthError::Expired) => Err(denied(
                "request expired: Timestamp is outside the allowed window",
            )),
            Err(_) => Err(denied("replayed request")),
        }
    }

    /// Tencent Cloud's TC3-HMAC-SHA256: the SecretId is a key with a `secret`; `X-TC-Timestamp` must be
    /// within the skew window and the credential date its UTC day.
    fn tc3_key(
        &self,
        parts: &axum::http::request::Parts,
        auth: &str,
        body: &[u8],
    ) -> Result<String, ApiError> {
        let denied = |m: &str| fail(ErrorKind::Forbidden, m);
        let t = parse_tc3(auth).ok_or_else(|| denied("malformed TC3 Authorization header"))?;
        let (_, secret) = self
            .keys
            .get(&t.secret_id)
            .ok_or_else(|| denied("unknown SecretId"))?;
        let secret = secret
            .as_ref()
            .ok_or_else(|| denied("this key has no secret: use X-Auth-Token"))?;
        let ts: i64 = parts
            .headers
            .get("x-tc-timestamp")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| denied("X-TC-Timestamp is missing or not a number"))?;
        if !t.signed.iter().any(|h| h == "host") {
            return Err(denied("host must be a signed header"));
        }
        if crate::messages::utc_datetime(ts.max(0) as u64 * 1000).get(..10) != Some(t.date.as_str())
        {
            return Err(denied(
                "the credential date is not the UTC day of X-TC-Timestamp",
            ));
        }
        // Tencent's documentation lower-cases the signed values (`x-tc-action:creategroup`); its
        // Python SDK signs only content-type and host, whose values it sends as signed.
        let expected = |lower| {
            tc3_signature(
                secret,
                ts,
                &t.date,
                &t.service,
                &canonical_of(parts, &t.signed, body, lower),
            )
        };
        if !same(&expected(false), &t.signature) && !same(&expected(true), &t.signature) {
            return Err(denied("signature mismatch"));
        }
        let now_s = self.clock.wall_ms() as i64 / 1000;
        let checked = if t.signed.iter().any(|h| h == "x-tc-action") {
            self.guard.in_window(ts, now_s)
        } else {
            // The action is not signed: bind the signature to the action it came with, so a
            // captured request cannot be re-sent as another action.
            let action = parts
                .headers
                .get("x-tc-action")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            self.guard.bound(ts, now_s, &t.signature, &action)
        };
        match checked {
            Ok(()) => {}
            Err(AuthError::Expired) => {
                return Err(denied(
                    "request expired: X-TC-Timestamp is outside the allowed window",
                ))
            }
            Err(_) => {
                return Err(denied(
                    "replayed request: this signature was already used with another X-TC-Action (sign x-tc-action to vary it)",
                ))
            }
        }
        Ok(t.secret_id)
    }
}

/// Authenticates every API route (not /openapi.json): the body is read here once, within the limit,
/// because signatures cover it; the handler gets it back unchanged.
async fn authenticate(
    State(st): State<Arc<ApiState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, st.cfg.api.max_body_bytes).await else {
        return fail(
            ErrorKind::BodyTooLarge,
            "request body over api.max_body_bytes",
        )
        .into_response();
    };
    match st.authorize(&parts, &bytes) {
        Ok(tenant) => {
            let mut req = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
            req.extensions_mut().insert(Tenant(tenant));
            next.run(req).await
        }
        Err(e) if parts.uri.path().starts_with("/rest/") => super::baidu::auth_failure(e),
        Err(e) if parts.uri.path() == "/" => super::tencent::auth_failure(e),
        Err(e) if parts.uri.path().starts_with("/v1/aiop/") => super::ctyun::auth_failure(e),
        Err(e) => e.into_response(),
    }
}

/// Counts every request by API family and status (`facestream_api_requests_total`), and error
/// answers by code (`facestream_api_errors_total`).
async fn count(
    State(st): State<Arc<ApiState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path();
    let api = if path.starts_with("/v2/") {
        "frs"
    } else if path.starts_with("/rest/") {
        "baidu"
    } else if path == "/" {
        "tencent"
    } else if path.starts_with("/v1/aiop/") {
        "ctyun"
    } else {
        "other"
    };
    let t = std::time::Instant::now();
    let r = next.run(req).await;
    let code = r
        .extensions()
        .get::<super::error::ErrorCode>()
        .map(|c| c.0.as_str());
    st.metrics.api_request(
        api,
        r.status().as_u16(),
        code,
        t.elapsed().as_micros() as u64,
    );
    r
}

/// The router; `serve` binds it.
pub fn router(state: Arc<ApiState>) -> Router {
    let limit = state.cfg.api.max_body_bytes;
    Router::new()
        .route("/v2/{project_id}/face-detect", post(face_detect))
        .route("/v2/{project_id}/face-compare", post(face_compare))
        .route("/v2/{project_id}/live-detect", post(live_detect))
        // Huawei's SDKs call the liveness checks on v1 paths.
        .route("/v1/{project_id}/live-detect", post(live_detect))
        .route("/v2/{project_id}/live-detect-face", post(live_detect_face))
        .route("/v1/{project_id}/live-detect-face", post(live_detect_face))
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
        .route(
            "/facestream/v1/cameras",
            get(super::cameras::list).post(super::cameras::add),
        )
        .route(
            "/facestream/v1/cameras/{id}",
            axum::routing::put(super::cameras::update).delete(super::cameras::remove),
        )
        .route("/facestream/v1/cluster", get(super::cameras::cluster))
        .route("/facestream/v1/events", get(super::events::list))
        .route("/facestream/v1/events/{id}", get(super::events::one))
        .route(
            "/facestream/v1/events/{id}/snapshot",
            get(super::events::snapshot),
        )
        .route("/rest/2.0/face/v3/{*op}", post(super::baidu::dispatch))
        .route("/", post(super::tencent::dispatch))
        .route(
            "/v1/aiop/api/{service_code}/{*op}",
            post(super::ctyun::dispatch),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
        // The console signs people in with its own session cookie, not per-request keys.
        .merge(if state.cfg.console.enabled {
            super::console::routes(state.clone())
        } else {
            Router::new()
        })
        .route("/openapi.json", get(openapi))
        .route(
            "/oauth/2.0/token",
            get(super::baidu::oauth_token).post(super::baidu::oauth_token),
        )
        .layer(axum::middleware::from_fn_with_state(state.clone(), count))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

pub async fn serve_on<L>(
    listener: L,
    cfg: Config,
    sets: Arc<FaceSets>,
    metrics: Arc<crate::metrics::Metrics>,
    clock: Arc<dyn crate::base::clock::Clock>,
    live_view: Option<Arc<crate::track::live_view::LiveView>>,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    tracing::info!(bind = %cfg.api.bind, "HTTP API listening (FRS, Baidu and Tencent paths)");
    let mut state = ApiState::new(cfg, sets, metrics, clock).map_err(std::io::Error::other)?;
    state.live_view = live_view;
    axum::serve(listener, router(Arc::new(state))).await
}
