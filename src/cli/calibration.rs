//! `facestream model-calibration --out DIR IMAGE_OR_FOLDER...`: the faces the int8 age/gender
//! and mask graphs are calibrated on (scripts/quantize-models.sh), written as the model reads them.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::analyze::attributes::AttributeModels;
use crate::analyze::Analyzer;
use crate::config::Config;
use crate::ingest::image::load_image;

#[derive(Debug, Args)]
pub struct ModelCalibrationArgs {
    /// Folder the inputs are written to: `age_gender.f32` and `mask.f32` (little-endian floats,
    /// one 224×224×3 input after another, the same faces in the same order) and `faces.txt`
    /// (how many).
    #[arg(long)]
    pub out: PathBuf,
    /// Images (JPEG, PNG, BMP, WebP), or folders whose files are read (not recursively); a file
    /// that is not an image is named and skipped.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Faces narrower than this (pixels) are left out: too few pixels to say what a face holds.
    #[arg(long, default_value_t = 24.0)]
    pub min_face: f32,
    /// At most this many faces in all (the first found, in the order of the images).
    #[arg(long, default_value_t = 400)]
    pub max_faces: usize,
}

fn images(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = vec![];
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|f| f.is_file())
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    out
}

pub fn run(cfg: &Config, a: ModelCalibrationArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let create = |name: &str| {
        let file = a.out.join(name);
        std::fs::File::create(&file)
            .map(std::io::BufWriter::new)
            .with_context(|| format!("creating {}", file.display()))
    };
    let (mut age_gender, mut mask) = (create("age_gender.f32")?, create("mask.f32")?);
    let mut analyzer = Analyzer::open(cfg)?;
    let (mut faces, mut skipped) = (0usize, 0usize);
    'images: for path in images(&a.images) {
        let frame = match load_image(&path, &cfg.images) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{}: skipped ({e})", path.display());
                skipped += 1;
                continue;
            }
        };
        for (det, _) in analyzer.detect_verified(&frame)? {
            if det.w < a.min_face {
                continue;
            }
            if faces == a.max_faces {
                break 'images;
            }
            for x in AttributeModels::age_gender_input(&frame, &det) {
                age_gender.write_all(&x.to_le_bytes())?;
            }
            for x in AttributeModels::mask_input(&frame, &det) {
                mask.write_all(&x.to_le_bytes())?;
            }
            faces += 1;
        }
    }
    age_gender.flush()?;
    mask.flush()?;
    std::fs::write(a.out.join("faces.txt"), format!("{faces}\n"))?;
    println!(
        "{faces} faces written to {} ({skipped} images skipped)",
        a.out.display()
    );
    Ok(if faces == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
