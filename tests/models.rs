//! Model loading: manifest checks, checksum verification, clear errors for missing files.

mod common;

use facestream::analyze::{Analyzer, Wanted};
use facestream::config::Config;
use facestream::models::{Manifest, ModelError, ModelSession, Role, SessionSettings};

fn settings(dir: &std::path::Path, verify: bool) -> SessionSettings {
    let mut s = SessionSettings::from_config(&Config::default().models);
    s.models_dir = dir.to_path_buf();
    s.verify_sha256 = verify;
    s
}

/// An empty folder of this test process, for a models folder of the test's own making.
fn scratch_dir(tag: &str) -> common::Scratch {
    common::Scratch::new(format!("facestream-{tag}"))
}

/// A copy of the models folder without `missing`, in a scratch folder named by `tag`.
fn models_without(missing: &str, tag: &str) -> common::Scratch {
    let dir = scratch_dir(tag);
    for e in std::fs::read_dir(Config::default().models.dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() && p.file_name().is_some_and(|n| n != missing) {
            std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
        }
    }
    dir
}

#[test]
fn every_manifest_entry_is_present_and_verified() {
    let cfg = Config::default();
    let m = Manifest::load(&cfg.models.dir).unwrap();
    assert_eq!(m.models.len(), 8);
    for e in &m.models {
        e.verify(&cfg.models.dir.join(&e.file))
            .unwrap_or_else(|err| panic!("{err}"));
        assert!(
            !e.license.is_empty()
                && !e.origin.is_empty()
                && !e.input.is_empty()
                && !e.output.is_empty()
        );
    }
    // With verification on, every role opens.
    let s = settings(&cfg.models.dir, true);
    for role in [
        Role::Detector,
        Role::Embedder,
        Role::Landmarks,
        Role::Mask,
        Role::AgeGender,
        Role::AntispoofV2,
    ] {
        ModelSession::open(&s, role).unwrap_or_else(|e| panic!("{role:?}: {e}"));
    }
}

#[test]
fn a_tampered_or_missing_model_is_a_clear_error() {
    let src = Config::default().models.dir;
    let dir = scratch_dir("models");
    std::fs::copy(src.join("manifest.toml"), dir.join("manifest.toml")).unwrap();
    let e = ModelSession::open(&settings(&dir, true), Role::Detector)
        .err()
        .unwrap();
    assert!(matches!(e, ModelError::Missing { .. }), "{e}");
    assert!(e.to_string().contains("fetch-models.sh"), "{e}");

    std::fs::write(
        dir.join("face_detector_yunet_n_dynamic.onnx"),
        b"not a model",
    )
    .unwrap();
    let e = ModelSession::open(&settings(&dir, true), Role::Detector)
        .err()
        .unwrap();
    assert!(matches!(e, ModelError::Checksum { .. }), "{e}");
    // Without verification the broken file reaches ONNX Runtime, which refuses it: still an error, not a panic.
    let e = ModelSession::open(&settings(&dir, false), Role::Detector)
        .err()
        .unwrap();
    assert!(matches!(e, ModelError::Load { .. }), "{e}");
}

#[test]
fn shipped_configs_and_presets_are_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for dir in ["config", "pipelines"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                Config::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                n += 1;
            }
        }
    }
    assert!(n >= 5, "{n} config files");
}

