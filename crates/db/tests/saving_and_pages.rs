//! A video saved with its tags in one statement, and a video's page read in
//! one pipeline, against a real database.

mod common;

use std::time::Duration;

use db::Error;
use db::models::{
    Category, Keyframe, NewKeyframe, NewVideo, Tag, VideoDetails, VideoFilter, VideoSummary,
};
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use local_pg::harness::TestDatabase;

fn new_video<'a>(user_id: &'a str, url: &'a str) -> NewVideo<'a> {
    NewVideo {
        user_id,
        youtube_url: url,
        title: "Saved with tags",
        ..NewVideo::default()
    }
}

fn names(tags: &[Tag]) -> Vec<&str> {
    tags.iter().map(|tag| tag.name.as_str()).collect()
}

#[tokio::test]
async fn a_video_saved_with_tags_has_them_and_missing_tags_are_created() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    let existing = Tag::get_or_create(&mut conn, "rust").await.expect("tag");

    let video = new_video("alice", "https://youtu.be/aaaaaaaaaaa")
        .insert_tagged(&conn, &["Rust", "  Memory   Safety ", "talks", "rust"])
        .await
        .expect("saved");
    assert_eq!(
        (video.user_id.as_str(), video.youtube_id.as_str()),
        ("alice", "aaaaaaaaaaa")
    );
    let tags = Tag::for_video(&mut conn, "alice", &video.id)
        .await
        .expect("tags");
    assert_eq!(names(&tags), ["memory safety", "rust", "talks"]);
    assert!(tags.contains(&existing), "the existing tag is reused");
    assert_eq!(Tag::list(&mut conn).await.expect("tags").len(), 3);
    assert_eq!(
        VideoSummary::find(&conn, "alice", &video.id)
            .await
            .expect("found"),
        video
    );

    // No tags at all is a plain save.
    let untagged = new_video("alice", "https://youtu.be/bbbbbbbbbbb")
        .insert_tagged(&conn, &[])
        .await
        .expect("saved");
    assert!(
        Tag::for_video(&mut conn, "alice", &untagged.id)
            .await
            .expect("tags")
            .is_empty()
    );
}

#[tokio::test]
async fn a_refused_tagged_save_leaves_nothing_behind() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    let saved = common::video(&mut conn, "alice", "aaaaaaaaaaa").await;

    // The same YouTube video again: the saved one's id, and no tag made.
    let duplicate = new_video("alice", "https://www.youtube.com/watch?v=aaaaaaaaaaa")
        .insert_tagged(&conn, &["new tag"])
        .await;
    assert!(
        matches!(&duplicate, Err(Error::Duplicate { existing_id, .. }) if *existing_id == saved.id),
        "{duplicate:?}"
    );
    assert!(Tag::list(&mut conn).await.expect("tags").is_empty());

    let unknown = new_video("nobody", "https://youtu.be/ccccccccccc")
        .insert_tagged(&conn, &["new tag"])
        .await;
    assert!(
        matches!(&unknown, Err(Error::NotFound { entity: "user", .. })),
        "{unknown:?}"
    );
    let bad_url = new_video("alice", "https://example.com/video")
        .insert_tagged(&conn, &["new tag"])
        .await;
    assert!(
        matches!(
            &bad_url,
            Err(Error::InvalidInput {
                field: "youtube_url",
                ..
            })
        ),
        "{bad_url:?}"
    );
    let bad_tag = new_video("alice", "https://youtu.be/ddddddddddd")
        .insert_tagged(&conn, &["fine", "   "])
        .await;
    assert!(
        matches!(&bad_tag, Err(Error::InvalidInput { field: "tag", .. })),
        "{bad_tag:?}"
    );
    assert!(Tag::list(&mut conn).await.expect("tags").is_empty());
    let page = VideoSummary::list(&conn, "alice", &VideoFilter::default())
        .await
        .expect("list");
    assert_eq!(page.items.len(), 1, "only the first video is saved");
}

