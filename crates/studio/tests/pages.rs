//! What the pages show, against a real database: tables (foreign ones
//! marked), filters, sort and keyset pages, relations both ways, the
//! application's views, the schema, the console, exports and health.

mod common;

use axum::http::StatusCode;
use common::App;
use diesel_async::SimpleAsyncConnection;

/// The ids of a table page's rows, in order (from their "open" links).
fn row_ids(body: &str) -> Vec<String> {
    body.split("class=\"open\" href=\"")
        .skip(1)
        .filter_map(|link| {
            let link = link.split('"').next()?;
            Some(link.split_once("k.id=")?.1.to_string())
        })
        .collect()
}

/// The value of the "Next page" link, decoded.
fn next_link(body: &str) -> Option<String> {
    let start = body.find("rel=\"next\" href=\"")? + "rel=\"next\" href=\"".len();
    Some(body[start..].split('"').next()?.replace("&amp;", "&"))
}

#[tokio::test]
async fn the_tables_page_lists_every_table_and_marks_foreign_ones() {
    let app = App::logged_in(false).await;
    app.conn()
        .await
        .batch_execute(r#"CREATE TABLE session (id text PRIMARY KEY, "userId" text REFERENCES "user"(id) ON DELETE CASCADE, token text)"#)
        .await
        .expect("a foreign table");
    let body = app.get("/").await.body;
    for table in [
        "video_summary",
        "keyframe",
        "video_summary_tag",
        "user",
        "session",
    ] {
        assert!(
            body.contains(&format!("href=\"/tables/{table}\"")),
            "{table}"
        );
    }
    let session_row = body
        .split("href=\"/tables/session\"")
        .nth(1)
        .expect("session");
    let session_row = session_row.split("</tr>").next().expect("row");
    assert!(session_row.contains("foreign"), "{session_row}");
    let video_row = body
        .split("href=\"/tables/video_summary\"")
        .nth(1)
        .expect("videos");
    assert!(
        !video_row
            .split("</tr>")
            .next()
            .expect("row")
            .contains("foreign")
    );
    // Bookkeeping tables are not data.
    assert!(!body.contains("__diesel_schema_migrations"));
}

#[tokio::test]
async fn a_table_pages_by_key_and_filters_by_type() {
    let app = App::logged_in(false).await;
    let page = app.get("/tables/video_summary?limit=2").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(row_ids(&page.body), ["v1", "v2"]);
    let next = next_link(&page.body).expect("a next page");
    let page = app.get(&next).await;
    assert_eq!(row_ids(&page.body), ["v3"]);
    assert!(next_link(&page.body).is_none());

    // Sorted by another column, ties broken by the key, pages continue.
    let page = app
        .get("/tables/video_summary?sort=title&dir=desc&limit=2")
        .await;
    assert_eq!(
        row_ids(&page.body),
        ["v2", "v1"],
        "equal titles in key order, in the sort's direction"
    );
    let page = app.get(&next_link(&page.body).expect("next")).await;
    assert_eq!(row_ids(&page.body), ["v3"]);
    // NULLs last, in both directions.
    let page = app.get("/tables/video_summary?sort=duration&limit=5").await;
    assert_eq!(row_ids(&page.body), ["v1", "v2", "v3"]);
    let page = app
        .get("/tables/video_summary?sort=duration&dir=desc&limit=1")
        .await;
    assert_eq!(row_ids(&page.body), ["v2"]);
    let page = app.get(&next_link(&page.body).expect("next")).await;
    assert_eq!(row_ids(&page.body), ["v1"]);
    let page = app.get(&next_link(&page.body).expect("next")).await;
    assert_eq!(row_ids(&page.body), ["v3"]);

    // A menu, ranges, text search.
    let status = app
        .get("/tables/video_summary?eq.processing_status=pending")
        .await
        .body;
    assert_eq!(row_ids(&status), ["v1", "v2", "v3"]);
    assert!(
        status.contains("<option value=\"failed\">"),
        "the status menu"
    );
    let range = app
        .get("/tables/video_summary?min.duration=100&max.duration=200")
        .await
        .body;
    assert_eq!(row_ids(&range), ["v2"]);
    let search = app.get("/tables/video_summary?q.title=OTH").await.body;
    assert_eq!(row_ids(&search), ["v3"]);
    let wildcard = app.get("/tables/video_summary?q.title=%25").await.body;
    assert!(row_ids(&wildcard).is_empty(), "% is a literal");
    let times = app
        .get("/tables/video_summary?min.created_at=2000-01-01T00:00")
        .await
        .body;
    assert_eq!(row_ids(&times).len(), 3);
    let nulls = app
        .get("/tables/video_summary?null.description=yes")
        .await
        .body;
    assert_eq!(row_ids(&nulls), ["v1", "v3"]);

    // Bad input is named.
    let reply = app.get("/tables/video_summary?q.nope=1").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.body.contains("no column &quot;nope&quot;"),
        "{}",
        reply.body
    );
    let reply = app.get("/tables/video_summary?min.duration=abc").await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply.body.contains("invalid input syntax for type integer"),
        "{}",
        reply.body
    );
    let reply = app.get("/tables/nope").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.body.contains("video_summary"), "lists the tables");
    let reply = app
        .get("/tables/video_summary?after=%5B1%5D&sort=title")
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_row_links_its_references_both_ways() {
    let app = App::logged_in(false).await;
    let video = app.get("/tables/video_summary/row?k.id=v2").await;
    assert_eq!(video.status, StatusCode::OK);
    // The foreign key is a link to its row.
    assert!(
        video.body.contains("href=\"/tables/user/row?k.id=u1\""),
        "{}",
        video.body
    );
    // What points here: counted, with the many-to-many tables as chips.
    assert!(
        video
            .body
            .contains("href=\"/tables/keyframe?eq.video_summary_id=v2\"")
    );
    let tags = video
        .body
        .split("href=\"/tables/video_summary_tag?eq.video_summary_id=v2\"")
        .nth(1)
        .expect("tags");
    let tags = tags.split("</section>").next().expect("section");
    assert!(tags.contains("2 rows"), "{tags}");
    assert!(
        tags.contains(">rust</a>") && tags.contains(">sql</a>"),
        "{tags}"
    );
    assert!(tags.contains("href=\"/tables/tag/row?k.id=t1\""), "{tags}");

    let user = app.get("/tables/user/row?k.id=u1").await.body;
    let videos = user
        .split("href=\"/tables/video_summary?eq.user_id=u1\"")
        .nth(1)
        .expect("videos");
    assert!(
        videos
            .split("</section>")
            .next()
            .expect("s")
            .contains("2 rows")
    );
    let tag = app.get("/tables/tag/row?k.id=t1").await.body;
    let chips = tag
        .split("</section>")
        .find(|s| s.contains("video_summary_tag"))
        .expect("chips");
    assert!(
        chips.contains(">Same title</a>") || chips.contains("v1"),
        "{chips}"
    );

    assert_eq!(
        app.get("/tables/user/row?k.id=nobody").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/tables/user/row").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn json_shows_as_a_tree_and_text_it_cannot_read_as_stored() {
    let app = App::logged_in(false).await;
    app.conn()
        .await
        .batch_execute(
            r#"UPDATE video_summary SET processing_status = 'processing', attempt = 1,
                   worker_id = 'w', lease_expires_at = now() + interval '1 hour' WHERE id = 'v1';
               UPDATE video_summary SET processing_status = 'completed', lease_expires_at = NULL,
                   ai_generated_content = '{"summary": "About <b>it</b>", "keyPoints": ["one", "two"], "model": {"name": "m"}}'
               WHERE id = 'v1';
               CREATE TABLE legacy (id int PRIMARY KEY, content json);
               INSERT INTO legacy VALUES (1, '{"summary": "cut \ud83e"}');"#,
        )
        .await
        .expect("content");
    let body = app.get("/tables/video_summary/row?k.id=v1").await.body;
    assert!(body.contains("<details class=\"json\" open>"), "{body}");
    assert!(body.contains("<dt>keyPoints</dt>"), "{body}");
    assert!(
        body.contains("About &lt;b&gt;it&lt;/b&gt;"),
        "escaped: {body}"
    );
    let video = app.get("/videos/v1").await.body;
    assert!(
        video.contains("<div class=\"ai-content\"><details class=\"json\">"),
        "collapsed: {video}"
    );
    let legacy = app.get("/tables/legacy/row?k.id=1").await;
    assert_eq!(legacy.status, StatusCode::OK);
    assert!(legacy.body.contains("shown as stored"), "{}", legacy.body);
    let list = app.get("/tables/legacy").await;
    assert_eq!(list.status, StatusCode::OK);
}

#[tokio::test]
async fn times_carry_utc_for_the_browser_to_localise() {
    let app = App::logged_in(false).await;
    app.conn()
        .await
        .batch_execute(
            r#"UPDATE "user" SET "createdAt" = '2026-03-04 05:06:07+00' WHERE id = 'u1'"#,
        )
        .await
        .expect("a known time");
    let body = app.get("/tables/user").await.body;
    assert!(
        body.contains(
            "<time datetime=\"2026-03-04T05:06:07+00:00\" title=\"2026-03-04 05:06:07 UTC\">"
        ),
        "{body}"
    );
}

#[tokio::test]
async fn the_library_lists_a_users_videos_as_videos_list_does() {
    let app = App::logged_in(false).await;
    let users = app.get("/library").await.body;
    assert!(users.contains("href=\"/library/u1\""), "{users}");
    let by_email = app.get("/library?user=bob%40example.com").await;
    assert_eq!(by_email.status, StatusCode::SEE_OTHER);
    assert_eq!(by_email.headers["location"], "/library/u2");
    let library = app.get("/library/u1").await.body;
    assert!(library.contains("href=\"/videos/v1\"") && library.contains("href=\"/videos/v2\""));
    assert!(
        !library.contains("href=\"/videos/v3\""),
        "only the user's videos"
    );
    assert!(library.contains("rust (2)"), "tag counts: {library}");
    let one = app.get("/library/u1?limit=1").await.body;
    let next = next_link(&one).expect("a cursor page");
    assert!(next.contains("cursor="), "{next}");
    let second = app.get(&next).await.body;
    assert!(second.contains("end of the list"));
    let filtered = app.get("/library/u1?tag=sql").await.body;
    assert!(filtered.contains("href=\"/videos/v2\"") && !filtered.contains("href=\"/videos/v1\""));
    let none = app.get("/library/u1?status=failed").await.body;
    assert!(none.contains("No videos match"));
    assert_eq!(
        app.get("/library/u1?status=lost").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/library/nobody").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_video_page_shows_everything_attached_in_order() {
    let app = App::logged_in(false).await;
    app.conn()
        .await
        .batch_execute("INSERT INTO keyframe (id, video_summary_id, \"timestamp\", image_url, description) VALUES ('k0', 'v1', 1, 'https://img.example.com/0', 'first')")
        .await
        .expect("keyframe");
    let body = app.get("/videos/v1").await.body;
    assert!(body.contains(">rust</a>"), "tags");
    assert!(body.contains(">tech</a>"), "categories");
    let first = body.find("k.id=k0").expect("k0");
    let second = body.find("k.id=k1").expect("k1");
    let third = body.find("k.id=k2").expect("k2");
    assert!(
        first < second && second < third,
        "keyframes in timestamp order"
    );
    assert!(body.contains("ann@example.com"));
    assert_eq!(app.get("/videos/nope").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_queue_counts_videos_per_status() {
    let app = App::logged_in(false).await;
    let body = app.get("/queue").await.body;
    assert!(
        body.contains("eq.processing_status=pending\">pending</a></td><td class=\"num\">3</td>"),
        "{body}"
    );
}

#[tokio::test]
async fn the_schema_page_draws_the_diagram_on_the_server() {
    let app = App::logged_in(false).await;
    let body = app.get("/schema").await.body;
    assert!(body.contains("<svg"), "{body}");
    // One curve per foreign key: 6 in the application's schema.
    assert_eq!(body.matches("class=\"erd-edge\"").count(), 6);
    assert!(
        body.contains("video_summary_user_id_fkey")
            || body.contains("REFERENCES \"user\"(id)")
            || body.contains("REFERENCES &quot;user&quot;(id)")
    );
    assert!(body.contains("video_summary_user_created_idx") || body.contains("CREATE INDEX"));
}

#[tokio::test]
async fn the_console_reads_only_within_a_timeout_and_a_cap() {
    let mut app = common::start_on(
        common::seeded_db().await,
        studio::Options {
            statement_timeout: std::time::Duration::from_millis(500),
            row_cap: 100,
            ..Default::default()
        },
    )
    .await;
    app.log_in().await;
    let run = async |sql: &str, action: &str| {
        app.post("/sql", &[("sql", sql), ("action", action)])
            .await
            .body
    };
    let body = run("SELECT id, title FROM video_summary ORDER BY id", "run").await;
    assert!(
        body.contains("3 rows") && body.contains(">Same title</pre>"),
        "{body}"
    );
    let body = run("SELECT g FROM generate_series(1, 1000) g", "run").await;
    assert!(
        body.contains("100 rows (the cap; there are more)"),
        "{body}"
    );
    let body = run("SELECT 1; DELETE FROM keyframe", "run").await;
    assert!(body.contains("cannot insert multiple commands"), "{body}");
    let body = run("DELETE FROM keyframe", "run").await;
    assert!(body.contains("read-only transaction"), "{body}");
    let body = run("SELECT pg_sleep(5)", "run").await;
    assert!(body.contains("statement timeout"), "{body}");
    let body = run(
        "SELECT * FROM video_summary WHERE user_id = 'u1'",
        "explain",
    )
    .await;
    assert!(body.contains("QUERY PLAN"), "{body}");
    let body = run("SHOW TimeZone", "run").await;
    assert!(body.contains(">UTC</pre>"), "{body}");
    // A session setting dies with the console's own connection.
    run("SET statement_timeout = 0", "run").await;
    let body = run("SELECT pg_sleep(5)", "run").await;
    assert!(body.contains("statement timeout"), "{body}");
    assert_eq!(
        local_pg::harness::count(
            &mut app.conn().await,
            "SELECT count(*) AS count FROM keyframe"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn exports_stream_the_filtered_rows() {
    let app = App::logged_in(false).await;
    app.conn()
        .await
        .batch_execute(
            "INSERT INTO keyframe (id, video_summary_id, \"timestamp\", image_url, description)
             SELECT 'g' || g, 'v2', g, 'https://img.example.com/' || g, CASE WHEN g = 7 THEN 'a \"quoted\", text' END
             FROM generate_series(1, 2500) g",
        )
        .await
        .expect("rows");
    let csv = app
        .get("/tables/keyframe/export.csv?eq.video_summary_id=v2")
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .expect("ascii")
            .contains("keyframe.csv")
    );
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(
        lines[0],
        "id,video_summary_id,timestamp,image_url,description,created_at"
    );
    assert_eq!(lines.len(), 2501, "a header and every filtered row");
    assert!(csv.body.contains(r#""a ""quoted"", text""#));
    let json = app
        .get("/tables/keyframe/export.json?eq.video_summary_id=v1&sort=timestamp&dir=desc")
        .await;
    let rows: serde_json::Value = serde_json::from_str(&json.body).expect("JSON");
    let ids: Vec<&str> = rows
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["k2", "k1"]);
    assert_eq!(
        app.get("/tables/keyframe/export.xml").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/tables/keyframe/export.csv?min.timestamp=x")
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn the_health_page_shows_what_inspect_shows() {
    let app = App::logged_in(false).await;
    let body = app.get("/health").await.body;
    assert!(body.contains("PostgreSQL "), "{body}");
    assert!(body.contains("create_schema"), "migrations: {body}");
    assert!(body.contains("video_summary_pkey") || body.contains("Index use"));
    assert!(
        body.contains("pg_stat_statements"),
        "how to turn on statement statistics"
    );
}

#[tokio::test]
async fn a_large_table_is_sorted_only_where_an_index_or_a_filter_serves_it() {
    let app = App::logged_in(false).await;
    app.conn()
        .await
        .batch_execute(
            "INSERT INTO keyframe (id, video_summary_id, \"timestamp\", image_url)
             SELECT 'big' || g, (SELECT min(id) FROM video_summary), g,
                    'https://img.example.com/' || (20000 - g)
             FROM generate_series(1, 12000) g;
             ANALYZE keyframe",
        )
        .await
        .expect("rows");
    // No index starts with image_url: refused, and said why.
    let reply = app.get("/tables/keyframe?sort=image_url").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(
        reply.body.contains("no index starts with image_url"),
        "{}",
        reply.body
    );
    // Its header is not a sort link; the key's is.
    let page = app.get("/tables/keyframe").await.body;
    assert!(!page.contains("sort=image_url"), "{page}");
    assert!(page.contains("sort=video_summary_id"), "{page}");
    // A filter narrows the rows: allowed.
    let reply = app
        .get("/tables/keyframe?min.timestamp=11990&sort=image_url")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        row_ids(&reply.body).first().map(String::as_str),
        Some("big12000")
    );
    // A column an index starts with: allowed, pages continue.
    let reply = app
        .get("/tables/keyframe?sort=video_summary_id&dir=desc&limit=2")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let next = app.get(&next_link(&reply.body).expect("next")).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
}

#[tokio::test]
async fn the_queue_of_a_large_table_is_estimated_from_two_index_ranges() {
    let app = App::logged_in(false).await;
    let mut conn = app.conn().await;
    conn.batch_execute(
        "INSERT INTO video_summary (id, user_id, youtube_url, youtube_id, title,
                                    processing_status, lease_expires_at)
         SELECT 'q' || g, (SELECT min(id) FROM \"user\"),
                'https://youtu.be/' || lpad(g::text, 11, '0'), lpad(g::text, 11, '0'), 'Queued ' || g,
                CASE WHEN g % 4 = 0 THEN 'processing' ELSE 'pending' END,
                CASE WHEN g % 4 = 0 THEN now() - interval '1 hour' END
         FROM generate_series(1, 12000) g;
         ANALYZE video_summary",
    )
    .await
    .expect("rows");
    let body = app.get("/queue").await.body;
    assert!(body.contains("the planner's statistics"), "{body}");
    assert!(body.contains("≈ "), "{body}");
    assert!(body.contains("not counted on a large table"), "{body}");
    // Expired leases are counted exactly (3,000 inserted, none before).
    assert!(body.contains("<dt>expired leases</dt><dd>3000 "), "{body}");
}
