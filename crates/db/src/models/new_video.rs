//! Saving a video: [`NewVideo::insert`], and [`NewVideo::insert_tagged`],
//! which attaches its tags in the same statement.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use diesel::dsl;
use diesel::prelude::*;
use diesel::result::DatabaseErrorKind;
use diesel::sql_types::{Array, BigInt, Int4, Nullable, SingleValue, SqlType, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::error::{Error, Result};
use crate::instrument::operation;
use crate::models::fixed_sql::{FixedSql, statement_names};
use crate::models::label::normalize_names;
use crate::models::row_id::new_id;
use crate::models::{ProcessingStatus, VideoSummary, parse_youtube_id};
use crate::schema::video_summary;

/// A video a user saves; [`NewVideo::insert`] parses the URL and gives the
/// row a nanoid (unless `id` is given) and the `pending` status.
#[derive(Debug, Clone, Copy, Default)]
pub struct NewVideo<'a> {
    /// The row's id; a fresh nanoid when `None`. Seeds and imports pass
    /// their own so that loading the same data twice gives the same ids.
    pub id: Option<&'a str>,
    /// When the video was saved (`created_at` and `updated_at`); now when
    /// `None`.
    pub saved_at: Option<DateTime<Utc>>,
    pub user_id: &'a str,
    pub youtube_url: &'a str,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub channel_name: Option<&'a str>,
    pub duration: Option<i32>,
    pub thumbnail_url: Option<&'a str>,
}

/// A [`NewVideo`]'s values once checked: what the row gets.
struct Checked<'a> {
    id: Cow<'a, str>,
    youtube_url: &'a str,
    youtube_id: String,
    title: &'a str,
}

impl<'a> NewVideo<'a> {
    /// Saves the video for its user. The same YouTube video saved twice by
    /// one user is [`Error::Duplicate`] with the id of the saved one; an
    /// unknown user is [`Error::NotFound`].
    pub async fn insert(&self, conn: &AsyncPgConnection) -> Result<VideoSummary> {
        operation!(shared "video_summary.insert", conn, async |mut conn| {
            let checked = self.check()?;
            // Plain `column = value` pairs, not a derived `Insertable`: its
            // optional fields may write DEFAULT, so Diesel would prepare the
            // statement anew on every call; this one is prepared once. An
            // absent save time is the database's now(), through COALESCE.
            let saved_at = coalesce(self.saved_at, dsl::now);
            let row = (
                video_summary::id.eq(checked.id.as_ref()),
                video_summary::user_id.eq(self.user_id),
                video_summary::youtube_url.eq(checked.youtube_url),
                video_summary::youtube_id.eq(&checked.youtube_id),
                video_summary::title.eq(checked.title),
                video_summary::description.eq(self.description),
                video_summary::channel_name.eq(self.channel_name),
                video_summary::duration.eq(self.duration),
                video_summary::thumbnail_url.eq(self.thumbnail_url),
                video_summary::processing_status.eq(ProcessingStatus::Pending),
                video_summary::created_at.eq(saved_at),
                video_summary::updated_at.eq(saved_at),
            );
            // ON CONFLICT keeps a concurrent duplicate from being an error in
            // the database's log and from aborting a caller's transaction.
            let inserted = FixedSql::<InsertVideo, _>::new(
                diesel::insert_into(video_summary::table)
                    .values(&row)
                    .on_conflict((video_summary::user_id, video_summary::youtube_id))
                    .do_nothing()
                    .returning(VideoSummary::as_returning()),
            )
            .get_result(&mut conn)
            .await
            .optional();
            self.saved(conn, &checked, inserted).await
        })
    }

    /// Saves the video with these tags (created where missing), all in one
    /// statement: one round trip, and nothing half done. Errors as
    /// [`NewVideo::insert`]; on a duplicate nothing is saved or tagged.
    pub async fn insert_tagged(
        &self,
        conn: &AsyncPgConnection,
        tags: &[&str],
    ) -> Result<VideoSummary> {
        operation!(shared "video_summary.insert_tagged", conn, async |mut conn| {
            let checked = self.check()?;
            let names = normalize_names("tag", tags)?;
            let ids: Vec<String> = names.iter().map(|_| new_id()).collect();
            let inserted = FixedSql::<InsertTaggedVideo, _>::new(
                diesel::sql_query(INSERT_TAGGED)
                    .bind::<Text, _>(checked.id.as_ref())
                    .bind::<Text, _>(self.user_id)
                    .bind::<Text, _>(checked.youtube_url)
                    .bind::<Text, _>(&checked.youtube_id)
                    .bind::<Text, _>(checked.title)
                    .bind::<Nullable<Text>, _>(self.description)
                    .bind::<Nullable<Text>, _>(self.channel_name)
                    .bind::<Nullable<Int4>, _>(self.duration)
                    .bind::<Nullable<Text>, _>(self.thumbnail_url)
                    .bind::<Nullable<Timestamptz>, _>(self.saved_at)
                    .bind::<Array<Text>, _>(&ids)
                    .bind::<Array<Text>, _>(&names),
            )
            .get_result::<TaggedInsert>(&mut conn)
            .await
            .optional();
            let linked = inserted
                .as_ref()
                .ok()
                .and_then(|row| row.as_ref().map(|row| row.tags_linked));
            let video = self
                .saved(conn, &checked, inserted.map(|row| row.map(|row| row.video)))
                .await?;
            // A tag another session created while this statement ran is not
            // in the statement's snapshot, so its link is missing: made now,
            // by statements that see committed tags. No transaction: the
            // connection may be shared, and the link's foreign key already
            // refuses a video deleted meanwhile.
            if linked.is_some_and(|linked| linked < names.len() as i64) {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                let tags = crate::models::Tag::get_or_create_many(conn, &names).await?;
                crate::models::Tag::link(conn, &video.id, &tags).await?;
            }
            Ok(video)
        })
    }

