//! Taking over the TypeScript app's database (fixtures/drizzle): detection,
//! preflight, the live and window conversions, verification, recording.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use db::models::{AiContent, User, VideoSummary};
use db::pipeline::{self, RetryPolicy};
use diesel::QueryableByName;
use diesel::sql_types::{Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use local_pg::harness::{
    MigrationDir, RESOLVE_BLOCKERS, TestDatabase, database_state, drizzle_database,
    drizzle_database_with, pg_dump_schema, repository,
};
use schema_engine::adopt::{
    self, APP_TABLES, AdoptError, Assessment, BASELINE, Backup, Event, FOREIGN_TABLES, Mode,
    Options, Outcome,
};
use schema_engine::migrations::{self, MigrationSet};

const DRIZZLE_LAST_HASH: &str = "0448220271a3654d298bdd1532a1b66e4a0182e3c1df3dc52abefc8627069d45";

fn backup() -> Backup {
    Backup::Elsewhere("a Neon branch made for the test".to_string())
}

async fn assess(db: &TestDatabase, mode: Mode) -> Assessment {
    adopt::assess(&db.config(), mode).await.expect("assess")
}

async fn convert(db: &TestDatabase, mode: Mode) -> Outcome {
    let assessment = assess(db, mode).await;
    adopt::convert(&db.config(), &assessment, &Options::new(mode, backup()))
        .await
        .expect("convert")
}

async fn resolved() -> TestDatabase {
    let db = drizzle_database().await;
    db.connect()
        .await
        .batch_execute(RESOLVE_BLOCKERS)
        .await
        .expect("resolving the blockers");
    db
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Nullable<Text>)]
    line: Option<String>,
}

