//! `facestream compare IMG1 IMG2 [--json]`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::analyze::Analyzer;
use crate::codes::frs;
use crate::config::Config;
use crate::ingest::image::load_image;
use crate::shapes::FaceError;
use crate::shapes::{CompareResult, ErrorBody, FaceJson};

#[derive(Debug, Args)]
pub struct CompareArgs {
    pub image1: PathBuf,
    pub image2: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cfg: &Config, a: CompareArgs) -> anyhow::Result<ExitCode> {
    let mut an = Analyzer::open(cfg)?;
    let outcome = (|| -> Result<CompareResult, FaceError> {
        let f1 = load_image(&a.image1, &cfg.images)?;
        let f2 = load_image(&a.image2, &cfg.images)?;
        match an.compare(&f1, &f2)? {
            Ok(c) => Ok(CompareResult {
                similarity: (c.similarity * 10000.0).round() / 10000.0,
                same_person: c.same_person,
                threshold: c.threshold,
                image1_face: FaceJson::from(&c.face1),
                image2_face: FaceJson::from(&c.face2),
            }),
            Err(which) => {
                let path = if which.0 == 1 { &a.image1 } else { &a.image2 };
                Err(FaceError::NoFace { path: path.clone() })
            }
        }
    })();
    match outcome {
        Ok(r) => {
            if a.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "similarity {:.4} (threshold {:.2}): {}",
                    r.similarity,
                    r.threshold,
                    if r.same_person {
                        "same person"
                    } else {
                        "different people"
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(FaceError::Model(e)) => Err(e.into()),
        Err(e) => {
            if a.json {
                println!("{}", serde_json::to_string(&ErrorBody::from(&e))?);
            } else {
                eprintln!("error {}: {e}", frs::code(e.kind()));
            }
            Ok(ExitCode::from(1))
        }
    }
}
