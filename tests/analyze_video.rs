//! `facestream analyze VIDEO`: offline pipeline over real clips; track counts against the clips'
//! ground truth (MEDIA.md), the JSONL shape, and the annotated video.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

fn analyze(video: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let media = common::media();
    // Unique per call: tests running in parallel may analyse the same clip.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = common::Scratch::new(format!("fs-analyze-{n}-{}", video.replace('/', "_")));
    let out = dir.join("events.jsonl");
    let status = Command::new(env!("CARGO_BIN_EXE_facestream"))
        .args([
            "analyze",
            media.join(video).to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args(extra)
        .status()
        .unwrap();
    assert!(status.success(), "{video}: {status}");
    std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `facestream analyze CLIP` with `config` (TOML) as its configuration: its stderr and events.
fn analyze_with(clip: &str, config: &str) -> (String, Vec<serde_json::Value>) {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = common::Scratch::new(format!("fs-analyze-with-{n}"));
    let (cfg, out) = (dir.join("config.toml"), dir.join("events.jsonl"));
    std::fs::write(&cfg, config).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_facestream"))
        .args(["analyze", "--config", cfg.to_str().unwrap()])
        .args(["--out", out.to_str().unwrap()])
        .arg(common::media().join(clip))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr).to_string();
    assert!(run.status.success(), "{clip}: {err}");
    let events = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (err, events)
}

/// The number just before `after` in `analyze`'s summary ("…; 16 face events, 1 with …").
fn figure(err: &str, after: &str) -> u64 {
    err.rsplit(after)
        .nth(1)
        .and_then(|r| r.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no '{after}' in {err}"))
}

fn tracks(events: &[serde_json::Value]) -> BTreeSet<u64> {
    events
        .iter()
        .map(|e| e["track_id"].as_u64().unwrap())
        .collect()
}

#[test]
fn track_counts_match_the_ground_truth_within_one() {
    // (clip, faces by MEDIA.md): tolerance +1 for a track that breaks once.
    let cases = [
        ("video/intel_face-demographics-walking.mp4", 2),
        ("video/intel_face-demographics-walking-and-pause.mp4", 3),
        ("video/liveportrait_d20.mp4", 1),
        ("video/liveportrait_s32.mp4", 1),
    ];
    let mut report = vec![];
    for (clip, truth) in cases {
        let ev = analyze(clip, &[]);
        let n = tracks(&ev).len();
        report.push(format!("{clip}: {n} tracks (truth {truth})"));
        // Every track starts once and ends once, in order.
        let mut phases: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for e in &ev {
            phases
                .entry(e["track_id"].as_u64().unwrap())
                .or_default()
                .push(e["event"].as_str().unwrap().into());
        }
        for (id, p) in &phases {
            assert_eq!(
                p.first().map(std::string::String::as_str),
                Some("start"),
                "{clip} track {id}: {p:?}"
            );
            assert_eq!(
                p.last().map(std::string::String::as_str),
                Some("end"),
                "{clip} track {id}: {p:?}"
            );
            assert_eq!(p.iter().filter(|s| *s == "start").count(), 1);
        }
        assert!(
            n >= truth && n <= truth + 1,
            "{clip}: {n} tracks, ground truth {truth}"
        );
    }
    println!("{}", report.join("\n"));
}

/// `pipeline.ingest_width` caps a frame's longest side: a portrait 720×1364 clip is analysed at
/// 338×640 (the detector's own input size), not 640×1213 (its width only capped, as before).
#[test]
fn portrait_frames_are_scaled_by_their_long_side() {
    let ev = analyze("video/liveportrait_s29.mp4", &[]);
    assert!(!ev.is_empty(), "face events expected");
    for e in &ev {
        assert_eq!(
            (e["frame_width"].as_u64(), e["frame_height"].as_u64()),
            (Some(338), Some(640)),
            "{e}"
        );
    }
    assert_eq!(tracks(&ev).len(), 1, "one face, one track");
}

#[test]
fn foreman_track_ends_when_the_face_leaves_the_frame() {
    // MEDIA.md: the worker's face leaves the frame at ~6.1 s; 6.2-10 s show no face.
    let ev = analyze("video/openh264_foreman_cif.mp4", &["--fps", "10"]);
    let last_seen = ev
        .iter()
        .filter(|e| e["event"] == "end")
        .map(|e| e["last_seen_ms"].as_u64().unwrap())
        .max()
        .unwrap();
    let first = ev
        .iter()
        .map(|e| e["first_seen_ms"].as_u64().unwrap())
        .min()
        .unwrap();
    println!(
        "foreman: tracks {:?}, first seen {first} ms, last seen {last_seen} ms",
        tracks(&ev)
    );
    assert!(first < 500, "face visible from the start");
    assert!(
        (5000..=6600).contains(&last_seen),
        "last seen {last_seen} ms"
    );
    assert!(ev
        .iter()
        .all(|e| e["last_seen_ms"].as_u64().unwrap() <= 6600));
}

#[test]
fn jsonl_has_the_event_shape_and_draw_writes_a_playable_video() {
    let dir = common::Scratch::new("fs-draw");
    let out = dir.join("drawn.mp4");
    let ev = analyze(
        "video/intel_face-demographics-walking.mp4",
        &["--draw", out.to_str().unwrap()],
    );
    assert!(!ev.is_empty());
    for e in &ev {
        for k in [
            "topic",
            "camera",
            "track_id",
            "event",
            "timestamp_ms",
            "wall_time_ms",
            "first_seen_ms",
            "last_seen_ms",
            "frames",
        ] {
            assert!(!e[k].is_null(), "{k} missing in {e}");
        }
        for k in ["top_left_x", "top_left_y", "width", "height"] {
            assert!(e["bounding_box"][k].is_i64(), "{k}");
        }
        assert_eq!(e["camera"], "video");
        assert_eq!(e["topic"], "facestream/video/face");
    }
    // The annotated video decodes back with every analysed frame.
    let frames = count_frames(&out);
    println!("annotated video: {frames} frames");
    assert!(frames >= 30, "{frames} frames in {}", out.display());
}

fn count_frames(path: &std::path::Path) -> usize {
    use facestream::ingest::camera::{CameraSettings, Pulled, SourceOpener};
    let cam = facestream::config::CameraConfig {
        id: "check".into(),
        uri: path.display().to_string(),
        detect_fps: 0.0,
        enabled: true,
        looping: false,
        face_sets: vec![],
    };
    let settings = CameraSettings::new(&cam, &Default::default(), false);
    let mut src = facestream::ingest::gst::GstOpener::default()
        .open(&settings)
        .unwrap();
    let mut n = 0;
    loop {
        match src.pull(std::time::Duration::from_secs(5)).unwrap() {
            Pulled::Frame { .. } => n += 1,
            Pulled::Eos => return n,
            Pulled::Timeout => panic!("decoding the annotated video stalled"),
        }
    }
}

/// `--draw out.mkv` used to write MP4 bytes whatever the name said; now the container follows the
/// extension, and an unknown one is refused before any work.
#[test]
fn draw_writes_the_container_its_name_asks_for() {
    let media = common::media();
    let clip = media.join("video/intel_face-demographics-walking.mp4");
    let base = common::Scratch::new("fs-draw-kind");
    // (extension, offset, the bytes the file holds there)
    let kinds: [(&str, usize, &[u8]); 3] = [
        ("mkv", 0, &[0x1A, 0x45, 0xDF, 0xA3]),
        ("webm", 0, &[0x1A, 0x45, 0xDF, 0xA3]),
        ("mov", 4, b"ftypqt"),
    ];
    let draw = |out: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_facestream"))
            .args([
                "analyze",
                clip.to_str().unwrap(),
                "--out",
                "/dev/null",
                "--draw",
            ])
            .arg(out)
            .output()
            .unwrap()
    };
    for (ext, at, magic) in kinds {
        let out = base.join("drawn").with_extension(ext);
        let status = draw(&out).status;
        assert!(status.success(), "{ext}: {status}");
        let bytes = std::fs::read(&out).unwrap();
        assert!(
            bytes[at..].starts_with(magic),
            "{ext}: starts with {:02x?}",
            &bytes[..12.min(bytes.len())]
        );
        let frames = count_frames(&out);
        println!("--draw .{ext}: {} bytes, {frames} frames", bytes.len());
        assert!(frames >= 30, "{ext}: {frames} frames");
    }
    let bad = base.join("drawn.avi");
    let out = draw(&bad);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("unsupported container"),
        "{err}"
    );
    assert!(!bad.exists(), "nothing is written for a refused name");
}

/// Offline analysis is reproducible: every frame of the file is analysed, every time, and the
/// same file gives the same events (all but the wall clock and the random event ids).
#[test]
fn analysis_of_a_file_is_complete_and_reproducible() {
    let media = common::media();
    for clip in [
        "video/intel_face-demographics-walking-and-pause.mp4",
        "video/face_recognition_short_hamilton_clip.mp4",
    ] {
        let decoded = count_frames(&media.join(clip));
        let mut runs = vec![];
        for _ in 0..2 {
            let dir = common::Scratch::new("fs-repro");
            let out = dir.join("events.jsonl");
            let run = Command::new(env!("CARGO_BIN_EXE_facestream"))
                .args([
                    "analyze",
                    media.join(clip).to_str().unwrap(),
                    "--out",
                    out.to_str().unwrap(),
                ])
                .output()
                .unwrap();
            assert!(run.status.success());
            let err = String::from_utf8_lossy(&run.stderr);
            let analysed: usize = err
                .split("analysed ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no frame count in {err}"));
            assert_eq!(
                analysed, decoded,
                "{clip}: analysed {analysed} of {decoded} frames"
            );
            // Standard error is a pipe here: the summary only, no progress line redrawn with
            // carriage returns (nor the duration probe that feeds it).
            assert!(
                !err.contains('\r'),
                "{clip}: a progress line in a pipe: {err:?}"
            );
            let mut events: Vec<serde_json::Value> = std::fs::read_to_string(&out)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            for e in &mut events {
                let o = e.as_object_mut().unwrap();
                o.remove("wall_time_ms");
                o.remove("event_id");
            }
            runs.push(events);
        }
        println!(
            "{clip}: {decoded} frames, {} events, identical: {}",
            runs[0].len(),
            runs[0] == runs[1]
        );
        assert!(!runs[0].is_empty());
        assert_eq!(runs[0], runs[1], "{clip}: two runs gave different events");
    }
}

