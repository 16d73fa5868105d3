//! The processing pipeline against a real database: claims, leases, fencing,
//! retries, and the status graph the database enforces.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use db::Error;
use db::models::{AiContent, Keyframe, NewKeyframe, ProcessingStatus, VideoSummary};
use db::pipeline::{self, JobState, LEASE_EXPIRED, Retry, RetryPolicy};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use local_pg::harness::TestDatabase;

const LEASE: Duration = Duration::from_secs(60);

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).expect("a short duration")
}

fn frames() -> [NewKeyframe<'static>; 2] {
    [
        NewKeyframe {
            timestamp: 0,
            image_url: "https://cdn.example.com/0.jpg",
            description: Some("title card"),
        },
        NewKeyframe {
            timestamp: 42,
            image_url: "https://cdn.example.com/42.jpg",
            description: None,
        },
    ]
}

/// Retries at once, so tests need not wait out a backoff.
fn no_backoff(max_attempts: i32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    }
}

#[derive(QueryableByName)]
struct Now {
    #[diesel(sql_type = Timestamptz)]
    now: DateTime<Utc>,
}

async fn db_now(conn: &mut AsyncPgConnection) -> DateTime<Utc> {
    diesel::sql_query("SELECT now() AS now")
        .get_result::<Now>(conn)
        .await
        .expect("now")
        .now
}

async fn state(conn: &mut AsyncPgConnection, id: &str) -> JobState {
    JobState::find(conn, "alice", id).await.expect("state")
}

fn assert_invalid<T: std::fmt::Debug>(result: db::Result<T>, expected: &str) {
    match result {
        Err(Error::InvalidInput { field, .. }) if field == expected => {}
        other => panic!("expected invalid {expected}, got {other:?}"),
    }
}

fn assert_stale<T: std::fmt::Debug>(
    result: db::Result<T>,
    expected_status: ProcessingStatus,
    expected_attempt: i32,
) {
    match result {
        Err(Error::StaleAttempt {
            status,
            current_attempt,
            ..
        }) if status == expected_status && current_attempt == expected_attempt => {}
        other => panic!(
            "expected a stale attempt ({expected_status} at {expected_attempt}), got {other:?}"
        ),
    }
}

#[tokio::test]
async fn claim_takes_the_oldest_pending_videos_once_each() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    let ids = common::pending_videos(&mut conn, "alice", 5).await;

    let before = db_now(&mut conn).await;
    let first = pipeline::claim(&mut conn, "w1", 3, LEASE)
        .await
        .expect("claim");
    let after = db_now(&mut conn).await;
    assert_eq!(
        first.iter().map(|job| job.id.as_str()).collect::<Vec<_>>(),
        ids[..3],
        "the oldest first"
    );
    for job in &first {
        assert_eq!(job.attempt, 1);
        assert!(
            job.lease_expires_at >= before + delta(LEASE)
                && job.lease_expires_at <= after + delta(LEASE),
            "the lease ends a lease from the database's now: {}",
            job.lease_expires_at
        );
        let state = state(&mut conn, &job.id).await;
        assert_eq!(state.processing_status, ProcessingStatus::Processing);
        assert_eq!(state.worker_id.as_deref(), Some("w1"));
        assert_eq!(state.lease_expires_at, Some(job.lease_expires_at));
    }
    let rest = pipeline::claim(&mut conn, "w2", 10, LEASE)
        .await
        .expect("claim");
    assert_eq!(
        rest.iter().map(|job| job.id.as_str()).collect::<Vec<_>>(),
        ids[3..]
    );
    assert!(
        pipeline::claim(&mut conn, "w3", 10, LEASE)
            .await
            .expect("claim")
            .is_empty()
    );
}

