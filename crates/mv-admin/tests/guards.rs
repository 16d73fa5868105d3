//! What the data commands refuse, and what they do when run at once: the
//! production mark, concurrent seeds, one JSON document per command, and
//! numbers too large to mean anything.

use std::process::{Command, Output};
use std::thread;

use local_pg::harness::{TestDatabase, count, snapshot};
use mv_admin::demo::{USERS, VIDEOS};
use serde_json::Value;

fn mv_admin(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mv-admin"))
        .arg("--database-url")
        .arg(url)
        .args(args)
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("mv-admin runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Stdout of a command that must succeed, as exactly one JSON document.
fn json(url: &str, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let output = mv_admin(url, &all);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        text(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?} printed more or less than one JSON document ({e}): {}",
            text(&output.stdout)
        )
    })
}

#[tokio::test]
async fn a_database_marked_production_refuses_every_command_that_writes_user_data() {
    let database = TestDatabase::new().await;
    let url = database.url();
    let mut conn = database.connect().await;
    db::models::NewUser::new("customer", "A Customer", "customer@example.com")
        .insert(&mut conn)
        .await
        .expect("a real customer");
    let marked = mv_admin(url, &["db", "mark", "production"]);
    assert!(marked.status.success(), "{}", text(&marked.stderr));
    let before = snapshot(&mut conn).await;

    let commands: [&[&str]; 7] = [
        &["seed"],
        &["seed", "--reset", "--yes"],
        &["quickstart"],
        &["seed", "--users", "2", "--videos", "10"],
        &["bench", "--workload", "get", "--ops", "1", "--warmup", "0"],
        &["hold-leases", "--worker", "drill"],
        &["--json", "seed"],
    ];
    for args in commands {
        let output = mv_admin(url, args);
        let message = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {message}");
        assert!(
            message.contains("the database is marked production")
                && message.contains("__mv_environment"),
            "{args:?}: {message}"
        );
        assert!(output.stdout.is_empty(), "{args:?}");
        assert_eq!(snapshot(&mut conn).await, before, "{args:?} changed data");
    }
    // Reading stays allowed.
    assert_eq!(json(url, &["users", "list"])[0]["id"], "customer");
}

#[tokio::test]
async fn concurrent_seeds_and_quickstarts_all_succeed_and_one_does_the_work() {
    let database = TestDatabase::new().await;
    let url = database.url().to_string();
    let runs: Vec<_> = [
        &["seed"][..],
        &["seed"],
        &["quickstart"],
        &["seed"],
        &["quickstart"],
        &["seed"],
    ]
    .into_iter()
    .map(|args| {
        let url = url.clone();
        thread::spawn(move || (args, json(&url, args)))
    })
    .collect();
    let mut created_users = 0;
    let mut created_videos = 0;
    for run in runs {
        let (args, report) = run.join().expect("a run");
        let seed = if args[0] == "quickstart" {
            &report["seed"]
        } else {
            &report
        };
        created_users += seed["users_created"].as_u64().expect("users_created");
        created_videos += seed["videos_created"].as_u64().expect("videos_created");
    }
    assert_eq!(created_users, USERS.len() as u64);
    assert_eq!(created_videos, VIDEOS.len() as u64);
    let mut conn = database.connect().await;
    let users = count(&mut conn, r#"SELECT count(*) AS count FROM "user""#).await;
    assert_eq!(users, USERS.len() as i64);
}

#[tokio::test]
async fn json_is_one_document_for_schema_check_and_bench() {
    let database = TestDatabase::new().await;
    let url = database.url();
    let schema_rs = local_pg::harness::repository().join("crates/db/src/schema.rs");
    let file = schema_rs.to_str().expect("a UTF-8 path");
    let checked = json(url, &["schema", "--check", "--file", file]);
    assert_eq!(checked["matches"], true, "{checked}");

    // A stale file: still one document, and exit status 1.
    let stale = tempfile::NamedTempFile::new().expect("file");
    std::fs::write(stale.path(), "// stale\n").expect("write");
    let stale = stale.path().to_str().expect("a UTF-8 path");
    let output = mv_admin(url, &["--json", "schema", "--check", "--file", stale]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    assert_eq!(report["matches"], false, "{report}");

    let loaded = json(url, &["seed", "--users", "2", "--videos", "20"]);
    assert_eq!(loaded["loaded"], true, "{loaded}");
    let reports = json(
        url,
        &[
            "bench",
            "--workload",
            "get,list",
            "--ops",
            "20",
            "--warmup",
            "0",
            "--clients",
            "2",
            "--jobs",
            "1",
        ],
    );
    let reports = reports.as_array().expect("an array of reports");
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["workload"], "get");
    assert_eq!(reports[1]["workload"], "list");
    // Without --json, a line per workload as before (scripts/bench.sh reads them).
    let output = mv_admin(
        url,
        &[
            "bench",
            "--workload",
            "get,list",
            "--ops",
            "10",
            "--warmup",
            "0",
            "--clients",
            "2",
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout).lines().count(), 2);
}

#[test]
fn absurd_numbers_are_usage_errors() {
    let url = "postgresql://nobody@127.0.0.1:1/none";
    let huge = u64::MAX.to_string();
    let cases: [&[&str]; 8] = [
        &["seed", "--users", &huge, "--videos", "1"],
        &["seed", "--users", "1", "--videos", &huge],
        &["seed", "--users", "10000001", "--videos", "1"],
        &["bench", "--ops", &huge],
        &["bench", "--warmup", &huge],
        &["bench", "--clients", "4294967295"],
        &["bench", "--jobs", "100000"],
        &["hold-leases", "--worker", "w", "--batch", &huge],
    ];
    for args in cases {
        let output = mv_admin(url, args);
        let message = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
        assert!(
            message.contains("error:") && !message.contains("panicked"),
            "{args:?}: {message}"
        );
    }
}
