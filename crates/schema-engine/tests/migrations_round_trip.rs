//! Every migration applied, reverted and applied again on seeded data: the
//! schema comes back the same, and the revert refuses to drop the seeded
//! rows until told to.

use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
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

/// A new database with every embedded migration applied, the set, and the
/// default options.
async fn migrated() -> (TestDatabase, AsyncPgConnection, MigrationSet, Options) {
    let db = TestDatabase::empty().await;
    let mut conn = db.connect().await;
    let set = MigrationSet::embedded().expect("embedded migrations");
    let options = Options::default();
    migrations::migrate(&mut conn, &set, &options)
        .await
        .expect("every migration applied");
    (db, conn, set, options)
}

#[tokio::test]
async fn up_down_up_on_seeded_data_gives_the_same_schema() {
    let (_db, mut conn, set, options) = migrated().await;
    let all = set.migrations().len();
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
    let (_db, mut conn, set, options) = migrated().await;
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

/// How many links of each table lack their video's user, and how many there are.
async fn links_without_their_user(conn: &mut AsyncPgConnection) -> (i64, i64) {
    use diesel::QueryableByName;
    use diesel::sql_types::BigInt;
    use diesel_async::RunQueryDsl;
    #[derive(QueryableByName)]
    struct Counts {
        #[diesel(sql_type = BigInt)]
        wrong: i64,
        #[diesel(sql_type = BigInt)]
        total: i64,
    }
    let counts: Counts = diesel::sql_query(
        "SELECT count(*) FILTER (WHERE link.user_id IS DISTINCT FROM v.user_id) AS wrong,
                count(*) AS total
         FROM (SELECT video_summary_id, user_id FROM video_summary_tag
               UNION ALL SELECT video_summary_id, user_id FROM video_summary_category) AS link
         JOIN video_summary v ON v.id = link.video_summary_id",
    )
    .get_result(conn)
    .await
    .expect("counting links");
    (counts.wrong, counts.total)
}

#[tokio::test]
async fn links_made_before_user_id_existed_are_filled_batch_after_batch() {
    let (_db, mut conn, set, options) = migrated().await;
    let first = set
        .migrations()
        .iter()
        .position(|m| m.name.ends_with("_link_user_id"))
        .expect("the link_user_id migration");
    assert_eq!(
        set.migrations().len() - first,
        5,
        "the five link migrations are the newest"
    );
    migrations::revert(&mut conn, &set, &options, 5, DataLossPolicy::Refuse)
        .await
        .expect("back to links without user_id");
    // 2,500 videos of two users (three batches of the backfill), linked the
    // way the Drizzle application links them.
    conn.batch_execute(
        r#"INSERT INTO "user" (id, name, email, "createdAt", "updatedAt")
           VALUES ('u1', 'Ada', 'ada@example.com', now(), now()),
                  ('u2', 'Brian', 'brian@example.com', now(), now());
           INSERT INTO video_summary (id, user_id, youtube_url, youtube_id, title)
           SELECT 'v' || lpad(g::text, 5, '0'), 'u' || (g % 2 + 1), 'https://youtu.be/x', 'y' || g, 't'
           FROM generate_series(1, 2500) g;
           INSERT INTO tag (id, name) VALUES ('t1', 'rust'), ('t2', 'sql');
           INSERT INTO category (id, name) VALUES ('c1', 'programming');
           INSERT INTO video_summary_tag (video_summary_id, tag_id)
           SELECT id, t FROM video_summary, (VALUES ('t1'), ('t2')) AS tags (t);
           INSERT INTO video_summary_category (video_summary_id, category_id)
           SELECT id, 'c1' FROM video_summary;"#,
    )
    .await
    .expect("links without user_id");
    migrations::migrate(&mut conn, &set, &options)
        .await
        .expect("the link migrations again");
    assert_eq!(links_without_their_user(&mut conn).await, (0, 7500));

    // The trigger fills what the Drizzle application inserts, and nobody
    // can file a link under another user.
    conn.batch_execute(
        "INSERT INTO tag (id, name) VALUES ('t3', 'go');
         INSERT INTO video_summary_tag (video_summary_id, tag_id) VALUES ('v00001', 't3');
         INSERT INTO video_summary_tag VALUES ('v00002', 't3', 'u2');
         UPDATE video_summary_category SET user_id = 'u1' WHERE video_summary_id = 'v00001';",
    )
    .await
    .expect("links after the migrations");
    assert_eq!(links_without_their_user(&mut conn).await, (0, 7502));
}
