//! The daemon as systemd runs it: `facestream run --config`, /metrics and /healthz, SIGHUP reloads
//! cameras without touching the others, SIGTERM stops cleanly and says so on `<prefix>/available`.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::services::{free_port, wait_until, Mosquitto, Subscriber};
use serde_json::json;

fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    let code = body
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, body)
}

/// `/healthz`: the status code and the JSON report.
fn health(port: u16) -> (u16, serde_json::Value) {
    let (code, raw) = http_get(port, "/healthz");
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or("");
    (
        code,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

fn config(broker: u16, http: u16, cameras: &[(&str, &str)]) -> String {
    let mut t = format!(
        "[mqtt]\nport = {broker}\ntopic_prefix = \"ops\"\nclient_id = \"ops-{broker}\"\n[http]\nbind = \"127.0.0.1:{http}\"\n[pipeline]\nno_frame_timeout_ms = 3000\n"
    );
    for (id, uri) in cameras {
        t.push_str(&format!(
            "[[cameras]]\nid = \"{id}\"\nuri = \"{uri}\"\ndetect_fps = 5\nloop = true\n"
        ));
    }
    t
}

#[test]
fn metrics_health_reload_and_clean_stop() {
    let media = common::media();
    let broker = Mosquitto::start(free_port());
    let sub = Subscriber::start(broker.port, "ops/#");
    let http = free_port();
    let lobby = media
        .join("video/intel_face-demographics-walking-and-pause.mp4")
        .display()
        .to_string();
    let hall = media
        .join("video/liveportrait_d20.mp4")
        .display()
        .to_string();
    let dir = common::Scratch::new("fs-ops");
    let cfg = dir.join("facestream.toml");
    std::fs::write(&cfg, config(broker.port, http, &[("lobby", &lobby)])).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_facestream"))
        .args(["--config", cfg.to_str().unwrap(), "run"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status_of = |cam: &str| -> Vec<String> {
        sub.on(&format!("ops/{cam}/status"))
            .iter()
            .map(|s| s["status"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(30), || status_of("lobby")
            .contains(&"running".to_string())),
        "lobby never ran"
    );
    assert!(
        wait_until(Duration::from_secs(30), || !sub
            .on("ops/lobby/face")
            .is_empty()),
        "no face events"
    );

    let (code, metrics) = http_get(http, "/metrics");
    assert_eq!(code, 200);
    for name in [
        "facestream_frames_in_total{camera=\"lobby\"}",
        "facestream_frames_dropped_total{camera=\"lobby\"}",
        "facestream_frame_queue_depth{camera=\"lobby\"}",
        "facestream_detect_batches_total",
        "facestream_detect_inference_microseconds_total",
        "facestream_events_published_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    let (code, h) = health(http);
    println!("/healthz: {h}");
    assert_eq!(code, 200);
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["mqtt"], "connected", "{h}");
    assert_eq!(h["cameras"]["lobby"]["status"], "running", "{h}");
    assert_eq!(h["cameras"]["lobby"]["online"], true, "{h}");
    assert!(
        h["cameras"]["lobby"]["frames_in"].as_u64().unwrap_or(0) > 0,
        "{h}"
    );

    // SIGHUP with a second camera: it starts; the first keeps running without a restart.
    let buffering_before = status_of("lobby")
        .iter()
        .filter(|s| *s == "buffering")
        .count();
    std::fs::write(
        &cfg,
        config(broker.port, http, &[("lobby", &lobby), ("hall", &hall)]),
    )
    .unwrap();
    assert!(Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    assert!(
        wait_until(Duration::from_secs(30), || status_of("hall")
            .contains(&"running".to_string())),
        "hall did not start on reload"
    );
    assert_eq!(
        status_of("lobby")
            .iter()
            .filter(|s| *s == "buffering")
            .count(),
        buffering_before,
        "lobby was restarted by the reload"
    );
    let (_, h) = health(http);
    assert_eq!(h["cameras"]["hall"]["status"], "running", "{h}");
    // A file SIGHUP must refuse: the daemon and its running cameras stay.
    let mut refused_reload = |contents: &str, what: &str| {
        std::fs::write(&cfg, contents).unwrap();
        assert!(Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap()
            .success());
        std::thread::sleep(Duration::from_secs(1));
        assert!(
            child.try_wait().unwrap().is_none(),
            "{what} stopped the daemon"
        );
        let faces_before = sub.on("ops/hall/face").len();
        assert!(
            wait_until(Duration::from_secs(20), || sub.on("ops/hall/face").len()
                > faces_before),
            "hall stopped after {what} was reloaded"
        );
    };
    refused_reload("[pipeline]\nbatch_size = 0\n", "an invalid file");
    // An empty file (truncated, half-saved) used to stop every camera: it is refused too; only
    // an explicit `cameras = []` stops them all.
    refused_reload("", "an empty file");
    assert!(
        !status_of("hall").contains(&"stopped".to_string()),
        "an empty file stopped the cameras"
    );

    // SIGTERM: a clean stop, `available` goes offline.
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let mut exited = None;
    wait_until(Duration::from_secs(20), || {
        exited = child.try_wait().unwrap();
        exited.is_some()
    });
    let status = exited.expect("daemon did not stop within 20 s of SIGTERM");
    assert!(status.success(), "{status}");
    assert!(
        wait_until(Duration::from_secs(5), || sub
            .raw("ops/available")
            .last()
            .is_some_and(|s| s == "offline")),
        "{:?}",
        sub.raw("ops/available")
    );
    let ends = sub
        .on("ops/hall/face")
        .iter()
        .filter(|f| f["event"] == "end")
        .count();
    assert!(ends >= 1, "open tracks end (and are flushed) on stop");
}

/// Events produced while the broker is down survive `kill -9` (the on-disk journal of
/// `mqtt.spool_dir`) and are delivered by the next start.
#[test]
fn events_survive_kill_9_while_the_broker_is_down() {
    let media = common::media();
    let port = free_port(); // no broker yet
    let http = free_port();
    let dir = common::Scratch::new("fs-ops-kill");
    let spool = dir.join("spool");
    let produced_file = dir.join("produced.jsonl");
    let lobby = media
        .join("video/intel_face-demographics-walking-and-pause.mp4")
        .display()
        .to_string();
    let with_spool = |cams: &[(&str, &str)]| {
        let mut t = config(port, http, cams);
        t = t.replacen(
            "[mqtt]\n",
            &format!("[mqtt]\nspool_dir = \"{}\"\n", spool.display()),
            1,
        );
        t
    };
    let cfg = dir.join("facestream.toml");
    std::fs::write(&cfg, with_spool(&[("lobby", &lobby)])).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_facestream"))
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "run",
            "--events",
            produced_file.to_str().unwrap(),
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let faces = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(&produced_file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["track_id"].is_u64())
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(40), || faces().len() >= 5),
        "face events while the broker is away"
    );
    std::thread::sleep(Duration::from_millis(500));
    // A lost broker is reported, not fatal: the daemon still works and says its events wait.
    let (code, h) = health(http);
    // SIGKILL: no shutdown code runs.
    child.kill().unwrap();
    child.wait().unwrap();
    println!("/healthz without a broker: {h}");
    assert_eq!(
        (code, &h["status"], &h["mqtt"]),
        (200, &json!("ok"), &json!("down")),
        "{h}"
    );
    assert!(h["events_buffered"].as_u64().unwrap_or(0) > 0, "{h}");
    let produced = faces();
    let journal = std::fs::read_to_string(spool.join("mqtt-journal.jsonl")).unwrap();
    println!(
        "{} face events produced, {} journal lines at kill -9",
        produced.len(),
        journal.lines().count()
    );

    let broker = Mosquitto::start(port);
    let sub = Subscriber::start(port, "ops/#");
    std::fs::write(&cfg, with_spool(&[])).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_facestream"))
        .args(["--config", cfg.to_str().unwrap(), "run"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The event id, not (track, phase, time): the new run's tracks restart at 1 and its file at
    // time 0, so its own events could stand in for lost ones.
    let key = |v: &serde_json::Value| v["event_id"].as_str().map(String::from);
    let ids: std::collections::HashSet<_> = produced.iter().map(key).collect();
    assert_eq!(ids.len(), produced.len(), "every event has its own id");
    assert!(!ids.contains(&None));
    let delivered = wait_until(Duration::from_secs(30), || {
        let got: std::collections::HashSet<_> = sub.on("ops/lobby/face").iter().map(key).collect();
        produced.iter().all(|p| got.contains(&key(p)))
    });
    let got = sub.on("ops/lobby/face").len();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    println!(
        "after restart: {got} face events delivered for {} produced before kill -9",
        produced.len()
    );
    assert!(
        delivered,
        "every face event produced before kill -9 is delivered after the restart"
    );
    drop(broker);
}

/// `scripts/install.sh --root DIR` lays out every path the systemd unit names, and the installed
/// binary runs on the installed models and config.
#[test]
fn install_script_lays_out_what_the_unit_expects() {
    let root = common::Scratch::new("fs-install");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(repo.join("scripts/install.sh"))
        .args([
            "--root",
            root.to_str().unwrap(),
            "--binary",
            env!("CARGO_BIN_EXE_facestream"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unit = std::fs::read_to_string(root.join("etc/systemd/system/facestream.service")).unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let mut words = exec.split_whitespace();
    let bin = root.join(words.next().unwrap().trim_start_matches('/'));
    let config = root.join(words.nth(1).unwrap().trim_start_matches('/'));
    let models = unit
        .lines()
        .find_map(|l| l.strip_prefix("Environment=FACESTREAM_MODELS="))
        .map(|m| root.join(m.trim_start_matches('/')))
        .unwrap();
    assert!(
        bin.is_file() && config.is_file(),
        "{} {}",
        bin.display(),
        config.display()
    );
    let manifest = std::fs::read_to_string(repo.join("models/manifest.toml")).unwrap();
    for line in manifest.lines().filter(|l| l.starts_with("file = ")) {
        let f = line.trim_start_matches("file = ").trim_matches('"');
        assert!(models.join(f).is_file(), "{f} not installed");
    }
    assert!(root.join("usr/local/sbin/facestream-admin").is_file());
    // The derived graphs stay newer than their models (a copy in name order stamped the models
    // last, and the daemon then ran every model as shipped, float and unrewritten).
    let mut settings = facestream::models::SessionSettings::from_config(
        &facestream::config::Config::default().models,
    );
    settings.models_dir = models.clone();
    for (role, graph) in [
        (
            facestream::models::Role::AgeGender,
            "age_gender_hse_mobilenet.int8.onnx",
        ),
        (
            facestream::models::Role::Mask,
            "face_mask_mobilenetv2.int8.onnx",
        ),
        (
            facestream::models::Role::Landmarks,
            "face_landmarks_mediapipe_468.fast.onnx",
        ),
        (
            facestream::models::Role::Embedder,
            "face_recognizer_mobilefacenet_192d.fast.onnx",
        ),
    ] {
        let opened = facestream::models::ModelSession::open(&settings, role).unwrap();
        assert_eq!(opened.name(), graph, "installed {role:?}");
    }
    let checked = Command::new(&bin)
        .args(["check-config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let media = common::media();
    let detected = Command::new(&bin)
        .env("FACESTREAM_MODELS", &models)
        .args([
            "detect",
            media
                .join("gallery/Barack_Obama/face_recognition_obama_small.jpg")
                .to_str()
                .unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&detected.stdout).unwrap_or_default();
    assert_eq!(
        v["faces"].as_array().map(std::vec::Vec::len),
        Some(1),
        "{v}"
    );
    // A second run keeps an edited config.
    std::fs::write(&config, "# edited\n[mqtt]\nenabled = false\n").unwrap();
    assert!(Command::new(repo.join("scripts/install.sh"))
        .args([
            "--root",
            root.to_str().unwrap(),
            "--binary",
            env!("CARGO_BIN_EXE_facestream")
        ])
        .output()
        .unwrap()
        .status
        .success());
    assert!(std::fs::read_to_string(&config)
        .unwrap()
        .starts_with("# edited"));
    let _ = std::fs::remove_dir_all(&root);
}