#[tokio::test]
async fn bad_worker_arguments_are_refused_naming_them() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    assert_invalid(pipeline::claim(&mut conn, " ", 1, LEASE).await, "worker");
    assert_invalid(
        pipeline::claim(&mut conn, &"w".repeat(201), 1, LEASE).await,
        "worker",
    );
    assert_invalid(pipeline::claim(&mut conn, "w", 0, LEASE).await, "n");
    assert_invalid(pipeline::claim(&mut conn, "w", 1001, LEASE).await, "n");
    assert_invalid(
        pipeline::claim(&mut conn, "w", 1, Duration::ZERO).await,
        "lease",
    );
    assert_invalid(
        pipeline::heartbeat(&mut conn, "v", 1, Duration::from_secs(90_000)).await,
        "lease",
    );
    assert_invalid(
        pipeline::fail(&mut conn, "v", 1, "  ", &RetryPolicy::default()).await,
        "error",
    );
    assert_invalid(
        pipeline::fail(&mut conn, "v", 1, "boom", &no_backoff(0)).await,
        "max_attempts",
    );
    let backwards = RetryPolicy {
        base_delay: Duration::from_secs(10),
        max_delay: Duration::from_secs(1),
        ..RetryPolicy::default()
    };
    assert_invalid(pipeline::rescue(&mut conn, &backwards).await, "base_delay");
    let bad_frame = [NewKeyframe {
        timestamp: -1,
        image_url: "https://cdn.example.com/x.jpg",
        description: None,
    }];
    assert_invalid(
        pipeline::complete(&mut conn, "v", 1, &AiContent::default(), &bad_frame).await,
        "timestamp",
    );
}

#[derive(QueryableByName)]
struct Scans {
    #[diesel(sql_type = BigInt)]
    scans: i64,
}

#[tokio::test]
async fn claims_are_served_by_the_partial_index_on_pending_rows() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    // As in production: many finished videos, a few pending ones.
    diesel::sql_query(
        "INSERT INTO video_summary (id, user_id, youtube_url, youtube_id, title, processing_status, attempt)
         SELECT 'c' || i, 'alice', 'https://youtu.be/x', 'c' || lpad(i::text, 10, '0'), 't', 'completed', 1
         FROM generate_series(1, 20000) AS i",
    )
    .execute(&mut conn)
    .await
    .expect("completed videos");
    common::pending_videos(&mut conn, "alice", 5).await;
    diesel::sql_query("ANALYZE video_summary")
        .execute(&mut conn)
        .await
        .expect("analyze");
    let scans = conn
        .transaction::<_, Error, _>(async |conn| {
            let jobs = pipeline::claim(conn, "w", 2, LEASE).await?;
            assert_eq!(jobs.len(), 2);
            Ok(diesel::sql_query(
                "SELECT pg_stat_get_xact_numscans('video_summary_pending_idx'::regclass) AS scans",
            )
            .get_result::<Scans>(conn)
            .await?
            .scans)
        })
        .await
        .expect("claim");
    assert!(
        scans >= 1,
        "the claim did not use video_summary_pending_idx"
    );
}

