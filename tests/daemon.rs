//! The streaming daemon with real parts started by the tests: Mosquitto on a free loopback port and
//! a gstreamer-rtsp-server serving real face videos from ../shared/media.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::services::{free_port, publish, wait_until, Mosquitto, RtspServer, Subscriber};
use facestream::config::{CameraConfig, Config};
use facestream::daemon::{Daemon, RunOptions};

fn camera(id: &str, uri: &str, looping: bool) -> CameraConfig {
    CameraConfig {
        id: id.into(),
        uri: uri.into(),
        detect_fps: 10.0,
        enabled: true,
        looping,
        face_sets: vec![],
    }
}

fn config(broker: u16, cameras: Vec<CameraConfig>) -> Config {
    let mut cfg = Config::default();
    cfg.mqtt.port = broker;
    cfg.mqtt.client_id = format!("facestream-test-{broker}");
    cfg.mqtt.topic_prefix = "fs".into();
    cfg.pipeline.rtsp_tcp_only = true;
    cfg.pipeline.no_frame_timeout_ms = 2000;
    cfg.pipeline.backoff_initial_ms = 300;
    cfg.pipeline.backoff_max_ms = 1000;
    cfg.http.bind = String::new();
    cfg.cameras = cameras;
    cfg.validate().unwrap();
    cfg
}

