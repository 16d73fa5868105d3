//! push, generate and the production mark from the outside: the binary,
//! run in a temporary copy of the repository, against a test database.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use diesel_async::SimpleAsyncConnection;
use local_pg::harness::{Workspace, count, replace, repository, seeded, snapshot};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use schema_engine::catalog::{Schema, introspect};
use schema_engine::unique_name;

fn mv_admin(dir: &Path, url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mv-admin"));
    cmd.current_dir(dir)
        .env_remove("DATABASE_URL")
        .arg("--database-url")
        .arg(url);
    cmd
}

fn add_note(sql: &str) -> String {
    sql.to_string()
        + "
CREATE TABLE note (
    id text PRIMARY KEY,
    video_summary_id text NOT NULL REFERENCES video_summary (id) ON DELETE CASCADE,
    body text NOT NULL
);
COMMENT ON TABLE note IS 'A user''s note on a video.';
"
}

#[tokio::test]
async fn edit_push_generate_check() {
    let workspace = Workspace::new();
    let root = workspace.root();
    let (db, mut conn) = seeded().await;
    workspace.edit_schema(add_note);

    mv_admin(root, db.url())
        .arg("push")
        .assert()
        .success()
        .stdout(contains("CREATE TABLE note (\n    id text NOT NULL,"))
        .stdout(contains(
            "ALTER TABLE note ADD CONSTRAINT note_video_summary_id_fkey",
        ))
        .stdout(contains("applied 3 statement(s) in one transaction"))
        .stdout(contains("wrote crates/db/src/schema.rs"));
    assert!(schema(&mut conn).await.tables.contains_key("note"));
    let schema_rs = std::fs::read_to_string(workspace.schema_rs()).expect("schema.rs");
    assert!(
        schema_rs.contains("    /// A user's note on a video.\n    note (id) {"),
        "{schema_rs}"
    );
    assert!(schema_rs.contains("diesel::joinable!(note -> video_summary (video_summary_id));"));

    // Pushed, but no migration yet: CI fails and shows the difference.
    mv_admin(root, db.url())
        .args(["generate", "--check"])
        .assert()
        .code(1)
        .stdout(contains("    CREATE TABLE note ("))
        .stdout(contains(
            "crates/db/src/schema.rs differs from what migrations produce",
        ))
        .stderr(contains(
            "error: crates/db/schema.sql, migrations and crates/db/src/schema.rs disagree",
        ));

    // A version after every real migration's, as generate requires.
    mv_admin(root, db.url())
        .args(["generate", "add_note", "--version", "2099-01-01-000000"])
        .assert()
        .success()
        .stdout(contains(
            "wrote migrations/2099-01-01-000000_add_note/up.sql and down.sql",
        ))
        .stdout(contains("note: down.sql loses data"));
    let down = std::fs::read_to_string(
        workspace
            .migrations()
            .join("2099-01-01-000000_add_note/down.sql"),
    )
    .expect("down.sql");
    assert_eq!(
        down,
        "-- Written by `mv-admin generate` from schema.sql; review it before committing.\n\
         -- WARNING: reverting this migration loses data; the statements that do are marked below.\n\
         \n\
         -- Loses data: drops table note and all its rows.\n\
         DROP TABLE note;\n"
    );

    mv_admin(root, db.url())
        .args(["generate", "--check"])
        .assert()
        .success()
        .stdout(contains("agree"));
    mv_admin(root, db.url())
        .args(["generate", "again"])
        .assert()
        .success()
        .stdout(contains(
            "crates/db/schema.sql matches the migrations; no migration was written",
        ));
    // The repository's migrations and add_note, nothing more.
    let count = |dir: &Path| std::fs::read_dir(dir).expect("dir").count();
    assert_eq!(
        count(&workspace.migrations()),
        count(&repository().join("migrations")) + 1
    );
    mv_admin(root, db.url())
        .arg("push")
        .assert()
        .success()
        .stdout(contains(
            "the database already matches crates/db/schema.sql",
        ));
}

/// What CI runs, on the repository's own files, which hold functions and a
/// trigger.
#[tokio::test]
async fn generate_check_passes_on_the_repository() {
    let (db, _conn) = seeded().await;
    mv_admin(&repository(), db.url())
        .args(["generate", "--check"])
        .assert()
        .success()
        .stdout(contains(
            "crates/db/schema.sql, migrations and crates/db/src/schema.rs agree",
        ));
}

