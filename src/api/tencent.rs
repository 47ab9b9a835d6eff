//! Tencent Cloud Face Recognition (IAI, API 3.0) actions on `POST /` with `X-TC-Action`, mapped onto the
//! face-set model: a Tencent group is a face set, a person is a `user_id` (its name kept as the user
//! info), a face is a face. Replies use Tencent's envelope (`{"Response": {…, "RequestId"}}`, errors as
//! `Response.Error.{Code, Message}` with HTTP 200); see docs/api.md.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};

use super::body::{Form, ImageSource};
use super::error::ApiError;
use super::http::{scoped, ApiState, Tenant};
use crate::analyze::{Embedding, FaceAnalysis, Wanted};
use crate::search::fields::Schema;
use crate::search::store::Selector;

/// A Tencent error: its dotted code and message.
pub struct TcError(pub &'static str, pub String);

impl From<ApiError> for TcError {
    fn from(e: ApiError) -> Self {
        let code = match e.code {
            "FRS.0401" => "InvalidParameterValue.GroupIdAlreadyExist",
            "FRS.0402" => "InvalidParameterValue.GroupIdNotExist",
            "FRS.0413" => "InvalidParameterValue.PersonIdNotExist",
            "FRS.0410" => "InvalidParameterValue.FaceIdNotExist",
            "FRS.0501" => "InvalidParameterValue.NoFaceInPhoto",
            "FRS.0403" => "LimitExceeded.ErrorFaceNumExceed",
            "FRS.0002" => "AuthFailure.SignatureFailure",
            "FRS.0429" => "RequestLimitExceeded",
            "FRS.0503" | "FRS.0504" => "ResourceUnavailable.NotReady",
            "FRS.0016" => "FailedOperation.ImageDownloadError",
            "FRS.0098" | "FRS.0099" => "InternalError",
            c if c.starts_with("FRS.001") || c.starts_with("FRS.002") => {
                "FailedOperation.ImageDecodeFailed"
            }
            _ => "InvalidParameter",
        };
        TcError(code, e.msg)
    }
}

impl From<crate::search::SetError> for TcError {
    fn from(e: crate::search::SetError) -> Self {
        ApiError::from(e).into()
    }
}

type Reply = Result<Value, TcError>;

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn envelope(r: Reply) -> Response {
    match r {
        Ok(mut v) => {
            v["RequestId"] = json!(request_id());
            Json(json!({ "Response": v })).into_response()
        }
        Err(TcError(code, msg)) => super::error::tagged(
            Json(json!({"Response": {"Error": {"Code": code, "Message": msg}, "RequestId": request_id()}}))
                .into_response(),
            code,
        ),
    }
}

/// Authentication failures on the Tencent endpoint, in Tencent's shape (HTTP status kept).
pub fn auth_failure(e: ApiError) -> Response {
    let status = e.status;
    let code = if status == axum::http::StatusCode::TOO_MANY_REQUESTS {
        "RequestLimitExceeded"
    } else if e.msg.contains("missing") {
        "AuthFailure.SignatureFailure"
    } else if e.msg.contains("unknown") {
        "AuthFailure.SecretIdNotFound"
    } else if e.msg.contains("expired") {
        "AuthFailure.SignatureExpire"
    } else {
        "AuthFailure.SignatureFailure"
    };
    let mut r = envelope(Err(TcError(code, e.msg)));
    *r.status_mut() = status;
    r
}

fn missing(name: &str) -> TcError {
    TcError(
        "MissingParameter",
        format!("the {name} parameter is required"),
    )
}

fn text<'a>(body: &'a Form, name: &str) -> Result<&'a str, TcError> {
    body.get(name)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing(name))
}

/// Group and person ids: Tencent allows letters, digits, `-` and `_` (groups ≤ 64, persons ≤ 64).
fn id<'a>(body: &'a Form, name: &str) -> Result<&'a str, TcError> {
    let v = text(body, name)?;
    if v.len() > 64
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(TcError(
            "InvalidParameterValue",
            format!("{name}: 1-64 letters, digits, - or _"),
        ));
    }
    Ok(v)
}