/// The face events the daemon wrote to its JSONL file that none of `subs` received on `topic`:
/// (how many it made, how many distinct arrived, the missing event ids).
fn missing_events(
    events_file: &std::path::Path,
    subs: &[&Subscriber],
    topic: &str,
) -> (usize, usize, Vec<Option<String>>) {
    let produced: Vec<serde_json::Value> = std::fs::read_to_string(events_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let key = |v: &serde_json::Value| v["event_id"].as_str().map(String::from);
    let received: std::collections::HashSet<_> = subs
        .iter()
        .flat_map(|s| s.on(topic))
        .map(|v| key(&v))
        .collect();
    let missing = produced
        .iter()
        .map(key)
        .filter(|k| !received.contains(k))
        .collect();
    (produced.len(), received.len(), missing)
}

/// The daemon, also writing its face events to `events_file` (what it made, to compare with what
/// the brokers delivered).
fn start_journaling(cfg: Config, events_file: &std::path::Path) -> Daemon {
    Daemon::start(
        cfg,
        RunOptions {
            jsonl: Some(events_file.to_path_buf()),
            jsonl_faces_only: true,
            ..Default::default()
        },
    )
    .unwrap()
}

fn statuses(sub: &Subscriber, cam: &str) -> Vec<String> {
    sub.on(&format!("fs/{cam}/status"))
        .iter()
        .map(|s| s["status"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn rtsp_and_file_cameras_publish_faces_share_batches_and_bad_cameras_fail_alone() {
    let media = common::media();
    let broker = Mosquitto::start(free_port());
    let sub = Subscriber::start(broker.port, "fs/#");
    let server = RtspServer::start(&media.join("video/liveportrait_d10.mp4"), 0);
    let file = media.join("video/intel_face-demographics-walking-and-pause.mp4");
    let cfg = config(
        broker.port,
        vec![
            camera("door", &server.url(), false),
            camera("lobby", &file.display().to_string(), true),
            camera("broken", "rtsp://127.0.0.1:1/nothing", false),
            camera("missing", "/nonexistent/video.mp4", false),
        ],
    );
    // A batch that waits for more frames (the default, 0, takes only the frames already waiting:
    // two lightly loaded cameras then rarely meet in one).
    let mut cfg = cfg;
    cfg.pipeline.batch_timeout_ms = 40;
    let daemon = Daemon::start(cfg, RunOptions::default()).unwrap();
    let got_faces = wait_until(Duration::from_secs(40), || {
        !sub.on("fs/door/face").is_empty() && !sub.on("fs/lobby/face").is_empty()
    });
    let metrics = daemon.metrics.clone();
    std::thread::sleep(Duration::from_secs(2));
    daemon.shutdown();
    assert!(
        got_faces,
        "face events from both cameras; got {:?}",
        sub.messages
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.0.clone())
            .collect::<Vec<_>>()
    );

    // Frames keep the source's size when it is not wider than `pipeline.ingest_width` (640):
    // the 512x512 RTSP stream and the 480x270 file are never upscaled.
    for (cam, w, h) in [("door", 512, 512), ("lobby", 480, 270)] {
        let faces = sub.on(&format!("fs/{cam}/face"));
        println!(
            "{cam}: {} face events, tracks {:?}",
            faces.len(),
            faces
                .iter()
                .map(|f| f["track_id"].as_u64().unwrap())
                .collect::<std::collections::BTreeSet<_>>()
        );
        for f in &faces {
            assert_eq!(f["camera"], cam);
            assert_eq!(f["frame_width"], w);
            assert_eq!(f["frame_height"], h);
            let b = &f["bounding_box"];
            let (x, y, bw, bh) = (
                b["top_left_x"].as_i64().unwrap(),
                b["top_left_y"].as_i64().unwrap(),
                b["width"].as_i64().unwrap(),
                b["height"].as_i64().unwrap(),
            );
            assert!(
                bw > 10
                    && bh > 10
                    && x + bw / 2 > 0
                    && x + bw / 2 < w
                    && y + bh / 2 > 0
                    && y + bh / 2 < h,
                "{cam}: box {b}"
            );
            assert!(f["attributes"]["gender"].is_string() && f["quality"]["blur"].is_number());
        }
        assert!(
            statuses(&sub, cam).contains(&"running".to_string()),
            "{cam}: {:?}",
            statuses(&sub, cam)
        );
    }
    // The door clip shows one woman all along: one track (a second is tolerated for a re-detection).
    let door_tracks: std::collections::BTreeSet<u64> = sub
        .on("fs/door/face")
        .iter()
        .map(|f| f["track_id"].as_u64().unwrap())
        .collect();
    assert!(
        (1..=2).contains(&door_tracks.len()),
        "door tracks {door_tracks:?}"
    );
    // The end events carry a snapshot of the best face.
    assert!(
        sub.on("fs/lobby/face")
            .iter()
            .chain(sub.on("fs/door/face").iter())
            .any(|f| f["event"] == "end"
                && f["snapshot_jpeg"].as_str().is_some_and(|s| s.len() > 100))
    );

    for cam in ["broken", "missing"] {
        let st = sub.on(&format!("fs/{cam}/status"));
        println!(
            "{cam}: {:?}",
            st.iter()
                .map(|s| (s["status"].clone(), s["error"].clone()))
                .collect::<Vec<_>>()
        );
        assert!(
            st.iter().any(|s| s["status"] == "retrying"
                && s["online"] == false
                && s["error"].as_str().is_some_and(|e| !e.is_empty())),
            "{cam}: {st:?}"
        );
        assert!(!st.iter().any(|s| s["status"] == "running"));
    }
    assert!(sub.raw("fs/available").contains(&"online".to_string()));
    let (batches, frames, mixed) = (
        metrics.batches.load(Ordering::Relaxed),
        metrics.batch_frames.load(Ordering::Relaxed),
        metrics.mixed_batches.load(Ordering::Relaxed),
    );
    println!("detection: {batches} batches, {frames} frames, {mixed} shared by both cameras");
    assert!(mixed > 0, "the two cameras should share detection batches");
    // `detector.zoom_face_px` on a live stream (RTSP timestamps, not a file's): the door's large
    // face is detected at a reduced input on some frames and at full size on others (its 250-ms
    // cycle), its boxes in the frame's own coordinates (checked above). The lobby's small faces
    // (walking-and-pause) are never reduced (`analyze`: 0 of 41 frames).
    let zoomed = metrics.frames_zoomed.load(Ordering::Relaxed);
    let door_frames = metrics
        .camera("door")
        .frames_detected
        .load(Ordering::Relaxed);
    println!("door: {zoomed} of {door_frames} frames detected at a reduced input");
    assert!(
        zoomed > 0 && zoomed < door_frames,
        "{zoomed} of {door_frames} door frames reduced"
    );
    drop(server);
}

#[test]
fn killing_the_rtsp_server_gives_retrying_and_restarting_it_gives_running_again() {
    let media = common::media();
    let broker = Mosquitto::start(free_port());
    let sub = Subscriber::start(broker.port, "fs/#");
    let port = free_port();
    let server = RtspServer::start(&media.join("video/liveportrait_d10.mp4"), port);
    let daemon = Daemon::start(
        config(broker.port, vec![camera("door", &server.url(), false)]),
        RunOptions::default(),
    )
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || !sub
            .on("fs/door/face")
            .is_empty()),
        "no face before the kill"
    );
    server.kill();
    assert!(
        wait_until(Duration::from_secs(30), || statuses(&sub, "door")
            .last()
            .is_some_and(|s| s == "retrying" || s == "buffering")
            && statuses(&sub, "door").iter().any(|s| s == "retrying")),
        "camera should go offline: {:?}",
        statuses(&sub, "door")
    );
    let before = sub.on("fs/door/face").len();
    let server = RtspServer::start(&media.join("video/liveportrait_d10.mp4"), port);
    let resumed = wait_until(Duration::from_secs(40), || {
        sub.on("fs/door/face").len() > before
    });
    let st = statuses(&sub, "door");
    daemon.shutdown();
    drop(server);
    println!("door statuses: {st:?}");
    assert!(
        resumed,
        "events should resume after the server returns: {st:?}"
    );
    let first_retry = st.iter().position(|s| s == "retrying").unwrap();
    assert!(
        st[first_retry..].iter().any(|s| s == "running"),
        "running again after retrying: {st:?}"
    );
}

#[test]
fn stopping_and_restarting_the_broker_loses_no_event() {
    let media = common::media();
    let port = free_port();
    let broker = Mosquitto::start(port);
    let sub = Subscriber::start(port, "fs/+/face");
    let dir = common::Scratch::new("facestream-events");
    let events_file = dir.join("events.jsonl");
    let file = media.join("video/intel_face-demographics-walking-and-pause.mp4");
    let mut cfg = config(
        port,
        vec![camera("lobby", &file.display().to_string(), true)],
    );
    cfg.tracking.update_interval_ms = 300;
    let daemon = start_journaling(cfg, &events_file);
    assert!(wait_until(Duration::from_secs(30), || sub
        .on("fs/lobby/face")
        .len()
        >= 3));
    broker.stop();
    // Events keep coming while the broker is away: they wait in the daemon's buffer.
    std::thread::sleep(Duration::from_secs(4));
    let broker = Mosquitto::start(port);
    assert!(wait_until(Duration::from_secs(10), || sub
        .subscribed
        .load(Ordering::SeqCst)));
    std::thread::sleep(Duration::from_secs(3));
    let metrics = daemon.metrics.clone();
    daemon.shutdown();
    std::thread::sleep(Duration::from_millis(500));
    let (produced, received, missing) = missing_events(&events_file, &[&sub], "fs/lobby/face");
    println!(
        "produced {produced} face events, received {received} distinct, missing {}; reconnects {}, overflowed {}",
        missing.len(),
        metrics.mqtt_reconnects.load(Ordering::Relaxed),
        metrics.events_overflowed.load(Ordering::Relaxed)
    );
    assert!(
        produced >= 6,
        "expected events before and during the outage"
    );
    assert!(missing.is_empty(), "lost events: {missing:?}");
    drop(broker);
}

#[test]
fn enrolling_while_running_turns_unknown_tracks_into_matches() {
    let media = common::media();
    let broker = Mosquitto::start(free_port());
    let sub = Subscriber::start(broker.port, "fs/#");
    let data = common::Scratch::new("fs-live-sets");
    let sets = facestream::search::FaceSets::open(&data).unwrap();
    sets.create_set(
        "vip",
        100,
        Default::default(),
        facestream::config::EmbedderKind::Mobilefacenet,
    )
    .unwrap();
    let clip = media.join("video/face_recognition_short_hamilton_clip.mp4");
    let mut cam = camera("stage", &clip.display().to_string(), true);
    cam.face_sets = vec!["vip".into()];
    let mut cfg = config(broker.port, vec![cam]);
    cfg.storage.dir = data.to_path_buf();
    let daemon = Daemon::start(cfg, RunOptions::default()).unwrap();
    // Nobody is enrolled: searched tracks end as unknown.
    assert!(
        wait_until(Duration::from_secs(40), || sub
            .on("fs/stage/match")
            .iter()
            .any(|m| m["event"] == "unknown")),
        "no unknown event"
    );
    assert!(sub
        .on("fs/stage/match")
        .iter()
        .all(|m| m["event"] == "unknown"));
    // An unknown face comes with its picture (it used to come without).
    assert!(
        sub.on("fs/stage/match")
            .iter()
            .all(|m| m["snapshot_jpeg"].as_str().is_some_and(|j| j.len() > 1000)),
        "an unknown event without a snapshot"
    );
    // Enrol Lin-Manuel Miranda from another connection while the daemon runs: no restart.
    let mut an = common::analyzer();
    let f = common::load(
        &media.join("gallery/Lin-Manuel_Miranda/face_recognition_lin-manuel-miranda.png"),
    );
    let (det, emb) = common::largest_embedded(&mut an, &f).unwrap();
    let bbox = facestream::shapes::BoundingBox::from(&det);
    sets.add_faces(
        "vip",
        vec![(bbox, emb)],
        Some("lmm"),
        &Default::default(),
        Some("Lin-Manuel_Miranda"),
    )
    .unwrap();
    let matched = wait_until(Duration::from_secs(60), || {
        sub.on("fs/stage/match")
            .iter()
            .any(|m| m["event"] == "match")
    });
    daemon.shutdown();
    let matches: Vec<_> = sub
        .on("fs/stage/match")
        .into_iter()
        .filter(|m| m["event"] == "match")
        .collect();
    println!(
        "matches: {:?}",
        matches
            .iter()
            .map(|m| (
                m["track_id"].clone(),
                m["user_id"].clone(),
                m["similarity"].clone()
            ))
            .collect::<Vec<_>>()
    );
    assert!(matched, "no match after enrolment");
    for m in &matches {
        assert_eq!(m["user_id"], "Lin-Manuel_Miranda");
        assert_eq!(m["face_set"], "vip");
        assert_eq!(m["external_image_id"], "lmm");
        assert!(m["similarity"].as_f64().unwrap() >= m["threshold"].as_f64().unwrap());
        assert!(m["snapshot_jpeg"].as_str().is_some_and(|s| s.len() > 100));
    }
    let mut seen = std::collections::HashSet::new();
    for m in &matches {
        assert!(
            seen.insert((m["track_id"].as_u64(), m["user_id"].to_string())),
            "one match per track and identity"
        );
    }
}

#[test]
fn live_liveness_challenges_over_mqtt() {
    let media = common::media();
    let broker = Mosquitto::start(free_port());
    let sub = Subscriber::start(broker.port, "fs/#");
    let clip = media.join("liveness/noddingpigeon_head_nodding.mp4");
    let mut cam = camera("kiosk", &clip.display().to_string(), true);
    cam.detect_fps = 0.0;
    let daemon = Daemon::start(config(broker.port, vec![cam]), RunOptions::default()).unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || !sub
            .on("fs/kiosk/face")
            .is_empty()),
        "no face on the kiosk camera"
    );
    // A 20 KB request used to exceed the client's packet limit and drop the broker link (its
    // followers were lost): it is answered FRS.0611 and the link stays up.
    let big = format!(
        r#"{{"request_id":"big","actions":"3","pad":"{}"}}"#,
        "x".repeat(20_000)
    );
    publish(broker.port, "fs/kiosk/liveness/request", &big);
    // An explicit timeout outside 500..=60000 is refused, not clamped.
    publish(
        broker.port,
        "fs/kiosk/liveness/request",
        r#"{"request_id":"forever","actions":"3","timeout_ms":999999}"#,
    );
    // The clip nods (action 3) through most of its 9 s; it never turns to the image's left (action 2).
    publish(
        broker.port,
        "fs/kiosk/liveness/request",
        r#"{"request_id":"nod","actions":"3","timeout_ms":9000}"#,
    );
    publish(
        broker.port,
        "fs/kiosk/liveness/request",
        r#"{"request_id":"right","actions":"2","timeout_ms":4000}"#,
    );
    publish(
        broker.port,
        "fs/kiosk/liveness/request",
        r#"{"request_id":"bad","actions":"9"}"#,
    );
    publish(broker.port, "fs/kiosk/liveness/request", "not json");
    // A camera that sends no frame (here: not configured) still answers, after timeout + grace.
    publish(
        broker.port,
        "fs/nowhere/liveness/request",
        r#"{"request_id":"ghost","actions":"3","timeout_ms":500}"#,
    );
    let results = || sub.on("fs/kiosk/liveness/result");
    let done = wait_until(Duration::from_secs(40), || {
        ["nod", "right", "bad", "missing", "big", "forever"]
            .iter()
            .all(|id| results().iter().any(|r| r["request_id"] == *id))
            && !sub.on("fs/nowhere/liveness/result").is_empty()
    });
    // Before the shutdown, which says "offline" on purpose.
    let available = sub.raw("fs/available");
    daemon.shutdown();
    let rs = results();
    for r in &rs {
        println!(
            "{} alive={} actions={} warnings={} error={}",
            r["request_id"],
            r["video-result"]["alive"],
            r["video-result"]["actions"],
            r["warning-list"],
            r["error_code"]
        );
    }
    assert!(done, "not every challenge was answered: {rs:?}");
    let by = |id: &str| rs.iter().find(|r| r["request_id"] == id).unwrap().clone();
    assert_eq!(by("nod")["video-result"]["alive"], true);
    assert!(by("nod")["track_id"].is_u64());
    assert!(by("nod")["video-result"]["picture"]
        .as_str()
        .is_some_and(|p| p.len() > 100));
    assert_eq!(by("right")["video-result"]["alive"], false);
    assert_eq!(by("bad")["error_code"], "FRS.0601");
    assert_eq!(by("missing")["error_code"], "FRS.0014");
    assert_eq!(by("big")["error_code"], "FRS.0611");
    assert_eq!(by("forever")["error_code"], "FRS.0612");
    println!("fs/available during the test: {available:?}");
    assert!(
        !available.iter().any(|a| a == "offline"),
        "the broker link dropped: {available:?}"
    );
    let ghost = sub.on("fs/nowhere/liveness/result");
    println!("camera without frames: {ghost:?}");
    assert_eq!(ghost[0]["request_id"], "ghost");
    assert_eq!(ghost[0]["error_code"], "FRS.0610");
}

