//! Users against a real database.

mod common;

use db::Error;
use db::models::{Keyframe, NewKeyframe, NewUser, Tag, User, VideoSummary};
use local_pg::harness::TestDatabase;

/// In a transaction, a taken email is reported and the transaction goes on
/// (the duplicate is found without an error that would abort it).
#[tokio::test]
async fn a_taken_email_inside_a_transaction_leaves_the_transaction_usable() {
    use diesel_async::AsyncConnection;
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    NewUser::new("u1", "Ada", "ada@example.com")
        .insert(&mut conn)
        .await
        .expect("created");
    let after = conn
        .transaction::<_, Error, _>(async |conn| {
            let taken = NewUser::new("u2", "Other Ada", "ada@example.com")
                .insert(conn)
                .await;
            assert!(
                matches!(&taken, Err(Error::Duplicate { existing_id, .. }) if existing_id == "u1"),
                "{taken:?}"
            );
            NewUser::new("u3", "Bo", "bo@example.com")
                .insert(conn)
                .await
        })
        .await
        .expect("the transaction goes on after the duplicate");
    assert_eq!(after.id, "u3");
}

#[tokio::test]
async fn create_and_find_by_id_and_email() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    let created = NewUser::new("u1", "Ada", "ada@example.com")
        .insert(&mut conn)
        .await
        .expect("created");
    assert_eq!(User::find(&mut conn, "u1").await.expect("by id"), created);
    assert_eq!(
        User::find_by_email(&mut conn, "ada@example.com")
            .await
            .expect("by email"),
        created
    );
    assert_eq!(
        User::find_by_id_or_email(&mut conn, "ada@example.com")
            .await
            .expect("either"),
        created
    );
    assert!(matches!(
        User::find(&mut conn, "nobody").await,
        Err(Error::NotFound { entity: "user", .. })
    ));

    match NewUser::new("u2", "Other Ada", "ada@example.com")
        .insert(&mut conn)
        .await
    {
        Err(Error::Duplicate { existing_id, .. }) => assert_eq!(existing_id, "u1"),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    for (user, field) in [
        (NewUser::new("u3", "", "x@example.com"), "name"),
        (NewUser::new("u3", "X", "not-an-email"), "email"),
    ] {
        match user.insert(&mut conn).await {
            Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert_eq!(User::list(&mut conn, 10).await.expect("list").len(), 1);
}

#[tokio::test]
async fn deleting_a_user_deletes_everything_of_theirs() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    common::user(&mut conn, "bob").await;
    let video = common::video(&mut conn, "alice", "aaaaaaaaaaa").await;
    let bobs = common::video(&mut conn, "bob", "aaaaaaaaaaa").await;
    Tag::attach(&mut conn, "alice", &video.id, &["rust"])
        .await
        .expect("tag");
    let frame = NewKeyframe {
        timestamp: 0,
        image_url: "https://cdn.example.com/1.jpg",
        description: None,
    };
    Keyframe::insert_many(&mut conn, "alice", &video.id, &[frame])
        .await
        .expect("keyframe");

    User::delete(&mut conn, "alice").await.expect("deleted");
    assert!(matches!(
        User::find(&mut conn, "alice").await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        VideoSummary::count_by_status(&mut conn, "alice")
            .await
            .expect("counts")
            .total(),
        0
    );
    assert!(
        Tag::list_for_user(&mut conn, "alice")
            .await
            .expect("usage")
            .is_empty()
    );
    assert!(
        VideoSummary::find(&conn, "bob", &bobs.id).await.is_ok(),
        "bob keeps his video"
    );
    assert_eq!(
        Tag::list(&mut conn).await.expect("tags").len(),
        1,
        "shared tags stay"
    );
    assert!(matches!(
        User::delete(&mut conn, "alice").await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn delete_all_removes_every_user_and_their_videos() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    common::user(&mut conn, "bob").await;
    let video = common::video(&mut conn, "alice", "aaaaaaaaaaa").await;
    Tag::attach(&mut conn, "alice", &video.id, &["rust"])
        .await
        .expect("tag");

    assert_eq!(User::delete_all(&mut conn).await.expect("deleted"), 2);
    assert!(User::list(&mut conn, 10).await.expect("list").is_empty());
    assert!(matches!(
        VideoSummary::owner_id(&mut conn, &video.id).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        Tag::list(&mut conn).await.expect("tags").len(),
        1,
        "labels are shared and stay"
    );
    assert_eq!(User::delete_all(&mut conn).await.expect("none left"), 0);
}

#[tokio::test]
async fn a_profile_is_updated_with_the_checks_of_a_new_user() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    NewUser::new("u1", "Ada", "ada@example.com")
        .insert(&mut conn)
        .await
        .expect("u1");
    NewUser::new("u2", "Bo", "bo@example.com")
        .insert(&mut conn)
        .await
        .expect("u2");
    let updated = User::update_profile(&mut conn, "u1", "Ada L.", "ada.l@example.com")
        .await
        .expect("updated");
    assert_eq!(
        (updated.name.as_str(), updated.email.as_str()),
        ("Ada L.", "ada.l@example.com")
    );
    match User::update_profile(&mut conn, "u1", "Ada", "bo@example.com").await {
        Err(Error::Duplicate { existing_id, .. }) => assert_eq!(existing_id, "u2"),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    for (name, email, field) in [(" ", "a@example.com", "name"), ("A", "nope", "email")] {
        match User::update_profile(&mut conn, "u1", name, email).await {
            Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(matches!(
        User::update_profile(&mut conn, "nobody", "N", "n@example.com").await,
        Err(Error::NotFound { .. })
    ));
}
