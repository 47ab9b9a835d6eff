//! `facestream demo`: the embedded default job for now — analyse the sample media and print results.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::analyze::{Analyzer, Wanted};
use crate::codes::frs;
use crate::config::Config;
use crate::ingest::image::load_image;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Media folder (default: ../shared/media beside the crate, or $FACESTREAM_MEDIA).
    #[arg(long)]
    pub media: Option<PathBuf>,
}

pub fn run(cfg: &Config, a: DemoArgs) -> anyhow::Result<ExitCode> {
    let media = a.media.unwrap_or_else(super::default_media_dir);
    let mut an = Analyzer::open(cfg)?;
    let want = Wanted {
        attributes: true,
        quality: true,
        antispoof: true,
        embedding: false,
        picture: false,
    };
    println!(
        "== faces in the group photos ({}) ==",
        media.join("group").display()
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(media.join("group"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for path in &files {
        match load_image(path, &cfg.images) {
            Ok(frame) => {
                let faces = an.analyze(&frame, want)?;
                let masks = faces
                    .iter()
                    .filter(|f| f.attributes.as_ref().is_some_and(|a| a.mask))
                    .count();
                let good = faces
                    .iter()
                    .filter(|f| f.quality.as_ref().is_some_and(|q| q.passed))
                    .count();
                let ages: Vec<String> = faces
                    .iter()
                    .filter_map(|f| {
                        f.attributes
                            .as_ref()
                            .map(|a| format!("{}{:.0}", &a.gender[..1], a.age))
                    })
                    .collect();
                println!(
                    "{:<40} {:>2} faces, {} masked, {} pass the quality gate; {}",
                    path.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    faces.len(),
                    masks,
                    good,
                    ages.join(" ")
                );
            }
            Err(e) => println!("{}: error {}: {e}", path.display(), frs::code(e.kind())),
        }
    }
    println!("== 1:1 comparisons ==");
    let g = media.join("gallery");
    let pairs = [
        (
            "Barack_Obama/face_recognition_knn_test_obama1.jpg",
            "Barack_Obama/face_recognition_obama_small.jpg",
        ),
        (
            "Kit_Harington/face_recognition_john1.jpg",
            "Kit_Harington/face_recognition_john2.jpg",
        ),
        (
            "Barack_Obama/face_recognition_obama_small.jpg",
            "Joe_Biden/face_recognition_biden2.jpg",
        ),
    ];
    for (p1, p2) in pairs {
        let (f1, f2) = match (
            load_image(&g.join(p1), &cfg.images),
            load_image(&g.join(p2), &cfg.images),
        ) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                println!("{p1} vs {p2}: {e}");
                continue;
            }
        };
        match an.compare(&f1, &f2)? {
            Ok(c) => println!(
                "{p1} vs {p2}: similarity {:.3} -> {}",
                c.similarity,
                if c.same_person {
                    "same person"
                } else {
                    "different people"
                }
            ),
            Err(w) => println!("{p1} vs {p2}: no face in image {}", w.0),
        }
    }
    Ok(ExitCode::SUCCESS)
}
