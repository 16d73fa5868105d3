//! The production mark: a bookkeeping table in the database itself, so the
//! mark travels with the data (dumps, restores, copies) and every client
//! sees it, whatever URL it used.

use crate::error::{Context as _, Result};
use diesel::QueryableByName;
use diesel::sql_types::{Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

/// The bookkeeping table holding the mark; its `__` prefix keeps it out
/// of the schema.
pub const MARK_TABLE: &str = "__mv_environment";

/// What a database can be marked as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// Changed only through migrations: push refuses it.
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Production => "production",
        }
    }
}

impl std::str::FromStr for Environment {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "production" => Ok(Self::Production),
            other => Err(format!(
                "{other:?} is not an environment (expected: production)"
            )),
        }
    }
}

#[derive(QueryableByName)]
struct MarkRow {
    #[diesel(sql_type = Nullable<Text>)]
    environment: Option<String>,
}

/// Marks the database `conn` is connected to.
pub async fn mark(conn: &mut AsyncPgConnection, environment: Environment) -> Result<()> {
    // One batch: PostgreSQL runs it as one transaction.
    conn.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS public.{MARK_TABLE} (
             environment text PRIMARY KEY,
             marked_at timestamptz NOT NULL DEFAULT now()
         );
         COMMENT ON TABLE public.{MARK_TABLE} IS 'Written by mv-admin db mark; push refuses a database marked production.';
         DELETE FROM public.{MARK_TABLE};
         INSERT INTO public.{MARK_TABLE} (environment) VALUES ('{}');",
        environment.as_str()
    ))
    .await
    .context("Failed to mark the database")
}

/// Removes the mark; returns what the database was marked as, if anything.
pub async fn unmark(conn: &mut AsyncPgConnection) -> Result<Option<String>> {
    let previous = read(conn).await?;
    conn.batch_execute(&format!("DROP TABLE IF EXISTS public.{MARK_TABLE}"))
        .await
        .context("Failed to remove the mark")?;
    Ok(previous)
}

/// What the database is marked as, if anything.
pub async fn read(conn: &mut AsyncPgConnection) -> Result<Option<String>> {
    // The table may not exist: ask the catalog first, so no error aborts
    // the caller's transaction.
    let exists: MarkRow = diesel::sql_query(format!(
        "SELECT to_regclass('public.{MARK_TABLE}')::text AS environment"
    ))
    .get_result(conn)
    .await
    .context("Failed to look for the production mark")?;
    if exists.environment.is_none() {
        return Ok(None);
    }
    let rows: Vec<MarkRow> = diesel::sql_query(format!(
        "SELECT environment FROM public.{MARK_TABLE} LIMIT 1"
    ))
    .load(conn)
    .await
    .context("Failed to read the production mark")?;
    Ok(rows.into_iter().next().and_then(|row| row.environment))
}
