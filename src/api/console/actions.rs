//! The console's state-changing requests (POST): sign in/out, name a stranger, "not this
//! person", add a photo, rename or delete a person. Each checks the session's CSRF token first;
//! failures answer a short page naming the problem and its FRS code, and change nothing.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use serde_json::Value;

use super::{csrf_ok, stored_set, Session};
use crate::api::error::ApiError;
use crate::api::state::ApiState;
use crate::search::store::Selector;
use crate::search::strangers::Strangers;
use crate::search::SetError;

/// A form's text fields (urlencoded or multipart) and, for multipart, its files.
async fn form(
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(HashMap<String, String>, Option<crate::api::body::Form>), Response> {
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("multipart/form-data"));
    if multipart {
        let f = crate::api::body::Form::parse(headers, body)
            .await
            .map_err(|e| problem(StatusCode::BAD_REQUEST, &e))?;
        let text = f
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), s)
            })
            .collect();
        return Ok((text, Some(f)));
    }
    Ok((
        url::form_urlencoded::parse(&body).into_owned().collect(),
        None,
    ))
}

/// The request's form once its CSRF token has been checked (`what` names the action refused).
async fn checked(
    s: &Session,
    headers: &HeaderMap,
    body: Bytes,
    what: &str,
) -> Result<(HashMap<String, String>, Option<crate::api::body::Form>), Response> {
    let (fields, files) = form(headers, body).await?;
    if !csrf_ok(s, fields.get("csrf").map(String::as_str), headers) {
        return Err(refused(what));
    }
    Ok((fields, files))
}

/// Where a change ends: back to `to`, or the failure's page.
fn finished<T>(r: Result<Result<T, SetError>, tokio::task::JoinError>, to: &str) -> Response {
    match r {
        Ok(Ok(_)) => Redirect::to(to).into_response(),
        Ok(Err(e)) => set_error(e),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "the change failed").into_response(),
    }
}

fn problem(status: StatusCode, e: &ApiError) -> Response {
    (
        status,
        format!("{}: {}", crate::codes::frs::code(e.kind), e.msg),
    )
        .into_response()
}

fn refused(what: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        format!("{what}: missing or wrong CSRF token; reload the page"),
    )
        .into_response()
}

fn set_error(e: SetError) -> Response {
    let e = ApiError::from(e);
    problem(e.status(), &e)
}

/// A person's name as the forms take it: 1–128 bytes of text without control characters.
fn person_name(v: Option<&String>) -> Result<String, Box<Response>> {
    let v = v.map(|s| s.trim().to_string()).unwrap_or_default();
    if v.is_empty() || v.len() > crate::search::MAX_USER_ID_BYTES || v.chars().any(char::is_control)
    {
        return Err(Box::new(
            (
                StatusCode::BAD_REQUEST,
                format!(
                    "FRS.0411: a person's name is 1-{} bytes of text",
                    crate::search::MAX_USER_ID_BYTES
                ),
            )
                .into_response(),
        ));
    }
    Ok(v)
}

fn secure_cookie(st: &ApiState) -> &'static str {
    if st.cfg.api.tls_cert.is_some() {
        "; Secure"
    } else {
        ""
    }
}

pub async fn login(State(st): State<Arc<ApiState>>, headers: HeaderMap, body: Bytes) -> Response {
    let (fields, _) = match form(&headers, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if let Err(wait) = st.sessions.may_sign_in() {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, wait.to_string())],
            format!("FRS.0429: too many failed sign-ins; try again in {wait} s"),
        )
            .into_response();
    }
    let key = fields.get("key").map(String::as_str).unwrap_or("");
    let tenant = if !st.cfg.api.auth {
        Some("public".to_string())
    } else {
        st.cfg
            .api
            .keys
            .iter()
            .find(|k| k.key == key)
            .map(|k| k.tenant.clone())
    };
    let Some(tenant) = tenant else {
        st.sessions.sign_in_failed();
        // Slows guessing; keys are long random strings anyway.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        return (StatusCode::UNAUTHORIZED, "FRS.0002: unknown API key").into_response();
    };
    let token = st.sessions.open(&tenant, st.cfg.console.session_hours);
    let cookie = format!(
        "{}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{}",
        super::COOKIE,
        (st.cfg.console.session_hours * 3600.0) as u64,
        secure_cookie(&st)
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to("/console/")).into_response()
}

pub async fn logout(
    State(st): State<Arc<ApiState>>,
    Extension(s): Extension<Session>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = checked(&s, &headers, body, "sign out").await {
        return r;
    }
    if let Some(t) = super::cookie_token(&headers) {
        st.sessions.close(&t);
    }
    let clear = format!(
        "{}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0",
        super::COOKIE
    );
    (
        [(header::SET_COOKIE, clear)],
        Redirect::to("/console/login"),
    )
        .into_response()
}

fn strangers(st: &ApiState) -> Strangers {
    Strangers::new(&st.cfg.unknown, st.cfg.models.embedder)
}

/// Names a stranger: its faces become a person of the form's face set.
pub async fn name_stranger(
    State(st): State<Arc<ApiState>>,
    Extension(s): Extension<Session>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (fields, _) = match checked(&s, &headers, body, "naming").await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let person = match person_name(fields.get("person")) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let set = fields
        .get("set")
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .unwrap_or_else(|| st.cfg.console.default_face_set.clone());
    if !crate::search::valid_set_name(&set) {
        return set_error(SetError::BadSetName(set));
    }
    let stored = stored_set(&s.tenant, &set);
    let done = tokio::task::spawn_blocking(move || -> Result<usize, SetError> {
        let n = strangers(&st).name(&st.sets, &id, &stored, &person)?;
        if let Ok(log) = st.history() {
            let _ = log.rename_person(&id, &person);
        }
        tracing::info!(stranger = %id, %person, set = %stored, faces = n, "stranger named in the console");
        Ok(n)
    })
    .await;
    finished(done, "/console/events")
}

