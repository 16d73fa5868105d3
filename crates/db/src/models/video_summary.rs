//! `video_summary`: a saved video and what the AI made of it. Every query
//! here takes the owner's id and is scoped to it.

use chrono::{DateTime, Utc};
use diesel::dsl::{self, count_star};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::{join, try_join};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::instrument::{Rows, one_row, operation};
use crate::models::fixed_sql::{FixedSql, statement_names};
use crate::models::label::normalize_name;
use crate::models::{AiContent, Category, ProcessingStatus, Tag};
use crate::schema::{video_summary, video_summary_tag};

/// A row of `video_summary`.
#[derive(
    Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, Identifiable, Serialize,
)]
#[diesel(table_name = video_summary, check_for_backend(diesel::pg::Pg))]
pub struct VideoSummary {
    pub id: String,
    pub user_id: String,
    pub youtube_url: String,
    pub youtube_id: String,
    pub title: String,
    pub description: Option<String>,
    pub channel_name: Option<String>,
    /// Seconds.
    pub duration: Option<i32>,
    pub thumbnail_url: Option<String>,
    pub processing_status: ProcessingStatus,
    pub processing_error: Option<String>,
    pub ai_generated_content: Option<AiContent>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

define_sql_function! {
    /// `COALESCE` over two nullable values.
    #[sql_name = "coalesce"]
    fn coalesce_nullable<T: diesel::sql_types::SqlType + diesel::sql_types::SingleValue>(
        value: diesel::sql_types::Nullable<T>,
        fallback: diesel::sql_types::Nullable<T>,
    ) -> diesel::sql_types::Nullable<T>;
}

/// Edits to a saved video's details. `None` leaves a field as it is; for the
/// optional fields, `Some(None)` clears it.
#[derive(Debug, Clone, Copy, Default, AsChangeset)]
#[diesel(table_name = video_summary, check_for_backend(diesel::pg::Pg))]
pub struct VideoChanges<'a> {
    pub title: Option<&'a str>,
    pub description: Option<Option<&'a str>>,
    pub channel_name: Option<Option<&'a str>>,
    pub duration: Option<Option<i32>>,
    pub thumbnail_url: Option<Option<&'a str>>,
}

impl VideoChanges<'_> {
    /// Applies the edits to the user's video and sets `updated_at`; returns
    /// the video as it is now.
    pub async fn apply(
        &self,
        conn: &mut AsyncPgConnection,
        user_id: &str,
        id: &str,
    ) -> Result<VideoSummary> {
        operation!("video_summary.update", conn, async |conn| {
            if self.title.is_some_and(|title| title.trim().is_empty()) {
                return Err(Error::invalid("title", "must not be empty"));
            }
            if let Some(duration) = self.duration.flatten().filter(|d| *d < 0) {
                return Err(Error::invalid(
                    "duration",
                    format!("{duration} is negative"),
                ));
            }
            let changes = Self {
                title: self.title.map(str::trim),
                ..*self
            };
            diesel::update(owned_video(user_id, id))
                .set((changes, video_summary::updated_at.eq(dsl::now)))
                .returning(VideoSummary::as_returning())
                .get_result(conn)
                .await
                .optional()?
                .ok_or_else(|| Error::not_found("video_summary", id))
        })
    }
}

/// One line of a user's list: only what a list shows.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Serialize)]
pub struct VideoListItem {
    pub id: String,
    pub title: String,
    pub processing_status: ProcessingStatus,
    pub created_at: DateTime<Utc>,
    pub tag_count: i64,
}

/// Which of a user's videos to list, and where to start.
#[derive(Debug, Clone, Copy, Default)]
pub struct VideoFilter<'a> {
    pub status: Option<ProcessingStatus>,
    /// A tag name (normalized before comparing).
    pub tag: Option<&'a str>,
    /// A category name (normalized before comparing).
    pub category: Option<&'a str>,
    /// Page size: [`DEFAULT_PAGE_SIZE`] when `None`, at most [`MAX_PAGE_SIZE`].
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<&'a str>,
}

/// One page of a user's videos, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VideoPage {
    pub items: Vec<VideoListItem>,
    /// Pass it as [`VideoFilter::cursor`] for the next page; `None` at the end.
    pub next_cursor: Option<String>,
}