fn group(body: &Form, tenant: &str, name: &str) -> Result<String, TcError> {
    Ok(scoped(tenant, id(body, name)?)?)
}

fn int(body: &Form, name: &str, default: i64, range: (i64, i64)) -> Result<i64, TcError> {
    let v = match body.get(name) {
        None | Some(Value::Null) => return Ok(default),
        Some(v) => v.as_i64(),
    };
    v.filter(|v| (range.0..=range.1).contains(v))
        .ok_or_else(|| {
            TcError(
                "InvalidParameterValue",
                format!("{name} must be an integer {}..{}", range.0, range.1),
            )
        })
}

/// `Image` (base64) or `Url`, with a suffix for CompareFace's `ImageA` / `UrlA`.
fn image(st: &ApiState, body: &Form, suffix: &str) -> Result<ImageSource, TcError> {
    let mut m = Map::new();
    if let Some(b) = body.get(&format!("Image{suffix}")).and_then(|v| v.as_str()) {
        m.insert("image_base64".into(), json!(b));
    } else if let Some(u) = body.get(&format!("Url{suffix}")).and_then(|v| v.as_str()) {
        m.insert("image_url".into(), json!(u));
    } else {
        return Err(missing(&format!("Image{suffix} or Url{suffix}")));
    }
    Ok(st.image_source(&Form::from_map(m), "image")?)
}

/// Every face, largest first, at most `max`, with the image size.
async fn faces_of(
    st: &Arc<ApiState>,
    src: ImageSource,
    want: Wanted,
    max: usize,
) -> Result<(u32, u32, Vec<FaceAnalysis>), TcError> {
    Ok(st.faces(src, want, max).await?)
}

fn rect(f: &FaceAnalysis) -> Value {
    let d = &f.detection;
    json!({"X": d.x.round() as i64, "Y": d.y.round() as i64, "Width": d.w.round() as i64, "Height": d.h.round() as i64})
}

fn embedding(f: FaceAnalysis) -> Result<Embedding, TcError> {
    f.embedding.ok_or_else(|| {
        TcError(
            "InvalidParameterValue.NoFaceInPhoto",
            "the face could not be aligned".into(),
        )
    })
}

const MODEL: &str = "3.0";

async fn detect(st: &Arc<ApiState>, body: &Form) -> Reply {
    let flag = |k: &str| {
        body.get(k)
            .is_some_and(|v| v.as_i64() == Some(1) || v.as_bool() == Some(true))
    };
    let (attrs, quality) = (flag("NeedFaceAttributes"), flag("NeedQualityDetection"));
    let max = int(body, "MaxFaceNum", 1, (1, 120))? as usize;
    let want = Wanted {
        attributes: attrs,
        quality: quality || attrs,
        antispoof: false,
        embedding: false,
    };
    let (w, h, faces) = faces_of(st, image(st, body, "")?, want, max).await?;
    let infos: Vec<Value> = faces
        .iter()
        .map(|f| {
            let mut o = rect(f);
            if attrs {
                let a = f.attributes.as_ref();
                let p = f.pose.as_ref();
                // Tencent: Gender 0-49 female, 50-100 male.
                o["FaceAttributesInfo"] = json!({
                    "Gender": a.map(|a| (a.male_probability * 100.0).round() as i64),
                    "Age": a.map(|a| a.age.round() as i64),
                    "Mask": a.map(|a| a.mask),
                    "Pitch": p.map(|p| p.pitch.round() as i64),
                    "Yaw": p.map(|p| p.yaw.round() as i64),
                    "Roll": p.map(|p| p.roll.round() as i64),
                });
            }
            if quality {
                if let Some(q) = &f.quality {
                    // Tencent scores quality 0-100, higher is better.
                    let sharp = ((1.0 - q.blur) * 100.0).round();
                    o["FaceQualityInfo"] = json!({
                        "Score": if q.passed { sharp.max(70.0) } else { sharp.min(69.0) },
                        "Sharpness": sharp,
                        "Brightness": (q.illumination / 2.55).round(),
                        "Completeness": {"Overall": (q.completeness * 100.0).round()},
                    });
                }
            }
            o
        })
        .collect();
    Ok(json!({"ImageWidth": w, "ImageHeight": h, "FaceInfos": infos, "FaceModelVersion": MODEL}))
}

