//! Regression tests for the defects an attacker's and an operator's probing found (issue 12): each
//! one failed against the daemon before its fix.

use super::*;

/// A gauge or counter off /metrics (0 when absent).
fn metric(port: u16, name: &str) -> Option<u64> {
    let mut m = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(m, "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut text = String::new();
    m.read_to_string(&mut text).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// An answer is `status` with FRS error `code` (`context` names the case on failure).
fn assert_error(s: u16, r: &Value, status: u16, code: &str, context: impl std::fmt::Display) {
    assert_eq!(
        (s, r["error_code"].as_str()),
        (status, Some(code)),
        "{context}: {r}"
    );
}

/// A line of /proc/PID/status (`VmRSS`, `Threads`) as a number.
fn proc_status(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn hostile_filters_are_refused_and_the_server_stays_up() {
    let media = common::media();
    let srv = start("");
    let p = srv.port;
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-sets",
        Some(KEY_A),
        Some(&json!({"face_set_name": "f", "external_fields": {"age": {"type": "integer"}}})),
    );
    assert_eq!(s, 200, "{r}");
    let img = b64(&media.join("gallery/Barack_Obama/face_recognition_knn_test_obama1.jpg"));
    let hostile = [
        (
            "2000 parentheses",
            format!("{}age:3{}", "(".repeat(2000), ")".repeat(2000)),
        ),
        ("10 000 '!'", format!("{}age:3", "!".repeat(10_000))),
        ("20 000 terms", vec!["*"; 20_000].join(" && ")),
    ];
    for (what, filter) in &hostile {
        let (s, r) = call(
            p,
            "POST",
            "/v2/p1/face-sets/f/search",
            Some(KEY_A),
            Some(&json!({"image_base64": img, "filter": filter})),
        );
        assert_error(s, &r, 400, "FRS.0409", format!("search, {what}"));
        let (s, r) = call_raw(
            p,
            "DELETE",
            "/v2/p1/face-sets/f/faces/batch",
            Some(KEY_A),
            json!({ "filter": filter }).to_string().as_bytes(),
        );
        assert_error(s, &r, 400, "FRS.0409", format!("batch delete, {what}"));
        println!("{what}: {}", r["error_msg"]);
    }
    // Deeply nested JSON bodies (every family parses JSON): refused, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_obj = format!(
        "{{\"image_base64\": {}1{}}}",
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    for path in [
        "/v2/p1/face-detect",
        "/v2/p1/face-sets/f/search",
        "/rest/2.0/face/v3/detect",
    ] {
        for body in [&deep, &deep_obj] {
            let (s, _) = call_raw(p, "POST", path, Some(KEY_A), body.as_bytes());
            assert!((200..500).contains(&s), "{path}: {s}");
        }
    }
    // Still serving.
    let (s, r) = call(p, "GET", "/v2/p1/face-sets/f", Some(KEY_A), None);
    assert_eq!(s, 200, "{r}");
}

/// 503s used to hand back their slot while their work went on: 16 timed-out live-detect calls
/// ran at once (RSS 86 MB → 3.9 GB). The slot now goes with the work, and the clip written for
/// each is removed on every path.
#[test]
fn timed_out_work_keeps_its_slot_and_leaves_no_temporary_file() {
    let media = common::media();
    let metrics = common::services::free_port();
    let tmp = common::Scratch::new("fs-api-tmp");
    let srv = start_env(
        "max_concurrent = 1\nrequest_timeout_ms = 300\nqueue_timeout_ms = 2500\nrate_per_second = 0.0",
        Some(metrics),
        "",
        &[("TMPDIR", tmp.to_str().unwrap())],
    );
    let pid = srv.child.id();
    let port = srv.port;
    let clip = b64(&media.join("liveness/liveportrait_d0.mp4"));
    let body = json!({"video_base64": clip, "actions": "1,2"});
    let threads_before = proc_status(pid, "Threads");
    let rss_before = proc_status(pid, "VmRSS");
    let callers: Vec<_> = (0..12)
        .map(|_| {
            let b = body.clone();
            std::thread::spawn(move || {
                call(port, "POST", "/v2/p1/live-detect", Some(KEY_A), Some(&b))
            })
        })
        .collect();
    let (mut peak_running, mut peak_rss, mut peak_threads) = (0, 0, 0);
    while !callers.iter().all(std::thread::JoinHandle::is_finished) {
        peak_running =
            peak_running.max(metric(metrics, "facestream_api_inference_running").unwrap_or(99));
        peak_rss = peak_rss.max(proc_status(pid, "VmRSS"));
        peak_threads = peak_threads.max(proc_status(pid, "Threads"));
        std::thread::sleep(Duration::from_millis(20));
    }
    let codes: Vec<(u16, String)> = callers
        .into_iter()
        .map(|c| {
            let (s, r) = c.join().unwrap();
            (s, r["error_code"].as_str().unwrap_or("").to_string())
        })
        .collect();
    println!("12 live-detect calls, one slot, 300 ms timeout: {codes:?}");
    assert!(
        codes
            .iter()
            .all(|(s, c)| *s == 503 && (c == "FRS.0503" || c == "FRS.0504")),
        "{codes:?}"
    );
    // The timed-out work finishes in the background, one at a time.
    assert!(
        wait_until(Duration::from_secs(120), || {
            peak_rss = peak_rss.max(proc_status(pid, "VmRSS"));
            metric(metrics, "facestream_api_inference_running") == Some(0)
        }),
        "background work did not finish"
    );
    let peak = metric(metrics, "facestream_api_inference_peak").unwrap();
    let analyzers = metric(metrics, "facestream_api_analyzers").unwrap();
    println!(
        "peak jobs running {peak} (sampled {peak_running}), analyzers {analyzers}, RSS {} → peak {} MB, threads {threads_before} → peak {peak_threads}",
        rss_before / 1024,
        peak_rss / 1024
    );
    assert_eq!(
        (peak, analyzers),
        (1, 1),
        "work in flight exceeded max_concurrent = 1"
    );
    assert!(peak_rss < 1_500_000, "RSS peaked at {} MB", peak_rss / 1024);
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .filter_map(std::result::Result::ok)
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("facestream-live-"))
        .collect();
    assert!(left.is_empty(), "temporary clips left behind: {left:?}");
    // The slot is free again: a normal request is served.
    let img = b64(&media.join("gallery/Barack_Obama/face_recognition_knn_test_obama1.jpg"));
    let (s, r) = call(
        port,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_B),
        Some(&json!({"image_base64": img})),
    );
    assert_eq!(s, 200, "{r}");
    let _ = std::fs::remove_dir_all(&tmp);
}

