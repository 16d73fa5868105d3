//! `mv-admin migrate` as a deploy runs it: real processes, several at once,
//! against a real server.

use std::process::Stdio;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Int4, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use local_pg::harness::{MigrationDir, TestDatabase, count, schema_snapshot};
use schema_engine::migrations::{LOCK_KEY, MigrationSet, checksum};

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn mv_admin(db: &TestDatabase, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mv-admin"));
    command
        .arg("--database-url")
        .arg(db.url())
        .args(args)
        // Away from the repository: the binary needs no migrations folder.
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

async fn run(db: &TestDatabase, args: &[&str]) -> Output {
    let output = mv_admin(db, args).output().await.expect("running mv-admin");
    Output {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = Int4)]
    pid: i32,
}

/// The migrating session's pid once it runs a statement matching `like`.
async fn wait_for_session(conn: &mut AsyncPgConnection, like: &str) -> i32 {
    let started = Instant::now();
    loop {
        let found: Option<Pid> = diesel::sql_query(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name = 'mv-migrations' AND state = 'active' AND query LIKE $1",
        )
        .bind::<Text, _>(like)
        .get_result(conn)
        .await
        .optional()
        .expect("pg_stat_activity");
        if let Some(Pid { pid }) = found {
            return pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no migrating session ran {like}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const APPLIED: &str = "SELECT count(*) AS count FROM __diesel_schema_migrations";

/// An empty database, and a folder of migrations with its path as an argument.
async fn empty_with_migrations() -> (TestDatabase, MigrationDir, String) {
    let db = TestDatabase::empty().await;
    let set = MigrationDir::new();
    let dir = set.path().to_string_lossy().into_owned();
    (db, set, dir)
}

#[tokio::test]
async fn ten_processes_at_once_apply_each_migration_exactly_once() {
    let serial = TestDatabase::empty().await;
    let out = run(&serial, &["migrate"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);

    let db = TestDatabase::empty().await;
    let children: Vec<_> = (0..10)
        .map(|_| mv_admin(&db, &["migrate"]).spawn().expect("spawning"))
        .collect();
    let mut applied_lines = 0;
    for child in children {
        let output = child.wait_with_output().await.expect("waiting");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        applied_lines += String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| line.starts_with("applied "))
            .count();
    }

    let migrations = MigrationSet::embedded()
        .expect("embedded")
        .migrations()
        .len();
    assert_eq!(
        applied_lines, migrations,
        "each migration is applied by one process"
    );
    let mut conn = db.connect().await;
    assert_eq!(count(&mut conn, APPLIED).await, migrations as i64);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS count FROM __mv_migration_log WHERE action = 'applied'"
        )
        .await,
        migrations as i64
    );
    let mut serial_conn = serial.connect().await;
    assert_eq!(
        schema_snapshot(&mut conn).await,
        schema_snapshot(&mut serial_conn).await
    );
}

#[tokio::test]
async fn a_lock_holder_killed_with_sigkill_frees_the_lock_at_once() {
    let db = TestDatabase::empty().await;
    let mut conn = db.connect().await;
    let slow = MigrationDir::new();
    slow.write(
        "2026-12-01-000001_slow",
        "CREATE TABLE slow (id int);\nSELECT pg_sleep(60);\n",
        None,
    );
    let dir = slow.path().to_string_lossy().into_owned();
    let mut holder = mv_admin(&db, &["migrate", "--migrations-dir", &dir])
        .spawn()
        .expect("spawning the holder");
    wait_for_session(&mut conn, "%pg_sleep(60)%").await;

    holder.start_kill().expect("SIGKILL");
    holder.wait().await.expect("reaping the holder");
    let started = Instant::now();
    let out = run(&db, &["migrate", "--lock-timeout", "30s"]).await;
    let took = started.elapsed();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        took < Duration::from_secs(5),
        "the next run waited {took:?} for a dead holder's lock"
    );
    let snapshot = schema_snapshot(&mut conn).await;
    assert!(
        !snapshot.contains("table slow "),
        "the killed run left nothing"
    );
    assert!(snapshot.contains("table video_summary "));
}

