//! `keyframe`: still frames picked from a video.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::instrument::operation;
use crate::models::VideoSummary;
use crate::models::fixed_sql::{FixedSql, statement_names};
use crate::models::row_id::new_id;
use crate::schema::{keyframe, video_summary};

/// A row of `keyframe`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable, Serialize)]
#[diesel(table_name = keyframe, check_for_backend(diesel::pg::Pg))]
pub struct Keyframe {
    pub id: String,
    pub video_summary_id: String,
    /// Offset into the video, in seconds.
    pub timestamp: i32,
    pub image_url: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A keyframe to add to a video.
#[derive(Debug, Clone, Copy)]
pub struct NewKeyframe<'a> {
    pub timestamp: i32,
    pub image_url: &'a str,
    pub description: Option<&'a str>,
}

impl NewKeyframe<'_> {
    /// Refuses the first frame with a negative timestamp or no image.
    pub(crate) fn check_all(frames: &[Self]) -> Result<()> {
        for frame in frames {
            if frame.timestamp < 0 {
                return Err(Error::invalid(
                    "timestamp",
                    format!("{} is negative", frame.timestamp),
                ));
            }
            if frame.image_url.trim().is_empty() {
                return Err(Error::invalid("image_url", "must not be empty"));
            }
        }
        Ok(())
    }
}

impl Keyframe {
    /// Adds keyframes to the user's video in one statement; returns them in
    /// timestamp order.
    pub async fn insert_many(
        conn: &mut AsyncPgConnection,
        user_id: &str,
        video_id: &str,
        frames: &[NewKeyframe<'_>],
    ) -> Result<Vec<Keyframe>> {
        operation!("keyframe.insert_many", conn, async |conn| {
            NewKeyframe::check_all(frames)?;
            conn.transaction(async |conn| {
                VideoSummary::lock_owned(conn, user_id, video_id).await?;
                if frames.is_empty() {
                    return Ok(Vec::new());
                }
                let ids: Vec<String> = frames.iter().map(|_| new_id()).collect();
                let rows: Vec<_> = frames
                    .iter()
                    .zip(&ids)
                    .map(|(frame, id)| {
                        (
                            keyframe::id.eq(id),
                            keyframe::video_summary_id.eq(video_id),
                            keyframe::timestamp.eq(frame.timestamp),
                            keyframe::image_url.eq(frame.image_url),
                            keyframe::description.eq(frame.description),
                        )
                    })
                    .collect();
                let mut inserted: Vec<Keyframe> = diesel::insert_into(keyframe::table)
                    .values(rows)
                    .returning(Keyframe::as_returning())
                    .get_results(conn)
                    .await?;
                inserted.sort_by(|a, b| (a.timestamp, &a.id).cmp(&(b.timestamp, &b.id)));
                Ok(inserted)
            })
            .await
        })
    }

    /// Deletes every keyframe of a video, for a caller that already holds
    /// the video's row lock and is about to write a new set.
    pub(crate) async fn delete_for_video(
        conn: &mut AsyncPgConnection,
        video_id: &str,
    ) -> Result<usize> {
        Ok(
            diesel::delete(keyframe::table.filter(keyframe::video_summary_id.eq(video_id)))
                .execute(conn)
                .await?,
        )
    }

    /// The keyframes of the user's video, in timestamp order.
    pub async fn for_video(
        conn: &mut AsyncPgConnection,
        user_id: &str,
        video_id: &str,
    ) -> Result<Vec<Keyframe>> {
        operation!("keyframe.for_video", conn, async |conn| {
            let conn: &AsyncPgConnection = conn;
            VideoSummary::read_owned(
                conn,
                user_id,
                video_id,
                Self::load_for_video(conn, user_id, video_id),
            )
            .await
        })
    }

    /// The keyframes of the user's video, on a connection that other
    /// statements may share at the same time (pipelined).
    pub(crate) async fn load_for_video(
        mut conn: &AsyncPgConnection,
        user_id: &str,
        video_id: &str,
    ) -> Result<Vec<Keyframe>> {
        Ok(FixedSql::<KeyframesOfVideo, _>::new(
            keyframe::table
                .inner_join(video_summary::table)
                .filter(video_summary::id.eq(video_id))
                .filter(video_summary::user_id.eq(user_id))
                .order((keyframe::timestamp, keyframe::id))
                .select(Keyframe::as_select()),
        )
        .load(&mut conn)
        .await?)
    }
}

statement_names! {
    /// [`VideoDetails::find`](crate::models::VideoDetails::find)'s read of
    /// the video's keyframes.
    KeyframesOfVideo;
}
