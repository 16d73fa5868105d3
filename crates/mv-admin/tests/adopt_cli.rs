//! `mv-admin adopt` as an operator runs it: the real binary against the
//! TypeScript app's database (fixtures/drizzle), killed and run again.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use diesel::QueryableByName;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::sql_types::{Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use local_pg::harness::{
    RESOLVE_BLOCKERS, TestDatabase, database_state, drizzle_database, pg_dump_schema,
};
use schema_engine::adopt::APP_TABLES;

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn mv_admin(db: &TestDatabase, dir: &std::path::Path, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mv-admin"));
    command
        .arg("--database-url")
        .arg(db.url())
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

async fn run(db: &TestDatabase, dir: &std::path::Path, args: &[&str]) -> Output {
    let output = mv_admin(db, dir, args)
        .output()
        .await
        .expect("running mv-admin");
    Output {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Nullable<Text>)]
    line: Option<String>,
}

async fn line(conn: &mut AsyncPgConnection, sql: &str) -> String {
    diesel::sql_query(sql)
        .get_result::<Line>(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .line
        .unwrap_or_default()
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

/// A database holding only the baseline migration, made by `mv-admin migrate`.
async fn baseline(dir: &std::path::Path) -> TestDatabase {
    let db = TestDatabase::empty().await;
    let migrations = dir.join("baseline-only");
    let name = "2026-11-25-000001_create_schema";
    let source = local_pg::harness::repository()
        .join("migrations")
        .join(name);
    std::fs::create_dir_all(migrations.join(name)).expect("mkdir");
    for file in ["up.sql", "down.sql"] {
        std::fs::copy(source.join(file), migrations.join(name).join(file)).expect("copy");
    }
    let out = run(
        &db,
        dir,
        &[
            "migrate",
            "--migrations-dir",
            migrations.to_str().expect("path"),
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    db
}

#[tokio::test]
async fn a_dry_run_names_the_blockers_rows_and_changes_nothing() {
    let db = drizzle_database().await;
    let dir = tempfile::tempdir().expect("dir");
    let mut conn = db.connect().await;
    let before = database_state(&mut conn).await;

    let out = run(&db, dir.path(), &["adopt", "--dry-run"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    for expected in [
        "made by drizzle-kit migrate (0000_initial.sql + 0001_indexing_strategy.sql)",
        "duplicate_saves",
        "9x4gdARg4rpvp-luCg9cA, nZ7EzCcXm0I4jq366CH2c",
        "invalid_json",
        "YNRb9qZmRnSzLby7tBSdE, pW105B5umnzNngBJq3EZL",
        "content_not_an_object",
        "query: SELECT",
        "swap video_summary's columns",
        "ACCESS EXCLUSIVE",
        "dry run: nothing was changed",
    ] {
        assert!(
            out.stdout.contains(expected),
            "{expected:?} in\n{}",
            out.stdout
        );
    }
    assert!(
        out.stderr.starts_with("error: 3 blocker(s)"),
        "{}",
        out.stderr
    );

    // The same as one JSON document.
    let out = run(&db, dir.path(), &["--json", "adopt", "--dry-run"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let document: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    let blockers = document["assessment"]["blockers"]
        .as_array()
        .expect("blockers");
    assert_eq!(blockers.len(), 3);
    assert_eq!(
        blockers[2]["rows"],
        serde_json::json!(["pS8ZFgRSaxpBWuScAW_df"])
    );
    assert_eq!(document["assessment"]["mode"], "live");

    // Converting refuses too, naming the rows.
    let out = run(&db, dir.path(), &["adopt", "--backup-elsewhere", "branch"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stdout.contains("pS8ZFgRSaxpBWuScAW_df"),
        "{}",
        out.stdout
    );
    assert!(!dir.path().join("adopt-rollback.sql").exists());

    assert_eq!(database_state(&mut conn).await, before);
}

#[tokio::test]
async fn adopt_needs_a_backup() {
    let db = resolved().await;
    let dir = tempfile::tempdir().expect("dir");
    let mut conn = db.connect().await;
    let before = database_state(&mut conn).await;
    let out = run(&db, dir.path(), &["adopt"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("--backup FILE"), "{}", out.stderr);
    let out = run(&db, dir.path(), &["adopt", "--backup", "missing.dump"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("missing.dump"), "{}", out.stderr);
    assert_eq!(database_state(&mut conn).await, before);
}

#[tokio::test]
async fn adopt_takes_only_a_checked_dump_of_this_database() {
    let db = resolved().await;
    let other = resolved().await;
    let dir = tempfile::tempdir().expect("dir");
    let mut conn = db.connect().await;
    let before = database_state(&mut conn).await;

    // A file that is not a dump the project made.
    std::fs::write(dir.path().join("fake.dump"), b"a dump").expect("a file");
    let out = run(&db, dir.path(), &["adopt", "--backup", "fake.dump"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("fake.dump") && out.stderr.contains("no manifest"),
        "{}",
        out.stderr
    );

    // A real dump whose file was changed since.
    let out = run(&db, dir.path(), &["db", "dump", "changed.dump"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let mut bytes = std::fs::read(dir.path().join("changed.dump")).expect("dump");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(dir.path().join("changed.dump"), bytes).expect("changed");
    let out = run(&db, dir.path(), &["adopt", "--backup", "changed.dump"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("damaged"), "{}", out.stderr);

    // A real dump of another database.
    let out = run(&other, dir.path(), &["db", "dump", "other.dump"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let out = run(&db, dir.path(), &["adopt", "--backup", "other.dump"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("other.dump")
            && out.stderr.contains("it is a dump of the database")
            && out.stderr.contains(other.name()),
        "{}",
        out.stderr
    );

    // This database's dump, but too old for the limit.
    let out = run(&db, dir.path(), &["db", "dump", "db.dump"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let out = run(
        &db,
        dir.path(),
        &["adopt", "--backup", "db.dump", "--backup-max-age", "1s"],
    )
    .await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("--backup-max-age"), "{}", out.stderr);

    assert!(!dir.path().join("adopt-rollback.sql").exists());
    assert_eq!(database_state(&mut conn).await, before);
}

#[tokio::test]
async fn adopt_then_migrate_gives_a_working_database() {
    let db = resolved().await;
    let dir = tempfile::tempdir().expect("dir");
    let out = run(&db, dir.path(), &["db", "dump", "db.dump"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let out = run(&db, dir.path(), &["adopt", "--backup", "db.dump"]).await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("mv-admin db dump of")
            && out.stderr.contains("checked against its manifest"),
        "{}",
        out.stderr
    );
    for expected in [
        "Converted (live mode)",
        "recorded 2026-11-25-000001_create_schema as applied",
        "Switch-over",
        "drizzle-kit push, generate or migrate",
    ] {
        assert!(
            out.stdout.contains(expected),
            "{expected:?} in\n{}",
            out.stdout
        );
    }
    assert!(
        out.stderr.contains("backfill video_summary: done"),
        "{}",
        out.stderr
    );
    let rollback =
        std::fs::read_to_string(dir.path().join("adopt-rollback.sql")).expect("rollback");
    assert!(rollback.contains("TYPE json USING"), "{rollback}");

    let baseline = baseline(dir.path()).await;
    assert_eq!(
        pg_dump_schema(&db, &APP_TABLES),
        pg_dump_schema(&baseline, &APP_TABLES)
    );

    let out = run(&db, dir.path(), &["--json", "migrate", "status"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let status: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(
        status["applied"][0]["name"],
        "2026-11-25-000001_create_schema"
    );
    // Every migration after the baseline is left to `migrate`.
    let migrations = MigrationSource::<Pg>::migrations(&db::migrations::MIGRATIONS)
        .expect("embedded migrations");
    assert_eq!(
        status["pending"].as_array().map(Vec::len),
        Some(migrations.len() - 1)
    );

    let out = run(&db, dir.path(), &["adopt"]).await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr
            .contains("already has this project's migration history"),
        "{}",
        out.stderr
    );

    let out = run(&db, dir.path(), &["migrate"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let out = run(
        &db,
        dir.path(),
        &[
            "videos",
            "show",
            "pW105B5umnzNngBJq3EZL",
            "--user",
            "zoe.nunez@example.net",
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("Walkthrough of the IFrame Player API."),
        "{}",
        out.stdout
    );
    let out = run(&db, dir.path(), &["jobs"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("with an expired lease"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn a_kill_during_the_concurrent_index_builds_resumes() {
    let db = resolved().await;
    let dir = tempfile::tempdir().expect("dir");
    let mut watcher = db.connect().await;
    // An open snapshot makes CREATE INDEX CONCURRENTLY wait (it locks no
    // table, so every step before runs).
    let mut holder = db.connect().await;
    holder
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1")
        .await
        .expect("a snapshot");

    let mut child = mv_admin(&db, dir.path(), &["adopt", "--backup-elsewhere", "branch"])
        .spawn()
        .expect("adopt starts");
    let started = Instant::now();
    let pid = loop {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "adopt never reached the index builds"
        );
        let pid = line(
            &mut watcher,
            "SELECT (SELECT pid::text FROM pg_stat_activity WHERE application_name = 'mv-adopt' \
             AND query LIKE 'CREATE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock' LIMIT 1) AS line",
        )
        .await;
        if !pid.is_empty() {
            break pid;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    child.start_kill().expect("SIGKILL");
    let status = child.wait().await.expect("adopt exits");
    assert_eq!(status.signal(), Some(9));
    // The server ends the dead client's session (as it would notice).
    watcher
        .batch_execute(&format!("SELECT pg_terminate_backend({pid})"))
        .await
        .expect("terminate");
    holder.batch_execute("COMMIT").await.expect("release");
    let invalid = line(
        &mut watcher,
        "SELECT string_agg(c.relname, ', ') AS line FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid WHERE NOT i.indisvalid",
    )
    .await;
    assert_eq!(invalid, "keyframe_video_summary_id_timestamp_idx");

    // Where it stands.
    let out = run(&db, dir.path(), &["adopt", "--dry-run"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("is unfinished"), "{}", out.stdout);
    let done_swap = out
        .stdout
        .lines()
        .any(|l| l.trim_start().starts_with("done") && l.contains("swap video_summary's columns"));
    assert!(done_swap, "{}", out.stdout);
    let pending = out.stdout.lines().any(|l| {
        !l.trim_start().starts_with("done")
            && l.contains("create index keyframe_video_summary_id_timestamp_idx ")
    });
    assert!(pending, "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "create index keyframe_video_summary_id_timestamp_idx: an INVALID index of this name"
        ),
        "{}",
        out.stdout
    );

    // A rerun resumes and finishes.
    let out = run(&db, dir.path(), &["adopt", "--backup-elsewhere", "branch"]).await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("live mode, resumed"), "{}", out.stdout);
    let baseline = baseline(dir.path()).await;
    assert_eq!(
        pg_dump_schema(&db, &APP_TABLES),
        pg_dump_schema(&baseline, &APP_TABLES)
    );
}

/// After adopt, the auth library's tables and drizzle's schema are declared
/// foreign in schema.sql, so push, generate and schema leave them alone and
/// inspect marks them.
#[tokio::test]
async fn after_adopt_push_generate_and_schema_leave_the_auth_tables_alone() {
    let db = resolved().await;
    let workspace = local_pg::harness::Workspace::new();
    let root = workspace.root();
    assert!(!workspace.sql().contains("-- mv:foreign"));
    let declaration = "-- mv:foreign account, session, verification, drizzle.*";

    let out = run(&db, root, &["adopt", "--dry-run"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains(
            "after converting, adopt declares account, session, verification, drizzle.* foreign \
             in crates/db/schema.sql"
        ),
        "{}",
        out.stdout
    );
    assert!(!workspace.sql().contains("-- mv:foreign"));

    let out = run(&db, root, &["adopt", "--backup-elsewhere", "branch"]).await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(
            "declared account, session, verification, drizzle.* foreign in crates/db/schema.sql"
        ),
        "{}",
        out.stdout
    );
    assert!(workspace.sql().contains(declaration), "{}", workspace.sql());
    let out = run(&db, root, &["migrate"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);

    // Nothing to plan: the auth tables are not dropped.
    let out = run(&db, root, &["push", "--dry-run"]).await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("dry run: 0 statement(s) planned; nothing was changed"),
        "{}",
        out.stdout
    );
    let out = run(&db, root, &["--json", "push", "--dry-run"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(plan["steps"], serde_json::json!([]), "{plan}");
    assert_eq!(plan["refused"], 0);

    for args in [&["schema", "--check"][..], &["generate", "--check"]] {
        let out = run(&db, root, args).await;
        assert_eq!(
            out.code,
            Some(0),
            "{args:?}: {}\n{}",
            out.stdout,
            out.stderr
        );
    }

    let out = run(&db, root, &["inspect"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for table in [
        "session",
        "account",
        "verification",
        "drizzle.__drizzle_migrations",
    ] {
        let line = out
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(table))
            .unwrap_or_else(|| panic!("{table} in\n{}", out.stdout));
        assert!(line.trim_end().ends_with("foreign"), "{line}");
    }
    let user = out
        .stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some("user"))
        .expect("user");
    assert!(!user.contains("foreign"), "{user}");

    // Without the declaration, push would drop the auth tables and their rows.
    std::fs::write(
        workspace.schema_sql(),
        workspace.sql().replace(declaration, ""),
    )
    .expect("write");
    let out = run(&db, root, &["push", "--dry-run"]).await;
    assert_eq!(out.code, Some(3), "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("DROP TABLE session"), "{}", out.stdout);
}