async fn compare(st: &Arc<ApiState>, body: &Form) -> Reply {
    let want = Wanted {
        embedding: true,
        ..Wanted::default()
    };
    let (a, b) = (image(st, body, "A")?, image(st, body, "B")?);
    let ea = embedding(faces_of(st, a, want, 1).await?.2.remove(0))?;
    let eb = embedding(faces_of(st, b, want, 1).await?.2.remove(0))?;
    let sim = crate::search::vector::dot(&ea.vector, &eb.vector).clamp(0.0, 1.0);
    Ok(json!({"Score": (sim as f64 * 10000.0).round() / 100.0, "FaceModelVersion": MODEL}))
}

fn create_group(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let g = group(body, tenant, "GroupId")?;
    text(body, "GroupName")?;
    st.sets
        .create_set(&g, 1_000_000, Schema::new(), st.cfg.models.embedder)?;
    Ok(json!({"FaceModelVersion": MODEL}))
}

fn delete_group(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    st.sets.delete_set(&group(body, tenant, "GroupId")?)?;
    Ok(json!({}))
}

fn group_list(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let offset = int(body, "Offset", 0, (0, 100_000))? as usize;
    let limit = int(body, "Limit", 10, (1, 1000))? as usize;
    let prefix = format!("{tenant}--");
    let all: Vec<_> = st
        .sets
        .list_sets()?
        .into_iter()
        .filter_map(|s| s.face_set_name.strip_prefix(&prefix).map(String::from))
        .collect();
    let page: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|g| json!({"GroupId": g, "GroupName": g, "FaceModelVersion": MODEL}))
        .collect();
    Ok(json!({"GroupInfos": page, "GroupNum": all.len()}))
}

async fn create_person(st: &Arc<ApiState>, body: &Form, tenant: &str) -> Reply {
    let g = group(body, tenant, "GroupId")?;
    let pid = id(body, "PersonId")?.to_string();
    let name = text(body, "PersonName")?.to_string();
    st.sets.show_set(&g)?;
    if !st.sets.user_faces(&g, &pid)?.is_empty() {
        return Err(TcError(
            "InvalidParameterValue.PersonIdAlreadyExist",
            format!("person {pid} already exists in the group"),
        ));
    }
    let want = Wanted {
        embedding: true,
        ..Wanted::default()
    };
    let f = faces_of(st, image(st, body, "")?, want, 1)
        .await?
        .2
        .remove(0);
    let r = rect(&f);
    let bbox = (&f.detection).into();
    let added = st.sets.add_faces(
        &g,
        vec![(bbox, embedding(f)?)],
        None,
        &Map::new(),
        Some(&pid),
    )?;
    st.sets.set_user_info(&g, &pid, &name)?;
    Ok(
        json!({"FaceId": added.first().map(|a| a.face_id.clone()), "FaceRect": r,
        "SimilarPersonId": "", "FaceModelVersion": MODEL}),
    )
}

/// The tenant's groups a person is in; an error when none.
fn person_groups(st: &ApiState, tenant: &str, pid: &str) -> Result<Vec<String>, TcError> {
    let prefix = format!("{tenant}--");
    let groups: Vec<String> = st
        .sets
        .user_groups(pid)?
        .into_iter()
        .filter(|g| g.starts_with(&prefix))
        .collect();
    if groups.is_empty() {
        return Err(TcError(
            "InvalidParameterValue.PersonIdNotExist",
            format!("person {pid} not found"),
        ));
    }
    Ok(groups)
}

/// Removes a person from every group of the tenant.
fn delete_person(st: &ApiState, body: &Form, tenant: &str) -> Reply {
    let pid = id(body, "PersonId")?;
    for g in person_groups(st, tenant, pid)? {
        st.sets.delete_faces(&g, Selector::User(pid.into()))?;
    }
    Ok(json!({}))
}

