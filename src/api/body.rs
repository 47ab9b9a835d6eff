//! Request bodies: JSON, or multipart/form-data with `image_file` / `video_file` parts; and where
//! an image comes from (inline base64, an uploaded file, or a permitted `image_url`).

use std::path::PathBuf;

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use base64::Engine;
use serde_json::{Map, Value};

use super::error::{fail, ApiError, ErrorKind};
use crate::config::Config;
use crate::frame::Frame;
use crate::ingest::image::{decode_image, load_image};
use crate::shapes::FaceError;

/// A request body as named fields: a JSON object, or the parts of a multipart form. Text parts
/// are read as JSON when they parse (`10`, `true`, `{"a":1}`) and as strings otherwise, so
/// handlers see the same values either way; file parts are kept apart as bytes.
pub struct Form {
    fields: Map<String, Value>,
    files: std::collections::HashMap<String, Bytes>,
}

impl std::ops::Deref for Form {
    type Target = Map<String, Value>;
    fn deref(&self) -> &Self::Target {
        &self.fields
    }
}

fn not_json() -> ApiError {
    fail(ErrorKind::BadBody, "the body is not a JSON object")
}

impl Form {
    pub async fn parse(headers: &HeaderMap, body: Bytes) -> Result<Form, ApiError> {
        let ctype = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ctype
            .to_ascii_lowercase()
            .starts_with("multipart/form-data")
        {
            return match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(fields)) => Ok(Form {
                    fields,
                    files: Default::default(),
                }),
                _ => Err(not_json()),
            };
        }
        let bad = |m: String| fail(ErrorKind::BadBody, m);
        let boundary = multer::parse_boundary(ctype)
            .map_err(|e| bad(format!("multipart body without a usable boundary: {e}")))?;
        let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
        let mut mp = multer::Multipart::new(stream, boundary);
        let mut form = Form {
            fields: Map::new(),
            files: Default::default(),
        };
        while let Some(part) = mp
            .next_field()
            .await
            .map_err(|e| bad(format!("malformed multipart body: {e}")))?
        {
            let name = part
                .name()
                .ok_or_else(|| bad("a multipart part has no name".into()))?
                .to_string();
            let is_file = part.file_name().is_some() || name.ends_with("_file");
            let data = part
                .bytes()
                .await
                .map_err(|e| bad(format!("multipart part {name:?}: {e}")))?;
            if is_file {
                form.files.insert(name, data);
            } else {
                let text = String::from_utf8(data.to_vec())
                    .map_err(|_| bad(format!("multipart field {name:?} is not UTF-8 text")))?;
                let v = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
                form.fields.insert(name, v);
            }
        }
        Ok(form)
    }

    /// Fields from an already parsed JSON object (Baidu's `match` items, image parameters).
    pub fn from_map(fields: Map<String, Value>) -> Form {
        Form {
            fields,
            files: Default::default(),
        }
    }

    /// An optional integer parameter: absent or null gives `default`; anything else must be a
    /// JSON integer in `range` (not a string, a fraction or a huge number), else `FRS.0411`.
    pub fn int(
        &self,
        name: &str,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<i64, ApiError> {
        self.ranged(name, default, range, "an integer", Value::as_i64)
    }

    /// An optional number parameter in `range`, as [`Form::int`].
    pub fn number(
        &self,
        name: &str,
        default: f64,
        range: std::ops::RangeInclusive<f64>,
    ) -> Result<f64, ApiError> {
        self.ranged(name, default, range, "a number", Value::as_f64)
    }

    fn ranged<T: PartialOrd + std::fmt::Display + Copy>(
        &self,
        name: &str,
        default: T,
        range: std::ops::RangeInclusive<T>,
        kind: &str,
        read: fn(&Value) -> Option<T>,
    ) -> Result<T, ApiError> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => read(v).filter(|n| range.contains(n)).ok_or_else(|| {
                bad_parameter(
                    name,
                    format!(
                        "must be {kind} {}..={}, got {}",
                        range.start(),
                        range.end(),
                        shown(v)
                    ),
                )
            }),
        }
    }

    /// An optional string parameter of at most `max` bytes.
    pub fn text(&self, name: &str, max: usize) -> Result<Option<&str>, ApiError> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.len() <= max => Ok(Some(s)),
            Some(Value::String(s)) => Err(bad_parameter(
                name,
                format!("is {} bytes; at most {max}", s.len()),
            )),
            Some(v) => Err(bad_parameter(
                name,
                format!("must be a string, got {}", shown(v)),
            )),
        }
    }

    /// An uploaded file part (`image_file`, `video_file`, …).
    pub fn file(&self, name: &str) -> Option<&Bytes> {
        self.files.get(name)
    }
}

