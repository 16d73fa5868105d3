//! A worker process killed while it holds leases: its videos come back to
//! the queue once the leases end, and another worker completes them.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use db::models::{AiContent, ProcessingStatus};
use db::pipeline::{self, JobState, LEASE_EXPIRED, RetryPolicy};
use diesel_async::RunQueryDsl;
use local_pg::harness::TestDatabase;

const LEASE: Duration = Duration::from_secs(1);
const POLICY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    base_delay: Duration::ZERO,
    max_delay: Duration::ZERO,
};

#[derive(serde::Deserialize)]
struct Claimed {
    id: String,
    attempt: i32,
}

/// Starts the crash-drill worker with one-second leases; returns it once it
/// has claimed `batch` videos, with its claims.
fn hold_leases(test_db: &TestDatabase, name: &str, batch: usize) -> (Child, Vec<Claimed>) {
    let mut worker = Command::new(env!("CARGO_BIN_EXE_mv-admin"))
        .args(["--database-url", test_db.url(), "hold-leases"])
        .args([
            "--worker",
            name,
            "--batch",
            &batch.to_string(),
            "--lease",
            "1s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the worker starts");
    let stdout = worker.stdout.take().expect("stdout");
    let claimed: Vec<Claimed> = BufReader::new(stdout)
        .lines()
        .take(batch)
        .map(|line| serde_json::from_str(&line.expect("a line")).expect("a claim"))
        .collect();
    assert_eq!(claimed.len(), batch, "the worker claimed its batch");
    (worker, claimed)
}

#[tokio::test]
async fn a_killed_worker_s_videos_return_after_the_lease_and_another_completes_them() {
    let test_db = TestDatabase::new().await;
    let mut conn = test_db.connect().await;
    common::alice_with_videos(&mut conn, 6).await;

    let (mut worker, claimed) = hold_leases(&test_db, "doomed", 4);
    for claim in &claimed {
        let state = JobState::find(&mut conn, "alice", &claim.id)
            .await
            .expect("state");
        assert_eq!(state.processing_status, ProcessingStatus::Processing);
        assert_eq!(state.worker_id.as_deref(), Some("doomed"));
        assert_eq!(state.attempt, claim.attempt);
    }

    // Alive, it renews its leases: past one lease, nothing is rescued.
    tokio::time::sleep(LEASE + LEASE / 2).await;
    let rescued = pipeline::rescue(&mut conn, &POLICY).await.expect("rescue");
    assert!(rescued.retried.is_empty(), "{rescued:?}");

    worker.kill().expect("SIGKILL");
    let status = worker.wait().expect("the worker exits");
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status:?}");

    // Its leases run out; a rescue gives the videos back.
    let killed = Instant::now();
    let mut returned = Vec::new();
    while returned.len() < claimed.len() {
        assert!(
            killed.elapsed() < LEASE * 5,
            "the videos did not come back: {returned:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        returned.extend(
            pipeline::rescue(&mut conn, &POLICY)
                .await
                .expect("rescue")
                .retried,
        );
    }
    returned.sort();
    let mut expected: Vec<String> = claimed.iter().map(|claim| claim.id.clone()).collect();
    expected.sort();
    assert_eq!(returned, expected);
    for claim in &claimed {
        let state = JobState::find(&mut conn, "alice", &claim.id)
            .await
            .expect("state");
        assert_eq!(state.processing_status, ProcessingStatus::Pending);
        assert_eq!(state.attempt, claim.attempt, "the lost attempt counts");
        assert_eq!(state.last_error.as_deref(), Some(LEASE_EXPIRED));
    }

    // Another worker takes everything, the killed worker's videos as their
    // second attempt, and completes it.
    let jobs = pipeline::claim(&mut conn, "survivor", 10, LEASE)
        .await
        .expect("claim");
    assert_eq!(jobs.len(), 6);
    for job in &jobs {
        let expected_attempt = if expected.contains(&job.id) { 2 } else { 1 };
        assert_eq!(job.attempt, expected_attempt, "{}", job.id);
        pipeline::complete(&mut conn, &job.id, job.attempt, &AiContent::default(), &[])
            .await
            .expect("complete");
    }
    let stats = pipeline::stats(&mut conn).await.expect("stats");
    assert_eq!(stats.counts.completed, 6, "{stats:?}");
}

#[tokio::test]
async fn a_worker_that_loses_its_connection_reconnects_and_keeps_its_leases() {
    let test_db = TestDatabase::new().await;
    let mut conn = test_db.connect().await;
    common::alice_with_videos(&mut conn, 2).await;

    let (mut worker, claimed) = hold_leases(&test_db, "steady", 2);

    // The server ends every other session (as a restart would), twice.
    for _ in 0..2 {
        let ended = diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .execute(&mut conn)
        .await
        .expect("terminating");
        assert!(ended >= 1, "the worker's session was found");
        tokio::time::sleep(LEASE + LEASE / 2).await;
    }

    // Still running, and still renewing: no lease ran out.
    assert!(
        worker.try_wait().expect("status").is_none(),
        "the worker exited after losing its connection"
    );
    let rescued = pipeline::rescue(&mut conn, &POLICY).await.expect("rescue");
    assert!(rescued.retried.is_empty(), "{rescued:?}");
    for claim in &claimed {
        let state = JobState::find(&mut conn, "alice", &claim.id)
            .await
            .expect("state");
        assert_eq!(state.processing_status, ProcessingStatus::Processing);
        assert_eq!(state.worker_id.as_deref(), Some("steady"));
        assert_eq!(state.attempt, claim.attempt);
    }
    worker.kill().expect("SIGKILL");
    worker.wait().expect("the worker exits");
}
