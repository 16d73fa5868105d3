//! `mv-admin migrate resolve`: says what became of a migration that failed
//! or was interrupted outside a transaction, so migrations run again.

use anyhow::Result;
use clap::ArgGroup;
use diesel_async::AsyncPgConnection;
use schema_engine::migrations::{self, Options, Resolution};
use serde_json::json;

use super::{engine_error, version_arg};
use crate::Context;
use crate::say;

// The group names its two flags only: a struct-level `#[group]` would put
// VERSION in it too and make every form a usage error.
#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("outcome").required(true).args(["rolled_back", "completed"])))]
pub struct Args {
    /// The migration's version or folder name.
    #[arg(value_name = "VERSION", value_parser = version_arg)]
    pub migration: String,

    /// Nothing of the failed run remains: the database is as it was before
    /// it (a failed `up` becomes pending again).
    #[arg(long)]
    pub rolled_back: bool,

    /// The failed run's work is fully done, finished by hand (a failed `up`
    /// becomes applied).
    #[arg(long)]
    pub completed: bool,

    /// What was found and done; kept in the migration log.
    #[arg(long)]
    pub reason: Option<String>,
}

pub async fn run(
    context: &Context,
    conn: &mut AsyncPgConnection,
    options: &Options,
    args: Args,
) -> Result<()> {
    let resolution = if args.completed {
        Resolution::Completed
    } else {
        Resolution::RolledBack
    };
    let resolved = migrations::resolve(
        conn,
        options,
        &args.migration,
        resolution,
        args.reason.as_deref(),
    )
    .await
    .map_err(engine_error)?;
    let outcome = match resolution {
        Resolution::RolledBack => "rolled back",
        Resolution::Completed => "completed",
    };
    if context.json {
        say!("{}", json!({ "resolved": resolved, "as": outcome }));
    } else {
        say!(
            "recorded {} as {outcome}; migrations can run again",
            resolved.name
        );
    }
    Ok(())
}
