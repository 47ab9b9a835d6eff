//! The HTTP API with a real HTTP client over TCP against `facestream run`: every endpoint's success and
//! error paths, authentication, tenant isolation, body and concurrency limits, /openapi.json.

mod common;

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
    let media = common::media();
    let http = metrics
        .map(|p| format!("127.0.0.1:{p}"))
        .unwrap_or_default();
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("fs-api-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("api.toml");
    std::fs::write(
        &cfg,
        format!(
            "[mqtt]\nenabled = false\n[http]\nbind = \"{http}\"\n[storage]\ndir = \"{}\"\n[api]\nbind = \"127.0.0.1:{port}\"\nimage_dir = \"{}\"\n{extra}\n[[api.keys]]\nkey = \"{KEY_A}\"\ntenant = \"a\"\n[[api.keys]]\nkey = \"{KEY_B}\"\ntenant = \"b\"\n",
            dir.join("data").display(),
            media.join("gallery").display()
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_facestream"))
        .args(["--config", cfg.to_str().unwrap(), "run"])
        .stderr(Stdio::null())
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
    Server { child, port }
}

fn call(
    port: u16,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let raw = body.map(|b| b.to_string()).unwrap_or_default();
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
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
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
    let text = String::from_utf8_lossy(&resp).to_string();
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

#[test]
fn every_endpoint_with_auth_tenants_and_errors() {
    let media = common::media();
    let srv = start("");
    let p = srv.port;
    let obama1 = media.join("gallery/Barack_Obama/face_recognition_obama_small.jpg");
    let obama2 = media.join("gallery/Barack_Obama/face_recognition_knn_test_obama1.jpg");
    let biden = media.join("gallery/Joe_Biden/face_recognition_biden2.jpg");

    // Authentication.
    let (s, e) = call(p, "GET", "/v2/p1/face-sets", None, None);
    assert_eq!((s, e["error_code"].as_str()), (401, Some("FRS.0002")));
    let (s, _) = call(
        p,
        "GET",
        "/v2/p1/face-sets",
        Some("wrong-key-0000000000"),
        None,
    );
    assert_eq!(s, 403);

    // face-detect with attributes and quality (Tencent-style flags), by base64 and by permitted url.
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_A),
        Some(
            &json!({"image_base64": b64(&obama1), "NeedFaceAttributes": true, "NeedQualityDetection": true}),
        ),
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["faces"].as_array().unwrap().len(), 1);
    assert_eq!(r["faces"][0]["attributes"]["gender"], "male");
    assert!(r["faces"][0]["quality"]["blur"].is_number());
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_A),
        Some(&json!({"image_url": obama1.display().to_string()})),
    );
    assert_eq!(s, 200, "{r}");
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_A),
        Some(&json!({"image_url": "/etc/passwd"})),
    );
    assert_eq!(
        (s, r["error_code"].as_str()),
        (403, Some("FRS.0012")),
        "{r}"
    );
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_A),
        Some(&json!({"image_url": "http://example.com/a.jpg"})),
    );
    // No host is allowed by default (api.image_url_hosts is empty).
    assert_eq!(
        (s, r["error_code"].as_str()),
        (403, Some("FRS.0012")),
        "{r}"
    );
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_A),
        Some(&json!({"image_base64": "%%%"})),
    );
    assert_eq!((s, r["error_code"].as_str()), (400, Some("FRS.0015")));
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_A),
        Some(
            &json!({"image_base64": base64::engine::general_purpose::STANDARD.encode(b"GIF89a....")}),
        ),
    );
    assert_eq!((s, r["error_code"].as_str()), (400, Some("FRS.0024")));
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_A),
        Some(
            &json!({"image_base64": b64(&media.join("negatives/compreface_017_0_landscape.jpg"))}),
        ),
    );
    assert_eq!((s, r["error_code"].as_str()), (400, Some("FRS.0501")));
    let (s, r) = call_raw(p, "POST", "/v2/p1/face-detect", Some(KEY_A), b"{not json");
    assert_eq!((s, r["error_code"].as_str()), (400, Some("FRS.0014")));
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_A),
        Some(&json!({})),
    );
    assert_eq!((s, r["error_code"].as_str()), (400, Some("FRS.0011")));

    // face-compare.
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-compare",
        Some(KEY_A),
        Some(&json!({"image1_base64": b64(&obama1), "image2_base64": b64(&obama2)})),
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["same_person"], true);
    let (_, r) = call(
        p,
        "POST",
        "/v2/p1/face-compare",
        Some(KEY_A),
        Some(&json!({"image1_base64": b64(&obama1), "image2_base64": b64(&biden)})),
    );
    assert_eq!(r["same_person"], false);

    // Face sets, scoped per tenant.
    let set = json!({"face_set_name": "staff", "face_set_capacity": 10, "external_fields": {"level": {"type": "integer"}, "dept": {"type": "string"}}});
    let (s, r) = call(p, "POST", "/v2/p1/face-sets", Some(KEY_A), Some(&set));
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["face_set_info"]["face_set_name"], "staff");
    let (s, r) = call(p, "POST", "/v2/p1/face-sets", Some(KEY_A), Some(&set));
    assert_eq!((s, r["error_code"].as_str()), (409, Some("FRS.0401")));
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-sets",
        Some(KEY_A),
        Some(&json!({"face_set_name": "x", "external_fields": {"face_id": {"type": "string"}}})),
    );
    assert_eq!((s, r["error_code"].as_str()), (400, Some("FRS.0408")));
    // Tenant b sees nothing of tenant a, and may use the same name.
    let (_, r) = call(p, "GET", "/v2/p1/face-sets", Some(KEY_B), None);
    assert_eq!(r["face_sets_info"].as_array().unwrap().len(), 0);
    let (s, _) = call(p, "GET", "/v2/p1/face-sets/staff", Some(KEY_B), None);
    assert_eq!(s, 404);
    let (s, _) = call(
        p,
        "POST",
        "/v2/p1/face-sets",
        Some(KEY_B),
        Some(&json!({"face_set_name": "staff"})),
    );
    assert_eq!(s, 200);

    // Faces: add, list, get, update, search, delete by field, batch delete by filter.
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-sets/staff/faces",
        Some(KEY_A),
        Some(
            &json!({"image_base64": b64(&obama1), "external_image_id": "obama", "external_fields": {"level": 44, "dept": "gov"}, "single": true}),
        ),
    );
    assert_eq!(s, 200, "{r}");
    let face_id = r["faces"][0]["face_id"].as_str().unwrap().to_string();
    let (_, _) = call(
        p,
        "POST",
        "/v2/p1/face-sets/staff/faces",
        Some(KEY_A),
        Some(
            &json!({"image_base64": b64(&biden), "external_image_id": "biden", "external_fields": {"level": 46, "dept": "gov"}}),
        ),
    );
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-sets/staff/faces",
        Some(KEY_A),
        Some(&json!({"image_base64": b64(&biden), "external_fields": {"level": "high"}})),
    );
    assert_eq!((s, r["error_code"].as_str()), (400, Some("FRS.0405")));
    let (_, r) = call(
        p,
        "GET",
        "/v2/p1/face-sets/staff/faces?offset=0&limit=10",
        Some(KEY_A),
        None,
    );
    assert_eq!(r["faces"].as_array().unwrap().len(), 2);
    let (s, _) = call(
        p,
        "GET",
        "/v2/p1/face-sets/staff/faces?offset=9999&limit=10",
        Some(KEY_A),
        None,
    );
    assert_eq!(s, 400);
    let (_, r) = call(
        p,
        "GET",
        &format!("/v2/p1/face-sets/staff/faces?face_id={face_id}"),
        Some(KEY_A),
        None,
    );
    assert_eq!(r["faces"][0]["external_image_id"], "obama");
    let (s, _) = call(
        p,
        "PUT",
        "/v2/p1/face-sets/staff/faces",
        Some(KEY_A),
        Some(&json!({"face_id": face_id, "external_fields": {"level": 45}})),
    );
    assert_eq!(s, 200);
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-sets/staff/search",
        Some(KEY_A),
        Some(&json!({"image_base64": b64(&obama2), "top_n": 5, "return_fields": ["level"]})),
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["faces"][0]["external_image_id"], "obama");
    assert_eq!(r["faces"][0]["external_fields"], json!({"level": 45}));
    assert_eq!(
        r["faces"].as_array().unwrap().len(),
        1,
        "Biden is below the threshold"
    );
    let (_, r) = call(
        p,
        "POST",
        "/v2/p1/face-sets/staff/search",
        Some(KEY_A),
        Some(&json!({"face_id": face_id, "threshold": 0.0, "sort": [{"level": "desc"}]})),
    );
    assert_eq!(r["faces"].as_array().unwrap().len(), 2);
    assert_eq!(r["faces"][0]["external_fields"]["level"], 46);
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-sets/staff/search",
        Some(KEY_A),
        Some(&json!({"face_id": face_id, "filter": "level:[1 TO"})),
    );
    assert_eq!((s, r["error_code"].as_str()), (400, Some("FRS.0409")));
    let (s, _) = call(
        p,
        "POST",
        "/v2/p1/face-sets/staff/search",
        Some(KEY_B),
        Some(&json!({"face_id": face_id})),
    );
    assert_eq!(s, 404, "tenant b cannot search tenant a's faces");
    let (_, r) = call(
        p,
        "DELETE",
        "/v2/p1/face-sets/staff/faces?external_image_id=biden",
        Some(KEY_A),
        None,
    );
    assert_eq!(r["face_number"], 1);
    let (_, r) = call(
        p,
        "DELETE",
        "/v2/p1/face-sets/staff/faces/batch",
        Some(KEY_A),
        Some(&json!({"filter": "dept:gov"})),
    );
    assert_eq!(r["face_number"], 1);
    let (s, _) = call(p, "DELETE", "/v2/p1/face-sets/staff", Some(KEY_A), None);
    assert_eq!(s, 200);
    let (s, _) = call(p, "DELETE", "/v2/p1/face-sets/staff", Some(KEY_A), None);
    assert_eq!(s, 404);

    // live-detect from a permitted file path is refused outside image_dir, works inline.
    let clip = media.join("liveness/liveportrait_d18.mp4");
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/live-detect",
        Some(KEY_A),
        Some(&json!({"video_base64": b64(&clip), "actions": "4"})),
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["video-result"]["alive"], true);
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/live-detect",
        Some(KEY_A),
        Some(&json!({"video_base64": b64(&clip), "actions": "9"})),
    );
    assert_eq!((s, r["error_code"].as_str()), (400, Some("FRS.0601")));

    // The spec lists every endpoint.
    let (s, spec) = call(p, "GET", "/openapi.json", None, None);
    assert_eq!(s, 200);
    let paths = spec["paths"].as_object().unwrap();
    assert_eq!(paths.keys().filter(|k| k.starts_with("/v2/")).count(), 8);
    assert_eq!(
        paths
            .keys()
            .filter(|k| k.starts_with("/rest/2.0/face/v3/"))
            .count(),
        15
    );
}

