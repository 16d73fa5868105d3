//! The pool under faults, with the pipeline as the load: a server restart,
//! terminated backends, cancelled requests and exhaustion. Requests caught
//! in a fault may fail, with a clear error; every later one succeeds, and
//! no video is lost or processed twice.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use db::models::{AiContent, NewKeyframe, NewUser};
use db::pipeline::{self, RetryPolicy};
use db::{Db, DbConfig, Error};
use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use local_pg::harness::{DestroyOnDrop, TestDatabase, count};
use local_pg::{LocalServer, ServerOptions};

/// Short, so claims lost in a fault come back quickly.
const LEASE: Duration = Duration::from_secs(1);
const RETRY_AT_ONCE: RetryPolicy = RetryPolicy {
    max_attempts: 1000,
    base_delay: Duration::ZERO,
    max_delay: Duration::ZERO,
};

fn frames() -> [NewKeyframe<'static>; 2] {
    [
        NewKeyframe {
            timestamp: 1,
            image_url: "https://cdn.example.com/1.jpg",
            description: None,
        },
        NewKeyframe {
            timestamp: 2,
            image_url: "https://cdn.example.com/2.jpg",
            description: None,
        },
    ]
}

fn pool_config(url: &str) -> DbConfig {
    DbConfig {
        pool_size: 4,
        pool_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(1),
        ..DbConfig::default()
    }
    .with_url(url)
}

/// One request through the pool: claim two videos and complete them, or,
/// with nothing to claim, rescue expired leases and say whether all is done.
async fn request(db: &Db, worker: &str) -> db::Result<bool> {
    let mut conn = db.get().await?;
    let jobs = pipeline::claim(&mut conn, worker, 2, LEASE).await?;
    for job in &jobs {
        let content = AiContent::new(format!("by {worker}"), [&job.id]);
        pipeline::complete(&mut conn, &job.id, job.attempt, &content, &frames()).await?;
    }
    if !jobs.is_empty() {
        return Ok(false);
    }
    pipeline::rescue(&mut conn, &RETRY_AT_ONCE).await?;
    let stats = pipeline::stats(&mut conn).await?;
    Ok(stats.counts.pending + stats.counts.processing == 0)
}

/// What one request did, and when it began.
struct Outcome {
    started: Instant,
    took: Duration,
    error: Option<Error>,
}

/// Workers sending requests through one pool until told to stop.
struct Load {
    stop: Arc<AtomicBool>,
    workers: tokio::task::JoinSet<Vec<Outcome>>,
}