async fn lines(conn: &mut AsyncPgConnection, sql: &str) -> Vec<String> {
    diesel::sql_query(sql)
        .load::<Line>(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(|l| l.line.unwrap_or_default())
        .collect()
}

/// Every value of the app's tables as an instant or as jsonb, by key, read
/// independently of adopt's digests: equal before and after a conversion
/// that keeps every instant and every JSON value.
async fn values(conn: &mut AsyncPgConnection) -> Vec<String> {
    let mut all = Vec::new();
    for (table, key, times) in [
        ("\"user\"", "id", vec!["\"createdAt\"", "\"updatedAt\""]),
        ("tag", "id", vec!["created_at"]),
        ("category", "id", vec!["created_at"]),
        ("keyframe", "id", vec!["created_at"]),
        ("video_summary", "id", vec!["created_at", "updated_at"]),
    ] {
        let times: Vec<String> = times
            .iter()
            .map(|c| format!("extract(epoch FROM {c})::text"))
            .collect();
        let json = if table == "video_summary" {
            ", coalesce(ai_generated_content::jsonb::text, 'NULL')"
        } else {
            ""
        };
        all.extend(
            lines(
                conn,
                &format!(
                    "SELECT concat_ws(' ', '{table}', {key}, {}{json}) AS line FROM {table} ORDER BY {key}",
                    times.join(", ")
                ),
            )
            .await,
        );
    }
    all
}

/// The auth library's rows, as PostgreSQL prints them.
async fn auth_rows(conn: &mut AsyncPgConnection) -> Vec<String> {
    let mut all = Vec::new();
    for table in FOREIGN_TABLES {
        all.extend(
            lines(
                conn,
                &format!("SELECT t::text AS line FROM {table} t ORDER BY t::text"),
            )
            .await,
        );
    }
    all
}

/// A database with only the baseline migration, as `mv-admin migrate` makes it.
async fn baseline_database() -> TestDatabase {
    let db = TestDatabase::empty().await;
    let dir = MigrationDir::new();
    let source = repository().join("migrations").join(BASELINE);
    dir.write(
        BASELINE,
        &std::fs::read_to_string(source.join("up.sql")).expect("up.sql"),
        Some(&std::fs::read_to_string(source.join("down.sql")).expect("down.sql")),
    );
    migrations::migrate(&mut db.connect().await, &dir.set(), &Default::default())
        .await
        .expect("migrating to the baseline");
    db
}

#[tokio::test]
async fn the_fixture_is_recognised_and_its_blockers_named_with_their_rows() {
    let db = drizzle_database().await;
    let mut conn = db.connect().await;
    let before = database_state(&mut conn).await;
    let assessment = assess(&db, Mode::Live).await;

    assert_eq!(assessment.detected.made_by, "drizzle-kit migrate");
    assert_eq!(
        assessment.detected.migrations,
        ["0000_initial.sql", "0001_indexing_strategy.sql"]
    );
    assert_eq!(assessment.detected.last_hash, DRIZZLE_LAST_HASH);
    assert!(assessment.detected.legacy_foreign_keys.is_empty());

    let blockers: BTreeMap<&str, Vec<String>> = assessment
        .blockers
        .iter()
        .map(|b| (b.kind, b.rows.clone()))
        .collect();
    assert_eq!(
        blockers,
        BTreeMap::from([
            (
                "duplicate_saves",
                vec![
                    "9x4gdARg4rpvp-luCg9cA".to_string(),
                    "nZ7EzCcXm0I4jq366CH2c".to_string()
                ]
            ),
            (
                "invalid_json",
                vec![
                    "YNRb9qZmRnSzLby7tBSdE".to_string(),
                    "pW105B5umnzNngBJq3EZL".to_string()
                ]
            ),
            (
                "content_not_an_object",
                vec!["pS8ZFgRSaxpBWuScAW_df".to_string()]
            ),
        ])
    );
    // Each blocker's query, run by hand, finds its rows; the JSON it names
    // is exactly what a jsonb cast refuses.
    for blocker in &assessment.blockers {
        let query = blocker.query.as_deref().expect("a query");
        let found = lines(
            &mut conn,
            &format!("SELECT unnest(ids) AS line FROM ({query}) q"),
        )
        .await;
        assert_eq!(found, blocker.rows, "{query}");
    }
    conn.batch_execute(
        "CREATE FUNCTION pg_temp.casts(j json) RETURNS bool LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM j::jsonb; RETURN true; EXCEPTION WHEN others THEN RETURN false; END $$",
    )
    .await
    .expect("a test function");
    let refused = lines(
        &mut conn,
        "SELECT id AS line FROM video_summary WHERE NOT pg_temp.casts(ai_generated_content) ORDER BY id",
    )
    .await;
    assert_eq!(refused, blockers["invalid_json"]);

    let warnings: Vec<&str> = assessment.warnings.iter().map(|w| w.kind).collect();
    assert_eq!(warnings, ["processing", "tag_names", "category_names"]);
    assert_eq!(
        assessment.warnings[0].rows,
        ["VnhMmO55EGuhEryzMuPhf", "mdZhLKQTA2292DLKtXL8b"]
    );
    assert!(
        assessment.warnings[1]
            .message
            .contains("\"Machine Learning\""),
        "{}",
        assessment.warnings[1].message
    );

    // Every step says which lock it takes, on what, and for how long.
    let steps: Vec<&str> = assessment.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        steps,
        [
            "install the change journal",
            "digest every row before",
            "convert user",
            "convert tag",
            "convert category",
            "convert keyframe",
            "convert video_summary_tag",
            "convert video_summary_category",
            "convert video_summary",
            "backfill video_summary",
            "swap video_summary's columns",
            "validate video_summary's new CHECK",
            "create index keyframe_video_summary_id_timestamp_idx",
            "create index video_summary_user_id_created_at_id_idx",
            "create index video_summary_user_id_youtube_id_key",
            "drop index keyframe_video_summary_id_idx",
            "drop index video_summary_user_id_idx",
            "drop index video_summary_youtube_id_idx",
            "drop index video_summary_category_video_summary_id_idx",
            "drop index video_summary_tag_video_summary_id_idx",
            "verify",
            "remove the change journal and record the baseline",
        ]
    );
    for step in &assessment.steps {
        assert!(
            !step.estimate.is_empty() && step.table_bytes.is_some(),
            "{step:?}"
        );
        assert!(!step.done, "{step:?}");
    }
    let swap = &assessment.steps[10];
    assert_eq!(swap.lock, adopt::Lock::AccessExclusive);
    assert_eq!(swap.hold, adopt::Hold::Instant);

    // The rollback script was tried on a scratch database.
    assert!(
        assessment
            .rollback_sql
            .contains("ALTER TABLE video_summary ALTER COLUMN ai_generated_content TYPE json"),
        "{}",
        assessment.rollback_sql
    );

    // Read only.
    assert_eq!(database_state(&mut conn).await, before);
}

