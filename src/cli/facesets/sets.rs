//! `faceset` (create, list, show, delete sets) and `face` (add, list, update, delete faces).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{json, Value};

use crate::analyze::Analyzer;
use crate::config::Config;
use crate::search::fields::{FieldType, Schema};
use crate::search::store::Selector;

use super::*;

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
