//! The console's pages (GET): cameras, events, library, sign-in; pictures and camera JSON.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde_json::{json, Value};

use super::{shown_set, Session};
use crate::api::events::{query_for, shown, visible};
use crate::api::state::ApiState;
use crate::history::StoredEvent;

const STYLE: &str = "
*{box-sizing:border-box}body{font:15px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#222}
nav{display:flex;flex-wrap:wrap;gap:.8em;align-items:center;padding:.6em 1em;background:#1d2733}
nav a,nav button{color:#fff;text-decoration:none;background:none;border:0;font:inherit;cursor:pointer}
main{padding:1em;max-width:1100px;margin:auto}h1{font-size:1.3em}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:1em}
.card{background:#fff;border-radius:8px;padding:.8em;box-shadow:0 1px 3px #0002}
.card img{max-width:100%;border-radius:4px;display:block}
.events .card{display:flex;gap:.8em;align-items:flex-start}.events img{width:96px;height:96px;object-fit:cover}
.kind{font-weight:600;text-transform:uppercase;font-size:.8em;color:#555}
.match .kind{color:#18794e}.unknown .kind{color:#b54708}
form.inline{display:flex;flex-wrap:wrap;gap:.4em;margin-top:.4em}
input,select,button{font:inherit;padding:.3em .5em}button{cursor:pointer}
.muted{color:#777;font-size:.9em}table{border-collapse:collapse;width:100%}td,th{padding:.4em;border-bottom:1px solid #ddd;text-align:left}
";

fn layout(title: &str, session: Option<&Session>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · facestream" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                @if let Some(s) = session {
                    nav {
                        strong style="color:#fff" { "facestream" }
                        a href="/console/" { "Cameras" }
                        a href="/console/events" { "Events" }
                        a href="/console/library" { "Library" }
                        span style="flex:1" {}
                        span style="color:#aab" { (s.tenant) }
                        form method="post" action="/console/logout" style="margin:0" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            button id="logout" { "Sign out" }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

pub async fn login() -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            form.card method="post" action="/console/login" style="max-width:420px" {
                p { "Sign in with an API key of this facestream (" code { "api.keys" } ")." }
                input #key type="password" name="key" placeholder="API key" autocomplete="current-password" required style="width:100%";
                p { button #signin type="submit" { "Sign in" } }
            }
        },
    )
}

/// The cameras this daemon knows: its pool's (all of them) or its configuration's.
fn camera_ids(st: &ApiState) -> Vec<String> {
    if st.cfg.cluster.enabled && !st.cfg.storage.url.is_empty() {
        let pool = crate::search::store::database::Database::shared(&st.cfg.storage)
            .map_err(crate::cluster::ClusterError::from)
            .and_then(|db| crate::cluster::cameras::status(&db));
        if let Ok(p) = pool {
            return p.cameras.into_iter().map(|c| c.camera.id).collect();
        }
    }
    st.cfg.cameras.iter().map(|c| c.id.clone()).collect()
}

fn camera_status(st: &ApiState, id: &str) -> Value {
    let c = st.metrics.camera(id);
    let status = *c
        .status
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    use std::sync::atomic::Ordering::Relaxed;
    json!({
        "id": id,
        "status": if status.is_empty() { "not watched here" } else { status },
        "frames_in": c.frames_in.load(Relaxed),
        "frames_detected": c.frames_detected.load(Relaxed),
        "frames_dropped": c.frames_dropped.load(Relaxed),
        "reconnects": c.reconnects.load(Relaxed),
    })
}

pub async fn cameras_json(State(st): State<Arc<ApiState>>) -> Json<Value> {
    let s = st.clone();
    let ids = tokio::task::spawn_blocking(move || camera_ids(&s))
        .await
        .unwrap_or_default();
    Json(json!({ "cameras": ids.iter().map(|id| camera_status(&st, id)).collect::<Vec<_>>() }))
}

pub async fn cameras(State(st): State<Arc<ApiState>>, Extension(s): Extension<Session>) -> Markup {
    let s2 = st.clone();
    let ids = tokio::task::spawn_blocking(move || camera_ids(&s2))
        .await
        .unwrap_or_default();
    let period_ms = (1000.0 / st.cfg.console.live_fps).round() as u64;
    layout(
        "Cameras",
        Some(&s),
        html! {
            @if ids.is_empty() { p { "No cameras configured." } }
            div.grid {
                @for id in &ids {
                    @let status = camera_status(&st, id);
                    div.card.camera data-camera=(id) {
                        strong { (id) } " "
                        span.muted.status { (status["status"].as_str().unwrap_or("")) }
                        img.live src={"/console/cameras/" (id) "/live.jpg"} alt={"live view of " (id)} loading="lazy";
                        div.muted { "frames " (status["frames_in"]) " · dropped " (status["frames_dropped"]) " · "
                            a href={"/console/events?camera=" (id)} { "events" } }
                    }
                }
            }
            script { (PreEscaped(format!(
                "setInterval(function(){{document.querySelectorAll('img.live').forEach(function(i){{i.src=i.src.split('?')[0]+'?t='+Date.now()}})}},{period_ms});"
            ))) }
        },
    )
}

pub async fn live_jpeg(State(st): State<Arc<ApiState>>, Path(id): Path<String>) -> Response {
    let Some(lv) = st.live_view.clone() else {
        return (StatusCode::NOT_FOUND, "no live view here").into_response();
    };
    match tokio::task::spawn_blocking(move || lv.jpeg(&id)).await {
        Ok(Some(jpeg)) => ([(header::CONTENT_TYPE, "image/jpeg")], jpeg).into_response(),
        _ => (StatusCode::NOT_FOUND, "no frame from this camera yet").into_response(),
    }
}

pub async fn snapshot(
    State(st): State<Arc<ApiState>>,
    Extension(s): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    let r = tokio::task::spawn_blocking(move || {
        let log = st.history()?;
        visible(&log, &s.tenant, &id)?;
        log.snapshot(&id)
    })
    .await;
    match r {
        Ok(Ok(jpeg)) => ([(header::CONTENT_TYPE, "image/jpeg")], jpeg).into_response(),
        _ => (StatusCode::NOT_FOUND, "no such snapshot").into_response(),
    }
}

fn time(ms: i64) -> String {
    crate::messages::utc_datetime(ms.max(0) as u64) + " UTC"
}

fn event_card(e: &StoredEvent, s: &Session, default_set: &str) -> Markup {
    let sim = e.payload.get("similarity").and_then(Value::as_f64);
    html! {
        div.card.event.(e.kind) data-event=(e.event_id) data-person=[e.person.as_deref()] {
            @if e.has_snapshot {
                img src={"/console/events/" (e.event_id) "/snapshot.jpg"} alt="face";
            }
            div {
                div.kind { (e.kind) }
                div { strong.person { (e.person.as_deref().unwrap_or("")) } " "
                    @if let Some(sim) = sim {
                        span.muted { (if e.kind == "unknown" { "closest " } else { "similarity " }) (format!("{sim:.2}")) }
                    } }
                div.muted { (e.camera) " · track " (e.track_id.unwrap_or(0)) " · " (time(e.wall_time_ms)) }
                @if let Some(set) = &e.face_set { div.muted { "set " (set) } }
                @if e.kind == "unknown" {
                    @if let Some(id) = e.person.as_ref().filter(|p| p.starts_with("unknown-")) {
                        form.inline.name method="post" action={"/console/strangers/" (id) "/name"} {
                            input type="hidden" name="csrf" value=(s.csrf);
                            input type="text" name="person" placeholder="Name this person" required maxlength="128";
                            input type="text" name="set" value=(default_set) title="face set" size="10";
                            button type="submit" { "Name" }
                        }
                    }
                }
                @if e.kind == "match" {
                    form.inline.reject method="post" action={"/console/events/" (e.event_id) "/not-this-person"} {
                        input type="hidden" name="csrf" value=(s.csrf);
                        button type="submit" { "Not this person" }
                    }
                }
            }
        }
    }
}

pub async fn events(
    State(st): State<Arc<ApiState>>,
    Extension(s): Extension<Session>,
    Query(mut params): Query<HashMap<String, String>>,
) -> Response {
    params.retain(|_, v| !v.is_empty());
    params.entry("limit".into()).or_insert_with(|| "30".into());
    let Ok(q) = query_for(&s.tenant, &params) else {
        return (StatusCode::BAD_REQUEST, "bad filter").into_response();
    };
    let (st2, tenant) = (st.clone(), s.tenant.clone());
    let page = tokio::task::spawn_blocking(move || st2.history()?.query(&q)).await;
    let page = match page {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(_) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "history task failed").into_response()
        }
    };
    let events: Vec<StoredEvent> = page.events.into_iter().map(|e| shown(&tenant, e)).collect();
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    let next = page.next_offset.map(|n| {
        let mut p = params.clone();
        p.insert("offset".into(), n.to_string());
        p.iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                )
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    let default_set = st.cfg.console.default_face_set.clone();
    layout(
        "Events",
        Some(&s),
        html! {
            form.inline method="get" action="/console/events" {
                input type="text" name="camera" placeholder="camera" value=(get("camera")) size="10";
                input type="text" name="person" placeholder="person" value=(get("person")) size="12";
                select name="kind" {
                    option value="" { "any kind" }
                    @for k in crate::history::KINDS {
                        option value=(k) selected[get("kind") == k] { (k) }
                    }
                }
                button type="submit" { "Filter" }
            }
            @if events.is_empty() { p.muted { "No events." } }
            div.grid.events { @for e in &events { (event_card(e, &s, &default_set)) } }
            @if let Some(n) = next { p { a href={"/console/events?" (n)} { "Older events →" } } }
            script { (PreEscaped("setTimeout(function(){if(!document.activeElement||document.activeElement.tagName!=='INPUT')location.reload()},15000);")) }
        },
    )
    .into_response()
}

pub async fn library(State(st): State<Arc<ApiState>>, Extension(s): Extension<Session>) -> Markup {
    let sets = st.sets.list_sets().unwrap_or_default();
    let hidden = [
        st.cfg.unknown.face_set.clone(),
        format!("{}-rejected", st.cfg.unknown.face_set),
    ];
    layout(
        "Face library",
        Some(&s),
        html! {
            table {
                tr { th { "face set" } th { "faces" } th { "model" } }
                @for set in sets.iter().filter(|x| !hidden.contains(&x.face_set_name)) {
                    @if let Some(name) = shown_set(&s.tenant, &set.face_set_name) {
                        tr.set {
                            td { a href={"/console/library/" (name)} { (name) } }
                            td { (set.face_number) }
                            td.muted { (set.model.stored_name()) }
                        }
                    }
                }
            }
            p.muted { "Name a stranger on the " a href="/console/events?kind=unknown" { "events" } " page to create a person from its faces." }
        },
    )
}

pub async fn face_set(
    State(st): State<Arc<ApiState>>,
    Extension(s): Extension<Session>,
    Path(name): Path<String>,
) -> Response {
    let stored = super::stored_set(&s.tenant, &name);
    let Ok(info) = st.sets.show_set(&stored) else {
        return (StatusCode::NOT_FOUND, "no such face set").into_response();
    };
    let users = st.sets.group_users(&stored, 0, 1000).unwrap_or_default();
    let people: Vec<(String, usize)> = users
        .into_iter()
        .map(|u| {
            let n = st
                .sets
                .user_faces(&stored, &u)
                .map(|f| f.len())
                .unwrap_or(0);
            (u, n)
        })
        .collect();
    layout(
        &format!("Face set {name}"),
        Some(&s),
        html! {
            p.muted { (info.face_number) " faces · " (info.model.stored_name()) }
            form.card.inline #upload method="post" action={"/console/library/" (name) "/people"} enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(s.csrf);
                input type="text" name="person" placeholder="person" required maxlength="128";
                input type="file" name="photo" accept="image/*" required;
                button type="submit" { "Add photo" }
            }
            table {
                tr { th { "person" } th { "faces" } th {} }
                @for (p, n) in &people {
                    tr.person data-person=(p) {
                        td { (p) }
                        td { (n) }
                        td {
                            form.inline method="post" action={"/console/library/" (name) "/people/" (p) "/rename"} {
                                input type="hidden" name="csrf" value=(s.csrf);
                                input type="text" name="to" placeholder="new name" required size="10" maxlength="128";
                                button type="submit" { "Rename" }
                            }
                            form.inline.delete method="post" action={"/console/library/" (name) "/people/" (p) "/delete"} {
                                input type="hidden" name="csrf" value=(s.csrf);
                                button type="submit" { "Delete" }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}
