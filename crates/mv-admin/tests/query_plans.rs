//! Every DAO query on user data reads through an index, never a sequential
//! scan of video_summary, on a realistic dataset (the benchmark's, at 200
//! users and 20,000 videos, analyzed). The plans are the server's own for the
//! statements the DAOs send, with their binds (auto_explain).

mod common;

use common::load;
use db::models::{Category, Keyframe, ProcessingStatus, Tag, VideoFilter, VideoSummary};
use local_pg::harness::{Plans, TestDatabase};
use mv_admin::dataset::{user_id, video_id};
use serde_json::Value;

/// The tables that hold users' data.
const USER_TABLES: [&str; 5] = [
    "user",
    "video_summary",
    "video_summary_tag",
    "video_summary_category",
    "keyframe",
];

/// Every plan node under `node`.
fn nodes<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
    if node.get("Node Type").is_some() {
        out.push(node);
    }
    for child in node
        .get("Plans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        nodes(child, out);
    }
}

/// Checks the plans of what one DAO call sent; returns them.
fn check(plans: &Plans, call: &str) -> Vec<Value> {
    let plans = plans.take();
    assert!(!plans.is_empty(), "{call}: no plan was recorded");
    for plan in &plans {
        let mut all = Vec::new();
        nodes(&plan["Plan"], &mut all);
        let kind = |node: &Value| node["Node Type"].as_str().unwrap_or_default().to_string();
        let seq_scan = all
            .iter()
            .find(|node| kind(node) == "Seq Scan" && node["Relation Name"] == "video_summary");
        assert!(
            seq_scan.is_none(),
            "{call}: sequential scan of video_summary in\n{plan:#}"
        );
        // Tags and categories are short lists shared by all users: scanning
        // one is cheap. A user's rows must be reached through an index.
        let reads_user_data = all.iter().any(|node| {
            USER_TABLES.contains(&node["Relation Name"].as_str().unwrap_or_default())
                && kind(node) != "ModifyTable"
        });
        let indexed = all.iter().any(|node| kind(node).contains("Index"));
        assert!(
            !reads_user_data || indexed,
            "{call}: no index used in\n{plan:#}"
        );
    }
    plans
}

/// Whether one of `plans` reads through the index `name` with a node of
/// type `kind`.
fn reads_index(plans: &[Value], kind: &str, name: &str) -> bool {
    plans.iter().any(|plan| {
        let mut all = Vec::new();
        nodes(&plan["Plan"], &mut all);
        all.iter()
            .any(|node| node["Node Type"] == kind && node["Index Name"] == name)
    })
}

#[tokio::test]
async fn every_dao_query_on_user_data_uses_an_index() {
    use ProcessingStatus::*;
    let database = TestDatabase::new().await;
    load(&database, 200, 20_000).await.expect("dataset");
    let (mut conn, plans) = database.connect_explaining().await;
    let conn = &mut conn;
    // Video 200 belongs to user 0, is completed and has keyframes; video 207
    // (user 7) is pending.
    let (user, video) = (user_id(0), video_id(200));

    let found = VideoSummary::find(conn, &user, &video).await.expect("find");
    check(&plans, "find");
    VideoSummary::find_by_youtube_id(conn, &user, &found.youtube_id)
        .await
        .expect("find_by_youtube_id");
    check(&plans, "find_by_youtube_id");

    let tag = &Tag::for_video(conn, &user, &video).await.expect("tags")[0].name;
    check(&plans, "Tag::for_video");
    let category = &Category::for_video(conn, &user, &video)
        .await
        .expect("categories")[0]
        .name;
    check(&plans, "Category::for_video");
    Keyframe::for_video(conn, &user, &video)
        .await
        .expect("keyframes");
    check(&plans, "Keyframe::for_video");
    Tag::list_for_user(conn, &user).await.expect("tags");
    check(&plans, "Tag::list_for_user");
    Category::list_for_user(conn, &user)
        .await
        .expect("categories");
    check(&plans, "Category::list_for_user");
    VideoSummary::count_by_status(conn, &user)
        .await
        .expect("counts");
    check(&plans, "count_by_status");

    let first = VideoSummary::list(conn, &user, &VideoFilter::default())
        .await
        .expect("list");
    check(&plans, "list");
    let cursor = first.next_cursor.expect("a second page");
    let filters = [
        (
            "list after a cursor",
            VideoFilter {
                cursor: Some(&cursor),
                ..VideoFilter::default()
            },
        ),
        (
            "list by status",
            VideoFilter {
                status: Some(Completed),
                ..VideoFilter::default()
            },
        ),
        (
            "list by tag",
            VideoFilter {
                tag: Some(tag),
                ..VideoFilter::default()
            },
        ),
        (
            "list by category",
            VideoFilter {
                category: Some(category),
                ..VideoFilter::default()
            },
        ),
        (
            "list by everything after a cursor",
            VideoFilter {
                status: Some(Completed),
                tag: Some(tag),
                category: Some(category),
                cursor: Some(&cursor),
                limit: Some(5),
            },
        ),
    ];
    for (call, filter) in filters {
        VideoSummary::list(conn, &user, &filter).await.expect(call);
        let sent = check(&plans, call);
        // A page of one status is one range of its own index, not a walk
        // of all the user's videos that reads each row for its status.
        if call == "list by status" {
            let index = "video_summary_user_id_processing_status_created_at_id_idx";
            assert!(
                reads_index(&sent, "Index Scan", index),
                "{call}: no Index Scan of {index} in {sent:#?}"
            );
        }
    }

    let pending = video_id(207);
    VideoSummary::update_processing_status(conn, &user_id(7), &pending, Processing, None)
        .await
        .expect("moved");
    check(&plans, "update_processing_status");
    let refused =
        VideoSummary::update_processing_status(conn, &user_id(7), &pending, Processing, None).await;
    assert!(refused.is_err());
    check(&plans, "update_processing_status, refused");
    Tag::attach(conn, &user, &video, &["benchmark"])
        .await
        .expect("attach");
    check(&plans, "Tag::attach");
    VideoSummary::delete(conn, &user, &video)
        .await
        .expect("delete");
    check(&plans, "delete");
}
