//! `facestream run [--config FILE]`: the daemon. Without a config it runs the embedded default:
//! the sample video as a looping camera and a private Mosquitto on 127.0.0.1:1883.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::{CameraConfig, Config};
use crate::daemon::{http, Daemon, RunOptions};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Also write every event to this JSON Lines file (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
}

/// The embedded default: one looping sample video and the embedded broker.
pub fn embedded_default(media: &Path) -> Config {
    let mut cfg = Config::default();
    cfg.cameras.push(CameraConfig {
        id: "sample".into(),
        uri: media
            .join("video/face_recognition_short_hamilton_clip.mp4")
            .display()
            .to_string(),
        detect_fps: 10.0,
        enabled: true,
        looping: true,
        face_sets: vec![],
    });
    cfg.mqtt.embedded_broker = true;
    cfg
}

/// The configuration to reload on SIGHUP. A file that names no camera at all (emptied, truncated
/// or half-written by an editor) is refused rather than stopping every camera; `cameras = []`
/// says "stop them all" on purpose.
fn load_for_reload(path: &Path) -> Result<Config, crate::config::ConfigError> {
    let cfg = Config::load(path)?;
    if cfg.cameras.is_empty() {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let explicit =
            toml::from_str::<toml::Table>(&text).is_ok_and(|t| t.contains_key("cameras"));
        if !explicit {
            return Err(crate::config::invalid(
                "cameras",
                "the new file configures no camera; write `cameras = []` to stop them all on purpose",
            ));
        }
    }
    Ok(cfg)
}

pub fn run(config_path: Option<&Path>, cfg: Config, a: RunArgs) -> anyhow::Result<ExitCode> {
    let cfg = if config_path.is_none() {
        eprintln!("facestream: no --config: running the embedded default (sample video, broker on 127.0.0.1:1883); watch with: mosquitto_sub -t 'facestream/#' -v");
        embedded_default(&super::default_media_dir())
    } else {
        cfg
    };
    for line in super::check_config::summary(&cfg) {
        match line.strip_prefix("warning: ") {
            Some(w) => tracing::warn!("{w}"),
            None => tracing::info!("{line}"),
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut daemon = Daemon::start(cfg.clone(), RunOptions { jsonl: a.events, ..Default::default() })?;
        if !cfg.http.bind.is_empty() {
            // Bound before READY so a port conflict fails the start, naming the key.
            let listener = tokio::net::TcpListener::bind(&cfg.http.bind)
                .await
                .map_err(|e| anyhow::anyhow!("http.bind: cannot listen on {}: {e}", cfg.http.bind))?;
            let m = daemon.metrics.clone();
            tokio::spawn(async move {
                if let Err(e) = http::serve(listener, m).await {
                    tracing::error!(error = %e, "metrics endpoint failed");
                }
            });
        }
        if !cfg.api.bind.is_empty() {
            let sets = std::sync::Arc::new(
                crate::search::FaceSets::open(&cfg.storage.dir).map_err(|e| {
                    anyhow::anyhow!("storage.dir {}: {e}", cfg.storage.dir.display())
                })?
                    .with_face_pictures(cfg.storage.keep_face_images),
            );
            let (api_cfg, api_metrics) = (cfg.clone(), daemon.metrics.clone());
            // Bind before READY so a port conflict fails the start.
            let listener = tokio::net::TcpListener::bind(&api_cfg.api.bind)
                .await
                .map_err(|e| anyhow::anyhow!("api.bind: cannot listen on {}: {e}", api_cfg.api.bind))?;
            let tls = match (&api_cfg.api.tls_cert, &api_cfg.api.tls_key) {
                (Some(c), Some(k)) => Some(crate::tls::server_config(c, k)?),
                _ => None,
            };
            tokio::spawn(async move {
                let served = match tls {
                    Some(t) => match crate::tls::TlsListener::new(listener, t) {
                        Ok(l) => crate::api::http::serve_on(l, api_cfg, sets, api_metrics).await,
                        Err(e) => Err(e),
                    },
                    None => crate::api::http::serve_on(listener, api_cfg, sets, api_metrics).await,
                };
                if let Err(e) = served {
                    tracing::error!(error = %e, "HTTP API failed");
                }
            });
        }
        // One line a minute: what the daemon did in the last minute.
        {
            let m = daemon.metrics.clone();
            tokio::spawn(async move {
                let every = Duration::from_secs(60);
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                let mut before = m.totals();
                loop {
                    tick.tick().await;
                    let now = m.totals();
                    tracing::info!("last minute: {}", now.summary_since(&before, every.as_secs_f64()));
                    before = now;
                }
            });
        }
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
        let mut usec = 0u64;
        if sd_notify::watchdog_enabled(false, &mut usec) {
            let m = daemon.metrics.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_micros(usec / 2));
                loop {
                    tick.tick().await;
                    // Only a pipeline that still moves keeps the watchdog quiet.
                    if http::healthy(&m) {
                        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
                    }
                }
            });
        }
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => {
                    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Reloading]);
                    match config_path.map(load_for_reload) {
                        Some(Ok(new)) => match daemon.reload(&new) {
                            Ok(()) => tracing::info!(cameras = ?daemon.camera_ids(), "configuration reloaded"),
                            Err(e) => tracing::error!(error = %e, "reload failed"),
                        },
                        Some(Err(e)) => tracing::error!(error = %e, "reload refused: the new configuration is invalid; keeping the old one"),
                        None => tracing::warn!("SIGHUP ignored: running the embedded default, there is no file to reload"),
                    }
                    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
                }
            }
        }
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
        tracing::info!("stopping: draining the pipeline and flushing events");
        tokio::task::spawn_blocking(move || daemon.shutdown()).await?;
        Ok(ExitCode::SUCCESS)
    })
}