#[tokio::test]
async fn heartbeat_extends_only_the_current_attempt() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    common::pending_videos(&mut conn, "alice", 1).await;
    let [job] = <[_; 1]>::try_from(
        pipeline::claim(&mut conn, "w", 1, Duration::from_secs(1))
            .await
            .expect("claim"),
    )
    .expect("one job");
    let until = pipeline::heartbeat(&mut conn, &job.id, job.attempt, LEASE)
        .await
        .expect("heartbeat");
    assert!(until >= job.lease_expires_at + delta(LEASE - Duration::from_secs(1)));
    assert_eq!(
        state(&mut conn, &job.id).await.lease_expires_at,
        Some(until)
    );
    assert_stale(
        pipeline::heartbeat(&mut conn, &job.id, job.attempt + 1, LEASE).await,
        ProcessingStatus::Processing,
        1,
    );
    assert!(matches!(
        pipeline::heartbeat(&mut conn, "missing", 1, LEASE).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn complete_writes_content_and_keyframes_once_and_is_fenced() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    common::pending_videos(&mut conn, "alice", 1).await;
    let job = pipeline::claim(&mut conn, "w", 1, LEASE)
        .await
        .expect("claim")
        .remove(0);
    let content = AiContent::new("A talk.", ["one", "two"]);

    let written = pipeline::complete(&mut conn, &job.id, job.attempt, &content, &frames())
        .await
        .expect("complete");
    assert_eq!(written.len(), 2);
    // The reply was lost, say, and the worker completes again.
    let again = pipeline::complete(&mut conn, &job.id, job.attempt, &content, &frames())
        .await
        .expect("completing twice is harmless");
    let stored = Keyframe::for_video(&mut conn, "alice", &job.id)
        .await
        .expect("keyframes");
    assert_eq!(stored, again, "one set of keyframes, not two");
    let video = VideoSummary::find(&conn, "alice", &job.id)
        .await
        .expect("video");
    assert_eq!(video.processing_status, ProcessingStatus::Completed);
    assert_eq!(video.ai_generated_content, Some(content.clone()));
    let after = state(&mut conn, &job.id).await;
    assert_eq!(
        after.lease_expires_at, None,
        "the lease ends with the attempt"
    );

    let snapshot = local_pg::harness::snapshot(&mut conn).await;
    assert_stale(
        pipeline::complete(&mut conn, &job.id, job.attempt + 1, &content, &[]).await,
        ProcessingStatus::Completed,
        1,
    );
    assert_stale(
        pipeline::fail(
            &mut conn,
            &job.id,
            job.attempt,
            "late",
            &RetryPolicy::default(),
        )
        .await,
        ProcessingStatus::Completed,
        1,
    );
    assert_stale(
        pipeline::heartbeat(&mut conn, &job.id, job.attempt, LEASE).await,
        ProcessingStatus::Completed,
        1,
    );
    assert_eq!(local_pg::harness::snapshot(&mut conn).await, snapshot);
}

#[tokio::test]
async fn a_late_completion_from_an_expired_attempt_changes_nothing() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    common::pending_videos(&mut conn, "alice", 1).await;
    let late = pipeline::claim(&mut conn, "slow", 1, Duration::from_millis(100))
        .await
        .expect("claim")
        .remove(0);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let rescued = pipeline::rescue(&mut conn, &no_backoff(5))
        .await
        .expect("rescue");
    assert_eq!(rescued.retried, [late.id.as_str()]);
    let given_back = state(&mut conn, &late.id).await;
    assert_eq!(given_back.processing_status, ProcessingStatus::Pending);
    assert_eq!(given_back.attempt, 1, "the lost attempt counts");
    assert_eq!(given_back.last_error.as_deref(), Some(LEASE_EXPIRED));
    assert_eq!(given_back.lease_expires_at, None);

    let content = AiContent::new("Too late.", ["x"]);
    let snapshot = local_pg::harness::snapshot(&mut conn).await;
    assert_stale(
        pipeline::complete(&mut conn, &late.id, late.attempt, &content, &frames()).await,
        ProcessingStatus::Pending,
        1,
    );
    assert_eq!(local_pg::harness::snapshot(&mut conn).await, snapshot);

    let current = pipeline::claim(&mut conn, "fast", 1, LEASE)
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(
        (current.id.as_str(), current.attempt),
        (late.id.as_str(), 2)
    );
    assert_eq!(current.last_error.as_deref(), Some(LEASE_EXPIRED));
    let snapshot = local_pg::harness::snapshot(&mut conn).await;
    assert_stale(
        pipeline::complete(&mut conn, &late.id, late.attempt, &content, &frames()).await,
        ProcessingStatus::Processing,
        2,
    );
    assert_stale(
        pipeline::fail(&mut conn, &late.id, late.attempt, "late", &no_backoff(5)).await,
        ProcessingStatus::Processing,
        2,
    );
    assert_eq!(local_pg::harness::snapshot(&mut conn).await, snapshot);

    let good = AiContent::new("On time.", ["y"]);
    pipeline::complete(
        &mut conn,
        &current.id,
        current.attempt,
        &good,
        &frames()[..1],
    )
    .await
    .expect("the current attempt completes");
    assert_stale(
        pipeline::complete(&mut conn, &late.id, late.attempt, &content, &frames()).await,
        ProcessingStatus::Completed,
        2,
    );
    let video = VideoSummary::find(&conn, "alice", &late.id)
        .await
        .expect("video");
    assert_eq!(video.ai_generated_content, Some(good));
    assert_eq!(
        Keyframe::for_video(&mut conn, "alice", &late.id)
            .await
            .expect("keyframes")
            .len(),
        1
    );
}

