//! `mv-admin users`: the people who use Mind-vault.

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use db::models::{StatusCounts, User, VideoSummary};
use diesel_async::AsyncPgConnection;
use serde::Serialize;

use crate::Context;
use crate::output::{Cell, DIM, Fields, Table, print, print_json, relative_time, time_with_date};

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List the users, oldest first.
    List(ListArgs),
    /// Show one user and how many videos they have in each state.
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Show at most this many users.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=10_000))]
    pub limit: i64,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The user's id or email address.
    #[arg(value_name = "ID|EMAIL", allow_hyphen_values = true)]
    pub user: String,
}

pub async fn run(context: &Context, command: UsersCommand) -> Result<()> {
    let mut conn = context.connect().await?;
    match command {
        UsersCommand::List(args) => {
            let users = User::list(&mut conn, args.limit).await?;
            if context.json {
                print_json(&users)
            } else {
                print(&render_list(&users, Utc::now()))
            }
        }
        UsersCommand::Show(args) => {
            let user = show(&mut conn, &args.user).await?;
            if context.json {
                print_json(&user)
            } else {
                print(&user.render(Utc::now()))
            }
        }
    }
}

/// Users as a table.
pub fn render_list(users: &[User], now: DateTime<Utc>) -> String {
    if users.is_empty() {
        return "no users\n".to_string();
    }
    let mut table = Table::new(["ID", "NAME", "EMAIL", "VERIFIED", "JOINED"]);
    for user in users {
        table.push(vec![
            Cell::styled(user.id.as_str(), DIM),
            user.name.as_str().into(),
            user.email.as_str().into(),
            if user.email_verified { "yes" } else { "no" }.into(),
            relative_time(user.created_at, now).into(),
        ]);
    }
    table.render(crate::output::terminal_width())
}

/// A user and the number of their videos in each processing status; in
/// JSON, the user's columns and `video_counts`.
#[derive(Debug, Clone, Serialize)]
pub struct UserDetails {
    #[serde(flatten)]
    pub user: User,
    pub video_counts: StatusCounts,
}

/// The user named by `key` (an id or an email), with their video counts.
pub async fn show(conn: &mut AsyncPgConnection, key: &str) -> Result<UserDetails> {
    let user = User::find_by_id_or_email(conn, key).await?;
    let video_counts = VideoSummary::count_by_status(conn, &user.id).await?;
    Ok(UserDetails { user, video_counts })
}

impl UserDetails {
    /// The user for people.
    pub fn render(&self, now: DateTime<Utc>) -> String {
        let user = &self.user;
        let counts = &self.video_counts;
        let mut fields = Fields::new();
        fields
            .add("name", user.name.as_str())
            .add("id", user.id.as_str())
            .add(
                "email",
                Cell::from(&user.email).then(
                    if user.email_verified {
                        " (verified)"
                    } else {
                        " (not verified)"
                    },
                    DIM,
                ),
            )
            .optional("image", user.image.as_deref())
            .add("joined", time_with_date(user.created_at, now))
            .add("updated", time_with_date(user.updated_at, now))
            .add(
                "videos",
                format!(
                    "{} ({} pending, {} processing, {} completed, {} failed)",
                    counts.total(),
                    counts.pending,
                    counts.processing,
                    counts.completed,
                    counts.failed
                ),
            );
        fields.render()
    }
}