    /// Checks the values and makes what the row gets from them.
    fn check(&self) -> Result<Checked<'a>> {
        let youtube_id = parse_youtube_id(self.youtube_url)
            .map_err(|reason| Error::invalid("youtube_url", reason))?;
        let title = self.title.trim();
        if title.is_empty() {
            return Err(Error::invalid("title", "must not be empty"));
        }
        if let Some(duration) = self.duration.filter(|d| *d < 0) {
            return Err(Error::invalid(
                "duration",
                format!("{duration} is negative"),
            ));
        }
        let id = match self.id {
            Some(id) if id.trim().is_empty() => {
                return Err(Error::invalid("id", "must not be empty"));
            }
            Some(id) => Cow::Borrowed(id),
            None => Cow::Owned(new_id()),
        };
        Ok(Checked {
            id,
            youtube_url: self.youtube_url.trim(),
            youtube_id,
            title,
        })
    }

    /// What the INSERT's outcome means: the saved video, or the error that
    /// names why not.
    async fn saved(
        &self,
        conn: &AsyncPgConnection,
        checked: &Checked<'_>,
        inserted: QueryResult<Option<VideoSummary>>,
    ) -> Result<VideoSummary> {
        match inserted {
            Ok(Some(video)) => Ok(video),
            Ok(None) => {
                let existing =
                    VideoSummary::find_by_youtube_id(conn, self.user_id, &checked.youtube_id)
                        .await?
                        .ok_or_else(|| Error::not_found("video_summary", &checked.youtube_id))?;
                Err(Error::Duplicate {
                    entity: "video_summary",
                    existing_id: existing.id,
                })
            }
            Err(diesel::result::Error::DatabaseError(
                DatabaseErrorKind::ForeignKeyViolation,
                _,
            )) => Err(Error::not_found("user", self.user_id)),
            // Only a caller-chosen id can collide with another row's.
            Err(diesel::result::Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info))
                if info.constraint_name() == Some("video_summary_pkey") =>
            {
                Err(Error::Duplicate {
                    entity: "video_summary",
                    existing_id: checked.id.to_string(),
                })
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The row [`NewVideo::insert_tagged`]'s statement returns.
#[derive(QueryableByName)]
struct TaggedInsert {
    #[diesel(embed)]
    video: VideoSummary,
    #[diesel(sql_type = BigInt)]
    tags_linked: i64,
}

/// The video (nothing when the user saved it already), the tags missing
/// from `tag` (only when the video is new), and a link to every tag named.
/// The statement's snapshot cannot see the tags its own `created` inserts,
/// hence the UNION; it returns the video and how many links it made.
const INSERT_TAGGED: &str = "WITH video AS (INSERT INTO video_summary (id, user_id, youtube_url, youtube_id, title, description, channel_name, duration, thumbnail_url, processing_status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', coalesce($10, CURRENT_TIMESTAMP), coalesce($10, CURRENT_TIMESTAMP)) ON CONFLICT (user_id, youtube_id) DO NOTHING RETURNING id, user_id, youtube_url, youtube_id, title, description, channel_name, duration, thumbnail_url, processing_status, processing_error, ai_generated_content, created_at, updated_at), named AS (SELECT * FROM unnest($11::text[], $12::text[]) AS named (id, name)), created AS (INSERT INTO tag (id, name) SELECT id, name FROM named WHERE EXISTS (SELECT FROM video) ON CONFLICT (name) DO NOTHING RETURNING id), linked AS (INSERT INTO video_summary_tag (video_summary_id, tag_id) SELECT video.id, labels.id FROM video, (SELECT id FROM created UNION SELECT tag.id FROM tag JOIN named USING (name)) AS labels RETURNING tag_id) SELECT video.*, (SELECT count(*) FROM linked) AS tags_linked FROM video";

statement_names! {
    /// [`NewVideo::insert`].
    InsertVideo;
    /// [`NewVideo::insert_tagged`].
    InsertTaggedVideo;
}

define_sql_function! {
    /// `COALESCE(value, fallback)`: the value, or the fallback when it is NULL.
    fn coalesce<T: SqlType + SingleValue>(
        value: Nullable<T>,
        fallback: T,
    ) -> T;
}