#[tokio::test]
async fn failures_retry_with_backoff_then_fail_for_good() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    let id = common::pending_videos(&mut conn, "alice", 1)
        .await
        .remove(0);
    let policy = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_millis(300),
    };

    for (attempt, wait) in [(1, 200), (2, 300)] {
        let job = pipeline::claim(&mut conn, "w", 1, LEASE)
            .await
            .expect("claim")
            .remove(0);
        assert_eq!(job.attempt, attempt);
        let retry = pipeline::fail(&mut conn, &id, attempt, "no transcript", &policy)
            .await
            .expect("fail");
        let Retry::Scheduled { at } = retry else {
            panic!("attempt {attempt} should be retried: {retry:?}");
        };
        let after = state(&mut conn, &id).await;
        assert_eq!(after.processing_status, ProcessingStatus::Pending);
        assert_eq!(after.retry_after, Some(at));
        assert_eq!(
            at - after.updated_at,
            TimeDelta::milliseconds(wait),
            "doubling, at most max_delay"
        );
        assert_eq!(after.last_error.as_deref(), Some("no transcript"));
        assert_eq!(after.processing_error, None, "not failed yet");
        assert!(
            pipeline::claim(&mut conn, "w", 1, LEASE)
                .await
                .expect("claim")
                .is_empty(),
            "nobody claims a video during its backoff"
        );
        let remaining = (at - db_now(&mut conn).await).to_std().unwrap_or_default();
        tokio::time::sleep(remaining + Duration::from_millis(20)).await;
    }
    let last = pipeline::claim(&mut conn, "w", 1, LEASE)
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(last.attempt, 3);
    assert_eq!(
        pipeline::fail(&mut conn, &id, 3, "still no transcript", &policy)
            .await
            .expect("fail"),
        Retry::Exhausted
    );
    let failed = state(&mut conn, &id).await;
    assert_eq!(failed.processing_status, ProcessingStatus::Failed);
    assert_eq!(
        failed.processing_error.as_deref(),
        Some("still no transcript")
    );
    assert_eq!(failed.retry_after, None);

    // An operator gives it one more attempt; the attempt number goes on.
    let requeued = pipeline::requeue(&mut conn, "alice", &id)
        .await
        .expect("requeue");
    assert_eq!(requeued.processing_status, ProcessingStatus::Pending);
    assert_eq!(requeued.processing_error, None);
    assert_eq!(
        requeued.last_error.as_deref(),
        Some("still no transcript"),
        "kept for operators"
    );
    let again = pipeline::claim(&mut conn, "w", 1, LEASE)
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(again.attempt, 4);
    assert_eq!(
        pipeline::fail(&mut conn, &id, 4, "gone", &policy)
            .await
            .expect("fail"),
        Retry::Exhausted,
        "past the last attempt, a failure is final"
    );
}

