//! `facestream bench`: faces per second for detection and embedding at batch 1 and 8 on the sample
//! images, and the ratio of end-to-end time to time inside ONNX Runtime (the wrapper's overhead).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;

use crate::analyze::Embedder;
use crate::config::Config;
use crate::detect::{Detection, Detector};
use crate::frame::Frame;
use crate::ingest::image::load_image;
use crate::models::SessionSettings;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Media folder (default: ../shared/media).
    #[arg(long)]
    pub media: Option<PathBuf>,
    /// Passes over the image set per measurement.
    #[arg(long, default_value_t = 3)]
    pub passes: usize,
}

struct Figure {
    faces: usize,
    total: Duration,
    session: Duration,
}

impl Figure {
    fn print(&self, what: &str) {
        let secs = self.total.as_secs_f64().max(1e-9);
        println!(
            "{what:<28} {:>8.1} faces/s  ({} faces in {:.2} s; ONNX Runtime {:.2} s; end-to-end / session = {:.3})",
            self.faces as f64 / secs,
            self.faces,
            secs,
            self.session.as_secs_f64(),
            secs / self.session.as_secs_f64().max(1e-9)
        );
    }
}

pub fn run(cfg: &Config, a: BenchArgs) -> anyhow::Result<ExitCode> {
    let media = a.media.unwrap_or_else(super::default_media_dir);
    // Group photos, all resized by the detector to the same long-side cap.
    let mut files: Vec<PathBuf> = std::fs::read_dir(media.join("group"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let frames: Vec<Frame> = files
        .iter()
        .filter_map(|p| load_image(p, &cfg.images).ok())
        .collect();
    let settings = SessionSettings::from_config(&cfg.models);
    println!(
        "bench: {} images, {} passes, intra_threads {}",
        frames.len(),
        a.passes,
        cfg.models.intra_threads
    );

    let mut det = Detector::open(&settings, &cfg.detector)?;
    det.detect(&frames[0])?; // warm-up
    let mut found: Vec<(usize, Detection)> = vec![];
    for batch in [1usize, 8] {
        let before = det.session_time();
        let started = Instant::now();
        let mut faces = 0;
        for _ in 0..a.passes {
            for (ci, chunk) in frames.chunks(batch).enumerate() {
                let refs: Vec<&Frame> = chunk.iter().collect();
                for (k, dets) in det.detect_batch(&refs)?.into_iter().enumerate() {
                    faces += dets.len();
                    if batch == 1 && found.len() < 400 {
                        found.extend(dets.into_iter().map(|d| (ci * batch + k, d)));
                    }
                }
            }
        }
        Figure {
            faces,
            total: started.elapsed(),
            session: det.session_time() - before,
        }
        .print(&format!("detect batch {batch}"));
    }

    let mut emb = Embedder::open(&settings, cfg.models.embedder)?;
    let crops: Vec<(&Frame, &Detection)> = found.iter().map(|(i, d)| (&frames[*i], d)).collect();
    emb.embed(&crops[..1])?; // warm-up
    for batch in [1usize, 8] {
        let before = emb.session_time();
        let started = Instant::now();
        let mut faces = 0;
        for _ in 0..a.passes {
            for chunk in crops.chunks(batch) {
                faces += emb.embed(chunk)?.len();
            }
        }
        Figure {
            faces,
            total: started.elapsed(),
            session: emb.session_time() - before,
        }
        .print(&format!("embed batch {batch}"));
    }
    Ok(ExitCode::SUCCESS)
}