/// A host that answers headers, then one byte a second.
fn trickling_server() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut c = conn;
                let mut buf = [0u8; 2048];
                let _ = c.read(&mut buf);
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n");
                for _ in 0..60 {
                    if c.write_all(b"\xff").is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
        }
    });
    port
}

/// Two downloads from a host sending 1 byte/s used to hold the only inference slots: another
/// tenant's detect got 503. Downloads now happen before a slot is taken.
#[test]
fn slow_image_downloads_do_not_hold_inference_slots() {
    let media = common::media();
    let slow = trickling_server();
    let srv = start("max_concurrent = 1\nqueue_timeout_ms = 3000\nimage_url_timeout_ms = 15000\nimage_url_hosts = [\"127.0.0.1\"]\nrate_per_second = 0.0");
    let port = srv.port;
    let slow_calls: Vec<_> = (0..2)
        .map(|i| {
            std::thread::spawn(move || {
                call(
                    port,
                    "POST",
                    "/v2/p1/face-detect",
                    Some(KEY_A),
                    Some(&json!({"image_url": format!("http://127.0.0.1:{slow}/slow{i}.jpg")})),
                )
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let img = b64(&media.join("gallery/Barack_Obama/face_recognition_knn_test_obama1.jpg"));
    let t = std::time::Instant::now();
    let (s, r) = call(
        port,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_B),
        Some(&json!({"image_base64": img})),
    );
    println!(
        "detect beside two trickling downloads: {s} in {} ms",
        t.elapsed().as_millis()
    );
    assert_eq!(s, 200, "{r}");
    assert!(
        slow_calls.iter().all(|c| !c.is_finished()),
        "the slow downloads should still be running"
    );
    drop(srv);
}

/// Files outside `api.image_dir` get one answer whether they exist or not; relative paths resolve
/// against `api.image_dir`, not the daemon's working directory.
#[test]
fn local_image_urls_do_not_probe_the_filesystem() {
    let srv = start("");
    let p = srv.port;
    let ask = |url: &str| {
        let (s, r) = call(
            p,
            "POST",
            "/v2/p1/face-detect",
            Some(KEY_A),
            Some(&json!({"image_url": url})),
        );
        (
            s,
            r["error_code"].as_str().unwrap_or("").to_string(),
            r["error_msg"].as_str().unwrap_or("").replace(url, "URL"),
        )
    };
    let exists = ask("/etc/hostname");
    let missing = ask("/etc/no-such-file-facestream");
    assert_eq!(
        exists, missing,
        "existing and missing files outside image_dir answer alike"
    );
    assert_eq!(exists.0, 403);
    assert_eq!(ask("../../etc/hostname"), ask("../../etc/no-such-file"));
    // Relative to image_dir (the gallery).
    let (s, c, m) = ask("Barack_Obama/face_recognition_knn_test_obama1.jpg");
    assert_eq!(s, 200, "{c} {m}");
    let (s, c, _) = ask("Barack_Obama/none.jpg");
    assert_eq!((s, c.as_str()), (400, "FRS.0020"));
}

/// Out-of-range and mistyped parameters are refused naming the parameter, not replaced by
/// defaults; long strings are refused.
#[test]
fn parameters_out_of_range_are_refused() {
    let media = common::media();
    let srv = start("rate_per_second = 0.0");
    let p = srv.port;
    let img = b64(&media.join("gallery/Barack_Obama/face_recognition_knn_test_obama1.jpg"));
    for cap in [json!(-1), json!(1e20), json!(1.5), json!("5"), json!(0)] {
        let (s, r) = call(
            p,
            "POST",
            "/v2/p1/face-sets",
            Some(KEY_A),
            Some(&json!({"face_set_name": "c", "face_set_capacity": cap})),
        );
        assert_error(s, &r, 400, "FRS.0411", format!("capacity {cap}"));
        assert!(
            r["error_msg"]
                .as_str()
                .unwrap()
                .contains("face_set_capacity"),
            "{r}"
        );
    }
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-sets",
        Some(KEY_A),
        Some(&json!({"face_set_name": "c", "external_fields": {"note": {"type": "string"}}})),
    );
    assert_eq!(s, 200, "{r}");
    for top_n in [
        json!(-1),
        json!(1e20),
        json!(1.5),
        json!("5"),
        json!(0),
        json!(1001),
    ] {
        let (s, r) = call(
            p,
            "POST",
            "/v2/p1/face-sets/c/search",
            Some(KEY_A),
            Some(&json!({"image_base64": img, "top_n": top_n})),
        );
        assert_error(s, &r, 400, "FRS.0411", format!("top_n {top_n}"));
        assert!(r["error_msg"].as_str().unwrap().contains("top_n"), "{r}");
    }
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-sets/c/search",
        Some(KEY_A),
        Some(&json!({"image_base64": img, "top_n": 5})),
    );
    assert_eq!(s, 200, "{r}");
    let long = "x".repeat(5000);
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-sets/c/faces",
        Some(KEY_A),
        Some(&json!({"image_base64": img, "external_fields": {"note": long}})),
    );
    assert_error(s, &r, 400, "FRS.0411", "a 5000-byte string");
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-sets/c/faces",
        Some(KEY_A),
        Some(&json!({"image_base64": img, "user_id": long})),
    );
    assert_error(s, &r, 400, "FRS.0411", "a 5000-byte string");
    let (s, r) = call(p, "GET", "/v2/p1/face-sets/c", Some(KEY_A), None);
    assert_eq!(
        r["face_set_info"]["face_number"], 0,
        "nothing was stored: {s} {r}"
    );
}