impl Rows for VideoPage {
    fn rows(&self) -> u64 {
        self.items.len() as u64
    }
}

one_row!(VideoSummary, StatusCounts);

pub const DEFAULT_PAGE_SIZE: i64 = 20;
pub const MAX_PAGE_SIZE: i64 = 100;

/// A position in the newest-first order: `<created_at µs>.<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    created_at: DateTime<Utc>,
    id: String,
}

impl Cursor {
    fn encode(&self) -> String {
        format!("{}.{}", self.created_at.timestamp_micros(), self.id)
    }

    fn decode(text: &str) -> Result<Self> {
        let invalid = || {
            Error::invalid(
                "cursor",
                format!("{text:?} is not a cursor this listing gave"),
            )
        };
        let (micros, id) = text.split_once('.').ok_or_else(invalid)?;
        let micros: i64 = micros.parse().map_err(|_| invalid())?;
        let created_at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
        if id.is_empty() {
            return Err(invalid());
        }
        Ok(Self {
            created_at,
            id: id.to_string(),
        })
    }

    /// The rows after this position in the newest-first order.
    #[dsl::auto_type(no_type_alias)]
    fn after(&self) -> _ {
        let created_at: DateTime<Utc> = self.created_at;
        let id: &str = &self.id;
        // `created_at <= c` bounds the index range; the rest breaks ties.
        video_summary::created_at.le(created_at).and(
            video_summary::created_at
                .lt(created_at)
                .or(video_summary::id.lt(id)),
        )
    }
}

/// The user's video with this id: the one filter that scopes a single video.
#[dsl::auto_type(no_type_alias)]
pub(crate) fn owned_video<'a>(user_id: &'a str, id: &'a str) -> _ {
    video_summary::table
        .filter(video_summary::id.eq(id))
        .filter(video_summary::user_id.eq(user_id))
}

/// The first `limit` of the user's videos, newest first, each with its tag
/// count: one range of the `(user_id, created_at DESC, id DESC)` index, and
/// tags counted for those rows only, in the user's range of the links'
/// `(user_id, video_summary_id, tag_id)` index.
#[dsl::auto_type(no_type_alias)]
fn list_page<'a>(user_id: &'a str, limit: i64) -> _ {
    let tag_count = video_summary_tag::table
        .filter(video_summary_tag::user_id.eq(video_summary::user_id))
        .filter(video_summary_tag::video_summary_id.eq(video_summary::id))
        .select(count_star())
        .single_value()
        .assume_not_null();
    video_summary::table
        .filter(video_summary::user_id.eq(user_id))
        .select((
            video_summary::id,
            video_summary::title,
            video_summary::processing_status,
            video_summary::created_at,
            tag_count,
        ))
        .order((video_summary::created_at.desc(), video_summary::id.desc()))
        .limit(limit)
}

/// The ids of a filtered page, newest first. Only columns that one of the
/// user's indexes holds are read per video (`user_id`, `created_at`, `id`,
/// and `processing_status` in the status index), so the walk over the
/// user's videos (each one probe of a label link until the page is full)
/// can read an index alone; the page's own columns are then read for its
/// rows only. At a million videos this halved a page by tag (BENCHMARKS.md,
/// "Scale").
fn filtered_ids<'a>(
    user_id: &'a str,
    filter: &VideoFilter<'a>,
    cursor: Option<&'a Cursor>,
    limit: i64,
) -> Result<video_summary::BoxedQuery<'a, diesel::pg::Pg, diesel::sql_types::Text>> {
    let mut ids = video_summary::table
        .filter(video_summary::user_id.eq(user_id))
        .order((video_summary::created_at.desc(), video_summary::id.desc()))
        .limit(limit)
        .select(video_summary::id)
        .into_boxed();
    if let Some(status) = filter.status {
        ids = ids.filter(video_summary::processing_status.eq(status));
    }
    if let Some(name) = filter.tag {
        ids = ids.filter(Tag::on_video(normalize_name("tag", name)?));
    }
    if let Some(name) = filter.category {
        ids = ids.filter(Category::on_video(normalize_name("category", name)?));
    }
    if let Some(cursor) = cursor {
        ids = ids.filter(cursor.after());
    }
    Ok(ids)
}

/// How many of a user's videos are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    pub pending: i64,
    pub processing: i64,
    pub completed: i64,
    pub failed: i64,
}

