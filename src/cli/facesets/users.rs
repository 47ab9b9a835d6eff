//! `user`: Baidu-style users and groups.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{json, Value};

use crate::config::Config;

use super::*;

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
