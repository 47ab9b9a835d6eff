//! Model loading: manifest checks, checksum verification, clear errors for missing files.

use facestream::config::Config;
use facestream::models::{Manifest, ModelError, ModelSession, Role, SessionSettings};

fn settings(dir: &std::path::Path, verify: bool) -> SessionSettings {
    let mut s = SessionSettings::from_config(&Config::default().models);
    s.models_dir = dir.to_path_buf();
    s.verify_sha256 = verify;
    s
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
    let dir = std::env::temp_dir().join(format!("facestream-models-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
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
    let dir = std::env::temp_dir().join(format!("facestream-models-video-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name != "face_mask_mobilenetv2.onnx" && p.is_file() {
            std::fs::copy(&p, dir.join(&name)).unwrap();
        }
    }
    let mut cfg = Config::default();
    cfg.models.dir = dir.clone();
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
