//! The API's error: an HTTP status plus FRS's `{"error_code","error_msg"}` body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::search::SetError;
use crate::shapes::FaceError;

/// An API error: HTTP status plus FRS's body.
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let r = tagged(
            (
                self.status,
                Json(json!({"error_code": self.code, "error_msg": self.msg})),
            )
                .into_response(),
            self.code,
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

pub fn err(status: StatusCode, code: &'static str, msg: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        msg: msg.into(),
        retry_after: None,
    }
}

impl From<SetError> for ApiError {
    fn from(e: SetError) -> Self {
        let status = match e.code() {
            "FRS.0401" => StatusCode::CONFLICT,
            "FRS.0402" | "FRS.0410" | "FRS.0413" => StatusCode::NOT_FOUND,
            "FRS.0098" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        err(status, e.code(), unscope_message(&e.to_string()))
    }
}

impl From<FaceError> for ApiError {
    fn from(e: FaceError) -> Self {
        let status = if matches!(e, FaceError::Model(_)) {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::BAD_REQUEST
        };
        err(status, e.code(), e.to_string())
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
