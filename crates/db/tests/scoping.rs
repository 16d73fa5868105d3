//! Every data-access function that takes a user, called by Alice with Bob's
//! ids: Alice sees nothing of Bob's and changes nothing.

mod common;

use db::Error;
use db::models::{
    AiContent, Category, Keyframe, NewKeyframe, NewVideo, ProcessingStatus, Tag, VideoChanges,
    VideoFilter, VideoSummary,
};
use diesel_async::AsyncPgConnection;
use local_pg::harness::TestDatabase;

const YOUTUBE_ID: &str = "bobsvideo01";

/// Bob owns a tagged, categorized video with keyframes; Alice owns nothing.
async fn fixture(conn: &mut AsyncPgConnection) -> String {
    common::user(conn, "alice").await;
    common::user(conn, "bob").await;
    let bobs = common::video(conn, "bob", YOUTUBE_ID).await;
    Tag::attach(conn, "bob", &bobs.id, &["bob-tag"])
        .await
        .expect("tag");
    Category::attach(conn, "bob", &bobs.id, &["bob-category"])
        .await
        .expect("category");
    let frame = NewKeyframe {
        timestamp: 5,
        image_url: "https://cdn.example.com/k.jpg",
        description: None,
    };
    Keyframe::insert_many(conn, "bob", &bobs.id, &[frame])
        .await
        .expect("keyframe");
    VideoSummary::update_processing_status(
        conn,
        "bob",
        &bobs.id,
        ProcessingStatus::Processing,
        None,
    )
    .await
    .expect("processing");
    bobs.id
}

fn assert_not_found<T: std::fmt::Debug>(what: &str, result: db::Result<T>) {
    assert!(
        matches!(result, Err(Error::NotFound { .. })),
        "{what}: expected NotFound, got {result:?}"
    );
}

#[tokio::test]
async fn reads_show_alice_nothing_of_bobs() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    let bobs = fixture(&mut conn).await;
    let before = local_pg::harness::snapshot(&mut conn).await;
    let c = &mut conn;

    assert_not_found("find", VideoSummary::find(c, "alice", &bobs).await);
    assert_eq!(
        VideoSummary::find_by_youtube_id(c, "alice", YOUTUBE_ID)
            .await
            .expect("query"),
        None
    );
    let page = VideoSummary::list(c, "alice", &VideoFilter::default())
        .await
        .expect("list");
    assert!(page.items.is_empty() && page.next_cursor.is_none());
    for filter in [
        VideoFilter {
            tag: Some("bob-tag"),
            ..VideoFilter::default()
        },
        VideoFilter {
            category: Some("bob-category"),
            ..VideoFilter::default()
        },
        VideoFilter {
            status: Some(ProcessingStatus::Processing),
            ..VideoFilter::default()
        },
    ] {
        assert!(
            VideoSummary::list(c, "alice", &filter)
                .await
                .expect("list")
                .items
                .is_empty(),
            "{filter:?}"
        );
    }
    assert_eq!(
        VideoSummary::count_by_status(c, "alice")
            .await
            .expect("counts")
            .total(),
        0
    );
    assert_not_found("tags for_video", Tag::for_video(c, "alice", &bobs).await);
    assert_not_found(
        "categories for_video",
        Category::for_video(c, "alice", &bobs).await,
    );
    assert!(
        Tag::list_for_user(c, "alice")
            .await
            .expect("usage")
            .is_empty()
    );
    assert!(
        Category::list_for_user(c, "alice")
            .await
            .expect("usage")
            .is_empty()
    );
    assert_not_found(
        "keyframes for_video",
        Keyframe::for_video(c, "alice", &bobs).await,
    );

    assert_eq!(local_pg::harness::snapshot(c).await, before);
}

#[tokio::test]
async fn writes_change_nothing_of_bobs() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    let bobs = fixture(&mut conn).await;
    let before = local_pg::harness::snapshot(&mut conn).await;
    let c = &mut conn;

    for status in ProcessingStatus::ALL {
        let error = (status == ProcessingStatus::Failed).then_some("x");
        assert_not_found(
            "update_processing_status",
            VideoSummary::update_processing_status(c, "alice", &bobs, status, error).await,
        );
    }
    assert_not_found(
        "complete",
        VideoSummary::complete(c, "alice", &bobs, &AiContent::new("s", ["p"])).await,
    );
    assert_not_found("delete", VideoSummary::delete(c, "alice", &bobs).await);
    let edit = VideoChanges {
        title: Some("mine now"),
        ..VideoChanges::default()
    };
    assert_not_found("edit", edit.apply(c, "alice", &bobs).await);
    assert_not_found(
        "tag attach",
        Tag::attach(c, "alice", &bobs, &["new-tag"]).await,
    );
    assert_not_found(
        "tag detach",
        Tag::detach(c, "alice", &bobs, &["bob-tag"]).await,
    );
    assert_not_found(
        "tag replace",
        Tag::replace(c, "alice", &bobs, &["new-tag"]).await,
    );
    assert_not_found(
        "category attach",
        Category::attach(c, "alice", &bobs, &["new"]).await,
    );
    assert_not_found(
        "category detach",
        Category::detach(c, "alice", &bobs, &["bob-category"]).await,
    );
    assert_not_found(
        "category replace",
        Category::replace(c, "alice", &bobs, &["new"]).await,
    );
    let frame = NewKeyframe {
        timestamp: 1,
        image_url: "https://cdn.example.com/x.jpg",
        description: None,
    };
    assert_not_found(
        "keyframes insert_many",
        Keyframe::insert_many(c, "alice", &bobs, &[frame]).await,
    );

    assert_eq!(
        local_pg::harness::snapshot(c).await,
        before,
        "Bob's data (and the shared labels) are untouched"
    );
}

#[tokio::test]
async fn duplicate_detection_is_per_user() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    let bobs = fixture(&mut conn).await;
    let url = format!("https://youtu.be/{YOUTUBE_ID}");
    let alices = NewVideo {
        user_id: "alice",
        youtube_url: &url,
        title: "mine",
        ..NewVideo::default()
    }
    .insert(&conn)
    .await
    .expect("Alice may save the video Bob saved");
    assert_ne!(alices.id, bobs);
    let bob_view = VideoSummary::find(&conn, "bob", &bobs)
        .await
        .expect("Bob's is still his");
    assert_eq!(bob_view.title, format!("Video {YOUTUBE_ID}"));
}
