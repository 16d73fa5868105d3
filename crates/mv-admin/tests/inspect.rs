//! `inspect` against real databases: what it shows, what it refuses, and
//! that it cannot write.

use chrono::Utc;
use db::DbConfig;
use db::models::{User, VideoFilter};
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use indicatif::ProgressBar;
use local_pg::harness::{TestDatabase, snapshot};
use local_pg::{LocalServer, ServerOptions};
use mv_admin::ExitStatus;
use mv_admin::commands::inspect::queries as cli_queries;
use mv_admin::commands::inspect::table::Args as TableArgs;
use mv_admin::commands::inspect::{InspectCommand, Report, inspect, overview, table};
use mv_admin::demo::{DEMO_EMAIL, VIDEOS};
use schema_engine::inspect::table::{Condition, Rows};
use schema_engine::inspect::{ConnFuture, queries, read_only};

async fn seeded() -> (TestDatabase, AsyncPgConnection) {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    mv_admin::commands::seed::seed(&mut conn, false, &ProgressBar::hidden())
        .await
        .expect("seeding");
    (db, conn)
}

fn table(name: &str, conditions: &[(&str, &str)]) -> Option<InspectCommand> {
    Some(InspectCommand::Table(TableArgs {
        name: name.to_string(),
        limit: 20,
        conditions: conditions
            .iter()
            .map(|(column, value)| Condition {
                column: column.to_string(),
                value: value.to_string(),
            })
            .collect(),
    }))
}

async fn rows(conn: &mut AsyncPgConnection, command: Option<InspectCommand>) -> Rows {
    match inspect(conn, command).await.expect("inspect") {
        Report::Table(rows) => rows,
        other => panic!("expected rows, got {other:?}"),
    }
}

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

fn embedded_migrations() -> usize {
    MigrationSource::<Pg>::migrations(&db::migrations::MIGRATIONS)
        .expect("embedded")
        .len()
}

#[tokio::test]
async fn the_overview_counts_rows_indexes_migrations_and_connections() {
    let (_db, mut conn) = seeded().await;
    let Report::Overview(overview) = inspect(&mut conn, None).await.expect("overview") else {
        panic!("expected the overview");
    };
    assert!(overview.server_version.starts_with(char::is_numeric));
    assert!(overview.database_bytes > 0);
    let count = |name: &str| {
        overview
            .tables
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.row_count)
    };
    assert_eq!(count("video_summary"), Some(VIDEOS.len() as i64));
    assert_eq!(count("user"), Some(4));
    assert!(
        overview
            .indexes
            .iter()
            .any(|i| i.name == "video_summary_user_id_created_at_id_idx"
                && i.table_name == "video_summary")
    );
    assert_eq!(overview.migrations.len(), embedded_migrations());
    assert!(
        overview
            .migrations
            .iter()
            .all(|m| m.run_on.is_some() && m.name.is_some())
    );
    assert!(overview.connections.in_use >= 1);
    assert!(
        overview
            .connections
            .by_state
            .iter()
            .any(|s| s.state == "active")
    );
    let text = anstream::adapter::strip_str(&overview::render(&overview)).to_string();
    assert!(text.contains("0 pending"), "{text}");
    assert!(text.contains("video_summary"), "{text}");
}

#[tokio::test]
async fn the_overview_of_an_empty_database_shows_pending_migrations_and_creates_nothing() {
    let db = TestDatabase::empty().await;
    let mut conn = db.connect().await;
    let Report::Overview(overview) = inspect(&mut conn, None).await.expect("overview") else {
        panic!("expected the overview");
    };
    assert!(overview.tables.is_empty(), "{:?}", overview.tables);
    assert_eq!(overview.migrations.len(), embedded_migrations());
    assert!(overview.migrations.iter().all(|m| m.run_on.is_none()));
    let Report::Overview(again) = inspect(&mut conn, None).await.expect("overview") else {
        panic!("expected the overview");
    };
    assert!(again.tables.is_empty(), "no history table was created");
}

