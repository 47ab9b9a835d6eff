//! `search` (1:N in a set) and `identify` (Baidu-style users across groups).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Value};

use crate::analyze::Analyzer;
use crate::config::Config;
use crate::search::{SearchParams, SetError};
use crate::shapes::FaceError;

use super::*;

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Image whose largest face is searched (or use --face-id).
    pub image: Option<PathBuf>,
    #[arg(long)]
    pub set: String,
    #[arg(long)]
    pub face_id: Option<String>,
    #[arg(long, default_value_t = 10)]
    pub top_n: usize,
    /// Similarity 0..1 (default: the calibrated compare threshold).
    #[arg(long)]
    pub threshold: Option<f32>,
    #[arg(long)]
    pub filter: Option<String>,
    /// Numeric fields to sort by, `field:asc` or `field:desc`, comma separated.
    #[arg(long)]
    pub sort: Option<String>,
    /// External fields to return, comma separated.
    #[arg(long)]
    pub return_fields: Option<String>,
}

#[derive(Debug, Args)]
pub struct IdentifyArgs {
    pub image: PathBuf,
    /// Groups (face sets) to search, comma separated.
    #[arg(long)]
    pub group: String,
    #[arg(long, default_value_t = 1)]
    pub top_users: usize,
    #[arg(long)]
    pub threshold: Option<f32>,
    /// M:N: identify every face in the image, not only the largest.
    #[arg(long)]
    pub all_faces: bool,
    /// Verify one user instead of identifying: is the face this user?
    #[arg(long)]
    pub user: Option<String>,
}

fn params(cfg: &Config, a: &SearchArgs) -> Result<SearchParams, Failure> {
    let mut p = SearchParams::new(
        a.threshold
            .unwrap_or(cfg.compare.threshold_for(cfg.models.embedder)),
    );
    p.top_n = a.top_n;
    p.filter = a.filter.clone();
    if let Some(s) = &a.sort {
        for part in s.split(',') {
            let (f, dir) = part.split_once(':').unwrap_or((part, "asc"));
            let asc = match dir {
                "asc" => true,
                "desc" => false,
                _ => {
                    return Err(bad(
                        "sort",
                        format!("{part:?}: use field:asc or field:desc"),
                    ))
                }
            };
            p.sort.push((f.to_string(), asc));
        }
    }
    p.return_fields = a
        .return_fields
        .as_ref()
        .map(|s| s.split(',').map(String::from).collect());
    Ok(p)
}

pub fn search(cfg: &Config, d: DataDir, a: SearchArgs) -> anyhow::Result<ExitCode> {
    let r = (|| -> Result<Value, Failure> {
        let sets = open(cfg, &d)?;
        let p = params(cfg, &a)?;
        let hits = match (&a.image, &a.face_id) {
            (Some(img), None) => {
                sets.show_set(&a.set)?;
                let mut an = Analyzer::open(cfg)?;
                let face = embed_image(&mut an, img, true, false)?
                    .pop()
                    .ok_or_else(|| FaceError::NoFace { path: img.clone() })?;
                sets.search(&a.set, &face.embedding, &p)?
            }
            (None, Some(id)) => sets.search_by_face_id(&a.set, id, &p)?,
            _ => return Err(bad("image", "give an image or --face-id")),
        };
        Ok(json!({"faces": hits}))
    })();
    finish(&d, r)
}

pub fn identify(cfg: &Config, d: DataDir, a: IdentifyArgs) -> anyhow::Result<ExitCode> {
    let r = (|| -> Result<Value, Failure> {
        let sets = open(cfg, &d)?;
        let groups: Vec<String> = a.group.split(',').map(String::from).collect();
        for g in &groups {
            sets.show_set(g)?;
        }
        let threshold = a
            .threshold
            .unwrap_or(cfg.compare.threshold_for(cfg.models.embedder));
        let mut an = Analyzer::open(cfg)?;
        let faces = embed_image(&mut an, &a.image, !a.all_faces, false)?;
        if let Some(user) = &a.user {
            let hits = sets.identify(&groups, &faces[0].embedding, 0.0, 1000)?;
            let score = hits
                .iter()
                .filter(|h| &h.user_id == user)
                .map(|h| h.score)
                .fold(0.0f64, f64::max);
            if !hits.iter().any(|h| &h.user_id == user)
                && !groups.iter().any(|g| {
                    sets.user_groups(user)
                        .map(|gs| gs.contains(g))
                        .unwrap_or(false)
                })
            {
                return Err(SetError::UserNotFound {
                    user: user.clone(),
                    group: a.group.clone(),
                }
                .into());
            }
            return Ok(
                json!({"user_id": user, "score": score, "threshold": threshold, "same_person": score >= threshold as f64}),
            );
        }
        let mut results = vec![];
        for f in &faces {
            let users = sets.identify(&groups, &f.embedding, threshold, a.top_users)?;
            results.push(json!({"bounding_box": f.bbox, "user_list": users}));
        }
        Ok(json!({"face_num": results.len(), "face_list": results}))
    })();
    finish(&d, r)
}
