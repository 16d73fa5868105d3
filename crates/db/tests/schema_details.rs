//! Invariants of the migrated schema, read from the catalog.

use db::testing::TestDatabase;
use diesel::QueryableByName;
use diesel::sql_types::{Bool, Text};
use diesel_async::RunQueryDsl;

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
        "UNIQUE INDEX video_summary_user_id_youtube_id_key ON public.video_summary USING btree (user_id, youtube_id)",
        "ON public.video_summary_tag USING btree (tag_id)",
        "ON public.video_summary_category USING btree (category_id)",
        "ON public.keyframe USING btree (video_summary_id, \"timestamp\")",
        "UNIQUE INDEX user_email_key",
        "UNIQUE INDEX tag_name_key",
        "UNIQUE INDEX category_name_key",
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
