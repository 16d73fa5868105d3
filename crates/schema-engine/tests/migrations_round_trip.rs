//! Every migration applied, reverted and applied again on seeded data: the
//! schema comes back the same, and the revert refuses to drop the seeded
//! rows until told to.

use diesel_async::SimpleAsyncConnection;
use local_pg::harness::{TestDatabase, schema_snapshot};
use schema_engine::migrations::{self, DataLossPolicy, MigrateError, MigrationSet, Options};

const SEED: &str = r#"
INSERT INTO "user" (id, name, email, "createdAt", "updatedAt")
VALUES ('u1', 'Ada', 'ada@example.com', now(), now()),
       ('u2', 'Brian', 'brian@example.com', now(), now());
INSERT INTO video_summary (id, user_id, youtube_url, youtube_id, title)
VALUES ('v1', 'u1', 'https://youtu.be/aaaaaaaaaaa', 'aaaaaaaaaaa', 'One'),
       ('v2', 'u1', 'https://youtu.be/bbbbbbbbbbb', 'bbbbbbbbbbb', 'Two'),
       ('v3', 'u2', 'https://youtu.be/aaaaaaaaaaa', 'aaaaaaaaaaa', 'Three');
INSERT INTO tag (id, name) VALUES ('t1', 'rust');
INSERT INTO category (id, name) VALUES ('c1', 'programming');
INSERT INTO keyframe (id, video_summary_id, "timestamp", image_url) VALUES ('k1', 'v1', 12, 'https://img/1');
INSERT INTO video_summary_tag VALUES ('v1', 't1');
INSERT INTO video_summary_category VALUES ('v2', 'c1');
"#;

#[tokio::test]
async fn up_down_up_on_seeded_data_gives_the_same_schema() {
    let db = TestDatabase::empty().await;
    let mut conn = db.connect().await;
    let set = MigrationSet::embedded().expect("embedded migrations");
    let options = Options::default();
    let all = set.migrations().len();

    migrations::migrate(&mut conn, &set, &options)
        .await
        .expect("first up");
    let before = schema_snapshot(&mut conn).await;
    assert!(before.contains("table video_summary"), "{before}");
    conn.batch_execute(SEED).await.expect("seeding");

    // The seeded rows stop a revert that is not told to drop them.
    let refused = migrations::revert(&mut conn, &set, &options, all, DataLossPolicy::Refuse)
        .await
        .expect_err("reverting seeded tables must be refused");
    let MigrateError::DataLoss(losses) = &refused else {
        panic!("expected a data-loss refusal, got: {refused}");
    };
    let rows = |table: &str| {
        losses
            .iter()
            .find(|loss| loss.table == table && loss.column.is_none())
            .map(|loss| loss.rows)
    };
    assert_eq!(rows("public.video_summary"), Some(3), "{refused}");
    assert_eq!(rows("public.\"user\""), Some(2), "{refused}");
    assert_eq!(rows("public.keyframe"), Some(1), "{refused}");
    assert!(
        refused.to_string().contains("--accept-data-loss"),
        "{refused}"
    );
    assert_eq!(
        schema_snapshot(&mut conn).await,
        before,
        "a refused revert changes nothing"
    );

    let report = migrations::revert(&mut conn, &set, &options, all, DataLossPolicy::Accept)
        .await
        .expect("down");
    assert_eq!(report.reverted.len(), all);
    let empty = schema_snapshot(&mut conn).await;
    assert!(!empty.contains("table video_summary"), "{empty}");
    assert!(!empty.contains("table tag "), "{empty}");

    migrations::migrate(&mut conn, &set, &options)
        .await
        .expect("second up");
    assert_eq!(schema_snapshot(&mut conn).await, before);
}

#[tokio::test]
async fn redo_reverts_and_reapplies_the_newest_migration() {
    let db = TestDatabase::empty().await;
    let mut conn = db.connect().await;
    let set = MigrationSet::embedded().expect("embedded migrations");
    let options = Options::default();
    migrations::migrate(&mut conn, &set, &options)
        .await
        .expect("up");
    let before = schema_snapshot(&mut conn).await;
    // Empty tables: nothing to lose, so no acceptance is needed.
    let report = migrations::redo(&mut conn, &set, &options, 1, DataLossPolicy::Refuse)
        .await
        .expect("redo");
    let newest = set.migrations().last().map(|m| m.version.clone());
    assert_eq!(report.reverted.first().map(|d| d.version.clone()), newest);
    assert_eq!(report.applied.first().map(|d| d.version.clone()), newest);
    assert_eq!(schema_snapshot(&mut conn).await, before);
}
