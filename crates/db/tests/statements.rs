//! The hot queries are prepared once per connection and then only bound and
//! executed: one round trip each, no parsing or planning on the server.

mod common;

use db::models::{AiContent, ProcessingStatus, VideoDetails, VideoFilter, VideoSummary};
use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use local_pg::harness::{Statements, TestDatabase};

#[derive(QueryableByName)]
struct Prepared {
    #[diesel(sql_type = Text)]
    statement: String,
}

#[tokio::test]
async fn hot_queries_are_prepared_once_per_connection() {
    use ProcessingStatus::*;
    let db = TestDatabase::new().await;
    let (mut conn, statements, videos) = recorded_videos(&db).await;
    for video in &videos {
        VideoSummary::find(&conn, "alice", &video.id)
            .await
            .expect("found");
    }
    let filter = VideoFilter {
        limit: Some(1),
        ..VideoFilter::default()
    };
    let first = VideoSummary::list(&conn, "alice", &filter)
        .await
        .expect("page");
    let mut cursor = first.next_cursor;
    while let Some(after) = cursor {
        let filter = VideoFilter {
            cursor: Some(&after),
            ..filter
        };
        cursor = VideoSummary::list(&conn, "alice", &filter)
            .await
            .expect("page")
            .next_cursor;
    }
    VideoSummary::list(&conn, "alice", &VideoFilter::default())
        .await
        .expect("page");
    for video in &videos {
        VideoSummary::update_processing_status(&conn, "alice", &video.id, Processing, None)
            .await
            .expect("moved");
    }
    VideoSummary::update_processing_status(&conn, "alice", &videos[0].id, Failed, Some("x"))
        .await
        .expect("failed");
    for video in &videos[1..] {
        VideoSummary::complete(&conn, "alice", &video.id, &AiContent::new("s", ["p"]))
            .await
            .expect("completed");
    }
    // insert, find, list, list after a cursor, the status move, the move
    // that stores the content and the status read pipelined with both:
    // seven statements, whatever the values.
    assert_each_prepared_once(&mut conn, statements.take_sql(), 7).await;
}

#[tokio::test]
async fn the_video_page_prepares_its_four_statements_once_per_connection() {
    let db = TestDatabase::new().await;
    let (mut conn, statements, videos) = recorded_videos(&db).await;
    for video in videos.iter().chain(&videos) {
        VideoDetails::find(&conn, "alice", &video.id)
            .await
            .expect("page");
    }
    // The insert, then the video, its tags, its categories and its
    // keyframes.
    assert_each_prepared_once(&mut conn, statements.take_sql(), 5).await;
}

/// A connection whose statements are recorded from the start, on which
/// alice saved three videos (one INSERT statement).
async fn recorded_videos(db: &TestDatabase) -> (AsyncPgConnection, Statements, Vec<VideoSummary>) {
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    let statements = Statements::record(&mut conn);
    let mut videos = Vec::new();
    for youtube_id in ["aaaaaaaaaaa", "bbbbbbbbbbb", "ccccccccccc"] {
        videos.push(common::video(&mut conn, "alice", youtube_id).await);
    }
    (conn, statements, videos)
}

/// Checks that the connection sent `distinct` different statements and has
/// each prepared exactly once, and nothing else.
async fn assert_each_prepared_once(
    conn: &mut AsyncPgConnection,
    mut sent: Vec<String>,
    distinct: usize,
) {
    // This statement itself shows in the view while it runs.
    let prepared: Vec<String> = diesel::sql_query(
        "SELECT statement FROM pg_prepared_statements WHERE statement NOT LIKE '%pg_prepared%'",
    )
    .load::<Prepared>(conn)
    .await
    .expect("prepared statements")
    .into_iter()
    .map(|row| row.statement)
    .collect();
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), distinct, "{sent:#?}");
    for sql in &sent {
        let times = prepared.iter().filter(|p| *p == sql).count();
        assert_eq!(times, 1, "prepared {times} times: {sql}\n{prepared:#?}");
    }
    assert_eq!(prepared.len(), sent.len(), "{prepared:#?}");
}
