//! Fuzzing: a seeded fuzz run and schemathesis against /openapi.json; /metrics counts it all.

use super::*;

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

/// Schemathesis (installed by `scripts/setup.sh --with-test-tools`) generates requests for every
/// operation in /openapi.json — FRS, Baidu and Tencent — and checks that none gets a 5xx and that every
/// answer matches its documented response schema.
#[test]
fn schemathesis_finds_no_server_error_and_answers_match_the_spec() {
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
            "not_a_server_error,response_schema_conformance",
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
