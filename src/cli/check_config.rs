//! `facestream check-config FILE`: validates a configuration without starting anything, and says
//! what a daemon started on it would do (cameras, API, MQTT).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// The configuration file to check (TOML).
    pub file: PathBuf,
}

pub fn run(a: CheckConfigArgs) -> anyhow::Result<ExitCode> {
    let cfg = match Config::load(&a.file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("facestream: {}: invalid: {e}", a.file.display());
            return Ok(ExitCode::from(1));
        }
    };
    println!("{}: valid", a.file.display());
    for line in summary(&cfg) {
        println!("  {line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// What a daemon on `cfg` would do, one line each; the daemon logs the same at start.
pub fn summary(cfg: &Config) -> Vec<String> {
    let enabled = cfg.cameras.iter().filter(|c| c.enabled).count();
    let mut out = vec![if cfg.cameras.is_empty() {
        "cameras: none (no video is watched)".to_string()
    } else {
        format!(
            "cameras: {} configured, {enabled} enabled ({})",
            cfg.cameras.len(),
            cfg.cameras
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }];
    out.push(if cfg.api.bind.is_empty() {
        "api: off (api.bind is empty)".to_string()
    } else {
        format!(
            "api: {} ({} key(s), {})",
            cfg.api.bind,
            cfg.api.keys.len(),
            if cfg.api.tls_cert.is_some() {
                "HTTPS"
            } else {
                "HTTP"
            }
        )
    });
    out.push(if cfg.mqtt.enabled {
        format!(
            "mqtt: {}:{} prefix {:?}{}",
            cfg.mqtt.host,
            cfg.mqtt.port,
            cfg.mqtt.topic_prefix,
            if cfg.mqtt.tls { " (TLS)" } else { "" }
        )
    } else {
        "mqtt: off".to_string()
    });
    if cfg.cameras.is_empty() && cfg.api.bind.is_empty() {
        out.push("warning: no camera and no API: the daemon would have nothing to do".into());
    }
    out
}
