//! Mind-vault's own views: a user's library (the list `videos list`
//! prints), a video with everything attached, and the processing queue.

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use db::models::{
    Category, ProcessingStatus, StatusCounts, Tag, User, VideoDetails, VideoFilter, VideoSummary,
};
use db::pipeline::{self, JobState};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use maud::{Markup, html};
use schema_engine::catalog::Table;

use crate::browse;
use crate::edits::see_other;
use crate::error::{Result, StudioError};
use crate::layout::{Ctx, csrf_field, href, page, segment, with_params};
use crate::pages::tables::{row_href, table_href};
use crate::render::{self, plural};
use crate::state::Mode;

/// Users listed on the library's first page.
const USERS_SHOWN: i64 = 50;

#[derive(Debug, serde::Deserialize)]
pub struct UserQuery {
    user: Option<String>,
}

/// `/library`: pick a user (by email or id, or from the first ones).
pub async fn users(ctx: Ctx, Query(query): Query<UserQuery>) -> Result<Response> {
    if let Some(key) = query
        .user
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
    {
        let found = ctx
            .state
            .read(move |conn| {
                Box::pin(async move { Ok(User::find_by_id_or_email(conn, &key).await?) })
            })
            .await?;
        return Ok(see_other(&format!("/library/{}", segment(&found.id))));
    }
    let users = ctx
        .state
        .read(|conn| Box::pin(async move { Ok(User::list(conn, USERS_SHOWN).await?) }))
        .await?;
    Ok(page(
        &ctx,
        "Library",
        html! {
            form.inline method="get" action="/library" {
                label for="user" { "User (email or id)" }
                input #user type="search" name="user" placeholder="demo@mind-vault.dev" required;
                button type="submit" { "Open library" }
            }
            table.grid {
                thead { tr { th { "name" } th { "email" } th { "joined" } } }
                tbody {
                    @for user in &users {
                        tr {
                            td { a href=(format!("/library/{}", segment(&user.id))) { (user.name) } }
                            td { (user.email) }
                            td { (render::time(user.created_at)) }
                        }
                    }
                }
            }
            @if users.len() as i64 == USERS_SHOWN { p.note { "The first " (USERS_SHOWN) " users; search for others by email." } }
            @if ctx.state.mode == Mode::Write {
                h2 { "Add a user" }
                form.edit method="post" hx-boost="false" action="/edits" {
                    (csrf_field(&ctx))
                    input type="hidden" name="kind" value="new_user";
                    label for="new-name" { "name" } input #new-name type="text" name="name" required;
                    label for="new-email" { "email" } input #new-email type="email" name="email" required;
                    button type="submit" { "Stage" }
                }
            }
        },
    )
    .into_response())
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct LibraryQuery {
    status: Option<String>,
    tag: Option<String>,
    category: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

fn nonempty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// `/library/{user}`: the user's videos, newest first, with the filters
/// and cursor pages of `videos list`.
pub async fn library(
    ctx: Ctx,
    Path(key): Path<String>,
    Query(query): Query<LibraryQuery>,
) -> Result<Markup> {
    let status = nonempty(&query.status)
        .map(|s| s.parse::<ProcessingStatus>())
        .transpose()
        .map_err(|e| StudioError::BadRequest(e.to_string()))?;
    let tag = nonempty(&query.tag).map(str::to_string);
    let category = nonempty(&query.category).map(str::to_string);
    let cursor = nonempty(&query.cursor).map(str::to_string);
    let limit = query.limit;
    let (user, counts, tags, categories, videos) = ctx
        .state
        .read(move |conn| {
            Box::pin(async move {
                let user = User::find_by_id_or_email(conn, &key).await?;
                let counts = VideoSummary::count_by_status(conn, &user.id).await?;
                let tags = Tag::list_for_user(conn, &user.id).await?;
                let categories = Category::list_for_user(conn, &user.id).await?;
                let filter = VideoFilter {
                    status,
                    tag: tag.as_deref(),
                    category: category.as_deref(),
                    limit,
                    cursor: cursor.as_deref(),
                };
                let videos = VideoSummary::list(conn, &user.id, &filter).await?;
                Ok((user, counts, tags, categories, videos))
            })
        })
        .await?;
    let base = format!("/library/{}", segment(&user.id));
    let mut filters: Vec<(&str, &str)> = Vec::new();
    if let Some(s) = nonempty(&query.status) {
        filters.push(("status", s));
    }
    if let Some(t) = nonempty(&query.tag) {
        filters.push(("tag", t));
    }
    if let Some(c) = nonempty(&query.category) {
        filters.push(("category", c));
    }
    let limit_text = query.limit.map(|l| l.to_string());
    if let Some(l) = &limit_text {
        filters.push(("limit", l));
    }
    Ok(page(
        &ctx,
        &format!("Library of {}", user.name),
        html! {
            p.lead {
                (user.email) " · " (plural(counts.total(), "video")) ": "
                (counts.pending) " pending, " (counts.processing) " processing, "
                (counts.completed) " completed, " (counts.failed) " failed · "
                a href=(row_href("user", &[("id", &user.id)])) { "user row" }
            }
            form.filters-inline method="get" action=(base) {
                label { "Status "
                    select name="status" {
                        option value="" { "any" }
                        @for s in ProcessingStatus::ALL {
                            option value=(s.as_str()) selected[status == Some(s)] { (s.as_str()) }
                        }
                    }
                }
                label { "Tag "
                    select name="tag" {
                        option value="" { "any" }
                        @for (t, n) in &tags {
                            option value=(t.name) selected[nonempty(&query.tag) == Some(t.name.as_str())] { (t.name) " (" (n) ")" }
                        }
                    }
                }
                label { "Category "
                    select name="category" {
                        option value="" { "any" }
                        @for (c, n) in &categories {
                            option value=(c.name) selected[nonempty(&query.category) == Some(c.name.as_str())] { (c.name) " (" (n) ")" }
                        }
                    }
                }
                button type="submit" { "Filter" }
                " " a href=(base) { "Clear" }
            }
            table.grid.library {
                thead { tr { th { "title" } th { "status" } th { "saved" } th.num { "tags" } } }
                tbody {
                    @for video in &videos.items {
                        tr {
                            td { a href=(format!("/videos/{}", segment(&video.id))) { (video.title) } }
                            td { (status_badge(video.processing_status)) }
                            td { (render::time(video.created_at)) }
                            td.num { (video.tag_count) }
                        }
                    }
                }
            }
            @if videos.items.is_empty() { p.empty { "No videos match." } }
            nav.pages aria-label="Pages" {
                @if nonempty(&query.cursor).is_some() { a href=(href(&base, &filters)) { "« First page" } }
                @if let Some(next) = &videos.next_cursor {
                    a rel="next" href=(href(&base, &with_params(&filters, &[], &[("cursor", next.as_str())]))) { "Next page »" }
                } @else { span.end { "end of the list" } }
            }
            @if ctx.state.mode == Mode::Write {
                h2 { "Save a video" }
                form.edit method="post" hx-boost="false" action="/edits" {
                    (csrf_field(&ctx))
                    input type="hidden" name="kind" value="new_video";
                    input type="hidden" name="user_id" value=(user.id);
                    label for="youtube_url" { "YouTube URL" } input #youtube_url type="text" name="youtube_url" required;
                    label for="new-title" { "title" } input #new-title type="text" name="title" required;
                    button type="submit" { "Stage" }
                }
                h2 { "Name and email" }
                form.edit method="post" hx-boost="false" action="/edits" {
                    (csrf_field(&ctx))
                    input type="hidden" name="kind" value="user_profile";
                    input type="hidden" name="id" value=(user.id);
                    label for="user-name" { "name" } input #user-name type="text" name="name" value=(user.name) required;
                    label for="user-email" { "email" } input #user-email type="email" name="email" value=(user.email) required;
                    button type="submit" { "Stage" }
                }
                form.delete method="post" hx-boost="false" action="/edits" {
                    (csrf_field(&ctx))
                    input type="hidden" name="kind" value="delete_user";
                    input type="hidden" name="id" value=(user.id);
                    button.danger type="submit" { "Stage deleting this user" }
                }
            }
        },
    ))
}

pub fn status_badge(status: ProcessingStatus) -> Markup {
    html! { span class={ "status status-" (status.as_str()) } { (status.as_str()) } }
}

/// `/videos/{id}`: a video with its tags, categories, keyframes in order,
/// AI content and pipeline state; the edit forms.
pub async fn video(ctx: Ctx, Path(id): Path<String>) -> Result<Markup> {
    let (video, owner, tags, categories, keyframes, job) = ctx
        .state
        .read(move |conn| {
            Box::pin(async move {
                let owner_id = VideoSummary::owner_id(conn, &id).await?;
                let details = VideoDetails::find(conn, &owner_id, &id).await?;
                let owner = User::find(conn, &owner_id).await?;
                let job = JobState::find(conn, &owner_id, &id).await?;
                let VideoDetails {
                    video,
                    tags,
                    categories,
                    keyframes,
                } = details;
                Ok((video, owner, tags, categories, keyframes, job))
            })
        })
        .await?;
    let content = video
        .ai_generated_content
        .as_ref()
        .and_then(|c| serde_json::to_value(c).ok());
    Ok(page(
        &ctx,
        &video.title,
        html! {
            p.lead {
                (status_badge(video.processing_status)) " · saved by "
                a href=(format!("/library/{}", segment(&owner.id))) { (owner.email) } " "
                (render::time(video.created_at))
                " · " a href=(row_href("video_summary", &[("id", &video.id)])) { "row" }
            }
            dl.facts {
                dt { "YouTube" } dd { a href=(video.youtube_url) rel="noreferrer noopener" target="_blank" { (video.youtube_url) } }
                dt { "channel" } dd { (video.channel_name.as_deref().unwrap_or("—")) }
                dt { "duration" } dd { @if let Some(d) = video.duration { (d / 60) " min " (d % 60) " s" } @else { "—" } }
                @if let Some(d) = &video.description { dt { "description" } dd { (d) } }
                @if let Some(e) = &video.processing_error { dt { "error" } dd.error { (e) } }
                dt { "updated" } dd { (render::time(video.updated_at)) }
            }
            h2 { "Tags and categories" }
            (labels(&ctx, &video, "tag", &tags.iter().map(|t| t.name.clone()).collect::<Vec<_>>()))
            (labels(&ctx, &video, "category", &categories.iter().map(|c| c.name.clone()).collect::<Vec<_>>()))
            h2 { "AI content" }
            @match &content {
                Some(value) => div.ai-content { (render::json_tree(value, false)) },
                None => p.empty { "None yet." },
            }
            h2 { "Keyframes" }
            @if keyframes.is_empty() { p.empty { "None." } }
            ol.keyframes {
                @for frame in &keyframes {
                    li {
                        span.offset { (frame.timestamp / 60) ":" (format!("{:02}", frame.timestamp % 60)) }
                        " " (frame.description.as_deref().unwrap_or("")) " "
                        a href=(row_href("keyframe", &[("id", &frame.id)])) { "row" }
                    }
                }
            }
            h2 { "Processing" }
            dl.facts {
                dt { "attempt" } dd { (job.attempt) }
                dt { "worker" } dd { (job.worker_id.as_deref().unwrap_or("—")) }
                dt { "lease until" } dd { @if let Some(t) = job.lease_expires_at { (render::time(t)) } @else { "—" } }
                dt { "retry after" } dd { @if let Some(t) = job.retry_after { (render::time(t)) } @else { "—" } }
                dt { "last error" } dd { (job.last_error.as_deref().unwrap_or("—")) }
            }
            (video_forms(&ctx, &video))
        },
    ))
}

fn labels(ctx: &Ctx, video: &VideoSummary, kind: &str, names: &[String]) -> Markup {
    let table = if kind == "tag" { "tag" } else { "category" };
    html! {
        div.labels {
            h3 { (if kind == "tag" { "Tags" } else { "Categories" }) " (" (names.len()) ")" }
            ul.chips {
                @for name in names {
                    li {
                        a.chip href=(href(&table_href(table), &[("eq.name", name.as_str())])) { (name) }
                        form.chip-remove method="post" hx-boost="false" action="/edits" {
                            (csrf_field(ctx))
                            input type="hidden" name="kind" value=(format!("remove_{kind}"));
                            input type="hidden" name="user_id" value=(video.user_id);
                            input type="hidden" name="id" value=(video.id);
                            input type="hidden" name="name" value=(name);
                            button type="submit" aria-label=(format!("Remove {kind} {name}")) title="Stage removing it" { "×" }
                        }
                    }
                }
            }
            form.inline method="post" hx-boost="false" action="/edits" {
                (csrf_field(ctx))
                input type="hidden" name="kind" value=(format!("add_{kind}"));
                input type="hidden" name="user_id" value=(video.user_id);
                input type="hidden" name="id" value=(video.id);
                input type="text" name="name" required aria-label=(format!("new {kind}")) placeholder=(format!("add a {kind}"));
                button type="submit" { "Stage" }
            }
        }
    }
}

fn video_forms(ctx: &Ctx, video: &VideoSummary) -> Markup {
    html! {
        h2 { "Edit" }
        @if ctx.state.mode != Mode::Write {
            p.hint { "The studio is " (ctx.state.mode.label()) ": the database will refuse these changes." }
        }
        form.edit #edit-video method="post" hx-boost="false" action="/edits" {
            (csrf_field(ctx))
            input type="hidden" name="kind" value="video_details";
            input type="hidden" name="user_id" value=(video.user_id);
            input type="hidden" name="id" value=(video.id);
            label for="title" { "title" } input #title type="text" name="title" value=(video.title);
            label for="description" { "description" } textarea #description name="description" rows="3" { (video.description.as_deref().unwrap_or("")) }
            label for="channel_name" { "channel" } input #channel_name type="text" name="channel_name" value=(video.channel_name.as_deref().unwrap_or(""));
            label for="duration" { "duration (s)" } input #duration type="number" min="0" name="duration" value=[video.duration];
            label for="thumbnail_url" { "thumbnail URL" } input #thumbnail_url type="url" name="thumbnail_url" value=(video.thumbnail_url.as_deref().unwrap_or(""));
            button type="submit" { "Stage changes" }
        }
        form.edit method="post" hx-boost="false" action="/edits" {
            (csrf_field(ctx))
            input type="hidden" name="kind" value="video_status";
            input type="hidden" name="user_id" value=(video.user_id);
            input type="hidden" name="id" value=(video.id);
            label for="status" { "move to" }
            select #status name="status" {
                @for s in ProcessingStatus::ALL {
                    @if video.processing_status.can_move_to(s) { option value=(s.as_str()) { (s.as_str()) } }
                }
            }
            label for="error" { "error (for failed)" } input #error type="text" name="error";
            button type="submit" { "Stage status move" }
        }
        form.delete method="post" hx-boost="false" action="/edits" {
            (csrf_field(ctx))
            input type="hidden" name="kind" value="delete_video";
            input type="hidden" name="user_id" value=(video.user_id);
            input type="hidden" name="id" value=(video.id);
            button.danger type="submit" { "Stage deleting this video" }
        }
    }
}

