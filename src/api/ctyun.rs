//! China Telecom (CTyun) face API (../shared/specs/ctyun-face-api.txt): five POST endpoints under
//! `/v1/aiop/api/{service_code}/…` with an `imageContent` base64 body (`img1Base64` / `img2Base64`
//! for compare), signed with `Sign` = hex MD5(AppKey + AppSecret + Timestamp + Path + Body), and
//! answered in CTyun's `{"code","message","result"}` envelope with its codes 4101–4105 and 5000.
//! The service code in the path is accepted whatever it is (facestream has one service per
//! family); the mask endpoint's path is facestream's choice (docs/migrating.md says why).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine;
use serde_json::{json, Value};

use super::body::ImageSource;
use super::error::ApiError;
use super::state::{ApiState, Tenant};
use crate::analyze::{FaceAnalysis, Wanted};
use crate::codes::ctyun as codes;
use crate::detect::Detection;

/// The largest decoded image CTyun accepts (its manual: "图片单张大小不超过 2MB").
pub const MAX_IMAGE_BYTES: usize = 2 * 1024 * 1024;

/// A CTyun error: its numeric code and the details.
pub struct CtError(pub u32, pub String);

impl From<ApiError> for CtError {
    fn from(e: ApiError) -> Self {
        CtError(crate::codes::ctyun::of(e.kind), e.msg)
    }
}

type Reply = Result<Value, CtError>;

/// CTyun's envelope: HTTP 200 with `code` 0 and `result`, or `code`, `message: "error"` and
/// `details`. Authentication (401/403), rate limits (429) and overload (503) keep their status.
pub fn envelope(r: Reply) -> Response {
    match r {
        Ok(mut result) => {
            super::error::tidy_floats(&mut result);
            Json(json!({"code": 0, "message": "success", "result": result})).into_response()
        }
        Err(CtError(code, details)) => {
            let status = match code {
                codes::FORBIDDEN => StatusCode::FORBIDDEN,
                codes::RATE_LIMITED => StatusCode::TOO_MANY_REQUESTS,
                codes::BUSY => StatusCode::SERVICE_UNAVAILABLE,
                codes::UNKNOWN_OPERATION => StatusCode::NOT_FOUND,
                _ => StatusCode::OK,
            };
            let r = (
                status,
                Json(json!({"code": code, "message": "error", "details": details})),
            )
                .into_response();
            super::error::tagged(r, code)
        }
    }
}

/// Authentication failures on CTyun paths, in CTyun's shape.
pub fn auth_failure(e: ApiError) -> Response {
    let retry = e.retry_after;
    super::error::with_retry_after(envelope(Err(e.into())), retry)
}

/// One image field: base64 as Python's `base64.encodebytes` writes it (line breaks every 76
/// characters), with or without a `data:image/...;base64,` prefix; at most 2 MB decoded.
fn image(body: &serde_json::Map<String, Value>, name: &str) -> Result<ImageSource, CtError> {
    let text = match body.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(CtError(4101, format!("{name} is empty or missing")))
        }
        Some(_) => return Err(CtError(4102, format!("{name} must be a base64 string"))),
    };
    let text = match text.find(";base64,") {
        Some(i) if text.starts_with("data:") => &text[i + 8..],
        _ => text.as_str(),
    };
    let clean: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    // Refuse by the encoded length before decoding anything too large.
    if clean.len() / 4 * 3 > MAX_IMAGE_BYTES + 3 {
        return Err(CtError(4103, format!("{name} is over 2 MB")));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&clean)
        .map_err(|e| CtError(4104, format!("{name} is not valid base64: {e}")))?;
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(CtError(
            4103,
            format!("{name} is {} bytes, over 2 MB", bytes.len()),
        ));
    }
    Ok(ImageSource::Bytes(bytes))
}

fn location(d: &Detection) -> Value {
    json!({"top": d.y.round() as i64, "left": d.x.round() as i64,
        "width": d.w.round() as i64, "height": d.h.round() as i64})
}

async fn faces(
    st: &Arc<ApiState>,
    src: ImageSource,
    want: Wanted,
    max: usize,
) -> Result<Vec<FaceAnalysis>, CtError> {
    Ok(st.faces(src, want, max).await?.2)
}

/// Faces CTyun lists per image (its manual does not say; its detector "supports thousands").
const MAX_FACES: usize = 100;

