//! The DAOs through the machine's PgBouncer (Debian's package), in session
//! mode and in transaction mode, with more clients than server connections
//! so that clients share them.

use std::time::Duration;

use db::models::{
    Keyframe, NewKeyframe, NewUser, NewVideo, ProcessingStatus, Tag, User, VideoFilter,
    VideoSummary,
};
use db::{Db, DbConfig, Error, pipeline};
use diesel_async::SimpleAsyncConnection;
use local_pg::harness::{PgBouncer, PoolMode, TestDatabase, count, pgbouncer_version};

/// Clients at once, over this many server connections.
const CLIENTS: usize = 6;
const SERVER_CONNECTIONS: u32 = 2;

/// One user's life through the DAOs: plain statements, transactions
/// (labels, keyframes), the worker API, and deletes.
async fn life(db: &Db, n: usize) -> db::Result<()> {
    let mut conn = db.get().await?;
    let user = format!("user-{n}");
    NewUser::new(&user, &user, &format!("{user}@example.com"))
        .insert(&mut conn)
        .await?;
    for i in 0..3 {
        let url = format!("https://youtu.be/{n:05}{i:06}");
        let video = NewVideo {
            user_id: &user,
            youtube_url: &url,
            title: "Through the pooler",
            ..NewVideo::default()
        }
        .insert(&conn)
        .await?;
        assert_eq!(
            VideoSummary::find(&conn, &user, &video.id).await?.id,
            video.id
        );
        Tag::attach(&mut conn, &user, &video.id, &["pooled", "rust"]).await?;
        Keyframe::insert_many(
            &mut conn,
            &user,
            &video.id,
            &[NewKeyframe {
                timestamp: 3,
                image_url: "https://cdn.example.com/3.jpg",
                description: None,
            }],
        )
        .await?;
    }
    let page = VideoSummary::list(&conn, &user, &VideoFilter::default()).await?;
    assert_eq!(page.items.len(), 3);
    let first = &page.items[0].id;
    VideoSummary::update_processing_status(&conn, &user, first, ProcessingStatus::Processing, None)
        .await?;
    pipeline::stats(&mut conn).await?;
    VideoSummary::delete(&mut conn, &user, first).await?;
    User::find(&mut conn, &user).await?;
    Ok(())
}

/// Every client's life, at once; the errors.
async fn run_clients(db: &Db) -> Vec<Error> {
    let lives = (0..CLIENTS).map(|n| {
        let db = db.clone();
        tokio::spawn(async move { life(&db, n).await })
    });
    let mut errors = Vec::new();
    for life in lives {
        if let Err(e) = life.await.expect("a client panicked") {
            errors.push(e);
        }
    }
    errors
}

/// One client prepares a statement through PgBouncer; then the server ends
/// every connection PgBouncer holds to it, so the client's next run of the
/// statement lands on a new server connection that never prepared it.
/// (Which idle server connection PgBouncer hands out is not reliable enough
/// to arrange the same with a second client.) Returns the errors the data
/// layer reported.
async fn statement_on_another_server(db: &Db, test: &TestDatabase) -> Vec<Error> {
    let mut reader = match db.get().await {
        Ok(reader) => reader,
        Err(e) => return vec![e],
    };
    if let Err(e) = NewUser::new("pooled", "pooled", "pooled@example.com")
        .insert(&mut reader)
        .await
    {
        return vec![e];
    }
    let mut errors = Vec::new();
    if let Err(e) = User::find(&mut reader, "pooled").await {
        errors.push(e);
    }
    let mut direct = test.connect().await;
    direct
        .batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await
        .expect("the server ends PgBouncer's connections");
    // PgBouncer notices the closed server connections while they are idle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..3 {
        if let Err(e) = User::find(&mut reader, "pooled").await {
            errors.push(e);
        }
    }
    errors
}

async fn through(bouncer: &PgBouncer, test: &TestDatabase) -> Db {
    Db::connect(&DbConfig {
        pool_size: CLIENTS as u32,
        pool_timeout: Duration::from_secs(30),
        ..DbConfig::default().with_url(bouncer.url(test.name()))
    })
    .await
    .expect("a pool through pgbouncer")
}

#[tokio::test]
async fn session_mode_runs_every_dao() {
    let test = TestDatabase::new().await;
    let bouncer = PgBouncer::start(test.url(), PoolMode::Session, CLIENTS as u32, None)
        .expect("pgbouncer starts");
    let db = through(&bouncer, &test).await;
    let errors = run_clients(&db).await;
    assert!(errors.is_empty(), "{errors:?}");
    // The work happened on the real server.
    let mut direct = test.connect().await;
    let keyframes = count(&mut direct, "SELECT count(*) AS count FROM keyframe").await;
    assert_eq!(keyframes, 2 * CLIENTS as i64);
}

#[tokio::test]
async fn transaction_mode_without_prepared_statements_fails_naming_the_fix() {
    let test = TestDatabase::new().await;
    // Before 1.21 PgBouncer cannot track prepared statements; from 1.21 on
    // it does not when max_prepared_statements is 0.
    let tracking = pgbouncer_version()
        .filter(|version| *version >= (1, 21))
        .map(|_| 0);
    let bouncer = PgBouncer::start(
        test.url(),
        PoolMode::Transaction,
        SERVER_CONNECTIONS,
        tracking,
    )
    .expect("pgbouncer starts");
    let config = DbConfig {
        pool_size: 2,
        pool_timeout: Duration::from_secs(30),
        ..DbConfig::default().with_url(bouncer.url(test.name()))
    };
    // Even opening the pool may fail: each connection's set-up sends
    // prepared statements too.
    let errors = match Db::connect(&config).await {
        Ok(db) => statement_on_another_server(&db, &test).await,
        Err(e) => vec![e],
    };
    assert!(
        !errors.is_empty(),
        "statements prepared on one server connection ran on another and nothing failed"
    );
    let named = errors
        .iter()
        .map(ToString::to_string)
        .find(|text| text.contains("max_prepared_statements"))
        .unwrap_or_else(|| panic!("no error names the fix: {errors:?}"));
    assert!(named.contains("PgBouncer 1.21"), "{named}");
    assert!(named.contains("session mode"), "{named}");
}

#[tokio::test]
async fn transaction_mode_with_prepared_statements_runs_every_dao_from_pgbouncer_1_21() {
    let test = TestDatabase::new().await;
    let started = PgBouncer::start(
        test.url(),
        PoolMode::Transaction,
        SERVER_CONNECTIONS,
        Some(200),
    );
    match pgbouncer_version() {
        Some(version) if version >= (1, 21) => {
            let bouncer = started.expect("pgbouncer starts");
            let db = through(&bouncer, &test).await;
            let errors = run_clients(&db).await;
            assert!(errors.is_empty(), "{errors:?}");
        }
        // Older versions refuse the setting: the README says so.
        version => {
            let refused = started.expect_err("an older pgbouncer refuses the setting");
            assert!(
                refused.contains("max_prepared_statements"),
                "{version:?}: {refused}"
            );
        }
    }
}
