//! The API's error: a domain `ErrorKind` and a message. The FRS answer (status and
//! `{"error_code","error_msg"}`) comes from `codes::frs`; Baidu, Tencent and CTyun turn the same
//! kind into their codes through their own tables (src/codes/).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

pub use crate::base::error::ErrorKind;
use crate::codes::frs;
use crate::search::SetError;
use crate::shapes::FaceError;

/// An API error: what went wrong and the message for the client.
#[derive(Debug)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub msg: String,
    pub retry_after: Option<u64>,
}

/// The error code an answer carried, whatever its HTTP status (Baidu and Tencent errors are
/// HTTP 200): set on the response for the request counter on /metrics.
#[derive(Clone, Debug)]
pub struct ErrorCode(pub String);

/// Marks `r` as an error answer with `code`.
pub fn tagged(mut r: Response, code: impl ToString) -> Response {
    r.extensions_mut().insert(ErrorCode(code.to_string()));
    r
}

impl ApiError {
    /// The HTTP status FRS answers this error with; the other families keep it for
    /// authentication, rate limits and overload.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(frs::of(self.kind).status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = frs::code(self.kind);
        let r = tagged(
            (
                status,
                Json(json!({"error_code": code, "error_msg": self.msg})),
            )
                .into_response(),
            code,
        );
        with_retry_after(r, self.retry_after)
    }
}

/// Adds `Retry-After: <seconds>` when given (rate limits, in every API family's shape).
pub fn with_retry_after(mut r: Response, seconds: Option<u64>) -> Response {
    if let Some(v) = seconds.and_then(|s| axum::http::HeaderValue::from_str(&s.to_string()).ok()) {
        r.headers_mut().insert("retry-after", v);
    }
    r
}

/// An error of `kind`; each API family picks its code and status from the kind.
pub fn fail(kind: ErrorKind, msg: impl Into<String>) -> ApiError {
    ApiError {
        kind,
        msg: msg.into(),
        retry_after: None,
    }
}

impl From<SetError> for ApiError {
    fn from(e: SetError) -> Self {
        fail(e.kind(), unscope_message(&e.to_string()))
    }
}

impl From<FaceError> for ApiError {
    fn from(e: FaceError) -> Self {
        fail(e.kind(), e.to_string())
    }
}

impl From<crate::analyze::liveness::LivenessError> for ApiError {
    fn from(e: crate::analyze::liveness::LivenessError) -> Self {
        fail(e.kind(), e.to_string())
    }
}

impl From<crate::models::ModelError> for ApiError {
    fn from(e: crate::models::ModelError) -> Self {
        FaceError::Model(e).into()
    }
}

pub type ApiResult = Result<Response, ApiError>;

pub fn ok(mut v: Value) -> ApiResult {
    tidy_floats(&mut v);
    Ok((StatusCode::OK, Json(v)).into_response())
}

/// Writes every number that came from an `f32` as that `f32` prints (0.46, not
/// 0.46000000834465027), so answers read as the CLI's do: the analysis works in `f32`, and
/// `serde_json::Value` widens it to `f64` digit for digit.
pub fn tidy_floats(v: &mut Value) {
    match v {
        Value::Number(n) => {
            if let Some(x) = n.as_f64().filter(|_| n.is_f64()) {
                let narrow = x as f32;
                if narrow.is_finite() && narrow as f64 == x {
                    if let Some(t) = format!("{narrow}")
                        .parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                    {
                        *n = t;
                    }
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(tidy_floats),
        Value::Object(o) => o.values_mut().for_each(tidy_floats),
        _ => {}
    }
}

/// A message with the API's per-tenant set names (`tenant--set`) written as the tenant knows
/// them (`set`): `"a--staff"` → `"staff"`.
pub fn unscope_message(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(q) = rest.find('"') {
        out.push_str(&rest[..=q]);
        rest = &rest[q + 1..];
        if let Some(dash) = rest.find("--") {
            let tenant = &rest[..dash];
            if (1..=16).contains(&tenant.len()) && tenant.chars().all(|c| c.is_ascii_alphanumeric())
            {
                rest = &rest[dash + 2..];
            }
        }
        // Skip to the closing quote so only opening quotes start a name.
        if let Some(end) = rest.find('"') {
            out.push_str(&rest[..=end]);
            rest = &rest[end + 1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(e: ApiError) -> (u16, Value, Option<String>) {
        let r = e.into_response();
        let status = r.status().as_u16();
        let code = r.extensions().get::<ErrorCode>().map(|c| c.0.clone());
        let retry = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let body = axum::body::to_bytes(r.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert_eq!(
            code.as_deref(),
            v["error_code"].as_str(),
            "metrics tag = body code"
        );
        (status, v, retry)
    }

    #[tokio::test]
    async fn domain_errors_answer_with_frs_codes_and_statuses() {
        let cases = [
            (SetError::SetExists("a--staff".into()), 409, "FRS.0401"),
            (SetError::SetNotFound("x".into()), 404, "FRS.0402"),
            (SetError::FaceNotFound("f".into()), 404, "FRS.0410"),
            (
                SetError::UserNotFound {
                    user: "u".into(),
                    group: "g".into(),
                },
                404,
                "FRS.0413",
            ),
            (
                SetError::CapacityExceeded {
                    name: "s".into(),
                    capacity: 1,
                },
                400,
                "FRS.0403",
            ),
            (SetError::Storage("disk".into()), 500, "FRS.0098"),
        ];
        for (e, status, code) in cases {
            let (s, v, _) = answer(e.into()).await;
            assert_eq!((s, v["error_code"].as_str()), (status, Some(code)));
        }
        // The tenant prefix never leaks into the message.
        let (_, v, _) = answer(SetError::SetExists("a--staff".into()).into()).await;
        assert_eq!(v["error_msg"], "face set \"staff\" already exists");
    }

    #[tokio::test]
    async fn api_edge_kinds_keep_their_statuses() {
        let cases = [
            (ErrorKind::Unauthenticated, 401, "FRS.0002"),
            (ErrorKind::Forbidden, 403, "FRS.0002"),
            (ErrorKind::LocationForbidden, 403, "FRS.0012"),
            (ErrorKind::BadValue, 400, "FRS.0012"),
            (ErrorKind::BodyTooLarge, 413, "FRS.0413"),
            (ErrorKind::Busy, 503, "FRS.0503"),
            (ErrorKind::TimedOut, 503, "FRS.0504"),
            (ErrorKind::Internal, 500, "FRS.0099"),
        ];
        for (k, status, code) in cases {
            let (s, v, _) = answer(fail(k, "m")).await;
            assert_eq!((s, v["error_code"].as_str()), (status, Some(code)), "{k:?}");
        }
        let mut limited = fail(ErrorKind::RateLimited, "slow down");
        limited.retry_after = Some(3);
        let (s, v, retry) = answer(limited).await;
        assert_eq!((s, v["error_code"].as_str()), (429, Some("FRS.0429")));
        assert_eq!(retry.as_deref(), Some("3"));
    }

    #[test]
    fn floats_print_as_f32() {
        let mut v = json!({"a": [0.46_f32 as f64], "b": 1});
        tidy_floats(&mut v);
        assert_eq!(v.to_string(), r#"{"a":[0.46],"b":1}"#);
    }

    #[test]
    fn tenant_prefixes_are_removed_only_inside_quotes() {
        assert_eq!(
            unscope_message(r#"set "a--staff" x--y"#),
            r#"set "staff" x--y"#
        );
        assert_eq!(
            unscope_message(r#""not a tenant--x""#),
            r#""not a tenant--x""#
        );
    }
}