/// A tag another session creates while the save runs is not in the save
/// statement's snapshot; the video must be linked to it all the same.
#[tokio::test]
async fn a_tag_created_concurrently_is_linked_all_the_same() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    let mut other: AsyncPgConnection = db.connect().await;
    other
        .batch_execute("BEGIN; INSERT INTO tag (id, name) VALUES ('t-concurrent', 'fresh')")
        .await
        .expect("uncommitted tag");

    let save = tokio::spawn(async move {
        let video = new_video("alice", "https://youtu.be/aaaaaaaaaaa")
            .insert_tagged(&conn, &["fresh", "rust"])
            .await;
        (conn, video)
    });
    // The save waits on the other session's row for `fresh`.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!save.is_finished(), "the save waits for the other session");
    other.batch_execute("COMMIT").await.expect("commit");
    let (mut conn, video) = save.await.expect("task");
    let video = video.expect("saved");

    let tags = Tag::for_video(&mut conn, "alice", &video.id)
        .await
        .expect("tags");
    assert_eq!(names(&tags), ["fresh", "rust"]);
    assert_eq!(tags[0].id, "t-concurrent");
}

#[tokio::test]
async fn a_video_page_is_the_video_with_what_hangs_off_it_and_only_its_owners() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    common::user(&mut conn, "bob").await;
    let video = new_video("alice", "https://youtu.be/aaaaaaaaaaa")
        .insert_tagged(&conn, &["rust", "talks"])
        .await
        .expect("saved");
    Category::attach(&mut conn, "alice", &video.id, &["science"])
        .await
        .expect("category");
    let frame = |timestamp| NewKeyframe {
        timestamp,
        image_url: "https://cdn.example.com/k.jpg",
        description: None,
    };
    Keyframe::insert_many(&mut conn, "alice", &video.id, &[frame(30), frame(0)])
        .await
        .expect("keyframes");

    let page = VideoDetails::find(&conn, "alice", &video.id)
        .await
        .expect("page");
    assert_eq!(page.video, video);
    assert_eq!(
        page.tags,
        Tag::for_video(&mut conn, "alice", &video.id)
            .await
            .expect("tags")
    );
    assert_eq!(names(&page.tags), ["rust", "talks"]);
    assert_eq!(
        page.categories,
        Category::for_video(&mut conn, "alice", &video.id)
            .await
            .expect("categories")
    );
    assert_eq!(
        page.keyframes
            .iter()
            .map(|k| k.timestamp)
            .collect::<Vec<_>>(),
        [0, 30]
    );

    // Another user's video is not found, and neither is a missing one.
    for (user, id) in [("bob", video.id.as_str()), ("alice", "missing")] {
        let refused = VideoDetails::find(&conn, user, id).await;
        assert!(
            matches!(
                &refused,
                Err(Error::NotFound {
                    entity: "video_summary",
                    ..
                })
            ),
            "{user} {id}: {refused:?}"
        );
    }
    // A video with nothing attached has empty lists, and the connection
    // serves the next call as usual after the pipeline.
    let bare = common::video(&mut conn, "bob", "bbbbbbbbbbb").await;
    let page = VideoDetails::find(&conn, "bob", &bare.id)
        .await
        .expect("page");
    assert!(page.tags.is_empty() && page.categories.is_empty() && page.keyframes.is_empty());
}

#[tokio::test]
async fn filtered_first_pages_are_scoped_and_filtered() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    common::user(&mut conn, "bob").await;
    let tagged = new_video("alice", "https://youtu.be/aaaaaaaaaaa")
        .insert_tagged(&conn, &["rust"])
        .await
        .expect("saved");
    let untagged = common::video(&mut conn, "alice", "bbbbbbbbbbb").await;
    new_video("bob", "https://youtu.be/ccccccccccc")
        .insert_tagged(&conn, &["rust"])
        .await
        .expect("saved");
    // Twice each: the second call runs the statement the first prepared.
    for _ in 0..2 {
        let by_tag = VideoSummary::list(
            &conn,
            "alice",
            &VideoFilter {
                tag: Some("Rust"),
                ..VideoFilter::default()
            },
        )
        .await
        .expect("by tag");
        assert_eq!(
            by_tag
                .items
                .iter()
                .map(|v| v.id.as_str())
                .collect::<Vec<_>>(),
            [tagged.id.as_str()]
        );
        let pending = VideoSummary::list(
            &conn,
            "alice",
            &VideoFilter {
                status: Some(db::models::ProcessingStatus::Pending),
                ..VideoFilter::default()
            },
        )
        .await
        .expect("by status");
        let mut ids: Vec<&str> = pending.items.iter().map(|v| v.id.as_str()).collect();
        ids.sort();
        let mut alices = [tagged.id.as_str(), untagged.id.as_str()];
        alices.sort();
        assert_eq!(ids, alices, "alice's pending videos, not bob's");
    }
}
