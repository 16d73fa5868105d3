//! `seed --users N --videos N` loads the rows `scripts/bench/dataset.sql`
//! makes: `checksum.sql` prints the same lines for both.

mod common;

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

#[tokio::test]
async fn a_failure_midway_leaves_nothing_and_the_next_run_loads_all() {
    let database = TestDatabase::new().await;
    let client = db::connect_client(&database.config())
        .await
        .expect("connecting");
    // The last table fails, after every other one was sent.
    client
        .batch_execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'the disk is full'; END $$; \
             CREATE TRIGGER refuse BEFORE INSERT ON keyframe FOR EACH ROW EXECUTE FUNCTION refuse()",
        )
        .await
        .expect("trigger");
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
