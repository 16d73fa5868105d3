//! `mv-admin jobs` and `mv-admin videos requeue`, through their core functions and
//! from the outside.

mod common;

use std::time::Duration;

use assert_cmd::Command;
use db::models::{AiContent, ProcessingStatus, VideoSummary};
use db::pipeline::{self, Retry, RetryPolicy};
use local_pg::harness::TestDatabase;
use predicates::str::contains;

const LEASE: Duration = Duration::from_secs(60);
/// One attempt only, so a failure is final.
const ONCE: RetryPolicy = RetryPolicy {
    max_attempts: 1,
    base_delay: Duration::ZERO,
    max_delay: Duration::ZERO,
};

fn mv_admin(test_db: &TestDatabase) -> Command {
    let mut cmd = Command::cargo_bin("mv-admin").expect("the binary");
    cmd.args(["--database-url", test_db.url()]);
    cmd
}

#[tokio::test]
async fn jobs_shows_counts_the_oldest_pending_and_expired_leases() {
    let test_db = TestDatabase::new().await;
    let mut conn = test_db.connect().await;
    let ids = common::alice_with_videos(&mut conn, 5).await;
    let jobs = pipeline::claim(&mut conn, "w", 3, Duration::from_millis(50))
        .await
        .expect("claim");
    pipeline::complete(&mut conn, &jobs[0].id, 1, &AiContent::default(), &[])
        .await
        .expect("complete");
    assert_eq!(
        pipeline::fail(&mut conn, &jobs[1].id, 1, "no transcript", &ONCE)
            .await
            .expect("fail"),
        Retry::Exhausted
    );
    tokio::time::sleep(Duration::from_millis(100)).await;

    let stats = pipeline::stats(&mut conn).await.expect("stats");
    let text = mv_admin::commands::jobs::render(&stats);
    for line in [
        "pending            2  (0 waiting to retry)",
        "processing         1  (1 with an expired lease)",
        "completed          1",
        "failed             1",
        "oldest pending: saved ",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }

    let output = mv_admin(&test_db)
        .args(["--json", "jobs"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&output).expect("JSON");
    assert_eq!(json["counts"]["pending"], 2, "{json}");
    assert_eq!(json["counts"]["failed"], 1, "{json}");
    assert_eq!(json["expired_leases"], 1, "{json}");
    let oldest = VideoSummary::find(&conn, "alice", &ids[3])
        .await
        .expect("the oldest unclaimed video");
    let shown: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(json["oldest_pending"].clone()).expect("a time");
    assert_eq!(shown, oldest.created_at);

    mv_admin(&test_db)
        .arg("jobs")
        .assert()
        .success()
        .stdout(contains("failed             1"));
}

#[tokio::test]
async fn requeue_gives_a_failed_video_another_attempt() {
    let test_db = TestDatabase::new().await;
    let mut conn = test_db.connect().await;
    let ids = common::alice_with_videos(&mut conn, 2).await;
    let jobs = pipeline::claim(&mut conn, "w", 2, LEASE)
        .await
        .expect("claim");
    pipeline::fail(&mut conn, &ids[0], 1, "no transcript", &ONCE)
        .await
        .expect("fail");
    pipeline::complete(&mut conn, &jobs[1].id, 1, &AiContent::default(), &[])
        .await
        .expect("complete");

    let state = mv_admin::commands::videos::requeue::requeue(&mut conn, "alice", &ids[0])
        .await
        .expect("requeue");
    assert_eq!(state.processing_status, ProcessingStatus::Pending);
    assert_eq!(state.attempt, 1);
    assert_eq!(state.last_error.as_deref(), Some("no transcript"));
    let claimed = pipeline::claim(&mut conn, "w", 1, LEASE)
        .await
        .expect("claim");
    assert_eq!((claimed[0].id.as_str(), claimed[0].attempt), (&*ids[0], 2));
    pipeline::fail(&mut conn, &ids[0], 2, "still nothing", &ONCE)
        .await
        .expect("fail");

    mv_admin(&test_db)
        .args(["videos", "requeue", &ids[0], "--user", "alice"])
        .assert()
        .success()
        .stdout(contains("is pending again after 2 attempt(s)"))
        .stdout(contains("still nothing"));

    let refused = [
        (
            vec!["videos", "requeue", &ids[1], "--user", "alice"],
            "cannot move from completed to pending",
        ),
        // An unknown user is named before any video is looked up.
        (
            vec!["videos", "requeue", &ids[1], "--user", "bob"],
            "user \"bob\" not found",
        ),
        (
            vec!["videos", "requeue", "no-such-video", "--user", "alice"],
            "not found",
        ),
    ];
    for (args, message) in refused {
        mv_admin(&test_db)
            .args(&args)
            .assert()
            .code(1)
            .stderr(contains(message));
    }
    mv_admin(&test_db)
        .args(["videos", "requeue", &ids[0]])
        .assert()
        .code(2)
        .stderr(contains("--user"));
}

#[tokio::test]
async fn jobs_rescue_gives_back_expired_leases_when_no_worker_runs() {
    let test_db = TestDatabase::new().await;
    let mut conn = test_db.connect().await;
    common::alice_with_videos(&mut conn, 4).await;
    let short = pipeline::claim(&mut conn, "gone", 2, Duration::from_millis(50))
        .await
        .expect("claim");
    let held = pipeline::claim(&mut conn, "alive", 1, LEASE)
        .await
        .expect("claim");
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The last attempt of one of them: it fails for good.
    let output = mv_admin(&test_db)
        .args(["--json", "jobs", "rescue", "--max-attempts", "1"])
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rescued: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one document");
    let mut expected: Vec<&str> = short.iter().map(|job| job.id.as_str()).collect();
    expected.sort();
    assert_eq!(rescued["failed"], serde_json::json!(expected), "{rescued}");
    assert_eq!(rescued["retried"], serde_json::json!([]), "{rescued}");
    let state = pipeline::JobState::find(&mut conn, "alice", &held[0].id)
        .await
        .expect("state");
    assert_eq!(state.processing_status, ProcessingStatus::Processing);

    // Nothing left to rescue: said so, exit 0.
    mv_admin(&test_db)
        .args(["jobs", "rescue"])
        .assert()
        .success()
        .stdout(contains("no video had an expired lease"));

    // With attempts left, the video is pending again.
    let again = pipeline::claim(&mut conn, "gone", 1, Duration::from_millis(50))
        .await
        .expect("claim");
    tokio::time::sleep(Duration::from_millis(200)).await;
    mv_admin(&test_db)
        .args(["jobs", "rescue", "--base-delay", "0s"])
        .assert()
        .success()
        .stdout(contains(format!(
            "pending again, after their backoff: {}",
            again[0].id
        )));
    let state = pipeline::JobState::find(&mut conn, "alice", &again[0].id)
        .await
        .expect("state");
    assert_eq!(state.processing_status, ProcessingStatus::Pending);
}
