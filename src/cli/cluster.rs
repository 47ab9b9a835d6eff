//! `facestream camera add|update|remove|list` and `facestream cluster status`: a pool's cameras
//! in the database of `storage.url` (docs/scaling.md).

use crate::search::store::database::Database;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::cluster::cameras;
use crate::config::{CameraConfig, Config};

#[derive(Debug, Args)]
pub struct CameraArgs {
    /// Camera id: 1-64 letters, digits, - or _.
    pub id: String,
    /// `rtsp://…`, `file:///…` or a path.
    #[arg(long)]
    pub uri: String,
    /// Frames per second fed to detection (0 = every frame).
    #[arg(long, default_value_t = 5.0)]
    pub detect_fps: f32,
    /// Files only: start again at the end.
    #[arg(long = "loop")]
    pub looping: bool,
    /// Face sets to search this camera's tracks in (comma separated).
    #[arg(long, value_delimiter = ',')]
    pub face_sets: Vec<String>,
    /// Added or kept disabled: no daemon watches it.
    #[arg(long)]
    pub disabled: bool,
}

impl From<CameraArgs> for CameraConfig {
    fn from(a: CameraArgs) -> Self {
        CameraConfig {
            id: a.id,
            uri: a.uri,
            detect_fps: a.detect_fps,
            enabled: !a.disabled,
            looping: a.looping,
            face_sets: a.face_sets,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum CameraCommand {
    /// Add a camera to the pool.
    Add(CameraArgs),
    /// Replace a camera's settings (its daemon restarts it).
    Update(CameraArgs),
    /// Remove a camera (its daemon stops it).
    Remove { id: String },
    /// The pool's cameras and who watches each (JSON lines).
    List,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Daemons, the cameras each watches, lease ages (JSON).
    Status,
}

fn database(cfg: &Config) -> anyhow::Result<Database> {
    if cfg.storage.url.is_empty() {
        anyhow::bail!("storage.url: a pool's cameras live in PostgreSQL; set storage.url");
    }
    Ok(Database::shared(&cfg.storage)?)
}

pub fn camera(cfg: &Config, cmd: CameraCommand) -> anyhow::Result<ExitCode> {
    let db = &database(cfg)?;
    let done = match cmd {
        CameraCommand::Add(a) => cameras::add(db, &a.into()).map(|()| "added"),
        CameraCommand::Update(a) => cameras::update(db, &a.into()).map(|()| "updated"),
        CameraCommand::Remove { id } => cameras::remove(db, &id).map(|()| "removed"),
        CameraCommand::List => {
            for c in cameras::status(db)?.cameras {
                println!("{}", serde_json::to_string(&c)?);
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    match done {
        Ok(what) => {
            println!("{what}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

pub fn cluster(cfg: &Config, cmd: ClusterCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ClusterCommand::Status => {
            let s = cameras::status(&database(cfg)?)?;
            println!("{}", serde_json::to_string_pretty(&s)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
