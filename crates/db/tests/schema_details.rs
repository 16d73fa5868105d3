//! Invariants of the migrated schema, read from the catalog.

use diesel::QueryableByName;
use diesel::sql_types::{Bool, Text};
use diesel_async::RunQueryDsl;
use local_pg::harness::TestDatabase;

#[derive(QueryableByName, Debug)]
struct ForeignKey {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    on_delete: String,
    #[diesel(sql_type = Bool)]
    indexed: bool,
}

#[tokio::test]
async fn every_foreign_key_cascades_and_is_indexed() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    let keys: Vec<ForeignKey> = diesel::sql_query(
        r#"SELECT k.conname::text AS name, k.confdeltype::text AS on_delete,
                  EXISTS (SELECT 1 FROM pg_index i
                          WHERE i.indrelid = k.conrelid AND i.indkey[0] = k.conkey[1]) AS indexed
           FROM pg_constraint k
           WHERE k.contype = 'f' AND k.connamespace = 'public'::regnamespace
             AND NOT k.conrelid::regclass::text LIKE '\_\_%'"#,
    )
    .load(&mut conn)
    .await
    .expect("foreign keys");
    assert_eq!(keys.len(), 6, "{keys:?}");
    for key in keys {
        assert_eq!(key.on_delete, "c", "{} must cascade", key.name);
        assert!(
            key.indexed,
            "{} needs an index leading with its column",
            key.name
        );
    }
}

#[derive(QueryableByName)]
struct IndexDef {
    #[diesel(sql_type = Text)]
    def: String,
}

#[tokio::test]
async fn the_indexing_strategy_exists() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    let defs: Vec<String> =
        diesel::sql_query("SELECT indexdef AS def FROM pg_indexes WHERE schemaname = 'public'")
            .load::<IndexDef>(&mut conn)
            .await
            .expect("indexes")
            .into_iter()
            .map(|row| row.def)
            .collect();
    for expected in [
        "ON public.video_summary USING btree (user_id, created_at DESC, id DESC)",
        "video_summary_user_id_processing_status_created_at_id_idx ON public.video_summary USING btree (user_id, processing_status, created_at DESC, id DESC)",
        "UNIQUE INDEX video_summary_user_id_youtube_id_key ON public.video_summary USING btree (user_id, youtube_id)",
        "ON public.video_summary_tag USING btree (tag_id)",
        "ON public.video_summary_category USING btree (category_id)",
        "video_summary_tag_user_id_video_summary_id_tag_id_idx ON public.video_summary_tag USING btree (user_id, video_summary_id, tag_id)",
        "video_summary_category_user_id_video_summary_id_category_id_idx ON public.video_summary_category USING btree (user_id, video_summary_id, category_id)",
        "ON public.keyframe USING btree (video_summary_id, \"timestamp\")",
        "UNIQUE INDEX user_email_key",
        "UNIQUE INDEX tag_name_key",
        "UNIQUE INDEX category_name_key",
        "video_summary_pending_idx ON public.video_summary USING btree (created_at, id) WHERE (processing_status = 'pending'::text)",
        "video_summary_lease_idx ON public.video_summary USING btree (lease_expires_at) WHERE (processing_status = 'processing'::text)",
    ] {
        assert!(
            defs.iter().any(|def| def.contains(expected)),
            "missing {expected} in {defs:#?}"
        );
    }
}

#[tokio::test]
async fn the_database_rejects_an_unknown_status() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    diesel::sql_query(
        r#"INSERT INTO "user" (id, name, email, "createdAt", "updatedAt") VALUES ('u', 'U', 'u@x.io', now(), now())"#,
    )
    .execute(&mut conn)
    .await
    .expect("user");
    let result = diesel::sql_query(
        "INSERT INTO video_summary (id, user_id, youtube_url, youtube_id, title, processing_status)
         VALUES ('v', 'u', 'https://youtu.be/aaaaaaaaaaa', 'aaaaaaaaaaa', 't', 'done')",
    )
    .execute(&mut conn)
    .await;
    let error = result
        .expect_err("the CHECK constraint refuses it")
        .to_string();
    assert!(
        error.contains("video_summary_processing_status_check"),
        "{error}"
    );
}