#[tokio::test]
async fn destructive_steps_are_refused_with_exit_1() {
    let workspace = Workspace::new();
    let (db, mut conn) = seeded().await;
    let before = schema(&mut conn).await;
    workspace.edit_schema(|sql| replace(sql, "    channel_name text,\n", ""));
    mv_admin(workspace.root(), db.url())
        .arg("push")
        .assert()
        .code(1)
        .stdout("")
        .stderr(contains(
            "drops column video_summary.channel_name, which holds a value in 2 rows; pass --accept-data-loss",
        ));
    assert_eq!(schema(&mut conn).await, before);
    mv_admin(workspace.root(), db.url())
        .args(["push", "--accept-data-loss"])
        .assert()
        .success()
        .stdout(contains(
            "ALTER TABLE video_summary DROP COLUMN channel_name;",
        ));
}

#[tokio::test]
async fn a_dry_run_prints_the_plan_as_json() {
    let workspace = Workspace::new();
    let (db, mut conn) = seeded().await;
    let before = schema(&mut conn).await;
    workspace.edit_schema(|sql| {
        replace(
            sql,
            "    description text,\n    channel_name",
            "    description text NOT NULL,\n    channel_name",
        )
    });
    // The plan holds a step push would refuse: still one JSON document, and
    // exit 3.
    let output = mv_admin(workspace.root(), db.url())
        .args(["--json", "push", "--dry-run"])
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let plan: serde_json::Value = serde_json::from_slice(&output).expect("JSON");
    assert_eq!(plan["refused"], 1);
    assert_eq!(plan["applied"], false);
    assert_eq!(plan["dry_run"], true);
    let step = &plan["steps"][0];
    assert_eq!(step["action"], "set_not_null");
    assert_eq!(step["table"], "video_summary");
    assert_eq!(step["column"], "description");
    assert_eq!(step["hazard"]["kind"], "nulls_in_column");
    assert_eq!(step["rows"], 2);
    assert_eq!(step["destructive"], true);
    assert_eq!(schema(&mut conn).await, before);
}

#[tokio::test]
async fn the_production_mark_from_the_command_line() {
    let workspace = Workspace::new();
    let (db, mut conn) = seeded().await;
    workspace.edit_schema(add_note);
    let before = schema(&mut conn).await;
    mv_admin(workspace.root(), db.url())
        .args(["db", "mark", "production"])
        .assert()
        .success()
        .stdout(contains("marked the database production"));
    mv_admin(workspace.root(), db.url())
        .arg("push")
        .assert()
        .code(1)
        .stderr(contains(
            "error: the database is marked production, so push refuses it",
        ));
    assert_eq!(schema(&mut conn).await, before);
    // Without a terminal to confirm on, the mark stays.
    mv_admin(workspace.root(), db.url())
        .args(["db", "unmark"])
        .assert()
        .code(1)
        .stderr(contains("not confirmed; the mark stays"));
    mv_admin(workspace.root(), db.url())
        .args(["db", "unmark", "--yes"])
        .assert()
        .success()
        .stdout(contains("removed the production mark"));
    mv_admin(workspace.root(), db.url())
        .arg("push")
        .assert()
        .success();
}

#[tokio::test]
async fn bad_input_gets_one_clear_line() {
    let workspace = Workspace::new();
    let (db, _conn) = seeded().await;
    let empty = tempfile::tempdir().expect("temporary folder");
    mv_admin(empty.path(), db.url())
        .arg("push")
        .assert()
        .code(1)
        .stderr(contains(
            "error: Failed to read crates/db/schema.sql (run from the repository's root or pass --schema)",
        ));
    mv_admin(workspace.root(), db.url())
        .args(["generate", "Add Notes"])
        .assert()
        .code(1)
        .stderr("error: the migration name \"Add Notes\" must be lower-case letters, digits and underscores\n");
    mv_admin(workspace.root(), db.url())
        .args(["push", "--rename", "title"])
        .assert()
        .code(2)
        .stderr(contains("\"title\" is not a rename: expected old_table=new_table or table.old_column=new_column"));
    // The password never shows, not even when the server is unreachable.
    mv_admin(
        workspace.root(),
        "postgres://alice:s3cret@127.0.0.1:1/mindvault",
    )
    .arg("push")
    .assert()
    .code(1)
    .stderr(contains("alice:***@127.0.0.1"))
    .stderr(contains("s3cret").not());
}