fn bad_parameter(name: &str, message: String) -> ApiError {
    fail(
        ErrorKind::BadParameter,
        format!("invalid parameter {name}: {message}"),
    )
}

/// A value for an error message, cut short.
fn shown(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 40 {
        let cut = (0..=37).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// Where an image comes from: inline base64, or a permitted `image_url`.
pub enum ImageSource {
    Bytes(Vec<u8>),
    File(PathBuf),
    /// An http(s) URL on `api.image_url_hosts`, fetched when the request is processed.
    Url(Remote),
}

/// An allowed URL and the client that will download it.
pub struct Remote {
    pub url: String,
    fetcher: Fetcher,
}

impl Remote {
    /// Downloads at most `limit` bytes (blocking: call it off the async runtime).
    pub fn fetch(&self, limit: u64) -> Result<Vec<u8>, ApiError> {
        self.fetcher.get(&self.url, limit)
    }
}

/// Downloads http(s) `image_url`s: one client for the server's life (connection reuse), trusting
/// `api.image_url_ca_file` when set, else the Mozilla CA roots built into the client.
#[derive(Clone)]
pub struct Fetcher {
    agent: ureq::Agent,
}

impl Fetcher {
    pub fn new(api: &crate::config::ApiConfig) -> Result<Self, crate::tls::TlsError> {
        let mut agent = ureq::AgentBuilder::new()
            .redirects(0)
            .timeout(std::time::Duration::from_millis(api.image_url_timeout_ms));
        if let Some(ca) = &api.image_url_ca_file {
            let tls = crate::tls::client_config(Some(ca), None)?;
            agent = agent.tls_config(std::sync::Arc::new(tls));
        }
        Ok(Self {
            agent: agent.build(),
        })
    }

    /// Downloads an allowed URL: no redirects (they could leave the allow-list), the configured
    /// timeout, and at most `limit` bytes.
    pub fn get(&self, url: &str, limit: u64) -> Result<Vec<u8>, ApiError> {
        use std::io::Read;
        let failed = |m: String| fail(ErrorKind::DownloadFailed, m);
        let resp = self.agent.get(url).call().map_err(|e| match e {
            ureq::Error::Status(code, _) => failed(format!("{url}: HTTP {code}")),
            // ureq's message already starts with the URL.
            ureq::Error::Transport(t) => {
                let t = t.to_string();
                failed(format!(
                    "{url}: {}",
                    t.trim_start_matches(&format!("{url}: "))
                ))
            }
        })?;
        if resp.status() != 200 {
            return Err(failed(format!(
                "{url}: HTTP {} (redirects are not followed)",
                resp.status()
            )));
        }
        let mut bytes = Vec::new();
        resp.into_reader()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| failed(format!("{url}: {e}")))?;
        if bytes.len() as u64 > limit {
            return Err(failed(format!("{url}: larger than {limit} bytes")));
        }
        Ok(bytes)
    }
}

/// Checks an http(s) URL against `api.image_url_hosts` ("host" for any port, "host:port").
fn allowed_url(cfg: &Config, raw: &str) -> Result<String, ApiError> {
    let bad = |m: String| fail(ErrorKind::BadValue, m);
    let u =
        url::Url::parse(raw).map_err(|e| bad(format!("image_url {raw:?} is not a URL: {e}")))?;
    let host = u.host_str().unwrap_or("").to_ascii_lowercase();
    let port = u.port_or_known_default().unwrap_or(0);
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad("image_url may not carry credentials".into()));
    }
    let ok = cfg.api.image_url_hosts.iter().any(|entry| {
        let e = entry.to_ascii_lowercase();
        e == host || e == format!("{host}:{port}")
    });
    if !ok {
        return Err(fail(
            ErrorKind::LocationForbidden,
            format!("image_url host {host}:{port} is not on api.image_url_hosts"),
        ));
    }
    Ok(raw.to_string())
}

