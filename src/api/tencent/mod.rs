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

mod analysis;
mod people;

use super::body::{Form, ImageSource};
use super::error::ApiError;
use super::state::{scoped, ApiState, Tenant};
use crate::analyze::{Embedding, FaceAnalysis, Wanted};

/// A Tencent error: its dotted code and message.
pub struct TcError(pub &'static str, pub String);

impl From<ApiError> for TcError {
    fn from(e: ApiError) -> Self {
        TcError(crate::codes::tencent::of(e.kind), e.msg)
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
            super::error::tidy_floats(&mut v);
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
    let status = e.status();
    let code = if status == axum::http::StatusCode::TOO_MANY_REQUESTS {
        "RequestLimitExceeded"
    } else if e.msg.contains("missing") {
        "AuthFailure.SignatureFailure"
    } else if e.msg.contains("unknown") {
        "AuthFailure.SecretIdNotFound"
    } else if e.msg.contains("expired") {
        "AuthFailure.SignatureExpire"
    } else if e.msg.contains("replayed") {
        "AuthFailure.InvalidAuthorization"
    } else {
        "AuthFailure.SignatureFailure"
    };
    let retry = e.retry_after;
    let mut r = envelope(Err(TcError(code, e.msg)));
    *r.status_mut() = status;
    super::error::with_retry_after(r, retry)
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
async fn image(st: &ApiState, body: &Form, suffix: &str) -> Result<ImageSource, TcError> {
    let mut m = Map::new();
    if let Some(b) = body.get(&format!("Image{suffix}")).and_then(|v| v.as_str()) {
        m.insert("image_base64".into(), json!(b));
    } else if let Some(u) = body.get(&format!("Url{suffix}")).and_then(|v| v.as_str()) {
        m.insert("image_url".into(), json!(u));
    } else {
        return Err(missing(&format!("Image{suffix} or Url{suffix}")));
    }
    Ok(st.image_source(&Form::from_map(m), "image").await?)
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

fn embedding(f: &FaceAnalysis) -> Result<Embedding, TcError> {
    f.embedding.clone().ok_or_else(|| {
        TcError(
            "InvalidParameterValue.NoFaceInPhoto",
            "the face could not be aligned".into(),
        )
    })
}

const MODEL: &str = "3.0";

/// The actions `dispatch` answers (listed in /openapi.json).
pub const ACTIONS: &[&str] = &[
    "DetectFace",
    "CompareFace",
    "DetectLiveFace",
    "CreateGroup",
    "DeleteGroup",
    "GetGroupList",
    "GetGroupInfo",
    "CreatePerson",
    "DeletePerson",
    "GetPersonList",
    "GetPersonBaseInfo",
    "GetPersonGroupInfo",
    "ModifyPersonBaseInfo",
    "CopyPerson",
    "DeletePersonFromGroup",
    "CreateFace",
    "DeleteFace",
    "SearchFaces",
    "SearchPersons",
    "VerifyFace",
    "VerifyPerson",
];

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
            "DetectFace" => analysis::detect(&st, &body).await,
            "CompareFace" => analysis::compare(&st, &body).await,
            "DetectLiveFace" => analysis::detect_live_face(&st, &body).await,
            "CreateGroup" => people::create_group(&st, &body, &tenant),
            "DeleteGroup" => people::delete_group(&st, &body, &tenant),
            "GetGroupList" => people::group_list(&st, &body, &tenant),
            "GetGroupInfo" => people::group_info(&st, &body, &tenant),
            "CreatePerson" => people::create_person(&st, &body, &tenant).await,
            "DeletePerson" => people::delete_person(&st, &body, &tenant),
            "GetPersonList" => people::person_list(&st, &body, &tenant),
            "GetPersonBaseInfo" => people::person_info(&st, &body, &tenant),
            "GetPersonGroupInfo" => people::person_groups_info(&st, &body, &tenant),
            "ModifyPersonBaseInfo" => people::modify_person(&st, &body, &tenant),
            "CopyPerson" => people::copy_person(&st, &body, &tenant),
            "DeletePersonFromGroup" => people::delete_from_group(&st, &body, &tenant),
            "CreateFace" => people::create_face(&st, &body, &tenant).await,
            "DeleteFace" => people::delete_face(&st, &body, &tenant),
            "SearchFaces" | "SearchPersons" => people::search(&st, &body, &tenant).await,
            "VerifyFace" | "VerifyPerson" => people::verify(&st, &body, &tenant).await,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::SetError;

    #[test]
    fn domain_errors_take_tencents_codes() {
        let e: TcError = SetError::SetExists("g".into()).into();
        assert_eq!(e.0, "InvalidParameterValue.GroupIdAlreadyExist");
        let e: TcError = SetError::UserNotFound {
            user: "p".into(),
            group: "g".into(),
        }
        .into();
        assert_eq!(e.0, "InvalidParameterValue.PersonIdNotExist");
        assert_eq!(envelope(Err(e)).status(), axum::http::StatusCode::OK);
    }
}
