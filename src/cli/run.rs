//! `facestream run [--config FILE]`: the daemon. Without a config it runs the embedded default:
//! the sample video as a looping camera and a private Mosquitto on 127.0.0.1:1883. The process's
//! life (tasks, signals, reload, shutdown) is `daemon::service`; this only reads the arguments.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::config::{CameraConfig, Config};
use crate::daemon::RunOptions;

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
    rt.block_on(crate::daemon::service::serve(
        cfg,
        config_path.map(Path::to_path_buf),
        RunOptions {
            jsonl: a.events,
            history: true,
            ..Default::default()
        },
    ))?;
    Ok(ExitCode::SUCCESS)
}
