//! Fixtures shared by the integration tests.
#![allow(dead_code)]

use db::models::{NewUser, NewVideo, User, VideoSummary};
use diesel::sql_types::Text;
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

pub async fn user(conn: &mut AsyncPgConnection, id: &str) -> User {
    let email = format!("{id}@example.com");
    NewUser::new(id, id, &email)
        .insert(conn)
        .await
        .expect("create user")
}

pub async fn video(conn: &mut AsyncPgConnection, user_id: &str, youtube_id: &str) -> VideoSummary {
    let url = format!("https://www.youtube.com/watch?v={youtube_id}");
    NewVideo {
        user_id,
        youtube_url: &url,
        title: &format!("Video {youtube_id}"),
        ..NewVideo::default()
    }
    .insert(conn)
    .await
    .expect("create video")
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = Text)]
    id: String,
}

/// Saves `n` pending videos for the user in one statement, each a
/// millisecond younger than the one before; returns their ids, oldest first.
pub async fn pending_videos(conn: &mut AsyncPgConnection, user_id: &str, n: i32) -> Vec<String> {
    let mut ids = sql_query(
        "INSERT INTO video_summary (id, user_id, youtube_url, youtube_id, title, created_at)
         SELECT 'v' || lpad(i::text, 20, '0'), $1,
                'https://youtu.be/' || lpad(i::text, 11, '0'), lpad(i::text, 11, '0'),
                'Video ' || i, now() + i * interval '1 millisecond'
         FROM generate_series(1, $2) AS i
         RETURNING id",
    )
    .bind::<Text, _>(user_id)
    .bind::<diesel::sql_types::Integer, _>(n)
    .load::<Id>(conn)
    .await
    .expect("create videos")
    .into_iter()
    .map(|row| row.id)
    .collect::<Vec<_>>();
    ids.sort();
    ids
}