impl StatusCounts {
    pub fn total(&self) -> i64 {
        self.pending + self.processing + self.completed + self.failed
    }
}

impl VideoSummary {
    /// The user's video with this id.
    pub async fn find(conn: &AsyncPgConnection, user_id: &str, id: &str) -> Result<VideoSummary> {
        operation!(shared "video_summary.find", conn, async |conn| {
            Self::load_one(conn, user_id, id).await
        })
    }

    /// [`VideoSummary::find`] on a connection that other statements may
    /// share at the same time (pipelined).
    pub(crate) async fn load_one(
        mut conn: &AsyncPgConnection,
        user_id: &str,
        id: &str,
    ) -> Result<VideoSummary> {
        // The primary key finds one row at most: no LIMIT to bind.
        FixedSql::<FindVideo, _>::new(owned_video(user_id, id).select(VideoSummary::as_select()))
            .get_result(&mut conn)
            .await
            .optional()?
            .ok_or_else(|| Error::not_found("video_summary", id))
    }

    /// The id of the user who owns the video. For operator tools only, which
    /// then read the video through its owner's scoped queries.
    pub async fn owner_id(conn: &mut AsyncPgConnection, id: &str) -> Result<String> {
        operation!("video_summary.owner_id", conn, async |conn| {
            video_summary::table
                .find(id)
                .select(video_summary::user_id)
                .first(conn)
                .await
                .optional()?
                .ok_or_else(|| Error::not_found("video_summary", id))
        })
    }

    /// The user's video of this YouTube id, if they saved it.
    pub async fn find_by_youtube_id(
        conn: &AsyncPgConnection,
        user_id: &str,
        youtube_id: &str,
    ) -> Result<Option<VideoSummary>> {
        operation!(shared "video_summary.find_by_youtube_id", conn, async |mut conn| {
            Ok(video_summary::table
                .filter(video_summary::user_id.eq(user_id))
                .filter(video_summary::youtube_id.eq(youtube_id))
                .select(VideoSummary::as_select())
                .first(&mut conn)
                .await
                .optional()?)
        })
    }

    /// A page of the user's videos, newest first, each with its tag count.
    /// The page is one range of the `(user_id, created_at DESC, id DESC)`
    /// index; tags are counted for the page's rows only.
    pub async fn list(
        conn: &AsyncPgConnection,
        user_id: &str,
        filter: &VideoFilter<'_>,
    ) -> Result<VideoPage> {
        operation!(shared "video_summary.list", conn, async |mut conn| {
            let limit = filter.limit.unwrap_or(DEFAULT_PAGE_SIZE);
            if !(1..=MAX_PAGE_SIZE).contains(&limit) {
                return Err(Error::invalid(
                    "limit",
                    format!("{limit} is not between 1 and {MAX_PAGE_SIZE}"),
                ));
            }
            let cursor = filter.cursor.map(Cursor::decode).transpose()?;
            // One more than asked tells whether a next page exists.
            let page = list_page(user_id, limit + 1);
            // The three common shapes keep their static types, so each is
            // prepared once per connection and its SQL built once; a boxed
            // query is prepared on every call.
            let mut items: Vec<VideoListItem> =
                match (&cursor, filter.status, filter.tag, filter.category) {
                    (None, None, None, None) => {
                        FixedSql::<ListFirstPage, _>::new(page).load(&mut conn).await?
                    }
                    (Some(cursor), None, None, None) => {
                        FixedSql::<ListPageAfter, _>::new(page.filter(cursor.after()))
                            .load(&mut conn)
                            .await?
                    }
                    // One status alone: the page is one range of the
                    // (user_id, processing_status, created_at DESC, id DESC)
                    // index.
                    (None, Some(status), None, None) => {
                        FixedSql::<ListByStatus, _>::new(
                            page.filter(video_summary::processing_status.eq(status)),
                        )
                        .load(&mut conn)
                        .await?
                    }
                    _ => {
                        let query = page
                            .filter(video_summary::id.eq_any(filtered_ids(
                                user_id,
                                filter,
                                cursor.as_ref(),
                                limit + 1,
                            )?))
                            .into_boxed();
                        // The first page by one tag keeps a prepared statement
                        // too; the rarer shapes are prepared per call.
                        match (&cursor, filter.status, filter.tag, filter.category) {
                            (None, None, Some(_), None) => {
                                FixedSql::<ListByTag, _>::new(query).load(&mut conn).await?
                            }
                            _ => query.load(&mut conn).await?,
                        }
                    }
                };
            let next_cursor = if items.len() as i64 > limit {
                items.truncate(limit as usize);
                items.last().map(|last| {
                    Cursor {
                        created_at: last.created_at,
                        id: last.id.clone(),
                    }
                    .encode()
                })
            } else {
                None
            };
            Ok(VideoPage { items, next_cursor })
        })
    }

