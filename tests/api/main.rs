//! The HTTP API with a real HTTP client over TCP against `facestream run`: every endpoint's success and
//! error paths, authentication, tenant isolation, body and concurrency limits, /openapi.json.

#[path = "../common/mod.rs"]
mod common;

mod baidu;
mod frs;
mod fuzz;
mod hardening;
mod pictures;
mod sdks;
mod signing;
mod tencent;
mod urls_and_tls;

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use common::services::{free_port, wait_until};
use serde_json::{json, Value};

const KEY_A: &str = "key-tenant-a-0123456789";
const KEY_B: &str = "key-tenant-b-0123456789";

struct Server {
    child: Child,
    port: u16,
    /// The server's `storage.dir`.
    data: std::path::PathBuf,
    /// Its config, log and data; removed after the server is stopped.
    _dir: common::Scratch,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &str) -> Server {
    start_with(extra, None)
}

/// Starts `facestream run` with the API on a free port, `extra` in `[api]`, and /metrics on
/// `metrics` when given.
fn start_with(extra: &str, metrics: Option<u16>) -> Server {
    start_full(extra, metrics, "")
}

/// As [`start_with`], with `storage` added to the `[storage]` table.
fn start_full(extra: &str, metrics: Option<u16>, storage: &str) -> Server {
    start_env(extra, metrics, storage, &[])
}

/// As [`start_full`], with environment variables for the server process.
fn start_env(extra: &str, metrics: Option<u16>, storage: &str, env: &[(&str, &str)]) -> Server {
    let media = common::media();
    let http = metrics
        .map(|p| format!("127.0.0.1:{p}"))
        .unwrap_or_default();
    let port = free_port();
    let dir = common::Scratch::new(format!("fs-api-{port}"));
    let cfg = dir.join("api.toml");
    std::fs::write(
        &cfg,
        format!(
            "[mqtt]\nenabled = false\n[http]\nbind = \"{http}\"\n[storage]\ndir = \"{}\"\n{storage}\n[api]\nbind = \"127.0.0.1:{port}\"\nimage_dir = \"{}\"\n{extra}\n[[api.keys]]\nkey = \"{KEY_A}\"\ntenant = \"a\"\n[[api.keys]]\nkey = \"{KEY_B}\"\ntenant = \"b\"\n",
            dir.join("data").display(),
            media.join("gallery").display()
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_facestream"))
        .args(["--config", cfg.to_str().unwrap(), "run"])
        .envs(env.iter().copied())
        // Kept for a failure's diagnosis (a server that died between start and a call).
        .stderr(
            std::fs::File::create(dir.join("stderr.log"))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        )
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || std::net::TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "API did not start"
    );
    Server {
        child,
        port,
        data: dir.join("data"),
        _dir: dir,
    }
}

fn call(
    port: u16,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let raw = body
        .map(std::string::ToString::to_string)
        .unwrap_or_default();
    call_raw(port, method, path, key, raw.as_bytes())
}

fn call_raw(port: u16, method: &str, path: &str, key: Option<&str>, body: &[u8]) -> (u16, Value) {
    let extra = key
        .map(|k| vec![("X-Auth-Token".to_string(), k.to_string())])
        .unwrap_or_default();
    let (s, _, v) = call_full(port, method, path, &extra, body);
    (s, v)
}

fn call_full(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, String, Value) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| {
        panic!(
            "connect to 127.0.0.1:{port}: {e} (the server's log: {}/fs-api-{}-{port}/stderr.log)",
            std::env::temp_dir().display(),
            std::process::id()
        )
    });
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    parse_response(&resp)
}

/// An HTTP/1.1 response: status (0 when there is none), lower-cased head, JSON body (Null if not JSON).
fn parse_response(resp: &[u8]) -> (u16, String, Value) {
    let text = String::from_utf8_lossy(resp).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or(("", ""));
    (
        status,
        head.to_ascii_lowercase(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn b64(path: &std::path::Path) -> String {
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(path).unwrap())
}

/// A multipart/form-data body: text fields, then file parts.
fn multipart(fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "facestream-test-boundary-7d93";
    let mut out = Vec::new();
    for (k, v) in fields {
        out.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    for (k, data) in files {
        out.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"; filename=\"{k}.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes());
        out.extend_from_slice(data);
        out.extend(b"\r\n");
    }
    out.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), out)
}
