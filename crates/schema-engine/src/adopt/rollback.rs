//! The reverse plan: SQL that turns the baseline back into the schema
//! drizzle-kit made, written by the differ and tried on a scratch database
//! holding the baseline before adopt changes anything.

use diesel_async::AsyncPgConnection;

use super::{AdoptError, Detected, detect};
use crate::catalog::{Schema, introspect};
use crate::plan;
use crate::scratch::execute_file;

/// What a rollback cannot give back.
pub const CANNOT_RESTORE: [&str; 3] = [
    "the original text of the AI content: jsonb keeps neither its white space, nor its key order, nor duplicate keys (the last one wins), and json gets jsonb's text back",
    "drizzle-kit's history stays as it was (adopt never changes it), but rows written after the conversion stay too, converted back",
    "the migrations applied after the baseline: revert them first (`mv-admin migrate revert --steps N`, N = the number applied after 2026-11-25-000001_create_schema)",
];

/// The rollback script for a database adopted from `detected`.
pub fn reverse_sql(baseline: &Schema, shape: &Schema, detected: &Detected) -> String {
    let steps = plan::diff(&detect::app_tables(baseline), &detect::app_tables(shape));
    let mut sql = String::from(
        "-- Undoes `mv-admin adopt`: the app's tables go back to the schema drizzle-kit made\n",
    );
    sql.push_str(&format!(
        "-- ({}, {}), and this project's migration history is dropped.\n",
        detected.made_by,
        detected.migrations.join(" + ")
    ));
    sql.push_str("-- Tried on a scratch database before adopt changed anything.\n--\n");
    sql.push_str("-- It cannot restore:\n");
    for item in CANNOT_RESTORE {
        sql.push_str(&format!("--   - {item}\n"));
    }
    sql.push_str(
        "--\n-- It rewrites video_summary (jsonb to json) under an ACCESS EXCLUSIVE lock: run it \
         in a\n-- maintenance window, with the application stopped:\n--   psql -v \
         ON_ERROR_STOP=1 -f <this file> \"$DATABASE_URL\"\n\n",
    );
    sql.push_str("BEGIN;\n-- Times go back to UTC wall-clock times, as drizzle-orm wrote them.\n");
    sql.push_str("SET LOCAL TimeZone = 'UTC';\n");
    for step in steps {
        sql.push_str(&step.sql);
        sql.push('\n');
    }
    sql.push_str(
        "DROP TABLE IF EXISTS public.__mv_migration_history, public.__mv_migration_log, \
         public.__diesel_schema_migrations;\nCOMMIT;\n",
    );
    sql
}

/// Runs `sql` on `conn` (a scratch database holding the baseline); returns
/// the schema it leaves.
pub async fn apply(conn: &mut AsyncPgConnection, sql: &str) -> crate::Result<Schema> {
    execute_file(conn, sql, "the rollback script").await?;
    introspect(conn).await
}

/// Checks that the rollback gave the app's tables of `shape` back.
pub fn check(after: &Schema, shape: &Schema) -> Result<(), AdoptError> {
    let left = detect::differences(&detect::app_tables(after), &detect::app_tables(shape));
    if left.is_empty() {
        Ok(())
    } else {
        Err(AdoptError::Verification(
            std::iter::once(
                "the rollback script, tried on a scratch database, does not give drizzle's schema back"
                    .to_string(),
            )
            .chain(left)
            .collect(),
        ))
    }
}
