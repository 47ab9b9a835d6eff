//! Baidu Face API v3 paths (`/rest/2.0/face/v3/...`) mapped onto the face-set model: a Baidu group
//! is a face set, a user is the `user_id` of its faces, a `face_token` is a `face_id`. Replies use
//! Baidu's envelope (`error_code` 0 and `result`, HTTP 200) and its error codes; see docs/api.md.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};

use super::body::{Form, ImageSource};
use super::error::ApiError;
use super::state::{scoped, ApiState, Tenant};
use crate::analyze::{Embedding, FaceAnalysis, Wanted};
use crate::detect::Detection;
use crate::search::fields::Schema;
use crate::search::store::Selector;
use crate::search::{Enrolment, UserHit};
use crate::shapes::{round2, round4};

/// A Baidu error: its numeric code and message.
pub struct BaiduError(pub u32, pub String);

impl From<ApiError> for BaiduError {
    fn from(e: ApiError) -> Self {
        BaiduError(crate::codes::baidu::of(e.kind), e.msg)
    }
}

impl From<crate::search::SetError> for BaiduError {
    fn from(e: crate::search::SetError) -> Self {
        ApiError::from(e).into()
    }
}

type Reply = Result<Value, BaiduError>;

fn missing(name: &str) -> BaiduError {
    BaiduError(222001, format!("param[{name}] is null"))
}

fn log_id() -> u64 {
    crate::base::time::wall_ms() ^ (uuid::Uuid::new_v4().as_u128() as u64 & 0xFFFF)
}

/// Baidu's envelope. Errors are HTTP 200 like Baidu's, except overload (503) and auth (401/403),
/// where a proxy or client retry policy needs the status.
pub fn envelope(r: Reply) -> Response {
    let now = crate::base::time::wall_ms() / 1000;
    match r {
        Ok(mut result) => {
            super::error::tidy_floats(&mut result);
            Json(
                json!({"error_code": 0, "error_msg": "SUCCESS", "log_id": log_id(),
            "timestamp": now, "cached": 0, "result": result}),
            )
            .into_response()
        }
        Err(BaiduError(code, msg)) => {
            let status = match code {
                crate::codes::baidu::BUSY => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::OK,
            };
            let r = (
                status,
                Json(
                    json!({"error_code": code, "error_msg": msg, "log_id": log_id(),
                    "timestamp": now, "cached": 0, "result": null}),
                ),
            )
                .into_response();
            super::error::tagged(r, code)
        }
    }
}

/// Authentication failures on Baidu paths, in Baidu's shape (HTTP status kept).
pub fn auth_failure(e: ApiError) -> Response {
    let status = e.status();
    let retry = e.retry_after;
    let mut r = envelope(Err(e.into()));
    *r.status_mut() = status;
    super::error::with_retry_after(r, retry)
}

fn text<'a>(body: &'a Form, name: &str) -> Result<&'a str, BaiduError> {
    body.get(name)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing(name))
}

/// Group and user ids: letters, digits and `_` (Baidu's rule), 1..=max characters.
fn id<'a>(body: &'a Form, name: &str, max: usize, code: u32) -> Result<&'a str, BaiduError> {
    let v = text(body, name)?;
    if v.len() > max || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(BaiduError(
            code,
            format!("{name} format error: 1-{max} letters, digits or _"),
        ));
    }
    Ok(v)
}

fn group(body: &Form, tenant: &str, name: &str) -> Result<String, BaiduError> {
    Ok(scoped(tenant, id(body, name, 48, 222006)?)?)
}

fn user(body: &Form) -> Result<&str, BaiduError> {
    id(body, "user_id", 128, 222018)
}