#[tokio::test]
async fn tables_are_browsed_with_typed_conditions_in_key_order() {
    let (_db, mut conn) = seeded().await;
    let users = rows(&mut conn, table("user", &[("email", DEMO_EMAIL)])).await;
    assert_eq!(users.rows.len(), 1);
    let keys: Vec<&str> = users.rows[0].keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "name",
            "email",
            "emailVerified",
            "image",
            "createdAt",
            "updatedAt"
        ]
    );

    let unverified = rows(&mut conn, table("user", &[("emailVerified", "false")])).await;
    assert_eq!(unverified.rows.len(), 1);
    assert_eq!(unverified.rows[0]["email"], "alan@mind-vault.dev");

    let frames = rows(&mut conn, table("keyframe", &[("timestamp", "240")])).await;
    assert_eq!(frames.rows.len(), 2, "the transformer video, saved twice");

    let failed = rows(
        &mut conn,
        table(
            "video_summary",
            &[("processing_status", "failed"), ("duration", "3300")],
        ),
    )
    .await;
    assert_eq!(failed.rows.len(), 1);
    assert!(failed.rows[0]["processing_error"].is_string());

    let all = rows(
        &mut conn,
        Some(InspectCommand::Table(TableArgs {
            name: "video_summary".into(),
            limit: 5,
            conditions: Vec::new(),
        })),
    )
    .await;
    assert_eq!(all.rows.len(), 5);
    let ids: Vec<&str> = all.rows.iter().filter_map(|r| r["id"].as_str()).collect();
    let first_ids: Vec<Id> = diesel::sql_query("SELECT id FROM video_summary ORDER BY id LIMIT 5")
        .load(&mut conn)
        .await
        .expect("ids");
    let first_ids: Vec<&str> = first_ids.iter().map(|row| row.id.as_str()).collect();
    assert_eq!(
        ids, first_ids,
        "primary key order, in the database's collation"
    );

    let bad = inspect(&mut conn, table("keyframe", &[("timestamp", "soon")])).await;
    let message = format!("{:#}", bad.expect_err("not an integer"));
    assert!(message.contains("integer"), "{message}");
}

#[tokio::test]
async fn unknown_names_are_refused_listing_the_valid_ones_and_values_stay_values() {
    let (_db, mut conn) = seeded().await;
    let before = snapshot(&mut conn).await;

    let error = inspect(&mut conn, table("users; DROP TABLE tag", &[]))
        .await
        .expect_err("unknown table");
    let message = format!("{error:#}");
    assert!(
        message.contains("video_summary, video_summary_category"),
        "{message}"
    );

    let error = inspect(&mut conn, table("user", &[("email = email OR 1", "1")]))
        .await
        .expect_err("unknown column");
    let message = format!("{error:#}");
    assert!(
        message.contains("its columns are id, name, email, emailVerified"),
        "{message}"
    );

    let injected = rows(
        &mut conn,
        table("video_summary", &[("title", "x' OR '1'='1")]),
    )
    .await;
    assert!(injected.rows.is_empty(), "the value is compared, not run");
    let quoted = rows(
        &mut conn,
        table(
            "video_summary",
            &[(
                "title",
                "Sourdough from Scratch: A Beginner's Week-by-Week Guide",
            )],
        ),
    )
    .await;
    assert_eq!(quoted.rows.len(), 1, "a quote in a value is just a quote");

    assert_eq!(snapshot(&mut conn).await, before);
}

#[tokio::test]
async fn inspections_run_in_a_read_only_transaction() {
    let (_db, mut conn) = seeded().await;
    let before = snapshot(&mut conn).await;
    let error = read_only(
        &mut conn,
        |conn| -> ConnFuture<'_, (), schema_engine::Error> {
            Box::pin(async move {
                diesel::sql_query("DELETE FROM tag").execute(conn).await?;
                Ok(())
            })
        },
    )
    .await
    .expect_err("a write in a read-only transaction");
    assert!(format!("{error:#}").contains("read-only"), "{error:#}");
    assert_eq!(snapshot(&mut conn).await, before);
    // The connection is usable afterwards.
    assert!(inspect(&mut conn, None).await.is_ok());
}

#[tokio::test]
async fn rows_render_as_a_table_or_as_blocks_with_pretty_json() {
    let (_db, mut conn) = seeded().await;
    let tags = rows(&mut conn, table("tag", &[("name", "rust")])).await;
    let text = anstream::adapter::strip_str(&table::render(&tags, None)).to_string();
    assert!(text.starts_with("tag: 1 row\n"), "{text}");
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|line| line.starts_with("id") && line.contains("name")),
        "{text}"
    );

    let completed = rows(
        &mut conn,
        table(
            "video_summary",
            &[("title", "Rust Ownership and Borrowing, Visually Explained")],
        ),
    )
    .await;
    let text = anstream::adapter::strip_str(&table::render(&completed, None)).to_string();
    assert!(text.contains("-- row 1 --"), "JSON spans lines: {text}");
    assert!(
        text.lines().any(|line| line
            .trim_start()
            .starts_with("\"summary\": \"A visual walk")),
        "{text}"
    );
}