async fn search(st: &Arc<ApiState>, body: &Form, tenant: &str) -> Reply {
    let ids = body
        .get("GroupIds")
        .and_then(|v| v.as_array())
        .filter(|a| !a.is_empty() && a.len() <= 100)
        .ok_or_else(|| missing("GroupIds (1-100)"))?;
    let groups: Vec<String> = ids
        .iter()
        .map(|g| {
            let mut m = Map::new();
            m.insert("GroupId".into(), g.clone());
            group(&Form::from_map(m), tenant, "GroupId")
        })
        .collect::<Result<_, _>>()?;
    let max_faces = int(body, "MaxFaceNum", 1, (1, 10))? as usize;
    let max_persons = int(body, "MaxPersonNum", 5, (1, 100))? as usize;
    let default = (st.cfg.compare.threshold_for(st.cfg.models.embedder) * 100.0) as i64;
    let threshold = body
        .get("FaceMatchThreshold")
        .map(|v| v.as_f64().filter(|t| (0.0..=100.0).contains(t)))
        .unwrap_or(Some(default as f64))
        .ok_or_else(|| TcError("InvalidParameterValue", "FaceMatchThreshold: 0-100".into()))?;
    let want = Wanted {
        embedding: true,
        ..Wanted::default()
    };
    let (_, _, faces) = faces_of(st, image(st, body, "")?, want, max_faces).await?;
    let prefix = format!("{tenant}--");
    let mut results = vec![];
    for f in faces {
        let r = rect(&f);
        let Some(e) = f.embedding else { continue };
        let hits = st
            .sets
            .identify(&groups, &e, threshold as f32 / 100.0, max_persons)?;
        let candidates: Vec<Value> = hits
            .into_iter()
            .map(|h| json!({"PersonId": h.user_id, "FaceId": "", "Score": (h.score * 10000.0).round() / 100.0,
                "PersonName": h.user_info, "PersonGroupInfos": [{"GroupId": h.group_id.strip_prefix(&prefix).unwrap_or(&h.group_id)}]}))
            .collect();
        results.push(json!({"Candidates": candidates, "FaceRect": r, "RetCode": 0}));
    }
    Ok(json!({"Results": results, "FaceNum": results.len(), "FaceModelVersion": MODEL}))
}

/// 1:1 against a person's faces in any of the tenant's groups.
async fn verify(st: &Arc<ApiState>, body: &Form, tenant: &str) -> Reply {
    let pid = id(body, "PersonId")?.to_string();
    let groups = person_groups(st, tenant, &pid)?;
    let want = Wanted {
        embedding: true,
        ..Wanted::default()
    };
    let e = embedding(
        faces_of(st, image(st, body, "")?, want, 1)
            .await?
            .2
            .remove(0),
    )?;
    let score = st
        .sets
        .identify(&groups, &e, 0.0, 1000)?
        .into_iter()
        .filter(|h| h.user_id == pid)
        .map(|h| h.score)
        .fold(0.0, f64::max);
    let threshold = st.cfg.compare.threshold_for(st.cfg.models.embedder) as f64;
    Ok(
        json!({"Score": (score * 10000.0).round() / 100.0, "IsMatch": score >= threshold, "FaceModelVersion": MODEL}),
    )
}

/// `POST /` with `X-TC-Action: <Action>` (after authentication).
pub async fn dispatch(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    headers: HeaderMap,
    b: Bytes,
) -> Response {
    let tenant = t.0;
    let action = headers
        .get("x-tc-action")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let reply = async {
        let body = Form::parse(&headers, b).await?;
        match action.as_str() {
            "DetectFace" => detect(&st, &body).await,
            "CompareFace" => compare(&st, &body).await,
            "CreateGroup" => create_group(&st, &body, &tenant),
            "DeleteGroup" => delete_group(&st, &body, &tenant),
            "GetGroupList" => group_list(&st, &body, &tenant),
            "CreatePerson" => create_person(&st, &body, &tenant).await,
            "DeletePerson" => delete_person(&st, &body, &tenant),
            "SearchFaces" => search(&st, &body, &tenant).await,
            "VerifyFace" => verify(&st, &body, &tenant).await,
            "" => Err(missing("X-TC-Action header")),
            other => Err(TcError(
                "InvalidAction",
                format!("action {other} is not supported"),
            )),
        }
    }
    .await;
    envelope(reply)
}
