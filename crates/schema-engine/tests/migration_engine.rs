//! The migration engine against a real server: failures outside a
//! transaction, timeouts, missing migrations, data-loss checks, adoption of
//! a database migrated before the history existed.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use local_pg::harness::{MigrationDir, TestDatabase, count};
use schema_engine::migrations::{
    self, DataLoss, DataLossPolicy, MigrateError, MigrationSet, Options, Outcome, Resolution,
};

async fn table_exists(conn: &mut AsyncPgConnection, name: &str) -> bool {
    #[derive(QueryableByName)]
    struct Exists {
        #[diesel(sql_type = Bool)]
        exists: bool,
    }
    diesel::sql_query("SELECT to_regclass($1) IS NOT NULL AS exists")
        .bind::<Text, _>(name)
        .get_result::<Exists>(conn)
        .await
        .expect("to_regclass")
        .exists
}

const CREATE_T: &str = "2026-12-01-000001_create_t";

fn with_t() -> MigrationDir {
    let dir = MigrationDir::new();
    dir.write(
        CREATE_T,
        "CREATE TABLE t (x int NOT NULL);\nINSERT INTO t VALUES (1), (1), (2);\n",
        Some("DROP TABLE t;\n"),
    );
    dir
}

#[tokio::test]
async fn a_failure_outside_a_transaction_blocks_until_resolved() {
    let db = TestDatabase::empty().await;
    let mut conn = db.connect().await;
    let dir = with_t();
    let index = "2026-12-01-000002_unique_x";
    dir.write(
        index,
        "CREATE UNIQUE INDEX CONCURRENTLY t_x ON t (x);\n",
        Some("DROP INDEX CONCURRENTLY t_x;\n"),
    )
    .metadata(index, "run_in_transaction = false\n");
    let options = Options::default();

    let error = migrations::migrate(&mut conn, &dir.set(), &options)
        .await
        .expect_err("the duplicates make the index fail");
    let MigrateError::Statement(failure) = &error else {
        panic!("expected a statement failure, got: {error}");
    };
    assert_eq!(failure.outcome, Outcome::RecordedFailed, "{error}");
    // PostgreSQL gives no position, but the statement that failed is known.
    assert_eq!(
        failure.location.as_ref().map(|at| at.line),
        Some(1),
        "{error}"
    );
    assert_eq!(failure.statement, Some((1, 1)), "{error}");
    assert!(error.to_string().contains(index), "{error}");
    assert!(
        error.to_string().contains("migrate resolve 20261201000002"),
        "{error}"
    );
    // A failed CREATE INDEX CONCURRENTLY leaves an invalid index behind:
    // the half-done state the record warns about.
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS count FROM pg_index WHERE NOT indisvalid"
        )
        .await,
        1
    );

    let status = migrations::status(&mut conn, &dir.set())
        .await
        .expect("status");
    assert_eq!(status.failed.len(), 1);
    assert_eq!(status.failed[0].state, "failed");
    assert!(
        status.pending.is_empty(),
        "a failed migration is not pending"
    );

    for attempt in [
        migrations::migrate(&mut conn, &dir.set(), &options)
            .await
            .map(drop),
        migrations::revert(&mut conn, &dir.set(), &options, 1, DataLossPolicy::Accept)
            .await
            .map(drop),
    ] {
        let refused = attempt.expect_err("a failed migration blocks every run");
        assert!(matches!(refused, MigrateError::Unresolved(_)), "{refused}");
        assert!(refused.to_string().contains("--rolled-back"), "{refused}");
    }

    // The operator cleans up, then says so.
    conn.batch_execute(
        "DROP INDEX t_x; DELETE FROM t WHERE ctid = (SELECT max(ctid) FROM t WHERE x = 1);",
    )
    .await
    .expect("cleaning up");
    migrations::resolve(
        &mut conn,
        &options,
        "20261201000002",
        Resolution::RolledBack,
        Some("dropped the invalid index and the duplicate"),
    )
    .await
    .expect("resolve");
    let report = migrations::migrate(&mut conn, &dir.set(), &options)
        .await
        .expect("runs again after the resolve");
    assert_eq!(report.versions(), ["20261201000002"]);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS count FROM __mv_migration_log WHERE version = '20261201000002' AND action IN ('failed', 'resolved_rolled_back', 'applied')"
        )
        .await,
        3
    );
}

