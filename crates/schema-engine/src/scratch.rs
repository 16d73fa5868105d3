//! Scratch databases: made on the target's server for PostgreSQL to load
//! `schema.sql` or replay the migrations into, read, and always dropped.

use std::path::Path;

use crate::error::{Context as _, Result};
use crate::migrations::{self, MigrationSet, Options};
use crate::unique_name;
use db::DbConfig;
use db::config::redact_url;
use diesel::result::Error as DieselError;
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};

use crate::catalog::{Schema, introspect};

const PREFIX: &str = "mv_scratch_";

/// A database of its own on the target's server, dropped when done.
#[derive(Debug)]
pub struct ScratchDatabase {
    name: String,
    config: DbConfig,
    /// The target database, from which the scratch one is made and dropped.
    admin: DbConfig,
    dropped: bool,
}

/// Runs `f` with a new scratch database on the server of `target`, then
/// drops it, whether `f` succeeded or not.
pub async fn with_scratch<T>(
    target: &DbConfig,
    f: impl AsyncFnOnce(&ScratchDatabase) -> Result<T>,
) -> Result<T> {
    let mut scratch = ScratchDatabase::create(target).await?;
    let result = f(&scratch).await;
    let dropped = scratch.drop_now().await;
    let value = result?;
    dropped?;
    Ok(value)
}

impl ScratchDatabase {
    async fn create(target: &DbConfig) -> Result<Self> {
        let target_url = target.url().map_err(db::Error::from)?.to_string();
        let name = unique_name(PREFIX);
        let url = database_url(&target_url, &name)?;
        let admin = target.clone().with_url(target_url.clone());
        let mut conn = db::connect(&admin).await?;
        conn.batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| {
                format!(
                    "Failed to create a scratch database on the server of {} (push and generate \
                     need the CREATEDB privilege there)",
                    redact_url(&target_url)
                )
            })?;
        Ok(Self {
            name,
            config: target.clone().with_url(url),
            admin,
            dropped: false,
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The configuration reaching the scratch database.
    pub fn config(&self) -> &DbConfig {
        &self.config
    }

    /// One connection to the scratch database.
    pub async fn connect(&self) -> Result<AsyncPgConnection> {
        Ok(db::connect(&self.config).await?)
    }

    async fn drop_now(&mut self) -> Result<()> {
        let mut conn = db::connect(&self.admin).await?;
        conn.batch_execute(&drop_statement(&self.name))
            .await
            .with_context(|| format!("Failed to drop the scratch database {}", self.name))?;
        self.dropped = true;
        Ok(())
    }
}

fn drop_statement(name: &str) -> String {
    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // Reached when the work panicked: drop the database from a thread
        // with a runtime of its own, as Drop cannot wait on this one.
        let admin = self.admin.clone();
        let statement = drop_statement(&self.name);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut conn = db::connect(&admin).await.ok()?;
                conn.batch_execute(&statement).await.ok()
            })
        })
        .join();
    }
}

/// The URL of another database on the same server.
pub(crate) fn database_url(url: &str, database: &str) -> Result<String> {
    let mut parsed = url::Url::parse(url).map_err(|e| {
        crate::error::Error::Invalid(format!(
            "the database URL {} is not valid: {e}",
            redact_url(url)
        ))
    })?;
    parsed.set_path(&format!("/{database}"));
    // A `dbname` parameter would win over the path.
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(key, _)| key != "dbname")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok(parsed.to_string())
}

/// Runs `sql` on `conn` as one batch; a failure names the line of `source`
/// PostgreSQL stopped at.
pub async fn execute_file(conn: &mut AsyncPgConnection, sql: &str, source: &str) -> Result<()> {
    conn.batch_execute(sql).await.map_err(|error| {
        let line = match &error {
            DieselError::DatabaseError(_, info) => info
                .statement_position()
                .and_then(|p| usize::try_from(p).ok())
                .map(|p| line_of(sql, p)),
            _ => None,
        };
        let place = line.map_or_else(|| source.to_string(), |n| format!("{source} line {n}"));
        crate::error::Error::Invalid(format!("{place}: {error}"))
    })
}

/// The 1-based line of the 1-based character `position`.
fn line_of(text: &str, position: usize) -> usize {
    text.chars()
        .take(position.saturating_sub(1))
        .filter(|c| *c == '\n')
        .count()
        + 1
}

/// The schema PostgreSQL makes of `sql` (the contents of `source`), loaded
/// into a scratch database on the server of `target`.
pub async fn schema_of_sql(target: &DbConfig, sql: &str, source: &str) -> Result<Schema> {
    with_scratch(target, async |scratch| {
        let mut conn = scratch.connect().await?;
        execute_file(&mut conn, sql, source).await?;
        let schema = introspect(&mut conn).await?;
        schema.ensure_supported(source)?;
        Ok(schema)
    })
    .await
}

/// Applies the migrations in `dir` with the project's migration engine, as
/// `mv-admin migrate` would; returns the versions applied.
pub async fn run_migrations_in(mut conn: AsyncPgConnection, dir: &Path) -> Result<Vec<String>> {
    let set = MigrationSet::from_dir(dir).map_err(|e| {
        crate::error::Error::Invalid(format!("{} is not a migrations folder: {e}", dir.display()))
    })?;
    let report = migrations::migrate(&mut conn, &set, &Options::default())
        .await
        .map_err(|e| {
            crate::error::Error::Invalid(format!("a migration in {} failed: {e}", dir.display()))
        })?;
    Ok(report.versions())
}

/// The schema the migrations in `dir` produce, replayed into a scratch
/// database on the server of `target`.
pub async fn schema_of_migrations(target: &DbConfig, dir: &Path) -> Result<Schema> {
    with_scratch(target, async |scratch| {
        run_migrations_in(scratch.connect().await?, dir).await?;
        let schema = introspect(&mut scratch.connect().await?).await?;
        schema.ensure_supported("the schema the migrations produce")?;
        Ok(schema)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_the_server_and_change_the_database() {
        assert_eq!(
            database_url(
                "postgresql:///mindvault?host=%2Frun&port=5432&user=postgres",
                "s"
            )
            .expect("url"),
            "postgresql:///s?host=%2Frun&port=5432&user=postgres"
        );
        assert_eq!(
            database_url(
                "postgres://u:p@db.example.com:6543/app?dbname=x&sslmode=require",
                "s"
            )
            .expect("url"),
            "postgres://u:p@db.example.com:6543/s?sslmode=require"
        );
        let err = database_url("host=h password=secret", "s").expect_err("not a URL");
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn positions_become_lines() {
        assert_eq!(line_of("a\nbc\nd", 1), 1);
        assert_eq!(line_of("a\nbc\nd", 3), 2);
        assert_eq!(line_of("a\nbc\nd", 6), 3);
    }
}
