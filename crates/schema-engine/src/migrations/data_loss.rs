//! What a revert would delete. The `down.sql`s run in a transaction that is
//! rolled back, and the catalog before and after says which tables and
//! columns they drop: PostgreSQL reads the SQL, so nothing here parses it,
//! and `CASCADE`, `DROP SCHEMA` or a function that drops are all seen.

use std::collections::HashSet;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Int4, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use serde::Serialize;

use super::runner::{Timeouts, describe_db_error};
use super::source::SourceMigration;
use super::{MigrateError, Options};

/// A table or column that holds data and would be dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataLoss {
    /// The table, schema-qualified and quoted as SQL needs.
    pub table: String,
    /// The column, when only a column goes.
    pub column: Option<String>,
    /// Rows of the table, or non-null values of the column.
    pub rows: i64,
}

impl DataLoss {
    /// "table public.tag (3 rows)" or "column public.tag.description (2 values)".
    pub fn describe(&self) -> String {
        match &self.column {
            None => format!("table {} ({} rows)", self.table, self.rows),
            Some(column) => format!(
                "column {}.{column} ({} non-null values)",
                self.table, self.rows
            ),
        }
    }
}

#[derive(Debug, Clone, QueryableByName)]
struct CatalogColumn {
    #[diesel(sql_type = BigInt)]
    table_oid: i64,
    #[diesel(sql_type = Int4)]
    attnum: i32,
    #[diesel(sql_type = Text)]
    qualified: String,
    #[diesel(sql_type = Text)]
    quoted_column: String,
}

/// Every column of every ordinary table outside the system schemas and the
/// bookkeeping tables.
const CATALOG: &str = "\
SELECT c.oid::int8 AS table_oid, a.attnum::int4 AS attnum, \
       quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS qualified, \
       quote_ident(a.attname) AS quoted_column \
FROM pg_class c \
JOIN pg_namespace n ON n.oid = c.relnamespace \
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
WHERE c.relkind IN ('r', 'p') \
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' \
  AND c.relname NOT LIKE '\\_\\_%'";

async fn catalog(conn: &mut AsyncPgConnection) -> Result<Vec<CatalogColumn>, MigrateError> {
    diesel::sql_query(CATALOG)
        .load(conn)
        .await
        .map_err(MigrateError::db("read the catalog"))
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

async fn trial(
    conn: &mut AsyncPgConnection,
    migrations: &[&SourceMigration],
    options: &Options,
) -> Result<(Vec<CatalogColumn>, Vec<CatalogColumn>), MigrateError> {
    let before = catalog(conn).await?;
    for migration in migrations {
        let down = migration
            .down
            .as_deref()
            .ok_or_else(|| MigrateError::NoDown {
                name: migration.name.clone(),
            })?;
        Timeouts::of(migration, options).set(conn, true).await?;
        conn.batch_execute(down)
            .await
            .map_err(|e| MigrateError::DataLossUnknown {
                name: migration.name.clone(),
                cause: describe_db_error(&e),
            })?;
    }
    Ok((before, catalog(conn).await?))
}

/// The data that running these `down.sql`s, in order, would delete.
pub async fn find(
    conn: &mut AsyncPgConnection,
    migrations: &[&SourceMigration],
    options: &Options,
) -> Result<Vec<DataLoss>, MigrateError> {
    conn.batch_execute("BEGIN")
        .await
        .map_err(MigrateError::db("start the trial revert"))?;
    let trial = trial(conn, migrations, options).await;
    // Rolled back whatever happened: this was only a trial.
    let rollback = conn
        .batch_execute("ROLLBACK")
        .await
        .map_err(MigrateError::db("roll back the trial revert"));
    let (before, after) = trial?;
    rollback?;
    let tables_after: HashSet<i64> = after.iter().map(|c| c.table_oid).collect();
    let columns_after: HashSet<(i64, i32)> =
        after.iter().map(|c| (c.table_oid, c.attnum)).collect();

    let mut losses = Vec::new();
    let mut counted_tables = HashSet::new();
    for column in &before {
        let (query, loss) = if !tables_after.contains(&column.table_oid) {
            if !counted_tables.insert(column.table_oid) {
                continue;
            }
            (
                format!("SELECT count(*) AS count FROM {}", column.qualified),
                DataLoss {
                    table: column.qualified.clone(),
                    column: None,
                    rows: 0,
                },
            )
        } else if !columns_after.contains(&(column.table_oid, column.attnum)) {
            (
                format!(
                    "SELECT count(*) AS count FROM {} WHERE {} IS NOT NULL",
                    column.qualified, column.quoted_column
                ),
                DataLoss {
                    table: column.qualified.clone(),
                    column: Some(column.quoted_column.clone()),
                    rows: 0,
                },
            )
        } else {
            continue;
        };
        let Count { count } = diesel::sql_query(query)
            .get_result(conn)
            .await
            .map_err(MigrateError::db("count the rows a revert would delete"))?;
        if count > 0 {
            losses.push(DataLoss {
                rows: count,
                ..loss
            });
        }
    }
    Ok(losses)
}