#[tokio::test]
async fn lock_timeout_exits_with_status_3_naming_the_holder() {
    let db = TestDatabase::empty().await;
    let mut holder = db.connect().await;
    let Pid { pid } = diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result(&mut holder)
        .await
        .expect("pid");
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(LOCK_KEY)
        .execute(&mut holder)
        .await
        .expect("taking the migration lock");

    let started = Instant::now();
    let out = run(&db, &["migrate", "--lock-timeout", "2s"]).await;
    let took = started.elapsed();
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "gave up after {took:?}"
    );
    assert!(out.stderr.contains(&format!("pid {pid}")), "{}", out.stderr);
    assert!(!out.stderr.contains("exit status"), "{}", out.stderr);
    assert_eq!(
        out.stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count(),
        1,
        "{}",
        out.stderr
    );
    let mut conn = db.connect().await;
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS count FROM pg_tables WHERE schemaname = 'public'"
        )
        .await,
        0,
        "nothing was applied or even created"
    );
}

const FIRST: &str = "2026-12-01-000001_first";
const SECOND: &str = "2026-12-01-000002_second";
const THIRD: &str = "2026-12-01-000003_third";

#[tokio::test]
async fn an_edited_applied_migration_is_refused_until_accepted() {
    let (db, set, dir) = empty_with_migrations().await;
    let original = "CREATE TABLE first (id int);\n";
    set.write(FIRST, original, None);
    assert_eq!(
        run(&db, &["migrate", "--migrations-dir", &dir]).await.code,
        Some(0)
    );

    // Line endings and trailing blanks are not edits.
    set.write(FIRST, "CREATE TABLE first (id int);   \r\n\r\n", None);
    set.write(SECOND, "CREATE TABLE second (id int);\n", None);
    let out = run(&db, &["migrate", "--migrations-dir", &dir]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);

    let edited = "CREATE TABLE first (id bigint);\n";
    set.write(FIRST, edited, None);
    set.write(THIRD, "CREATE TABLE third (id int);\n", None);
    let out = run(&db, &["migrate", "--migrations-dir", &dir]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    for expected in ["20261201000001", &checksum(original), &checksum(edited)] {
        assert!(
            out.stderr.contains(expected),
            "{expected} in {}",
            out.stderr
        );
    }
    let mut conn = db.connect().await;
    assert_eq!(count(&mut conn, APPLIED).await, 2, "nothing ran");

    let status = run(&db, &["migrate", "--migrations-dir", &dir, "status"]).await;
    assert!(
        status.stdout.contains(&format!("changed      {FIRST}")),
        "{}",
        status.stdout
    );

    let out = run(
        &db,
        &[
            "migrate",
            "--migrations-dir",
            &dir,
            "accept-edit",
            FIRST,
            "--reason",
            "bigint ids",
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        count(
            &mut conn,
            &format!(
                "SELECT count(*) AS count FROM __mv_migration_log WHERE action = 'accepted_edit' \
                 AND previous_checksum = '{}' AND checksum = '{}' AND reason = 'bigint ids'",
                checksum(original),
                checksum(edited)
            )
        )
        .await,
        1
    );
    let out = run(&db, &["migrate", "--migrations-dir", &dir]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(count(&mut conn, APPLIED).await, 3);

    let out = run(
        &db,
        &[
            "migrate",
            "--migrations-dir",
            &dir,
            "accept-edit",
            FIRST,
            "--reason",
            "again",
        ],
    )
    .await;
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("has not changed"), "{}", out.stderr);
}

#[tokio::test]
async fn an_older_migration_added_after_a_newer_one_is_refused_unless_allowed() {
    let (db, set, dir) = empty_with_migrations().await;
    set.write(FIRST, "CREATE TABLE first (id int);\n", None);
    set.write(THIRD, "CREATE TABLE third (id int);\n", None);
    assert_eq!(
        run(&db, &["migrate", "--migrations-dir", &dir]).await.code,
        Some(0)
    );

    set.write(SECOND, "CREATE TABLE second (id int);\n", None);
    let out = run(&db, &["migrate", "--migrations-dir", &dir]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains(SECOND), "{}", out.stderr);
    assert!(
        out.stderr.contains("--allow-out-of-order"),
        "{}",
        out.stderr
    );
    let mut conn = db.connect().await;
    assert_eq!(count(&mut conn, APPLIED).await, 2);

    let out = run(
        &db,
        &["migrate", "--migrations-dir", &dir, "--allow-out-of-order"],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(count(&mut conn, APPLIED).await, 3);
}

#[tokio::test]
async fn a_pending_rewrite_of_a_large_table_is_warned_about_before_it_runs() {
    let (db, set, dir) = empty_with_migrations().await;
    set.write(
        FIRST,
        "CREATE TABLE big (id int PRIMARY KEY, n int);\n\
         INSERT INTO big SELECT i, i FROM generate_series(1, 5000) i;\n\
         ANALYZE big;\n",
        None,
    );
    assert_eq!(
        run(&db, &["migrate", "--migrations-dir", &dir]).await.code,
        Some(0)
    );
    // The online forms: no warning.
    set.write(
        SECOND,
        "CREATE INDEX CONCURRENTLY big_n ON big (n);\n\
         ALTER TABLE big ADD CONSTRAINT big_n_check CHECK (n > 0) NOT VALID;\n\
         ALTER TABLE big VALIDATE CONSTRAINT big_n_check;\n",
        None,
    )
    .metadata(SECOND, "run_in_transaction = false\n");
    // A rewrite under ACCESS EXCLUSIVE.
    set.write(
        THIRD,
        "-- n grows past int4\nALTER TABLE big\n    ALTER COLUMN n TYPE bigint;\n\
         UPDATE big SET n = n + 1 WHERE id <= 10;\n\
         UPDATE big SET n = n + 1 WHERE id > 0;\n",
        None,
    );

    let status = [
        "migrate",
        "status",
        "--migrations-dir",
        &dir,
        "--warn-rows",
        "1000",
    ];
    let out = run(&db, &status).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    // The ALTER, and the UPDATE matching every row (not the one of ten).
    assert_eq!(warnings.len(), 2, "{}", out.stderr);
    assert!(
        warnings[1].contains("line 5: `UPDATE big SET n = n + 1 WHERE id > 0`")
            && warnings[1].contains("writes the matching rows of it"),
        "{}",
        warnings[1]
    );
    for expected in [
        THIRD,
        "up.sql line 2",
        "`ALTER TABLE big ALTER COLUMN n TYPE bigint`",
        "ACCESS EXCLUSIVE on big",
        "rewrites",
        "rows, ",
        "kB",
        "reads and writes wait",
    ] {
        assert!(
            warnings[0].contains(expected),
            "{expected:?} in {}",
            warnings[0]
        );
    }
    let out = run(&db, &[&["--json"], &status[..]].concat()).await;
    let document: serde_json::Value = serde_json::from_str(&out.stdout).expect("one document");
    let listed = document["warnings"].as_array().expect("warnings");
    assert_eq!(listed.len(), 2, "{}", out.stdout);
    assert_eq!(listed[0]["table"], "big");
    assert_eq!(listed[0]["effect"], "rewrite");
    assert!(
        listed[0]["rows"].as_i64().expect("rows") >= 1000,
        "{}",
        out.stdout
    );
    assert!(
        listed[0]["bytes"].as_i64().expect("bytes") > 0,
        "{}",
        out.stdout
    );

    // Under the threshold: quiet.
    let out = run(&db, &["migrate", "status", "--migrations-dir", &dir]).await;
    assert!(!out.stderr.contains("warning:"), "{}", out.stderr);

    // --strict refuses before anything runs; lint names it without a database.
    let out = run(
        &db,
        &[
            "migrate",
            "--migrations-dir",
            &dir,
            "--warn-rows",
            "1000",
            "--strict",
        ],
    )
    .await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("--strict"), "{}", out.stderr);
    let mut conn = db.connect().await;
    assert_eq!(count(&mut conn, APPLIED).await, 1);
    let out = run(&db, &["migrate", "lint", "--migrations-dir", &dir]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stdout.contains(&format!("{THIRD}/up.sql:2:")) && !out.stdout.contains(SECOND),
        "{}",
        out.stdout
    );

    // Without --strict it warns, then applies; the report carries the warning.
    let out = run(
        &db,
        &[
            "--json",
            "migrate",
            "--migrations-dir",
            &dir,
            "--warn-rows",
            "1000",
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("warning: "), "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("one document");
    assert_eq!(report["warnings"][0]["table"], "big", "{}", out.stdout);
    assert_eq!(count(&mut conn, APPLIED).await, 3);
}

#[tokio::test]
async fn a_migration_failing_at_its_third_statement_leaves_nothing_of_itself() {
    let (db, set, dir) = empty_with_migrations().await;
    set.write(FIRST, "CREATE TABLE first (id int);\n", None);
    set.write(
        SECOND,
        "-- Fills a table.\nCREATE TABLE second (id int);\nINSERT INTO second VALUES (1);\nINSERT INTO second (nope) VALUES (2);\n",
        None,
    );
    let out = run(&db, &["migrate", "--migrations-dir", &dir]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    for expected in [
        SECOND,
        "up.sql line 4, column 21",
        "`INSERT INTO second (nope) VALUES (2);`",
        "column \"nope\" of relation \"second\" does not exist",
        "nothing of it remains",
    ] {
        assert!(
            out.stderr.contains(expected),
            "{expected} in {}",
            out.stderr
        );
    }
    let mut conn = db.connect().await;
    assert!(!schema_snapshot(&mut conn).await.contains("table second "));
    assert_eq!(count(&mut conn, APPLIED).await, 1, "the first one stays");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS count FROM __mv_migration_history WHERE version = '20261201000002'"
        )
        .await,
        0
    );

    set.write(
        SECOND,
        "CREATE TABLE second (id int);\nINSERT INTO second VALUES (1);\nINSERT INTO second (id) VALUES (2);\n",
        None,
    );
    let out = run(&db, &["migrate", "--migrations-dir", &dir]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS count FROM second").await,
        2
    );
}

#[tokio::test]
async fn a_terminated_session_leaves_no_half_recorded_version() {
    let db = TestDatabase::empty().await;
    let mut conn = db.connect().await;
    let set = MigrationDir::new();
    let dir = set.path().to_string_lossy().into_owned();
    set.write(FIRST, "CREATE TABLE first (id int);\n", None);
    set.write(
        SECOND,
        "CREATE TABLE second (id int);\nSELECT pg_sleep(2);\n",
        None,
    );
    let child = mv_admin(&db, &["migrate", "--migrations-dir", &dir])
        .spawn()
        .expect("spawning");
    let pid = wait_for_session(&mut conn, "%pg_sleep(2)%").await;
    diesel::sql_query("SELECT pg_terminate_backend($1)")
        .bind::<Int4, _>(pid)
        .execute(&mut conn)
        .await
        .expect("terminating");
    let output = child.wait_with_output().await.expect("waiting");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for expected in [SECOND, "terminating connection", "nothing of it remains"] {
        assert!(stderr.contains(expected), "{expected} in {stderr}");
    }
    let history =
        "SELECT count(*) AS count FROM __mv_migration_history WHERE version = '20261201000002'";
    assert_eq!(count(&mut conn, history).await, 0);
    assert_eq!(count(&mut conn, APPLIED).await, 1);

    let out = run(&db, &["migrate", "--migrations-dir", &dir]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(count(&mut conn, history).await, 1);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS count FROM __mv_migration_history WHERE state <> 'applied'"
        )
        .await,
        0
    );
    assert_eq!(count(&mut conn, APPLIED).await, 2);
}

/// Every row version and write counter of the bookkeeping tables, once no
/// other session is left to flush its statistics.
async fn bookkeeping_writes(conn: &mut AsyncPgConnection) -> String {
    #[derive(QueryableByName)]
    struct Writes {
        #[diesel(sql_type = Text)]
        writes: String,
    }
    const WRITES: &str = "
SELECT concat_ws(' | ',
    (SELECT string_agg(ctid::text || xmin::text, ',' ORDER BY ctid) FROM __mv_migration_history),
    (SELECT string_agg(ctid::text || xmin::text, ',' ORDER BY ctid) FROM __mv_migration_log),
    (SELECT string_agg(ctid::text || xmin::text, ',' ORDER BY ctid) FROM __diesel_schema_migrations),
    (SELECT string_agg(relname || '=' || (n_tup_ins + n_tup_upd + n_tup_del), ',' ORDER BY relname)
     FROM pg_stat_user_tables WHERE relname LIKE '\\_\\_%')) AS writes";
    let started = Instant::now();
    let mut last: Option<String> = None;
    loop {
        let others = count(
            conn,
            "SELECT count(*) AS count FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await;
        let Writes { writes } = diesel::sql_query(WRITES)
            .get_result(conn)
            .await
            .expect("reading the bookkeeping");
        // Statistics are flushed as a session ends: wait for a steady read.
        if others == 0 && last.as_ref() == Some(&writes) {
            return writes;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "sessions linger"
        );
        last = Some(writes);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn an_up_to_date_database_is_not_written() {
    let db = TestDatabase::empty().await;
    let out = run(&db, &["migrate"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let mut conn = db.connect().await;
    let before = bookkeeping_writes(&mut conn).await;
    assert!(before.contains("__mv_migration_log="), "{before}");

    let out = run(&db, &["migrate"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("up to date"), "{}", out.stdout);
    assert_eq!(bookkeeping_writes(&mut conn).await, before);
}

#[tokio::test]
async fn status_json_is_one_document_with_every_kind() {
    let (db, set, dir) = empty_with_migrations().await;
    set.write(FIRST, "CREATE TABLE first (id int);\n", None);
    set.write(SECOND, "CREATE TABLE second (id int);\n", None);
    set.write(THIRD, "CREATE TABLE third (id int);\n", None);
    assert_eq!(
        run(&db, &["migrate", "--migrations-dir", &dir]).await.code,
        Some(0)
    );
    set.remove(SECOND);
    set.write(FIRST, "CREATE TABLE first (id bigint);\n", None);
    set.write(
        "2026-12-01-000004_fourth",
        "CREATE TABLE fourth (id int);\n",
        None,
    );

    let out = run(
        &db,
        &["--json", "migrate", "--migrations-dir", &dir, "status"],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let status: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    let versions = |key: &str| -> Vec<String> {
        status[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} in {status}"))
            .iter()
            .map(|entry| entry["version"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(versions("applied"), ["20261201000003"]);
    assert_eq!(versions("changed"), ["20261201000001"]);
    assert_eq!(versions("missing"), ["20261201000002"]);
    assert_eq!(versions("pending"), ["20261201000004"]);
    assert_eq!(versions("failed"), Vec::<String>::new());
}

#[tokio::test]
async fn revert_without_a_terminal_refuses_to_delete_rows() {
    let db = TestDatabase::empty().await;
    assert_eq!(run(&db, &["migrate"]).await.code, Some(0));
    let mut conn = db.connect().await;
    conn.batch_execute(
        "INSERT INTO tag (id, name) VALUES ('t1', 'rust'), ('t2', 'sql'); \
         INSERT INTO category (id, name) VALUES ('c1', 'programming');",
    )
    .await
    .expect("seeding");
    let before = schema_snapshot(&mut conn).await;
    // Every migration, down to the one that made the seeded tables.
    let all = MigrationSet::embedded()
        .expect("embedded migrations")
        .migrations()
        .len()
        .to_string();

    let out = run(&db, &["migrate", "revert", "--steps", &all]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    for expected in [
        "table public.tag (2 rows)",
        "table public.category (1 rows)",
        "--accept-data-loss",
    ] {
        assert!(
            out.stderr.contains(expected),
            "{expected} in {}",
            out.stderr
        );
    }
    assert_eq!(
        schema_snapshot(&mut conn).await,
        before,
        "nothing was reverted"
    );

    let out = run(
        &db,
        &["migrate", "revert", "--steps", &all, "--accept-data-loss"],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("reverted 2026-11-25-000001_create_schema"),
        "{}",
        out.stdout
    );
    assert!(!schema_snapshot(&mut conn).await.contains("table tag "));
}

async fn exists(conn: &mut AsyncPgConnection, relation: &str) -> bool {
    count(
        conn,
        &format!("SELECT count(*) AS count FROM (SELECT to_regclass('{relation}') AS r) x WHERE r IS NOT NULL"),
    )
    .await
        == 1
}

#[tokio::test]
async fn a_migration_that_commits_or_begins_is_refused_before_anything_runs() {
    let (db, set, dir) = empty_with_migrations().await;
    set.write(FIRST, "CREATE TABLE first (id int);\n", None);
    set.write(
        SECOND,
        "CREATE TABLE half (id int);\nCOMMIT;\nCREATE TABLE second (id nope);\n",
        None,
    );
    let mut conn = db.connect().await;
    for (expected, line) in [
        ("up.sql line 2 (`COMMIT;`)", "COMMIT"),
        ("up.sql line 1 (`begin;`)", "BEGIN"),
    ] {
        if line == "BEGIN" {
            set.write(
                SECOND,
                "begin;\nCREATE TABLE half (id int);\nCOMMIT;\n",
                None,
            );
        }
        let out = run(&db, &["migrate", "--migrations-dir", &dir]).await;
        assert_eq!(out.code, Some(1), "{}", out.stderr);
        for expected in [
            SECOND,
            expected,
            "refused before anything ran",
            "starts or ends a transaction",
        ] {
            assert!(
                out.stderr.contains(expected),
                "{expected} in {}",
                out.stderr
            );
        }
        for table in ["first", "half", "__mv_migration_history"] {
            assert!(!exists(&mut conn, table).await, "{table} after {line}");
        }
    }

    set.write(SECOND, "CREATE TABLE second (id int);\n", None);
    let out = run(&db, &["migrate", "--migrations-dir", &dir]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(count(&mut conn, APPLIED).await, 2);
}

#[tokio::test]
async fn session_settings_do_not_reach_the_next_migration() {
    let (db, set, dir) = empty_with_migrations().await;
    set.write(
        FIRST,
        "CREATE SCHEMA elsewhere;\nCREATE TABLE public.notes (id int);\n\
         SET search_path = elsewhere;\nSET session_replication_role = replica;\n\
         CREATE TEMP TABLE notes (temporary_only int);\n",
        None,
    );
    set.write(
        SECOND,
        "CREATE TABLE moved (id int);\nALTER TABLE notes ADD COLUMN body text;\n\
         SELECT 1 / (current_setting('session_replication_role') = 'origin')::int;\n",
        None,
    );
    // What pg_dump writes at the top of its files, then a role that the
    // runner's records and the next migration must not run as.
    set.write(
        THIRD,
        "SELECT pg_catalog.set_config('search_path', '', false);\nCREATE TABLE public.dumped (id int);\n\
         SET ROLE pg_read_all_data;\n",
        None,
    )
    .metadata(THIRD, "run_in_transaction = false\n");
    set.write(
        "2026-12-01-000004_fourth",
        "SET search_path = '';\nCREATE TABLE public.fourth (id int);\n",
        None,
    );
    let out = run(&db, &["migrate", "--migrations-dir", &dir]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);

    let mut conn = db.connect().await;
    assert!(exists(&mut conn, "public.moved").await);
    assert!(!exists(&mut conn, "elsewhere.moved").await);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS count FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = 'notes' AND column_name = 'body'"
        )
        .await,
        1,
        "the table altered is public.notes, not the first migration's temporary one"
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS count FROM __mv_migration_history WHERE state = 'applied'"
        )
        .await,
        4
    );
    assert_eq!(count(&mut conn, APPLIED).await, 4);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS count FROM pg_tables WHERE tablename = 'fourth' AND tableowner = current_user"
        )
        .await,
        1
    );
}

/// A table with duplicates in `dup`, so a unique index on it fails.
const WITH_T: &str = "CREATE TABLE t (a int, b int, dup int);\n\
                      INSERT INTO t SELECT i, i, i % 2 FROM generate_series(1, 10) i;\n";

#[tokio::test]
async fn a_migration_outside_a_transaction_runs_one_statement_at_a_time() {
    let (db, set, dir) = empty_with_migrations().await;
    set.write(FIRST, WITH_T, None);
    set.write(
        SECOND,
        "-- Two indexes, built without blocking writes.\n\
         CREATE INDEX CONCURRENTLY t_a ON t (a);\nCREATE INDEX CONCURRENTLY t_b ON t (b);\n",
        None,
    )
    .metadata(SECOND, "run_in_transaction = false\n");
    let out = run(&db, &["migrate", "--migrations-dir", &dir]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let mut conn = db.connect().await;
    let valid =
        "SELECT count(*) AS count FROM pg_index WHERE indisvalid AND indrelid = 't'::regclass";
    assert_eq!(count(&mut conn, valid).await, 2);

    set.write(
        THIRD,
        "CREATE INDEX CONCURRENTLY t_ab ON t (a, b);\n\
         CREATE UNIQUE INDEX CONCURRENTLY t_dup ON t (dup);\n\
         CREATE INDEX CONCURRENTLY t_ba ON t (b, a);\n",
        None,
    )
    .metadata(THIRD, "run_in_transaction = false\n");
    let out = run(&db, &["migrate", "--migrations-dir", &dir]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    for expected in [
        THIRD,
        "up.sql line 2, column 1 (`CREATE UNIQUE INDEX CONCURRENTLY t_dup ON t (dup);`)",
        "could not create unique index",
        "statement 2 of 3 failed, those before it are done and none after it ran",
        "migrate resolve 20261201000003",
    ] {
        assert!(
            out.stderr.contains(expected),
            "{expected} in {}",
            out.stderr
        );
    }
    assert!(exists(&mut conn, "t_ab").await, "the statement before ran");
    assert!(!exists(&mut conn, "t_ba").await, "the one after did not");
}

#[tokio::test]
async fn resolve_works_from_the_command_line_in_every_documented_form() {
    let (db, set, dir) = empty_with_migrations().await;
    set.write(FIRST, WITH_T, None);
    set.write(
        SECOND,
        "CREATE UNIQUE INDEX CONCURRENTLY t_dup ON t (dup);\n",
        None,
    )
    .metadata(SECOND, "run_in_transaction = false\n");
    let out = run(&db, &["migrate", "--migrations-dir", &dir]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let suggested = "mv-admin migrate resolve 20261201000002 --rolled-back";
    assert!(out.stderr.contains(suggested), "{}", out.stderr);
    let blocked = run(&db, &["migrate", "--migrations-dir", &dir]).await;
    assert_eq!(blocked.code, Some(1), "{}", blocked.stderr);
    assert!(blocked.stderr.contains(suggested), "{}", blocked.stderr);

    // The operator drops the invalid index and the duplicates, says so, and
    // migrates: exactly the command the message gave.
    let mut conn = db.connect().await;
    conn.batch_execute("DROP INDEX t_dup; DELETE FROM t WHERE a > 2")
        .await
        .expect("cleaning up");
    let mut args = vec!["migrate", "--migrations-dir", &dir];
    args.extend(suggested.split(' ').skip(2));
    args.extend(["--reason", "dropped the invalid index"]);
    let out = run(&db, &args).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout
            .contains(&format!("recorded {SECOND} as rolled back")),
        "{}",
        out.stdout
    );
    let out = run(&db, &["migrate", "--migrations-dir", &dir]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(count(&mut conn, APPLIED).await, 2);

    // Finished by hand instead, named by its folder, as JSON.
    conn.batch_execute("INSERT INTO t VALUES (1, 12, 7)")
        .await
        .expect("a duplicate");
    set.write(
        THIRD,
        "CREATE UNIQUE INDEX CONCURRENTLY t_b ON t (b);\nCREATE UNIQUE INDEX CONCURRENTLY t_a ON t (a);\n",
        None,
    )
    .metadata(THIRD, "run_in_transaction = false\n");
    let out = run(&db, &["migrate", "--migrations-dir", &dir]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    conn.batch_execute(
        "DROP INDEX t_a; DELETE FROM t WHERE b = 12; CREATE UNIQUE INDEX t_a ON t (a)",
    )
    .await
    .expect("finishing by hand");
    let out = run(
        &db,
        &[
            "--json",
            "migrate",
            "--migrations-dir",
            &dir,
            "resolve",
            THIRD,
            "--completed",
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let resolved: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(resolved["as"], "completed", "{resolved}");
    let status = run(&db, &["migrate", "--migrations-dir", &dir, "status"]).await;
    assert!(
        status.stdout.contains(&format!("applied      {THIRD}")),
        "{}",
        status.stdout
    );

    // Neither flag, or both, is a usage error naming them.
    for flags in [&[][..], &["--rolled-back", "--completed"][..]] {
        let mut args = vec!["migrate", "resolve", "20261201000003"];
        args.extend(flags);
        let out = run(&db, &args).await;
        assert_eq!(out.code, Some(2), "{}", out.stderr);
        assert!(out.stderr.contains("--rolled-back"), "{}", out.stderr);
    }
}