#[tokio::test]
async fn adopt_refuses_while_blockers_exist_and_changes_nothing() {
    let db = drizzle_database().await;
    let mut conn = db.connect().await;
    let before = database_state(&mut conn).await;
    let assessment = assess(&db, Mode::Live).await;
    let error = adopt::convert(
        &db.config(),
        &assessment,
        &Options::new(Mode::Live, backup()),
    )
    .await
    .expect_err("refused");
    let AdoptError::Blocked(blockers) = &error else {
        panic!("{error}");
    };
    assert_eq!(blockers.len(), 3);
    for id in [
        "9x4gdARg4rpvp-luCg9cA",
        "pW105B5umnzNngBJq3EZL",
        "pS8ZFgRSaxpBWuScAW_df",
    ] {
        assert!(error.to_string().contains(id), "{error}");
    }
    assert_eq!(database_state(&mut conn).await, before);
}

#[tokio::test]
async fn adopt_refuses_to_convert_without_a_backup() {
    let db = resolved().await;
    let assessment = assess(&db, Mode::Live).await;
    for (backup, expected) in [
        (Backup::Elsewhere("  ".to_string()), "--backup-elsewhere"),
        (
            Backup::File(std::env::temp_dir().join("no-such-dump-file")),
            "no-such-dump-file",
        ),
    ] {
        let error = adopt::convert(&db.config(), &assessment, &Options::new(Mode::Live, backup))
            .await
            .expect_err("refused");
        assert!(error.to_string().contains(expected), "{error}");
    }
    let mut conn = db.connect().await;
    assert!(adopt::assess(&db.config(), Mode::Live).await.is_ok());
    assert_eq!(
        lines(&mut conn, "SELECT to_regclass('__mv_adopt')::text AS line").await,
        [""]
    );
}

/// Everything the done-when asks of a finished adoption.
async fn check_adopted(
    db: &TestDatabase,
    outcome: &Outcome,
    values_before: &[String],
    auth_before: &[String],
) {
    let mut conn = db.connect().await;
    for table in &outcome.tables {
        assert!(table.equal, "{table:?}");
    }
    assert_eq!(
        outcome.tables.len(),
        APP_TABLES.len() + FOREIGN_TABLES.len()
    );
    assert_eq!(values(&mut conn).await, values_before);
    assert_eq!(auth_rows(&mut conn).await, auth_before);

    // The app's tables are exactly the baseline's, in pg_dump's words.
    let baseline = baseline_database().await;
    assert_eq!(
        pg_dump_schema(db, &APP_TABLES),
        pg_dump_schema(&baseline, &APP_TABLES)
    );
    // Nothing of adopt's is left.
    assert_eq!(
        lines(
            &mut conn,
            "SELECT string_agg(name, ', ') AS line FROM (
                 SELECT relname::text AS name FROM pg_class WHERE relname LIKE '\\_\\_mv\\_adopt%'
                 UNION ALL SELECT proname::text FROM pg_proc WHERE proname LIKE '\\_\\_mv\\_%'
                 UNION ALL SELECT tgname::text FROM pg_trigger WHERE tgname LIKE '\\_\\_mv\\_%') AS left_over"
        )
        .await,
        [""]
    );

    // The history: the baseline applied, the log saying how, drizzle's hash.
    let set = MigrationSet::embedded().expect("migrations");
    let status = migrations::status(&mut conn, &set).await.expect("status");
    assert_eq!(
        status
            .applied
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>(),
        [BASELINE]
    );
    assert_eq!(status.pending.len(), set.migrations().len() - 1);
    let log = lines(
        &mut conn,
        "SELECT concat_ws(' ', version, action, previous_checksum) AS line FROM __mv_migration_log",
    )
    .await;
    assert_eq!(
        log,
        [format!("20261125000001 baselined {DRIZZLE_LAST_HASH}")]
    );

    // A second adopt refuses.
    let error = adopt::assess(&db.config(), Mode::Live)
        .await
        .expect_err("a second adopt");
    assert!(matches!(error, AdoptError::AlreadyManaged(_)), "{error}");

    // migrate applies the pipeline on top; the result is a migrated database.
    let report = migrations::migrate(&mut conn, &set, &Default::default())
        .await
        .expect("migrate after adopt");
    assert_eq!(report.applied.len(), set.migrations().len() - 1);
    let fresh = TestDatabase::new().await;
    assert_eq!(
        pg_dump_schema(db, &APP_TABLES),
        pg_dump_schema(&fresh, &APP_TABLES)
    );

    // The data layer reads every video, and the worker API runs the queue.
    for row in lines(
        &mut conn,
        "SELECT user_id || ' ' || id AS line FROM video_summary",
    )
    .await
    {
        let (user, id) = row.split_once(' ').expect("user and id");
        VideoSummary::find(&conn, user, id)
            .await
            .unwrap_or_else(|e| panic!("reading video {id}: {e}"));
    }
    let stats = pipeline::stats(&mut conn).await.expect("jobs").counts;
    let videos = lines(
        &mut conn,
        "SELECT count(*)::text AS line FROM video_summary",
    )
    .await;
    assert_eq!(vec![stats.total().to_string()], videos);
    let jobs = pipeline::claim(
        &mut conn,
        "rust-worker",
        10,
        std::time::Duration::from_secs(60),
    )
    .await
    .expect("claim");
    assert_eq!(jobs.len() as i64, stats.pending);
    for job in &jobs {
        pipeline::complete(
            &mut conn,
            &job.id,
            job.attempt,
            &AiContent::new("done", ["a"]),
            &[],
        )
        .await
        .expect("complete");
    }
    let rescued = pipeline::rescue(&mut conn, &RetryPolicy::default())
        .await
        .expect("rescue");
    assert_eq!(
        rescued.retried.len() as i64,
        stats.processing,
        "{rescued:?}"
    );
}

