//! Fixtures shared by the integration tests.
#![allow(dead_code)]

use db::models::{NewUser, NewVideo, User, VideoSummary};
use diesel_async::AsyncPgConnection;

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