#[tokio::test]
async fn an_interrupted_migration_is_resolved_as_completed() {
    let db = TestDatabase::empty().await;
    let mut conn = db.connect().await;
    let dir = with_t();
    let slow = "2026-12-01-000002_slow";
    dir.write(slow, "SELECT pg_sleep(30);\n", None)
        .metadata(slow, "run_in_transaction = false\n");
    let set = dir.set();

    let mut runner = db.connect().await;
    let run_set = set.clone();
    let task = tokio::spawn(async move {
        migrations::migrate(&mut runner, &run_set, &Options::default()).await
    });
    let started = Instant::now();
    loop {
        let killed = count(
            &mut conn,
            "SELECT count(pg_terminate_backend(pid)) AS count FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'SELECT pg_sleep(30)%'",
        )
        .await;
        if killed > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the migration never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let error = task.await.expect("task").expect_err("terminated");
    let MigrateError::Statement(failure) = &error else {
        panic!("expected a statement failure, got: {error}");
    };
    assert_eq!(failure.outcome, Outcome::LeftRunning, "{error}");

    let status = migrations::status(&mut conn, &set).await.expect("status");
    assert_eq!(status.failed.len(), 1);
    assert_eq!(status.failed[0].state, "interrupted");
    migrations::resolve(
        &mut conn,
        &Options::default(),
        "20261201000002",
        Resolution::Completed,
        None,
    )
    .await
    .expect("resolve");
    let status = migrations::status(&mut conn, &set).await.expect("status");
    assert!(status.failed.is_empty() && status.pending.is_empty());
    assert_eq!(status.applied.len(), 2);
    let error = migrations::resolve(
        &mut conn,
        &Options::default(),
        "20261201000002",
        Resolution::Completed,
        None,
    )
    .await
    .expect_err("nothing left to resolve");
    assert!(
        matches!(error, MigrateError::NothingToResolve { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn each_migration_runs_with_its_timeouts() {
    let db = TestDatabase::empty().await;
    let mut conn = db.connect().await;
    let dir = with_t();
    migrations::migrate(&mut conn, &dir.set(), &Options::default())
        .await
        .expect("t");

    // Another session holds t, as a busy application would.
    let mut holder = db.connect().await;
    holder
        .batch_execute("BEGIN; LOCK TABLE t IN ACCESS SHARE MODE;")
        .await
        .expect("holding t");
    let alter = "2026-12-01-000002_alter";
    dir.write(alter, "ALTER TABLE t ADD COLUMN y int;\n", None);
    let options = Options {
        lock_timeout: Some(Duration::from_millis(300)),
        ..Options::default()
    };
    let started = Instant::now();
    let error = migrations::migrate(&mut conn, &dir.set(), &options)
        .await
        .expect_err("the lock is not granted in time");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(error.to_string().contains("lock timeout"), "{error}");
    assert!(error.to_string().contains(alter), "{error}");

    // metadata.toml wins over the run's default.
    dir.metadata(
        alter,
        "run_in_transaction = true\nlock_timeout = \"200ms\"\n",
    );
    let options = Options {
        lock_timeout: None,
        ..Options::default()
    };
    let started = Instant::now();
    let error = migrations::migrate(&mut conn, &dir.set(), &options)
        .await
        .expect_err("the migration's own lock_timeout applies");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(error.to_string().contains("lock timeout"), "{error}");
    holder
        .batch_execute("ROLLBACK")
        .await
        .expect("letting go of t");

    let slow = "2026-12-01-000003_slow";
    dir.write(slow, "SELECT pg_sleep(10);\n", None).metadata(
        slow,
        "run_in_transaction = false\nstatement_timeout = \"300ms\"\n",
    );
    let started = Instant::now();
    let error = migrations::migrate(&mut conn, &dir.set(), &Options::default())
        .await
        .expect_err("the statement times out");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(error.to_string().contains("statement timeout"), "{error}");
    // The session's own setting is back after a migration set its own.
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = Text)]
        statement_timeout: String,
    }
    let setting: Setting = diesel::sql_query("SHOW statement_timeout")
        .get_result(&mut conn)
        .await
        .expect("show");
    assert_eq!(setting.statement_timeout, "30s");
}

#[tokio::test]
async fn bad_metadata_is_refused_with_its_reason() {
    let dir = with_t();
    dir.metadata(CREATE_T, "lock_timeout = \"1s\"\n");
    let error = MigrationSet::from_dir(dir.path()).expect_err("no run_in_transaction");
    assert!(error.to_string().contains("run_in_transaction"), "{error}");
    assert!(error.to_string().contains(CREATE_T), "{error}");
    dir.metadata(
        CREATE_T,
        "run_in_transaction = true\nlock_timeout = \"soon\"\n",
    );
    let error = MigrationSet::from_dir(dir.path()).expect_err("bad duration");
    assert!(error.to_string().contains("\"soon\""), "{error}");
    dir.metadata(
        CREATE_T,
        "run_in_transaction = true\nlock_timout = \"1s\"\n",
    );
    let error = MigrationSet::from_dir(dir.path()).expect_err("unknown key");
    assert!(error.to_string().contains("lock_timout"), "{error}");
}

#[tokio::test]
async fn a_missing_migration_is_reported_and_not_reverted() {
    let db = TestDatabase::empty().await;
    let mut conn = db.connect().await;
    let dir = with_t();
    let extra = "2026-12-01-000002_extra";
    dir.write(
        extra,
        "CREATE TABLE extra (id int);\n",
        Some("DROP TABLE extra;\n"),
    );
    migrations::migrate(&mut conn, &dir.set(), &Options::default())
        .await
        .expect("both");
    dir.remove(extra);

    let status = migrations::status(&mut conn, &dir.set())
        .await
        .expect("status");
    assert_eq!(
        status
            .missing
            .iter()
            .map(|m| m.version.as_str())
            .collect::<Vec<_>>(),
        ["20261201000002"]
    );
    let error = migrations::revert(
        &mut conn,
        &dir.set(),
        &Options::default(),
        1,
        DataLossPolicy::Accept,
    )
    .await
    .expect_err("cannot revert what is unknown");
    assert!(
        matches!(&error, MigrateError::Missing { version } if version == "20261201000002"),
        "{error}"
    );
    assert!(table_exists(&mut conn, "extra").await);
    // Applying still works: the missing one is only reported.
    migrations::migrate(&mut conn, &dir.set(), &Options::default())
        .await
        .expect("nothing pending");
}

#[tokio::test]
async fn a_revert_that_drops_a_column_with_values_is_refused_or_asked() {
    let db = TestDatabase::empty().await;
    let mut conn = db.connect().await;
    let dir = with_t();
    let column = "2026-12-01-000002_add_note";
    dir.write(
        column,
        "ALTER TABLE t ADD COLUMN note text;\n",
        Some("ALTER TABLE t DROP COLUMN note;\n"),
    );
    let empty = "2026-12-01-000003_empty_table";
    dir.write(
        empty,
        "CREATE TABLE unused (id int);\n",
        Some("DROP TABLE unused;\n"),
    );
    let options = Options::default();
    migrations::migrate(&mut conn, &dir.set(), &options)
        .await
        .expect("up");
    conn.batch_execute("UPDATE t SET note = 'kept' WHERE x = 1;")
        .await
        .expect("notes");

    // An empty table goes without a question.
    migrations::revert(&mut conn, &dir.set(), &options, 1, DataLossPolicy::Refuse)
        .await
        .expect("nothing to lose");
    assert!(!table_exists(&mut conn, "unused").await);

    let error = migrations::revert(&mut conn, &dir.set(), &options, 1, DataLossPolicy::Refuse)
        .await
        .expect_err("two notes would go");
    assert!(
        error
            .to_string()
            .contains("column public.t.note (2 non-null values)"),
        "{error}"
    );
    let mut asked = Vec::new();
    let mut answer_no = |losses: &[DataLoss]| {
        asked.extend(losses.iter().map(|l| l.describe()));
        false
    };
    migrations::revert(
        &mut conn,
        &dir.set(),
        &options,
        1,
        DataLossPolicy::Ask(&mut answer_no),
    )
    .await
    .expect_err("declined");
    assert_eq!(asked, ["column public.t.note (2 non-null values)"]);
    assert_eq!(
        count(&mut conn, "SELECT count(note) AS count FROM t").await,
        2
    );

    let mut answer_yes = |_: &[DataLoss]| true;
    migrations::revert(
        &mut conn,
        &dir.set(),
        &options,
        1,
        DataLossPolicy::Ask(&mut answer_yes),
    )
    .await
    .expect("accepted");
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS count FROM information_schema.columns WHERE table_name = 't' AND column_name = 'note'").await,
        0
    );
}

#[tokio::test]
async fn a_database_migrated_before_the_history_is_adopted_once() {
    let db = TestDatabase::empty().await;
    let mut conn = db.connect().await;
    let dir = with_t();
    // What Diesel's own harness leaves: its table and the schema, no history.
    conn.batch_execute(diesel::migration::CREATE_MIGRATIONS_TABLE)
        .await
        .expect("diesel's table");
    conn.batch_execute(
        "CREATE TABLE t (x int NOT NULL); INSERT INTO __diesel_schema_migrations (version) VALUES ('20261201000001');",
    )
    .await
    .expect("migrated by diesel");

    let report = migrations::migrate(&mut conn, &dir.set(), &Options::default())
        .await
        .expect("adopt");
    assert_eq!(report.adopted, ["20261201000001"]);
    assert!(report.applied.is_empty());
    let second = migrations::migrate(&mut conn, &dir.set(), &Options::default())
        .await
        .expect("current");
    assert!(second.adopted.is_empty() && second.applied.is_empty());
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS count FROM __mv_migration_log"
        )
        .await,
        1
    );
}