#[test]
fn body_and_concurrency_limits() {
    let media = common::media();
    let srv = start("max_body_bytes = 300000\nmax_concurrent = 1\nqueue_timeout_ms = 1");
    let big = json!({"image_base64": "A".repeat(400_000)});
    let (s, _) = call(
        srv.port,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_A),
        Some(&big),
    );
    assert_eq!(s, 413);
    let img = b64(&media.join("group/faceapi_bbt4.jpg"));
    let body =
        json!({"image_base64": img, "NeedFaceAttributes": true, "NeedQualityDetection": true});
    let port = srv.port;
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let b = body.clone();
            std::thread::spawn(move || {
                call(port, "POST", "/v2/p1/face-detect", Some(KEY_A), Some(&b))
            })
        })
        .collect();
    let results: Vec<(u16, Value)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let codes: Vec<u16> = results.iter().map(|r| r.0).collect();
    println!("6 concurrent requests with one inference slot: {codes:?}");
    assert!(codes.contains(&200), "{codes:?}");
    assert!(
        results
            .iter()
            .any(|(s, r)| *s == 503 && r["error_code"] == "FRS.0503"),
        "{codes:?}"
    );
}

/// Signs a request the way the seeds' SDKs do (SDK-HMAC-SHA256 over the canonical request).
fn signed(
    ak: &str,
    sk: &str,
    date: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> Vec<(String, String)> {
    use facestream::api::auth::{canonical_request, hmac_hex, string_to_sign};
    let headers = vec![
        ("Host".to_string(), "localhost".to_string()),
        ("X-Sdk-Date".to_string(), date.to_string()),
    ];
    let names = vec!["host".to_string(), "x-sdk-date".to_string()];
    let canonical = canonical_request(method, path, "", &headers, &names, body);
    let sig = hmac_hex(sk.as_bytes(), string_to_sign(date, &canonical).as_bytes());
    vec![
        ("X-Sdk-Date".to_string(), date.to_string()),
        (
            "Authorization".to_string(),
            format!("SDK-HMAC-SHA256 Access={ak}, SignedHeaders=host;x-sdk-date, Signature={sig}"),
        ),
    ]
}

fn sdk_date(offset_s: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + offset_s;
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{now}"), "+%Y%m%dT%H%M%SZ"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn ak_sk_signatures_expiry_replay_and_rate_limits() {
    let srv = start("rate_per_second = 1.0\nburst = 3.0\n[[api.keys]]\nkey = \"AK-signing-tenant-c\"\ntenant = \"c\"\nsecret = \"SK-very-secret-value\"");
    let p = srv.port;
    let path = "/v2/p1/face-sets";
    let body = br#"{"face_set_name":"signed"}"#;
    let h = signed(
        "AK-signing-tenant-c",
        "SK-very-secret-value",
        &sdk_date(0),
        "POST",
        path,
        body,
    );
    let (s, _, r) = call_full(p, "POST", path, &h, body);
    assert_eq!(s, 200, "valid signature: {r}");
    let (s, _, r) = call_full(p, "POST", path, &h, body);
    assert_eq!(
        (s, r["error_msg"].as_str()),
        (403, Some("replayed request"))
    );
    let bad = signed(
        "AK-signing-tenant-c",
        "wrong-secret",
        &sdk_date(1),
        "POST",
        path,
        body,
    );
    let (s, _, r) = call_full(p, "POST", path, &bad, body);
    assert_eq!(
        (s, r["error_msg"].as_str()),
        (403, Some("signature mismatch"))
    );
    let old = signed(
        "AK-signing-tenant-c",
        "SK-very-secret-value",
        &sdk_date(-3600),
        "POST",
        path,
        body,
    );
    let (s, _, r) = call_full(p, "POST", path, &old, body);
    assert_eq!(s, 403);
    assert!(r["error_msg"].as_str().unwrap().contains("expired"), "{r}");
    // A signature over another body does not authorise this one.
    let other = signed(
        "AK-signing-tenant-c",
        "SK-very-secret-value",
        &sdk_date(2),
        "POST",
        path,
        br#"{"face_set_name":"x"}"#,
    );
    let (s, _, _) = call_full(p, "POST", path, &other, body);
    assert_eq!(s, 403);
    // Rate limit per key: burst 3 at 1/s, then 429 with Retry-After.
    let tok = vec![("X-Auth-Token".to_string(), KEY_A.to_string())];
    let mut got = vec![];
    for _ in 0..6 {
        let (s, head, _) = call_full(p, "GET", path, &tok, b"");
        got.push((s, head.contains("retry-after:")));
    }
    println!("6 requests at once, 1/s with burst 3: {got:?}");
    assert!(got.iter().take(3).all(|&(s, _)| s == 200), "{got:?}");
    assert!(got.iter().any(|&(s, ra)| s == 429 && ra), "{got:?}");
}

/// A seeded fuzz run over every endpoint: malformed JSON, wrong types, huge numbers, odd names, bad
/// base64, path junk. The server must answer every request with a status below 500 and stay up.
#[test]
fn fuzzed_requests_never_get_5xx_or_crash_the_server() {
    let metrics_port = free_port();
    let srv = start_with("rate_per_second = 0.0", Some(metrics_port));
    let p = srv.port;
    let (s, _) = call(
        p,
        "POST",
        "/v2/p/face-sets",
        Some(KEY_A),
        Some(&json!({"face_set_name": "fz", "external_fields": {"n": {"type": "integer"}}})),
    );
    assert_eq!(s, 200);
    let mut x: u64 = 0x2545F4914F6CDD1D;
    let mut rnd = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let values = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1e308),
        json!(18446744073709551615u64),
        json!(""),
        json!("%%%"),
        json!("../../etc/passwd"),
        json!("file:///etc/passwd"),
        json!("AAAA"),
        json!([1, 2]),
        json!({"a": {"b": []}}),
        json!("level:[1 TO"),
        json!("(((((((("),
        json!("x".repeat(5000)),
        json!("\u{0}\u{ffff}"),
        json!(0),
        json!(1001),
    ];
    let keys = [
        "image_base64",
        "image_url",
        "image1_base64",
        "image2_base64",
        "video_base64",
        "actions",
        "action_time",
        "nod_threshold",
        "face_set_name",
        "face_set_capacity",
        "external_fields",
        "external_image_id",
        "face_id",
        "top_n",
        "threshold",
        "filter",
        "sort",
        "return_fields",
        "single",
        "user_id",
        "NeedFaceAttributes",
        "image",
        "image_type",
        "group_id",
        "group_id_list",
        "user_info",
        "face_token",
        "max_user_num",
        "match_threshold",
        "max_face_num",
        "face_field",
        "start",
        "length",
        "src_group_id",
        "dst_group_id",
    ];
    // Every Baidu operation the spec lists, plus the FRS paths with odd ids and queries.
    let (_, spec) = call(p, "GET", "/openapi.json", None, None);
    let baidu: Vec<String> = spec["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("/rest/"))
        .map(|k| format!("{k}?access_token={KEY_A}"))
        .collect();
    assert!(baidu.len() >= 15);
    let mut paths: Vec<(&str, &str)> = baidu.iter().map(|k| ("POST", k.as_str())).collect();
    paths.push(("POST", "/rest/2.0/face/v3/../../v2/p/face-detect"));
    paths.extend([
        ("POST", "/v2/p/face-detect"),
        ("POST", "/v2/p/face-compare"),
        ("POST", "/v2/p/live-detect"),
        ("POST", "/v2/p/face-sets"),
        ("GET", "/v2/p/face-sets"),
        ("GET", "/v2/p/face-sets/fz"),
        ("POST", "/v2/p/face-sets/fz/faces"),
        ("GET", "/v2/p/face-sets/fz/faces?offset=-1&limit=x"),
        ("PUT", "/v2/p/face-sets/fz/faces"),
        ("DELETE", "/v2/p/face-sets/fz/faces?n=abc"),
        ("DELETE", "/v2/p/face-sets/fz/faces/batch"),
        ("POST", "/v2/p/face-sets/fz/search"),
        ("GET", "/v2/p/face-sets/%2e%2e"),
        ("POST", "/v2/p/face-sets/fz%00/search"),
        ("DELETE", "/v2/p/face-sets/nope"),
    ]);
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..900 {
        let (method, path) = paths[rnd(paths.len())];
        let body: Vec<u8> = match i % 5 {
            0 => {
                let mut raw = vec![b'{'];
                for _ in 0..rnd(20) {
                    let alphabet = b"{}[]\":,0a\\ \x00\xff";
                    raw.push(alphabet[rnd(alphabet.len())]);
                }
                raw
            }
            _ => {
                let mut m = serde_json::Map::new();
                for _ in 0..1 + rnd(4) {
                    m.insert(
                        keys[rnd(keys.len())].to_string(),
                        values[rnd(values.len())].clone(),
                    );
                }
                serde_json::to_vec(&Value::Object(m)).unwrap()
            }
        };
        let (s, r) = if i % 7 == 3 {
            // A multipart body with random parts, some of them "files" of random bytes.
            let junk: Vec<u8> = (0..rnd(64)).map(|_| rnd(256) as u8).collect();
            let text = values[rnd(values.len())].to_string();
            let (ct, mp) = multipart(
                &[(keys[rnd(keys.len())], text.as_str())],
                &[(
                    ["image_file", "image1_file", "video_file", "x"][rnd(4)],
                    &junk,
                )],
            );
            let h = vec![
                ("X-Auth-Token".to_string(), KEY_A.to_string()),
                ("Content-Type".to_string(), ct),
            ];
            let (s, _, r) = call_full(p, method, path, &h, &mp);
            (s, r)
        } else {
            call_raw(p, method, path, Some(KEY_A), &body)
        };
        *statuses.entry(s).or_insert(0) += 1;
        assert!(
            s != 0 && s < 500,
            "{method} {path} {} -> {s} {r}",
            String::from_utf8_lossy(&body)
        );
    }
    println!(
        "900 fuzzed requests (FRS and Baidu paths, JSON and multipart): statuses {statuses:?}"
    );
    let (s, _) = call(p, "GET", "/v2/p/face-sets", Some(KEY_A), None);
    assert_eq!(s, 200, "the server is still up");
    // Every request was counted on /metrics by API and status.
    let mut m = std::net::TcpStream::connect(("127.0.0.1", metrics_port)).unwrap();
    write!(m, "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    m.read_to_string(&mut text).unwrap();
    let counted: u64 = text
        .lines()
        .filter(|l| l.starts_with("facestream_api_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    println!("/metrics counted {counted} API requests");
    assert!(counted >= 903, "{text}");
    assert!(
        text.contains("facestream_api_requests_total{api=\"baidu\",status=\"200\"}"),
        "{text}"
    );
    assert!(
        text.contains("facestream_api_requests_total{api=\"frs\",status=\"400\"}"),
        "{text}"
    );
    // Error answers by code, including Baidu's, which travel as HTTP 200.
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("facestream_api_errors_total{"))
        .collect();
    println!("{}", errors.join("\n"));
    assert!(
        errors.iter().any(|l| l.contains("api=\"baidu\",code=\"2")),
        "{text}"
    );
    assert!(
        errors.iter().any(|l| l.contains("api=\"frs\",code=\"FRS.")),
        "{text}"
    );
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

#[test]
fn multipart_uploads_reach_the_same_handlers() {
    let media = common::media();
    let srv = start("");
    let p = srv.port;
    let photo = std::fs::read(media.join("group/faceapi_bbt4.jpg")).unwrap();
    let post = |path: &str, ctype: &str, body: &[u8]| {
        let h = vec![
            ("X-Auth-Token".to_string(), KEY_A.to_string()),
            ("Content-Type".to_string(), ctype.to_string()),
        ];
        let (s, _, v) = call_full(p, "POST", path, &h, body);
        (s, v)
    };
    // image_file with a text field read as JSON (`true`): attributes come back for every face.
    let (ct, body) = multipart(&[("attributes", "true")], &[("image_file", &photo)]);
    let (s, v) = post("/v2/p1/face-detect", &ct, &body);
    assert_eq!(s, 200, "{v}");
    let faces = v["faces"].as_array().unwrap();
    assert!(faces.len() >= 4, "{v}");
    assert!(
        faces.iter().all(|f| f["attributes"]["gender"].is_string()),
        "{v}"
    );
    // Same answer as the base64 body.
    let (s, v64) = call(
        p,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_A),
        Some(
            &json!({"image_base64": b64(&media.join("group/faceapi_bbt4.jpg")), "attributes": true}),
        ),
    );
    assert_eq!(s, 200);
    assert_eq!(v64["faces"].as_array().unwrap().len(), faces.len());
    // Two files for face-compare.
    let o1 =
        std::fs::read(media.join("gallery/Barack_Obama/face_recognition_obama_small.jpg")).unwrap();
    let o2 = std::fs::read(media.join("gallery/Barack_Obama/face_recognition_knn_test_obama1.jpg"))
        .unwrap();
    let (ct, body) = multipart(&[], &[("image1_file", &o1), ("image2_file", &o2)]);
    let (s, v) = post("/v2/p1/face-compare", &ct, &body);
    assert_eq!((s, v["same_person"].as_bool()), (200, Some(true)), "{v}");
    // Set creation and face add with fields as a JSON text part.
    let (s, v) = call(
        p,
        "POST",
        "/v2/p1/face-sets",
        Some(KEY_A),
        Some(&json!({"face_set_name": "mp", "external_fields": {"dept": {"type": "string"}}})),
    );
    assert_eq!(s, 200, "{v}");
    let (ct, body) = multipart(
        &[
            ("external_image_id", "obama-1"),
            ("external_fields", r#"{"dept":"gov"}"#),
            ("single", "true"),
        ],
        &[("image_file", &o1)],
    );
    let (s, v) = post("/v2/p1/face-sets/mp/faces", &ct, &body);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["faces"][0]["external_fields"]["dept"], "gov", "{v}");
    // Errors: a form without the file, a file that is not an image, a broken multipart body.
    let (ct, body) = multipart(&[("attributes", "true")], &[]);
    let (s, v) = post("/v2/p1/face-detect", &ct, &body);
    assert_eq!(
        (s, v["error_code"].as_str()),
        (400, Some("FRS.0011")),
        "{v}"
    );
    let (ct, body) = multipart(&[], &[("image_file", b"this is not a picture")]);
    let (s, v) = post("/v2/p1/face-detect", &ct, &body);
    assert_eq!(
        (s, v["error_code"].as_str()),
        (400, Some("FRS.0023")),
        "{v}"
    );
    let (s, v) = post(
        "/v2/p1/face-detect",
        "multipart/form-data; boundary=xyz",
        b"--xyz\r\nContent-Disposition: form-data; name=\"image_file\"\r\n\r\nabc",
    );
    assert_eq!(
        (s, v["error_code"].as_str()),
        (400, Some("FRS.0014")),
        "{v}"
    );
    let (s, v) = post("/v2/p1/face-detect", "multipart/form-data", &body);
    assert_eq!(
        (s, v["error_code"].as_str()),
        (400, Some("FRS.0014")),
        "{v}"
    );
}

#[test]
fn baidu_v3_paths_over_the_face_set_model() {
    let media = common::media();
    let srv = start("");
    let p = srv.port;
    let baidu = |op: &str, key: &str, body: &Value| -> (u16, Value) {
        call_raw(
            p,
            "POST",
            &format!("/rest/2.0/face/v3/{op}?access_token={key}"),
            None,
            body.to_string().as_bytes(),
        )
    };
    let ok = |op: &str, body: Value| -> Value {
        let (s, v) = baidu(op, KEY_A, &body);
        assert_eq!((s, &v["error_code"]), (200, &json!(0)), "{op}: {v}");
        assert!(v["log_id"].is_u64(), "{v}");
        v["result"].clone()
    };
    let fails = |op: &str, body: Value| -> i64 {
        let (s, v) = baidu(op, KEY_A, &body);
        assert_eq!(s, 200, "{op}: {v}");
        assert!(v["result"].is_null(), "{v}");
        v["error_code"].as_i64().unwrap_or(-1)
    };
    let img = |rel: &str| b64(&media.join(rel));
    let obama1 = img("gallery/Barack_Obama/face_recognition_obama_small.jpg");
    let obama2 = img("gallery/Barack_Obama/face_recognition_knn_test_obama1.jpg");
    let biden = img("gallery/Joe_Biden/face_recognition_biden2.jpg");
    let amy = common::images_in(&media.join("gallery/Amy_Adams"));
    let amy = b64(&amy[0]);

    // Groups.
    ok("faceset/group/add", json!({"group_id": "staff"}));
    assert_eq!(
        fails("faceset/group/add", json!({"group_id": "staff"})),
        223101
    );
    assert_eq!(
        fails("faceset/group/add", json!({"group_id": "bad id"})),
        222006
    );
    assert_eq!(fails("faceset/group/add", json!({})), 222001);
    // Users: add to an existing group and to one created on the fly.
    let r = ok(
        "faceset/user/add",
        json!({"image": obama1, "image_type": "BASE64", "group_id": "staff", "user_id": "obama", "user_info": "president 44"}),
    );
    let token = r["face_token"].as_str().unwrap().to_string();
    assert!(r["location"]["width"].as_f64().unwrap() > 40.0, "{r}");
    ok(
        "faceset/user/add",
        json!({"image": biden, "image_type": "BASE64", "group_id": "visitors", "user_id": "biden"}),
    );
    ok(
        "faceset/user/add",
        json!({"image": obama1, "image_type": "BASE64", "group_id": "visitors", "user_id": "obama"}),
    );
    let groups = ok("faceset/group/getlist", json!({}));
    assert_eq!(groups["group_id_list"], json!(["staff", "visitors"]));
    assert_eq!(
        ok("faceset/group/getusers", json!({"group_id": "visitors"}))["user_id_list"],
        json!(["biden", "obama"])
    );
    assert_eq!(
        ok(
            "faceset/group/getusers",
            json!({"group_id": "visitors", "start": 1, "length": 1})
        )["user_id_list"],
        json!(["obama"])
    );
    // Search: another photo of Obama over both groups finds him, score on Baidu's 0..100 scale.
    let r = ok(
        "search",
        json!({"image": obama2, "image_type": "BASE64", "group_id_list": "staff,visitors", "max_user_num": 3}),
    );
    let users = r["user_list"].as_array().unwrap();
    assert_eq!(users[0]["user_id"], "obama", "{r}");
    assert!(users[0]["score"].as_f64().unwrap() > 46.0, "{r}");
    assert!(
        users.iter().all(|u| u["user_id"] == "obama"),
        "Biden must stay below the threshold: {r}"
    );
    assert_eq!(
        users[0]["user_info"]
            .as_str()
            .map(|s| s == "president 44" || s.is_empty()),
        Some(true)
    );
    // 1:1 verification against a named user, and a stranger.
    assert_eq!(
        ok(
            "search",
            json!({"image": obama2, "group_id_list": "staff", "user_id": "obama"})
        )["user_list"][0]["user_id"],
        "obama"
    );
    assert_eq!(
        fails(
            "search",
            json!({"image": obama2, "group_id_list": "visitors", "user_id": "biden"})
        ),
        222207
    );
    assert_eq!(
        fails(
            "search",
            json!({"image": amy, "group_id_list": "staff,visitors"})
        ),
        222207
    );
    assert_eq!(
        fails(
            "search",
            json!({"image": obama2, "group_id_list": "staff", "match_threshold": 101})
        ),
        222023
    );
    assert_eq!(
        fails(
            "search",
            json!({"image": obama2, "group_id_list": "nosuch"})
        ),
        223100
    );
    // M:N over a photo with one enrolled face.
    let r = ok(
        "multi-search",
        json!({"image": obama2, "group_id_list": "visitors", "max_face_num": 5}),
    );
    assert_eq!(r["face_list"][0]["user_list"][0]["user_id"], "obama", "{r}");
    // User records.
    let r = ok(
        "faceset/user/get",
        json!({"user_id": "obama", "group_id": "@ALL"}),
    );
    assert_eq!(r["user_list"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(r["user_list"][0]["user_info"], "president 44");
    let r = ok(
        "faceset/face/getlist",
        json!({"user_id": "obama", "group_id": "staff"}),
    );
    assert_eq!(r["face_list"][0]["face_token"], token.as_str());
    assert_eq!(
        r["face_list"][0]["ctime"].as_str().map(|s| s.len()),
        Some(19),
        "{r}"
    );
    assert_eq!(
        fails(
            "faceset/face/delete",
            json!({"user_id": "obama", "group_id": "staff", "face_token": "nope"})
        ),
        223106
    );
    // Copy, update, delete.
    ok("faceset/group/add", json!({"group_id": "third"}));
    ok(
        "faceset/user/copy",
        json!({"user_id": "biden", "src_group_id": "visitors", "dst_group_id": "third"}),
    );
    assert_eq!(
        ok("faceset/group/getusers", json!({"group_id": "third"}))["user_id_list"],
        json!(["biden"])
    );
    assert_eq!(
        fails(
            "faceset/user/update",
            json!({"image": obama2, "group_id": "third", "user_id": "obama"})
        ),
        223103
    );
    let r = ok(
        "faceset/user/update",
        json!({"image": obama2, "group_id": "staff", "user_id": "obama"}),
    );
    let faces = ok(
        "faceset/face/getlist",
        json!({"user_id": "obama", "group_id": "staff"}),
    );
    assert_eq!(faces["face_list"].as_array().unwrap().len(), 1);
    assert_eq!(faces["face_list"][0]["face_token"], r["face_token"]);
    ok(
        "faceset/face/delete",
        json!({"user_id": "obama", "group_id": "staff", "face_token": r["face_token"]}),
    );
    assert_eq!(
        fails(
            "faceset/user/get",
            json!({"user_id": "obama", "group_id": "staff"})
        ),
        223103
    );
    ok(
        "faceset/user/delete",
        json!({"user_id": "biden", "group_id": "third"}),
    );
    assert_eq!(
        fails(
            "faceset/user/delete",
            json!({"user_id": "biden", "group_id": "third"})
        ),
        223103
    );
    ok("faceset/group/delete", json!({"group_id": "third"}));
    assert_eq!(
        fails("faceset/group/delete", json!({"group_id": "third"})),
        223100
    );
    // Detect with Baidu's fields, and match.
    let r = ok(
        "detect",
        json!({"image": obama1, "image_type": "BASE64", "face_field": "age,gender,mask,quality,landmark,angle"}),
    );
    let f = &r["face_list"][0];
    assert_eq!(r["face_num"], 1);
    assert_eq!(f["gender"]["type"], "male", "{r}");
    assert_eq!(f["mask"]["type"], 0, "{r}");
    assert!(
        f["age"].as_f64().is_some()
            && f["angle"]["yaw"].is_number()
            && f["quality"]["blur"].is_number(),
        "{r}"
    );
    assert_eq!(f["landmark"].as_array().map(Vec::len), Some(4));
    let (s, v) = call_raw(p, "POST", &format!("/rest/2.0/face/v3/match?access_token={KEY_A}"), None, json!([{"image": obama1, "image_type": "BASE64"}, {"image": obama2, "image_type": "BASE64"}]).to_string().as_bytes());
    assert_eq!(s, 200);
    let same = v["result"]["score"].as_f64().unwrap();
    let (_, v) = call_raw(
        p,
        "POST",
        &format!("/rest/2.0/face/v3/match?access_token={KEY_A}"),
        None,
        json!([{"image": obama1}, {"image": biden}])
            .to_string()
            .as_bytes(),
    );
    let diff = v["result"]["score"].as_f64().unwrap();
    println!("baidu match: Obama/Obama {same}, Obama/Biden {diff}");
    assert!(same > 46.0 && diff < 46.0, "{same} {diff}");
    let (_, v) = call_raw(
        p,
        "POST",
        &format!("/rest/2.0/face/v3/match?access_token={KEY_A}"),
        None,
        json!([{"image": obama1}]).to_string().as_bytes(),
    );
    assert_eq!(v["error_code"], 222208);
    // Errors on images and methods.
    assert_eq!(
        fails(
            "detect",
            json!({"image": obama1, "image_type": "FACE_TOKEN"})
        ),
        222015
    );
    assert_eq!(
        fails(
            "detect",
            json!({"image": b64(&media.join("negatives/dlib_dogs.jpg"))})
        ),
        222202
    );
    assert_eq!(
        fails("detect", json!({"image": "bm90IGFuIGltYWdl"})),
        222203
    );
    assert_eq!(fails("detect", json!({"image_type": "BASE64"})), 222001);
    assert_eq!(fails("faceset/user/fly", json!({})), 3);
    // Authentication in Baidu's shape; tenants stay apart.
    let (s, v) = call_raw(
        p,
        "POST",
        "/rest/2.0/face/v3/faceset/group/getlist",
        None,
        b"{}",
    );
    assert_eq!((s, v["error_code"].as_i64()), (401, Some(110)), "{v}");
    let (s, v) = baidu("faceset/group/getlist", "wrong-key", &json!({}));
    assert_eq!((s, v["error_code"].as_i64()), (403, Some(110)), "{v}");
    let (_, v) = baidu("faceset/group/getlist", KEY_B, &json!({}));
    assert_eq!(v["result"]["group_id_list"], json!([]), "{v}");
    let (_, v) = baidu(
        "faceset/user/get",
        KEY_B,
        &json!({"user_id": "obama", "group_id": "visitors"}),
    );
    assert_eq!(v["error_code"], 223100, "{v}");
}

/// One HTTPS request with rustls trusting `ca`; the status and JSON body, or the TLS error.
fn https_call(port: u16, ca: &std::path::Path, path: &str) -> Result<(u16, Value), String> {
    use tokio_rustls::rustls;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for c in facestream::tls::certificates(ca).unwrap() {
        roots.add(c).unwrap();
    }
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(cfg), name).unwrap();
    let sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Auth-Token: {KEY_A}\r\n\r\n");
    tls.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut resp = Vec::new();
    match tls.read_to_end(&mut resp) {
        Ok(_) => {}
        // Servers may close without close_notify; what was read is still the answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !resp.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    let text = String::from_utf8_lossy(&resp).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

#[test]
fn https_when_a_certificate_is_configured() {
    let dir = std::env::temp_dir().join(format!("fs-api-tls-{}", std::process::id()));
    let cert = common::tls::self_signed(&dir, "api");
    let other = common::tls::self_signed(&dir, "other");
    let srv = start(&format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"",
        cert.cert.display(),
        cert.key.display()
    ));
    let p = srv.port;
    let (s, v) = https_call(p, &cert.cert, "/v2/p/face-sets").unwrap();
    assert_eq!((s, &v["face_sets_info"]), (200, &json!([])), "{v}");
    // A client that does not trust this certificate fails the handshake.
    let e = https_call(p, &other.cert, "/v2/p/face-sets").unwrap_err();
    println!("untrusted client: {e}");
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    // Plain HTTP on the TLS port gets no HTTP answer, and the server keeps serving.
    let (s, _) = call(p, "GET", "/v2/p/face-sets", Some(KEY_A), None);
    assert_eq!(s, 0, "plain HTTP must not be served on the TLS port");
    assert_eq!(https_call(p, &cert.cert, "/openapi.json").unwrap().0, 200);
}

#[test]
fn bad_tls_settings_fail_the_start_naming_the_key() {
    let dir = std::env::temp_dir().join(format!("fs-api-tls-bad-{}", std::process::id()));
    let cert = common::tls::self_signed(&dir, "half");
    let run = |api: &str| {
        let cfg = dir.join("bad.toml");
        std::fs::write(
            &cfg,
            format!("[mqtt]\nenabled = false\n[http]\nbind = \"\"\n[api]\nbind = \"127.0.0.1:{}\"\n{api}\n", free_port()),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_facestream"))
            .args(["--config", cfg.to_str().unwrap(), "run"])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, err) = run(&format!("tls_cert = \"{}\"", cert.cert.display()));
    assert!(
        !ok && err.contains("api.tls_cert") && err.contains("tls_key"),
        "{err}"
    );
    // The key file given as the certificate: no certificate in it.
    let (ok, err) = run(&format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"",
        cert.key.display(),
        cert.key.display()
    ));
    assert!(
        !ok && err.contains("api.tls_cert") && err.contains("half.key"),
        "{err}"
    );
    // A certificate with someone else's key.
    let other = common::tls::self_signed(&dir, "other");
    let (ok, err) = run(&format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"",
        cert.cert.display(),
        other.key.display()
    ));
    assert!(!ok && err.contains("api.tls_cert"), "{err}");
    // A CA file for image URLs that holds no certificate.
    let (ok, err) = run(&format!("image_url_ca_file = \"{}\"", cert.key.display()));
    assert!(!ok && err.contains("api.image_url_ca_file"), "{err}");
}

/// A tiny HTTP server on 127.0.0.1 for image_url tests: `/ok.jpg` a real photo, `/redirect` a 302 to
/// it, `/slow` answers after 3 s, anything else 404.
fn photo_server(photo: Vec<u8>) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let photo = photo.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
                let head = |code: &str, extra: &str, len: usize| {
                    format!("HTTP/1.1 {code}\r\nContent-Length: {len}\r\nConnection: close\r\n{extra}\r\n")
                };
                let _ = match path.as_str() {
                    "/ok.jpg" => {
                        let _ = s.write_all(
                            head("200 OK", "Content-Type: image/jpeg\r\n", photo.len()).as_bytes(),
                        );
                        s.write_all(&photo)
                    }
                    "/redirect" => {
                        s.write_all(head("302 Found", "Location: /ok.jpg\r\n", 0).as_bytes())
                    }
                    "/slow" => {
                        std::thread::sleep(Duration::from_secs(3));
                        s.write_all(head("200 OK", "", 0).as_bytes())
                    }
                    _ => s.write_all(head("404 Not Found", "", 0).as_bytes()),
                };
            });
        }
    });
    port
}

