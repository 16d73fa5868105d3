//! `mv-admin inspect activity` on a database where one session holds a row
//! lock inside an open transaction and another waits for it.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use assert_cmd::Command;
use local_pg::harness::{DestroyOnDrop, TestDatabase};
use local_pg::{LocalServer, ServerOptions};
use serde_json::Value;
use tokio_postgres::{Client, NoTls};

/// A cluster of the test's own: the oldest snapshot is the server's, and
/// the shared test server holds other tests' sessions.
struct OwnServer {
    _server: DestroyOnDrop,
    url: String,
}

impl OwnServer {
    async fn start() -> Self {
        let home = std::env::temp_dir().join(format!("mv-activity-{}", std::process::id()));
        let server = LocalServer::new(
            home,
            ServerOptions {
                unsafe_fast: true,
                ..ServerOptions::default()
            },
        )
        .expect("server");
        server.ensure_running().await.expect("server starts");
        server.ensure_database("activity").await.expect("database");
        let url = server.url("activity");
        Self {
            _server: DestroyOnDrop(server),
            url,
        }
    }
}

async fn session(db: &OwnServer, application: &str) -> (Client, i32) {
    let url = format!("{}&application_name={application}", db.url);
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.expect("session");
    tokio::spawn(connection);
    let pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    (client, pid)
}

/// A holder idle in a transaction with the oldest snapshot and a row lock,
/// and a waiter blocked on that lock. Returns the sessions and their pids.
async fn contention(db: &OwnServer) -> (Client, i32, Arc<Client>, i32) {
    let (admin, _) = session(db, "setup").await;
    admin
        .batch_execute(
            r#"CREATE TABLE "user" (id text PRIMARY KEY, name text);
               INSERT INTO "user" VALUES ('u1', 'One'), ('u2', 'Two')"#,
        )
        .await
        .expect("users");
    let (holder, holder_pid) = session(db, "holder").await;
    holder
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1")
        .await
        .expect("snapshot");
    // A write committed after the holder's snapshot makes it the oldest.
    admin
        .batch_execute(r#"UPDATE "user" SET name = 'Two again' WHERE id = 'u2'"#)
        .await
        .expect("write");
    holder
        .batch_execute(r#"UPDATE "user" SET name = 'held' WHERE id = 'u1'"#)
        .await
        .expect("lock");
    let (waiter, waiter_pid) = session(db, "waiter").await;
    let waiter = Arc::new(waiter);
    let blocked = waiter.clone();
    tokio::spawn(async move {
        let _ = blocked
            .batch_execute(r#"UPDATE "user" SET name = 'waiting' WHERE id = 'u1'"#)
            .await;
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    (holder, holder_pid, waiter, waiter_pid)
}

fn mv_admin(url: &str) -> Command {
    let mut cmd = Command::cargo_bin("mv-admin").expect("the binary");
    cmd.env("NO_COLOR", "1").args(["--database-url", url]);
    cmd
}

#[tokio::test]
async fn activity_shows_idle_transactions_lock_waits_and_the_oldest_snapshot() {
    let db = OwnServer::start().await;
    let (_holder, holder, _waiter, waiter) = contention(&db).await;

    let out = mv_admin(&db.url)
        .args(["--json", "inspect", "activity", "--long", "0s"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let activity: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");

    let states: Vec<(&str, &str)> = activity["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| {
            (
                s["state"].as_str().expect("state"),
                s["application"].as_str().expect("application"),
            )
        })
        .collect();
    assert!(
        states.contains(&("idle in transaction", "holder")),
        "{states:?}"
    );
    assert!(states.contains(&("active", "waiter")), "{states:?}");

    let pids = |list: &str| -> Vec<i64> {
        activity[list]
            .as_array()
            .expect("list")
            .iter()
            .map(|s| s["pid"].as_i64().expect("pid"))
            .collect()
    };
    assert_eq!(pids("idle_in_transaction"), vec![i64::from(holder)]);
    assert!(pids("long_transactions").contains(&i64::from(holder)));

    let waits = activity["lock_waits"].as_array().expect("lock waits");
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert_eq!(waits[0]["waiting_pid"], i64::from(waiter));
    assert_eq!(waits[0]["blocking_pid"], i64::from(holder));
    assert_eq!(waits[0]["blocking_state"], "idle in transaction");
    assert!(
        waits[0]["waiting_query"]
            .as_str()
            .expect("query")
            .starts_with("UPDATE \"user\""),
        "{waits:?}"
    );

    let oldest = &activity["oldest_snapshot"];
    assert_eq!(oldest["kind"], "session");
    assert_eq!(oldest["id"], holder.to_string());
    assert_eq!(oldest["holder"], "holder");

    // A threshold longer than the transactions lists none as long.
    let out = mv_admin(&db.url)
        .args(["--json", "inspect", "activity", "--long", "1h"])
        .output()
        .expect("run");
    let activity: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(activity["long_transactions"], Value::Array(Vec::new()));

    let out = mv_admin(&db.url)
        .args(["inspect", "activity"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    for expected in [
        "Sessions (this database)",
        "Long transactions (open 1m or more)",
        "Idle in transaction",
        "Lock waits",
        "Oldest snapshot holding back vacuum",
        &format!("session {holder} (holder)"),
        "idle in transaction",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
}

#[tokio::test]
async fn activity_watch_prints_a_document_per_look() {
    let db = TestDatabase::new().await;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mv-admin"))
        .args(["--database-url", db.url(), "--json", "inspect", "activity"])
        .args(["--watch", "200ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    let stdout = child.stdout.take().expect("stdout");
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .take(3)
            .map(|line| line.expect("a line"))
            .collect::<Vec<_>>()
    })
    .await
    .expect("read");
    child.kill().expect("stop the watch");
    let _ = child.wait();
    assert_eq!(lines.len(), 3);
    for line in lines {
        let activity: Value = serde_json::from_str(&line).expect("a JSON document per line");
        assert!(activity["sessions"].is_array());
    }
}

#[test]
fn a_bad_watch_interval_is_a_usage_error() {
    Command::cargo_bin("mv-admin")
        .expect("the binary")
        .args([
            "--database-url",
            "postgresql:///nowhere",
            "inspect",
            "activity",
        ])
        .args(["--watch", "1ms"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("at least 100ms"));
}