#[tokio::test]
async fn a_link_follows_its_video_to_another_user_and_needs_the_video() {
    use diesel_async::SimpleAsyncConnection;
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    conn.batch_execute(
        r#"INSERT INTO "user" (id, name, email, "createdAt", "updatedAt")
           VALUES ('u1', 'A', 'a@x.io', now(), now()), ('u2', 'B', 'b@x.io', now(), now());
           INSERT INTO video_summary (id, user_id, youtube_url, youtube_id, title)
           VALUES ('v', 'u1', 'https://youtu.be/aaaaaaaaaaa', 'aaaaaaaaaaa', 't');
           INSERT INTO tag (id, name) VALUES ('t', 'rust');
           INSERT INTO category (id, name) VALUES ('c', 'programming');
           INSERT INTO video_summary_tag (video_summary_id, tag_id) VALUES ('v', 't');
           INSERT INTO video_summary_category (video_summary_id, category_id) VALUES ('v', 'c');
           UPDATE video_summary SET user_id = 'u2' WHERE id = 'v';"#,
    )
    .await
    .expect("a video moved to another user");
    #[derive(QueryableByName, Debug, PartialEq)]
    struct Owner {
        #[diesel(sql_type = Text)]
        user_id: String,
    }
    let owners: Vec<Owner> = diesel::sql_query(
        "SELECT user_id FROM video_summary_tag UNION ALL SELECT user_id FROM video_summary_category",
    )
    .load(&mut conn)
    .await
    .expect("links");
    assert_eq!(
        owners
            .iter()
            .map(|o| o.user_id.as_str())
            .collect::<Vec<_>>(),
        ["u2", "u2"]
    );

    // A link to no video fails as the foreign key would, naming it.
    for (table, label) in [
        ("video_summary_tag", "'t'"),
        ("video_summary_category", "'c'"),
    ] {
        let error = diesel::sql_query(format!("INSERT INTO {table} VALUES ('nope', {label})"))
            .execute(&mut conn)
            .await
            .expect_err("no such video");
        let diesel::result::Error::DatabaseError(kind, info) = &error else {
            panic!("{error:?}");
        };
        assert!(
            matches!(kind, diesel::result::DatabaseErrorKind::ForeignKeyViolation),
            "{error:?}"
        );
        let key = format!("{table}_video_summary_id_fkey");
        assert_eq!(info.constraint_name(), Some(key.as_str()));
        assert_eq!(info.table_name(), Some(table));
    }
}

#[derive(QueryableByName)]
struct Signature {
    #[diesel(sql_type = Text)]
    signature: String,
}

/// Every column with its type, default and comment, every constraint,
/// index, trigger and function of the public schema, as one text.
async fn catalog(conn: &mut diesel_async::AsyncPgConnection) -> String {
    diesel::sql_query(
        r#"SELECT string_agg(line, E'\n' ORDER BY line) AS signature FROM (
             SELECT format('column %s.%s %s %s %s %s', c.table_name, c.column_name, c.data_type,
                           c.is_nullable, c.column_default,
                           col_description(format('%I', c.table_name)::regclass, c.ordinal_position::int)) AS line
             FROM information_schema.columns c WHERE c.table_schema = 'public'
             UNION ALL SELECT format('constraint %s %s', conname, pg_get_constraintdef(oid))
             FROM pg_constraint WHERE connamespace = 'public'::regnamespace
             UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
             UNION ALL SELECT format('trigger %s %s', tgname, pg_get_triggerdef(oid))
             FROM pg_trigger WHERE NOT tgisinternal
             UNION ALL SELECT format('function %s', oid::regprocedure)
             FROM pg_proc WHERE pronamespace = 'public'::regnamespace
           ) lines"#,
    )
    .get_result::<Signature>(conn)
    .await
    .expect("catalog")
    .signature
}

