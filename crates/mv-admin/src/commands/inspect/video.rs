//! `mv-admin inspect video`: one video with everything related to it,
//! whoever owns it.

use anyhow::Result;
use chrono::{DateTime, Utc};
use db::models::{User, VideoDetails, VideoSummary};
use diesel_async::AsyncPgConnection;
use serde::Serialize;

use crate::commands::videos::render_details;
use crate::output::{Cell, DIM, Fields, heading, shown};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The video's id.
    #[arg(value_name = "ID", allow_hyphen_values = true)]
    pub id: String,
}

/// The video, its owner, and its tags, categories and keyframes; in JSON,
/// the video's columns with `owner`, `tags`, `categories` and `keyframes`.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    #[serde(flatten)]
    pub details: VideoDetails,
    pub owner: User,
}

/// Finds the video's owner, then reads the video through the owner's
/// scoped queries, as the application would.
pub async fn inspect_video(conn: &mut AsyncPgConnection, id: &str) -> Result<Inspection> {
    let owner_id = VideoSummary::owner_id(conn, id).await?;
    Ok(Inspection {
        owner: User::find(conn, &owner_id).await?,
        details: VideoDetails::find(conn, &owner_id, id).await?,
    })
}

impl Inspection {
    /// The video for people, its stored AI content as it is.
    pub fn render(&self, now: DateTime<Utc>) -> String {
        let mut owner = Fields::new();
        owner.add(
            "owner",
            Cell::from(format!("{} <{}> ", self.owner.name, self.owner.email))
                .then(&self.owner.id, DIM),
        );
        let mut out = owner.render();
        out.push_str(&render_details(&self.details, now));
        if let Some(content) = &self.details.video.ai_generated_content {
            out.push_str(&heading("ai_generated_content"));
            // JSON escapes C0 controls in strings, but not DEL or C1.
            out.push_str(&shown(
                &serde_json::to_string_pretty(content).unwrap_or_default(),
            ));
            out.push('\n');
        }
        out
    }
}