async fn schema(conn: &mut diesel_async::AsyncPgConnection) -> Schema {
    introspect(conn).await.expect("introspect")
}

/// mv-admin as a plain process, its output captured.
fn process(dir: &Path, url: &str, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mv-admin"));
    command
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .arg("--database-url")
        .arg(url)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs mv-admin to the end; its exit code, stderr and process id.
fn run_with_pid(dir: &Path, url: &str, args: &[&str]) -> (Option<i32>, String, u32) {
    let child = process(dir, url, args).spawn().expect("spawning mv-admin");
    let pid = child.id();
    let output = child.wait_with_output().expect("waiting for mv-admin");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr, pid)
}

#[tokio::test]
async fn schema_sql_cannot_reach_outside_its_scratch_database() {
    let workspace = Workspace::new();
    let (db, mut conn) = seeded().await;
    let (structure, rows) = (schema(&mut conn).await, snapshot(&mut conn).await);
    let role = unique_name("mv_pwned_");
    let marker = std::env::temp_dir().join(unique_name("mv-pwned-"));
    let original = workspace.sql();
    let attacks = [
        (
            format!("CREATE ROLE {role} SUPERUSER LOGIN;"),
            "must be superuser to create superusers",
        ),
        (
            format!("COPY (SELECT 1) TO PROGRAM 'touch {}';", marker.display()),
            "pg_execute_server_program",
        ),
        (
            format!(
                "CREATE EXTENSION dblink;\nSELECT dblink_exec('{}', 'CREATE TABLE pwned (id int)');",
                db.url()
            ),
            "permission denied to create extension",
        ),
    ];
    for (attack, refusal) in &attacks {
        std::fs::write(workspace.schema_sql(), format!("{original}\n{attack}\n"))
            .expect("writing schema.sql");
        for args in [
            &["push", "--dry-run"][..],
            &["generate", "pwned", "--version", "2099-01-01-000000"][..],
        ] {
            let (code, stderr, pid) = run_with_pid(workspace.root(), db.url(), args);
            assert_eq!(code, Some(1), "{args:?} with {attack}: {stderr}");
            assert!(stderr.contains(refusal), "{refusal} in {stderr}");
            assert!(stderr.contains("crates/db/schema.sql line"), "{stderr}");
            // Its scratch database and role went with it.
            let left = format!(
                "SELECT (SELECT count(*) FROM pg_database WHERE datname LIKE 'mv\\_scratch\\_{pid}\\_%') \
                 + (SELECT count(*) FROM pg_roles WHERE rolname LIKE 'mv\\_scratch\\_{pid}\\_%') AS count"
            );
            assert_eq!(count(&mut conn, &left).await, 0, "{args:?} left {left}");
        }
    }
    let role_exists = format!("SELECT count(*) AS count FROM pg_roles WHERE rolname = '{role}'");
    assert_eq!(count(&mut conn, &role_exists).await, 0, "a role was made");
    assert!(!marker.exists(), "a program ran on the server");
    assert_eq!(schema(&mut conn).await, structure, "the database changed");
    assert_eq!(snapshot(&mut conn).await, rows);
    assert!(
        !workspace
            .migrations()
            .join("2099-01-01-000000_pwned")
            .exists()
    );
}

