//! `facestream bench-stream`: N concurrent streams of a real face video through the whole daemon
//! pipeline at detect_fps 5, 10 and every frame, then the pipeline's time against decode-only plus
//! inference-only time for the same frames (the pipeline's overhead).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Args;

use crate::config::{CameraConfig, Config, WhenFull};
use crate::daemon::{Daemon, RunOptions};
use crate::detect::Detector;
use crate::frame::Frame;
use crate::ingest::camera::{CameraSettings, DetectGrid, Pulled, SourceOpener};
use crate::ingest::gst::GstOpener;
use crate::models::SessionSettings;

#[derive(Debug, Args)]
pub struct BenchStreamArgs {
    /// Concurrent streams.
    #[arg(long, default_value_t = 4)]
    pub streams: usize,
    /// Seconds per live measurement.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Video (default: the Hamilton clip of ../shared/media).
    #[arg(long)]
    pub video: Option<PathBuf>,
    /// Only print the resident memory (MB) of `--streams` cameras after 6 s at 10 detect fps: the
    /// benchmark runs itself so for each stream count, each in a fresh process.
    #[arg(long, hide = true)]
    pub steady_rss_only: bool,
    /// With `--steady-rss-only`: decoders set up as for this many cameras (both measurements of
    /// the per-camera figure alike).
    #[arg(long, hide = true)]
    pub decoders_for: Option<usize>,
}

/// CPU seconds (user + system) used by this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = after
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // Fields 14 and 15 of stat; after the ')' they are at index 11 and 12 (state is not numeric).
    (f.get(10).unwrap_or(&0.0) + f.get(11).unwrap_or(&0.0)) / 100.0
}

/// A memory figure of /proc/self/status in MB (`VmHWM` peak, `VmRSS` now).
fn status_mb(key: &str) -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// Resident memory with `n` streams at 10 detect fps after `secs` of running.
fn steady_rss(base: &Config, video: &str, n: usize, secs: u64) -> anyhow::Result<f64> {
    let mut c = base.clone();
    c.cameras = cameras(n, video, 10.0, true);
    let d = Daemon::start(c, RunOptions::default())?;
    std::thread::sleep(Duration::from_secs(secs));
    let rss = status_mb("VmRSS:");
    d.shutdown();
    Ok(rss)
}

