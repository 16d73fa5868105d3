//! Tags and categories against a real database.

mod common;

use db::Error;
use db::models::{Category, Tag};
use local_pg::harness::{QueryOrder, TestDatabase};

#[tokio::test]
async fn get_or_create_normalizes_and_reuses() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    let first = Tag::get_or_create(&mut conn, "  Machine  Learning ")
        .await
        .expect("created");
    assert_eq!(first.name, "machine learning");
    let again = Tag::get_or_create(&mut conn, "MACHINE LEARNING")
        .await
        .expect("found");
    assert_eq!(again, first);
    assert!(matches!(
        Tag::get_or_create(&mut conn, "  ").await,
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(Tag::list(&mut conn).await.expect("list"), vec![first]);
}

#[tokio::test]
async fn concurrent_get_or_create_gives_one_row_and_no_error() {
    let db = TestDatabase::new().await;
    let pool = db.db().await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let conn = pool.get_owned().await.expect("connection");
            Category::get_or_create_many(&conn, &["science", "music", "talks"]).await
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("task").expect("no error"));
    }
    assert!(
        results.windows(2).all(|pair| pair[0] == pair[1]),
        "every caller sees the same rows"
    );
    let mut conn = pool.get().await.expect("connection");
    assert_eq!(Category::list(&mut conn).await.expect("list").len(), 3);
}

#[tokio::test]
async fn attach_detach_replace_and_usage_counts() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    let a = common::video(&mut conn, "alice", "aaaaaaaaaaa").await;
    let b = common::video(&mut conn, "alice", "bbbbbbbbbbb").await;

    let tags = Tag::attach(&mut conn, "alice", &a.id, &["Rust", "talks", "rust"])
        .await
        .expect("attach");
    assert_eq!(
        tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["rust", "talks"]
    );
    Tag::attach(&mut conn, "alice", &a.id, &["rust"])
        .await
        .expect("attaching twice is fine");
    Tag::attach(&mut conn, "alice", &b.id, &["rust"])
        .await
        .expect("attach");

    let usage: Vec<(String, i64)> = Tag::list_for_user(&mut conn, "alice")
        .await
        .expect("usage")
        .into_iter()
        .map(|(tag, n)| (tag.name, n))
        .collect();
    assert_eq!(usage, [("rust".to_string(), 2), ("talks".to_string(), 1)]);

    assert_eq!(
        Tag::detach(&mut conn, "alice", &a.id, &["talks", "unknown"])
            .await
            .expect("detach"),
        1
    );
    let replaced = Tag::replace(&mut conn, "alice", &a.id, &["go", "science"])
        .await
        .expect("replace");
    assert_eq!(
        replaced.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["go", "science"]
    );
    let now: Vec<String> = Tag::for_video(&mut conn, "alice", &a.id)
        .await
        .expect("tags")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(now, ["go", "science"]);

    Category::attach(&mut conn, "alice", &b.id, &["Education"])
        .await
        .expect("category");
    let categories = Category::for_video(&mut conn, "alice", &b.id)
        .await
        .expect("categories");
    assert_eq!(categories.len(), 1);
    assert_eq!(categories[0].name, "education");
    assert!(
        Category::for_video(&mut conn, "alice", &a.id)
            .await
            .expect("none")
            .is_empty()
    );
}

/// A video's labels and the check that the video is the caller's go in one
/// round trip: with no labels, "none" and "not your video" are told apart
/// without a second one.
#[tokio::test]
async fn a_videos_labels_and_its_owner_check_are_one_round_trip() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    common::user(&mut conn, "bob").await;
    let video = common::video(&mut conn, "alice", "aaaaaaaaaaa").await;
    let order = QueryOrder::record(&mut conn);

    let none = Tag::for_video(&mut conn, "alice", &video.id).await;
    assert!(matches!(&none, Ok(tags) if tags.is_empty()), "{none:?}");
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
    for (user, id) in [("bob", video.id.as_str()), ("alice", "missing")] {
        let refused = Category::for_video(&mut conn, user, id).await;
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
    Tag::attach(&mut conn, "alice", &video.id, &["rust"])
        .await
        .expect("attach");
    let tags = Tag::for_video(&mut conn, "alice", &video.id)
        .await
        .expect("tags");
    assert_eq!(tags.len(), 1);
    let foreign = Tag::for_video(&mut conn, "bob", &video.id).await;
    assert!(
        matches!(&foreign, Err(Error::NotFound { .. })),
        "bob sees no tag of alice's video: {foreign:?}"
    );
}

#[tokio::test]
async fn counts_over_all_users_and_unused_labels_are_deleted() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    common::user(&mut conn, "bob").await;
    let a = common::video(&mut conn, "alice", "aaaaaaaaaaa").await;
    let b = common::video(&mut conn, "bob", "bbbbbbbbbbb").await;
    Tag::attach(&mut conn, "alice", &a.id, &["rust", "talks"])
        .await
        .expect("tag");
    Tag::attach(&mut conn, "bob", &b.id, &["rust"])
        .await
        .expect("tag");
    Tag::get_or_create(&mut conn, "unused").await.expect("tag");
    Category::get_or_create(&mut conn, "empty")
        .await
        .expect("category");

    let counts: Vec<(String, i64)> = Tag::list_with_counts(&mut conn)
        .await
        .expect("counts")
        .into_iter()
        .map(|(tag, n)| (tag.name, n))
        .collect();
    assert_eq!(
        counts,
        [
            ("rust".to_string(), 2),
            ("talks".to_string(), 1),
            ("unused".to_string(), 0)
        ]
    );

    assert_eq!(Tag::delete_unused(&mut conn).await.expect("delete"), 1);
    assert_eq!(Category::delete_unused(&mut conn).await.expect("delete"), 1);
    let names: Vec<String> = Tag::list(&mut conn)
        .await
        .expect("tags")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["rust", "talks"]);
    assert!(Category::list(&mut conn).await.expect("none").is_empty());
}

#[tokio::test]
async fn a_label_is_renamed_normalised_and_never_onto_another_ones_name() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    let rust = Tag::get_or_create(&mut conn, "rust").await.expect("rust");
    let sql = Tag::get_or_create(&mut conn, "sql").await.expect("sql");
    let renamed = Tag::rename(&mut conn, &rust.id, "  Rust   Lang ")
        .await
        .expect("renamed");
    assert_eq!(
        (renamed.id.as_str(), renamed.name.as_str()),
        (rust.id.as_str(), "rust lang")
    );
    match Tag::rename(&mut conn, &rust.id, "SQL").await {
        Err(Error::Duplicate { existing_id, .. }) => assert_eq!(existing_id, sql.id),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    // Its own name again is no conflict.
    Tag::rename(&mut conn, &rust.id, "rust lang")
        .await
        .expect("same name");
    assert!(matches!(
        Tag::rename(&mut conn, "nope", "x").await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        Category::rename(&mut conn, &rust.id, " ").await,
        Err(Error::InvalidInput { .. })
    ));
}

#[tokio::test]
async fn deleting_a_label_takes_its_links_and_nothing_else() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    let tag = Tag::get_or_create(&mut conn, "gone").await.expect("tag");
    Tag::delete(&mut conn, &tag.id).await.expect("deleted");
    assert_eq!(
        Tag::find_by_name(&mut conn, "gone").await.expect("find"),
        None
    );
    assert!(matches!(
        Tag::delete(&mut conn, &tag.id).await,
        Err(Error::NotFound { .. })
    ));
}
