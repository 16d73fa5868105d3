//! Video summaries against a real database.

mod common;

use db::Error;
use db::models::{
    AiContent, NewVideo, ProcessingStatus, Tag, VideoChanges, VideoFilter, VideoSummary,
};
use diesel_async::AsyncConnection;
use local_pg::harness::{QueryOrder, TestDatabase};

#[tokio::test]
async fn create_parses_the_url_and_starts_pending() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    let video = NewVideo {
        user_id: "alice",
        youtube_url: "https://youtu.be/dQw4w9WgXcQ?t=42",
        title: "  Never Gonna Give You Up ",
        channel_name: Some("Rick Astley"),
        duration: Some(213),
        ..NewVideo::default()
    }
    .insert(&conn)
    .await
    .expect("created");
    assert_eq!(video.youtube_id, "dQw4w9WgXcQ");
    assert_eq!(video.title, "Never Gonna Give You Up");
    assert_eq!(video.id.len(), 21, "a nanoid");
    assert_eq!(video.processing_status, ProcessingStatus::Pending);
    assert_eq!(
        VideoSummary::find(&conn, "alice", &video.id)
            .await
            .expect("found"),
        video
    );
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    let base = NewVideo {
        user_id: "alice",
        youtube_url: "https://youtu.be/dQw4w9WgXcQ",
        title: "t",
        ..NewVideo::default()
    };
    let cases = [
        (
            NewVideo {
                youtube_url: "https://vimeo.com/1",
                ..base
            },
            "youtube_url",
        ),
        (
            NewVideo {
                title: "   ",
                ..base
            },
            "title",
        ),
        (
            NewVideo {
                duration: Some(-1),
                ..base
            },
            "duration",
        ),
    ];
    for (input, expected) in cases {
        match input.insert(&conn).await {
            Err(Error::InvalidInput { field, .. }) => assert_eq!(field, expected),
            other => panic!("{expected}: {other:?}"),
        }
    }
    let unknown_user = NewVideo {
        user_id: "nobody",
        ..base
    }
    .insert(&conn)
    .await;
    assert!(
        matches!(unknown_user, Err(Error::NotFound { entity: "user", .. })),
        "{unknown_user:?}"
    );
    assert_eq!(
        VideoSummary::count_by_status(&mut conn, "alice")
            .await
            .expect("counts")
            .total(),
        0
    );
}

#[tokio::test]
async fn saving_the_same_video_twice_returns_the_existing_id() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    let first = common::video(&mut conn, "alice", "dQw4w9WgXcQ").await;
    let again = NewVideo {
        user_id: "alice",
        youtube_url: "https://m.youtube.com/shorts/dQw4w9WgXcQ",
        title: "again",
        ..NewVideo::default()
    }
    .insert(&conn)
    .await;
    match again {
        Err(Error::Duplicate { existing_id, .. }) => assert_eq!(existing_id, first.id),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    let found = VideoSummary::find_by_youtube_id(&conn, "alice", "dQw4w9WgXcQ")
        .await
        .expect("query");
    assert_eq!(found.map(|v| v.id), Some(first.id));
}

#[tokio::test]
async fn status_moves_follow_the_pipeline() {
    use ProcessingStatus::*;
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    let video = common::video(&mut conn, "alice", "aaaaaaaaaaa").await;
    let id = video.id.as_str();

    let illegal = VideoSummary::update_processing_status(&conn, "alice", id, Completed, None).await;
    assert!(
        matches!(
            illegal,
            Err(Error::IllegalTransition {
                from: Pending,
                to: Completed,
                ..
            })
        ),
        "{illegal:?}"
    );
    let processing = VideoSummary::update_processing_status(&conn, "alice", id, Processing, None)
        .await
        .expect("pending -> processing");
    assert!(processing.updated_at >= video.updated_at);

    let missing_reason =
        VideoSummary::update_processing_status(&conn, "alice", id, Failed, None).await;
    assert!(matches!(
        missing_reason,
        Err(Error::InvalidInput {
            field: "processing_error",
            ..
        })
    ));
    let failed =
        VideoSummary::update_processing_status(&conn, "alice", id, Failed, Some("no transcript"))
            .await
            .expect("processing -> failed");
    assert_eq!(failed.processing_error.as_deref(), Some("no transcript"));

    let retried = VideoSummary::update_processing_status(&conn, "alice", id, Pending, None)
        .await
        .expect("failed -> pending");
    assert_eq!(
        retried.processing_error, None,
        "the error is cleared on retry"
    );
    VideoSummary::update_processing_status(&conn, "alice", id, Processing, None)
        .await
        .expect("pending -> processing");
    let content = AiContent::new("A song.", ["never", "gonna"]);
    let done = VideoSummary::complete(&conn, "alice", id, &content)
        .await
        .expect("complete");
    assert_eq!(done.processing_status, Completed);
    assert_eq!(done.ai_generated_content, Some(content));
    let again = VideoSummary::complete(&conn, "alice", id, &AiContent::default()).await;
    assert!(matches!(
        again,
        Err(Error::IllegalTransition {
            from: Completed,
            ..
        })
    ));
}

