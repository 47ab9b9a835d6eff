//! Command line: `facestream <command>`. Each command lives in its own file.

mod analyze_video;
mod bench;
mod bench_api;
mod bench_search;
mod bench_search_real;
mod bench_stream;
mod calibration;
pub mod check_config;
pub mod cluster;
mod compare;
pub mod db;
mod demo;
mod detect;
mod draw_video;
pub mod events;
mod facesets;
mod liveness;
pub mod run;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "facestream",
    version,
    about = "Self-hosted streaming face analysis"
)]
pub struct Cli {
    /// Configuration file (TOML). Without it, built-in defaults are used.
    #[arg(long, global = true, env = "FACESTREAM_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Find faces in images; optionally read attributes and quality, and draw the result.
    Detect(detect::DetectArgs),
    /// Compare the largest face of two images: similarity 0..1 and a same-person verdict.
    Compare(compare::CompareArgs),
    /// Analyse the sample media (the main job's embedded default) and print what was found.
    Demo(demo::DemoArgs),
    /// Measure detection and embedding throughput at batch 1 and 8, and the wrapper's overhead.
    Bench(bench::BenchArgs),
    /// Requests per second of the HTTP API (detect, search) at 1, 4 and 16 clients.
    BenchApi(bench_api::BenchApiArgs),
    /// Exact face-search latency at 1e4, 1e5, 1e6 synthetic faces.
    BenchSearch(bench_search::BenchSearchArgs),
    /// Measure N concurrent streams through the daemon pipeline and its overhead.
    BenchStream(bench_stream::BenchStreamArgs),
    /// Face sets: create, list, show, delete.
    Faceset {
        #[command(flatten)]
        d: facesets::DataDir,
        #[command(subcommand)]
        cmd: facesets::FacesetCmd,
    },
    /// Faces in a set: add, list, show, update, delete.
    Face {
        #[command(flatten)]
        d: facesets::DataDir,
        #[command(subcommand)]
        cmd: facesets::FaceCmd,
    },
    /// 1:N search of a face set by image or face id (FRS shape).
    Search {
        #[command(flatten)]
        d: facesets::DataDir,
        #[command(flatten)]
        a: facesets::SearchArgs,
    },
    /// Identify users in groups (Baidu style; --all-faces for M:N, --user to verify one user).
    Identify {
        #[command(flatten)]
        d: facesets::DataDir,
        #[command(flatten)]
        a: facesets::IdentifyArgs,
    },
    /// Users across groups: copy, remove, groups, info.
    User {
        #[command(flatten)]
        d: facesets::DataDir,
        #[command(subcommand)]
        cmd: facesets::UserCmd,
    },
    /// Enrol a folder with one sub-folder per person (quality-gated).
    Enroll {
        #[command(flatten)]
        d: facesets::DataDir,
        #[command(flatten)]
        a: facesets::EnrollArgs,
    },
    /// Action liveness on a video clip (FRS live-detect).
    Liveness(liveness::LivenessArgs),
    /// Run the daemon: watch the configured cameras and publish face events to MQTT.
    Run(run::RunArgs),
    /// Run the pipeline over one video file and write its face events as JSON Lines.
    Analyze(analyze_video::AnalyzeArgs),
    /// Write the faces the int8 age/gender and mask graphs are calibrated on (scripts/quantize-models.sh).
    ModelCalibration(calibration::ModelCalibrationArgs),
    /// Validate a configuration file without starting anything; errors name the key.
    CheckConfig(check_config::CheckConfigArgs),
    /// A pool's cameras (PostgreSQL, storage.url): add, update, remove, list.
    Camera {
        #[command(subcommand)]
        cmd: cluster::CameraCommand,
    },
    /// The pool of daemons: status.
    Cluster {
        #[command(subcommand)]
        cmd: cluster::ClusterCommand,
    },
    /// The event history: recent face, match, unknown and liveness events (JSON Lines).
    Events(events::EventsArgs),
    /// The face-set database (PostgreSQL, storage.url): migrate its schema.
    Db {
        #[command(subcommand)]
        cmd: db::DbCommand,
    },
}

/// Runs the parsed command; returns the process exit code. Errors about input are reported by
/// the commands themselves (exit code 1); an `Err` here is a setup problem (config, models).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // check-config reports a bad file itself rather than failing on it here.
    let command = match cli.command {
        Command::CheckConfig(a) => return check_config::run(a),
        c => c,
    };
    let cfg = Config::load_or_default(cli.config.as_deref())?;
    match command {
        Command::Detect(a) => detect::run(&cfg, a),
        Command::Compare(a) => compare::run(&cfg, a),
        Command::Demo(a) => demo::run(&cfg, a),
        Command::Bench(a) => bench::run(&cfg, a),
        Command::BenchApi(a) => bench_api::run(&cfg, a),
        Command::BenchSearch(a) => bench_search::run(&cfg, a),
        Command::BenchStream(a) => bench_stream::run(&cfg, cli.config.as_deref(), a),
        Command::Faceset { d, cmd } => facesets::faceset(&cfg, d, cmd),
        Command::Face { d, cmd } => facesets::face(&cfg, d, cmd),
        Command::Search { d, a } => facesets::search(&cfg, d, a),
        Command::Identify { d, a } => facesets::identify(&cfg, d, a),
        Command::User { d, cmd } => facesets::user(&cfg, d, cmd),
        Command::Enroll { d, a } => facesets::enroll(&cfg, d, a),
        Command::Liveness(a) => liveness::run(&cfg, a),
        Command::Run(a) => run::run(cli.config.as_deref(), cfg, a),
        Command::Analyze(a) => analyze_video::run(&cfg, a),
        Command::CheckConfig(a) => check_config::run(a),
        Command::ModelCalibration(a) => calibration::run(&cfg, a),
        Command::Db { cmd } => db::run(&cfg, cmd),
        Command::Events(a) => events::run(&cfg, a),
        Command::Camera { cmd } => cluster::camera(&cfg, cmd),
        Command::Cluster { cmd } => cluster::cluster(&cfg, cmd),
    }
}

/// A benchmark's `--video`, or `default` under the sample media: named at once when it is not a
/// file (a camera that never opens would otherwise be measured, or waited for, as if it ran).
pub(crate) fn bench_video(arg: Option<&Path>, default: &str) -> anyhow::Result<String> {
    let video = arg.map_or_else(|| default_media_dir().join(default), Path::to_path_buf);
    if !video.is_file() {
        anyhow::bail!("--video {}: no such video file", video.display());
    }
    Ok(video.display().to_string())
}

/// Default location of the sample media: `../shared/media` beside the crate, or `$FACESTREAM_MEDIA`.
pub fn default_media_dir() -> PathBuf {
    std::env::var_os("FACESTREAM_MEDIA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/media"))
}
