//! `mv-admin videos`: a user's videos, as the application shows them.

pub mod requeue;

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use db::models::{
    DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ProcessingStatus, User, VideoDetails, VideoFilter, VideoPage,
    VideoSummary,
};
use diesel_async::AsyncPgConnection;

use crate::Context;
use crate::output::{
    Cell, DIM, Fields, HEADER, Table, clock, heading, paint, print, print_json, relative_time,
    shown, status_style, time_with_date,
};

#[derive(Debug, Subcommand)]
pub enum VideosCommand {
    /// List a user's videos, newest first, one page at a time.
    List(ListArgs),
    /// Show one of a user's videos with its tags, categories, keyframes and
    /// AI content.
    Show(ShowArgs),
    /// Give a user's failed video another attempt (a pending one waiting
    /// out a backoff, too).
    Requeue(requeue::Args),
}

/// Parses a processing status, listing the valid ones in help and errors.
pub fn status_parser() -> impl TypedValueParser<Value = ProcessingStatus> {
    PossibleValuesParser::new(ProcessingStatus::ALL.map(ProcessingStatus::as_str))
        .try_map(|text| text.parse::<ProcessingStatus>())
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Whose videos: a user id or an email address.
    #[arg(long, value_name = "ID|EMAIL", allow_hyphen_values = true)]
    pub user: String,
    /// Only the videos in this processing status.
    #[arg(long, value_parser = status_parser())]
    pub status: Option<ProcessingStatus>,
    /// Only the videos with this tag.
    #[arg(long)]
    pub tag: Option<String>,
    /// Only the videos in this category.
    #[arg(long)]
    pub category: Option<String>,
    /// How many videos a page holds.
    #[arg(long, default_value_t = DEFAULT_PAGE_SIZE,
          value_parser = clap::value_parser!(i64).range(1..=MAX_PAGE_SIZE))]
    pub limit: i64,
    /// Where the page starts: the cursor the previous page ended with.
    #[arg(long)]
    pub cursor: Option<String>,
}