#[test]
fn http_image_urls_only_from_allowed_hosts() {
    let media = common::media();
    let photo =
        std::fs::read(media.join("gallery/Barack_Obama/face_recognition_obama_small.jpg")).unwrap();
    let big = std::fs::read(media.join("group/faceapi_bbt4.jpg")).unwrap();
    assert!(big.len() > photo.len());
    let web = photo_server(photo.clone());
    let big_web = photo_server(big.clone());
    let srv = start(&format!(
        "image_url_hosts = [\"127.0.0.1:{web}\", \"127.0.0.1:{big_web}\"]\nimage_url_timeout_ms = 1000\n[images]\nmax_file_bytes = {}",
        photo.len() + 10
    ));
    let p = srv.port;
    let detect = |url: String| {
        call(
            p,
            "POST",
            "/v2/p/face-detect",
            Some(KEY_A),
            Some(&json!({"image_url": url})),
        )
    };
    let (s, v) = detect(format!("http://127.0.0.1:{web}/ok.jpg"));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["faces"].as_array().map(Vec::len), Some(1));
    // Not on the list: another port, another name for the same host, credentials, other schemes.
    for url in [
        format!("http://127.0.0.1:{}/ok.jpg", free_port()),
        format!("http://localhost:{web}/ok.jpg"),
        "http://169.254.169.254/latest/meta-data".to_string(),
    ] {
        let (s, v) = detect(url.clone());
        assert_eq!(
            (s, v["error_code"].as_str()),
            (403, Some("FRS.0012")),
            "{url}: {v}"
        );
    }
    let (s, v) = detect(format!("http://user:pw@127.0.0.1:{web}/ok.jpg"));
    assert_eq!(
        (s, v["error_code"].as_str()),
        (400, Some("FRS.0012")),
        "{v}"
    );
    // Allowed host, but: a redirect (not followed), a 404, too slow, too large.
    for (path, port, why) in [
        ("/redirect", web, "HTTP 302"),
        ("/nothing", web, "HTTP 404"),
        ("/slow", web, ""),
        ("/ok.jpg", big_web, "larger than"),
    ] {
        let (s, v) = detect(format!("http://127.0.0.1:{port}{path}"));
        assert_eq!(
            (s, v["error_code"].as_str()),
            (400, Some("FRS.0016")),
            "{path}: {v}"
        );
        assert!(
            v["error_msg"].as_str().unwrap().contains(why),
            "{path}: {v}"
        );
    }
    // The same fetch works for face-set adds and Baidu's image_type URL.
    let (s, _) = call(
        p,
        "POST",
        "/v2/p/face-sets",
        Some(KEY_A),
        Some(&json!({"face_set_name": "web"})),
    );
    assert_eq!(s, 200);
    let (s, v) = call(
        p,
        "POST",
        "/v2/p/face-sets/web/faces",
        Some(KEY_A),
        Some(&json!({"image_url": format!("http://127.0.0.1:{web}/ok.jpg")})),
    );
    assert_eq!(s, 200, "{v}");
    let (s, v) = call_raw(
        p,
        "POST",
        &format!("/rest/2.0/face/v3/detect?access_token={KEY_A}"),
        None,
        json!({"image": format!("http://127.0.0.1:{web}/ok.jpg"), "image_type": "URL"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!((s, v["error_code"].as_i64()), (200, Some(0)), "{v}");
}

/// An HTTPS server on 127.0.0.1 with `cert` that answers every request with `photo`.
fn https_photo_server(photo: Vec<u8>, cert: &common::tls::CertFiles) -> u16 {
    let tls = std::sync::Arc::new(facestream::tls::server_config(&cert.cert, &cert.key).unwrap());
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for sock in l.incoming().flatten() {
            let (photo, tls) = (photo.clone(), tls.clone());
            std::thread::spawn(move || {
                let conn = tokio_rustls::rustls::ServerConnection::new(tls).unwrap();
                let mut s = tokio_rustls::rustls::StreamOwned::new(conn, sock);
                let mut buf = [0u8; 4096];
                if s.read(&mut buf).unwrap_or(0) == 0 {
                    return; // the handshake failed: the client did not trust us
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    photo.len()
                );
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&photo);
                s.conn.send_close_notify();
                let _ = s.flush();
            });
        }
    });
    port
}