/// The daemon opens every model video analysis reads before its first frame: a missing mask model
/// fails the start (naming the file) instead of the first face minutes later.
#[test]
fn video_analysis_opens_every_model_it_needs_up_front() {
    let src = Config::default().models.dir;
    let dir = models_without("face_mask_mobilenetv2.onnx", "models-video");
    let mut cfg = Config::default();
    cfg.models.dir = dir.to_path_buf();
    // Still images open models on first use: the detector alone is enough to start.
    assert!(facestream::analyze::Analyzer::open(&cfg).is_ok());
    let e = facestream::analyze::Analyzer::open_for_video(&cfg, true)
        .err()
        .expect("a video analyzer without the mask model");
    assert!(matches!(e, ModelError::Missing { .. }), "{e}");
    assert!(e.to_string().contains("face_mask_mobilenetv2.onnx"), "{e}");
    std::fs::copy(
        src.join("face_mask_mobilenetv2.onnx"),
        dir.join("face_mask_mobilenetv2.onnx"),
    )
    .unwrap();
    assert!(facestream::analyze::Analyzer::open_for_video(&cfg, true).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The cameras connect while the models open (`Daemon::start`): when a model then fails, the start
/// still fails naming it, and the cameras it had started are stopped again, not left running.
#[test]
fn a_model_missing_at_start_stops_the_cameras_started_beside_it() {
    let dir = models_without("face_mask_mobilenetv2.onnx", "models-daemon");
    let video = common::media().join("video/openh264_foreman_cif.mp4");
    let mut cfg = Config::default();
    cfg.models.dir = dir.to_path_buf();
    cfg.mqtt.enabled = false;
    cfg.http.bind = String::new();
    cfg.cameras = ["mx1", "mx2"]
        .map(|id| facestream::config::CameraConfig {
            id: id.into(),
            uri: video.display().to_string(),
            detect_fps: 0.0,
            enabled: true,
            looping: true,
            face_sets: vec![],
        })
        .to_vec();
    cfg.validate().unwrap();
    let camera_threads = || {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|c| c.trim().starts_with("camera-mx"))
            .count()
    };
    let started = std::time::Instant::now();
    let e = facestream::daemon::Daemon::start(cfg, Default::default())
        .err()
        .expect("a daemon without the mask model");
    assert!(e.to_string().contains("face_mask_mobilenetv2.onnx"), "{e}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the failed start took {:?}",
        started.elapsed()
    );
    assert_eq!(camera_threads(), 0, "camera threads left running");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The rewritten graphs (scripts/optimize-models.py: ReLU6 as Clip, PRelu as x + (s-1)·min(x,0),
/// the mask model's pool made global so it takes any size)
/// compute what the shipped models compute: on real faces, every reading of the fast analyzer
/// equals the original's to float rounding. And they are what a default analyzer runs.
#[test]
fn rewritten_graphs_read_real_faces_exactly_like_the_shipped_models() {
    // The int8 graphs are compared with the float ones in tests/attributes.rs.
    let mut cfg = Config::default();
    cfg.models.int8_age_gender = false;
    cfg.models.int8_mask = false;
    // Every face at 224 px: the shipped mask model takes no other size (small faces at 112 px
    // are measured in tests/attributes.rs).
    cfg.attributes.mask_small_face_px = 0.0;
    let s = SessionSettings::from_config(&cfg.models);
    for role in [Role::AgeGender, Role::Landmarks, Role::Embedder, Role::Mask] {
        let m = ModelSession::open(&s, role).unwrap();
        assert!(
            m.name().ends_with(".fast.onnx"),
            "{role:?} runs {} (run scripts/optimize-models.py)",
            m.name()
        );
    }
    let mut slow_cfg = cfg.clone();
    slow_cfg.models.fast_graphs = false;
    // The shipped mask graph takes 224 px only: asked to read small faces at 112, it reads them
    // at 224 (and says so) instead of failing.
    slow_cfg.attributes.mask_small_face_px = Config::default().attributes.mask_small_face_px;
    let mut fast = Analyzer::open(&cfg).unwrap();
    let mut slow = Analyzer::open(&slow_cfg).unwrap();
    let all = Wanted {
        attributes: true,
        quality: true,
        antispoof: false,
        embedding: true,
        picture: false,
    };
    let media = common::media();
    let mut photos = common::images_in(&media.join("group"));
    photos.extend(common::images_in(&media.join("masked")));
    let mut faces = 0;
    for p in &photos {
        let f = common::load(p);
        let a = fast.analyze(&f, all).unwrap();
        let b = slow.analyze(&f, all).unwrap();
        assert_eq!(a.len(), b.len(), "{}", p.display());
        for (x, y) in a.iter().zip(&b) {
            faces += 1;
            let close = |u: f32, v: f32, tol: f32, what: &str| {
                assert!((u - v).abs() <= tol, "{}: {what} {u} vs {v}", p.display());
            };
            if let (Some(u), Some(v)) = (&x.attributes, &y.attributes) {
                close(u.age, v.age, 0.01, "age");
                close(
                    u.male_probability,
                    v.male_probability,
                    1e-4,
                    "male probability",
                );
                close(
                    u.mask_probability,
                    v.mask_probability,
                    1e-4,
                    "mask probability",
                );
            } else {
                assert!(x.attributes.is_none() && y.attributes.is_none());
            }
            close(
                x.presence.unwrap_or(0.0),
                y.presence.unwrap_or(0.0),
                1e-4,
                "presence",
            );
            if let (Some(u), Some(v)) = (x.pose, y.pose) {
                close(u.yaw, v.yaw, 0.05, "yaw");
                close(u.pitch, v.pitch, 0.05, "pitch");
                close(u.roll, v.roll, 0.05, "roll");
            }
            if let (Some(u), Some(v)) = (&x.embedding, &y.embedding) {
                let cos: f32 = u.vector.iter().zip(&v.vector).map(|(p, q)| p * q).sum();
                assert!(
                    cos > 0.9999,
                    "{}: embeddings differ (cosine {cos})",
                    p.display()
                );
            } else {
                assert_eq!(x.embedding.is_some(), y.embedding.is_some());
            }
        }
    }
    println!("{faces} faces in {} photos read alike", photos.len());
    assert!(faces >= 100, "{faces} faces");
}

/// A rewritten graph older than its model (the model was replaced since the rewrite) is not run:
/// it may be a rewrite of another version. The model runs as shipped.
#[test]
fn a_rewritten_graph_older_than_its_model_is_not_run() {
    let src = Config::default().models.dir;
    let dir = scratch_dir("fast");
    for f in [
        "manifest.toml",
        "age_gender_hse_mobilenet.onnx",
        "age_gender_hse_mobilenet.fast.onnx",
    ] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let s = settings(&dir, false);
    let set_age = |file: &str, secs_ago: u64| {
        let t = std::time::SystemTime::now() - std::time::Duration::from_secs(secs_ago);
        std::fs::File::options()
            .write(true)
            .open(dir.join(file))
            .unwrap()
            .set_modified(t)
            .unwrap();
    };
    set_age("age_gender_hse_mobilenet.onnx", 60);
    set_age("age_gender_hse_mobilenet.fast.onnx", 30);
    let m = ModelSession::open(&s, Role::AgeGender).unwrap();
    assert_eq!(m.name(), "age_gender_hse_mobilenet.fast.onnx");
    // The model is replaced after the rewrite.
    set_age("age_gender_hse_mobilenet.onnx", 0);
    let m = ModelSession::open(&s, Role::AgeGender).unwrap();
    assert_eq!(m.name(), "age_gender_hse_mobilenet.onnx");
    // An int8 graph is preferred when current, passed over when older than the model.
    std::fs::copy(
        src.join("age_gender_hse_mobilenet.int8.onnx"),
        dir.join("age_gender_hse_mobilenet.int8.onnx"),
    )
    .expect("int8 graphs (scripts/quantize-models.sh)");
    set_age("age_gender_hse_mobilenet.onnx", 60);
    set_age("age_gender_hse_mobilenet.fast.onnx", 30);
    set_age("age_gender_hse_mobilenet.int8.onnx", 30);
    let m = ModelSession::open(&s, Role::AgeGender).unwrap();
    assert_eq!(m.name(), "age_gender_hse_mobilenet.int8.onnx");
    let mut float = settings(&dir, false);
    float.int8_age_gender = false;
    assert_eq!(
        ModelSession::open(&float, Role::AgeGender).unwrap().name(),
        "age_gender_hse_mobilenet.fast.onnx"
    );
    set_age("age_gender_hse_mobilenet.int8.onnx", 90);
    let m = ModelSession::open(&s, Role::AgeGender).unwrap();
    assert_eq!(m.name(), "age_gender_hse_mobilenet.fast.onnx");
    // The mask model's int8 graph, on its own switch.
    for f in [
        "face_mask_mobilenetv2.onnx",
        "face_mask_mobilenetv2.int8.onnx",
    ] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    set_age("face_mask_mobilenetv2.onnx", 60);
    set_age("face_mask_mobilenetv2.int8.onnx", 30);
    let m = ModelSession::open(&s, Role::Mask).unwrap();
    assert_eq!(m.name(), "face_mask_mobilenetv2.int8.onnx");
    float.int8_mask = false;
    assert_eq!(
        ModelSession::open(&float, Role::Mask).unwrap().name(),
        "face_mask_mobilenetv2.onnx"
    );
    // Turned off: the model as shipped.
    set_age("age_gender_hse_mobilenet.int8.onnx", 0);
    set_age("age_gender_hse_mobilenet.onnx", 0);
    set_age("age_gender_hse_mobilenet.fast.onnx", 0);
    let mut off = settings(&dir, false);
    off.fast_graphs = false;
    off.int8_age_gender = false;
    assert_eq!(
        ModelSession::open(&off, Role::AgeGender).unwrap().name(),
        "age_gender_hse_mobilenet.onnx"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_mask_model_without_an_int8_graph_is_opened_once() {
    // The small-face reader is the float graph; when no int8 graph lies beside the model the
    // large reader already is that graph, and it used to be opened a second time to find out.
    let src = Config::default().models.dir;
    let dir = scratch_dir("mask-once");
    for f in ["manifest.toml", "face_mask_mobilenetv2.onnx"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let fast = src.join("face_mask_mobilenetv2.fast.onnx");
    assert!(fast.is_file(), "scripts/setup.sh writes {}", fast.display());
    std::fs::copy(&fast, dir.join("face_mask_mobilenetv2.fast.onnx")).unwrap();
    let s = settings(&dir, false);
    assert!(s.int8_mask, "the default prefers the int8 graph");
    let before = ModelSession::opened_on_this_thread();
    let masks = facestream::analyze::mask::MaskModels::open(&s, 64.0).unwrap();
    assert_eq!(ModelSession::opened_on_this_thread() - before, 1);
    // Small faces are still read at the small input, by that one session.
    let small = facestream::detect::Detection {
        x: 0.0,
        y: 0.0,
        w: 40.0,
        h: 48.0,
        score: 0.9,
        landmarks: [[0.0; 2]; 5],
    };
    assert_eq!(
        masks.side(&small),
        facestream::analyze::mask::MASK_SMALL_INPUT
    );
    let _ = std::fs::remove_dir_all(&dir);
}