impl Load {
    fn start(db: &Db, workers: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut set = tokio::task::JoinSet::new();
        for w in 0..workers {
            let db = db.clone();
            let stop = stop.clone();
            set.spawn(async move {
                let name = format!("worker-{w}");
                let mut outcomes = Vec::new();
                while !AtomicBool::load(&stop, Ordering::Relaxed) {
                    let started = Instant::now();
                    let result = request(&db, &name).await;
                    let idle = matches!(result, Ok(true));
                    outcomes.push(Outcome {
                        started,
                        took: started.elapsed(),
                        error: result.err(),
                    });
                    if idle {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                outcomes
            });
        }
        Self { stop, workers: set }
    }

    /// Stops the workers once every video is completed (at most `within`);
    /// returns every outcome.
    async fn finish(mut self, admin: &mut AsyncPgConnection, within: Duration) -> Vec<Outcome> {
        let deadline = Instant::now() + within;
        while remaining(admin).await > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.stop.store(true, Ordering::Relaxed);
        let mut outcomes = Vec::new();
        while let Some(joined) = self.workers.join_next().await {
            outcomes.extend(joined.expect("worker task"));
        }
        outcomes
    }
}

async fn remaining(conn: &mut AsyncPgConnection) -> i64 {
    count(
        conn,
        "SELECT count(*) AS count FROM video_summary WHERE processing_status <> 'completed'",
    )
    .await
}

/// Every video completed once: its own content, one set of keyframes, no
/// lease left.
async fn assert_all_processed_once(conn: &mut AsyncPgConnection, videos: i64) {
    assert_eq!(remaining(conn).await, 0, "every video is completed");
    let total = count(conn, "SELECT count(*) AS count FROM video_summary").await;
    assert_eq!(total, videos);
    let wrong = count(
        conn,
        "SELECT count(*) AS count FROM video_summary v
         WHERE (SELECT count(*) FROM keyframe k WHERE k.video_summary_id = v.id) <> 2
            OR v.ai_generated_content->'keyPoints'->>0 <> v.id
            OR v.lease_expires_at IS NOT NULL",
    )
    .await;
    assert_eq!(wrong, 0, "a video was lost or written twice");
}

/// The failures of requests that began before `fault_over`, after checking
/// that none began later and that each says what happened.
fn failures_before(outcomes: &[Outcome], fault_over: Instant) -> Vec<String> {
    let mut messages = Vec::new();
    for outcome in outcomes {
        let Some(error) = &outcome.error else {
            continue;
        };
        assert!(
            outcome.started < fault_over,
            "a request that began {:?} after the fault failed: {error}",
            outcome.started - fault_over
        );
        assert!(
            matches!(
                error,
                Error::ConnectionLost { .. } | Error::Connect { .. } | Error::PoolTimeout { .. }
            ),
            "not a clear connection error: {error:?}"
        );
        messages.push(format!(
            "{:?} before the fault ended, after {:?}: {error}",
            fault_over - outcome.started,
            outcome.took
        ));
    }
    let after = outcomes
        .iter()
        .filter(|outcome| outcome.started >= fault_over)
        .count();
    assert!(after > 20, "too few requests after the fault ({after})");
    messages
}

async fn seed(conn: &mut AsyncPgConnection, videos: i32) {
    common::user(conn, "alice").await;
    common::pending_videos(conn, "alice", videos).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_recovers_by_itself_from_a_server_restart() {
    let home = std::env::temp_dir().join(format!("mv-restart-test-{}", std::process::id()));
    let options = ServerOptions {
        unsafe_fast: true,
        ..ServerOptions::default()
    };
    let server = LocalServer::new(&home, options).expect("server");
    let _cleanup = DestroyOnDrop(server.clone());
    server.ensure_running().await.expect("the server starts");
    let url = server.url("postgres");
    let mut admin = db::connect(&pool_config(&url)).await.expect("connect");
    schema_engine::migrations::run_pending(db::connect(&pool_config(&url)).await.expect("connect"))
        .await
        .expect("migrate");
    seed(&mut admin, 600).await;
    drop(admin);

    let db = Db::connect(&pool_config(&url)).await.expect("pool");
    let load = Load::start(&db, 6);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server.stop().await.expect("stop"), "the server was running");
    tokio::time::sleep(Duration::from_millis(300)).await;
    server
        .ensure_running()
        .await
        .expect("the server starts again");
    let restarted = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let mut admin = db::connect(&pool_config(&url)).await.expect("connect");
    let outcomes = load.finish(&mut admin, Duration::from_secs(60)).await;
    let failures = failures_before(&outcomes, restarted);
    assert!(
        !failures.is_empty(),
        "the restart should have cut some request short"
    );
    eprintln!("{} requests, failures: {failures:#?}", outcomes.len());
    assert_all_processed_once(&mut admin, 600).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_recovers_by_itself_from_terminated_backends() {
    let test_db = TestDatabase::new().await;
    let mut admin = test_db.connect().await;
    seed(&mut admin, 600).await;

    let db = Db::connect(&pool_config(test_db.url()))
        .await
        .expect("pool");
    let load = Load::start(&db, 6);
    let mut terminated = 0;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        // The timeout makes it wait until each backend is gone.
        terminated += count(
            &mut admin,
            "SELECT count(pg_terminate_backend(pid, 5000)) AS count FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await;
    }
    let over = Instant::now();
    assert!(terminated >= 3, "the pool's connections were terminated");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let outcomes = load.finish(&mut admin, Duration::from_secs(60)).await;
    let failures = failures_before(&outcomes, over);
    eprintln!("{} requests, failures: {failures:#?}", outcomes.len());
    assert_all_processed_once(&mut admin, 600).await;
}

/// Drops the inner future after it has been polled `polls` times: a request
/// cancelled at its `polls`-th await point.
struct CancelAfter<F> {
    inner: Pin<Box<F>>,
    polls: usize,
}

impl<F: Future> Future for CancelAfter<F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.polls == 0 {
            return Poll::Ready(None);
        }
        self.polls -= 1;
        self.inner.as_mut().poll(cx).map(Some)
    }
}

#[derive(QueryableByName, PartialEq, Eq)]
struct Xact {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Whether each statement on this connection runs in a transaction of its
/// own, rather than in one left open: two statements, two transaction ids.
async fn in_no_transaction(conn: &mut AsyncPgConnection) -> bool {
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(
            diesel::sql_query("SELECT pg_current_xact_id()::text::bigint AS id")
                .get_result::<Xact>(conn)
                .await
                .expect("query")
                .id,
        );
    }
    ids[0] != ids[1]
}

#[tokio::test]
async fn a_cancelled_request_never_leaves_a_transaction_open_in_the_pool() {
    let test_db = TestDatabase::new().await;
    let mut admin = test_db.connect().await;
    seed(&mut admin, 100).await;
    // One connection, so each request gets the one the cancelled request
    // gave back, unless the pool threw it away.
    let config = DbConfig {
        pool_size: 1,
        ..pool_config(test_db.url())
    };
    let db = Db::connect(&config).await.expect("pool");
    let lease = Duration::from_millis(300);
    let content = |id: &str| AiContent::new("done", [id]);
    // A claim whose reply is lost leaves its video processing until the
    // lease ends; a completion is all or nothing.
    let request = || async {
        let mut conn = db.get().await?;
        let jobs = pipeline::claim(&mut conn, "w", 1, lease).await?;
        for job in &jobs {
            pipeline::complete(
                &mut conn,
                &job.id,
                job.attempt,
                &content(&job.id),
                &frames(),
            )
            .await?;
        }
        Ok::<_, Error>(jobs.len())
    };

    // The probe tells a transaction left open.
    let mut probe = test_db.connect().await;
    probe.batch_execute("BEGIN").await.expect("begin");
    assert!(!in_no_transaction(&mut probe).await);
    drop(probe);

    let mut cancelled = 0;
    for polls in 1.. {
        let outcome = CancelAfter {
            inner: Box::pin(request()),
            polls,
        }
        .await;
        let mut conn = db.get().await.expect("a connection");
        assert!(
            in_no_transaction(&mut conn).await,
            "after a request cancelled at poll {polls}, the pool gave out a connection inside a transaction"
        );
        drop(conn);
        let half_done = count(
            &mut admin,
            "SELECT count(*) AS count FROM video_summary v
             WHERE (v.processing_status = 'completed')
                <> EXISTS (SELECT 1 FROM keyframe k WHERE k.video_summary_id = v.id)",
        )
        .await;
        assert_eq!(half_done, 0, "cancelled at poll {polls}");
        match outcome {
            None => cancelled += 1,
            Some(result) => {
                assert_eq!(result.expect("an uncancelled request succeeds"), 1);
                break;
            }
        }
    }
    assert!(
        cancelled >= 5,
        "the request was cancelled at {cancelled} points only"
    );

    // Nothing is lost: once the leases of lost claims end, every video is
    // processed, each once.
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    let mut conn = db.get().await.expect("a connection");
    pipeline::rescue(&mut conn, &RETRY_AT_ONCE)
        .await
        .expect("rescue");
    drop(conn);
    while request().await.expect("request") > 0 {}
    assert_all_processed_once(&mut admin, 100).await;
    let idle_in_transaction = count(
        &mut admin,
        "SELECT count(*) AS count FROM pg_stat_activity
         WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
    )
    .await;
    assert_eq!(idle_in_transaction, 0);
}

#[tokio::test]
async fn an_exhausted_pool_makes_callers_wait_then_time_out_then_resumes() {
    let test_db = TestDatabase::new().await;
    let config = DbConfig {
        pool_size: 2,
        pool_timeout: Duration::from_millis(400),
        ..pool_config(test_db.url())
    };
    let db = Db::connect(&config).await.expect("pool");

    async fn add_user(db: Db, id: String) -> db::Result<()> {
        let mut conn = db.get().await?;
        let email = format!("{id}@example.com");
        NewUser::new(&id, &id, &email).insert(&mut conn).await?;
        // Hold the connection a while, as a real request would.
        tokio::time::sleep(Duration::from_millis(30)).await;
        Ok(())
    }

    // More callers than connections wait their turn and all get one.
    let waiting: Vec<_> = (0..12)
        .map(|i| tokio::spawn(add_user(db.clone(), format!("queued-{i}"))))
        .collect();
    for handle in waiting {
        handle
            .await
            .expect("task")
            .expect("callers wait for a connection");
    }

    // Every connection held: callers time out after the pool timeout.
    let held = [
        db.get_owned().await.expect("one"),
        db.get_owned().await.expect("two"),
    ];
    let started = Instant::now();
    let starved: Vec<_> = (0..6)
        .map(|i| tokio::spawn(add_user(db.clone(), format!("starved-{i}"))))
        .collect();
    for handle in starved {
        match handle.await.expect("task") {
            Err(error @ Error::PoolTimeout { .. }) => {
                assert!(error.to_string().contains("pool timeout"), "{error}");
            }
            other => panic!("expected a pool timeout, got {other:?}"),
        }
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(350) && waited < Duration::from_secs(3),
        "{waited:?}"
    );

    // Load drops: service resumes.
    drop(held);
    let resumed: Vec<_> = (0..6)
        .map(|i| tokio::spawn(add_user(db.clone(), format!("resumed-{i}"))))
        .collect();
    for handle in resumed {
        handle.await.expect("task").expect("service resumes");
    }
    let mut admin = test_db.connect().await;
    for (prefix, expected) in [("queued", 12), ("starved", 0), ("resumed", 6)] {
        let sql = format!("SELECT count(*) AS count FROM \"user\" WHERE id LIKE '{prefix}-%'");
        assert_eq!(count(&mut admin, &sql).await, expected, "{prefix}");
    }
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

async fn backend_pid(conn: &mut AsyncPgConnection) -> i32 {
    diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result::<Pid>(conn)
        .await
        .expect("pid")
        .pid
}

fn terminate_from_another_runtime(url: &str, pid: i32) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut admin = db::connect(&pool_config(url)).await.expect("connect");
        diesel::sql_query(format!("SELECT pg_terminate_backend({pid}, 5000)"))
            .execute(&mut admin)
            .await
            .expect("terminate");
    });
}