    /// How many of the user's videos are in each status.
    pub async fn count_by_status(
        conn: &mut AsyncPgConnection,
        user_id: &str,
    ) -> Result<StatusCounts> {
        operation!("video_summary.count_by_status", conn, async |conn| {
            let rows: Vec<(ProcessingStatus, i64)> = video_summary::table
                .filter(video_summary::user_id.eq(user_id))
                .group_by(video_summary::processing_status)
                .select((video_summary::processing_status, count_star()))
                .load(conn)
                .await?;
            let mut counts = StatusCounts::default();
            for (status, n) in rows {
                *match status {
                    ProcessingStatus::Pending => &mut counts.pending,
                    ProcessingStatus::Processing => &mut counts.processing,
                    ProcessingStatus::Completed => &mut counts.completed,
                    ProcessingStatus::Failed => &mut counts.failed,
                } = n;
            }
            Ok(counts)
        })
    }

    /// Moves the user's video to `status` if the move is legal (see
    /// [`ProcessingStatus::can_move_to`]). `error` is required for failed and
    /// stored; any other status clears it. Workers use [`crate::pipeline`]
    /// instead, whose leases and fencing this manual move bypasses.
    pub async fn update_processing_status(
        conn: &AsyncPgConnection,
        user_id: &str,
        id: &str,
        status: ProcessingStatus,
        error: Option<&str>,
    ) -> Result<VideoSummary> {
        operation!(shared "video_summary.update_status", conn, async |conn| {
            let error = match (status, error.map(str::trim)) {
                (ProcessingStatus::Failed, Some(text)) if !text.is_empty() => Some(text),
                (ProcessingStatus::Failed, _) => {
                    return Err(Error::invalid(
                        "processing_error",
                        "a failed video needs the reason it failed",
                    ));
                }
                _ => None,
            };
            Self::transition(conn, user_id, id, status, error, None).await
        })
    }

    /// Stores the AI content and marks the user's video completed; it must
    /// be processing.
    pub async fn complete(
        conn: &AsyncPgConnection,
        user_id: &str,
        id: &str,
        content: &AiContent,
    ) -> Result<VideoSummary> {
        operation!(shared "video_summary.complete", conn, async |conn| {
            Self::transition(
                conn,
                user_id,
                id,
                ProcessingStatus::Completed,
                None,
                Some(content),
            )
            .await
        })
    }

    /// One UPDATE that applies only from a legal previous status, so two
    /// concurrent moves cannot both succeed. The video's status is read in
    /// the same round trip, pipelined after the UPDATE: when the move is
    /// refused, it says why without a second round trip.
    async fn transition(
        conn: &AsyncPgConnection,
        user_id: &str,
        id: &str,
        to: ProcessingStatus,
        error: Option<&str>,
        content: Option<&AiContent>,
    ) -> Result<VideoSummary> {
        let from: Vec<ProcessingStatus> = ProcessingStatus::ALL
            .into_iter()
            .filter(|previous| previous.can_move_to(to))
            .collect();
        let target = owned_video(user_id, id).filter(video_summary::processing_status.eq_any(from));
        let changes = (
            video_summary::processing_status.eq(to),
            video_summary::updated_at.eq(dsl::now),
            video_summary::processing_error.eq(error),
            // The last error stays until a new one replaces it.
            video_summary::last_error.eq(coalesce_nullable(error, video_summary::last_error)),
            // The database counts every move to processing as an attempt; a
            // move made here holds no lease and waits for no retry.
            video_summary::attempt
                .eq(video_summary::attempt + i32::from(to == ProcessingStatus::Processing)),
            video_summary::lease_expires_at.eq(None::<DateTime<Utc>>),
            video_summary::retry_after.eq(None::<DateTime<Utc>>),
        );
        // Two statements of fixed SQL, with and without the content (an
        // optional SET item would make one statement of varying SQL).
        let update = async {
            let mut conn = conn;
            match content {
                None => {
                    FixedSql::<StatusMove, _>::new(
                        diesel::update(target)
                            .set(changes)
                            .returning(VideoSummary::as_returning()),
                    )
                    .get_result(&mut conn)
                    .await
                }
                Some(content) => {
                    FixedSql::<StatusMoveWithContent, _>::new(
                        diesel::update(target)
                            .set((changes, video_summary::ai_generated_content.eq(content)))
                            .returning(VideoSummary::as_returning()),
                    )
                    .get_result(&mut conn)
                    .await
                }
            }
        };
        // Polled in this order, and the connection's statement cache is a
        // first-come lock (held while a statement is prepared), so the read
        // is sent after the UPDATE and, in its own snapshot, sees the status
        // the UPDATE left.
        let (updated, current) = join(update, Self::current_status(conn, user_id, id)).await;
        match updated.optional()? {
            Some(video) => Ok(video),
            None => Err(Error::IllegalTransition {
                id: id.to_string(),
                from: current?,
                to,
            }),
        }
    }