#[tokio::test]
async fn a_live_adoption_converts_verifies_and_records_the_baseline() {
    let db = resolved().await;
    let mut conn = db.connect().await;
    let (values_before, auth_before) = (values(&mut conn).await, auth_rows(&mut conn).await);
    let outcome = convert(&db, Mode::Live).await;
    assert_eq!(outcome.mode, Mode::Live);
    assert!(!outcome.resumed);
    check_adopted(&db, &outcome, &values_before, &auth_before).await;
}

#[tokio::test]
async fn a_window_adoption_converts_in_one_transaction() {
    let db = resolved().await;
    let mut conn = db.connect().await;
    let (values_before, auth_before) = (values(&mut conn).await, auth_rows(&mut conn).await);
    let outcome = convert(&db, Mode::Window).await;
    assert_eq!(outcome.steps.len(), 1, "{:?}", outcome.steps);
    check_adopted(&db, &outcome, &values_before, &auth_before).await;
}

#[tokio::test]
async fn every_instant_is_kept_when_the_database_time_zone_is_new_york() {
    let db =
        drizzle_database_with("ALTER DATABASE {database} SET TimeZone = 'America/New_York'").await;
    let mut conn = db.connect().await;
    conn.batch_execute(RESOLVE_BLOCKERS).await.expect("resolve");
    // The stored wall-clock times, read as UTC by hand.
    let utc = "SELECT id || ' ' || to_char(created_at, 'YYYY-MM-DD HH24:MI:SS.MS') AS line FROM video_summary ORDER BY id";
    let before = lines(&mut conn, utc).await;
    let assessment = assess(&db, Mode::Live).await;
    let zone = assessment
        .warnings
        .iter()
        .find(|w| w.kind == "time_zone")
        .expect("a time zone warning");
    assert!(
        zone.message.contains("America/New_York"),
        "{}",
        zone.message
    );
    adopt::convert(
        &db.config(),
        &assessment,
        &Options::new(Mode::Live, backup()),
    )
    .await
    .expect("convert");
    // The same instants, now timestamptz, printed in UTC.
    let after = lines(
        &mut conn,
        "SELECT id || ' ' || to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS line FROM video_summary ORDER BY id",
    )
    .await;
    assert_eq!(after, before);
}

/// Options whose observer, when `step` starts, runs `sql` on a connection
/// of its own (another thread: the observer runs inside adopt) and counts
/// how often it did.
fn writing_at(
    db: &TestDatabase,
    step: &'static str,
    sql: &'static str,
) -> (Options, Arc<AtomicUsize>) {
    let url = db.url().to_string();
    let writes = Arc::new(AtomicUsize::new(0));
    let counter = writes.clone();
    let observer = Arc::new(move |event: &Event<'_>| {
        if matches!(event, Event::Started { step: started } if *started == step) {
            let url = url.clone();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async {
                    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                        .await
                        .expect("the application connects");
                    tokio::spawn(connection);
                    client.batch_execute(sql).await.expect("the write");
                });
            })
            .join()
            .expect("the writing thread");
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let options = Options {
        observer: Some(observer),
        ..Options::new(Mode::Live, backup())
    };
    (options, writes)
}