/// The pipeline's migrations, in order: (name, up.sql, down.sql).
const PIPELINE: [(&str, &str, &str); 5] = [
    (
        "000002_processing_jobs",
        include_str!("../../../migrations/2026-11-25-000002_processing_jobs/up.sql"),
        include_str!("../../../migrations/2026-11-25-000002_processing_jobs/down.sql"),
    ),
    (
        "000003_processing_jobs_validate",
        include_str!("../../../migrations/2026-11-25-000003_processing_jobs_validate/up.sql"),
        include_str!("../../../migrations/2026-11-25-000003_processing_jobs_validate/down.sql"),
    ),
    (
        "000004_video_summary_pending_idx",
        include_str!("../../../migrations/2026-11-25-000004_video_summary_pending_idx/up.sql"),
        include_str!("../../../migrations/2026-11-25-000004_video_summary_pending_idx/down.sql"),
    ),
    (
        "000005_video_summary_lease_idx",
        include_str!("../../../migrations/2026-11-25-000005_video_summary_lease_idx/up.sql"),
        include_str!("../../../migrations/2026-11-25-000005_video_summary_lease_idx/down.sql"),
    ),
    (
        "000006_processing_jobs_trigger",
        include_str!("../../../migrations/2026-11-25-000006_processing_jobs_trigger/up.sql"),
        include_str!("../../../migrations/2026-11-25-000006_processing_jobs_trigger/down.sql"),
    ),
];

#[tokio::test]
async fn the_pipeline_migrations_revert_to_the_schema_before_them() {
    use diesel_async::SimpleAsyncConnection;
    let db = TestDatabase::empty().await;
    let mut conn = db.connect().await;
    let initial = include_str!("../../../migrations/2026-11-25-000001_create_schema/up.sql");
    conn.batch_execute(initial).await.expect("initial schema");
    // A video left processing before leases existed, and one completed.
    conn.batch_execute(
        r#"INSERT INTO "user" (id, name, email, "createdAt", "updatedAt") VALUES ('u', 'U', 'u@x.io', now(), now());
           INSERT INTO video_summary (id, user_id, youtube_url, youtube_id, title, processing_status)
           VALUES ('v', 'u', 'https://youtu.be/aaaaaaaaaaa', 'aaaaaaaaaaa', 't', 'processing'),
                  ('w', 'u', 'https://youtu.be/bbbbbbbbbbb', 'bbbbbbbbbbb', 't', 'completed')"#,
    )
    .await
    .expect("data");
    let before = catalog(&mut conn).await;
    // Each file alone, as the runner sends it (the index files outside a
    // transaction: batch_execute of one statement is its own transaction).
    for (name, up, _) in PIPELINE {
        conn.batch_execute(up)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let migrated = catalog(&mut conn).await;
    assert_ne!(migrated, before);
    // No row was written: the video left in processing has neither a
    // lease nor an attempt, and rescue gives it back to the queue.
    #[derive(QueryableByName, Debug)]
    struct Backfill {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        attempt: i32,
        #[diesel(sql_type = Bool)]
        no_lease: bool,
    }
    let untouched = diesel::sql_query(
        "SELECT attempt, lease_expires_at IS NULL AS no_lease FROM video_summary ORDER BY id",
    )
    .load::<Backfill>(&mut conn)
    .await
    .expect("rows");
    assert!(
        untouched.iter().all(|row| row.attempt == 0 && row.no_lease),
        "{untouched:?}"
    );
    let rescued = db::pipeline::rescue(&mut conn, &db::pipeline::RetryPolicy::default())
        .await
        .expect("rescue");
    assert_eq!(rescued.retried, ["v"], "the video left in processing");
    assert!(rescued.failed.is_empty(), "{rescued:?}");
    for (name, _, down) in PIPELINE.iter().rev() {
        conn.batch_execute(down)
            .await
            .unwrap_or_else(|e| panic!("{name} down: {e}"));
    }
    assert_eq!(
        catalog(&mut conn).await,
        before,
        "the down.sql files undo the up.sql files"
    );
    for (name, up, _) in PIPELINE {
        conn.batch_execute(up)
            .await
            .unwrap_or_else(|e| panic!("{name} again: {e}"));
    }
    assert_eq!(catalog(&mut conn).await, migrated, "and they run again");
}