#[tokio::test]
async fn rescue_gives_back_expired_leases_and_fails_them_after_the_last_attempt() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    let ids = common::pending_videos(&mut conn, "alice", 2).await;
    let policy = no_backoff(2);
    let short = Duration::from_millis(100);

    let doomed = pipeline::claim(&mut conn, "crashy", 1, short)
        .await
        .expect("claim")
        .remove(0);
    let alive = pipeline::claim(&mut conn, "steady", 1, LEASE)
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(
        (doomed.id.as_str(), alive.id.as_str()),
        (&*ids[0], &*ids[1])
    );
    tokio::time::sleep(short + Duration::from_millis(50)).await;
    let first = pipeline::rescue(&mut conn, &policy).await.expect("rescue");
    assert_eq!(first.retried, [doomed.id.as_str()]);
    assert!(first.failed.is_empty());
    assert_eq!(
        state(&mut conn, &alive.id).await.processing_status,
        ProcessingStatus::Processing,
        "a live lease is left alone"
    );

    let second = pipeline::claim(&mut conn, "crashy", 1, short)
        .await
        .expect("claim")
        .remove(0);
    assert_eq!((second.id.as_str(), second.attempt), (&*doomed.id, 2));
    tokio::time::sleep(short + Duration::from_millis(50)).await;
    let last = pipeline::rescue(&mut conn, &policy).await.expect("rescue");
    assert_eq!(last.failed, [doomed.id.as_str()]);
    let failed = state(&mut conn, &doomed.id).await;
    assert_eq!(failed.processing_status, ProcessingStatus::Failed);
    assert_eq!(failed.processing_error.as_deref(), Some(LEASE_EXPIRED));
    assert_eq!(
        failed.worker_id.as_deref(),
        Some("crashy"),
        "kept for operators"
    );
    assert_eq!(
        pipeline::rescue(&mut conn, &policy).await.expect("rescue"),
        Default::default(),
        "nothing left to rescue"
    );
}