#[test]
fn events_spooled_to_disk_at_shutdown_are_delivered_after_the_next_start() {
    let media = common::media();
    let port = free_port(); // no broker yet
    let dir = common::Scratch::new("fs-spool");
    let events_file = dir.join("produced.jsonl");
    let file = media.join("video/intel_face-demographics-walking-and-pause.mp4");
    let mut cfg = config(
        port,
        vec![camera("lobby", &file.display().to_string(), true)],
    );
    cfg.mqtt.spool_dir = Some(dir.to_path_buf());
    cfg.mqtt.flush_timeout_s = 1;
    let d = Daemon::start(
        cfg.clone(),
        RunOptions {
            jsonl: Some(events_file.clone()),
            jsonl_faces_only: true,
            ..Default::default()
        },
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(6));
    d.shutdown();
    let produced: Vec<serde_json::Value> = std::fs::read_to_string(&events_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let spooled = std::fs::read_to_string(dir.join("mqtt-journal.jsonl")).unwrap();
    assert!(
        produced.len() >= 3,
        "events were produced while the broker was away"
    );
    assert!(
        spooled.lines().count() >= produced.len(),
        "every undelivered event is on disk"
    );
    // The broker comes up; the daemon restarts (no camera needed) and delivers the spooled events.
    let broker = Mosquitto::start(port);
    let sub = Subscriber::start(port, "fs/+/face");
    cfg.cameras.clear();
    let d = Daemon::start(cfg, RunOptions::default()).unwrap();
    let key = |v: &serde_json::Value| v["event_id"].as_str().map(String::from);
    let all = wait_until(Duration::from_secs(20), || {
        let got: std::collections::HashSet<_> = sub.on("fs/lobby/face").iter().map(key).collect();
        produced.iter().all(|p| got.contains(&key(p)))
    });
    d.shutdown();
    println!(
        "{} events produced offline, {} spooled lines, all delivered after restart: {all}",
        produced.len(),
        spooled.lines().count()
    );
    assert!(all);
    assert!(
        wait_until(Duration::from_secs(2), || std::fs::read_to_string(
            dir.join("mqtt-journal.jsonl")
        )
        .map(|t| t.is_empty())
        .unwrap_or(false)),
        "the journal is emptied once everything is acknowledged"
    );
    drop(broker);
}

#[test]
fn events_reach_a_tls_broker_and_a_wrong_ca_is_refused() {
    let media = common::media();
    let dir = common::Scratch::new("fs-mqtt-tls");
    let server = common::tls::self_signed(&dir, "broker");
    let stranger = common::tls::self_signed(&dir, "other-ca");
    let (plain, tls_port) = (free_port(), free_port());
    let _broker = Mosquitto::start_tls(plain, tls_port, &server.cert, &server.key, None);
    let sub = Subscriber::start(plain, "fs/#");
    let file = media.join("video/intel_face-demographics-walking-and-pause.mp4");

    // Trusting the wrong CA: the handshake fails, nothing is published, the daemon keeps running.
    let mut cfg = config(
        tls_port,
        vec![camera("tls-bad", &file.display().to_string(), true)],
    );
    cfg.mqtt.tls = true;
    cfg.mqtt.ca_file = Some(stranger.cert.clone());
    cfg.mqtt.client_id = "facestream-tls-bad".into();
    cfg.validate().unwrap();
    let d = Daemon::start(cfg, RunOptions::default()).unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let produced = d.metrics.events_published.load(Ordering::Relaxed);
    d.shutdown();
    let leaked = sub.raw("fs/tls-bad/face").len() + sub.raw("fs/tls-bad/status").len();
    assert_eq!(
        leaked, 0,
        "nothing may get through a handshake against the wrong CA"
    );
    assert_eq!(produced, 0, "no event is counted as published");

    // Trusting the broker's certificate: face events arrive over TLS.
    let mut cfg = config(
        tls_port,
        vec![camera("tls-ok", &file.display().to_string(), true)],
    );
    cfg.mqtt.tls = true;
    cfg.mqtt.ca_file = Some(server.cert.clone());
    cfg.mqtt.client_id = "facestream-tls-ok".into();
    cfg.validate().unwrap();
    let d = Daemon::start(cfg, RunOptions::default()).unwrap();
    let got = wait_until(Duration::from_secs(20), || {
        !sub.on("fs/tls-ok/face").is_empty()
    });
    d.shutdown();
    println!(
        "TLS broker: {} face events, {} status messages over TLS",
        sub.on("fs/tls-ok/face").len(),
        sub.on("fs/tls-ok/status").len()
    );
    assert!(got, "face events over TLS");

    // A CA file that is not PEM fails validation naming the key.
    let mut cfg = Config::default();
    cfg.mqtt.tls = true;
    cfg.mqtt.ca_file = Some(file.clone());
    let e = cfg.validate().unwrap_err().to_string();
    assert!(e.contains("mqtt.ca_file"), "{e}");
}

#[test]
fn a_broker_demanding_client_certificates_takes_only_the_configured_one() {
    let media = common::media();
    let dir = common::Scratch::new("fs-mqtt-mtls");
    let server = common::tls::self_signed(&dir, "broker");
    let client = common::tls::self_signed(&dir, "client");
    let (plain, tls_port) = (free_port(), free_port());
    let _broker = Mosquitto::start_tls(
        plain,
        tls_port,
        &server.cert,
        &server.key,
        Some(&client.cert),
    );
    let sub = Subscriber::start(plain, "fs/#");
    let file = media.join("video/intel_face-demographics-walking-and-pause.mp4");
    let run = |id: &str, with_cert: bool| {
        let mut cfg = config(
            tls_port,
            vec![camera(id, &file.display().to_string(), true)],
        );
        cfg.mqtt.tls = true;
        cfg.mqtt.ca_file = Some(server.cert.clone());
        cfg.mqtt.client_id = format!("facestream-{id}");
        if with_cert {
            cfg.mqtt.client_cert = Some(client.cert.clone());
            cfg.mqtt.client_key = Some(client.key.clone());
        }
        cfg.validate().unwrap();
        Daemon::start(cfg, RunOptions::default()).unwrap()
    };

    // No client certificate: the broker ends the handshake, nothing is published.
    let d = run("mtls-none", false);
    std::thread::sleep(Duration::from_secs(5));
    let produced = d.metrics.events_published.load(Ordering::Relaxed);
    d.shutdown();
    assert_eq!(sub.raw("fs/mtls-none/face").len(), 0);
    assert_eq!(
        produced, 0,
        "no event is counted as published without a client certificate"
    );

    // With the certificate the broker trusts: face events arrive.
    let d = run("mtls-ok", true);
    let got = wait_until(Duration::from_secs(20), || {
        !sub.on("fs/mtls-ok/face").is_empty()
    });
    d.shutdown();
    println!(
        "mutual TLS: {} face events with a client certificate",
        sub.on("fs/mtls-ok/face").len()
    );
    assert!(got, "face events over mutual TLS");

    // A key that does not belong to the certificate fails validation naming the key.
    let mut cfg = Config::default();
    cfg.mqtt.tls = true;
    cfg.mqtt.client_cert = Some(client.cert.clone());
    cfg.mqtt.client_key = Some(server.key.clone());
    let e = cfg.validate().unwrap_err().to_string();
    assert!(e.contains("mqtt.client_key"), "{e}");
}

/// `mqtt.hosts` with two real brokers: killing the one in use moves the daemon to the other with
/// no event lost (the union of what both brokers delivered covers every event the daemon made).
#[test]
fn killing_the_broker_in_use_moves_to_the_next_with_no_event_lost() {
    let media = common::media();
    let (pa, pb) = (free_port(), free_port());
    let a = Mosquitto::start(pa);
    let b = Mosquitto::start(pb);
    let sub_a = Subscriber::start(pa, "fs/+/face");
    let sub_b = Subscriber::start(pb, "fs/+/face");
    let dir = common::Scratch::new("facestream-failover");
    let events_file = dir.join("events.jsonl");
    let file = media.join("video/intel_face-demographics-walking-and-pause.mp4");
    let mut cfg = config(pa, vec![camera("lobby", &file.display().to_string(), true)]);
    cfg.mqtt.hosts = vec![format!("127.0.0.1:{pa}"), format!("127.0.0.1:{pb}")];
    cfg.tracking.update_interval_ms = 300;
    cfg.validate().unwrap();
    let daemon = start_journaling(cfg, &events_file);
    assert!(
        wait_until(Duration::from_secs(30), || sub_a.on("fs/lobby/face").len()
            >= 3),
        "events on the first broker"
    );
    assert!(sub_b.on("fs/lobby/face").is_empty(), "one broker at a time");
    let killed = std::time::Instant::now();
    drop(a);
    assert!(
        wait_until(Duration::from_secs(20), || !sub_b
            .on("fs/lobby/face")
            .is_empty()),
        "events moved to the second broker"
    );
    let moved_after = killed.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let metrics = daemon.metrics.clone();
    daemon.shutdown();
    std::thread::sleep(Duration::from_millis(500));
    let (produced, received, missing) =
        missing_events(&events_file, &[&sub_a, &sub_b], "fs/lobby/face");
    println!(
        "failover: first event on the second broker {moved_after:?} after the first was killed; produced {produced}, received {received} distinct, missing {}, failovers {}",
        missing.len(),
        metrics.mqtt_failovers.load(Ordering::Relaxed)
    );
    assert!(missing.is_empty(), "lost events: {missing:?}");
    assert!(metrics.mqtt_failovers.load(Ordering::Relaxed) >= 1);
    drop(b);
}
