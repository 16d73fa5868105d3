//! Keyframes against a real database.

mod common;

use db::Error;
use db::models::{Keyframe, NewKeyframe};
use local_pg::harness::{QueryOrder, TestDatabase};

#[tokio::test]
async fn insert_many_then_list_in_timestamp_order() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    let video = common::video(&mut conn, "alice", "aaaaaaaaaaa").await;
    let frames = [
        NewKeyframe {
            timestamp: 90,
            image_url: "https://cdn.example.com/3.jpg",
            description: Some("end"),
        },
        NewKeyframe {
            timestamp: 0,
            image_url: "https://cdn.example.com/1.jpg",
            description: None,
        },
        NewKeyframe {
            timestamp: 30,
            image_url: "https://cdn.example.com/2.jpg",
            description: Some("middle"),
        },
    ];
    let inserted = Keyframe::insert_many(&mut conn, "alice", &video.id, &frames)
        .await
        .expect("inserted");
    assert_eq!(
        inserted.iter().map(|k| k.timestamp).collect::<Vec<_>>(),
        [0, 30, 90]
    );
    let listed = Keyframe::for_video(&mut conn, "alice", &video.id)
        .await
        .expect("listed");
    assert_eq!(listed, inserted);
    assert!(
        Keyframe::insert_many(&mut conn, "alice", &video.id, &[])
            .await
            .expect("nothing")
            .is_empty()
    );
}

#[tokio::test]
async fn bad_keyframes_insert_nothing() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    let video = common::video(&mut conn, "alice", "aaaaaaaaaaa").await;
    let frames = [
        NewKeyframe {
            timestamp: 0,
            image_url: "https://cdn.example.com/1.jpg",
            description: None,
        },
        NewKeyframe {
            timestamp: -5,
            image_url: "https://cdn.example.com/2.jpg",
            description: None,
        },
    ];
    let result = Keyframe::insert_many(&mut conn, "alice", &video.id, &frames).await;
    assert!(
        matches!(
            result,
            Err(Error::InvalidInput {
                field: "timestamp",
                ..
            })
        ),
        "{result:?}"
    );
    assert!(
        Keyframe::for_video(&mut conn, "alice", &video.id)
            .await
            .expect("listed")
            .is_empty()
    );
}

/// A video's keyframes and the check that the video is the caller's go in
/// one round trip: with none, "none" and "not your video" are told apart
/// without a second one.
#[tokio::test]
async fn keyframes_and_the_owner_check_are_one_round_trip() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    common::user(&mut conn, "bob").await;
    let video = common::video(&mut conn, "alice", "aaaaaaaaaaa").await;
    let order = QueryOrder::record(&mut conn);

    let none = Keyframe::for_video(&mut conn, "alice", &video.id).await;
    assert!(matches!(&none, Ok(frames) if frames.is_empty()), "{none:?}");
    assert_eq!(
        order.take(),
        [
            "start SELECT",
            "start SELECT",
            "finish SELECT",
            "finish SELECT"
        ],
        "both statements sent before the first answer"
    );
    let foreign = Keyframe::for_video(&mut conn, "bob", &video.id).await;
    assert!(
        matches!(
            &foreign,
            Err(Error::NotFound {
                entity: "video_summary",
                ..
            })
        ),
        "{foreign:?}"
    );
}
