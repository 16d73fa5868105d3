//! A video with everything its page shows: the row, its tags, categories
//! and keyframes.

use diesel_async::AsyncPgConnection;
use futures_util::future::try_join4;
use serde::Serialize;

use crate::error::Result;
use crate::instrument::{one_row, operation};
use crate::models::{Category, Keyframe, Tag, VideoSummary};

/// The user's video with its tags and categories (by name) and keyframes
/// (in timestamp order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoDetails {
    #[serde(flatten)]
    pub video: VideoSummary,
    pub tags: Vec<Tag>,
    pub categories: Vec<Category>,
    pub keyframes: Vec<Keyframe>,
}

one_row!(VideoDetails);

impl VideoDetails {
    /// The user's video and what hangs off it. The four statements are
    /// pipelined: sent together on the one connection and answered in one
    /// round trip, where reading them one after the other takes four.
    pub async fn find(conn: &AsyncPgConnection, user_id: &str, id: &str) -> Result<Self> {
        operation!(shared "video_details.find", conn, async |conn| {
            let (video, tags, categories, keyframes) = try_join4(
                VideoSummary::load_one(conn, user_id, id),
                Tag::load_for_video(conn, user_id, id),
                Category::load_for_video(conn, user_id, id),
                Keyframe::load_for_video(conn, user_id, id),
            )
            .await?;
            Ok(Self {
                video,
                tags,
                categories,
                keyframes,
            })
        })
    }
}