/// Every float in `v` (recursively) with more than `max` decimals, as "path=value".
fn long_floats(v: &Value, path: &str, max: usize, out: &mut Vec<String>) {
    match v {
        Value::Number(n) if n.is_f64() => {
            let s = n.to_string();
            if s.split_once('.')
                .is_some_and(|(_, d)| d.trim_end_matches(|c: char| !c.is_ascii_digit()).len() > max)
                || s.contains('e')
            {
                out.push(format!("{path}={s}"));
            }
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| long_floats(x, &format!("{path}[{i}]"), max, out)),
        Value::Object(o) => o
            .iter()
            .for_each(|(k, x)| long_floats(x, &format!("{path}.{k}"), max, out)),
        _ => {}
    }
}

/// The API rounds its floats as the CLI does (4 decimals at most): f32 values used to come out
/// as 0.46000000834465027. Set names carry no tenant prefix in any message.
#[test]
fn api_answers_round_floats_and_hide_tenant_prefixes() {
    let media = common::media();
    let srv = start(&format!(
        "rate_per_second = 0.0\n{}",
        super::tencent::TENCENT_KEYS.replace("rate_per_second = 0.0\n", "")
    ));
    let p = srv.port;
    let img = b64(&media.join("gallery/Barack_Obama/face_recognition_obama_small.jpg"));
    let img2 = b64(&media.join("gallery/Barack_Obama/face_recognition_knn_test_obama1.jpg"));
    let mut answers = vec![];
    let (_, r) = call(
        p,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_A),
        Some(
            &json!({"image_base64": img, "attributes": "0,1,2,3,4,5,6,7", "NeedFaceAttributes": true, "NeedQualityDetection": true}),
        ),
    );
    answers.push(("frs detect", r));
    let (_, r) = call(
        p,
        "POST",
        "/v2/p1/face-compare",
        Some(KEY_A),
        Some(&json!({"image1_base64": img, "image2_base64": img2})),
    );
    answers.push(("frs compare", r));
    let (_, r) = call(
        p,
        "POST",
        "/v2/p1/live-detect-face",
        Some(KEY_A),
        Some(&json!({"image_base64": img})),
    );
    answers.push(("frs live-detect-face", r));
    let (_, r) = call(
        p,
        "POST",
        "/rest/2.0/face/v3/detect",
        Some(KEY_A),
        Some(
            &json!({"image": img, "image_type": "BASE64", "face_field": "age,gender,mask,angle,quality"}),
        ),
    );
    answers.push(("baidu detect", r));
    let (_, r) = call(
        p,
        "POST",
        "/rest/2.0/face/v3/match",
        Some(KEY_A),
        Some(
            &json!([{"image": img, "image_type": "BASE64"}, {"image": img2, "image_type": "BASE64"}]),
        ),
    );
    answers.push(("baidu match", r));
    answers.push((
        "tencent detect",
        super::tencent::tencent(
            p,
            "DetectFace",
            json!({"Image": img, "NeedFaceAttributes": 1, "NeedQualityDetection": 1}),
        ),
    ));
    answers.push((
        "tencent compare",
        super::tencent::tencent(p, "CompareFace", json!({"ImageA": img, "ImageB": img2})),
    ));
    let mut bad = vec![];
    for (what, r) in &answers {
        assert!(r.to_string().len() > 40, "{what}: {r}");
        long_floats(r, what, 4, &mut bad);
    }
    assert!(bad.is_empty(), "unrounded floats: {bad:?}");
    // Tenant prefixes.
    let (_, r) = call(p, "GET", "/v2/p1/face-sets/nosuch", Some(KEY_A), None);
    let msg = r["error_msg"].as_str().unwrap().to_string();
    assert!(msg.contains("\"nosuch\"") && !msg.contains("--"), "{msg}");
    let (_, r) = call(
        p,
        "POST",
        "/v2/p1/face-sets",
        Some(KEY_A),
        Some(&json!({"face_set_name": "dup"})),
    );
    assert!(r["error_code"].is_null(), "{r}");
    let (_, r) = call(
        p,
        "POST",
        "/v2/p1/face-sets",
        Some(KEY_A),
        Some(&json!({"face_set_name": "dup"})),
    );
    let msg = r["error_msg"].as_str().unwrap().to_string();
    assert!(msg.contains("\"dup\"") && !msg.contains("a--"), "{msg}");
    let r = super::tencent::tencent(p, "GetPersonList", json!({"GroupId": "nosuch"}));
    let msg = r["Error"]["Message"].as_str().unwrap_or("").to_string();
    assert!(!msg.contains("t--"), "{msg}");
}