#[tokio::test]
async fn requeue_refuses_what_it_cannot_requeue() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    common::user(&mut conn, "bob").await;
    let ids = common::pending_videos(&mut conn, "alice", 2).await;
    let jobs = pipeline::claim(&mut conn, "w", 2, LEASE)
        .await
        .expect("claim");
    pipeline::complete(&mut conn, &jobs[0].id, 1, &AiContent::default(), &[])
        .await
        .expect("complete");

    match pipeline::requeue(&mut conn, "alice", &ids[0]).await {
        Err(Error::IllegalTransition {
            from: ProcessingStatus::Completed,
            to: ProcessingStatus::Pending,
            ..
        }) => {}
        other => panic!("a completed video stays completed: {other:?}"),
    }
    match pipeline::requeue(&mut conn, "alice", &ids[1]).await {
        Err(Error::InvalidInput {
            field: "video",
            reason,
        }) => {
            assert!(reason.contains("being processed"), "{reason}");
            assert!(reason.contains("worker w"), "{reason}");
        }
        other => panic!("a leased video is left to its worker: {other:?}"),
    }
    assert!(matches!(
        pipeline::requeue(&mut conn, "bob", &ids[1]).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn stats_count_states_backoffs_and_expired_leases() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    let ids = common::pending_videos(&mut conn, "alice", 6).await;
    let jobs = pipeline::claim(&mut conn, "w", 4, Duration::from_millis(50))
        .await
        .expect("claim");
    pipeline::complete(&mut conn, &jobs[0].id, 1, &AiContent::default(), &[])
        .await
        .expect("complete");
    let policy = RetryPolicy::default();
    pipeline::fail(&mut conn, &jobs[1].id, 1, "boom", &policy)
        .await
        .expect("retry later");
    pipeline::heartbeat(&mut conn, &jobs[2].id, 1, LEASE)
        .await
        .expect("heartbeat");
    tokio::time::sleep(Duration::from_millis(100)).await;

    let stats = pipeline::stats(&mut conn).await.expect("stats");
    assert_eq!(stats.counts.pending, 3, "{stats:?}");
    assert_eq!(stats.counts.processing, 2);
    assert_eq!(stats.counts.completed, 1);
    assert_eq!(stats.counts.failed, 0);
    assert_eq!(stats.waiting_to_retry, 1);
    assert_eq!(stats.expired_leases, 1, "jobs[3]'s lease ran out");
    let oldest_pending = VideoSummary::find(&conn, "alice", &ids[1])
        .await
        .expect("video")
        .created_at;
    assert_eq!(stats.oldest_pending, Some(oldest_pending));
}

/// Walks a fresh video to `status` through legal moves.
async fn video_in(conn: &mut AsyncPgConnection, n: usize, status: ProcessingStatus) -> String {
    let id = common::video(conn, "alice", &format!("{n:011}")).await.id;
    let path: &[ProcessingStatus] = match status {
        ProcessingStatus::Pending => &[],
        ProcessingStatus::Processing => &[ProcessingStatus::Processing],
        done => &[ProcessingStatus::Processing, done],
    };
    for step in path {
        raw_move(conn, &id, *step).await.expect("a legal move");
    }
    id
}

/// The move as any SQL client would write it: the status, and what the
/// table's CHECK constraints ask to go with it.
async fn raw_move(
    conn: &mut AsyncPgConnection,
    id: &str,
    to: ProcessingStatus,
) -> diesel::QueryResult<usize> {
    diesel::sql_query(
        "UPDATE video_summary
         SET processing_status = $2,
             attempt = attempt + CASE WHEN $2 = 'processing' THEN 1 ELSE 0 END,
             lease_expires_at = CASE WHEN $2 = 'processing' THEN now() + interval '1 minute' END,
             retry_after = NULL
         WHERE id = $1",
    )
    .bind::<Text, _>(id)
    .bind::<Text, _>(to.as_str())
    .execute(conn)
    .await
}

fn constraint(result: diesel::QueryResult<usize>) -> String {
    match result {
        Err(diesel::result::Error::DatabaseError(_, info)) => {
            info.constraint_name().unwrap_or_default().to_string()
        }
        other => panic!("expected the database to refuse, got {other:?}"),
    }
}

#[tokio::test]
async fn the_database_rejects_every_illegal_transition() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    common::user(&mut conn, "alice").await;
    let mut n = 0;
    let mut legal = Vec::new();
    for from in ProcessingStatus::ALL {
        for to in ProcessingStatus::ALL.into_iter().filter(|to| *to != from) {
            n += 1;
            let id = video_in(&mut conn, n, from).await;
            let result = raw_move(&mut conn, &id, to).await;
            if from.can_move_to(to) {
                assert_eq!(result.expect("legal"), 1, "{from} -> {to}");
                legal.push((from, to));
            } else {
                assert_eq!(
                    constraint(result),
                    "video_summary_processing_transition",
                    "{from} -> {to}"
                );
                assert_eq!(state(&mut conn, &id).await.processing_status, from);
            }
        }
    }
    assert_eq!(legal.len(), 5, "{legal:?}");

    // The attempt is the fencing token: only a claim moves it, by one.
    let pending = video_in(&mut conn, 100, ProcessingStatus::Pending).await;
    let processing = video_in(&mut conn, 101, ProcessingStatus::Processing).await;
    let fence_breakers = [
        format!("UPDATE video_summary SET attempt = attempt + 1 WHERE id = '{pending}'"),
        format!("UPDATE video_summary SET attempt = 0 WHERE id = '{processing}'"),
        format!(
            "UPDATE video_summary SET processing_status = 'processing', attempt = attempt + 2,
             lease_expires_at = now() WHERE id = '{pending}'"
        ),
        format!(
            "UPDATE video_summary SET processing_status = 'processing',
             lease_expires_at = now() WHERE id = '{pending}'"
        ),
    ];
    for sql in fence_breakers {
        assert_eq!(
            constraint(diesel::sql_query(&sql).execute(&mut conn).await),
            "video_summary_attempt_fence",
            "{sql}"
        );
    }
    // A lease only while processing, a backoff only while pending.
    for (sql, expected) in [
        (
            format!("UPDATE video_summary SET lease_expires_at = now() WHERE id = '{pending}'"),
            "video_summary_lease_check",
        ),
        (
            format!("UPDATE video_summary SET retry_after = now() WHERE id = '{processing}'"),
            "video_summary_retry_after_check",
        ),
    ] {
        assert_eq!(
            constraint(diesel::sql_query(&sql).execute(&mut conn).await),
            expected,
            "{sql}"
        );
    }
}

