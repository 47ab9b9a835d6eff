//! `enroll`: a folder of people's photos into a face set.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Map, Value};

use crate::analyze::{largest, Analyzer, Wanted};
use crate::codes::frs;
use crate::config::Config;
use crate::ingest::image::load_image;
use crate::search::fields::Schema;
use crate::search::Enrolment;

use super::*;

#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// Folder with one sub-folder per person; the sub-folder name becomes the user id.
    pub dir: PathBuf,
    #[arg(long)]
    pub set: String,
    /// Refuse when the set does not exist (by default it is created).
    #[arg(long)]
    pub no_create: bool,
    /// Skip the quality gate.
    #[arg(long)]
    pub no_quality_gate: bool,
}

/// A photo's external_image_id: its file name without the extension, cut to FRS's 36 characters.
fn external_image_id(path: &std::path::Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "photo".into());
    stem.chars().take(36).collect()
}

pub fn enroll(cfg: &Config, d: DataDir, a: EnrollArgs) -> anyhow::Result<ExitCode> {
    let r = (|| -> Result<Value, Failure> {
        let sets = open(cfg, &d)?;
        if sets.show_set(&a.set).is_err() && !a.no_create {
            sets.create_set(&a.set, 100_000, Schema::new(), cfg.models.embedder)?;
        }
        sets.show_set(&a.set)?;
        let mut an = Analyzer::open(cfg)?;
        let mut people: Vec<PathBuf> = std::fs::read_dir(&a.dir)
            .map_err(|e| bad("dir", format!("{}: {e}", a.dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        people.sort();
        let images: Vec<(String, PathBuf)> = people
            .iter()
            .flat_map(|p| {
                let uid = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| f.is_file())
                    .collect();
                files.sort();
                files.into_iter().map(move |f| (uid.clone(), f))
            })
            .collect();
        let (mut accepted, mut rejected) = (vec![], vec![]);
        let gate = Wanted {
            attributes: false,
            quality: !a.no_quality_gate,
            antispoof: false,
            embedding: true,
            picture: sets.keeps_face_pictures(),
        };
        for (i, (uid, path)) in images.iter().enumerate() {
            progress(i + 1, images.len(), uid);
            let outcome = (|| -> Result<(), String> {
                let frame = load_image(path, &an.config().images)
                    .map_err(|e| format!("{} {e}", frs::code(e.kind())))?;
                let found = an.detect_verified(&frame).map_err(|e| e.to_string())?;
                let dets: Vec<_> = found.iter().map(|(d, _)| d.clone()).collect();
                let k = largest(&dets).ok_or_else(|| {
                    format!(
                        "{} no face found",
                        frs::code(crate::base::error::ErrorKind::NoFace)
                    )
                })?;
                let face = an
                    .analyze_found(&frame, vec![found[k].clone()], gate)
                    .map_err(|e| e.to_string())?
                    .remove(0);
                if let Some(q) = face.quality.as_ref().filter(|q| !q.passed) {
                    return Err(format!("quality gate: {}", q.reasons.join(", ")));
                }
                let emb = face
                    .embedding
                    .clone()
                    .ok_or("no embedding (degenerate landmarks)")?;
                // The file name is the face's external_image_id, so a face found in a search
                // names the photo it came from.
                let eid = external_image_id(path);
                sets.add_faces(
                    &a.set,
                    vec![Enrolment::analysed(&face, emb)],
                    Some(&eid),
                    &Map::new(),
                    Some(uid),
                )
                .map_err(|e| format!("{} {e}", frs::code(e.kind())))?;
                Ok(())
            })();
            match outcome {
                Ok(()) => accepted.push(json!({"user_id": uid, "image": path})),
                Err(reason) => {
                    rejected.push(json!({"user_id": uid, "image": path, "reason": reason}));
                }
            }
        }
        eprintln!();
        // People whose every photo was refused are not in the set at all: say so.
        let mut without_face: Vec<String> = people
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .filter(|uid| !accepted.iter().any(|a| a["user_id"] == uid.as_str()))
            .collect();
        without_face.dedup();
        for uid in &without_face {
            eprintln!("facestream: warning: {uid}: no photo was enrolled; this person will not be recognised");
        }
        Ok(
            json!({"face_set_name": a.set, "accepted": accepted.len(), "rejected": rejected.len(), "rejected_images": rejected, "users": people.len(), "users_without_face": without_face}),
        )
    })();
    finish(&d, r)
}
