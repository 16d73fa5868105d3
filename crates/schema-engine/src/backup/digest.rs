//! What the manifest records of a database, read the same way from the
//! source (in the dump's snapshot) and from a restored copy: its tables with
//! their row counts and digests, and its applied migrations.
//!
//! A table's digest is computed by the server: its row count, and the sum
//! over its rows of `hash_record_extended(row, 0)`, which combines the
//! 64-bit hash of every column by its type's own hash function, the one hash
//! partitioning relies on to stay the same across versions. A table with a
//! column whose type has no hash function (json, xml, point, ...) is hashed
//! in its text form instead, `hashtextextended(row::text, 0)` under fixed
//! output settings; the manifest records which, per table. The sum does not
//! depend on the order of the rows, so no sort is needed and a server with
//! another collation computes the same digest; a changed, missing or extra
//! row changes it. Hashing the columns costs about a third of a `COPY` of
//! the table, the text form about one, md5 of the text form three. The
//! hashes depend on the server's byte order, so digests compare between
//! little-endian servers (x86-64 and ARM) only.

use tokio_postgres::Client;

use super::manifest::{AppliedMigration, TableDigest};
use crate::error::{Context as _, Result};

/// How digests are computed, as the manifest names it.
pub const METHOD: &str = "count(*) and sum(hash_record_extended(row, 0)) (\"record\"), or \
                          sum(hashtextextended(row::text, 0)) (\"text\"), little-endian; \
                          text under TimeZone UTC, DateStyle ISO, IntervalStyle postgres, \
                          extra_float_digits 1, bytea_output hex";

/// Hashing the columns by their types' hash functions.
pub const BY_RECORD: &str = "record";
/// Hashing the row's text form.
pub const BY_TEXT: &str = "text";

/// Fixes every setting a row's text form depends on, and lifts the
/// statement timeout (a digest of a large table takes a while).
pub(crate) async fn prepare_session(client: &Client) -> Result<()> {
    client
        .batch_execute(
            "SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0; \
             SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; \
             SET IntervalStyle = 'postgres'; SET extra_float_digits = 1; \
             SET bytea_output = 'hex'",
        )
        .await
        .context("Failed to prepare the session for digests")
}

/// Every ordinary table outside the system schemas (the bookkeeping tables
/// included), as `(schema, name)`, sorted. Tables of extensions are left
/// out, as pg_dump leaves out their rows.
pub(crate) async fn tables(client: &Client) -> Result<Vec<(String, String)>> {
    let rows = client
        .query(
            "SELECT n.nspname, c.relname
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind = 'r'
               AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
               AND NOT EXISTS (SELECT 1 FROM pg_depend d
                               WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                 AND d.deptype = 'e')
             ORDER BY n.nspname COLLATE \"C\", c.relname COLLATE \"C\"",
            &[],
        )
        .await
        .context("Failed to list the tables")?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The row count and digest of one table, hashed `by` [`BY_RECORD`] or
/// [`BY_TEXT`]; with `None`, by record where the columns' types allow it,
/// else by text (this must run inside a transaction: the attempt is
/// undone to a savepoint).
pub(crate) async fn digest(
    client: &Client,
    schema: &str,
    name: &str,
    by: Option<&str>,
) -> Result<TableDigest> {
    let table = format!("{}.{}", quote_ident(schema), quote_ident(name));
    let sql = |by: &str| {
        let hash = if by == BY_RECORD {
            "hash_record_extended(t, 0)"
        } else {
            "hashtextextended(t::text, 0)"
        };
        format!("SELECT count(*), coalesce(sum({hash}), 0)::text FROM ONLY {table} t")
    };
    let failed = |e| crate::error::Error::Failed {
        context: format!("Failed to digest the table {schema}.{name}"),
        source: Box::new(e),
    };
    let (by, row) = match by {
        Some(by) => (by, client.query_one(&sql(by), &[]).await.map_err(failed)?),
        None => {
            client
                .batch_execute("SAVEPOINT mv_digest")
                .await
                .map_err(failed)?;
            match client.query_one(&sql(BY_RECORD), &[]).await {
                Ok(row) => (BY_RECORD, row),
                // A column type without a hash function (42883).
                Err(e)
                    if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_FUNCTION) =>
                {
                    client
                        .batch_execute("ROLLBACK TO SAVEPOINT mv_digest")
                        .await
                        .map_err(failed)?;
                    (
                        BY_TEXT,
                        client.query_one(&sql(BY_TEXT), &[]).await.map_err(failed)?,
                    )
                }
                Err(e) => return Err(failed(e)),
            }
        }
    };
    Ok(TableDigest {
        schema: schema.to_string(),
        name: name.to_string(),
        rows: Some(row.get(0)),
        digest: Some(row.get(1)),
        hashed: Some(by.to_string()),
    })
}

/// The applied migrations as the migration history records them (the
/// versions alone, from Diesel's table, for a database migrated before the
/// history existed); empty when the database was never migrated.
pub(crate) async fn migrations(client: &Client) -> Result<Vec<AppliedMigration>> {
    let found = client
        .query_one(
            "SELECT to_regclass('public.__mv_migration_history') IS NOT NULL,
                    to_regclass('public.__diesel_schema_migrations') IS NOT NULL",
            &[],
        )
        .await
        .context("Failed to look for the migration history")?;
    let sql = if found.get(0) {
        "SELECT version, name, checksum FROM public.__mv_migration_history
         WHERE state = 'applied' ORDER BY version"
    } else if found.get(1) {
        "SELECT version::text, '', NULL::text FROM public.__diesel_schema_migrations ORDER BY version"
    } else {
        return Ok(Vec::new());
    };
    let rows = client
        .query(sql, &[])
        .await
        .context("Failed to read the applied migrations")?;
    Ok(rows
        .iter()
        .map(|row| AppliedMigration {
            version: row.get(0),
            name: row.get(1),
            checksum: row.get(2),
        })
        .collect())
}
