//! Scratch databases: made on the target's server for PostgreSQL to load
//! `schema.sql` or replay the migrations into, read, and always dropped.
//!
//! `schema.sql` is loaded by a role made for the purpose (no superuser, no
//! CREATEDB or CREATEROLE, allowed only to create objects in the scratch
//! database's `public`), logged in with a one-time password and dropped
//! with the database: whatever the file says (`CREATE ROLE`,
//! `COPY ... TO PROGRAM`, `dblink`), PostgreSQL refuses what reaches outside
//! that database, and the target database is never touched.

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
    /// How [`ScratchDatabase::connect`] reaches it: as the caller, or as the
    /// sandbox role.
    config: DbConfig,
    /// The target database, from which the scratch one is made and dropped.
    admin: DbConfig,
    /// The sandbox role, dropped with the database.
    role: Option<String>,
    dropped: bool,
}

/// Runs `f` with a new scratch database on the server of `target`, then
/// drops it, whether `f` succeeded or not. Its connections have the
/// caller's privileges (the migrations may need them, as they do in
/// production).
pub async fn with_scratch<T>(
    target: &DbConfig,
    f: impl AsyncFnOnce(&ScratchDatabase) -> Result<T>,
) -> Result<T> {
    with(ScratchDatabase::create(target, false).await?, f).await
}

/// As [`with_scratch`], but every connection logs in as a role of the
/// scratch database's own, with no privilege outside it: for SQL that is
/// only to be read, such as `schema.sql`.
pub async fn with_sandbox<T>(
    target: &DbConfig,
    f: impl AsyncFnOnce(&ScratchDatabase) -> Result<T>,
) -> Result<T> {
    with(ScratchDatabase::create(target, true).await?, f).await
}

async fn with<T>(
    mut scratch: ScratchDatabase,
    f: impl AsyncFnOnce(&ScratchDatabase) -> Result<T>,
) -> Result<T> {
    let result = f(&scratch).await;
    let dropped = scratch.drop_now().await;
    let value = result?;
    dropped?;
    Ok(value)
}

impl ScratchDatabase {
    async fn create(target: &DbConfig, sandboxed: bool) -> Result<Self> {
        let target_url = target.url().map_err(db::Error::from)?.to_string();
        let name = unique_name(PREFIX);
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
        let mut scratch = Self {
            config: target
                .clone()
                .with_url(database_url(&target_url, &name, None)?),
            name,
            admin,
            role: None,
            dropped: false,
        };
        if sandboxed && let Err(e) = scratch.sandbox(&mut conn, &target_url).await {
            let _ = scratch.drop_now().await;
            return Err(e);
        }
        Ok(scratch)
    }

    /// Makes the sandbox role, lets it create objects in the database's
    /// `public`, and from now on connects as it.
    async fn sandbox(&mut self, admin: &mut AsyncPgConnection, target_url: &str) -> Result<()> {
        let role = self.name.clone();
        let password = one_time_password();
        // Only a SCRAM verifier reaches the server, never the password.
        let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
        admin
            .batch_execute(&format!(
                "CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION \
                 NOBYPASSRLS NOINHERIT PASSWORD '{verifier}'"
            ))
            .await
            .context(
                "Failed to create the role that loads schema.sql (push and generate load it as \
                 a role of its own with no privilege outside the scratch database, and need the \
                 CREATEROLE privilege for that)",
            )?;
        self.role = Some(role.clone());
        let mut owner = db::connect(&self.config).await?;
        owner
            .batch_execute(&format!("GRANT USAGE, CREATE ON SCHEMA public TO {role}"))
            .await
            .with_context(|| format!("Failed to let the role {role} create objects in public"))?;
        self.config = self.config.clone().with_url(database_url(
            target_url,
            &self.name,
            Some((&role, &password)),
        )?);
        // Fail here, naming the cause, if the server does not let it log in.
        db::connect(&self.config).await.with_context(|| {
            format!(
                "Failed to log in as the role {role} that loads schema.sql (the server's \
                 pg_hba.conf must accept a password, or trust, for it on this connection)"
            )
        })?;
        Ok(())
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The configuration reaching the scratch database (as the sandbox
    /// role when there is one).
    pub fn config(&self) -> &DbConfig {
        &self.config
    }

    /// One connection to the scratch database (as the sandbox role when
    /// there is one).
    pub async fn connect(&self) -> Result<AsyncPgConnection> {
        Ok(db::connect(&self.config).await?)
    }

    async fn drop_now(&mut self) -> Result<()> {
        let mut conn = db::connect(&self.admin).await?;
        for statement in drop_statements(&self.name, self.role.as_deref()) {
            conn.batch_execute(&statement)
                .await
                .with_context(|| format!("Failed to drop the scratch database {}", self.name))?;
        }
        self.dropped = true;
        Ok(())
    }
}

/// Drops the database, then its role (which owns nothing elsewhere); one at
/// a time, as DROP DATABASE runs in no transaction block.
fn drop_statements(name: &str, role: Option<&str>) -> Vec<String> {
    let mut statements = vec![format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")];
    if let Some(role) = role {
        statements.push(format!("DROP ROLE IF EXISTS {role}"));
    }
    statements
}

/// 32 random bytes in hex, from the thread's CSPRNG.
fn one_time_password() -> String {
    let mut bytes = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut bytes[..]);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // Reached when the work panicked: drop the database from a thread
        // with a runtime of its own, as Drop cannot wait on this one.
        let admin = self.admin.clone();
        let statements = drop_statements(&self.name, self.role.as_deref());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut conn = db::connect(&admin).await.ok()?;
                for statement in statements {
                    conn.batch_execute(&statement).await.ok()?;
                }
                Some(())
            })
        })
        .join();
    }
}