#[tokio::test]
async fn the_application_may_write_during_a_live_adoption() {
    let db = resolved().await;
    // While the backfill starts, the application saves a video, edits
    // another, deletes a tag link and a session.
    let (options, writes) = writing_at(
        &db,
        "backfill video_summary",
        "INSERT INTO video_summary (id, user_id, youtube_url, youtube_id, title, ai_generated_content, created_at, updated_at)
         VALUES ('saved-meanwhile', '4rbNdcGaY1LGzuw2nVn06ixezKgCn7s0', 'https://youtu.be/aaaaaaaaaaa', 'aaaaaaaaaaa', 'New', '{\"summary\": \"s\"}', now(), now());
         UPDATE video_summary SET title = 'Edited', updated_at = now() WHERE id = 'nmC4LqRj20GKm6BtdWvj2';
         DELETE FROM video_summary_tag WHERE video_summary_id = 'nmC4LqRj20GKm6BtdWvj2';
         DELETE FROM session WHERE id = (SELECT min(id) FROM session);",
    );
    let assessment = assess(&db, Mode::Live).await;
    let outcome = adopt::convert(&db.config(), &assessment, &options)
        .await
        .expect("convert");
    assert_eq!(AtomicUsize::load(&writes, Ordering::SeqCst), 1);
    let changed: BTreeMap<&str, i64> = outcome
        .tables
        .iter()
        .map(|t| (t.table.as_str(), t.changed_by_application))
        .collect();
    assert_eq!(changed["video_summary"], 2, "{outcome:?}");
    assert_eq!(changed["session"], 1, "{outcome:?}");
    assert!(changed["video_summary_tag"] > 0, "{outcome:?}");
    assert!(outcome.tables.iter().all(|t| t.equal), "{outcome:?}");
    let mut conn = db.connect().await;
    assert_eq!(
        lines(
            &mut conn,
            "SELECT pg_typeof(ai_generated_content)::text || ' ' || (ai_generated_content->>'summary') AS line \
             FROM video_summary WHERE id = 'saved-meanwhile'"
        )
        .await,
        ["jsonb s"]
    );
}

#[tokio::test]
async fn a_change_adopt_did_not_make_fails_verification_and_nothing_is_recorded() {
    let db = resolved().await;
    // A write that bypasses the journal, as if the conversion itself had
    // changed a value.
    let (options, writes) = writing_at(
        &db,
        "swap video_summary's columns",
        "SET mv.adopt = 'converting';
         UPDATE tag SET description = 'changed unseen' WHERE id = (SELECT min(id) FROM tag)",
    );
    let assessment = assess(&db, Mode::Live).await;
    let error = adopt::convert(&db.config(), &assessment, &options)
        .await
        .expect_err("verification fails");
    assert!(
        matches!(&error, AdoptError::Verification(found) if found.iter().any(|f| f.contains("rows of tag differ"))),
        "{error}"
    );
    assert_eq!(AtomicUsize::load(&writes, Ordering::SeqCst), 1);
    let mut conn = db.connect().await;
    assert_eq!(
        lines(
            &mut conn,
            "SELECT to_regclass('__mv_migration_history')::text AS line"
        )
        .await,
        [""]
    );
}

#[tokio::test]
async fn a_database_that_differs_from_drizzle_s_is_refused_with_the_differences() {
    let db = drizzle_database().await;
    let mut conn = db.connect().await;
    conn.batch_execute(
        "ALTER TABLE video_summary ADD COLUMN notes text; CREATE TABLE team_notes (id int PRIMARY KEY)",
    )
    .await
    .expect("a team's own change");
    let before = database_state(&mut conn).await;
    let error = adopt::assess(&db.config(), Mode::Live)
        .await
        .expect_err("refused");
    let AdoptError::Unrecognised(found) = &error else {
        panic!("{error}");
    };
    assert!(found.iter().any(|d| d.contains("notes")), "{found:?}");
    assert!(found.iter().any(|d| d.contains("team_notes")), "{found:?}");
    assert_eq!(database_state(&mut conn).await, before);
}

