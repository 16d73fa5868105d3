//! `mv-admin migrate accept-edit`: records the new checksum of an applied
//! migration that was edited on purpose.

use anyhow::Result;
use clap::builder::NonEmptyStringValueParser;
use diesel_async::AsyncPgConnection;
use schema_engine::migrations::{self, MigrationSet, Options};
use serde_json::json;

use super::{engine_error, version_arg};
use crate::Context;
use crate::say;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The migration's version or folder name.
    #[arg(value_name = "VERSION", value_parser = version_arg)]
    pub migration: String,

    /// Why the edit is safe to accept; kept in the migration log.
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    pub reason: String,
}

pub async fn run(
    context: &Context,
    conn: &mut AsyncPgConnection,
    set: &MigrationSet,
    options: &Options,
    args: Args,
) -> Result<()> {
    let changed = migrations::accept_edit(conn, set, options, &args.migration, &args.reason)
        .await
        .map_err(engine_error)?;
    if context.json {
        say!("{}", json!({ "accepted": changed, "reason": args.reason }));
    } else {
        say!(
            "accepted the edit of {}: checksum {} is now {} (logged with the reason)",
            changed.name,
            changed.recorded,
            changed.current
        );
    }
    Ok(())
}
