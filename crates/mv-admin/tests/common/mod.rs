//! Fixtures shared by the integration tests.

use db::models::{NewUser, NewVideo};
use diesel_async::AsyncPgConnection;

/// Alice with `n` pending videos; returns their ids, oldest first.
pub async fn alice_with_videos(conn: &mut AsyncPgConnection, n: usize) -> Vec<String> {
    NewUser::new("alice", "Alice", "alice@example.com")
        .insert(conn)
        .await
        .expect("user");
    let mut ids = Vec::new();
    for i in 0..n {
        let url = format!("https://youtu.be/{i:011}");
        let video = NewVideo {
            user_id: "alice",
            youtube_url: &url,
            title: "t",
            ..NewVideo::default()
        }
        .insert(conn)
        .await
        .expect("video");
        ids.push(video.id);
    }
    ids
}
