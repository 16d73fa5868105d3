//! The commands' core functions against real databases.

use std::collections::HashSet;

use chrono::Utc;
use db::Error;
use db::models::{NewUser, NewVideo, ProcessingStatus, User, VideoFilter, VideoSummary};
use diesel_async::AsyncPgConnection;
use indicatif::ProgressBar;
use local_pg::harness::{TestDatabase, snapshot};
use mv_admin::commands::labels::{self, LabelKind};
use mv_admin::commands::seed::{SeedReport, seed};
use mv_admin::commands::{users, videos};
use mv_admin::demo::{DEMO_EMAIL, USERS, VIDEOS};

const ADA: &str = "ada@mind-vault.dev";

async fn seeded() -> (TestDatabase, AsyncPgConnection) {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    seed(&mut conn, false, &ProgressBar::hidden())
        .await
        .expect("seeding");
    (db, conn)
}

fn demo_count() -> usize {
    VIDEOS.iter().filter(|v| v.owner == DEMO_EMAIL).count()
}

/// Every id of the user's videos, through the listing, page after page.
async fn all_ids(conn: &mut AsyncPgConnection, user: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let filter = VideoFilter {
            limit: Some(4),
            cursor: cursor.as_deref(),
            ..VideoFilter::default()
        };
        let page = videos::list(conn, user, &filter).await.expect("page");
        ids.extend(page.items.into_iter().map(|v| v.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn seeding_twice_changes_nothing_and_says_so() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    let first = seed(&mut conn, false, &ProgressBar::hidden())
        .await
        .expect("first seed");
    assert_eq!(
        first,
        SeedReport {
            reset: None,
            users_created: USERS.len(),
            users_existing: 0,
            videos_created: VIDEOS.len(),
            videos_existing: 0,
        }
    );
    assert!(!first.unchanged());
    let after_first = snapshot(&mut conn).await;

    let second = seed(&mut conn, false, &ProgressBar::hidden())
        .await
        .expect("second seed");
    assert!(second.unchanged(), "{second:?}");
    assert_eq!(second.videos_existing, VIDEOS.len());
    assert!(
        second.describe().contains("nothing changed"),
        "{}",
        second.describe()
    );
    assert_eq!(snapshot(&mut conn).await, after_first);

    // A video deleted since is put back, and only it.
    let demo = User::find_by_email(&mut conn, DEMO_EMAIL)
        .await
        .expect("demo user");
    let ids = all_ids(&mut conn, DEMO_EMAIL).await;
    VideoSummary::delete(&mut conn, &demo.id, &ids[0])
        .await
        .expect("delete");
    let third = seed(&mut conn, false, &ProgressBar::hidden())
        .await
        .expect("third seed");
    assert_eq!((third.videos_created, third.users_created), (1, 0));
    assert_eq!(all_ids(&mut conn, DEMO_EMAIL).await, ids);
}

#[tokio::test]
async fn the_demo_data_looks_like_mind_vault() {
    let (_db, mut conn) = seeded().await;
    let demo = User::find_by_email(&mut conn, DEMO_EMAIL)
        .await
        .expect("demo user");
    let counts = VideoSummary::count_by_status(&mut conn, &demo.id)
        .await
        .expect("counts");
    assert!(
        counts.pending > 0 && counts.processing > 0 && counts.completed > 0 && counts.failed > 0,
        "every state: {counts:?}"
    );
    assert_eq!(counts.total(), demo_count() as i64);

    for id in all_ids(&mut conn, DEMO_EMAIL).await {
        let video = videos::show(&mut conn, DEMO_EMAIL, &id)
            .await
            .expect("show");
        let v = &video.video;
        assert!(v.youtube_url.contains("youtu"), "{}", v.youtube_url);
        assert!(v.channel_name.is_some() && v.thumbnail_url.is_some());
        match v.processing_status {
            ProcessingStatus::Completed => {
                let content = v.ai_generated_content.as_ref().expect("AI content");
                assert!(content.summary.is_some(), "{}", v.title);
                assert!(content.key_points.as_ref().is_some_and(|p| p.len() >= 3));
                assert_eq!(video.keyframes.len(), 3, "{}", v.title);
                assert!(!video.tags.is_empty() && !video.categories.is_empty());
            }
            ProcessingStatus::Failed => {
                assert!(v.processing_error.is_some(), "{}", v.title);
                assert!(v.ai_generated_content.is_none());
            }
            _ => assert!(v.processing_error.is_none() && v.ai_generated_content.is_none()),
        }
    }
}

#[tokio::test]
async fn reset_removes_all_user_data_and_reseeds_the_same_rows() {
    let (_db, mut conn) = seeded().await;
    let ids_before = all_ids(&mut conn, DEMO_EMAIL).await;
    let demo_before = User::find_by_email(&mut conn, DEMO_EMAIL)
        .await
        .expect("demo");
    NewUser::new("eve", "Eve", "eve@example.com")
        .insert(&mut conn)
        .await
        .expect("eve");
    NewVideo {
        user_id: "eve",
        youtube_url: "https://youtu.be/eeeeeeeeeee",
        title: "Eve's",
        ..NewVideo::default()
    }
    .insert(&conn)
    .await
    .expect("eve's video");
    db::models::Tag::get_or_create(&mut conn, "orphan")
        .await
        .expect("tag");

    let report = seed(&mut conn, true, &ProgressBar::hidden())
        .await
        .expect("reset and seed");
    let reset = report.reset.expect("reset ran");
    assert_eq!(reset.users_deleted, USERS.len() + 1);
    assert!(reset.tags_deleted > 0 && reset.categories_deleted > 0);
    assert_eq!(report.videos_created, VIDEOS.len());
    assert!(matches!(
        User::find(&mut conn, "eve").await,
        Err(Error::NotFound { .. })
    ));
    assert!(
        db::models::Tag::find_by_name(&mut conn, "orphan")
            .await
            .expect("query")
            .is_none()
    );
    // Derived ids and dates: the same rows as before the reset.
    assert_eq!(all_ids(&mut conn, DEMO_EMAIL).await, ids_before);
    let demo_after = User::find_by_email(&mut conn, DEMO_EMAIL)
        .await
        .expect("demo");
    assert_eq!(
        (demo_after.id, demo_after.created_at),
        (demo_before.id, demo_before.created_at)
    );
}

#[tokio::test]
async fn listing_filters_pages_and_ends_with_the_next_cursor() {
    let (_db, mut conn) = seeded().await;
    let completed = videos::list(
        &mut conn,
        DEMO_EMAIL,
        &VideoFilter {
            status: Some(ProcessingStatus::Completed),
            ..VideoFilter::default()
        },
    )
    .await
    .expect("completed");
    assert!(!completed.items.is_empty());
    assert!(
        completed
            .items
            .iter()
            .all(|v| v.processing_status == ProcessingStatus::Completed)
    );
    let tagged = videos::list(
        &mut conn,
        DEMO_EMAIL,
        &VideoFilter {
            tag: Some("Rust"),
            category: Some("programming"),
            ..VideoFilter::default()
        },
    )
    .await
    .expect("tagged");
    assert_eq!(tagged.items.len(), 3, "{:?}", tagged.items);

    let ids = all_ids(&mut conn, DEMO_EMAIL).await;
    assert_eq!(ids.len(), demo_count());
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());

    let first = videos::list(
        &mut conn,
        DEMO_EMAIL,
        &VideoFilter {
            limit: Some(2),
            ..VideoFilter::default()
        },
    )
    .await
    .expect("page");
    let text = anstream::adapter::strip_str(&videos::render_page(&first, Utc::now())).to_string();
    let cursor = first.next_cursor.as_deref().expect("more pages");
    assert!(
        text.trim_end()
            .ends_with(&format!("next page: --cursor {cursor}")),
        "{text}"
    );
    assert!(text.contains(&first.items[0].title));
    let everything = videos::list(&mut conn, DEMO_EMAIL, &VideoFilter::default())
        .await
        .expect("all");
    let text =
        anstream::adapter::strip_str(&videos::render_page(&everything, Utc::now())).to_string();
    assert!(text.trim_end().ends_with("end of the list"), "{text}");

    let unknown = videos::list(&mut conn, "nobody@example.com", &VideoFilter::default()).await;
    let message = format!("{:#}", unknown.expect_err("no such user"));
    assert!(message.contains("nobody@example.com"), "{message}");
}

#[tokio::test]
async fn a_user_never_sees_another_users_videos() {
    let (_db, mut conn) = seeded().await;
    let demo_ids: HashSet<String> = all_ids(&mut conn, DEMO_EMAIL).await.into_iter().collect();
    let ada_ids: HashSet<String> = all_ids(&mut conn, ADA).await.into_iter().collect();
    assert_eq!(
        ada_ids.len(),
        VIDEOS.iter().filter(|v| v.owner == ADA).count()
    );
    assert!(demo_ids.is_disjoint(&ada_ids));

    // Ada saved the transformer video too: the same YouTube video, her row.
    let ada = User::find_by_email(&mut conn, ADA).await.expect("ada");
    let hers = VideoSummary::find_by_youtube_id(&conn, &ada.id, "Hx7cVn2KqPa")
        .await
        .expect("query")
        .expect("saved by ada");
    assert!(ada_ids.contains(&hers.id));

    for id in &demo_ids {
        let shown = videos::show(&mut conn, ADA, id).await;
        assert!(
            matches!(
                shown.as_ref().map_err(|e| e.downcast_ref::<Error>()),
                Err(Some(Error::NotFound { .. }))
            ),
            "{shown:?}"
        );
    }
    let ada_tags: Vec<String> = labels::list(&mut conn, LabelKind::Tag, Some(ADA))
        .await
        .expect("tags")
        .into_iter()
        .map(|row| row.name)
        .collect();
    assert!(!ada_tags.contains(&"rust".to_string()), "{ada_tags:?}");
    assert!(ada_tags.contains(&"to rewatch".to_string()), "{ada_tags:?}");
}

#[tokio::test]
async fn a_video_shows_with_everything_attached() {
    let (_db, mut conn) = seeded().await;
    let page = videos::list(
        &mut conn,
        DEMO_EMAIL,
        &VideoFilter {
            tag: Some("memory safety"),
            ..VideoFilter::default()
        },
    )
    .await
    .expect("list");
    let video = videos::show(&mut conn, DEMO_EMAIL, &page.items[0].id)
        .await
        .expect("show");
    let text =
        anstream::adapter::strip_str(&videos::render_details(&video, Utc::now())).to_string();
    for expected in [
        "Rust Ownership and Borrowing, Visually Explained",
        "Ferris Academy",
        "23:45",
        "memory safety, rust",
        "programming",
        "Keyframes",
        "https://i.ytimg.com/vi/rK8vQ2mXb1s/hq1.jpg",
        "AI content",
        "  • Each value has exactly one owner",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    let json = serde_json::to_value(&video).expect("json");
    for key in [
        "id",
        "user_id",
        "title",
        "processing_status",
        "ai_generated_content",
        "created_at",
        "tags",
        "categories",
        "keyframes",
    ] {
        assert!(json.get(key).is_some(), "{key} missing from {json}");
    }
    assert_eq!(json["processing_status"], "completed");
    assert!(json["ai_generated_content"]["keyPoints"].is_array());
}

#[tokio::test]
async fn users_and_labels_with_their_counts() {
    let (_db, mut conn) = seeded().await;
    let demo = users::show(&mut conn, DEMO_EMAIL).await.expect("by email");
    assert_eq!(demo.video_counts.total(), demo_count() as i64);
    let by_id = users::show(&mut conn, &demo.user.id).await.expect("by id");
    assert_eq!(by_id.user, demo.user);
    let json = serde_json::to_value(&demo).expect("json");
    assert_eq!(json["email"], DEMO_EMAIL);
    assert_eq!(json["emailVerified"], true);
    assert!(json["video_counts"]["failed"].as_i64() > Some(0));

    let everyone = User::list(&mut conn, 100).await.expect("users");
    let text = anstream::adapter::strip_str(&users::render_list(&everyone, Utc::now())).to_string();
    for user in &USERS {
        assert!(text.contains(user.email), "{text}");
    }

    let tags = labels::list(&mut conn, LabelKind::Tag, None)
        .await
        .expect("tags");
    let rust = tags.iter().find(|t| t.name == "rust").expect("rust");
    let expected = VIDEOS.iter().filter(|v| v.tags.contains(&"rust")).count() as i64;
    assert_eq!(rust.video_count, expected);
    assert!(
        tags.windows(2)
            .all(|pair| pair[0].video_count >= pair[1].video_count),
        "most used first"
    );
    let categories = labels::list(&mut conn, LabelKind::Category, Some(DEMO_EMAIL))
        .await
        .expect("categories");
    let programming = categories
        .iter()
        .find(|c| c.name == "programming")
        .expect("programming");
    let expected = VIDEOS
        .iter()
        .filter(|v| v.owner == DEMO_EMAIL && v.categories.contains(&"programming"))
        .count() as i64;
    assert_eq!(programming.video_count, expected);
}
