//! `facestream liveness VIDEO --actions 1,3 [--action-time 1000-3000,4000-7000] [--nod-threshold 10] [--json]`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use crate::analyze::liveness::{check, LivenessConfig, LivenessError, Request};
use crate::analyze::Analyzer;
use crate::codes::frs;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct LivenessArgs {
    /// Video clip (mp4, avi, flv, webm, mov, asf, mkv…; any codec FFmpeg decodes).
    pub video: PathBuf,
    /// Actions in order: 1 head to the left, 2 to the right, 3 nod, 4 mouth, 5 blink (at most 10).
    #[arg(long)]
    pub actions: String,
    /// One START-END window (ms from the start of the video) per action.
    #[arg(long)]
    pub action_time: Option<String>,
    /// Nod amplitude in degrees, 1..90.
    #[arg(long, default_value_t = 10.0)]
    pub nod_threshold: f32,
    /// Action 1 ("left") means a turn towards the image's left (default: the subject's left, the image's right).
    #[arg(long)]
    pub left_is_image_left: bool,
    /// Largest clip in bytes.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    pub max_bytes: u64,
    /// Allowed duration in ms, MIN-MAX.
    #[arg(long, default_value = "1000-15000")]
    pub duration: String,
    #[arg(long)]
    pub json: bool,
}

pub fn run(cfg: &Config, a: LivenessArgs) -> anyhow::Result<ExitCode> {
    let outcome = (|| -> Result<_, LivenessError> {
        let req = Request::parse(&a.actions, a.action_time.as_deref(), a.nod_threshold)?;
        let mut lc = LivenessConfig {
            max_bytes: a.max_bytes,
            ..Default::default()
        };
        lc.thresholds.left_is_image_left = a.left_is_image_left;
        if let Some((lo, hi)) = a
            .duration
            .split_once('-')
            .and_then(|(l, h)| Some((l.parse().ok()?, h.parse().ok()?)))
        {
            lc.min_duration_ms = lo;
            lc.max_duration_ms = hi;
        }
        let mut an = Analyzer::open(cfg)?;
        check(&mut an, &a.video, &req, &lc)
    })();
    match outcome {
        Ok(r) => {
            if a.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!("alive: {}", r.video_result.alive);
                for act in &r.video_result.actions {
                    println!("  action {}: confidence {:.2}", act.action, act.confidence);
                }
                for w in &r.warnings {
                    println!("  warning {}: {}", w.code, w.message);
                }
                println!(
                    "  anti-spoof {:.2}, same person {:.2}, {} frames / {} ms, processed in {} ms",
                    r.anti_spoof_score,
                    r.identity_consistency,
                    r.frames,
                    r.duration_ms,
                    r.processing_ms
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(LivenessError::Model(e)) => Err(e.into()),
        Err(e) => {
            if a.json {
                println!(
                    "{}",
                    json!({"error_code": frs::code(e.kind()), "error_msg": e.to_string()})
                );
            } else {
                eprintln!("error {}: {e}", frs::code(e.kind()));
            }
            Ok(ExitCode::from(1))
        }
    }
}
