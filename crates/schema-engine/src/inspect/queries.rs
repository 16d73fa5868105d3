//! The slowest statements, as
//! pg_stat_statements measured them.

use crate::error::{Context as _, Error, Result};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Double, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

/// A normalized statement and its timings, in milliseconds.
#[derive(Debug, Clone, PartialEq, QueryableByName, Serialize)]
pub struct Statement {
    #[diesel(sql_type = Text)]
    pub query: String,
    #[diesel(sql_type = BigInt)]
    pub calls: i64,
    #[diesel(sql_type = Double)]
    pub mean_exec_time: f64,
    #[diesel(sql_type = Double)]
    pub total_exec_time: f64,
    #[diesel(sql_type = BigInt)]
    pub rows: i64,
}

#[derive(QueryableByName)]
struct Availability {
    #[diesel(sql_type = Text)]
    preload: String,
    /// The schema the extension was created in, if it was.
    #[diesel(sql_type = Nullable<Text>)]
    schema: Option<String>,
}

const AVAILABILITY: &str = "
SELECT current_setting('shared_preload_libraries') AS preload,
       (SELECT quote_ident(n.nspname)
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_stat_statements') AS schema";

/// This database's statements, slowest on average first; fails with
/// [`Error::StatementsUnavailable`], saying how to turn it on, when the server does
/// not collect them.
pub async fn slowest(conn: &mut AsyncPgConnection, limit: i64) -> Result<Vec<Statement>> {
    let availability: Availability = diesel::sql_query(AVAILABILITY)
        .get_result(conn)
        .await
        .context("Failed to check for pg_stat_statements")?;
    let loaded = availability
        .preload
        .split(',')
        .any(|library| library.trim().trim_matches('"') == "pg_stat_statements");
    let schema = match (loaded, availability.schema) {
        (true, Some(schema)) => schema,
        (false, _) => {
            return Err(unavailable(format!(
                "pg_stat_statements is not loaded by the server (shared_preload_libraries = {:?}); \
                 add it to shared_preload_libraries in postgresql.conf, restart the server, \
                 then run CREATE EXTENSION pg_stat_statements in this database",
                availability.preload
            )));
        }
        (true, None) => {
            return Err(unavailable(
                "pg_stat_statements is loaded but not installed in this database; \
                 run CREATE EXTENSION pg_stat_statements in it"
                    .to_string(),
            ));
        }
    };
    // `schema` is the catalog's own name, quoted by quote_ident.
    let sql = format!(
        "SELECT s.query, s.calls, s.mean_exec_time, s.total_exec_time, s.rows \
         FROM {schema}.pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
         WHERE d.datname = current_database() \
         ORDER BY s.mean_exec_time DESC LIMIT $1"
    );
    diesel::sql_query(sql)
        .bind::<BigInt, _>(limit)
        .load(conn)
        .await
        .context("Failed to read pg_stat_statements")
}

/// Why statistics are missing and how to get them.
fn unavailable(how_to: String) -> Error {
    Error::StatementsUnavailable { how_to }
}
