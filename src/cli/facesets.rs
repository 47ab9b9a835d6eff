//! Face-set commands: `faceset`, `face`, `search`, `identify`, `user`, `enroll`.
//! Errors print FRS's `{"error_code","error_msg"}` with `--json` and exit 1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use crate::analyze::{largest, Analyzer, Wanted};
use crate::config::Config;
use crate::ingest::image::load_image;
use crate::search::fields::{FieldType, Schema};
use crate::search::store::Selector;
use crate::search::{Enrolment, FaceSets, SearchParams, SetError};
use crate::shapes::FaceError;

#[derive(Debug, Args)]
pub struct DataDir {
    /// Face-set database folder (default: `storage.dir` of the config).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Print JSON.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum FacesetCmd {
    /// Create a face set: `--field name:type` per external field (string, integer, long, float, double, boolean).
    Create {
        name: String,
        #[arg(long, default_value_t = 100_000)]
        capacity: usize,
        #[arg(long = "field", value_name = "NAME:TYPE")]
        fields: Vec<String>,
    },
    List,
    Show {
        name: String,
    },
    Delete {
        name: String,
    },
    /// Move a face set to the configured embedder (`models.embedder`): every face is embedded
    /// again from the picture kept at enrolment (`storage.keep_face_images`). All or nothing.
    Reembed {
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum FaceCmd {
    /// Add the faces of an image (all, or only the largest with --single).
    Add {
        #[arg(long)]
        set: String,
        image: PathBuf,
        #[arg(long)]
        single: bool,
        #[arg(long)]
        external_image_id: Option<String>,
        /// External fields as a JSON object.
        #[arg(long)]
        fields: Option<String>,
        /// Baidu user id the faces belong to.
        #[arg(long)]
        user: Option<String>,
    },
    List {
        #[arg(long)]
        set: String,
        #[arg(long, default_value_t = 0)]
        offset: usize,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    Show {
        #[arg(long)]
        set: String,
        face_id: String,
    },
    Update {
        #[arg(long)]
        set: String,
        face_id: String,
        #[arg(long)]
        external_image_id: Option<String>,
        #[arg(long)]
        fields: Option<String>,
    },
    /// Delete by --face-id, --external-image-id, --field NAME=VALUE or --filter (batch delete).
    Delete {
        #[arg(long)]
        set: String,
        #[arg(long)]
        face_id: Option<String>,
        #[arg(long)]
        external_image_id: Option<String>,
        #[arg(long, value_name = "NAME=VALUE")]
        field: Option<String>,
        #[arg(long)]
        filter: Option<String>,
    },
}

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

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Copy a user's faces to another group.
    Copy {
        user: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
    },
    /// Remove a user from a group (refused for the user's last group).
    Remove {
        user: String,
        #[arg(long)]
        group: String,
    },
    /// Groups a user is in.
    Groups { user: String },
    /// Set the user's info text in a group.
    Info {
        user: String,
        #[arg(long)]
        group: String,
        info: String,
    },
}

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

enum Failure {
    Set(SetError),
    Face(FaceError),
}

impl From<SetError> for Failure {
    fn from(e: SetError) -> Self {
        Failure::Set(e)
    }
}
impl From<FaceError> for Failure {
    fn from(e: FaceError) -> Self {
        Failure::Face(e)
    }
}
impl From<crate::models::ModelError> for Failure {
    fn from(e: crate::models::ModelError) -> Self {
        Failure::Face(FaceError::Model(e))
    }
}
impl From<crate::ingest::image::InputError> for Failure {
    fn from(e: crate::ingest::image::InputError) -> Self {
        Failure::Face(FaceError::Input(e))
    }
}

fn bad(name: &'static str, message: impl Into<String>) -> Failure {
    Failure::Set(SetError::BadParameter {
        name,
        message: message.into(),
    })
}

fn finish(d: &DataDir, r: Result<Value, Failure>) -> anyhow::Result<ExitCode> {
    match r {
        Ok(v) => {
            if d.json {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                println!("{}", serde_json::to_string_pretty(&v)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(Failure::Face(FaceError::Model(e))) => Err(e.into()),
        Err(f) => {
            let (code, msg) = match &f {
                Failure::Set(e) => (e.code(), e.to_string()),
                Failure::Face(e) => (e.code(), e.to_string()),
            };
            if d.json {
                println!("{}", json!({"error_code": code, "error_msg": msg}));
            } else {
                eprintln!("error {code}: {msg}");
            }
            Ok(ExitCode::from(1))
        }
    }
}

/// One progress line on stderr, redrawn in place: `[#####     ] done/total what`.
fn progress(done: usize, total: usize, what: &str) {
    eprint!(
        "\r[{:<30}] {done}/{total} {what}",
        "#".repeat(done * 30 / total.max(1))
    );
}

fn open(cfg: &Config, d: &DataDir) -> Result<FaceSets, Failure> {
    Ok(
        FaceSets::open(d.data_dir.as_deref().unwrap_or(&cfg.storage.dir))?
            .with_face_pictures(cfg.storage.keep_face_images),
    )
}

fn parse_fields(s: Option<&str>) -> Result<Map<String, Value>, Failure> {
    match s {
        None => Ok(Map::new()),
        Some(t) => match serde_json::from_str::<Value>(t) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(bad("external_fields", "must be a JSON object")),
        },
    }
}

/// Every face (or the largest) of an image, embedded.
fn embed_image(
    an: &mut Analyzer,
    path: &Path,
    single: bool,
    keep_pictures: bool,
) -> Result<Vec<Enrolment>, Failure> {
    let frame = load_image(path, &an.config().images)?;
    let faces = an.embed_faces(&frame, single)?;
    if faces.is_empty() {
        return Err(FaceError::NoFace { path: path.into() }.into());
    }
    Ok(faces
        .into_iter()
        .map(|(d, e)| Enrolment::of(&frame, &d, e, keep_pictures))
        .collect())
}

pub fn faceset(cfg: &Config, d: DataDir, cmd: FacesetCmd) -> anyhow::Result<ExitCode> {
    let r = (|| -> Result<Value, Failure> {
        let sets = open(cfg, &d)?;
        Ok(match cmd {
            FacesetCmd::Create {
                name,
                capacity,
                fields,
            } => {
                let mut schema = Schema::new();
                for f in fields {
                    let (n, t) = f
                        .split_once(':')
                        .ok_or_else(|| bad("field", format!("{f:?}: use NAME:TYPE")))?;
                    schema.insert(n.to_string(), FieldType::parse(n, t)?);
                }
                json!({"face_set_info": sets.create_set(&name, capacity, schema, cfg.models.embedder)?})
            }
            FacesetCmd::List => json!({"face_sets_info": sets.list_sets()?}),
            FacesetCmd::Show { name } => json!({"face_set_info": sets.show_set(&name)?}),
            FacesetCmd::Delete { name } => {
                sets.delete_set(&name)?;
                json!({"face_set_name": name})
            }
            FacesetCmd::Reembed { name } => {
                let total = sets.show_set(&name)?.face_number;
                let mut an = Analyzer::open(cfg)?;
                let mut n = 0usize;
                let done = sets.reembed(&name, cfg.models.embedder, |p| {
                    n += 1;
                    progress(n, total, &name);
                    an.embed_picture(p)
                });
                if total > 0 {
                    eprintln!();
                }
                json!({ "reembedded": done? })
            }
        })
    })();
    finish(&d, r)
}

pub fn face(cfg: &Config, d: DataDir, cmd: FaceCmd) -> anyhow::Result<ExitCode> {
    let r = (|| -> Result<Value, Failure> {
        let sets = open(cfg, &d)?;
        Ok(match cmd {
            FaceCmd::Add {
                set,
                image,
                single,
                external_image_id,
                fields,
                user,
            } => {
                let fields = parse_fields(fields.as_deref())?;
                sets.show_set(&set)?;
                let mut an = Analyzer::open(cfg)?;
                let faces = embed_image(&mut an, &image, single, sets.keeps_face_pictures())?;
                let added = sets.add_faces(
                    &set,
                    faces,
                    external_image_id.as_deref(),
                    &fields,
                    user.as_deref(),
                )?;
                json!({"face_set_name": set, "faces": added})
            }
            FaceCmd::List { set, offset, limit } => {
                json!({"faces": sets.list_faces(&set, offset, limit)?})
            }
            FaceCmd::Show { set, face_id } => json!({"faces": [sets.face(&set, &face_id)?]}),
            FaceCmd::Update {
                set,
                face_id,
                external_image_id,
                fields,
            } => {
                let f = fields
                    .as_deref()
                    .map(|s| parse_fields(Some(s)))
                    .transpose()?;
                json!({"face": sets.update_face(&set, &face_id, external_image_id.as_deref(), f.as_ref())?})
            }
            FaceCmd::Delete {
                set,
                face_id,
                external_image_id,
                field,
                filter,
            } => {
                let sel = match (face_id, external_image_id, field, filter) {
                    (Some(id), None, None, None) => Selector::FaceId(id),
                    (None, Some(e), None, None) => Selector::ExternalImageId(e),
                    (None, None, Some(f), None) => {
                        let (k, v) = f
                            .split_once('=')
                            .ok_or_else(|| bad("field", "use NAME=VALUE"))?;
                        sets.field_selector(&set, k, v)?
                    }
                    (None, None, None, Some(f)) => Selector::Filter(sets.parse_filter(&set, &f)?),
                    _ => {
                        return Err(bad(
                            "delete",
                            "give exactly one of --face-id, --external-image-id, --field, --filter",
                        ))
                    }
                };
                json!({"face_number": sets.delete_faces(&set, sel)?})
            }
        })
    })();
    finish(&d, r)
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

pub fn user(cfg: &Config, d: DataDir, cmd: UserCmd) -> anyhow::Result<ExitCode> {
    let r = (|| -> Result<Value, Failure> {
        let sets = open(cfg, &d)?;
        Ok(match cmd {
            UserCmd::Copy { user, from, to } => {
                json!({"user_id": user, "faces_copied": sets.copy_user(&user, &from, &to)?})
            }
            UserCmd::Remove { user, group } => {
                json!({"user_id": user, "faces_removed": sets.remove_user(&user, &group)?})
            }
            UserCmd::Groups { user } => {
                json!({"user_id": user, "group_id_list": sets.user_groups(&user)?})
            }
            UserCmd::Info { user, group, info } => {
                sets.set_user_info(&group, &user, &info)?;
                json!({"user_id": user, "group_id": group, "user_info": info})
            }
        })
    })();
    finish(&d, r)
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
                    .map_err(|e| format!("{} {e}", e.code()))?;
                let found = an.detect_verified(&frame).map_err(|e| e.to_string())?;
                let dets: Vec<_> = found.iter().map(|(d, _)| d.clone()).collect();
                let k = largest(&dets).ok_or_else(|| "FRS.0501 no face found".to_string())?;
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
                .map_err(|e| format!("{} {e}", e.code()))?;
                Ok(())
            })();
            match outcome {
                Ok(()) => accepted.push(json!({"user_id": uid, "image": path})),
                Err(reason) => {
                    rejected.push(json!({"user_id": uid, "image": path, "reason": reason}))
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