/// A refused move says why without a second round trip: the status read is
/// sent before the UPDATE's answer comes back, and it sees the status the
/// UPDATE left, in a caller's transaction too.
#[tokio::test]
async fn a_status_move_reads_the_status_in_the_same_round_trip() {
    use ProcessingStatus::*;
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    common::user(&mut conn, "bob").await;
    let video = common::video(&mut conn, "alice", "aaaaaaaaaaa").await;
    let id = video.id.as_str();
    let order = QueryOrder::record(&mut conn);

    let refused = VideoSummary::update_processing_status(&conn, "alice", id, Completed, None).await;
    assert!(
        matches!(
            refused,
            Err(Error::IllegalTransition {
                from: Pending,
                to: Completed,
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(
        order.take(),
        [
            "start UPDATE",
            "start SELECT",
            "finish UPDATE",
            "finish SELECT"
        ],
        "both statements sent before the first answer"
    );

    // In the caller's transaction the read sees the transaction's own move.
    conn.transaction::<_, Error, _>(async |conn| {
        VideoSummary::update_processing_status(conn, "alice", id, Processing, None).await?;
        let again =
            VideoSummary::update_processing_status(conn, "alice", id, Processing, None).await;
        assert!(
            matches!(
                again,
                Err(Error::IllegalTransition {
                    from: Processing,
                    ..
                })
            ),
            "{again:?}"
        );
        Ok(())
    })
    .await
    .expect("transaction");

    // Another user's video is not found, and nothing moved.
    let foreign = VideoSummary::update_processing_status(&conn, "bob", id, Pending, None).await;
    assert!(
        matches!(
            foreign,
            Err(Error::NotFound {
                entity: "video_summary",
                ..
            })
        ),
        "{foreign:?}"
    );
    let unchanged = VideoSummary::find(&conn, "alice", id).await.expect("find");
    assert_eq!(unchanged.processing_status, Processing);
}

#[tokio::test]
async fn ai_content_keeps_unknown_keys_through_the_database() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    let video = common::video(&mut conn, "alice", "aaaaaaaaaaa").await;
    VideoSummary::update_processing_status(
        &conn,
        "alice",
        &video.id,
        ProcessingStatus::Processing,
        None,
    )
    .await
    .expect("processing");
    let original =
        serde_json::json!({"summary": "s", "keyPoints": ["a"], "topics": ["x"], "model": {"v": 2}});
    let content = AiContent::from_json(original.clone()).expect("object");
    VideoSummary::complete(&conn, "alice", &video.id, &content)
        .await
        .expect("complete");
    let read = VideoSummary::find(&conn, "alice", &video.id)
        .await
        .expect("found");
    let stored = read.ai_generated_content.expect("content");
    assert_eq!(serde_json::to_value(&stored).expect("json"), original);
}

#[tokio::test]
async fn list_pages_newest_first_with_tag_counts_and_filters() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    let mut ids = Vec::new();
    for n in 0..7 {
        let video = common::video(&mut conn, "alice", &format!("video{n:06}")).await;
        ids.push(video.id);
    }
    Tag::attach(&mut conn, "alice", &ids[6], &["rust", "talks"])
        .await
        .expect("tags");
    Tag::attach(&mut conn, "alice", &ids[2], &["rust"])
        .await
        .expect("tags");
    VideoSummary::update_processing_status(
        &conn,
        "alice",
        &ids[5],
        ProcessingStatus::Processing,
        None,
    )
    .await
    .expect("processing");

    // Newest first: the creation order reversed, three at a time.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let filter = VideoFilter {
            limit: Some(3),
            cursor: cursor.as_deref(),
            ..VideoFilter::default()
        };
        let page = VideoSummary::list(&conn, "alice", &filter)
            .await
            .expect("page");
        assert!(page.items.len() <= 3);
        seen.extend(
            page.items
                .iter()
                .map(|item| (item.id.clone(), item.tag_count)),
        );
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let expected: Vec<(String, i64)> = ids
        .iter()
        .rev()
        .map(|id| {
            (
                id.clone(),
                if *id == ids[6] {
                    2
                } else if *id == ids[2] {
                    1
                } else {
                    0
                },
            )
        })
        .collect();
    assert_eq!(seen, expected);

    let tagged = VideoSummary::list(
        &conn,
        "alice",
        &VideoFilter {
            tag: Some(" RUST "),
            ..VideoFilter::default()
        },
    )
    .await
    .expect("by tag");
    assert_eq!(
        tagged
            .items
            .iter()
            .map(|i| i.id.clone())
            .collect::<Vec<_>>(),
        vec![ids[6].clone(), ids[2].clone()]
    );
    let processing = VideoSummary::list(
        &conn,
        "alice",
        &VideoFilter {
            status: Some(ProcessingStatus::Processing),
            ..VideoFilter::default()
        },
    )
    .await
    .expect("by status");
    assert_eq!(processing.items.len(), 1);
    assert_eq!(processing.items[0].id, ids[5]);

    for bad in [Some(0), Some(101)] {
        let result = VideoSummary::list(
            &conn,
            "alice",
            &VideoFilter {
                limit: bad,
                ..VideoFilter::default()
            },
        )
        .await;
        assert!(
            matches!(result, Err(Error::InvalidInput { field: "limit", .. })),
            "{result:?}"
        );
    }
    let result = VideoSummary::list(
        &conn,
        "alice",
        &VideoFilter {
            cursor: Some("nonsense"),
            ..VideoFilter::default()
        },
    )
    .await;
    assert!(matches!(
        result,
        Err(Error::InvalidInput {
            field: "cursor",
            ..
        })
    ));
}

#[tokio::test]
async fn counts_per_status_and_delete_cascades() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    let a = common::video(&mut conn, "alice", "aaaaaaaaaaa").await;
    let b = common::video(&mut conn, "alice", "bbbbbbbbbbb").await;
    VideoSummary::update_processing_status(
        &conn,
        "alice",
        &b.id,
        ProcessingStatus::Processing,
        None,
    )
    .await
    .expect("processing");
    let counts = VideoSummary::count_by_status(&mut conn, "alice")
        .await
        .expect("counts");
    assert_eq!(
        (counts.pending, counts.processing, counts.total()),
        (1, 1, 2)
    );

    Tag::attach(&mut conn, "alice", &a.id, &["x"])
        .await
        .expect("tag");
    VideoSummary::delete(&mut conn, "alice", &a.id)
        .await
        .expect("delete");
    assert!(matches!(
        VideoSummary::find(&conn, "alice", &a.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        VideoSummary::delete(&mut conn, "alice", &a.id).await,
        Err(Error::NotFound { .. })
    ));
    let usage = Tag::list_for_user(&mut conn, "alice").await.expect("usage");
    assert!(usage.is_empty(), "the link went with the video: {usage:?}");
}

#[tokio::test]
async fn a_chosen_id_and_time_are_kept_and_the_owner_is_found() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    common::user(&mut conn, "bob").await;
    let saved_at = chrono::DateTime::from_timestamp(1_763_000_000, 0).expect("valid");
    let base = NewVideo {
        id: Some("fixed-id-for-imports1"),
        saved_at: Some(saved_at),
        user_id: "alice",
        youtube_url: "https://youtu.be/dQw4w9WgXcQ",
        title: "t",
        ..NewVideo::default()
    };
    let video = base.insert(&conn).await.expect("created");
    assert_eq!(video.id, "fixed-id-for-imports1");
    assert_eq!((video.created_at, video.updated_at), (saved_at, saved_at));
    assert_eq!(
        VideoSummary::owner_id(&mut conn, &video.id)
            .await
            .expect("owner"),
        "alice"
    );
    assert!(matches!(
        VideoSummary::owner_id(&mut conn, "nope").await,
        Err(Error::NotFound { .. })
    ));

    // The same id for another video, even another user's, is a duplicate.
    let taken = NewVideo {
        user_id: "bob",
        youtube_url: "https://youtu.be/aaaaaaaaaaa",
        ..base
    }
    .insert(&conn)
    .await;
    assert!(
        matches!(&taken, Err(Error::Duplicate { existing_id, .. }) if existing_id == "fixed-id-for-imports1"),
        "{taken:?}"
    );
    let blank = NewVideo {
        id: Some(" "),
        youtube_url: "https://youtu.be/bbbbbbbbbbb",
        ..base
    }
    .insert(&conn)
    .await;
    assert!(
        matches!(blank, Err(Error::InvalidInput { field: "id", .. })),
        "{blank:?}"
    );
}

