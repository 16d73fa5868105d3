//! One module per command: each reads its arguments, calls the libraries
//! (`db`, `schema-engine`, `local-pg`) and prints.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use diesel_async::AsyncPgConnection;
use schema_engine::foreign::Foreign;
use schema_engine::mark::{self, Environment, MARK_TABLE};

pub mod adopt;
pub mod backup;
pub mod bench;
pub mod db;
pub mod generate;
pub mod hold_leases;
pub mod inspect;
pub mod jobs;
pub mod labels;
pub mod migrate;
pub mod push;
pub mod quickstart;
pub mod schema;
pub mod seed;
pub mod studio;
pub mod users;
pub mod videos;

/// Refuses a database marked production before `command` writes user data
/// (demo and benchmark data, drills): on production, user data is the
/// application's, and the schema changes only through migrations.
pub async fn refuse_production(conn: &mut AsyncPgConnection, command: &str) -> Result<()> {
    if let Some(environment) = mark::read(conn).await?
        && environment == Environment::Production.as_str()
    {
        bail!(
            "the database is marked {environment} (`mv-admin db mark`, table {MARK_TABLE}): \
             {command} writes user data and refuses it; nothing was changed"
        );
    }
    Ok(())
}

/// The desired schema (`--schema`): its name for messages, and its text.
fn read_schema_sql(path: &Path) -> Result<(String, String)> {
    let source = path.display().to_string();
    let sql = std::fs::read_to_string(path).with_context(|| {
        format!("Failed to read {source} (run from the repository's root or pass --schema)")
    })?;
    Ok((source, sql))
}

/// The foreign tables declared in schema.sql: in `path` when given (it must
/// exist), else in the repository's schema.sql when run from its root, else
/// none.
fn declared_foreign(path: Option<&Path>) -> Result<Foreign> {
    let path = match path {
        Some(path) => path,
        None if Path::new(crate::SCHEMA_SQL).is_file() => Path::new(crate::SCHEMA_SQL),
        None => return Ok(Foreign::default()),
    };
    let (source, sql) = read_schema_sql(path)?;
    Ok(Foreign::parse(&sql, &source)?)
}
