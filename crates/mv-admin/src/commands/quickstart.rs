//! `mv-admin quickstart`: the first command a newcomer runs.

use anyhow::Result;
use db::models::VideoFilter;
use serde_json::json;

use crate::Context;
use crate::demo::DEMO_EMAIL;
use crate::output::{print, print_json, progress_bar};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(context: &Context, _args: Args) -> Result<()> {
    let mut conn = context.connect().await?;
    // Before migrating, so that a refusal leaves everything as it was.
    super::refuse_production(&mut conn, "quickstart").await?;
    let applied = super::migrate::apply_pending(&mut conn).await?;
    let progress = progress_bar(crate::demo::VIDEOS.len() as u64, "seeding");
    let seeded = super::seed::seed(&mut conn, false, &progress).await?;
    progress.finish_and_clear();
    let page = super::videos::list(&mut conn, DEMO_EMAIL, &VideoFilter::default()).await?;
    if context.json {
        return print_json(&json!({
            "applied": applied,
            "seed": seeded,
            "videos": page.items,
        }));
    }
    print(&format!(
        "migrations: {} applied\n{}\n{DEMO_EMAIL}'s videos:\n",
        applied.len(),
        seeded.describe().trim_end()
    ))?;
    super::videos::print_page(context, &page)
}