/// The URL of another database on the same server, logging in as `login`
/// (role, password) when given.
pub(crate) fn database_url(
    url: &str,
    database: &str,
    login: Option<(&str, &str)>,
) -> Result<String> {
    let invalid = || {
        crate::error::Error::Invalid(format!(
            "the database URL {} cannot name another database or role",
            redact_url(url)
        ))
    };
    let mut parsed = url::Url::parse(url).map_err(|e| {
        crate::error::Error::Invalid(format!(
            "the database URL {} is not valid: {e}",
            redact_url(url)
        ))
    })?;
    parsed.set_path(&format!("/{database}"));
    // Parameters would win over the path and the user name.
    let overridden =
        |key: &str| key == "dbname" || (login.is_some() && matches!(key, "user" | "password"));
    let mut kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(key, _)| !overridden(key))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if let Some((role, password)) = login {
        if parsed.has_host() && !parsed.host_str().unwrap_or_default().is_empty() {
            parsed.set_username(role).map_err(|()| invalid())?;
            parsed
                .set_password(Some(password))
                .map_err(|()| invalid())?;
        } else {
            // A URL with no host (a Unix socket given as `host=`) has no
            // place for them before the `@`.
            kept.push(("user".into(), role.into()));
            kept.push(("password".into(), password.into()));
        }
    }
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok(parsed.to_string())
}

/// Runs `sql` on `conn` one statement at a time; a failure names the line of
/// `source` where PostgreSQL stopped (the failed statement's first line when
/// PostgreSQL gives no position, as for a permission denied).
pub async fn execute_file(conn: &mut AsyncPgConnection, sql: &str, source: &str) -> Result<()> {
    let statements = crate::statements::split(sql)
        .map_err(|e| crate::error::Error::Invalid(format!("{source} {e}")))?;
    for statement in &statements {
        conn.batch_execute(statement.text).await.map_err(|error| {
            let position = match &error {
                DieselError::DatabaseError(_, info) => info
                    .statement_position()
                    .and_then(|p| usize::try_from(p).ok()),
                _ => None,
            };
            let line = position.map_or(statement.line, |p| {
                line_of(sql, statement.chars_before(sql) + p)
            });
            crate::error::Error::Invalid(format!("{source} line {line}: {error}"))
        })?;
    }
    Ok(())
}

/// The 1-based line of the 1-based character `position`.
fn line_of(text: &str, position: usize) -> usize {
    text.chars()
        .take(position.saturating_sub(1))
        .filter(|c| *c == '\n')
        .count()
        + 1
}

/// Loads `sql` (the contents of `source`) into `scratch` on a session of its
/// own, so nothing the file sets reaches the sessions that read the result.
pub async fn load_sql(scratch: &ScratchDatabase, sql: &str, source: &str) -> Result<()> {
    execute_file(&mut scratch.connect().await?, sql, source).await
}

/// The schema PostgreSQL makes of `sql` (the contents of `source`), loaded
/// into a sandboxed scratch database on the server of `target`.
pub async fn schema_of_sql(target: &DbConfig, sql: &str, source: &str) -> Result<Schema> {
    with_sandbox(target, async |scratch| {
        load_sql(scratch, sql, source).await?;
        let schema = introspect(&mut scratch.connect().await?).await?;
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
                "s",
                None
            )
            .expect("url"),
            "postgresql:///s?host=%2Frun&port=5432&user=postgres"
        );
        assert_eq!(
            database_url(
                "postgres://u:p@db.example.com:6543/app?dbname=x&sslmode=require",
                "s",
                None
            )
            .expect("url"),
            "postgres://u:p@db.example.com:6543/s?sslmode=require"
        );
        assert_eq!(
            database_url(
                "postgresql://u:p@localhost/mindvault?sslmode=disable&user=postgres&password=p",
                "s",
                Some(("r", "secret"))
            )
            .expect("url"),
            "postgresql://r:secret@localhost/s?sslmode=disable"
        );
        assert_eq!(
            database_url(
                "postgresql:///mindvault?host=%2Frun&user=postgres",
                "s",
                Some(("r", "secret"))
            )
            .expect("url"),
            "postgresql:///s?host=%2Frun&user=r&password=secret"
        );
        let err = database_url("host=h password=secret", "s", None).expect_err("not a URL");
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn positions_become_lines() {
        assert_eq!(line_of("a\nbc\nd", 1), 1);
        assert_eq!(line_of("a\nbc\nd", 3), 2);
        assert_eq!(line_of("a\nbc\nd", 6), 3);
    }
}
