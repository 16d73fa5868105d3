//! The test harness itself: isolated, migrated databases on a shared server.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use local_pg::harness::TestDatabase;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[tokio::test]
async fn each_test_gets_its_own_migrated_database() {
    let a = TestDatabase::new().await;
    let b = TestDatabase::new().await;
    assert_ne!(a.name(), b.name());
    let mut conn_a = a.connect().await;
    let mut conn_b = b.connect().await;
    diesel::sql_query(
        "INSERT INTO \"user\" (id, name, email, \"createdAt\", \"updatedAt\") VALUES ('u1', 'A', 'a@x', now(), now())",
    )
    .execute(&mut conn_a)
    .await
    .expect("insert into a");
    let count = |conn| async move {
        diesel::sql_query("SELECT count(*) AS count FROM \"user\"")
            .get_result::<Count>(conn)
            .await
            .expect("count")
            .count
    };
    assert_eq!(count(&mut conn_a).await, 1);
    assert_eq!(count(&mut conn_b).await, 0, "databases must be isolated");
}

#[tokio::test]
async fn databases_are_dropped_with_their_handle() {
    let probe = TestDatabase::new().await;
    let name = {
        let doomed = TestDatabase::new().await;
        doomed.name().to_string()
    };
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        #[allow(dead_code)]
        datname: String,
    }
    let mut conn = probe.connect().await;
    let left: Vec<Name> = diesel::sql_query("SELECT datname FROM pg_database WHERE datname = $1")
        .bind::<Text, _>(&name)
        .load(&mut conn)
        .await
        .expect("query");
    assert!(left.is_empty(), "{name} should be gone");
}

#[tokio::test]
async fn empty_databases_have_no_tables() {
    let db = TestDatabase::empty().await;
    let mut conn = db.connect().await;
    let n =
        diesel::sql_query("SELECT count(*) AS count FROM pg_tables WHERE schemaname = 'public'")
            .get_result::<Count>(&mut conn)
            .await
            .expect("count")
            .count;
    assert_eq!(n, 0);
}

#[tokio::test]
async fn snapshots_change_with_any_row_of_any_table() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    let empty = local_pg::harness::snapshot(&mut conn).await;
    assert_eq!(
        local_pg::harness::snapshot(&mut conn).await,
        empty,
        "stable"
    );
    let mut seen = vec![empty];
    for statement in [
        r#"INSERT INTO "user" (id, name, email, "createdAt", "updatedAt") VALUES ('u', 'U', 'u@example.com', now(), now())"#,
        "INSERT INTO category (id, name) VALUES ('c', 'c')",
        "UPDATE category SET description = 'd'",
    ] {
        diesel::sql_query(statement)
            .execute(&mut conn)
            .await
            .expect(statement);
        let next = local_pg::harness::snapshot(&mut conn).await;
        assert!(!seen.contains(&next), "{statement} changed nothing");
        seen.push(next);
    }
}
