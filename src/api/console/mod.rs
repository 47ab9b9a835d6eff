//! The web console (`[console]`, docs/console.md), served on the API's address under `/console/`:
//! cameras with live views, the event timeline, the face library, naming strangers and
//! correcting matches. Plain server-rendered HTML (maud) with a few lines of inline JavaScript.
//!
//! Security: signing in takes an API key (`api.keys`; with `api.auth = false`, any text) and
//! gives a session cookie (random 256-bit token, `HttpOnly`, `SameSite=Strict`, `Secure` over
//! TLS, path `/console`). Every page, picture and JSON endpoint needs it. Every state-changing
//! request carries the session's CSRF token (a form field or `X-CSRF-Token`) and, when the
//! browser sends one, an `Origin` that is this host. A key's tenant sees its own face sets and
//! their matches; `admin` sees everything (as in the API).

mod actions;
mod pages;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use super::state::ApiState;

/// Sign-ins kept at most; beyond it the oldest goes.
const MAX_SESSIONS: usize = 10_000;
const COOKIE: &str = "fs_console";

#[derive(Clone)]
pub struct Session {
    pub tenant: String,
    pub csrf: String,
    expires: Instant,
}

/// The signed-in sessions of this daemon (a restart signs everyone out).
#[derive(Default)]
pub struct Sessions {
    by_token: Mutex<HashMap<String, Session>>,
    /// Failed sign-ins allowed now, and when that was last refilled: a budget for the whole
    /// daemon, since a guesser can use many connections (and addresses).
    failures: Mutex<Option<(f64, Instant)>>,
}

/// Failed sign-ins allowed in a burst, and one more every `REFILL_S` seconds: ten a minute.
/// Beyond them every sign-in is refused for a while (a valid key too: a guess must not get
/// through); the API keys still work on the APIs themselves.
pub const FAILED_SIGN_INS: f64 = 10.0;
const REFILL_S: f64 = 6.0;

fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.by_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a sign-in may be tried now; else the seconds until one may.
    pub fn may_sign_in(&self) -> Result<(), u64> {
        let mut f = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let (left, since) = f.get_or_insert((FAILED_SIGN_INS, now));
        *left = (*left + now.duration_since(*since).as_secs_f64() / REFILL_S).min(FAILED_SIGN_INS);
        *since = now;
        if *left >= 1.0 {
            Ok(())
        } else {
            Err(((1.0 - *left) * REFILL_S).ceil().max(1.0) as u64)
        }
    }

    /// Counts a failed sign-in against the budget.
    pub fn sign_in_failed(&self) {
        let mut f = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((left, _)) = f.as_mut() {
            *left = (*left - 1.0).max(0.0);
        }
    }

    /// A new session for `tenant`; its token.
    pub fn open(&self, tenant: &str, hours: f64) -> String {
        let mut m = self.lock();
        let now = Instant::now();
        m.retain(|_, s| s.expires > now);
        if m.len() >= MAX_SESSIONS {
            if let Some(oldest) = m
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
            {
                m.remove(&oldest);
            }
        }
        let token = random_token();
        m.insert(
            token.clone(),
            Session {
                tenant: tenant.to_string(),
                csrf: random_token(),
                expires: now + Duration::from_secs_f64(hours * 3600.0),
            },
        );
        token
    }

    pub fn get(&self, token: &str) -> Option<Session> {
        let m = self.lock();
        m.get(token).filter(|s| s.expires > Instant::now()).cloned()
    }

    pub fn close(&self, token: &str) {
        self.lock().remove(token);
    }
}

fn cookie_token(h: &HeaderMap) -> Option<String> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// Whether the request's `Origin` (when the browser sends one) is this host.
fn same_origin(h: &HeaderMap) -> bool {
    let Some(origin) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host)
}

/// Every console route but the sign-in page needs a live session; state changes need its CSRF
/// token too (checked by the handlers, which read the form) and a same-origin request.
async fn signed_in(State(st): State<Arc<ApiState>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/console/login" {
        return next.run(req).await;
    }
    let session = cookie_token(req.headers()).and_then(|t| st.sessions.get(&t));
    let Some(session) = session else {
        if path.starts_with("/console/api/") || req.method() != axum::http::Method::GET {
            return (StatusCode::UNAUTHORIZED, "sign in first: /console/login").into_response();
        }
        return Redirect::to("/console/login").into_response();
    };
    if req.method() != axum::http::Method::GET && !same_origin(req.headers()) {
        return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
    }
    req.extensions_mut().insert(session);
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    h.insert("x-frame-options", header::HeaderValue::from_static("DENY"));
    h.insert(
        "content-security-policy",
        header::HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    res
}

/// The CSRF check of a state-changing request: the form's or header's token is the session's.
pub fn csrf_ok(session: &Session, form_token: Option<&str>, headers: &HeaderMap) -> bool {
    let given = form_token.or_else(|| headers.get("x-csrf-token").and_then(|v| v.to_str().ok()));
    given.is_some_and(|t| {
        t.len() == session.csrf.len()
            && t.bytes()
                .zip(session.csrf.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    })
}

pub fn routes(state: Arc<ApiState>) -> Router<Arc<ApiState>> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/login", get(pages::login).post(actions::login))
        .route("/console/logout", post(actions::logout))
        .route("/console/", get(pages::cameras))
        .route("/console/cameras/{id}/live.jpg", get(pages::live_jpeg))
        .route("/console/api/cameras", get(pages::cameras_json))
        .route("/console/events", get(pages::events))
        .route("/console/events/{id}/snapshot.jpg", get(pages::snapshot))
        .route(
            "/console/events/{id}/not-this-person",
            post(actions::not_this_person),
        )
        .route("/console/strangers/{id}/name", post(actions::name_stranger))
        .route("/console/library", get(pages::library))
        .route("/console/library/{set}", get(pages::face_set))
        .route("/console/library/{set}/people", post(actions::upload))
        .route(
            "/console/library/{set}/people/{person}/delete",
            post(actions::delete_person),
        )
        .route(
            "/console/library/{set}/people/{person}/rename",
            post(actions::rename_person),
        )
        .layer(axum::middleware::from_fn_with_state(state, signed_in))
}

/// The face set a tenant means by `name` (admin and public use names as stored).
pub fn stored_set(tenant: &str, name: &str) -> String {
    if super::events::sees_all(tenant) {
        name.to_string()
    } else {
        format!("{tenant}--{name}")
    }
}

/// The name a tenant sees for a stored set, if it is theirs.
pub fn shown_set(tenant: &str, stored: &str) -> Option<String> {
    if super::events::sees_all(tenant) {
        Some(stored.to_string())
    } else {
        stored
            .strip_prefix(&format!("{tenant}--"))
            .map(String::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_csrf_must_match() {
        let s = Sessions::default();
        let t = s.open("admin", 1.0);
        let sess = s.get(&t).unwrap();
        assert_eq!(sess.tenant, "admin");
        assert!(csrf_ok(&sess, Some(&sess.csrf), &HeaderMap::new()));
        assert!(!csrf_ok(&sess, Some("x"), &HeaderMap::new()));
        assert!(!csrf_ok(&sess, None, &HeaderMap::new()));
        let gone = s.open("a", 0.0);
        assert!(s.get(&gone).is_none());
        s.close(&t);
        assert!(s.get(&t).is_none());
    }

    #[test]
    fn cross_site_origins_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
    }
}