fn number(
    body: &Form,
    name: &str,
    default: f64,
    range: (f64, f64),
    code: u32,
) -> Result<f64, BaiduError> {
    let v = match body.get(name) {
        None | Some(Value::Null) => return Ok(default),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    v.filter(|v| (range.0..=range.1).contains(v))
        .ok_or_else(|| {
            BaiduError(
                code,
                format!("param[{name}] format error: {}..{}", range.0, range.1),
            )
        })
}

/// `image` + `image_type` (BASE64 or URL; FACE_TOKEN is not supported: images are not kept).
async fn image(st: &ApiState, body: &Form) -> Result<ImageSource, BaiduError> {
    let img = text(body, "image")?;
    let key = match body.get("image_type").and_then(|v| v.as_str()).unwrap_or("BASE64") {
        "BASE64" => "image_base64",
        "URL" => "image_url",
        other => {
            return Err(BaiduError(
                222015,
                format!("param[image_type] format error: {other:?} (BASE64 or URL; FACE_TOKEN is not supported)"),
            ))
        }
    };
    let mut m = Map::new();
    m.insert(key.into(), Value::String(img.into()));
    Ok(st.image_source(&Form::from_map(m), "image").await?)
}

fn location(d: &Detection) -> Value {
    json!({"left": (d.x * 100.0).round() / 100.0, "top": (d.y * 100.0).round() / 100.0,
        "width": d.w.round(), "height": d.h.round(), "rotation": 0})
}

/// Analyses every face of an image, largest first, at most `max`.
async fn faces_of(
    st: &Arc<ApiState>,
    src: ImageSource,
    want: Wanted,
    max: usize,
) -> Result<Vec<FaceAnalysis>, BaiduError> {
    Ok(st.faces(src, want, max).await?.2)
}

fn face_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

async fn detect(st: &Arc<ApiState>, body: &Form) -> Reply {
    let fields: Vec<&str> = body
        .get("face_field")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .collect();
    let has = |f: &str| fields.contains(&f);
    let max = number(body, "max_face_num", 1.0, (1.0, 120.0), 222016)? as usize;
    let want = Wanted {
        attributes: has("age") || has("gender") || has("mask") || has("angle"),
        quality: has("quality") || has("angle"),
        antispoof: false,
        embedding: false,
        picture: false,
    };
    let faces = faces_of(st, image(st, body).await?, want, max).await?;
    let list: Vec<Value> = faces
        .iter()
        .map(|f| {
            let d = &f.detection;
            let mut o = json!({"face_token": face_token(), "location": location(d),
                "face_probability": f.presence.unwrap_or(d.score)});
            if has("angle") {
                if let Some(p) = &f.pose {
                    o["angle"] = json!({"yaw": round2(p.yaw), "pitch": round2(p.pitch), "roll": round2(p.roll)});
                }
            }
            if let Some(a) = &f.attributes {
                if has("age") {
                    o["age"] = json!(a.age.round());
                }
                if has("gender") {
                    let p = if a.gender == "male" { a.male_probability } else { 1.0 - a.male_probability };
                    o["gender"] = json!({"type": a.gender, "probability": round4(p)});
                }
                if has("mask") {
                    let p = if a.mask { a.mask_probability } else { 1.0 - a.mask_probability };
                    o["mask"] = json!({"type": u8::from(a.mask), "probability": round4(p)});
                }
            }
            if has("quality") {
                if let Some(q) = &f.quality {
                    o["quality"] = json!({"blur": round4(q.blur), "illumination": round2(q.illumination), "completeness": round4(q.completeness)});
                }
            }
            if has("landmark") {
                let l = &d.landmarks;
                o["landmark"] = json!([{"x": l[0][0], "y": l[0][1]}, {"x": l[1][0], "y": l[1][1]}, {"x": l[2][0], "y": l[2][1]},
                    {"x": (l[3][0] + l[4][0]) / 2.0, "y": (l[3][1] + l[4][1]) / 2.0}]);
            }
            o
        })
        .collect();
    Ok(json!({"face_num": list.len(), "face_list": list}))
}

/// `match`: the body is an array of two `{image, image_type}`; score 0..100.
async fn compare(st: &Arc<ApiState>, raw: &[u8]) -> Reply {
    let items: Vec<Map<String, Value>> = serde_json::from_slice(raw)
        .map_err(|_| BaiduError(222208, "the body must be a JSON array of two images".into()))?;
    if items.len() != 2 {
        return Err(BaiduError(
            222208,
            format!("the number of image is incorrect: {} (need 2)", items.len()),
        ));
    }
    let mut embs = vec![];
    for item in items {
        let form = Form::from_map(item);
        let want = Wanted {
            embedding: true,
            ..Wanted::default()
        };
        let f = faces_of(st, image(st, &form).await?, want, 1).await?;
        embs.push(
            f.into_iter()
                .next()
                .and_then(|f| f.embedding)
                .ok_or_else(|| BaiduError(222202, "pic not has face".into()))?,
        );
    }
    let sim = embs[0].similarity(&embs[1]).unwrap_or(0.0);
    Ok(json!({"score": (sim as f64 * 10000.0).round() / 100.0,
        "face_list": [{"face_token": face_token()}, {"face_token": face_token()}]}))
}

fn groups_list(body: &Form, tenant: &str) -> Result<Vec<String>, BaiduError> {
    let raw = text(body, "group_id_list")?;
    let ids: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if ids.is_empty() || ids.len() > 10 {
        return Err(BaiduError(
            222005,
            "param[group_id_list] format error: 1-10 groups".into(),
        ));
    }
    ids.iter()
        .map(|g| {
            let mut m = Map::new();
            m.insert("g".into(), Value::String(g.to_string()));
            group(&Form::from_map(m), tenant, "g")
        })
        .collect()
}

fn user_list(hits: Vec<UserHit>, tenant: &str) -> Vec<Value> {
    let prefix = format!("{tenant}--");
    hits.into_iter()
        .map(|h| json!({"group_id": h.group_id.strip_prefix(&prefix).unwrap_or(&h.group_id),
            "user_id": h.user_id, "user_info": h.user_info, "score": (h.score * 10000.0).round() / 100.0}))
        .collect()
}

/// Search settings shared by `search` and `multi-search`: groups, users per face, threshold (0..1).
fn search_params(
    st: &ApiState,
    body: &Form,
    tenant: &str,
) -> Result<(Vec<String>, usize, f32), BaiduError> {
    let groups = groups_list(body, tenant)?;
    let users = number(body, "max_user_num", 1.0, (1.0, 50.0), 222021)? as usize;
    // Scores are similarity × 100; the default is this server's calibrated threshold, not Baidu's 80.
    let default = st.cfg.compare.threshold_for(st.cfg.models.embedder) as f64 * 100.0;
    let threshold = number(body, "match_threshold", default, (0.0, 100.0), 222023)? as f32 / 100.0;
    Ok((groups, users, threshold))
}

fn identify(
    st: &ApiState,
    groups: &[String],
    e: &Embedding,
    threshold: f32,
    users: usize,
    only: Option<&str>,
) -> Result<Vec<UserHit>, BaiduError> {
    let mut hits = st.sets.identify(
        groups,
        e,
        threshold,
        if only.is_some() { 1000 } else { users },
    )?;
    if let Some(u) = only {
        hits.retain(|h| h.user_id == u);
        hits.truncate(users);
    }
    Ok(hits)
}

async fn search(st: &Arc<ApiState>, body: &Form, tenant: &str) -> Reply {
    let (groups, users, threshold) = search_params(st, body, tenant)?;
    let only = match body.get("user_id") {
        Some(_) => Some(user(body)?),
        None => None,
    };
    let want = Wanted {
        embedding: true,
        ..Wanted::default()
    };
    let faces = faces_of(st, image(st, body).await?, want, 1).await?;
    let e = faces
        .into_iter()
        .next()
        .and_then(|f| f.embedding)
        .ok_or_else(|| BaiduError(222202, "pic not has face".into()))?;
    let hits = identify(st, &groups, &e, threshold, users, only)?;
    if hits.is_empty() {
        return Err(BaiduError(222207, "match user is not found".into()));
    }
    Ok(json!({"face_token": face_token(), "user_list": user_list(hits, tenant)}))
}

async fn multi_search(st: &Arc<ApiState>, body: &Form, tenant: &str) -> Reply {
    let (groups, users, threshold) = search_params(st, body, tenant)?;
    let max = number(body, "max_face_num", 1.0, (1.0, 10.0), 222016)? as usize;
    let want = Wanted {
        embedding: true,
        ..Wanted::default()
    };
    let faces = faces_of(st, image(st, body).await?, want, max).await?;
    let mut list = vec![];
    let mut any = false;
    for f in faces {
        let hits = match &f.embedding {
            Some(e) => identify(st, &groups, e, threshold, users, None)?,
            None => vec![],
        };
        any |= !hits.is_empty();
        list.push(json!({"face_token": face_token(), "location": location(&f.detection), "user_list": user_list(hits, tenant)}));
    }
    if !any {
        return Err(BaiduError(222207, "match user is not found".into()));
    }
    Ok(json!({"face_num": list.len(), "face_list": list}))
}

/// Adds the image's largest face to a user (creating the group when it does not exist, like Baidu).
async fn user_add(st: &Arc<ApiState>, body: &Form, tenant: &str, replace: bool) -> Reply {
    let g = group(body, tenant, "group_id")?;
    let uid = user(body)?.to_string();
    let info = body
        .get("user_info")
        .and_then(|v| v.as_str())
        .map(String::from);
    if info.as_ref().is_some_and(|i| i.len() > 256) {
        return Err(BaiduError(
            222010,
            "user_info format error: at most 256 bytes".into(),
        ));
    }
    if replace && st.sets.user_faces(&g, &uid)?.is_empty() {
        return Err(BaiduError(223103, "user is not exist".into()));
    }
    let src = image(st, body).await?;
    let want = Wanted {
        embedding: true,
        picture: st.sets.keeps_face_pictures(),
        ..Wanted::default()
    };
    let faces = faces_of(st, src, want, 1).await?;
    let f = faces
        .into_iter()
        .next()
        .ok_or_else(|| BaiduError(222202, "pic not has face".into()))?;
    let e = f
        .embedding
        .clone()
        .ok_or_else(|| BaiduError(222202, "pic not has face".into()))?;
    if st.sets.show_set(&g).is_err() {
        match st
            .sets
            .create_set(&g, 1_000_000, Schema::new(), st.cfg.models.embedder)
        {
            Ok(_) | Err(crate::search::SetError::SetExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if replace {
        st.sets.delete_faces(&g, Selector::User(uid.clone()))?;
    }
    let added = st.sets.add_faces(
        &g,
        vec![Enrolment::analysed(&f, e)],
        None,
        &Map::new(),
        Some(&uid),
    )?;
    if let Some(i) = info {
        st.sets.set_user_info(&g, &uid, &i)?;
    }
    let token = added.first().map(|r| r.face_id.clone()).unwrap_or_default();
    Ok(json!({"face_token": token, "location": location(&f.detection)}))
}

fn user_get(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let uid = user(body)?;
    let groups: Vec<String> = if text(body, "group_id")? == "@ALL" {
        let prefix = format!("{tenant}--");
        st.sets
            .user_groups(uid)?
            .into_iter()
            .filter(|g| g.starts_with(&prefix))
            .collect()
    } else {
        vec![group(body, tenant, "group_id")?]
    };
    let prefix = format!("{tenant}--");
    let mut list = vec![];
    for g in groups {
        if st.sets.user_faces(&g, uid)?.is_empty() {
            continue;
        }
        let info = st.sets.user_info(&g, uid)?.unwrap_or_default();
        list.push(json!({"user_info": info, "group_id": g.strip_prefix(&prefix).unwrap_or(&g)}));
    }
    if list.is_empty() {
        return Err(BaiduError(223103, "user is not exist".into()));
    }
    Ok(json!({"user_list": list}))
}

fn user_copy(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let uid = user(body)?;
    let from = group(body, tenant, "src_group_id")?;
    let to = group(body, tenant, "dst_group_id")?;
    if st.sets.user_faces(&from, uid)?.is_empty() {
        return Err(BaiduError(223103, "user is not exist".into()));
    }
    st.sets.copy_user(uid, &from, &to)?;
    Ok(Value::Null)
}

fn user_delete(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let g = group(body, tenant, "group_id")?;
    let uid = user(body)?;
    if st.sets.user_faces(&g, uid)?.is_empty() {
        return Err(BaiduError(223103, "user is not exist".into()));
    }
    st.sets.delete_faces(&g, Selector::User(uid.into()))?;
    Ok(Value::Null)
}

fn face_list(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let g = group(body, tenant, "group_id")?;
    let faces = st.sets.user_faces(&g, user(body)?)?;
    if faces.is_empty() {
        return Err(BaiduError(223103, "user is not exist".into()));
    }
    let list: Vec<Value> = faces
        .into_iter()
        .map(|(id, ms)| json!({"face_token": id, "ctime": crate::messages::utc_datetime(ms.max(0) as u64)}))
        .collect();
    Ok(json!({"face_list": list}))
}

fn face_delete(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let g = group(body, tenant, "group_id")?;
    let uid = user(body)?;
    let token = text(body, "face_token")?;
    if !st
        .sets
        .user_faces(&g, uid)?
        .iter()
        .any(|(id, _)| id == token)
    {
        return Err(BaiduError(223106, "face is not exist".into()));
    }
    st.sets.delete_faces(&g, Selector::FaceId(token.into()))?;
    Ok(Value::Null)
}

fn group_add(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let g = group(body, tenant, "group_id")?;
    st.sets
        .create_set(&g, 1_000_000, Schema::new(), st.cfg.models.embedder)?;
    Ok(Value::Null)
}

fn group_delete(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    st.sets.delete_set(&group(body, tenant, "group_id")?)?;
    Ok(Value::Null)
}

fn page(body: &Form) -> Result<(usize, usize), BaiduError> {
    let start = number(body, "start", 0.0, (0.0, 10_000.0), 222002)? as usize;
    let length = number(body, "length", 100.0, (1.0, 1000.0), 222003)? as usize;
    Ok((start, length))
}

fn group_list(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let (start, length) = page(body)?;
    let prefix = format!("{tenant}--");
    let ids: Vec<String> = st
        .sets
        .list_sets()?
        .into_iter()
        .filter_map(|s| s.face_set_name.strip_prefix(&prefix).map(String::from))
        .skip(start)
        .take(length)
        .collect();
    Ok(json!({"group_id_list": ids}))
}

fn group_users(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let g = group(body, tenant, "group_id")?;
    let (start, length) = page(body)?;
    Ok(json!({"user_id_list": st.sets.group_users(&g, start, length)?}))
}

/// Every Baidu v3 path lands here (`/rest/2.0/face/v3/{op}`), after authentication.
pub async fn dispatch(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    Path(op): Path<String>,
    headers: HeaderMap,
    b: Bytes,
) -> Response {
    let tenant = t.0;
    let reply = async {
        if op == "match" {
            return compare(&st, &b).await;
        }
        let body = Form::parse(&headers, b).await?;
        match op.as_str() {
            "detect" => detect(&st, &body).await,
            "search" => search(&st, &body, &tenant).await,
            "multi-search" => multi_search(&st, &body, &tenant).await,
            "faceset/user/add" => user_add(&st, &body, &tenant, false).await,
            "faceset/user/update" => user_add(&st, &body, &tenant, true).await,
            "faceset/user/get" => user_get(&st, &body, &tenant),
            "faceset/user/copy" => user_copy(&st, &body, &tenant),
            "faceset/user/delete" => user_delete(&st, &body, &tenant),
            "faceset/face/getlist" => face_list(&st, &body, &tenant),
            "faceset/face/delete" => face_delete(&st, &body, &tenant),
            "faceset/group/add" => group_add(&st, &body, &tenant),
            "faceset/group/delete" => group_delete(&st, &body, &tenant),
            "faceset/group/getlist" => group_list(&st, &body, &tenant),
            "faceset/group/getusers" => group_users(&st, &body, &tenant),
            other => Err(BaiduError(
                3,
                format!("Unsupported openapi method: {other}"),
            )),
        }
    }
    .await;
    envelope(reply)
}

/// How long an access token from `/oauth/2.0/token` lives (Baidu's: 30 days).
const TOKEN_LIFETIME_S: i64 = 30 * 24 * 3600;

/// An access token for `key`: `24.<signature>.<lifetime>.<expiry>.<key>`, signed with the key's
/// secret, so it needs no storage and outlives restarts; it stops working when the secret changes.
pub fn access_token(key: &str, secret: &str, now_s: i64) -> String {
    let expiry = now_s + TOKEN_LIFETIME_S;
    let sig = super::auth::hmac_hex(secret.as_bytes(), format!("{key}.{expiry}").as_bytes());
    format!("24.{sig}.{TOKEN_LIFETIME_S}.{expiry}.{key}")
}

/// The key of a valid, unexpired access token.
pub fn token_key<'a>(
    token: &'a str,
    secret_of: impl Fn(&str) -> Option<&'a str>,
    now_s: i64,
) -> Option<&'a str> {
    let mut p = token.splitn(5, '.');
    let (tag, sig, _life, expiry, key) = (p.next()?, p.next()?, p.next()?, p.next()?, p.next()?);
    let expiry_s: i64 = expiry.parse().ok()?;
    if tag != "24" || expiry_s < now_s {
        return None;
    }
    let secret = secret_of(key)?;
    let want = super::auth::hmac_hex(secret.as_bytes(), format!("{key}.{expiry_s}").as_bytes());
    super::auth::same(&want, sig).then_some(key)
}

/// `GET|POST /oauth/2.0/token?grant_type=client_credentials&client_id=AK&client_secret=SK`, as
/// Baidu's SDKs call it first: the AK is a key of `[[api.keys]]`, the SK its `secret`.
pub async fn oauth_token(
    State(st): State<Arc<ApiState>>,
    uri: axum::http::Uri,
    b: Bytes,
) -> Response {
    let mut params: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    params.extend(url::form_urlencoded::parse(&b).into_owned());
    let refuse = |status: StatusCode, error: &str, description: &str| {
        super::error::tagged(
            (
                status,
                Json(json!({"error": error, "error_description": description})),
            )
                .into_response(),
            error,
        )
    };
    if params.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        );
    }
    let (Some(id), Some(secret)) = (params.get("client_id"), params.get("client_secret")) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id and client_secret are required",
        );
    };
    match st.secret_of(id) {
        Some(s) if super::auth::same(s, secret) => {
            let now = st.clock.wall_ms() as i64 / 1000;
            Json(json!({
                "access_token": access_token(id, s, now),
                "expires_in": TOKEN_LIFETIME_S,
                "refresh_token": "",
                "scope": "public brain_all_scope vis-faceverify_faceverify_h5-face-liveness",
                "session_key": "",
                "session_secret": "",
            }))
            .into_response()
        }
        _ => refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client id or wrong client secret",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::SetError;

    #[test]
    fn domain_errors_in_baidus_envelope() {
        let r = envelope(Err(SetError::SetNotFound("g".into()).into()));
        assert_eq!(r.status(), StatusCode::OK, "Baidu errors are HTTP 200");
        let e: BaiduError =
            super::super::error::fail(crate::base::error::ErrorKind::Busy, "x").into();
        assert_eq!(e.0, 222901);
        assert_eq!(envelope(Err(e)).status(), StatusCode::SERVICE_UNAVAILABLE);
        let e: BaiduError = SetError::FaceNotFound("f".into()).into();
        assert_eq!(e.0, 223106);
    }
}
