//! `facestream events`: the event history (docs/cli.md), newest first, one JSON object per line.

use std::process::ExitCode;

use clap::Args;

use crate::config::Config;
use crate::history::{EventLog, EventQuery};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only this camera's events.
    #[arg(long)]
    pub camera: Option<String>,
    /// Only events naming this person (a user id, external image id or `unknown-N`).
    #[arg(long)]
    pub person: Option<String>,
    /// Only this kind: face, match, unknown or liveness.
    #[arg(long)]
    pub kind: Option<String>,
    /// Only events of the last N minutes.
    #[arg(long)]
    pub since_minutes: Option<f64>,
    /// At most this many events (1..=500).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Skip this many (paging).
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// Write event `ID`'s snapshot to this file instead of listing (with --id).
    #[arg(long, requires = "id")]
    pub snapshot: Option<std::path::PathBuf>,
    /// The event whose snapshot to write.
    #[arg(long)]
    pub id: Option<String>,
}

pub fn run(cfg: &Config, a: EventsArgs) -> anyhow::Result<ExitCode> {
    let log = EventLog::open(&cfg.storage)?;
    if let (Some(path), Some(id)) = (&a.snapshot, &a.id) {
        return Ok(match log.snapshot(id) {
            Ok(jpeg) => {
                std::fs::write(path, jpeg)?;
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {} {e}", crate::codes::frs::code(e.kind()));
                ExitCode::from(1)
            }
        });
    }
    let q = EventQuery {
        camera: a.camera,
        person: a.person,
        kind: a.kind,
        from_ms: a
            .since_minutes
            .map(|m| crate::base::time::wall_ms() as i64 - (m * 60_000.0) as i64),
        offset: a.offset,
        limit: a.limit,
        ..Default::default()
    };
    match log.query(&q) {
        Ok(page) => {
            for e in page.events {
                println!("{}", serde_json::to_string(&e)?);
            }
            if let Some(n) = page.next_offset {
                eprintln!("more: --offset {n}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {} {e}", crate::codes::frs::code(e.kind()));
            Ok(ExitCode::from(1))
        }
    }
}
