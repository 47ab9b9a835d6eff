//! `facestream analyze VIDEO [--out events.jsonl] [--draw OUT.mp4]`: the daemon's pipeline over one
//! file, as fast as it decodes, nothing dropped; face events as JSON Lines.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Args;

use crate::config::{CameraConfig, Config, WhenFull};
use crate::daemon::{Daemon, RunOptions};
use crate::ingest::gst::file_duration_ms;

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Video file (any container and codec GStreamer decodes).
    pub video: PathBuf,
    /// Where the face events go (JSON Lines); standard output when absent.
    #[arg(long, value_name = "events.jsonl")]
    pub out: Option<PathBuf>,
    /// Write the video with boxes, track ids and labels.
    #[arg(long, value_name = "OUT.mp4")]
    pub draw: Option<PathBuf>,
    /// Frames per second analysed (0 = every frame).
    #[arg(long, default_value_t = 0.0)]
    pub fps: f32,
    /// Camera name used in the events.
    #[arg(long, default_value = "video")]
    pub camera: String,
    /// Search each track in this face set (repeatable); matches are written as `match` events.
    #[arg(long = "face-set")]
    pub face_sets: Vec<String>,
    /// Face-set database folder (default: `storage.dir`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

pub fn run(cfg: &Config, a: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    if !a.video.is_file() {
        eprintln!("facestream: {}: no such video file", a.video.display());
        return Ok(ExitCode::from(1));
    }
    let mut cfg = cfg.clone();
    cfg.mqtt.enabled = false;
    cfg.cameras = vec![CameraConfig {
        id: a.camera.clone(),
        uri: a.video.display().to_string(),
        detect_fps: a.fps,
        enabled: true,
        looping: false,
        face_sets: a.face_sets.clone(),
    }];
    if let Some(d) = &a.data_dir {
        cfg.storage.dir = d.clone();
    }
    cfg.validate()?;
    // The progress line is for a person at a terminal: in a log or a pipe it is a run of
    // carriage returns, and its duration probe decodes a frame of its own (on a 1080p clip ~50 ms
    // of CPU during start-up). Without a terminal only the summary is written.
    let progress = std::io::stderr().is_terminal();
    // The duration only feeds the progress line: probed beside the start-up (a preroll of its
    // own, 30–100 ms, used to delay every run; a short clip is done before the line first shows).
    // Not joined: it ends by itself (5 s at most), and the process may exit before. It also loads
    // GStreamer's demuxer, decoder and converters while the models load: read off the camera's
    // own pipeline instead, the 9-frame clip and Orlando ran 5–10 % slower (session 37); without
    // any probe (a pipe) they run no slower (session 44).
    let probe = progress
        .then(|| {
            let (tx, rx) = crossbeam_channel::bounded(1);
            let uri = a.video.display().to_string();
            let width = cfg.pipeline.ingest_width;
            std::thread::Builder::new()
                .name("duration-probe".into())
                .spawn(move || tx.send(file_duration_ms(&uri, width)))
                .map(|_| rx)
        })
        .transpose()?;
    let mut duration: Option<u64> = None;
    let (draw_tx, drawer) = match &a.draw {
        Some(path) => {
            let (tx, rx) = crossbeam_channel::bounded(8);
            (Some(tx), Some(super::draw_video::spawn(path.clone(), rx)?))
        }
        None => (None, None),
    };
    let opts = RunOptions {
        realtime_files: false,
        jsonl: Some(a.out.clone().unwrap_or_else(|| PathBuf::from("-"))),
        jsonl_faces_only: true,
        frame_policy: Some(WhenFull::Block),
        tracked_frames: draw_tx,
        ..RunOptions::default()
    };
    let daemon = Daemon::start(cfg, opts)?;
    let cam = daemon.metrics.camera(&a.camera);
    let started = Instant::now();
    // Woken by the file's end (a short clip is done in a fraction of a second: a 250 ms nap was
    // most of a 9-frame clip's time, a 5 ms poll 2–3 ms of it); the progress line four times a second.
    while !daemon.wait_cameras_finished(Duration::from_millis(250)) {
        let Some(probe) = &probe else { continue };
        if let Ok(d) = probe.try_recv() {
            duration = d;
        }
        let pts = cam.last_pts_ms.load(Ordering::Relaxed) as f64 / 1000.0;
        let frames = cam.frames_detected.load(Ordering::Relaxed);
        match duration {
            Some(d) if d > 0 => {
                let pct = (pts * 100_000.0 / d as f64).min(100.0);
                let bar = "#".repeat((pct / 5.0) as usize);
                eprint!(
                    "\r[{bar:<20}] {pct:5.1}%  {pts:.1}/{:.1} s  {frames} frames",
                    d as f64 / 1000.0
                );
            }
            _ => eprint!("\r{pts:.1} s  {frames} frames"),
        }
        let _ = std::io::stderr().flush();
    }
    // Counted after the shutdown has drained every stage: read earlier, the last frames still in
    // flight were missing from the count ("100 of 105 frames").
    let metrics = daemon.metrics.clone();
    daemon.shutdown();
    let frames = cam.frames_detected.load(Ordering::Relaxed);
    let tracks = metrics.tracks_started.load(Ordering::Relaxed);
    let (events, readings, runs, meshes) = (
        metrics.face_events.load(Ordering::Relaxed),
        metrics.attribute_readings.load(Ordering::Relaxed),
        metrics.attribute_runs.load(Ordering::Relaxed),
        metrics.mesh_readings.load(Ordering::Relaxed),
    );
    // Where the time went, per frame and per face event (docs/performance.md).
    let zoomed = metrics.frames_zoomed.load(Ordering::Relaxed);
    let cropped = metrics.frames_cropped.load(Ordering::Relaxed);
    let batches = metrics.batches.load(Ordering::Relaxed);
    let batch = metrics.batch_frames.load(Ordering::Relaxed) as f64 / batches.max(1) as f64;
    let (detect_ms, analysis_ms) = (
        metrics.inference_us.load(Ordering::Relaxed) as f64 / 1000.0,
        metrics.analysis_us.load(Ordering::Relaxed) as f64 / 1000.0,
    );
    if let Some(d) = drawer {
        d.join()
            .map_err(|_| anyhow::anyhow!("video writer panicked"))??;
    }
    let secs = started.elapsed().as_secs_f64();
    let over_progress = if progress { "\r" } else { "" };
    eprintln!(
        "{over_progress}analysed {frames} frames in {secs:.1} s ({:.1} fps); {tracks} tracks started; {events} face events, {readings} with attributes read afresh (in {runs} runs), {meshes} with a face mesh read",
        frames as f64 / secs.max(1e-3)
    );
    eprintln!(
        "cost: detection {:.2} ms a frame ({batch:.1} frames a batch, {batches} batches, {zoomed} at a reduced size, {cropped} cropped to their faces); analysis {:.2} ms a face event (mesh, quality, attributes when read, search)",
        detect_ms / frames.max(1) as f64,
        analysis_ms / events.max(1) as f64,
    );
    Ok(ExitCode::SUCCESS)
}