#[tokio::test]
async fn a_pushed_database_and_older_shapes_are_recognised() {
    // drizzle-kit push keeps no history; 0000 alone lacks the indexes;
    // BetterAuth's 1.0 CLI wrote foreign keys without ON DELETE CASCADE.
    let db = drizzle_database().await;
    let mut conn = db.connect().await;
    conn.batch_execute(
        "DROP SCHEMA drizzle CASCADE;
         DROP INDEX keyframe_video_summary_id_idx, video_summary_user_id_idx, video_summary_youtube_id_idx,
             video_summary_category_video_summary_id_idx, video_summary_category_category_id_idx,
             video_summary_tag_video_summary_id_idx, video_summary_tag_tag_id_idx;
         ALTER TABLE session DROP CONSTRAINT \"session_userId_user_id_fk\",
             ADD CONSTRAINT \"session_userId_user_id_fk\" FOREIGN KEY (\"userId\") REFERENCES \"user\"(id);",
    )
    .await
    .expect("an older database");
    let assessment = assess(&db, Mode::Live).await;
    assert_eq!(assessment.detected.made_by, "drizzle-kit push");
    assert_eq!(assessment.detected.migrations, ["0000_initial.sql"]);
    assert_eq!(
        assessment.detected.legacy_foreign_keys,
        ["session_userId_user_id_fk"]
    );
    let warning = assessment
        .warnings
        .iter()
        .find(|w| w.kind == "foreign_key_without_cascade")
        .expect("a warning");
    assert!(warning.message.contains("session"), "{}", warning.message);

    conn.batch_execute(RESOLVE_BLOCKERS).await.expect("resolve");
    let auth_before = auth_rows(&mut conn).await;
    let outcome = convert(&db, Mode::Live).await;
    assert!(outcome.tables.iter().all(|t| t.equal), "{outcome:?}");
    assert_eq!(auth_rows(&mut conn).await, auth_before);
    let baseline = baseline_database().await;
    assert_eq!(
        pg_dump_schema(&db, &APP_TABLES),
        pg_dump_schema(&baseline, &APP_TABLES)
    );
    // The auth table keeps its foreign key as it was.
    assert_eq!(
        lines(
            &mut conn,
            "SELECT confdeltype::text AS line FROM pg_constraint WHERE conname = 'session_userId_user_id_fk'"
        )
        .await,
        ["a"]
    );
}

#[tokio::test]
async fn a_database_migrated_by_this_project_is_refused() {
    let db = TestDatabase::new().await;
    let error = adopt::assess(&db.config(), Mode::Live)
        .await
        .expect_err("refused");
    assert!(matches!(error, AdoptError::AlreadyManaged(_)), "{error}");
    assert!(error.to_string().contains("applied migration"), "{error}");
}

#[tokio::test]
async fn deleting_a_user_names_the_auth_table_that_blocks_it_or_cascades() {
    const ADA: &str = "4rbNdcGaY1LGzuw2nVn06ixezKgCn7s0";
    const MO: &str = "AVyZrQ2dxwbPF6F8FLgqtqXNyJOKBQWj";
    let db = resolved().await;
    let mut conn = db.connect().await;
    // BetterAuth's 1.0 CLI: session's foreign key without ON DELETE
    // CASCADE (NO ACTION); account's cascades.
    conn.batch_execute(
        "ALTER TABLE session DROP CONSTRAINT \"session_userId_user_id_fk\",
             ADD CONSTRAINT \"session_userId_user_id_fk\" FOREIGN KEY (\"userId\") REFERENCES \"user\"(id);",
    )
    .await
    .expect("the legacy foreign key");
    convert(&db, Mode::Live).await;

    // Ada has sessions: the delete fails, naming the table, and deletes nothing.
    let error = User::delete(&mut conn, ADA)
        .await
        .expect_err("session's foreign key does not cascade");
    let db::Error::Referenced {
        table, constraint, ..
    } = &error
    else {
        panic!("expected a referenced-row error, got {error:?}");
    };
    assert_eq!(table, "session");
    assert_eq!(constraint, "session_userId_user_id_fk");
    assert!(error.to_string().contains("table session"), "{error}");
    let owned = format!(
        "SELECT ((SELECT count(*) FROM \"user\" WHERE id = '{ADA}') + \
                 (SELECT count(*) FROM account WHERE \"userId\" = '{ADA}'))::text AS line"
    );
    assert_eq!(lines(&mut conn, &owned).await, ["2"]);

    // Mo has no session, only an account, whose foreign key cascades.
    User::delete(&mut conn, MO)
        .await
        .expect("the account cascades");
    assert_eq!(
        lines(
            &mut conn,
            &format!("SELECT count(*)::text AS line FROM account WHERE \"userId\" = '{MO}'")
        )
        .await,
        ["0"]
    );
}
