//! Face-set commands: `faceset` and `face` (sets.rs), `search` and `identify` (search.rs), `user`
//! (users.rs), `enroll` (enroll.rs). Errors print FRS's `{"error_code","error_msg"}` with `--json`
//! and exit 1.

mod enroll;
mod search;
mod sets;
mod users;

pub use enroll::{enroll, EnrollArgs};
pub use search::{identify, search, IdentifyArgs, SearchArgs};
pub use sets::{face, faceset, FaceCmd, FacesetCmd};
pub use users::{user, UserCmd};

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Map, Value};

use crate::analyze::Analyzer;
use crate::codes::frs;
use crate::config::Config;
use crate::ingest::image::load_image;
use crate::search::{Enrolment, FaceSets, SetError};
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

pub(super) enum Failure {
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

pub(super) fn bad(name: &'static str, message: impl Into<String>) -> Failure {
    Failure::Set(SetError::BadParameter {
        name,
        message: message.into(),
    })
}

pub(super) fn finish(d: &DataDir, r: Result<Value, Failure>) -> anyhow::Result<ExitCode> {
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
                Failure::Set(e) => (frs::code(e.kind()), e.to_string()),
                Failure::Face(e) => (frs::code(e.kind()), e.to_string()),
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
pub(super) fn progress(done: usize, total: usize, what: &str) {
    eprint!(
        "\r[{:<30}] {done}/{total} {what}",
        "#".repeat(done * 30 / total.max(1))
    );
}

pub(super) fn open(cfg: &Config, d: &DataDir) -> Result<FaceSets, Failure> {
    let mut storage = cfg.storage.clone();
    if let Some(dir) = &d.data_dir {
        // --data-dir names a SQLite folder: it wins over storage.url.
        storage.dir = dir.clone();
        storage.url.clear();
    }
    Ok(FaceSets::open_storage(&storage)?)
}

pub(super) fn parse_fields(s: Option<&str>) -> Result<Map<String, Value>, Failure> {
    match s {
        None => Ok(Map::new()),
        Some(t) => match serde_json::from_str::<Value>(t) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(bad("external_fields", "must be a JSON object")),
        },
    }
}

/// Every face (or the largest) of an image, embedded.
pub(super) fn embed_image(
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
