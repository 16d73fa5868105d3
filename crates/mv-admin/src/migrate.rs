//! `mv-admin migrate`: applies the migrations embedded in this binary.

use anyhow::{Context as _, Result};
use diesel_async::AsyncPgConnection;
use serde_json::json;

use crate::Context;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(context: &Context, _args: Args) -> Result<()> {
    let conn = context.connect().await?;
    let applied = apply_pending(conn).await?;
    if context.json {
        println!("{}", json!({ "applied": applied }));
    } else if applied.is_empty() {
        println!("the database is up to date; nothing was applied");
    } else {
        for version in &applied {
            println!("applied {version}");
        }
    }
    Ok(())
}

/// Applies every pending migration; returns the versions applied.
pub async fn apply_pending(conn: AsyncPgConnection) -> Result<Vec<String>> {
    db::migrations::run_pending(conn)
        .await
        .context("Failed to apply the migrations")
}
