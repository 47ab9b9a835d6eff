//! `facestream bench-api`: detect and search requests per second through the real HTTP API at 1, 4 and
//! 16 concurrent clients, with p50/p99 latency. The server runs in this process on a loopback port,
//! started by the daemon's own `Services`. With `--cameras N` the same requests are measured again
//! while N looping file cameras run through the daemon's pipeline in the same process (as `run`
//! serves both), with the cameras' detected and dropped frames during each row.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use clap::Args;
use serde_json::json;

use crate::config::Config;
use crate::search::fields::Schema;
use crate::search::FaceSets;

#[derive(Debug, Args)]
pub struct BenchApiArgs {
    #[arg(long, default_value = "1,4,16")]
    pub clients: String,
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Then again beside this many looping file cameras at 10 detect fps (0: API alone).
    #[arg(long, default_value_t = 0)]
    pub cameras: usize,
    /// The cameras' video (default: the walking-group clip of ../shared/media).
    #[arg(long)]
    pub video: Option<std::path::PathBuf>,
}

fn post(port: u16, path: &str, body: &[u8]) -> u16 {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
    if s.write_all(head.as_bytes())
        .and_then(|_| s.write_all(body))
        .is_err()
    {
        return 0;
    }
    let mut r = Vec::new();
    let _ = s.read_to_end(&mut r);
    String::from_utf8_lossy(&r)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

pub fn run(cfg: &Config, a: BenchApiArgs) -> anyhow::Result<ExitCode> {
    let media = super::default_media_dir();
    // Before the set is enrolled and the API started: a wrong path is named at once.
    let video = if a.cameras > 0 {
        super::bench_video(
            a.video.as_deref(),
            "video/intel_face-demographics-walking.mp4",
        )?
    } else {
        String::new()
    };
    let dir = std::env::temp_dir().join(format!("facestream-bench-api-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut c = cfg.clone();
    c.storage.dir = dir.clone();
    c.api.auth = false;
    c.http.bind = String::new();
    c.api.max_concurrent = 2;
    c.api.queue_timeout_ms = 60_000;
    c.api.rate_per_second = 0.0;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    c.api.bind = format!("127.0.0.1:{port}");
    let sets = Arc::new(FaceSets::open(&dir)?);
    sets.create_set("public--bench", 100_000, Schema::new(), c.models.embedder)?;
    // The API scopes set names by tenant; with auth off the tenant is "public".
    // Enrol the gallery's first photo of every person as the searched set.
    let mut an = crate::analyze::Analyzer::open(&c)?;
    let mut people: Vec<_> = std::fs::read_dir(media.join("gallery"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    people.sort();
    for p in &people {
        let mut files: Vec<_> = std::fs::read_dir(p)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        let Some(f) = files.first() else { continue };
        let Ok(frame) = crate::ingest::image::load_image(f, &c.images) else {
            continue;
        };
        let dets: Vec<_> = an
            .detect_verified(&frame)?
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        if let Some(i) = crate::analyze::largest(&dets) {
            if let Some(e) = an.embedder()?.embed(&[(&frame, &dets[i])])?.pop().flatten() {
                sets.add_faces(
                    "public--bench",
                    vec![(crate::base::geometry::BoundingBox::from(&dets[i]), e)],
                    None,
                    &Default::default(),
                    None,
                )?;
            }
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // The API as the daemon runs it (bound when `start` returns).
    let services = rt.block_on(crate::daemon::service::Services::start(
        &c,
        Default::default(),
        Arc::new(crate::base::clock::RealClock::default()),
        None,
    ))?;
    let img = base64::engine::general_purpose::STANDARD.encode(std::fs::read(
        media.join("gallery/Barack_Obama/face_recognition_obama_small.jpg"),
    )?);
    let detect = Arc::new(json!({ "image_base64": img }).to_string().into_bytes());
    let search = Arc::new(
        json!({ "image_base64": img, "top_n": 5 })
            .to_string()
            .into_bytes(),
    );
    // Warm-up: the analyzer pool opens its sessions.
    post(port, "/v2/p/face-detect", &detect);
    post(port, "/v2/p/face-sets/bench/search", &search);
    println!("bench-api: {} faces enrolled, requests carry gallery/Barack_Obama/face_recognition_obama_small.jpg, api.max_concurrent {}", sets.show_set("public--bench")?.face_number, c.api.max_concurrent);
    let phases = if a.cameras > 0 {
        vec![0, a.cameras]
    } else {
        vec![0]
    };
    for cams in phases {
        // The cameras run in a daemon of their own beside the API's services, as `run` has them.
        let daemon = if cams > 0 {
            let mut d = c.clone();
            d.mqtt.enabled = false;
            d.cameras = super::bench_stream::cameras(cams, &video, 10.0, true);
            let daemon = crate::daemon::Daemon::start(d, Default::default())?;
            std::thread::sleep(Duration::from_secs(2)); // its cameras open and fill
            println!("beside {cams} cameras of {video} at 10 detect fps:");
            Some(daemon)
        } else {
            println!("the API alone:");
            None
        };
        println!(
            "{:<8} {:>8} {:>10} {:>9} {:>9} {:>7} {:>12} {:>12}",
            "endpoint",
            "clients",
            "req/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "cam det fps",
            "cam dropped"
        );
        let frames = |f: fn(&crate::metrics::CameraCounters) -> &std::sync::atomic::AtomicU64| {
            daemon.as_ref().map_or(0, |d| {
                (0..cams)
                    .map(|i| f(&d.metrics.camera(&format!("cam{i}"))).load(Ordering::Relaxed))
                    .sum::<u64>()
            })
        };
        for (name, path, body) in [
            ("detect", "/v2/p/face-detect", detect.clone()),
            ("search", "/v2/p/face-sets/bench/search", search.clone()),
        ] {
            for n in a
                .clients
                .split(',')
                .filter_map(|s| s.trim().parse::<usize>().ok())
            {
                let (det0, drop0) = (
                    frames(|c| &c.frames_detected),
                    frames(|c| &c.frames_dropped),
                );
                let (mut lat, errors) = load(port, path, &body, n, a.seconds);
                let det = frames(|c| &c.frames_detected) - det0;
                let dropped = frames(|c| &c.frames_dropped) - drop0;
                lat.sort_by(f64::total_cmp);
                let pct = |p: f64| {
                    lat.get(((lat.len().max(1) - 1) as f64 * p) as usize)
                        .copied()
                        .unwrap_or(0.0)
                };
                let (det_fps, dropped) = if daemon.is_some() {
                    (
                        format!("{:.1}", det as f64 / a.seconds as f64),
                        dropped.to_string(),
                    )
                } else {
                    ("-".into(), "-".into())
                };
                println!(
                    "{name:<8} {n:>8} {:>10.1} {:>9.1} {:>9.1} {errors:>7} {det_fps:>12} {dropped:>12}",
                    lat.len() as f64 / a.seconds as f64,
                    pct(0.5),
                    pct(0.99)
                );
            }
        }
        if let Some(d) = daemon {
            d.shutdown();
        }
    }
    rt.block_on(services.stop());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}

/// `n` clients posting `body` to `path` back to back for `seconds`: the latencies (ms) of the
/// answered requests and how many failed.
fn load(
    port: u16,
    path: &'static str,
    body: &Arc<Vec<u8>>,
    n: usize,
    seconds: u64,
) -> (Vec<f64>, usize) {
    let until = Instant::now() + Duration::from_secs(seconds);
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let body = body.clone();
            std::thread::spawn(move || {
                let mut lat = vec![];
                let mut errors = 0;
                while Instant::now() < until {
                    let t = Instant::now();
                    if post(port, path, &body) == 200 {
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    } else {
                        errors += 1;
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let mut lat = vec![];
    let mut errors = 0;
    for h in handles {
        if let Ok((l, e)) = h.join() {
            lat.extend(l);
            errors += e;
        }
    }
    (lat, errors)
}
