//! `mv-admin videos requeue`: gives a user's failed video another attempt.

use anyhow::{Context as _, Result};
use db::models::User;
use db::pipeline::{self, JobState};
use diesel_async::AsyncPgConnection;

use crate::Context;
use crate::output::shown;
use crate::say;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The video's id.
    #[arg(value_name = "ID", allow_hyphen_values = true)]
    pub id: String,
    /// Who saved the video: a user id or an email address.
    #[arg(long, value_name = "ID|EMAIL", allow_hyphen_values = true)]
    pub user: String,
}

pub async fn run(context: &Context, args: Args) -> Result<()> {
    let mut conn = context.connect().await?;
    let user = User::find_by_id_or_email(&mut conn, &args.user).await?;
    let state = requeue(&mut conn, &user.id, &args.id).await?;
    if context.json {
        say!("{}", serde_json::to_string(&state)?);
    } else {
        say!(
            "video {} is pending again after {} attempt(s){}",
            state.id,
            state.attempt,
            state
                .last_error
                .as_deref()
                .map(|error| format!("; the last ended with: {}", shown(error)))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// Puts the user's failed video back in the queue, claimable at once (a
/// pending video waiting out a backoff, too); refuses a video being
/// processed or completed.
pub async fn requeue(
    conn: &mut AsyncPgConnection,
    user_id: &str,
    video_id: &str,
) -> Result<JobState> {
    pipeline::requeue(conn, user_id, video_id)
        .await
        .with_context(|| format!("Failed to requeue video {video_id:?} of user {user_id:?}"))
}
