//! What the manifest records of a database, read the same way from the
//! source (in the dump's snapshot) and from a restored copy: its tables with
//! their row counts and digests, and its applied migrations.
//!
//! A table's digest is computed by the server: every row in its text form
//! (`row::text`, under fixed output settings) hashed with PostgreSQL's own
//! 64-bit text hash (`hashtextextended`, which hash partitioning relies on
//! to stay the same across versions), and the hashes summed. The sum does
//! not depend on the order of the rows, so no sort is needed and a server
//! with another collation computes the same digest; a changed, missing or
//! extra row changes it. It costs about what `COPY` of the table does, where
//! md5 per row cost three times as much. The hash depends on the server's
//! byte order, so digests compare between little-endian servers (x86-64 and
//! ARM) only.

use tokio_postgres::Client;

use super::manifest::{AppliedMigration, TableDigest};
use crate::error::{Context as _, Result};

/// How digests are computed, as the manifest names it.
pub const METHOD: &str = "count(*) and sum(hashtextextended(row::text, 0)), little-endian, \
                          TimeZone UTC, DateStyle ISO, IntervalStyle postgres, \
                          extra_float_digits 1, bytea_output hex";

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

/// The row count and digest of one table.
pub(crate) async fn digest(client: &Client, schema: &str, name: &str) -> Result<TableDigest> {
    let sql = format!(
        "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text
         FROM ONLY {}.{} t",
        quote_ident(schema),
        quote_ident(name)
    );
    let row = client
        .query_one(&sql, &[])
        .await
        .with_context(|| format!("Failed to digest the table {schema}.{name}"))?;
    Ok(TableDigest {
        schema: schema.to_string(),
        name: name.to_string(),
        rows: Some(row.get(0)),
        digest: Some(row.get(1)),
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
