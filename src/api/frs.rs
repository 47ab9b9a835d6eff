//! Huawei FRS v2 endpoints: same paths, bodies, responses and errors as the cloud service.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Extension;
use axum::Json;
use serde_json::{json, Value};

use super::body::{load, Form, ImageSource};
use super::error::{fail, ok, ApiError, ApiResult, ErrorKind};

/// The largest `face_set_capacity` a set may be created with.
const MAX_FACE_SET_CAPACITY: i64 = 10_000_000;
use super::state::{flag, scoped, unscoped, ApiState, Tenant};
use crate::analyze::liveness::{check, LivenessConfig, Request as LiveRequest};
use crate::analyze::{largest, Wanted};
use crate::search::fields::{FieldType, Schema};
use crate::search::store::Selector;
use crate::search::{Enrolment, SearchParams};
use crate::shapes::FaceError;
use crate::shapes::FaceJson;

pub async fn face_detect(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    headers: HeaderMap,
    b: Bytes,
) -> ApiResult {
    let _ = t;
    let body = Form::parse(&headers, b).await?;
    let src = st.image_source(&body, "image").await?;
    // FRS `attributes`, Tencent `NeedFaceAttributes` / `NeedQualityDetection`.
    let want = Wanted {
        attributes: flag(&body, &["attributes", "NeedFaceAttributes"]),
        quality: flag(&body, &["NeedQualityDetection", "quality"]),
        antispoof: false,
        embedding: false,
        picture: false,
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

pub async fn face_compare(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    headers: HeaderMap,
    b: Bytes,
) -> ApiResult {
    let _ = t;
    let body = Form::parse(&headers, b).await?;
    let (s1, s2) = (
        st.image_source(&body, "image1").await?,
        st.image_source(&body, "image2").await?,
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

/// Clips are decoded from a file: inline and downloaded ones go to a temporary file, written only
/// once an inference slot is held and removed when the guard drops (every path, panics included).
fn temp_clip(bytes: &[u8]) -> Result<tempfile::NamedTempFile, ApiError> {
    use std::io::Write;
    let failed = |e: std::io::Error| {
        fail(
            ErrorKind::Internal,
            format!("cannot write the clip to the temporary folder: {e}"),
        )
    };
    let mut f = tempfile::Builder::new()
        .prefix("facestream-live-")
        .suffix(".bin")
        .tempfile()
        .map_err(failed)?;
    f.write_all(bytes).map_err(failed)?;
    f.flush().map_err(failed)?;
    Ok(f)
}

/// Silent liveness on one photo: `{"result": {alive, confidence, picture}}`.
pub async fn live_detect_face(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    headers: HeaderMap,
    b: Bytes,
) -> ApiResult {
    let _ = t;
    let body = Form::parse(&headers, b).await?;
    let src = st.image_source(&body, "image").await?;
    ok(json!({ "result": st.photo_liveness(src).await? }))
}

pub async fn live_detect(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    headers: HeaderMap,
    b: Bytes,
) -> ApiResult {
    let _ = t;
    let body = Form::parse(&headers, b).await?;
    let actions = body
        .get("actions")
        .and_then(|v| v.as_str())
        .ok_or_else(|| fail(ErrorKind::MissingField, "actions is required"))?;
    // Out of range values reach LiveRequest::parse (FRS.0604); only non-numbers are refused here.
    let nod = body.number("nod_threshold", 10.0, f64::MIN..=f64::MAX)? as f32;
    let req = LiveRequest::parse(
        actions,
        body.get("action_time").and_then(|v| v.as_str()),
        nod,
    )
    .map_err(ApiError::from)?;
    // One byte over the clip limit is enough for the check to refuse a download by size.
    let limit = LivenessConfig::default().max_bytes + 1;
    let video = st.source_within(&body, "video", limit).await?;
    let r = st
        .infer(move |an| {
            let (path, _guard) = match video {
                ImageSource::File(p) => (p, None),
                ImageSource::Bytes(b) => {
                    let f = temp_clip(&b)?;
                    (f.path().to_path_buf(), Some(f))
                }
                ImageSource::Url(r) => {
                    return Err(fail(
                        ErrorKind::Internal,
                        format!("{}: not downloaded before inference", r.url),
                    ))
                }
            };
            check(an, &path, &req, &LivenessConfig::default()).map_err(ApiError::from)
        })
        .await?;
    ok(serde_json::to_value(r).unwrap_or(Value::Null))
}

pub async fn create_set(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    headers: HeaderMap,
    b: Bytes,
) -> ApiResult {
    let tenant = t.0;
    let body = Form::parse(&headers, b).await?;
    let name = body
        .get("face_set_name")
        .and_then(|v| v.as_str())
        .ok_or_else(|| fail(ErrorKind::MissingField, "face_set_name is required"))?;
    let capacity = body.int("face_set_capacity", 100_000, 1..=MAX_FACE_SET_CAPACITY)? as usize;
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

pub async fn list_sets(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
) -> ApiResult {
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

pub async fn show_set(
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

pub async fn delete_set(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    Path((_p, name)): Path<(String, String)>,
) -> ApiResult {
    let tenant = t.0;
    st.sets.delete_set(&scoped(&tenant, &name)?)?;
    ok(json!({ "face_set_name": name }))
}

/// The tenant's scoped name of an existing face set (FRS.0402 when there is none).
fn existing_set(st: &ApiState, tenant: &str, name: &str) -> Result<String, ApiError> {
    let set = scoped(tenant, name)?;
    st.sets.show_set(&set)?;
    Ok(set)
}

pub async fn add_faces(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    Path((_p, name)): Path<(String, String)>,
    headers: HeaderMap,
    b: Bytes,
) -> ApiResult {
    let tenant = t.0;
    let set = existing_set(&st, &tenant, &name)?;
    let body = Form::parse(&headers, b).await?;
    let src = st.image_source(&body, "image").await?;
    let single = body
        .get("single")
        .and_then(serde_json::Value::as_bool)
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
        .text("user_id", crate::search::MAX_USER_ID_BYTES)?
        .map(String::from);
    let (cfg, keep) = (st.cfg.clone(), st.sets.keeps_face_pictures());
    let faces = st
        .infer(move |an| {
            let frame = load(&cfg, src, "image")?;
            let faces = an.embed_faces(&frame, single)?;
            if faces.is_empty() {
                return Err(FaceError::NoFace {
                    path: "image".into(),
                }
                .into());
            }
            Ok(faces
                .into_iter()
                .map(|(d, e)| Enrolment::of(&frame, &d, e, keep))
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

pub async fn get_faces(
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
                        v.parse()
                            .map_err(|_| fail(ErrorKind::BadValue, format!("{k} must be a number")))
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

pub async fn update_face(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    Path((_p, name)): Path<(String, String)>,
    headers: HeaderMap,
    b: Bytes,
) -> ApiResult {
    let tenant = t.0;
    let body = Form::parse(&headers, b).await?;
    let id = body
        .get("face_id")
        .and_then(|v| v.as_str())
        .ok_or_else(|| fail(ErrorKind::MissingField, "face_id is required"))?;
    let fields = body.get("external_fields").and_then(|v| v.as_object());
    let eid = body.get("external_image_id").and_then(|v| v.as_str());
    st.sets
        .update_face(&scoped(&tenant, &name)?, id, eid, fields)?;
    ok(json!({ "face_number": 1, "face_set_name": name }))
}

pub async fn delete_faces(
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
        return Err(fail(
            ErrorKind::MissingField,
            "face_id, external_image_id or a custom field is required",
        ));
    };
    ok(json!({ "face_number": st.sets.delete_faces(&set, sel)?, "face_set_name": name }))
}

pub async fn batch_delete(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    Path((_p, name)): Path<(String, String)>,
    headers: HeaderMap,
    b: Bytes,
) -> ApiResult {
    let tenant = t.0;
    let set = scoped(&tenant, &name)?;
    let body = Form::parse(&headers, b).await?;
    let filter = body
        .get("filter")
        .and_then(|v| v.as_str())
        .ok_or_else(|| fail(ErrorKind::MissingField, "filter is required"))?;
    let f = st.sets.parse_filter(&set, filter)?;
    ok(
        json!({ "face_number": st.sets.delete_faces(&set, Selector::Filter(f))?, "face_set_name": name }),
    )
}

pub async fn search(
    State(st): State<Arc<ApiState>>,
    Extension(t): Extension<Tenant>,
    Path((_p, name)): Path<(String, String)>,
    headers: HeaderMap,
    b: Bytes,
) -> ApiResult {
    let tenant = t.0;
    let set = existing_set(&st, &tenant, &name)?;
    let body = Form::parse(&headers, b).await?;
    let default_threshold = st.cfg.compare.threshold_for(st.cfg.models.embedder) as f64;
    let mut p = SearchParams::new(body.number("threshold", default_threshold, 0.0..=1.0)? as f32);
    p.top_n = body.int("top_n", 10, 1..=1000)? as usize;
    p.filter = body.text("filter", usize::MAX)?.map(String::from);
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
        let src = st.image_source(&body, "image").await?;
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

pub async fn openapi() -> Json<Value> {
    Json(super::openapi::spec())
}
