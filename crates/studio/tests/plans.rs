//! Each table page is one index range: the server's own plan of the page
//! statement, on enough rows that a scan of the whole table would be chosen
//! if the statement allowed nothing better. (A filtered page uses whatever
//! the filter allows, and a page sorted by a column without an index sorts.)

use diesel_async::SimpleAsyncConnection;
use local_pg::harness::TestDatabase;
use tokio_postgres::types::{ToSql, Type};

/// The plan's lines, as EXPLAIN prints them.
async fn plan_of(client: &tokio_postgres::Client, sql: &str, params: &[Option<String>]) -> String {
    let statement = client
        .prepare_typed(&format!("EXPLAIN {sql}"), &vec![Type::TEXT; params.len()])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let params: Vec<&(dyn ToSql + Sync)> =
        params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let rows = client.query(&statement, &params).await.expect("a plan");
    rows.iter()
        .map(|row| row.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_table_page_is_one_index_range() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    conn.batch_execute(
        r#"INSERT INTO "user" (id, name, email, "createdAt", "updatedAt")
           SELECT 'u' || g, 'User ' || g, 'u' || g || '@example.com', now(), now() FROM generate_series(1, 2000) g;
           INSERT INTO video_summary (id, user_id, youtube_url, youtube_id, title)
           SELECT 'v' || lpad(g::text, 6, '0'), 'u' || (g % 2000 + 1), 'https://youtu.be/' || lpad(g::text, 11, '0'),
                  lpad(g::text, 11, '0'), 'Video ' || g FROM generate_series(1, 20000) g;
           INSERT INTO keyframe (id, video_summary_id, "timestamp", image_url)
           SELECT 'k' || g, 'v' || lpad((g % 20000 + 1)::text, 6, '0'), g, 'https://img.example.com/' || g
           FROM generate_series(1, 20000) g;
           INSERT INTO tag (id, name) SELECT 't' || g, 'tag ' || g FROM generate_series(1, 50) g;
           INSERT INTO video_summary_tag SELECT 'v' || lpad(g::text, 6, '0'), 't' || (g % 50 + 1) FROM generate_series(1, 20000) g;
           ANALYZE"#,
    )
    .await
    .expect("rows");
    let schema = schema_engine::catalog::introspect(&mut conn)
        .await
        .expect("catalog");
    let client = db::connect_client(&db.config()).await.expect("client");
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let pages = [
        ("video_summary", pairs(&[])),
        ("video_summary", pairs(&[("after", r#"["v010000"]"#)])),
        (
            "video_summary",
            pairs(&[("after", r#"["v010000"]"#), ("dir", "desc")]),
        ),
        ("keyframe", pairs(&[("after", r#"["k5000"]"#)])),
        (
            "video_summary_tag",
            pairs(&[("after", r#"["v010000","t1"]"#)]),
        ),
        ("user", pairs(&[("after", r#"["u100"]"#)])),
    ];
    // Sorted by a NOT NULL column an index starts with: the index's order,
    // at most sorted within its equal values (an incremental sort).
    let sorted = [
        ("video_summary", pairs(&[("sort", "user_id")])),
        (
            "video_summary",
            pairs(&[("sort", "user_id"), ("after", r#"["u100","v000100"]"#)]),
        ),
        (
            "video_summary",
            pairs(&[
                ("sort", "user_id"),
                ("dir", "desc"),
                ("after", r#"["u900","v000900"]"#),
            ]),
        ),
    ];
    for (table, params) in sorted {
        let (sql, binds) = studio::table_page_statement(&schema, table, &params).expect("a page");
        let plan = plan_of(&client, &sql, &binds).await;
        assert!(plan.contains("Index"), "{table} {params:?}:\n{plan}");
        for line in plan.lines() {
            let whole_sort = line.contains("Sort")
                && !line.contains("Incremental Sort")
                && !line.contains("Sort Key")
                && !line.contains("Presorted Key");
            assert!(
                !line.contains("Seq Scan") && !whole_sort,
                "{table} {params:?}:\n{plan}\n{sql}"
            );
        }
    }
    for (table, params) in pages {
        let (sql, binds) = studio::table_page_statement(&schema, table, &params).expect("a page");
        let plan = plan_of(&client, &sql, &binds).await;
        assert!(
            plan.contains("Index Scan") || plan.contains("Index Only Scan"),
            "{table} {params:?}:\n{plan}"
        );
        for other in ["Seq Scan", "Sort", "Bitmap Heap Scan"] {
            assert!(!plan.contains(other), "{table} {params:?}:\n{plan}\n{sql}");
        }
    }
}