pub fn image_source(
    cfg: &Config,
    fetcher: &Fetcher,
    body: &Form,
    prefix: &str,
) -> Result<ImageSource, ApiError> {
    if let Some(bytes) = body.file(&format!("{prefix}_file")) {
        return Ok(ImageSource::Bytes(bytes.to_vec()));
    }
    if let Some(b64) = body
        .get(&format!("{prefix}_base64"))
        .and_then(|v| v.as_str())
    {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| {
                fail(
                    ErrorKind::BadBase64,
                    format!("{prefix}_base64 is not valid base64: {e}"),
                )
            })?;
        return Ok(ImageSource::Bytes(bytes));
    }
    if let Some(url) = body.get(&format!("{prefix}_url")).and_then(|v| v.as_str()) {
        if url.starts_with("http://") || url.starts_with("https://") {
            return allowed_url(cfg, url).map(|url| {
                ImageSource::Url(Remote {
                    url,
                    fetcher: fetcher.clone(),
                })
            });
        }
        let dir = cfg.api.image_dir.as_ref().ok_or_else(|| {
            fail(
                ErrorKind::BadValue,
                "image_url is not enabled (api.image_dir)",
            )
        })?;
        return local_file(dir, url).map(ImageSource::File);
    }
    Err(fail(
        ErrorKind::MissingField,
        format!("{prefix}_base64, {prefix}_file or {prefix}_url is required"),
    ))
}

/// A local `image_url` (`file:///…`, an absolute path, or a path relative to `api.image_dir`).
/// Anything outside the folder gets the same answer whether or not it exists, so the API cannot be
/// used to probe the server's files.
fn local_file(dir: &std::path::Path, url: &str) -> Result<PathBuf, ApiError> {
    let outside = || {
        fail(
            ErrorKind::LocationForbidden,
            format!("{url} is not in the permitted image folder (api.image_dir)"),
        )
    };
    let root = std::fs::canonicalize(dir).map_err(|e| {
        fail(
            ErrorKind::Internal,
            format!("api.image_dir {}: {e}", dir.display()),
        )
    })?;
    let raw = PathBuf::from(url.strip_prefix("file://").unwrap_or(url));
    let wanted = if raw.is_absolute() {
        raw
    } else {
        root.join(raw)
    };
    match std::fs::canonicalize(&wanted) {
        Ok(real) if real.starts_with(&root) && real.is_file() => Ok(real),
        Ok(real) if real.starts_with(&root) => Err(fail(
            ErrorKind::ImageUnreadable,
            format!("{url}: not a file"),
        )),
        Ok(_) => Err(outside()),
        // Missing: "not found" only when the path itself (its `..` resolved) is inside the folder.
        Err(_) if lexically_within(&wanted, &root) => Err(fail(
            ErrorKind::ImageUnreadable,
            format!("{url}: file not found"),
        )),
        Err(_) => Err(outside()),
    }
}

/// `path` with `.` and `..` resolved by text alone lies under `root`.
fn lexically_within(path: &std::path::Path, root: &std::path::Path) -> bool {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return false;
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out.starts_with(root)
}

pub fn load(cfg: &Config, src: ImageSource, name: &str) -> Result<Frame, ApiError> {
    let r = match src {
        ImageSource::Bytes(b) => decode_image(&b, std::path::Path::new(name), &cfg.images),
        ImageSource::File(p) => load_image(&p, &cfg.images),
        // Downloads happen before an inference slot is taken (ApiState::image_source).
        ImageSource::Url(r) => {
            return Err(fail(
                ErrorKind::Internal,
                format!("{}: not downloaded before inference", r.url),
            ))
        }
    };
    r.map_err(|e| FaceError::Input(e).into())
}
