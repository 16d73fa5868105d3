//! Reads routed to a real streaming replica: a cluster of the test's own and
//! a standby made from it with `pg_basebackup`, both on this machine.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use db::instrument::names;
use db::models::{User, VideoSummary};
use db::{Consistency, Db, DbConfig, wal_position};
use diesel::QueryableByName;
use diesel::sql_types::Bool;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use local_pg::harness::DestroyOnDrop;
use local_pg::{LocalServer, ServerOptions};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

const DATABASE: &str = "mindvault";

/// A primary with the migrated database and a standby replicating it;
/// both are stopped and deleted when dropped.
struct Pair {
    primary: DestroyOnDrop,
    standby: DestroyOnDrop,
}

impl Pair {
    async fn start() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let home = |role: &str| {
            std::env::temp_dir().join(format!("mv-replica-{}-{n}-{role}", std::process::id()))
        };
        let options = ServerOptions {
            unsafe_fast: true,
            ..ServerOptions::default()
        };
        let primary = LocalServer::new(home("primary"), options).expect("primary");
        let primary = DestroyOnDrop(primary);
        primary.0.ensure_running().await.expect("primary starts");
        primary.0.ensure_database(DATABASE).await.expect("database");
        let conn = db::connect(&DbConfig::default().with_url(primary.0.url(DATABASE)))
            .await
            .expect("connect to the primary");
        schema_engine::migrations::run_pending(conn)
            .await
            .expect("migrate");
        let standby = primary
            .0
            .start_standby(home("standby"))
            .await
            .expect("standby starts");
        Self {
            primary,
            standby: DestroyOnDrop(standby),
        }
    }

    fn config(&self) -> DbConfig {
        DbConfig {
            pool_size: 2,
            connect_timeout: Duration::from_secs(1),
            replica_url: Some(self.standby.0.url(DATABASE)),
            replica_max_lag: Duration::from_secs(1),
            ..DbConfig::default().with_url(self.primary.0.url(DATABASE))
        }
    }

    /// A superuser session on the standby, to pause and resume replay.
    async fn standby_admin(&self) -> AsyncPgConnection {
        db::connect(&DbConfig::default().with_url(self.standby.0.url(DATABASE)))
            .await
            .expect("connect to the standby")
    }
}

#[derive(QueryableByName)]
struct Recovery {
    #[diesel(sql_type = Bool)]
    standby: bool,
}

/// Whether the connection is to the standby.
async fn on_standby(conn: &mut AsyncPgConnection) -> bool {
    diesel::sql_query("SELECT pg_is_in_recovery() AS standby")
        .get_result::<Recovery>(conn)
        .await
        .expect("pg_is_in_recovery")
        .standby
}

fn fallbacks(snapshotter: &Snapshotter, reason: &str) -> u64 {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| {
            key.key().name() == names::REPLICA_FALLBACKS
                && key
                    .key()
                    .labels()
                    .any(|l| l.key() == names::REASON && l.value() == reason)
        })
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => n,
            _ => 0,
        })
        .sum()
}

#[tokio::test]
async fn reads_go_where_the_caller_allows_and_writes_to_the_primary() {
    let pair = Pair::start().await;
    let db = Db::connect(&pair.config()).await.expect("pool");
    assert!(db.has_replica());

    assert!(on_standby(&mut db.read(Consistency::Replica).await.expect("read")).await);
    assert!(!on_standby(&mut db.read(Consistency::Primary).await.expect("read")).await);
    assert!(!on_standby(&mut db.get().await.expect("get")).await);

    // A unit of work reads on the replica until it writes, then on the
    // primary, which has the write.
    let mut work = db.unit_of_work(Consistency::Replica);
    assert!(on_standby(&mut work.read().await.expect("read")).await);
    let mut conn = work.write().await.expect("write");
    assert!(!on_standby(&mut conn).await);
    common::user(&mut conn, "ada").await;
    drop(conn);
    let mut conn = work.read().await.expect("read after the write");
    assert!(!on_standby(&mut conn).await);
    User::find(&mut conn, "ada")
        .await
        .expect("the write is seen");
}

#[tokio::test]
async fn read_your_writes_waits_for_the_replica_or_falls_back() {
    let pair = Pair::start().await;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _metrics = metrics::set_default_local_recorder(&recorder);
    let db = Db::connect(&pair.config()).await.expect("pool");
    let mut standby = pair.standby_admin().await;
    standby
        .batch_execute("SELECT pg_wal_replay_pause()")
        .await
        .expect("pause replay");

    let mut conn = db.get().await.expect("primary");
    common::user(&mut conn, "ada").await;
    let video = common::video(&mut conn, "ada", "dQw4w9WgXcQ").await;
    let written = wal_position(&mut conn).await.expect("position");
    drop(conn);

    // The replica has not replayed the write: the read goes to the primary
    // and sees it.
    let mut conn = db.read(Consistency::AtLeast(written)).await.expect("read");
    assert!(!on_standby(&mut conn).await);
    VideoSummary::find(&conn, "ada", &video.id)
        .await
        .expect("the write is seen");
    drop(conn);
    assert_eq!(fallbacks(&snapshotter, "behind"), 1);

    // A plain replica read goes to the primary once the replica lags more
    // than the maximum (a second here).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut conn = db.read(Consistency::Replica).await.expect("read");
    assert!(
        !on_standby(&mut conn).await,
        "a lagging replica serves nothing"
    );
    drop(conn);
    assert_eq!(fallbacks(&snapshotter, "lagging"), 1);

    standby
        .batch_execute("SELECT pg_wal_replay_resume()")
        .await
        .expect("resume replay");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut conn = db.read(Consistency::AtLeast(written)).await.expect("read");
        if on_standby(&mut conn).await {
            VideoSummary::find(&conn, "ada", &video.id)
                .await
                .expect("the replica has the write");
            break;
        }
        assert!(Instant::now() < deadline, "the replica never caught up");
        drop(conn);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn reads_fall_back_to_the_primary_when_the_replica_stops() {
    let pair = Pair::start().await;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _metrics = metrics::set_default_local_recorder(&recorder);
    let db = Db::connect(&pair.config()).await.expect("pool");
    assert!(on_standby(&mut db.read(Consistency::Replica).await.expect("read")).await);

    pair.standby.0.stop().await.expect("stop the standby");
    // `stop` blocked this thread while pg_ctl ran; let the pooled
    // connection's task see its socket closed, as it would in a service
    // (a read running at that very moment fails with ConnectionLost, as
    // on the primary).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let mut conn = db.read(Consistency::Replica).await.expect("read");
    assert!(!on_standby(&mut conn).await);
    drop(conn);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "fell back within the check-out timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(fallbacks(&snapshotter, "down"), 1);
    // Meanwhile reads skip the replica without waiting.
    let started = Instant::now();
    let mut conn = db.read(Consistency::Replica).await.expect("read");
    assert!(!on_standby(&mut conn).await);
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(fallbacks(&snapshotter, "down"), 1);
}

#[tokio::test]
async fn a_replica_that_is_down_at_start_does_not_stop_the_pool() {
    let pair = Pair::start().await;
    pair.standby.0.stop().await.expect("stop the standby");
    let db = Db::connect(&pair.config())
        .await
        .expect("pool without its replica");
    let mut conn = db.read(Consistency::Replica).await.expect("read");
    assert!(!on_standby(&mut conn).await);
}
