//! What the push and generate tests share: ways to edit schema.sql and to
//! look at a database.
#![allow(dead_code)] // each test binary uses its own part

use std::collections::BTreeMap;
use std::path::Path;

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use local_pg::harness::replace;
use schema_engine::catalog::{Schema, introspect};
use schema_engine::migrations::{self, DataLossPolicy, MigrationSet, Options};

/// schema.sql with `column` added as video_summary's last column.
pub fn add_to_video_summary(sql: &str, column: &str) -> String {
    replace(
        sql,
        "    last_error text,\n",
        &format!("    last_error text,\n    {column},\n"),
    )
}

pub async fn schema(conn: &mut AsyncPgConnection) -> Schema {
    introspect(conn).await.expect("introspect")
}

/// The schema with each table's columns in name order: what a database can
/// be compared on after a column came back at the end of its table.
pub fn normalized(schema: &Schema) -> Schema {
    let mut schema = schema.clone();
    for table in schema.tables.values_mut() {
        table.columns.sort_by(|a, b| a.name.cmp(&b.name));
    }
    schema
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// How many rows each table of `schema` holds.
pub async fn row_counts(conn: &mut AsyncPgConnection, schema: &Schema) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for table in schema.tables.values() {
        let count: Count =
            diesel::sql_query(format!("SELECT count(*) AS count FROM {}", table.ident))
                .get_result(conn)
                .await
                .expect("count");
        counts.insert(table.name.clone(), count.count);
    }
    counts
}

/// The names of the databases on the server that start with `prefix`.
pub async fn databases_like(conn: &mut AsyncPgConnection, prefix: &str) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        datname: String,
    }
    let rows: Vec<Name> = diesel::sql_query(
        "SELECT datname::text AS datname FROM pg_database WHERE starts_with(datname, $1)",
    )
    .bind::<diesel::sql_types::Text, _>(prefix)
    .load(conn)
    .await
    .expect("list databases");
    rows.into_iter().map(|r| r.datname).collect()
}

/// Reverts the newest migration of `dir` with the project's migration
/// engine, accepting data loss (the tests check `down.sql` itself).
pub async fn revert_last(mut conn: AsyncPgConnection, dir: &Path) -> String {
    let set = MigrationSet::from_dir(dir).expect("migrations folder");
    let mut report = migrations::revert(
        &mut conn,
        &set,
        &Options::default(),
        1,
        DataLossPolicy::Accept,
    )
    .await
    .expect("revert");
    report.reverted.pop().expect("one version reverted").version
}

/// Asserts two schemas are equal; on failure, shows the statements that
/// separate them rather than two pages of structs.
#[track_caller]
pub fn assert_same(actual: &Schema, expected: &Schema, what: &str) {
    if actual == expected {
        return;
    }
    let steps: Vec<String> = schema_engine::plan::diff(actual, expected)
        .into_iter()
        .map(|s| s.sql)
        .collect();
    if steps.is_empty() {
        panic!("{what}: the schemas differ in column order or names only");
    }
    panic!("{what}: the schemas differ by\n{}", steps.join("\n"));
}