/// Why a worker gave up an attempt, decided by the video and the attempt so
/// every run fails the same ones.
fn should_fail(id: &str, attempt: i32) -> bool {
    attempt == 1 && id.bytes().map(u32::from).sum::<u32>() % 7 == 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_workers_process_a_thousand_videos_exactly_once_per_attempt() {
    const VIDEOS: usize = 1000;
    const WORKERS: usize = 8;
    let test_db = TestDatabase::new().await;
    let mut conn = test_db.connect().await;
    common::user(&mut conn, "alice").await;
    let ids = common::pending_videos(&mut conn, "alice", VIDEOS as i32).await;
    let expected_failures = ids.iter().filter(|id| should_fail(id, 1)).count();
    assert!(expected_failures > 50, "the test must exercise retries");

    let mut workers = tokio::task::JoinSet::new();
    for w in 0..WORKERS {
        let config = test_db.config();
        workers.spawn(async move {
            let mut conn = db::connect(&config).await.expect("connect");
            let name = format!("worker-{w}");
            let mut claimed = Vec::new();
            loop {
                // Batches of different sizes make the workers overlap.
                let batch = 3 + w as i64;
                let jobs = pipeline::claim(&mut conn, &name, batch, LEASE).await?;
                assert!(
                    jobs.len() as i64 <= batch,
                    "{} jobs for a batch of {batch}",
                    jobs.len()
                );
                if jobs.is_empty() {
                    let stats = pipeline::stats(&mut conn).await?;
                    if stats.counts.pending + stats.counts.processing == 0 {
                        return Ok::<_, Error>(claimed);
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                for job in jobs {
                    claimed.push((job.id.clone(), job.attempt));
                    if should_fail(&job.id, job.attempt) {
                        pipeline::fail(&mut conn, &job.id, job.attempt, "flaky", &no_backoff(3))
                            .await?;
                    } else {
                        let content = AiContent::new(format!("Summary by {name}"), [&job.id]);
                        pipeline::complete(&mut conn, &job.id, job.attempt, &content, &frames())
                            .await?;
                    }
                }
            }
        });
    }
    let mut claims = Vec::new();
    while let Some(joined) = workers.join_next().await {
        claims.extend(
            joined
                .expect("worker task")
                .expect("no worker errs or deadlocks"),
        );
    }

    let unique: HashSet<_> = claims.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        claims.len(),
        "a video was claimed twice in one attempt"
    );
    assert_eq!(claims.len(), VIDEOS + expected_failures);
    let stats = pipeline::stats(&mut conn).await.expect("stats");
    assert_eq!(stats.counts.completed, VIDEOS as i64, "{stats:?}");
    #[derive(QueryableByName)]
    struct Wrong {
        #[diesel(sql_type = BigInt)]
        wrong: i64,
    }
    let wrong = diesel::sql_query(
        "SELECT count(*) AS wrong FROM video_summary v
         WHERE (SELECT count(*) FROM keyframe k WHERE k.video_summary_id = v.id) <> 2
            OR v.ai_generated_content->'keyPoints'->>0 <> v.id
            OR v.lease_expires_at IS NOT NULL",
    )
    .get_result::<Wrong>(&mut conn)
    .await
    .expect("check")
    .wrong;
    assert_eq!(
        wrong, 0,
        "each video has its own content and one set of keyframes"
    );
}