#[test]
fn https_image_urls_trust_the_configured_ca() {
    let media = common::media();
    let photo =
        std::fs::read(media.join("gallery/Barack_Obama/face_recognition_obama_small.jpg")).unwrap();
    let dir = std::env::temp_dir().join(format!("fs-api-https-url-{}", std::process::id()));
    let cert = common::tls::self_signed(&dir, "images");
    let web = https_photo_server(photo, &cert);
    let url = format!("https://127.0.0.1:{web}/ok.jpg");
    let detect = |srv: &Server| {
        call(
            srv.port,
            "POST",
            "/v2/p/face-detect",
            Some(KEY_A),
            Some(&json!({ "image_url": url })),
        )
    };
    // The image server's private CA is trusted: the photo is fetched over TLS and analysed.
    let trusted = start(&format!(
        "image_url_hosts = [\"127.0.0.1:{web}\"]\nimage_url_ca_file = \"{}\"",
        cert.cert.display()
    ));
    let (s, v) = detect(&trusted);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["faces"].as_array().map(Vec::len), Some(1), "{v}");
    drop(trusted);
    // Without it the built-in public roots do not know that CA: the download is refused.
    let public = start(&format!("image_url_hosts = [\"127.0.0.1:{web}\"]"));
    let (s, v) = detect(&public);
    println!("untrusted image server: {v}");
    assert_eq!(
        (s, v["error_code"].as_str()),
        (400, Some("FRS.0016")),
        "{v}"
    );
    assert!(
        v["error_msg"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("certificate"),
        "{v}"
    );
}