/// The pool's connection dies while idle; the next request must get a live
/// one, on either kind of runtime.
async fn idle_connections_killed_are_replaced_at_check_out() {
    let test_db = TestDatabase::new().await;
    let mut admin = test_db.connect().await;
    let config = DbConfig {
        pool_size: 1,
        ..pool_config(test_db.url())
    };
    let db = Db::connect(&config).await.expect("pool");
    for round in 0..20 {
        let pid = backend_pid(&mut db.get().await.expect("a connection")).await;
        if round % 2 == 0 {
            diesel::sql_query(format!("SELECT pg_terminate_backend({pid}, 5000)"))
                .execute(&mut admin)
                .await
                .expect("terminate");
        } else {
            // From outside, while this runtime does not run: nothing here
            // has seen the socket close when the next request checks out.
            let url = test_db.url().to_string();
            std::thread::spawn(move || terminate_from_another_runtime(&url, pid))
                .join()
                .expect("terminating thread");
        }
        let mut conn = db.get().await.expect("a connection");
        let next = diesel::sql_query("SELECT pg_backend_pid() AS pid")
            .get_result::<Pid>(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("round {round}: the pool gave out a dead connection: {e}"))
            .pid;
        assert_ne!(next, pid);
    }
}

#[tokio::test]
async fn killed_idle_connections_are_replaced_at_check_out_on_one_thread() {
    idle_connections_killed_are_replaced_at_check_out().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_idle_connections_are_replaced_at_check_out_on_many_threads() {
    idle_connections_killed_are_replaced_at_check_out().await;
}