/// [`steady_rss`] in a fresh process: in this one, the allocator keeps what the earlier runs
/// used (one stream measured after eight read as much as eight, and the difference went
/// negative).
fn steady_rss_apart(
    config: Option<&std::path::Path>,
    video: &str,
    n: usize,
    decoders_for: usize,
) -> anyhow::Result<f64> {
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    if let Some(p) = config {
        cmd.arg("--config").arg(p);
    }
    let out = cmd
        .args(["bench-stream", "--steady-rss-only", "--video", video])
        .args(["--streams", &n.to_string()])
        .args(["--decoders-for", &decoders_for.to_string()])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse().map_err(|_| {
        anyhow::anyhow!(
            "steady memory of {n} streams: {text:?} ({})",
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })
}

/// `n` file cameras of one video ("cam0", "cam1", …).
pub(super) fn cameras(n: usize, video: &str, fps: f32, looping: bool) -> Vec<CameraConfig> {
    (0..n)
        .map(|i| CameraConfig {
            id: format!("cam{i}"),
            uri: video.to_string(),
            detect_fps: fps,
            enabled: true,
            looping,
            face_sets: vec![],
        })
        .collect()
}

pub fn run(
    cfg: &Config,
    config_path: Option<&std::path::Path>,
    a: BenchStreamArgs,
) -> anyhow::Result<ExitCode> {
    let video = super::bench_video(
        a.video.as_deref(),
        "video/face_recognition_short_hamilton_clip.mp4",
    )?;
    let mut base = cfg.clone();
    base.mqtt.enabled = false;
    base.http.bind = String::new();
    if a.steady_rss_only {
        let decoders = base
            .pipeline
            .decoder_threads_for(a.decoders_for.unwrap_or(a.streams));
        base.pipeline.decoder_threads = Some(decoders).filter(|&n| n > 0);
        println!("{:.1}", steady_rss(&base, &video, a.streams, 6)?);
        return Ok(ExitCode::SUCCESS);
    }
    let cores = std::thread::available_parallelism()
        .map(std::num::NonZero::get)
        .unwrap_or(1) as f64;
    println!(
        "bench-stream: {} streams of {video}, {} s each, {cores} cores, batch {}",
        a.streams, a.seconds, base.pipeline.batch_size
    );
    println!(
        "{:<10} {:>9} {:>12} {:>9} {:>8} {:>8} {:>10}  face events late (p50 / p99)",
        "detect_fps", "fps in", "fps detected", "dropped", "drop %", "CPU %", "batch avg"
    );
    for fps in [5.0f32, 10.0, 0.0] {
        let mut c = base.clone();
        c.cameras = cameras(a.streams, &video, fps, true);
        let d = Daemon::start(c, RunOptions::default())?;
        std::thread::sleep(Duration::from_secs(2)); // warm-up
        let m = d.metrics.clone();
        let sum = |f: &dyn Fn(&crate::metrics::CameraCounters) -> u64| -> u64 {
            (0..a.streams)
                .map(|i| f(&m.camera(&format!("cam{i}"))))
                .sum()
        };
        let (in0, det0, drop0) = (
            sum(&|c| c.frames_in.load(Ordering::Relaxed)),
            sum(&|c| c.frames_detected.load(Ordering::Relaxed)),
            sum(&|c| c.frames_dropped.load(Ordering::Relaxed)),
        );
        let (b0, bf0) = (
            m.batches.load(Ordering::Relaxed),
            m.batch_frames.load(Ordering::Relaxed),
        );
        let delay0 = m.face_event_delay.snapshot();
        let (cpu0, t0) = (cpu_seconds(), Instant::now());
        std::thread::sleep(Duration::from_secs(a.seconds));
        let secs = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        let fin = (sum(&|c| c.frames_in.load(Ordering::Relaxed)) - in0) as f64;
        let fdet = (sum(&|c| c.frames_detected.load(Ordering::Relaxed)) - det0) as f64;
        let fdrop = (sum(&|c| c.frames_dropped.load(Ordering::Relaxed)) - drop0) as f64;
        let batches = (m.batches.load(Ordering::Relaxed) - b0).max(1) as f64;
        let bframes = (m.batch_frames.load(Ordering::Relaxed) - bf0) as f64;
        let delay = m.face_event_delay.snapshot().since(&delay0);
        d.shutdown();
        let label = if fps == 0.0 {
            "full".to_string()
        } else {
            format!("{fps}")
        };
        let offered = fdet + fdrop;
        println!(
            "{label:<10} {:>9.1} {:>12.1} {:>9.0} {:>7.1}% {:>7.0}% {:>10.2}  {} / {} ({} events)",
            fin / secs,
            fdet / secs,
            fdrop,
            100.0 * fdrop / offered.max(1.0),
            100.0 * cpu / secs / cores,
            bframes / batches,
            delay.describe(0.5),
            delay.describe(0.99),
            delay.count()
        );
    }
    println!("peak RSS {:.0} MB", status_mb("VmHWM:"));
    // Steady state: the same load with one stream and with all, after 6 s each, each in a
    // process of its own; the difference is what the extra cameras hold (queues, decoders,
    // trackers), the rest is models and runtime.
    if a.streams > 1 {
        let one = steady_rss_apart(config_path, &video, 1, a.streams)?;
        let all = steady_rss_apart(config_path, &video, a.streams, a.streams)?;
        println!(
            "steady RSS at 10 detect fps: 1 stream {one:.0} MB, {} streams {all:.0} MB: {:.1} MB per extra camera",
            a.streams,
            (all - one) / (a.streams - 1) as f64
        );
    }

    // Overhead: the same frames through the pipeline (as fast as possible, nothing dropped) vs
    // decode-only plus inference-only.
    let fps = 10.0;
    let mut c = base.clone();
    c.cameras = cameras(a.streams, &video, fps, false);
    let t = Instant::now();
    let opts = RunOptions {
        realtime_files: false,
        frame_policy: Some(WhenFull::Block),
        ..Default::default()
    };
    let d = Daemon::start(c.clone(), opts)?;
    let start_cost = t.elapsed();
    let t = Instant::now();
    while !d.wait_cameras_finished(Duration::from_secs(1)) {}
    let m = d.metrics.clone();
    d.shutdown();
    let pipeline = t.elapsed();
    let frames: u64 = (0..a.streams)
        .map(|i| {
            m.camera(&format!("cam{i}"))
                .frames_detected
                .load(Ordering::Relaxed)
        })
        .sum();
    // Per-track analysis is inference too: its own time (measured inside the run) joins the reference.
    let analysis = Duration::from_micros(m.analysis_us.load(Ordering::Relaxed));
    let events = m.tracks_started.load(Ordering::Relaxed);

    let t = Instant::now();
    let mut decoded: Vec<Frame> = vec![];
    for cam in &c.cameras {
        let settings = CameraSettings::new(cam, &c.pipeline, false);
        let mut src = GstOpener::default().open(&settings)?;
        let mut grid = DetectGrid::new(fps);
        loop {
            match src.pull(Duration::from_secs(5))? {
                Pulled::Frame { frame, pts_ms } => {
                    if grid.keep(pts_ms) {
                        decoded.push(frame);
                    }
                }
                Pulled::Eos => break,
                Pulled::Timeout => anyhow::bail!("decode stalled"),
            }
        }
    }
    let decode = t.elapsed();
    let mut det = Detector::open(&SessionSettings::from_config(&c.models), &c.detector)?;
    let t = Instant::now();
    for chunk in decoded.chunks(c.pipeline.batch_size) {
        let refs: Vec<&Frame> = chunk.iter().collect();
        det.detect_batch(&refs)?;
    }
    let infer = t.elapsed();
    let reference = decode + infer + analysis;
    println!(
        "overhead at detect_fps {fps}: pipeline {:.2} s for {frames} frames ({events} tracks; model loading {:.2} s excluded)",
        pipeline.as_secs_f64(),
        start_cost.as_secs_f64()
    );
    println!(
        "  reference: decode-only {:.2} s + detection-only {:.2} s ({} frames) + track analysis inference {:.2} s = {:.2} s",
        decode.as_secs_f64(),
        infer.as_secs_f64(),
        decoded.len(),
        analysis.as_secs_f64(),
        reference.as_secs_f64()
    );
    println!(
        "  ratio pipeline / reference = {:.3} (target <= 1.15)",
        pipeline.as_secs_f64() / reference.as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