/// Offline analysis runs whole detection batches only, so its events do not depend on how fast
/// the frames were decoded: a small clip (176×144, decoded faster than some batches are detected)
/// used to run partial batches when `pipeline.batch_timeout_ms` let a batch go without waiting
/// (0, the live default) — 3.6 frames a batch instead of 4, and 1 of its 8 events different from
/// run to run, as the zoom's full-size look is one frame a batch.
#[test]
fn offline_batches_are_whole_whatever_the_timing() {
    let media = common::media();
    let dir = common::Scratch::new("fs-whole-batches");
    let clip = dir.join("foreman_176x144.mp4");
    common::ffmpeg(&[
        "-i",
        media
            .join("video/openh264_foreman_cif.mp4")
            .to_str()
            .unwrap(),
        "-vf",
        "scale=176:144",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-an",
        clip.to_str().unwrap(),
    ]);
    let config = dir.join("no-wait.toml");
    std::fs::write(
        &config,
        "[pipeline]\nbatch_timeout_ms = 0\nbatch_size = 4\n",
    )
    .unwrap();
    let frames = count_frames(&clip);
    let mut runs = vec![];
    for i in 0..3 {
        let out = dir.join(format!("events-{i}.jsonl"));
        let run = Command::new(env!("CARGO_BIN_EXE_facestream"))
            .args(["analyze", "--config", config.to_str().unwrap()])
            .args([clip.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "{err}");
        let batches: usize = err
            .split(" frames a batch, ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no batch count in {err}"));
        assert_eq!(
            batches,
            frames.div_ceil(4),
            "run {i}: {frames} frames in {batches} batches, not whole ones"
        );
        let events: Vec<serde_json::Value> = std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .map(|l| {
                let mut e: serde_json::Value = serde_json::from_str(l).unwrap();
                let o = e.as_object_mut().unwrap();
                o.remove("wall_time_ms");
                o.remove("event_id");
                e
            })
            .collect();
        assert!(!events.is_empty());
        runs.push(events);
    }
    assert!(
        runs.windows(2).all(|w| w[0] == w[1]),
        "runs gave different events"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The analysis schedule (docs/performance.md): age, gender and mask are read at a track's start
/// and again only on a clearly better face; every face event still carries the track's estimate.
#[test]
fn attributes_are_read_on_better_faces_only_and_published_on_every_event() {
    let media = common::media();
    let clip = media.join("video/liveportrait_d10.mp4");
    let dir = common::Scratch::new("fs-schedule");
    let out = dir.join("events.jsonl");
    let run = Command::new(env!("CARGO_BIN_EXE_facestream"))
        .args([
            "analyze",
            clip.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    let (events, readings) = (
        figure(&err, " face events"),
        figure(&err, " with attributes read"),
    );
    let published: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    println!("{events} face events, {readings} attribute readings");
    assert_eq!(events as usize, published.len());
    // One steady face for 15 s: a start, ~14 updates and an end; the face rarely gets 10 % better.
    assert!(events >= 10, "{events}");
    assert!(
        readings >= 1 && readings * 2 <= events,
        "{readings} of {events}"
    );
    for e in &published {
        let a = &e["attributes"];
        assert!(a["gender"].is_string() && a["age"].is_number(), "{e}");
        assert!(a["gender_confidence"].is_number(), "{e}");
    }
}

/// A track's published gender and mask are a running estimate over its frames: they used to flip
/// between updates of one track (walking-and-pause tracks 1 and 3: m/f/m/m, mask T/F/F/T/T).
/// Nobody in these clips wears a mask: their small blurred faces were published as masked (the
/// walking clip 8 of 8 events, facenet 25 of 59); a reading that cannot tell on a face that size is
/// now "unknown" (`mask_state`), and `mask` is true only for "masked".
#[test]
fn a_tracks_attributes_hold_steady() {
    let (mut events_seen, mut masked) = (0, 0);
    for clip in [
        "video/intel_face-demographics-walking-and-pause.mp4",
        "video/intel_face-demographics-walking.mp4",
        "video/facenet-pytorch_video_1080p.mp4",
    ] {
        let events = analyze(clip, &[]);
        let mut by_track: BTreeMap<u64, Vec<(String, bool, f64)>> = BTreeMap::new();
        for e in &events {
            let a = &e["attributes"];
            if a.is_object() {
                by_track
                    .entry(e["track_id"].as_u64().unwrap())
                    .or_default()
                    .push((
                        a["gender"].as_str().unwrap().to_string(),
                        a["mask"].as_bool().unwrap(),
                        a["gender_confidence"].as_f64().unwrap(),
                    ));
                let state = a["mask_state"].as_str().unwrap_or_default();
                assert!(["masked", "bare", "unknown"].contains(&state), "{e}");
                assert_eq!(a["mask"].as_bool(), Some(state == "masked"), "{e}");
                events_seen += 1;
                masked += usize::from(state == "masked");
            }
        }
        for (track, seen) in &by_track {
            let flips = |f: &dyn Fn(&(String, bool, f64)) -> String| {
                seen.windows(2).filter(|w| f(&w[0]) != f(&w[1])).count()
            };
            println!("{clip} track {track}: {seen:?}");
            assert!(
                flips(&|s| s.0.clone()) <= 1,
                "{clip} track {track}: gender flickers: {seen:?}"
            );
            assert!(
                flips(&|s| s.1.to_string()) <= 1,
                "{clip} track {track}: mask flickers: {seen:?}"
            );
        }
    }
    println!("events published masked: {masked} of {events_seen}");
    assert!(events_seen >= 60, "{events_seen}");
    assert!(
        8 * masked <= events_seen,
        "{masked} of {events_seen} published masked"
    );
}

/// The analysis stage keeps nothing of a track once it ended, whatever path its last event took
/// (a track never confirmed as a face, an end without a face). Before, Hamilton's run left an entry
/// behind for good: a daemon watching for weeks grew by one per such track.
#[test]
fn nothing_is_kept_of_ended_tracks() {
    use facestream::config::{CameraConfig, Config, WhenFull};
    use facestream::daemon::{Daemon, RunOptions};
    use std::sync::atomic::Ordering;
    let clip = common::media().join("video/face_recognition_short_hamilton_clip.mp4");
    let mut cfg = Config::default();
    cfg.mqtt.enabled = false;
    cfg.http.bind = String::new();
    cfg.cameras = vec![CameraConfig {
        id: "video".into(),
        uri: clip.display().to_string(),
        detect_fps: 0.0,
        enabled: true,
        looping: false,
        face_sets: vec![],
    }];
    cfg.validate().unwrap();
    let opts = RunOptions {
        realtime_files: false,
        frame_policy: Some(WhenFull::Block),
        ..RunOptions::default()
    };
    let daemon = Daemon::start(cfg, opts).unwrap();
    // The wait for the file's end: a short one times out while frames still flow, a long one is
    // woken by the end itself.
    use std::time::Duration;
    assert!(!daemon.wait_cameras_finished(Duration::from_millis(1)));
    assert!(!daemon.cameras_finished());
    assert!(
        daemon.wait_cameras_finished(Duration::from_secs(120)),
        "the clip never finished"
    );
    assert!(daemon.cameras_finished());
    let metrics = daemon.metrics.clone();
    daemon.shutdown();
    let (events, held) = (
        metrics.face_events.load(Ordering::Relaxed),
        metrics.analysis_tracks_held.load(Ordering::Relaxed),
    );
    println!("{events} face events; analysis holds {held} entries after the last track ended");
    assert!(events >= 10, "face events expected, got {events}");
    assert_eq!(held, 0, "entries kept of ended tracks");
}

/// `tracking.pose = "landmarks"`: the face mesh is read only to confirm new tracks' faces of 64 px
/// and more, every other event takes its pose from the five landmarks, and the events are the
/// same ones (tracks, phases, attributes read) as with the mesh on every event.
#[test]
fn landmark_pose_reads_the_mesh_only_to_confirm_new_tracks() {
    let run = |pose: &str| {
        let (err, events) = analyze_with(
            "video/face_recognition_short_hamilton_clip.mp4",
            &format!("[tracking]\npose = \"{pose}\"\n"),
        );
        (figure(&err, " with a face mesh read"), events)
    };
    let (mesh_runs, by_mesh) = run("mesh");
    let (landmark_runs, by_landmarks) = run("landmarks");
    let shape = |es: &[serde_json::Value]| -> Vec<(u64, String)> {
        es.iter()
            .map(|e| {
                (
                    e["track_id"].as_u64().unwrap(),
                    e["event"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(shape(&by_mesh), shape(&by_landmarks));
    let big_starts = by_landmarks
        .iter()
        .filter(|e| e["event"] == "start" && e["bounding_box"]["width"].as_f64().unwrap() >= 64.0)
        .count() as u64;
    println!(
        "{} events: meshes read {mesh_runs} (pose from the mesh), {landmark_runs} (from the landmarks; {big_starts} starts of faces ≥ 64 px)",
        by_mesh.len()
    );
    // Every event's face, and those of tracks still waiting to be confirmed (not published).
    assert!(mesh_runs >= by_mesh.len() as u64, "{mesh_runs}");
    assert!(
        big_starts >= 1 && landmark_runs >= big_starts,
        "{landmark_runs} < {big_starts}"
    );
    assert!(
        landmark_runs * 2 <= mesh_runs,
        "{landmark_runs} of {mesh_runs}"
    );
    for e in &by_landmarks {
        let q = &e["quality"];
        assert!(
            ["yaw", "pitch", "roll"].iter().all(|k| q[k].is_number()),
            "{e}"
        );
    }
}

/// `detector.zoom_face_px`: a talking head is detected at a reduced input on most frames, and the
/// events are the same ones as with every frame at full size (tracks, phases, gender, mask).
#[test]
fn a_large_face_is_detected_reduced_with_the_same_events() {
    let run = |face_px: f32| {
        let (err, published) = analyze_with(
            "video/liveportrait_d20.mp4",
            &format!("[detector]\nzoom_face_px = {face_px:.1}\n"),
        );
        let events: Vec<(u64, String, String, bool)> = published
            .iter()
            .map(|e| {
                let a = &e["attributes"];
                (
                    e["track_id"].as_u64().unwrap(),
                    e["event"].as_str().unwrap().to_string(),
                    a["gender"].as_str().unwrap_or_default().to_string(),
                    a["mask"].as_bool().unwrap_or_default(),
                )
            })
            .collect();
        (figure(&err, " at a reduced size"), events)
    };
    let (none, full) = run(0.0);
    let (reduced, zoomed) = run(facestream::config::Config::default().detector.zoom_face_px);
    println!(
        "175 frames: {reduced} detected reduced; {} events",
        zoomed.len()
    );
    assert_eq!(none, 0);
    assert!(reduced >= 100, "{reduced} of 175 frames reduced");
    assert!(!full.is_empty());
    assert_eq!(full, zoomed);
}

/// A small face that comes into view beside a large one (a doorbell camera: someone close, someone
/// arriving behind): the zoom cannot see it on a reduced frame, so it is found on the next
/// full-size frame, at most `detector.zoom_full_every_ms` (250 ms) plus a frame later than
/// without the zoom.
/// Six arrivals at the four corners of a talking head (d10), at times that fall at different
/// points of the 250-ms cycle; every one is found with the zoom on and off, and the delay of each
/// is printed (docs/performance.md).
#[test]
fn a_small_face_arriving_beside_a_large_one_is_found_within_the_full_size_cycle() {
    let dir = common::Scratch::new("fs-arrivals");
    let video = dir.join("arrivals.mp4");
    // (start s, x, y): 1 s each, 36×45 patches clear of the large face. The face in them (~25 px)
    // shrinks to ~8 px at the reduced size, where YuNet cannot see it, so only the full-size cycle
    // finds it (a 33-px face is seen at the reduced size, and the cycle is not needed);
    // the starts fall 0, 40, 85, 125, 170 and 210 ms into a 250-ms cycle counted from 0.
    let arrivals = [
        (1.000, 8, 8),
        (3.290, 456, 8),
        (5.585, 8, 444),
        (7.875, 456, 444),
        (10.170, 8, 8),
        (12.460, 456, 8),
    ];
    let mut graph =
        String::from("[1]crop=480:600:200:100,scale=36:45,split=6[s0][s1][s2][s3][s4][s5];");
    let mut last = "0".to_string();
    for (i, (t, x, y)) in arrivals.iter().enumerate() {
        graph += &format!(
            "[{last}][s{i}]overlay={x}:{y}:shortest=1:enable='between(t,{t:.3},{:.3})'[v{i}];",
            t + 1.0
        );
        last = format!("v{i}");
    }
    graph.pop();
    let media = common::media();
    let (d10, face) = (
        media.join("video/liveportrait_d10.mp4"),
        media.join("gallery/Amy_Adams/openface_adams.jpg"),
    );
    common::ffmpeg(&[
        "-i",
        d10.to_str().unwrap(),
        "-loop",
        "1",
        "-i",
        face.to_str().unwrap(),
        "-filter_complex",
        &graph,
        "-map",
        &format!("[{last}]"),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "18",
        "-an",
        video.to_str().unwrap(),
    ]);
    let delays = |face_px: f32| {
        let (err, events) = analyze_with(
            video.to_str().unwrap(),
            &format!("[detector]\nzoom_face_px = {face_px:.1}\n"),
        );
        let found: Vec<i64> = arrivals
            .iter()
            .map(|&(t, x, y)| {
                let at = (t * 1000.0) as i64;
                events
                    .iter()
                    .filter(|e| e["event"] == "start")
                    .filter(|e| {
                        let b = &e["bounding_box"];
                        let cx =
                            b["top_left_x"].as_f64().unwrap() + b["width"].as_f64().unwrap() / 2.0;
                        let cy =
                            b["top_left_y"].as_f64().unwrap() + b["height"].as_f64().unwrap() / 2.0;
                        (x as f64..x as f64 + 36.0).contains(&cx)
                            && (y as f64..y as f64 + 45.0).contains(&cy)
                    })
                    .map(|e| e["first_seen_ms"].as_i64().unwrap() - at)
                    .filter(|d| (-40..1000).contains(d))
                    .min()
                    .unwrap_or_else(|| {
                        panic!("zoom_face_px {face_px}: the face arriving at {t} s was never found")
                    })
            })
            .collect();
        (figure(&err, " at a reduced size"), found)
    };
    let (none, off) = delays(0.0);
    let (reduced, on) = delays(facestream::config::Config::default().detector.zoom_face_px);
    std::fs::remove_dir_all(&dir).ok();
    println!("ms from arrival to first detection: zoom off {off:?}; zoom on {on:?} ({reduced} of 448 frames reduced)");
    assert_eq!(none, 0);
    // Otherwise the test would not be about the zoom.
    assert!(reduced >= 100, "{reduced} frames reduced");
    // Without the zoom a face this small is found within a few frames (YuNet may need two or three
    // to score it); with it, at most one full-size cycle and a frame later than that.
    assert!(off.iter().all(|&d| d <= 100), "zoom off: {off:?}");
    for (a, b) in off.iter().zip(&on) {
        assert!(b - a <= 250 + 34, "zoom off {off:?}, on {on:?}");
    }
}

/// A track's end whose best face is the one its previous event was analysed on (short tracks'
/// often are) takes that event's mesh instead of reading the same face again: the same pose,
/// one mesh fewer. Orlando: 17 short tracks of small background faces.
#[test]
fn an_end_on_an_analysed_face_takes_its_mesh() {
    let (err, events) = analyze_with("video/suegreen_orlando_bloom.avi", "");
    let (published, meshes) = (
        figure(&err, " face events"),
        figure(&err, " with a face mesh read"),
    );
    assert_eq!(published as usize, events.len());
    let mut previous: BTreeMap<u64, &serde_json::Value> = BTreeMap::new();
    let mut same_face = 0;
    for e in &events {
        let id = e["track_id"].as_u64().unwrap();
        if e["event"] == "end" {
            let before = previous[&id];
            let face = |v: &serde_json::Value| {
                (
                    v["timestamp_ms"].clone(),
                    v["bounding_box"].clone(),
                    v["landmarks"].clone(),
                )
            };
            if face(before) == face(e) {
                same_face += 1;
                for k in ["yaw", "pitch", "roll"] {
                    assert_eq!(before["attributes"][k], e["attributes"][k], "{k}: {e}");
                }
            }
        }
        previous.insert(id, e);
    }
    println!("{published} events, {meshes} meshes read, {same_face} ends on an analysed face");
    assert!(
        same_face >= 1,
        "no end on an analysed face: the clip changed?"
    );
    assert_eq!(meshes, published - same_face);
}

/// The track events waiting together read their age, gender and mask in `prepare` (one face a
/// run: runs of 4 were no faster and cost ~100 MB, docs/performance.md), each as it reads alone.
#[test]
fn attributes_of_waiting_track_events_are_read_before_they_are_handled() {
    use facestream::daemon::analysis::MESH_BATCH;
    use facestream::messages::{AnalyzeItem, Event, TrackPhase};
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    let cfg = facestream::config::Config::default();
    let mut alone = common::analyzer();
    let frame = Arc::new(common::load(
        &common::media().join("group/dlib_bald_guys.jpg"),
    ));
    let mut found = alone.detect_verified(&frame).unwrap();
    found.sort_by(|a, b| b.0.w.total_cmp(&a.0.w));
    found.truncate(6);
    assert_eq!(found.len(), 6);
    let items = found.iter().enumerate().map(|(i, (det, _))| {
        AnalyzeItem::Track(track_msg(i as u64 + 1, TrackPhase::Start, det, &frame))
    });
    let (events, metrics) = run_stage(&cfg, items, MESH_BATCH);
    let (readings, runs) = (
        metrics.attribute_readings.load(Ordering::Relaxed),
        metrics.attribute_runs.load(Ordering::Relaxed),
    );
    println!("{readings} attribute readings in {runs} runs");
    assert_eq!(
        (readings, runs),
        (6, 6),
        "six waiting starts, one face a run"
    );
    let mut published = 0;
    for ev in events {
        let Event::Face(ev) = ev else { continue };
        let det = &found[ev.track_id as usize - 1].0;
        let one = alone.attributes(&[(&*frame, det)]).unwrap().remove(0);
        let a = ev.attributes.as_ref().unwrap();
        assert_eq!(a.gender, one.gender, "track {}", ev.track_id);
        assert_eq!(a.age, one.age.round(), "track {}", ev.track_id);
        published += 1;
    }
    assert_eq!(published, 6);
}

/// The wall time of [`run_stage`]'s clock (ms), which never moves.
const STAGE_WALL_MS: u64 = 1_000_000;

/// The analysis stage run over `items` (all queued before it starts, `batch` at most prepared
/// together) until they are handled: what it sent out, and its counters.
fn run_stage(
    cfg: &facestream::config::Config,
    items: impl IntoIterator<Item = facestream::messages::AnalyzeItem>,
    batch: usize,
) -> (
    Vec<facestream::messages::Event>,
    std::sync::Arc<facestream::metrics::Metrics>,
) {
    let (tx, input) = crossbeam_channel::unbounded();
    for item in items {
        tx.send(item).unwrap();
    }
    drop(tx);
    let (out, events) = crossbeam_channel::unbounded();
    let metrics = std::sync::Arc::new(facestream::metrics::Metrics::default());
    facestream::daemon::analysis::AnalyzeStage {
        analyzer: facestream::base::teardown::DropAside::new(
            facestream::analyze::Analyzer::open_for_video(cfg, false).unwrap(),
        ),
        input,
        out,
        snapshots: false,
        metrics: metrics.clone(),
        matcher: None,
        batch,
        clock: std::sync::Arc::new(facestream::base::clock::ManualClock::starting_at(
            STAGE_WALL_MS,
        )),
    }
    .run()
    .unwrap();
    (events.try_iter().collect(), metrics)
}

/// A track event of camera "cam" about `det` in `frame`, for driving the analysis stage directly.
fn track_msg(
    id: u64,
    phase: facestream::messages::TrackPhase,
    det: &facestream::detect::Detection,
    frame: &std::sync::Arc<facestream::frame::Frame>,
) -> facestream::messages::TrackMsg {
    facestream::messages::TrackMsg {
        camera: std::sync::Arc::from("cam"),
        track_id: id,
        phase,
        first_ms: 0,
        last_ms: 0,
        hits: 2,
        detection: det.clone(),
        pts_ms: 0,
        wall_ms: 0,
        frame: frame.clone(),
    }
}

/// A track searched while its camera named face sets still ends `unknown` when the camera stops
/// searching before its end (removed, or its face sets taken away by a reload): the end used to
/// be skipped, losing the `unknown` and keeping the track's search state for good.
#[test]
fn a_track_whose_camera_stops_searching_still_ends_decided() {
    use facestream::analyze::Analyzer;
    use facestream::daemon::analysis::AnalyzeStage;
    use facestream::messages::{AnalyzeItem, Event, TrackPhase};
    use facestream::search::tracks::TrackMatcher;
    use std::collections::HashMap;
    use std::sync::{Arc, RwLock};
    use std::time::Duration;

    let cfg = facestream::config::Config::default();
    let dir = common::Scratch::new("fs-ends-decided");
    let sets = facestream::search::FaceSets::open(&dir).unwrap();
    sets.create_set("people", 100, Default::default(), cfg.models.embedder)
        .unwrap();
    let camera_sets = Arc::new(RwLock::new(HashMap::from([(
        "cam".to_string(),
        vec!["people".to_string()],
    )])));
    let matcher = TrackMatcher::new(
        Arc::new(sets),
        camera_sets.clone(),
        cfg.track_threshold(),
        cfg.search.clone(),
    );
    let mut an = common::analyzer();
    let photo = common::images_in(&common::media().join("gallery/Barack_Obama")).remove(0);
    let frame = Arc::new(common::load(&photo));
    let det = &common::largest_verified(&mut an, &frame).unwrap();
    let (tx, input) = crossbeam_channel::unbounded();
    let (out, events) = crossbeam_channel::unbounded();
    let stage = AnalyzeStage {
        analyzer: facestream::base::teardown::DropAside::new(
            Analyzer::open_for_video(&cfg, true).unwrap(),
        ),
        input,
        out,
        snapshots: false,
        metrics: Arc::new(facestream::metrics::Metrics::default()),
        matcher: Some(matcher),
        batch: facestream::daemon::analysis::MESH_BATCH,
        clock: Arc::new(facestream::base::clock::RealClock::default()),
    };
    let running = std::thread::spawn(move || stage.run());
    tx.send(AnalyzeItem::Track(track_msg(
        1,
        TrackPhase::Start,
        det,
        &frame,
    )))
    .unwrap();
    let start = events.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(matches!(start, Event::Face(_)));
    // The camera stops searching (a reload without it) while the track is still in view.
    camera_sets.write().unwrap().clear();
    tx.send(AnalyzeItem::Track(track_msg(
        1,
        TrackPhase::End,
        det,
        &frame,
    )))
    .unwrap();
    drop(tx);
    running.join().unwrap().unwrap();
    let after: Vec<String> = events
        .try_iter()
        .map(|e| match e {
            Event::Face(f) => format!("face {:?}", f.event),
            Event::Match(m) => format!("match {}", m.event),
            _ => "other".into(),
        })
        .collect();
    println!("after the camera stopped searching: {after:?}");
    assert_eq!(after, ["face End", "match unknown"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The events published, and the meshes read, do not depend on how many track events wait
/// together for the analysis stage (how far behind it runs; CI's slower machine): with
/// `"landmarks"` an update waiting beside its track's start used to skip the mesh and pass as
/// confirmed (a landscape taken for a face), and an end whose best face was its track's first
/// took that face's mesh while a later event of the track waited beside it.
#[test]
fn events_do_not_depend_on_how_many_wait_together() {
    use facestream::config::PoseSource;
    use facestream::daemon::analysis::MESH_BATCH;
    use facestream::detect::Detection;
    use facestream::messages::{AnalyzeItem, Event, TrackPhase};
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    let media = common::media();
    let group = common::load(&media.join("group/dlib_bald_guys.jpg"));
    let land = common::load(&media.join("negatives/compreface_017_0_landscape.jpg"));
    let mut faces: Vec<Detection> = common::analyzer()
        .detect_verified(&group)
        .unwrap()
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    faces.sort_by(|a, b| b.w.total_cmp(&a.w));
    faces.truncate(6);
    assert_eq!(faces.len(), 6);
    // Not a face: a patch of landscape as large as a face the mesh judges (≥ 64 px).
    let (x, y, w, h) = (200.0, 100.0, 96.0, 110.0);
    let patch = Detection {
        x,
        y,
        w,
        h,
        score: 0.9,
        landmarks: [
            [x + 0.3 * w, y + 0.4 * h],
            [x + 0.7 * w, y + 0.4 * h],
            [x + 0.5 * w, y + 0.6 * h],
            [x + 0.35 * w, y + 0.8 * h],
            [x + 0.65 * w, y + 0.8 * h],
        ],
    };
    // Each event its own frame (a frame is known by its allocation), but where it repeats one.
    let (g1, g2) = (Arc::new(group.clone()), Arc::new(group));
    let (l1, l2) = (Arc::new(land.clone()), Arc::new(land));
    let mut script = vec![
        (1, TrackPhase::Start, &patch, &l1),
        (2, TrackPhase::Start, &faces[0], &g1),
        (1, TrackPhase::Update, &patch, &l2),
    ];
    for (i, f) in faces[1..].iter().enumerate() {
        script.push((i as u64 + 3, TrackPhase::Start, f, &g1));
    }
    // Track 2's end on its start's face, an update of it on another frame waiting beside it.
    script.push((2, TrackPhase::Update, &faces[0], &g2));
    script.push((2, TrackPhase::End, &faces[0], &g1));
    script.push((1, TrackPhase::End, &patch, &l2));
    for (i, f) in faces[1..].iter().enumerate() {
        script.push((i as u64 + 3, TrackPhase::End, f, &g1));
    }
    let run = |pose: PoseSource, batch: usize| {
        let mut cfg = facestream::config::Config::default();
        cfg.tracking.pose = pose;
        let items = script
            .iter()
            .map(|(id, phase, det, frame)| AnalyzeItem::Track(track_msg(*id, *phase, det, frame)));
        let (events, metrics) = run_stage(&cfg, items, batch);
        let published: Vec<(u64, TrackPhase, Option<f32>)> = events
            .into_iter()
            .filter_map(|e| match e {
                Event::Face(e) => Some((
                    e.track_id,
                    e.event,
                    e.attributes.as_ref().and_then(|a| a.yaw),
                )),
                _ => None,
            })
            .collect();
        (published, metrics.mesh_readings.load(Ordering::Relaxed))
    };
    for pose in [PoseSource::Mesh, PoseSource::Landmarks] {
        let (alone, alone_meshes) = run(pose, 1);
        let (together, together_meshes) = run(pose, MESH_BATCH);
        println!("{pose:?}: one by one {alone_meshes} meshes, {alone:?}");
        println!("{pose:?}: {MESH_BATCH} together {together_meshes} meshes, {together:?}");
        assert!(
            alone.iter().all(|e| e.0 != 1),
            "the landscape passed as a face: {alone:?}"
        );
        assert_eq!(alone.len(), 13, "tracks 2-7: start and end, 2 an update");
        let shape = |es: &[(u64, TrackPhase, Option<f32>)]| -> Vec<(u64, TrackPhase)> {
            es.iter().map(|e| (e.0, e.1)).collect()
        };
        assert_eq!(shape(&alone), shape(&together), "{pose:?}");
        // The same faces' poses (a batched mesh run may differ in the last digits).
        for (a, b) in alone.iter().zip(&together) {
            let (a, b) = (a.2.unwrap(), b.2.unwrap());
            assert!((a - b).abs() <= 0.5, "{pose:?}: yaw {a} against {b}");
        }
        assert_eq!(alone_meshes, together_meshes, "{pose:?}");
    }
}

/// `facestream_face_event_delay_seconds` counts how late each start and update event leaves
/// analysis after its frame arrived (on the daemon's clock); an end, which carries its track's best
/// face from any time before, is not counted.
#[test]
fn face_events_count_how_late_they_leave_analysis() {
    use facestream::messages::{AnalyzeItem, TrackPhase};
    use std::sync::Arc;

    let media = common::media();
    let group = common::load(&media.join("group/dlib_bald_guys.jpg"));
    let face = &common::largest_verified(&mut common::analyzer(), &group).unwrap();
    let frame = Arc::new(group);
    let late = |phase, ms: u64| {
        let mut m = track_msg(1, phase, face, &frame);
        m.wall_ms = STAGE_WALL_MS - ms;
        AnalyzeItem::Track(m)
    };
    let items = [
        late(TrackPhase::Start, 300),
        late(TrackPhase::Update, 40),
        late(TrackPhase::End, 600_000),
    ];
    let cfg = facestream::config::Config::default();
    let (events, metrics) = run_stage(&cfg, items, 1);
    assert_eq!(events.len(), 3, "start, update, end published");
    let delay = metrics.face_event_delay.snapshot();
    assert_eq!(delay.count(), 2, "the end is not counted");
    assert_eq!(
        delay.quantile_ms(0.5),
        Some(Some(50)),
        "40 ms: the ≤ 50 ms bucket"
    );
    assert_eq!(
        delay.quantile_ms(1.0),
        Some(Some(500)),
        "300 ms: the ≤ 500 ms bucket"
    );
    let text = metrics.render();
    assert!(
        text.contains("facestream_face_event_delay_seconds_bucket{le=\"0.05\"} 1\n")
            && text.contains("facestream_face_event_delay_seconds_count 2\n")
            && text.contains("facestream_face_event_delay_seconds_sum 0.34\n"),
        "{text}"
    );
}
