//! `mv-admin quickstart`: the first command a newcomer runs.

use anyhow::Result;

use crate::Context;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(context: &Context, _args: Args) -> Result<()> {
    let mut conn = context.connect().await?;
    let applied = crate::migrate::apply_pending(&mut conn).await?;
    println!("migrations: {} applied", applied.len());
    Ok(())
}
