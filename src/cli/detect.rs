//! `facestream detect IMAGE... [--attributes] [--quality] [--antispoof] [--json] [--draw OUT.jpg]`

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::analyze::mask::MaskState;
use crate::analyze::{Analyzer, FaceAnalysis, Wanted};
use crate::config::Config;
use crate::draw;
use crate::frame::Frame;
use crate::ingest::image::load_image;
use crate::shapes::FaceError;
use crate::shapes::{FaceJson, ImageResult};

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Image files (JPEG, PNG, BMP, WebP).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Add age, gender, mask and head pose.
    #[arg(long)]
    pub attributes: bool,
    /// Add blur, illumination, pose, completeness, face size and the quality gate verdict.
    #[arg(long)]
    pub quality: bool,
    /// Add the passive anti-spoof score (probability of a live face).
    #[arg(long)]
    pub antispoof: bool,
    /// Print one JSON object per image (per line).
    #[arg(long)]
    pub json: bool,
    /// Write the image with boxes, landmarks and labels (with several images: OUT_1.jpg, OUT_2.jpg, ...).
    #[arg(long, value_name = "OUT.jpg")]
    pub draw: Option<PathBuf>,
}

pub fn run(cfg: &Config, a: DetectArgs) -> anyhow::Result<ExitCode> {
    let mut analyzer = Analyzer::open(cfg)?;
    let want = Wanted {
        attributes: a.attributes,
        quality: a.quality,
        antispoof: a.antispoof,
        embedding: false,
        picture: false,
    };
    let mut failed = false;
    for (i, path) in a.images.iter().enumerate() {
        let shown = path.display().to_string();
        let outcome = analyse_one(&mut analyzer, path, want);
        let result = match &outcome {
            Ok((frame, faces)) => {
                if let Some(out) = &a.draw {
                    let target = numbered(out, i, a.images.len());
                    let mut canvas = frame.clone();
                    annotate(&mut canvas, faces);
                    draw::save_jpeg(&canvas, &target)?;
                }
                ImageResult::Faces {
                    image: shown.clone(),
                    faces: faces.iter().map(FaceJson::from).collect(),
                }
            }
            Err(e) => {
                if matches!(e, FaceError::Model(_)) {
                    return Err(anyhow::anyhow!("{e}"));
                }
                failed = true;
                ImageResult::error(&shown, e)
            }
        };
        if a.json {
            println!("{}", serde_json::to_string(&result)?);
        } else {
            print_human(&result);
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn analyse_one(
    an: &mut Analyzer,
    path: &Path,
    want: Wanted,
) -> Result<(Frame, Vec<FaceAnalysis>), FaceError> {
    let frame = load_image(path, &an.config().images)?;
    let faces = an.analyze(&frame, want)?;
    if faces.is_empty() {
        return Err(FaceError::NoFace {
            path: path.to_path_buf(),
        });
    }
    Ok((frame, faces))
}

fn numbered(out: &Path, i: usize, n: usize) -> PathBuf {
    if n <= 1 {
        return out.to_path_buf();
    }
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let ext = out
        .extension()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "jpg".into());
    out.with_file_name(format!("{stem}_{}.{ext}", i + 1))
}

/// Draws each face's box, landmarks and a label line (score, gender/age, mask, quality verdict).
pub fn annotate(canvas: &mut Frame, faces: &[FaceAnalysis]) {
    let s = draw::stroke_for(canvas);
    for f in faces {
        let d = &f.detection;
        let ok = f.quality.as_ref().map(|q| q.passed).unwrap_or(true);
        draw::rect(
            canvas,
            d.x,
            d.y,
            d.w,
            d.h,
            s,
            if ok { draw::GREEN } else { draw::YELLOW },
        );
        for p in &d.landmarks {
            draw::dot(canvas, p[0], p[1], s + 1, draw::RED);
        }
        let mut text = format!("{:.2}", d.score);
        if let Some(a) = &f.attributes {
            text.push_str(&format!(
                " {}{:.0}{}",
                &a.gender[..1].to_uppercase(),
                a.age,
                match a.mask_state {
                    MaskState::Masked => " mask",
                    MaskState::Unknown => " mask?",
                    MaskState::Bare => "",
                }
            ));
        }
        if let Some(q) = &f.quality {
            text.push_str(if q.passed { " q:ok" } else { " q:low" });
        }
        let y = (d.y - 8.0 * s as f32 - 4.0).max(0.0);
        draw::label(canvas, d.x, y, &text, s, draw::WHITE);
    }
}

fn print_human(r: &ImageResult) {
    match r {
        ImageResult::Faces { image, faces } => {
            println!("{image}: {} face(s)", faces.len());
            for (i, f) in faces.iter().enumerate() {
                let b = &f.bounding_box;
                let mut line = format!(
                    "  #{i} box ({}, {}, {}x{}) score {:.3}",
                    b.top_left_x, b.top_left_y, b.width, b.height, f.score
                );
                if let Some(a) = &f.attributes {
                    let mask = match a.mask_state {
                        MaskState::Masked => "masked",
                        MaskState::Bare => "bare",
                        MaskState::Unknown => "unknown",
                    };
                    line.push_str(&format!(" | {} age {:.0} mask {mask}", a.gender, a.age));
                    if let (Some(y), Some(p), Some(r)) = (a.yaw, a.pitch, a.roll) {
                        line.push_str(&format!(" yaw {y:.0} pitch {p:.0} roll {r:.0}"));
                    }
                }
                if let Some(q) = &f.quality {
                    line.push_str(&format!(
                        " | blur {:.2} light {:.0} size {:.0} {}",
                        q.blur,
                        q.illumination,
                        q.face_size,
                        if q.passed {
                            "quality ok".to_string()
                        } else {
                            format!("quality low: {}", q.reasons.join(","))
                        }
                    ));
                }
                if let Some(r) = f.real_score {
                    line.push_str(&format!(" | live {r:.2}"));
                }
                println!("{line}");
            }
        }
        ImageResult::Error {
            image,
            error_code,
            error_msg,
        } => {
            eprintln!("{image}: error {error_code}: {error_msg}");
        }
    }
}
