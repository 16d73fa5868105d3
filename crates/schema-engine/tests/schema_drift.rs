//! `schema.rs` is generated: it must equal what the migrations produce.

use local_pg::harness::TestDatabase;
use schema_engine::schema_rs::{first_difference, generate};

#[tokio::test]
async fn schema_rs_matches_the_migrations() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    let generated = generate(&mut conn, &Default::default())
        .await
        .expect("generate");
    let committed = include_str!("../../db/src/schema.rs");
    if let Some(difference) = first_difference(committed, &generated) {
        panic!(
            "crates/db/src/schema.rs is stale ({difference}); run `cargo run -p mv-admin -- schema`"
        );
    }
}