/// "Not this person" on a match: the track's face (from the event's snapshot) is kept as a
/// rejection of the matched person, and a matched face learned from a named stranger is removed.
pub async fn not_this_person(
    State(st): State<Arc<ApiState>>,
    Extension(s): Extension<Session>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = checked(&s, &headers, body, "not this person").await {
        return r;
    }
    let (st2, tenant, eid) = (st.clone(), s.tenant.clone(), id.clone());
    let found = tokio::task::spawn_blocking(move || {
        let log = st2.history()?;
        let e = crate::api::events::visible(&log, &tenant, &eid)?;
        let jpeg = log.snapshot(&eid)?;
        Ok::<_, crate::history::HistoryError>((e, jpeg))
    })
    .await;
    let (event, jpeg) = match found {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return problem(StatusCode::NOT_FOUND, &ApiError::from(e)),
        Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "lookup failed").into_response(),
    };
    let (Some(set), Some(who), "match") = (
        event.face_set.clone(),
        event.person.clone(),
        event.kind.as_str(),
    ) else {
        return (
            StatusCode::BAD_REQUEST,
            "FRS.0411: only a match can be rejected",
        )
            .into_response();
    };
    let cfg = st.cfg.clone();
    let emb = st
        .infer(move |an| {
            let frame = crate::ingest::image::decode_image(
                &jpeg,
                std::path::Path::new("snapshot.jpg"),
                &cfg.images,
            )
            .map_err(|e| ApiError::from(crate::shapes::FaceError::Input(e)))?;
            let mut faces = an.embed_faces(&frame, true)?;
            faces.pop().map(|(_, e)| e).ok_or_else(|| {
                crate::shapes::FaceError::NoFace {
                    path: "snapshot".into(),
                }
                .into()
            })
        })
        .await;
    let emb = match emb {
        Ok(e) => e,
        Err(e) => return problem(StatusCode::BAD_REQUEST, &e),
    };
    let matched_face = event
        .payload
        .get("face_id")
        .and_then(Value::as_str)
        .map(String::from);
    let done = tokio::task::spawn_blocking(move || -> Result<(), SetError> {
        strangers(&st).reject(&st.sets, &set, &who, &[emb])?;
        // A face learned from a named stranger that matched wrongly is removed from the person.
        if let Some(fid) = matched_face {
            if let Ok(f) = st.sets.face(&set, &fid) {
                if f.external_image_id.starts_with("from-unknown-") {
                    st.sets.delete_faces(&set, Selector::FaceId(fid))?;
                }
            }
        }
        tracing::info!(event = %id, person = %who, %set, "match rejected in the console");
        Ok(())
    })
    .await;
    finished(done, "/console/events")
}

/// Adds a photo of a person to a face set (the largest face).
pub async fn upload(
    State(st): State<Arc<ApiState>>,
    Extension(s): Extension<Session>,
    Path(set): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (fields, files) = match checked(&s, &headers, body, "upload").await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let person = match person_name(fields.get("person")) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let Some(photo) = files.as_ref().and_then(|f| f.file("photo")).cloned() else {
        return (StatusCode::BAD_REQUEST, "FRS.0401: no photo in the form").into_response();
    };
    let stored = stored_set(&s.tenant, &set);
    if let Err(e) = st.sets.show_set(&stored) {
        return set_error(e);
    }
    let (cfg, keep) = (st.cfg.clone(), st.sets.keeps_face_pictures());
    let enrolment = st
        .infer(move |an| {
            let frame = crate::ingest::image::decode_image(
                &photo,
                std::path::Path::new("photo"),
                &cfg.images,
            )
            .map_err(|e| ApiError::from(crate::shapes::FaceError::Input(e)))?;
            let (d, e) = an.embed_faces(&frame, true)?.pop().ok_or_else(|| {
                ApiError::from(crate::shapes::FaceError::NoFace {
                    path: "photo".into(),
                })
            })?;
            Ok(crate::search::Enrolment::of(&frame, &d, e, keep))
        })
        .await;
    let enrolment = match enrolment {
        Ok(e) => e,
        Err(e) => return problem(StatusCode::BAD_REQUEST, &e),
    };
    let done = tokio::task::spawn_blocking(move || {
        st.sets.add_faces(
            &stored,
            vec![enrolment],
            Some(&person),
            &serde_json::Map::new(),
            Some(&person),
        )
    })
    .await;
    finished(done, &format!("/console/library/{set}"))
}

pub async fn delete_person(
    State(st): State<Arc<ApiState>>,
    Extension(s): Extension<Session>,
    Path((set, person)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = checked(&s, &headers, body, "delete").await {
        return r;
    }
    let stored = stored_set(&s.tenant, &set);
    let done =
        tokio::task::spawn_blocking(move || st.sets.delete_faces(&stored, Selector::User(person)))
            .await;
    finished(done, &format!("/console/library/{set}"))
}

/// Renames a person: their faces move to the new name (one copy, then the old name goes).
pub async fn rename_person(
    State(st): State<Arc<ApiState>>,
    Extension(s): Extension<Session>,
    Path((set, person)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (fields, _) = match checked(&s, &headers, body, "rename").await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let to = match person_name(fields.get("to")) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let stored = stored_set(&s.tenant, &set);
    let done =
        tokio::task::spawn_blocking(move || st.sets.move_user(&stored, &person, &stored, &to, &to))
            .await;
    finished(done, &format!("/console/library/{set}"))
}