/// Schemathesis (installed by `scripts/setup.sh --with-test-tools`) generates requests for every
/// operation in /openapi.json — FRS and Baidu paths — and checks that none gets a 5xx.
#[test]
fn schemathesis_finds_no_server_error() {
    let st = std::env::var("FACESTREAM_SCHEMATHESIS")
        .unwrap_or_else(|_| "/opt/facestream-tools/bin/st".to_string());
    assert!(
        std::path::Path::new(&st).exists(),
        "{st} missing: run scripts/setup.sh --with-test-tools"
    );
    let srv = start("rate_per_second = 0.0");
    let out = Command::new(&st)
        .args([
            "run",
            &format!("http://127.0.0.1:{}/openapi.json", srv.port),
            "--checks",
            "not_a_server_error",
            "--header",
            &format!("X-Auth-Token: {KEY_A}"),
            "--max-examples",
            "20",
            "--phases",
            "coverage,fuzzing",
            "--seed",
            "7",
            "--request-timeout",
            "30",
        ])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let summary: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("generated") || l.contains("Tested") || l.contains("Selected"))
        .collect();
    println!("schemathesis: {summary:?}");
    assert!(
        out.status.success(),
        "schemathesis failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(" passed"), "{text}");
}

/// Headers of a Tencent Cloud API 3.0 call signed with TC3-HMAC-SHA256, written from Tencent's
/// published algorithm (independently of the server's code).
fn tc3_headers(id: &str, key: &str, action: &str, ts: i64, body: &[u8]) -> Vec<(String, String)> {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mac = |k: &[u8], m: &[u8]| {
        let mut h = <Hmac<Sha256> as Mac>::new_from_slice(k).unwrap();
        h.update(m);
        h.finalize().into_bytes().to_vec()
    };
    let ctype = "application/json; charset=utf-8";
    let canonical = format!(
        "POST\n/\n\ncontent-type:{ctype}\nhost:localhost\n\ncontent-type;host\n{}",
        hex(&Sha256::digest(body))
    );
    let days = ts.div_euclid(86_400);
    // Civil date of `days` since 1970-01-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let (d, m) = (
        doy - (153 * mp + 2) / 5 + 1,
        if mp < 10 { mp + 3 } else { mp - 9 },
    );
    let date = format!("{:04}-{m:02}-{d:02}", yoe + era * 400 + i64::from(m <= 2));
    let scope = format!("{date}/iai/tc3_request");
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{ts}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let k = mac(
        &mac(
            &mac(format!("TC3{key}").as_bytes(), date.as_bytes()),
            b"iai",
        ),
        b"tc3_request",
    );
    let sig = hex(&mac(&k, to_sign.as_bytes()));
    vec![
        ("Content-Type".into(), ctype.into()),
        ("X-TC-Action".into(), action.into()),
        ("X-TC-Version".into(), "2020-03-03".into()),
        ("X-TC-Timestamp".into(), ts.to_string()),
        ("Authorization".into(), format!("TC3-HMAC-SHA256 Credential={id}/{scope}, SignedHeaders=content-type;host, Signature={sig}")),
    ]
}