#[tokio::test]
async fn a_video_is_inspected_with_its_owner_whoever_that_is() {
    let (_db, mut conn) = seeded().await;
    let page = mv_admin::commands::videos::list(
        &mut conn,
        "grace@mind-vault.dev",
        &VideoFilter {
            status: Some(db::models::ProcessingStatus::Completed),
            ..VideoFilter::default()
        },
    )
    .await
    .expect("grace's");
    let id = page.items[0].id.clone();
    let Report::Video(video) = inspect(
        &mut conn,
        Some(InspectCommand::Video(
            mv_admin::commands::inspect::video::Args { id },
        )),
    )
    .await
    .expect("inspect video") else {
        panic!("expected a video");
    };
    let grace = User::find_by_email(&mut conn, "grace@mind-vault.dev")
        .await
        .expect("grace");
    assert_eq!(video.owner, grace);
    assert_eq!(video.details.keyframes.len(), 3);
    let text = anstream::adapter::strip_str(&video.render(Utc::now())).to_string();
    assert!(
        text.contains("Grace Hopper <grace@mind-vault.dev>"),
        "{text}"
    );
    assert!(text.contains("\"keyPoints\": ["), "{text}");

    let missing = inspect(
        &mut conn,
        Some(InspectCommand::Video(
            mv_admin::commands::inspect::video::Args {
                id: "no-such-video".into(),
            },
        )),
    )
    .await;
    assert!(
        format!("{:#}", missing.expect_err("missing")).contains("not found"),
        "not found"
    );
}

#[tokio::test]
async fn without_pg_stat_statements_the_answer_is_how_to_enable_it() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    let error = queries::slowest(&mut conn, 10)
        .await
        .expect_err("the test server does not load it");
    let message = format!("{error:#}");
    assert!(message.contains("shared_preload_libraries"), "{message}");
    assert!(
        message.contains("CREATE EXTENSION pg_stat_statements"),
        "{message}"
    );
    assert!(
        matches!(error, schema_engine::Error::StatementsUnavailable { .. }),
        "{error:?}"
    );
    // The command exits with its own status, so scripts can tell.
    let command = InspectCommand::Queries(cli_queries::Args { limit: 10 });
    let error = inspect(&mut conn, Some(command))
        .await
        .expect_err("unavailable");
    assert_eq!(
        error.downcast_ref::<ExitStatus>().map(|s| s.0),
        Some(cli_queries::EXIT_UNAVAILABLE)
    );
}

#[tokio::test]
async fn with_pg_stat_statements_the_slowest_statements_are_listed() {
    let home = std::env::temp_dir().join(format!("mv-admin-pgss-{}", std::process::id()));
    let server = LocalServer::new(
        &home,
        ServerOptions {
            unsafe_fast: true,
            settings: vec![(
                "shared_preload_libraries".into(),
                "'pg_stat_statements'".into(),
            )],
            ..ServerOptions::default()
        },
    )
    .expect("server");
    server.ensure_running().await.expect("starting the server");
    let result = async {
        let config = DbConfig::default().with_url(server.url("postgres"));
        let mut conn = db::connect(&config).await.expect("connect");
        diesel::sql_query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .execute(&mut conn)
            .await
            .expect("extension");
        // Only what runs from here on counts: on a loaded machine CREATE
        // EXTENSION itself can take longer than the sleep.
        diesel::sql_query("SELECT pg_stat_statements_reset()")
            .execute(&mut conn)
            .await
            .expect("reset");
        diesel::sql_query("SELECT pg_sleep(0.05)")
            .execute(&mut conn)
            .await
            .expect("a slow statement");
        queries::slowest(&mut conn, 5).await
    }
    .await;
    server.destroy().await.expect("removing the server");
    let statements = result.expect("statements");
    assert!(
        // The slice's first, not Diesel's.
        <[queries::Statement]>::first(&statements).is_some_and(|s| s.query.contains("pg_sleep")),
        "{statements:?}"
    );
    assert!(statements.len() <= 5);
    let text = cli_queries::render(&statements);
    assert!(
        text.contains("MEAN MS") && text.contains("pg_sleep"),
        "{text}"
    );
}