/// What the queue page shows: exact on a small table; on a large one the
/// counts per status are the planner's statistics, so the page reads no
/// more than two index ranges.
struct Queue {
    counts: StatusCounts,
    estimated: bool,
    /// Not counted on a large table (it would read every pending row).
    waiting_to_retry: Option<i64>,
    expired_leases: i64,
    oldest_pending: Option<DateTime<Utc>>,
    checked_at: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct StatusEstimate {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn queue_of(conn: &mut AsyncPgConnection, videos: &Table) -> Result<Queue> {
    if browse::estimated_rows(conn, videos).await? <= browse::EXACT_COUNT_LIMIT {
        let stats = pipeline::stats(conn).await?;
        return Ok(Queue {
            counts: stats.counts,
            estimated: false,
            waiting_to_retry: Some(stats.waiting_to_retry),
            expired_leases: stats.expired_leases,
            oldest_pending: stats.oldest_pending,
            checked_at: stats.checked_at,
        });
    }
    // The most common values of processing_status and their frequencies,
    // times the table's row estimate (all four statuses are common ones
    // when the statistics have seen them).
    let estimates: Vec<StatusEstimate> = diesel::sql_query(
        "SELECT v.status, (v.freq * c.reltuples)::int8 AS n
         FROM pg_stats s
         CROSS JOIN LATERAL unnest(s.most_common_vals::text::text[], s.most_common_freqs)
             AS v(status, freq)
         JOIN pg_class c ON c.oid = 'public.video_summary'::regclass
         WHERE s.schemaname = 'public' AND s.tablename = 'video_summary'
           AND s.attname = 'processing_status'",
    )
    .load(conn)
    .await?;
    let count = |status: &str| {
        estimates
            .iter()
            .find(|e| e.status == status)
            .map_or(0, |e| e.n)
    };
    let facts = pipeline::queue_facts(conn).await?;
    Ok(Queue {
        counts: StatusCounts {
            pending: count("pending"),
            processing: count("processing"),
            completed: count("completed"),
            failed: count("failed"),
        },
        estimated: true,
        waiting_to_retry: None,
        expired_leases: facts.expired_leases,
        oldest_pending: facts.oldest_pending,
        checked_at: facts.checked_at,
    })
}

/// `/queue`: the processing queue, as `mv-admin jobs` shows it.
pub async fn queue(ctx: Ctx) -> Result<Markup> {
    let (_, videos) = ctx.state.table("video_summary").await?;
    let stats = ctx
        .state
        .read(move |conn| Box::pin(async move { queue_of(conn, &videos).await }))
        .await?;
    let by_status = |status: &str| {
        href(
            &table_href("video_summary"),
            &[("eq.processing_status", status)],
        )
    };
    Ok(page(
        &ctx,
        "Processing queue",
        html! {
            @if stats.estimated {
                p.lead { "A large table: the counts per status are the planner's statistics (≈), not a count of every row." }
            }
            table.grid.queue {
                thead { tr { th { "status" } th.num { "videos" } } }
                tbody {
                    @for (status, count) in [("pending", stats.counts.pending), ("processing", stats.counts.processing), ("completed", stats.counts.completed), ("failed", stats.counts.failed)] {
                        tr { td { a href=(by_status(status)) { (status) } } td.num { @if stats.estimated { "≈ " } (count) } }
                    }
                }
            }
            dl.facts {
                dt { "waiting out a backoff" } dd {
                    @if let Some(waiting) = stats.waiting_to_retry { (waiting) } @else { "not counted on a large table (" code { "mv-admin jobs" } " counts it)" }
                }
                dt { "expired leases" } dd { (stats.expired_leases) " " small { "(rescue gives them back)" } }
                dt { "oldest pending video saved" } dd { @if let Some(t) = stats.oldest_pending { (render::time(t)) } @else { "—" } }
                dt { "checked" } dd { (render::time(stats.checked_at)) }
            }
        },
    ))
}