    /// `read`, of something of the user's video, with the check that the
    /// video is the user's pipelined beside it: one round trip, and an empty
    /// answer is told from "not your video" ([`Error::NotFound`]).
    pub(crate) async fn read_owned<T>(
        conn: &AsyncPgConnection,
        user_id: &str,
        id: &str,
        read: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let (found, _) = try_join(read, Self::current_status(conn, user_id, id)).await?;
        Ok(found)
    }

    /// The status of the user's video, or [`Error::NotFound`]: all a
    /// refused move needs to say why, and the cheapest check that the video
    /// is the user's, without reading (and parsing) the rest of the row.
    async fn current_status(
        mut conn: &AsyncPgConnection,
        user_id: &str,
        id: &str,
    ) -> Result<ProcessingStatus> {
        FixedSql::<CurrentStatus, _>::new(
            owned_video(user_id, id).select(video_summary::processing_status),
        )
        .get_result(&mut conn)
        .await
        .optional()?
        .ok_or_else(|| Error::not_found("video_summary", id))
    }

    /// Deletes the user's video with its tags' links, categories' links and
    /// keyframes (the cascades).
    pub async fn delete(conn: &mut AsyncPgConnection, user_id: &str, id: &str) -> Result<()> {
        operation!("video_summary.delete", conn, async |conn| {
            let deleted = diesel::delete(owned_video(user_id, id))
                .execute(conn)
                .await?;
            if deleted == 0 {
                return Err(Error::not_found("video_summary", id));
            }
            Ok(())
        })
    }

    /// Fails with [`Error::NotFound`] unless the user owns the video; the
    /// row stays share-locked to the end of the caller's transaction, so it
    /// cannot be deleted under a change to its links.
    pub(crate) async fn lock_owned(
        conn: &mut AsyncPgConnection,
        user_id: &str,
        id: &str,
    ) -> Result<()> {
        owned_video(user_id, id)
            .select(video_summary::id)
            .for_share()
            .first::<String>(conn)
            .await
            .optional()?
            .map(|_| ())
            .ok_or_else(|| Error::not_found("video_summary", id))
    }
}

statement_names! {
    /// [`VideoSummary::find`].
    FindVideo;
    /// The first page of [`VideoSummary::list`], unfiltered.
    ListFirstPage;
    /// A later page of [`VideoSummary::list`], unfiltered.
    ListPageAfter;
    /// The first page of [`VideoSummary::list`] by status alone.
    ListByStatus;
    /// The first page of [`VideoSummary::list`] by tag alone.
    ListByTag;
    /// The status UPDATE.
    StatusMove;
    /// The status UPDATE that also stores the AI content.
    StatusMoveWithContent;
    /// The status read when a move is refused.
    CurrentStatus;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor {
            created_at: DateTime::from_timestamp_micros(1_767_225_600_123_456).expect("valid"),
            id: "V1StGXR8_Z5jdHi6B-myT".into(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).expect("decodes"), cursor);
        for bad in ["", "abc", "12", "x.id", "1."] {
            assert!(
                matches!(
                    Cursor::decode(bad),
                    Err(Error::InvalidInput {
                        field: "cursor",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }
}