#[tokio::test]
async fn push_gives_up_behind_a_long_transaction() {
    let workspace = Workspace::new();
    let (db, mut conn) = seeded().await;
    let before = schema(&mut conn).await;
    workspace.edit_schema(|sql| {
        replace(
            sql,
            "    channel_name text,\n",
            "    channel_name text,\n    notes text,\n",
        )
    });
    // A long transaction that read the table holds a lock the new column
    // must wait for.
    let mut holder = db.connect().await;
    holder
        .batch_execute("BEGIN; SELECT count(*) FROM video_summary")
        .await
        .expect("the long transaction");

    for (flag, limit) in [(None, 5), (Some("1s"), 1)] {
        let mut args = vec!["push"];
        args.extend(flag.iter().flat_map(|value| ["--lock-timeout", value]));
        let started = Instant::now();
        let push = tokio::process::Command::from(process(workspace.root(), db.url(), &args))
            .kill_on_drop(true)
            .output();
        let push = tokio::spawn(push);
        // Once push waits for its lock, the application's queries on the
        // table queue behind it: for the lock timeout, not longer.
        wait_for_lock_wait(&mut conn, "ALTER TABLE video_summary%").await;
        let mut app = db.connect().await;
        let queued = Instant::now();
        count(&mut app, "SELECT count(*) AS count FROM video_summary").await;
        let app_waited = queued.elapsed();
        let output = push.await.expect("push").expect("running push");
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("lock timeout"), "{stderr}");
        assert!(
            took < Duration::from_secs(limit + 5),
            "push waited {took:?} with a lock timeout of {limit}s"
        );
        assert!(
            app_waited < Duration::from_secs(limit + 3),
            "an application query waited {app_waited:?} behind push"
        );
        assert_eq!(schema(&mut conn).await, before, "nothing changed");
    }

    holder.batch_execute("COMMIT").await.expect("commit");
    mv_admin(workspace.root(), db.url())
        .arg("push")
        .assert()
        .success()
        .stdout(contains("ALTER TABLE video_summary ADD COLUMN notes text;"));
}

/// Waits until a session waits for a lock, running a statement like `like`.
async fn wait_for_lock_wait(conn: &mut diesel_async::AsyncPgConnection, like: &str) {
    let started = Instant::now();
    let waiting = format!(
        "SELECT count(*) AS count FROM pg_stat_activity \
         WHERE wait_event_type = 'Lock' AND query LIKE '{like}'"
    );
    while count(conn, &waiting).await == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no session waited for a lock running {like}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_dry_run_exits_3_when_push_would_refuse_and_acceptance_narrows() {
    let workspace = Workspace::new();
    let root = workspace.root();
    let (db, mut conn) = seeded().await;
    let before = schema(&mut conn).await;
    workspace.edit_schema(|sql| {
        let sql = replace(sql, "    channel_name text,\n", "");
        replace(&sql, "    duration integer,\n", "    duration smallint,\n")
    });
    mv_admin(root, db.url())
        .args(["push", "--dry-run"])
        .assert()
        .code(3)
        .stdout(contains(
            "-- refused without --accept-data-loss=drop-column: drops column video_summary.channel_name",
        ))
        .stdout(contains(
            "-- refused without --accept-data-loss=type-change: changes video_summary.duration",
        ))
        .stderr(contains("error: push would refuse 2 step(s) of this plan"));
    // Accepting one kind leaves the other refused.
    mv_admin(root, db.url())
        .args(["push", "--dry-run", "--accept-data-loss=type-change"])
        .assert()
        .code(3)
        .stdout(contains(
            "-- accepted by --accept-data-loss: changes video_summary.duration",
        ))
        .stderr(contains("push would refuse 1 step(s)"));
    mv_admin(root, db.url())
        .args(["push", "--accept-data-loss=type-change"])
        .assert()
        .code(1)
        .stderr(contains("drops column video_summary.channel_name"))
        .stderr(contains("--accept-data-loss=drop-column"));
    assert_eq!(schema(&mut conn).await, before);
    mv_admin(root, db.url())
        .args(["push", "--accept-data-loss=kittens"])
        .assert()
        .code(2)
        .stderr(contains("type-change"));
    mv_admin(root, db.url())
        .args([
            "--json",
            "push",
            "--dry-run",
            "--accept-data-loss=type-change,drop-column",
        ])
        .assert()
        .success()
        .stdout(contains("\"refused\":0"));
    mv_admin(root, db.url())
        .args(["push", "--accept-data-loss=type-change,drop-column"])
        .assert()
        .success()
        .stdout(contains(
            "ALTER TABLE video_summary DROP COLUMN channel_name;",
        ));
    mv_admin(root, db.url())
        .args(["push", "--dry-run"])
        .assert()
        .success()
        .stdout(contains("dry run: 0 statement(s) planned"));
}
