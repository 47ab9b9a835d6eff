//! `facestream db migrate`: brings the face-set database named by `storage.url` up to the schema
//! this build knows (the daemon does the same at start), and says which versions it applied.

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply the PostgreSQL schema migrations this database lacks (storage.url).
    Migrate,
}

pub fn run(cfg: &Config, cmd: DbCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DbCommand::Migrate => {
            if cfg.storage.url.is_empty() {
                println!("storage.url is empty: face sets live in SQLite under {} (its schema is created on open); nothing to migrate", cfg.storage.dir.display());
                return Ok(ExitCode::SUCCESS);
            }
            let applied = crate::search::store::postgres::migrate_storage(&cfg.storage)?;
            let latest = crate::search::store::postgres::MIGRATIONS
                .last()
                .map_or(0, |m| m.0);
            if applied.is_empty() {
                println!("the database is at schema version {latest}: nothing to apply");
            } else {
                println!(
                    "applied schema versions {applied:?}; the database is at version {latest}"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
