//! `seed --users N --videos N` loads the rows `scripts/bench/dataset.sql`
//! makes: `checksum.sql` prints the same lines for both.

mod common;

use std::time::{Duration, Instant};

use common::{checksum, load, psql};
use local_pg::harness::TestDatabase;
use mv_admin::dataset::{Outcome, row_count};

// Enough videos for every status, keyframes and a user with several videos.
const USERS: u64 = 7;
const VIDEOS: u64 = 253;

#[tokio::test]
async fn loads_the_rows_of_dataset_sql_once() {
    let ours = TestDatabase::new().await;
    let reference = TestDatabase::new().await;
    psql(
        &reference,
        "dataset.sql",
        &[("users", USERS), ("videos", VIDEOS)],
    );
    let expected = checksum(&reference);
    assert_eq!(expected.lines().count(), 7, "{expected}");

    let outcome = load(&ours, USERS, VIDEOS).await.expect("loaded");
    assert_eq!(
        outcome,
        Outcome::Loaded {
            rows: row_count(USERS, VIDEOS)
        }
    );
    assert_eq!(checksum(&ours), expected);

    let again = load(&ours, USERS, VIDEOS).await.expect("checked");
    assert_eq!(again, Outcome::AlreadyLoaded);
    assert_eq!(checksum(&ours), expected);

    let other = load(&ours, USERS, VIDEOS + 1).await;
    let message = format!("{:#}", other.expect_err("another size is refused"));
    assert!(
        message.contains("already holds 7 users, 253 videos"),
        "{message}"
    );
    assert_eq!(checksum(&ours), expected);
}

/// A client of `database` that has run `sql`.
async fn client_running(database: &TestDatabase, sql: &str) -> tokio_postgres::Client {
    let client = db::connect_client(&database.config())
        .await
        .expect("connecting");
    client.batch_execute(sql).await.expect("setting up");
    client
}

#[tokio::test]
async fn a_failure_midway_leaves_nothing_and_the_next_run_loads_all() {
    let database = TestDatabase::new().await;
    // The last table fails, after every other one was sent.
    let client = client_running(
        &database,
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'the disk is full'; END $$; \
             CREATE TRIGGER refuse BEFORE INSERT ON keyframe FOR EACH ROW EXECUTE FUNCTION refuse()",
    )
    .await;
    let failed = load(&database, USERS, VIDEOS).await;
    let message = format!("{:#}", failed.expect_err("the load fails"));
    assert!(message.contains("the disk is full"), "{message}");
    let empty = checksum(&database);
    for line in empty.lines() {
        assert!(line.contains("|0|"), "{line} after a failed load");
    }

    client
        .batch_execute("DROP TRIGGER refuse ON keyframe")
        .await
        .expect("drop trigger");
    let outcome = load(&database, USERS, VIDEOS).await.expect("loaded");
    assert!(matches!(outcome, Outcome::Loaded { .. }));
    let reference = TestDatabase::new().await;
    psql(
        &reference,
        "dataset.sql",
        &[("users", USERS), ("videos", VIDEOS)],
    );
    assert_eq!(checksum(&database), checksum(&reference));
}

/// How long a clean load of `users` and `videos` takes here and now.
async fn clean_load_time(users: u64, videos: u64) -> Duration {
    let database = TestDatabase::new().await;
    let started = Instant::now();
    load(&database, users, videos).await.expect("loaded");
    started.elapsed()
}

/// The other backends of this database running a statement: what they
/// wait for, and the statement.
async fn busy_backends(client: &tokio_postgres::Client) -> Vec<(Option<String>, String)> {
    client
        .query(
            "SELECT wait_event, query FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle'",
            &[],
        )
        .await
        .expect("pg_stat_activity")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

#[tokio::test]
async fn a_killed_load_stops_on_the_server_and_a_rerun_takes_a_clean_load_s_time() {
    let database = TestDatabase::new().await;
    // The server is busy for a minute at the end of the last COPY, after
    // the client sent everything: the client is killed then.
    let client = client_running(
        &database,
        "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN PERFORM pg_sleep(60); RETURN NULL; END $$; \
             CREATE TRIGGER slow AFTER INSERT ON keyframe \
             FOR EACH STATEMENT EXECUTE FUNCTION slow()",
    )
    .await;
    let mut loader = std::process::Command::new(env!("CARGO_BIN_EXE_mv-admin"))
        .args(["--database-url", database.url(), "seed"])
        .args([
            "--users",
            &USERS.to_string(),
            "--videos",
            &VIDEOS.to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the loader starts");
    let waiting = Instant::now();
    while !busy_backends(&client).await.iter().any(|(waiting, query)| {
        waiting.as_deref() == Some("PgSleep") && query.starts_with("COPY keyframe")
    }) {
        assert!(
            waiting.elapsed() < Duration::from_secs(120),
            "the load never reached the keyframes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    loader.kill().expect("SIGKILL");
    loader.wait().expect("the loader ends");
    let killed = Instant::now();
    loop {
        let busy = busy_backends(&client).await;
        if busy.is_empty() {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "the server still works for the killed load: {busy:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    client
        .batch_execute("DROP TRIGGER slow ON keyframe")
        .await
        .expect("drop trigger");
    let clean = clean_load_time(USERS, VIDEOS).await;
    let started = Instant::now();
    let outcome = load(&database, USERS, VIDEOS).await.expect("loaded");
    let rerun = started.elapsed();
    assert!(matches!(outcome, Outcome::Loaded { .. }));
    assert!(
        rerun < clean * 3 + Duration::from_secs(5),
        "the rerun took {rerun:?}, a clean load {clean:?}"
    );
}

#[tokio::test]
async fn vacuums_during_a_load_do_not_slow_it() {
    const USERS: u64 = 200;
    const VIDEOS: u64 = 10_000;
    let clean = clean_load_time(USERS, VIDEOS).await;
    let database = TestDatabase::new().await;
    let vacuum = db::connect_client(&database.config())
        .await
        .expect("connecting");
    // What autovacuum does when the tables grow: VACUUM and ANALYZE,
    // skipping a table it cannot lock at once.
    let vacuuming = tokio::spawn(async move {
        loop {
            let _ = vacuum
                .batch_execute(
                    "VACUUM (SKIP_LOCKED, ANALYZE) \"user\", tag, category, video_summary, \
                     video_summary_tag, video_summary_category, keyframe",
                )
                .await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let limit = clean * 3 + Duration::from_secs(10);
    let started = Instant::now();
    let loaded = tokio::time::timeout(limit, load(&database, USERS, VIDEOS)).await;
    vacuuming.abort();
    let outcome = loaded
        .unwrap_or_else(|_| panic!("the load took more than {limit:?} (clean: {clean:?})"))
        .expect("loaded");
    assert!(
        matches!(outcome, Outcome::Loaded { .. }),
        "{:?}",
        started.elapsed()
    );
}