#[tokio::test]
async fn details_can_be_edited_and_cleared() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    let video = common::video(&mut conn, "alice", "aaaaaaaaaaa").await;
    let edited = VideoChanges {
        title: Some("  A better title "),
        channel_name: Some(Some("Channel")),
        duration: Some(Some(90)),
        ..VideoChanges::default()
    }
    .apply(&mut conn, "alice", &video.id)
    .await
    .expect("edited");
    assert_eq!(edited.title, "A better title");
    assert_eq!(edited.channel_name.as_deref(), Some("Channel"));
    assert_eq!(edited.duration, Some(90));
    assert!(edited.updated_at >= video.updated_at);
    assert_eq!(
        edited.youtube_url, video.youtube_url,
        "untouched fields stay"
    );

    let cleared = VideoChanges {
        channel_name: Some(None),
        ..VideoChanges::default()
    }
    .apply(&mut conn, "alice", &video.id)
    .await
    .expect("cleared");
    assert_eq!(
        (cleared.channel_name.as_deref(), cleared.title.as_str()),
        (None, "A better title")
    );

    for (changes, field) in [
        (
            VideoChanges {
                title: Some(" "),
                ..VideoChanges::default()
            },
            "title",
        ),
        (
            VideoChanges {
                duration: Some(Some(-3)),
                ..VideoChanges::default()
            },
            "duration",
        ),
    ] {
        match changes.apply(&mut conn, "alice", &video.id).await {
            Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let after = VideoSummary::find(&conn, "alice", &video.id)
        .await
        .expect("found");
    assert_eq!(after, cleared, "refused edits change nothing");
}