/// Every face of the body's `imageContent` (analysed for `want`), each listed with its location
/// and what `fill` adds: the shape of four of the five operations.
async fn each_face(
    st: &Arc<ApiState>,
    body: &serde_json::Map<String, Value>,
    want: Wanted,
    fill: impl Fn(&FaceAnalysis, &mut Value),
) -> Reply {
    let found = faces(st, image(body, "imageContent")?, want, MAX_FACES).await?;
    let list: Vec<Value> = found
        .iter()
        .map(|f| {
            let mut o = json!({"face_location": location(&f.detection)});
            fill(f, &mut o);
            o
        })
        .collect();
    Ok(json!({"face_num": list.len(), "face_list": list}))
}

fn round4(v: f32) -> f64 {
    (v as f64 * 10000.0).round() / 10000.0
}

const ATTRIBUTES: Wanted = Wanted {
    attributes: true,
    quality: false,
    antispoof: false,
    embedding: false,
    picture: false,
};

fn age_gender(f: &FaceAnalysis, o: &mut Value) {
    if let Some(a) = &f.attributes {
        o["gender"] = json!(if a.gender == "male" { "Male" } else { "Female" });
        o["age"] = json!(format!("{}", a.age.round() as i64));
    }
}

/// Passive liveness, in CTyun's three words.
fn anti_spoofing(f: &FaceAnalysis, o: &mut Value) {
    let blurred = f
        .quality
        .as_ref()
        .is_some_and(|q| q.reasons.contains(&"blur") || q.reasons.contains(&"face_size"));
    let real = f.real_score.unwrap_or(0.0);
    o["FaceAntiSpoofing"] = json!(if blurred {
        "人脸清晰度较差, 无法判断"
    } else if real >= crate::analyze::antispoof::PHOTO_LIVE_THRESHOLD {
        "活体人脸"
    } else {
        "非活体人脸"
    });
    o["score"] = json!(round4(real));
}

fn mask(f: &FaceAnalysis, o: &mut Value) {
    if let Some(a) = &f.attributes {
        o["FaceMask"] = json!(if a.mask { "戴口罩" } else { "未戴口罩" });
        o["mask"] = json!(a.mask);
        o["score"] = json!(round4(a.mask_probability));
    }
}

async fn compare(st: &Arc<ApiState>, body: &serde_json::Map<String, Value>) -> Reply {
    let want = Wanted {
        embedding: true,
        ..Wanted::default()
    };
    let (a, b) = (image(body, "img1Base64")?, image(body, "img2Base64")?);
    let mut fa = faces(st, a, want, 1).await?;
    let mut fb = faces(st, b, want, 1).await?;
    let (ea, eb) = (fa.remove(0).embedding, fb.remove(0).embedding);
    let sim = match (ea, eb) {
        (Some(a), Some(b)) => a.similarity(&b).unwrap_or(0.0),
        _ => return Err(CtError(4105, "no face could be embedded".into())),
    };
    Ok(json!((sim as f64 * 100_000.0).round() / 100_000.0))
}

pub async fn dispatch(
    State(st): State<Arc<ApiState>>,
    Extension(_t): Extension<Tenant>,
    Path((_service, op)): Path<(String, String)>,
    b: Bytes,
) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&b) else {
        return envelope(Err(CtError(4102, "the body is not a JSON object".into())));
    };
    let spoof = Wanted {
        antispoof: true,
        quality: true,
        ..Wanted::default()
    };
    // The mask path is facestream's choice (docs/migrating.md).
    let r = match op.as_str() {
        "face/PERSON/person/detectFaceFromBase64" => {
            each_face(&st, &body, Wanted::default(), |_, _| {}).await
        }
        "face/PERSON/person/detectAgeGenderFromBase64" => {
            each_face(&st, &body, ATTRIBUTES, age_gender).await
        }
        "face/compare/PERSON/person/compareFromBase64" => compare(&st, &body).await,
        "face-fas-action/person/detectFasFromBase64" => {
            each_face(&st, &body, spoof, anti_spoofing).await
        }
        "face-mask/person/detectMaskFromBase64" => each_face(&st, &body, ATTRIBUTES, mask).await,
        other => Err(CtError(
            codes::UNKNOWN_OPERATION,
            format!("unknown operation {other:?}"),
        )),
    };
    envelope(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::error::ErrorKind;
    use crate::shapes::FaceError;

    #[test]
    fn domain_errors_in_ctyuns_envelope() {
        let no_face: CtError = ApiError::from(FaceError::NoFace { path: "x".into() }).into();
        assert_eq!(no_face.0, 4105);
        assert_eq!(envelope(Err(no_face)).status(), StatusCode::OK);
        let busy: CtError = super::super::error::fail(ErrorKind::TimedOut, "slow").into();
        assert_eq!(
            envelope(Err(busy)).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let denied: CtError = super::super::error::fail(ErrorKind::Forbidden, "no").into();
        assert_eq!(envelope(Err(denied)).status(), StatusCode::FORBIDDEN);
    }
}
