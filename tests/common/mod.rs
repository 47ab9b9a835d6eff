//! Shared helpers for the integration tests: real models, real media from ../shared/media.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use facestream::analyze::{Analyzer, FaceAnalysis};
use facestream::config::Config;
use facestream::frame::Frame;
use facestream::ingest::image::load_image;

pub mod services;
pub mod tls;

/// A test's own folder under the system's temp dir (`name` carries the process id, so runs side by
/// side do not meet): emptied when made, removed when it goes out of scope, and kept, its path
/// printed, when the test fails (the daemon's log and data are what a failure is read from) or
/// `FACESTREAM_KEEP_TEST_FILES` is set (the console's screenshots, a clip the test made).
/// Before, the suite left ~100 folders and files (~30 MB) in the temp dir at every run;
/// `scripts/test.sh` now fails when anything is left.
pub struct Scratch(PathBuf);

impl Scratch {
    /// `<temp dir>/<name>-<pid>`: runs of the suite side by side (and a kept folder of an
    /// earlier run) never share one.
    pub fn new(name: impl AsRef<str>) -> Self {
        let dir = std::env::temp_dir().join(format!("{}-{}", name.as_ref(), std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("FACESTREAM_KEEP_TEST_FILES").is_some() {
            eprintln!("test files kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn media() -> PathBuf {
    let p = std::env::var_os("FACESTREAM_MEDIA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/media"));
    assert!(
        p.join("MEDIA.md").is_file(),
        "test media not found at {} (set FACESTREAM_MEDIA)",
        p.display()
    );
    p
}

/// Runs `ffmpeg -y -loglevel error ARGS` (derived test videos are built at test time); fails the
/// test with ffmpeg's message when it fails.
pub fn ffmpeg(args: &[&str]) {
    let out = std::process::Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error"])
        .args(args)
        .output()
        .expect("ffmpeg (installed by scripts/setup.sh)");
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn analyzer() -> Analyzer {
    Analyzer::open(&Config::default()).expect("models and ONNX Runtime (run scripts/setup.sh)")
}

pub fn load(path: &Path) -> Frame {
    load_image(path, &Config::default().images).unwrap_or_else(|e| panic!("{e}"))
}

/// Image files directly inside `dir`, sorted.
pub fn images_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let ext = p
                .extension()
                .map(|e| e.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            matches!(ext.as_str(), "jpg" | "jpeg" | "png")
        })
        .collect();
    v.sort();
    v
}

/// Parses a simple CSV line with double-quoted fields.
pub fn csv_fields(line: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Index of the largest analysed face (the labelled one in single-person photos).
pub fn largest_face(faces: &[FaceAnalysis]) -> Option<usize> {
    let dets: Vec<_> = faces.iter().map(|f| f.detection.clone()).collect();
    facestream::analyze::largest(&dets)
}

/// The largest verified face of `frame` and its embedding by `an`'s embedder (None: no face, or
/// one that cannot be aligned).
/// The largest verified face of `frame`.
pub fn largest_verified(an: &mut Analyzer, frame: &Frame) -> Option<facestream::detect::Detection> {
    let dets: Vec<_> = an
        .detect_verified(frame)
        .unwrap()
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    dets.get(facestream::analyze::largest(&dets)?).cloned()
}

pub fn largest_embedded(
    an: &mut Analyzer,
    frame: &Frame,
) -> Option<(
    facestream::detect::Detection,
    facestream::analyze::Embedding,
)> {
    let d = largest_verified(an, frame)?;
    let e = an
        .embedder()
        .unwrap()
        .embed(&[(frame, &d)])
        .unwrap()
        .pop()
        .flatten()?;
    Some((d, e))
}