impl ListArgs {
    /// The filter these arguments describe.
    pub fn filter(&self) -> VideoFilter<'_> {
        VideoFilter {
            status: self.status,
            tag: self.tag.as_deref(),
            category: self.category.as_deref(),
            limit: Some(self.limit),
            cursor: self.cursor.as_deref(),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The video's id.
    #[arg(value_name = "ID", allow_hyphen_values = true)]
    pub id: String,
    /// Whose video: a user id or an email address.
    #[arg(long, value_name = "ID|EMAIL", allow_hyphen_values = true)]
    pub user: String,
}

pub async fn run(context: &Context, command: VideosCommand) -> Result<()> {
    match command {
        VideosCommand::List(args) => {
            let mut conn = context.connect().await?;
            let page = list(&mut conn, &args.user, &args.filter()).await?;
            print_page(context, &page)
        }
        VideosCommand::Requeue(args) => requeue::run(context, args).await,
        VideosCommand::Show(args) => {
            let mut conn = context.connect().await?;
            let video = show(&mut conn, &args.user, &args.id).await?;
            if context.json {
                print_json(&video)
            } else {
                print(&render_details(&video, Utc::now()))
            }
        }
    }
}

/// A page of the videos of the user named by `user` (an id or an email).
pub async fn list(
    conn: &mut AsyncPgConnection,
    user: &str,
    filter: &VideoFilter<'_>,
) -> Result<VideoPage> {
    let user = User::find_by_id_or_email(conn, user).await?;
    Ok(VideoSummary::list(conn, &user.id, filter).await?)
}

/// Prints a page: a JSON array of its videos, or a table ending with the
/// cursor of the next page. In JSON the cursor goes to stderr, so that
/// stdout holds the array alone.
pub fn print_page(context: &Context, page: &VideoPage) -> Result<()> {
    if context.json {
        print_json(&page.items)?;
        if let Some(cursor) = &page.next_cursor {
            eprintln!("next_cursor: {cursor}");
        }
        return Ok(());
    }
    print(&render_page(page, Utc::now()))
}

/// A page as a table, then where the next page starts.
pub fn render_page(page: &VideoPage, now: DateTime<Utc>) -> String {
    if page.items.is_empty() {
        return "no videos\n".to_string();
    }
    let mut table = Table::new(["ID", "TITLE", "STATUS", "TAGS", "SAVED"])
        .right(3)
        .flexible(1);
    for video in &page.items {
        table.push(vec![
            Cell::styled(video.id.as_str(), DIM),
            video.title.as_str().into(),
            Cell::styled(
                video.processing_status.as_str(),
                status_style(video.processing_status),
            ),
            video.tag_count.to_string().into(),
            relative_time(video.created_at, now).into(),
        ]);
    }
    let mut out = table.render(crate::output::terminal_width());
    match &page.next_cursor {
        Some(cursor) => out.push_str(&format!("\nnext page: --cursor {cursor}\n")),
        None => out.push_str(&paint(DIM, "\nend of the list\n")),
    }
    out
}

/// The video `id` of the user named by `user` (an id or an email).
pub async fn show(conn: &mut AsyncPgConnection, user: &str, id: &str) -> Result<VideoDetails> {
    let user = User::find_by_id_or_email(conn, user).await?;
    Ok(VideoDetails::find(conn, &user.id, id).await?)
}

/// The video for people: its fields, keyframes and AI content.
pub fn render_details(details: &VideoDetails, now: DateTime<Utc>) -> String {
    let video = &details.video;
    let names = |names: Vec<&str>| {
        if names.is_empty() {
            Cell::styled("-", DIM)
        } else {
            Cell::from(names.join(", "))
        }
    };
    let mut fields = Fields::new();
    fields
        .add("title", Cell::styled(&video.title, HEADER))
        .add("id", video.id.as_str())
        .add("url", video.youtube_url.as_str())
        .optional("channel", video.channel_name.as_deref())
        .optional("duration", video.duration.map(clock))
        .add(
            "status",
            Cell::styled(
                video.processing_status.as_str(),
                status_style(video.processing_status),
            ),
        );
    if let Some(error) = &video.processing_error {
        fields.add("error", error.as_str());
    }
    fields
        .add(
            "tags",
            names(details.tags.iter().map(|t| t.name.as_str()).collect()),
        )
        .add(
            "categories",
            names(details.categories.iter().map(|c| c.name.as_str()).collect()),
        )
        .add("saved", time_with_date(video.created_at, now))
        .add("updated", time_with_date(video.updated_at, now))
        .optional("description", video.description.as_deref());
    let mut out = fields.render();

    if !details.keyframes.is_empty() {
        out.push_str(&heading("Keyframes"));
        let mut table = Table::new(["AT", "DESCRIPTION", "IMAGE"])
            .right(0)
            .flexible(1);
        for frame in &details.keyframes {
            table.push(vec![
                clock(frame.timestamp).into(),
                frame.description.as_deref().unwrap_or("").into(),
                Cell::styled(frame.image_url.as_str(), DIM),
            ]);
        }
        out.push_str(&table.render(crate::output::terminal_width()));
    }
    if let Some(content) = &video.ai_generated_content {
        out.push_str(&heading("AI content"));
        if let Some(summary) = &content.summary {
            out.push_str(&shown(summary));
            out.push('\n');
        }
        for point in content.key_points.iter().flatten() {
            out.push_str(&format!("  • {}\n", shown(point)));
        }
        if !content.extra.is_empty() {
            // JSON escapes C0 controls in strings, but not DEL or C1.
            let extra = serde_json::to_string_pretty(&content.extra).unwrap_or_default();
            out.push_str(&format!("{}\n", shown(&extra)));
        }
    }
    out
}