const TENCENT_KEYS: &str = "rate_per_second = 0.0\n[[api.keys]]\nkey = \"AKID-tencent-client\"\ntenant = \"t\"\nsecret = \"tc3-secret-key-value\"";

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// One Tencent action signed with TC3 by the `TENCENT_KEYS` client; the `Response` object.
fn tencent(port: u16, action: &str, body: Value) -> Value {
    let raw = body.to_string();
    let h = tc3_headers(
        "AKID-tencent-client",
        "tc3-secret-key-value",
        action,
        unix_now(),
        raw.as_bytes(),
    );
    let (s, _, v) = call_full(port, "POST", "/", &h, raw.as_bytes());
    assert_eq!(s, 200, "{action}: {v}");
    assert!(v["Response"]["RequestId"].is_string(), "{v}");
    v["Response"].clone()
}

/// The error code of a Tencent response, "" on success.
fn tc_error(r: &Value) -> String {
    r["Error"]["Code"].as_str().unwrap_or("").to_string()
}

#[test]
fn tencent_actions_with_tc3_signatures() {
    let media = common::media();
    let srv = start(TENCENT_KEYS);
    let p = srv.port;
    let now = unix_now;
    let tc = |action: &str, body: Value| tencent(p, action, body);
    let error = tc_error;
    let img = |rel: &str| b64(&media.join(rel));
    let obama1 = img("gallery/Barack_Obama/face_recognition_obama_small.jpg");
    let obama2 = img("gallery/Barack_Obama/face_recognition_knn_test_obama1.jpg");
    let biden = img("gallery/Joe_Biden/face_recognition_biden2.jpg");

    assert_eq!(
        error(&tc(
            "CreateGroup",
            json!({"GroupId": "office", "GroupName": "Office"})
        )),
        ""
    );
    assert_eq!(
        error(&tc(
            "CreateGroup",
            json!({"GroupId": "office", "GroupName": "Office"})
        )),
        "InvalidParameterValue.GroupIdAlreadyExist"
    );
    let r = tc(
        "CreatePerson",
        json!({"GroupId": "office", "PersonId": "obama", "PersonName": "Barack Obama", "Image": obama1}),
    );
    assert!(
        r["FaceId"].is_string() && r["FaceRect"]["Width"].as_i64().unwrap() > 40,
        "{r}"
    );
    assert_eq!(
        error(&tc(
            "CreatePerson",
            json!({"GroupId": "office", "PersonId": "obama", "PersonName": "x", "Image": obama1})
        )),
        "InvalidParameterValue.PersonIdAlreadyExist"
    );
    assert_eq!(
        error(&tc(
            "CreatePerson",
            json!({"GroupId": "office", "PersonId": "biden", "PersonName": "Joe Biden", "Image": biden})
        )),
        ""
    );
    let r = tc(
        "SearchFaces",
        json!({"GroupIds": ["office"], "Image": obama2, "MaxPersonNum": 3}),
    );
    let c = &r["Results"][0]["Candidates"];
    assert_eq!(
        (c[0]["PersonId"].as_str(), c[0]["PersonName"].as_str()),
        (Some("obama"), Some("Barack Obama")),
        "{r}"
    );
    assert!(c[0]["Score"].as_f64().unwrap() > 46.0, "{r}");
    assert_eq!(
        tc("VerifyFace", json!({"PersonId": "obama", "Image": obama2}))["IsMatch"],
        true
    );
    assert_eq!(
        tc("VerifyFace", json!({"PersonId": "biden", "Image": obama2}))["IsMatch"],
        false
    );
    let s = tc("CompareFace", json!({"ImageA": obama1, "ImageB": obama2}))["Score"]
        .as_f64()
        .unwrap();
    let d = tc("CompareFace", json!({"ImageA": obama1, "ImageB": biden}))["Score"]
        .as_f64()
        .unwrap();
    assert!(s > 46.0 && d < 46.0, "{s} {d}");
    let r = tc(
        "DetectFace",
        json!({"Image": obama1, "NeedFaceAttributes": 1, "NeedQualityDetection": 1}),
    );
    let f = &r["FaceInfos"][0];
    assert!(r["ImageWidth"].as_u64().unwrap() > 0, "{r}");
    assert!(
        f["FaceAttributesInfo"]["Gender"].as_i64().unwrap() >= 50,
        "male: {r}"
    );
    assert_eq!(f["FaceAttributesInfo"]["Mask"], false);
    assert!(
        f["FaceQualityInfo"]["Score"].is_number() && f["FaceAttributesInfo"]["Yaw"].is_number(),
        "{r}"
    );
    assert_eq!(tc("GetGroupList", json!({}))["GroupNum"], 1);
    assert_eq!(error(&tc("DeletePerson", json!({"PersonId": "obama"}))), "");
    assert_eq!(
        error(&tc(
            "VerifyFace",
            json!({"PersonId": "obama", "Image": obama2})
        )),
        "InvalidParameterValue.PersonIdNotExist"
    );
    assert_eq!(error(&tc("DeleteGroup", json!({"GroupId": "office"}))), "");
    assert_eq!(
        error(&tc("DeleteGroup", json!({"GroupId": "office"}))),
        "InvalidParameterValue.GroupIdNotExist"
    );
    // Bad input.
    assert_eq!(error(&tc("DetectFace", json!({}))), "MissingParameter");
    assert_eq!(
        error(&tc("DetectFace", json!({"Image": "@@@"}))),
        "FailedOperation.ImageDecodeFailed"
    );
    assert_eq!(
        error(&tc(
            "DetectFace",
            json!({"Image": img("negatives/dlib_dogs.jpg")})
        )),
        "InvalidParameterValue.NoFaceInPhoto"
    );
    assert_eq!(
        error(&tc(
            "DetectFace",
            json!({"Image": obama1, "MaxFaceNum": 500})
        )),
        "InvalidParameterValue"
    );
    assert_eq!(error(&tc("FlyToTheMoon", json!({}))), "InvalidAction");
    // Signatures: a tampered body, an old timestamp, an unknown SecretId. (TC3 has no nonce: a repeat
    // within the window is accepted, as by Tencent.)
    let raw = json!({}).to_string();
    let mut h = tc3_headers(
        "AKID-tencent-client",
        "tc3-secret-key-value",
        "GetGroupList",
        now(),
        raw.as_bytes(),
    );
    let (s, _, v) = call_full(p, "POST", "/", &h, b"{\"Offset\":1}");
    assert_eq!(
        (s, v["Response"]["Error"]["Code"].as_str()),
        (403, Some("AuthFailure.SignatureFailure")),
        "{v}"
    );
    let (s, _, _) = call_full(p, "POST", "/", &h, raw.as_bytes());
    assert_eq!(s, 200);
    h = tc3_headers(
        "AKID-tencent-client",
        "tc3-secret-key-value",
        "GetGroupList",
        now() - 3600,
        raw.as_bytes(),
    );
    let (s, _, v) = call_full(p, "POST", "/", &h, raw.as_bytes());
    assert_eq!(
        (s, v["Response"]["Error"]["Code"].as_str()),
        (403, Some("AuthFailure.SignatureExpire")),
        "{v}"
    );
    h = tc3_headers("AKID-nobody", "x", "GetGroupList", now(), raw.as_bytes());
    let (s, _, v) = call_full(p, "POST", "/", &h, raw.as_bytes());
    assert_eq!(
        (s, v["Response"]["Error"]["Code"].as_str()),
        (403, Some("AuthFailure.SecretIdNotFound")),
        "{v}"
    );
    // The tenant's groups are its own: another key's token sees none of them.
    let h = vec![
        ("X-Auth-Token".to_string(), KEY_A.to_string()),
        ("X-TC-Action".to_string(), "GetGroupList".to_string()),
    ];
    let (s, _, v) = call_full(p, "POST", "/", &h, b"{}");
    assert_eq!((s, &v["Response"]["GroupNum"]), (200, &json!(0)), "{v}");
}

