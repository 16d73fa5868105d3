//! Callers sharing one connection (`Db::shared`), against a real database:
//! each gets its own answers and errors, scoped to its user.

mod common;

use db::models::{NewVideo, ProcessingStatus, VideoDetails, VideoFilter, VideoSummary};
use db::{Db, DbConfig, Error};
use futures_util::FutureExt as _;
use local_pg::harness::TestDatabase;
use tokio::task::JoinSet;

fn new_video<'a>(user_id: &'a str, url: &'a str) -> NewVideo<'a> {
    NewVideo {
        user_id,
        youtube_url: url,
        title: "Shared",
        ..NewVideo::default()
    }
}

#[tokio::test]
async fn callers_sharing_a_connection_each_get_their_own_answers() {
    let test = TestDatabase::new().await;
    let db = Db::connect(&DbConfig {
        pool_size: 2,
        ..test.config()
    })
    .await
    .expect("pool");
    let mut conn = db.get().await.expect("connection");
    for user in ["alice", "bob", "carol"] {
        common::user(&mut conn, user).await;
    }
    let video = common::video(&mut conn, "alice", "aaaaaaaaaaa").await;
    drop(conn);

    let shared = db.shared().await.expect("shared");
    let mut callers = JoinSet::new();
    for caller in 0..8u32 {
        let (shared, id) = (shared.clone(), video.id.clone());
        callers.spawn(async move {
            for round in 0..25u32 {
                let found = VideoSummary::find(&shared, "alice", &id).await?;
                assert_eq!(found.id, id);
                let foreign = VideoSummary::find(&shared, "bob", &id).await;
                assert!(matches!(foreign, Err(Error::NotFound { .. })), "{foreign:?}");
                let refused = VideoSummary::update_processing_status(
                    &shared,
                    "alice",
                    &id,
                    ProcessingStatus::Completed,
                    None,
                )
                .await;
                assert!(
                    matches!(
                        refused,
                        Err(Error::IllegalTransition {
                            from: ProcessingStatus::Pending,
                            ..
                        })
                    ),
                    "{refused:?}"
                );
                let page = VideoDetails::find(&shared, "alice", &id).await?;
                assert_eq!(page.video.id, id);
                // Each caller saves its own videos for carol, once each.
                let url = format!("https://youtu.be/{caller:02}{round:09}");
                let tags = [format!("caller-{caller}"), "shared".to_string()];
                let tags = tags.each_ref().map(String::as_str);
                let saved = new_video("carol", &url).insert_tagged(&shared, &tags).await?;
                let again = new_video("carol", &url).insert(&shared).await;
                assert!(
                    matches!(&again, Err(Error::Duplicate { existing_id, .. }) if *existing_id == saved.id),
                    "{again:?}"
                );
            }
            Ok::<_, Error>(())
        });
    }
    while let Some(done) = callers.join_next().await {
        done.expect("caller").expect("calls");
    }

    let carol = VideoSummary::list(
        &shared,
        "carol",
        &VideoFilter {
            limit: Some(100),
            ..VideoFilter::default()
        },
    )
    .await
    .expect("list");
    assert_eq!(carol.items.len(), 100, "a full page of carol's 200");
    assert!(carol.items.iter().all(|item| item.tag_count == 2));
    assert!(
        VideoSummary::list(&shared, "bob", &VideoFilter::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    // No call took a connection of its own: the other one stays free.
    assert_eq!(
        db.pool().state().connections - db.pool().state().idle_connections,
        1
    );
}

/// A caller that gives up mid-call (its future dropped while the server
/// works) leaves the shared connection working for the others.
#[tokio::test]
async fn a_caller_that_gives_up_leaves_the_shared_connection_working() {
    let test = TestDatabase::new().await;
    let db = Db::connect(&test.config()).await.expect("pool");
    let mut conn = db.get().await.expect("connection");
    common::user(&mut conn, "alice").await;
    let video = common::video(&mut conn, "alice", "aaaaaaaaaaa").await;
    drop(conn);
    let shared = db.shared().await.expect("shared");

    for _ in 0..3 {
        let cancelled = VideoDetails::find(&shared, "alice", &video.id).now_or_never();
        assert!(cancelled.is_none(), "dropped before the server answered");
    }
    let found = VideoSummary::find(&shared, "alice", &video.id)
        .await
        .expect("find after the cancelled ones");
    assert_eq!(found, video);
    let page = VideoDetails::find(&shared, "alice", &video.id)
        .await
        .expect("page");
    assert_eq!(page.video, video);
}