#[test]
fn tencent_persons_their_faces_groups_and_passive_liveness() {
    let media = common::media();
    let srv = start(TENCENT_KEYS);
    let tc = |action: &str, body: Value| tencent(srv.port, action, body);
    let ok = |action: &str, body: Value| {
        let r = tc(action, body);
        assert_eq!(tc_error(&r), "", "{action}: {r}");
        r
    };
    let img = |rel: &str| b64(&media.join(rel));
    let obama1 = img("gallery/Barack_Obama/face_recognition_obama_small.jpg");
    let obama2 = img("gallery/Barack_Obama/face_recognition_knn_test_obama1.jpg");
    let dogs = img("negatives/dlib_dogs.jpg");
    for g in ["office", "lab"] {
        ok("CreateGroup", json!({"GroupId": g, "GroupName": g}));
    }
    let f1 = ok(
        "CreatePerson",
        json!({"GroupId": "office", "PersonId": "obama", "PersonName": "Barack Obama", "Image": obama1}),
    )["FaceId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(f1.len(), 19, "Tencent-style face id: {f1}");

    // CreateFace: each image on its own; a photo without a face is reported, not fatal.
    let r = ok(
        "CreateFace",
        json!({"PersonId": "obama", "Images": [obama2, dogs]}),
    );
    assert_eq!(r["SucFaceNum"], 1, "{r}");
    assert_eq!(r["RetCode"], json!([0, -1101]), "{r}");
    assert_eq!(r["SucIndexes"], json!([0]), "{r}");
    let f2 = r["SucFaceIds"][0].as_str().unwrap().to_string();
    let info = ok("GetPersonBaseInfo", json!({"PersonId": "obama"}));
    assert_eq!(info["PersonName"], "Barack Obama");
    assert_eq!(info["FaceIds"], json!([f1, f2]), "{info}");

    // CopyPerson: into lab (office is skipped: already there); search finds him in lab.
    let r = ok(
        "CopyPerson",
        json!({"PersonId": "obama", "GroupIds": ["lab", "office"]}),
    );
    assert_eq!(
        (r["SucGroupNum"].as_u64(), &r["SucGroupIds"]),
        (Some(1), &json!(["lab"])),
        "{r}"
    );
    let r = ok("GetPersonGroupInfo", json!({"PersonId": "obama"}));
    assert_eq!(r["GroupNum"], 2, "{r}");
    let r = ok("SearchFaces", json!({"GroupIds": ["lab"], "Image": obama2}));
    assert_eq!(r["Results"][0]["Candidates"][0]["PersonId"], "obama", "{r}");
    let r = ok("GetPersonList", json!({"GroupId": "lab"}));
    assert_eq!(
        (r["PersonNum"].as_u64(), r["FaceNum"].as_u64()),
        (Some(1), Some(2)),
        "{r}"
    );
    assert_eq!(
        r["PersonInfos"][0]["FaceIds"],
        json!([f1, f2]),
        "same face ids in every group: {r}"
    );

    // One name per person, in every group.
    ok(
        "ModifyPersonBaseInfo",
        json!({"PersonId": "obama", "PersonName": "B. Obama"}),
    );
    let r = ok("GetPersonList", json!({"GroupId": "lab"}));
    assert_eq!(r["PersonInfos"][0]["PersonName"], "B. Obama", "{r}");

    // DeleteFace removes the face from every group; the last face stays.
    let r = ok("DeleteFace", json!({"PersonId": "obama", "FaceIds": [f1]}));
    assert_eq!(
        (r["SucDeletedNum"].as_u64(), &r["SucFaceIds"]),
        (Some(1), &json!([f1])),
        "{r}"
    );
    assert_eq!(
        ok("GetPersonBaseInfo", json!({"PersonId": "obama"}))["FaceIds"],
        json!([f2])
    );
    assert_eq!(ok("GetPersonList", json!({"GroupId": "lab"}))["FaceNum"], 1);
    assert_eq!(
        tc_error(&tc(
            "DeleteFace",
            json!({"PersonId": "obama", "FaceIds": [f2]})
        )),
        "InvalidParameterValue.DeleteFaceNumExceed"
    );
    let five = vec![obama1.clone(); 5];
    assert_eq!(
        tc_error(&tc(
            "CreateFace",
            json!({"PersonId": "obama", "Images": five})
        )),
        "InvalidParameterValue.PersonFaceNumExceed"
    );
    assert_eq!(
        ok("GetPersonBaseInfo", json!({"PersonId": "obama"}))["FaceIds"],
        json!([f2])
    );

    // Person ids are unique: CreatePerson in another group is refused (CopyPerson does that).
    assert_eq!(
        tc_error(&tc(
            "CreatePerson",
            json!({"GroupId": "lab", "PersonId": "obama", "PersonName": "x", "Image": obama1})
        )),
        "InvalidParameterValue.PersonIdAlreadyExist"
    );
    // Leaving groups: out of lab, not in lab again, out of office = gone.
    ok(
        "DeletePersonFromGroup",
        json!({"PersonId": "obama", "GroupId": "lab"}),
    );
    assert_eq!(
        tc_error(&tc(
            "DeletePersonFromGroup",
            json!({"PersonId": "obama", "GroupId": "lab"})
        )),
        "FailedOperation.GroupPersonMapNotExist"
    );
    assert_eq!(
        ok("GetPersonGroupInfo", json!({"PersonId": "obama"}))["GroupNum"],
        1
    );
    ok(
        "DeletePersonFromGroup",
        json!({"PersonId": "obama", "GroupId": "office"}),
    );
    assert_eq!(
        tc_error(&tc("GetPersonBaseInfo", json!({"PersonId": "obama"}))),
        "InvalidParameterValue.PersonIdNotExist"
    );
    let r = ok("GetGroupInfo", json!({"GroupId": "office"}));
    assert_eq!(r["GroupId"], "office", "{r}");
    assert_eq!(
        tc_error(&tc("GetGroupInfo", json!({"GroupId": "nowhere"}))),
        "InvalidParameterValue.GroupIdNotExist"
    );
    assert_eq!(
        tc_error(&tc("GetPersonList", json!({"GroupId": "nowhere"}))),
        "InvalidParameterValue.GroupIdNotExist"
    );
    assert_eq!(
        tc_error(&tc(
            "CopyPerson",
            json!({"PersonId": "ghost", "GroupIds": ["lab"]})
        )),
        "InvalidParameterValue.PersonIdNotExist"
    );
    assert_eq!(
        tc_error(&tc(
            "CreateFace",
            json!({"PersonId": "ghost", "Images": [obama1]})
        )),
        "InvalidParameterValue.PersonIdNotExist"
    );

    // DetectLiveFace: the anti-spoof model's score for the largest face.
    for (rel, live) in [
        (
            "gallery/Barack_Obama/face_recognition_knn_test_obama1.jpg",
            true,
        ),
        ("gallery/Joe_Biden/face_recognition_biden2.jpg", true),
        ("spoof/minivision_image_T1.jpg", true),
        ("spoof/liveportrait_s11_printed_photo_in_hand.jpg", false),
        ("spoof/minivision_image_F1.jpg", false),
        ("spoof/minivision_image_F2.jpg", false),
    ] {
        let r = ok("DetectLiveFace", json!({"Image": img(rel)}));
        println!(
            "DetectLiveFace {rel}: Score {} IsLiveness {}",
            r["Score"], r["IsLiveness"]
        );
        assert_eq!(r["IsLiveness"], live, "{rel}: {r}");
    }
    assert_eq!(
        tc_error(&tc("DetectLiveFace", json!({"Image": dogs}))),
        "InvalidParameterValue.NoFaceInPhoto"
    );
    // Every action the spec lists is answered (an empty body: a parameter error, or the empty group
    // list), never InvalidAction.
    for action in facestream::api::tencent::ACTIONS {
        let code = tc_error(&tc(action, json!({})));
        assert!(
            code.starts_with("MissingParameter")
                || code.starts_with("InvalidParameter")
                || *action == "GetGroupList",
            "{action}: {code}"
        );
    }
}
