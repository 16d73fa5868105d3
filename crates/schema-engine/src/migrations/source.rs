//! Where migrations come from: the ones built into the binary, or a folder in
//! Diesel's layout (`<version>_<name>/{up.sql,down.sql,metadata.toml}`).
//!
//! Diesel's migration sources give the names, versions and
//! `run_in_transaction`; the texts come along so the engine runs exactly the
//! SQL it checksums.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use diesel::migration::{Migration, MigrationSource};
use diesel::pg::Pg;
use diesel_migrations::FileBasedMigrations;
use sha2::{Digest, Sha256};

use db::migrations::{EMBEDDED_SQL, MIGRATIONS};

use super::{Direction, MigrateError};

/// A setting a migration's `metadata.toml` may override; `None` inside means
/// "no limit".
pub type Override = Option<Option<Duration>>;

/// One migration, with its texts and settings.
#[derive(Debug, Clone)]
pub struct SourceMigration {
    /// The folder name, e.g. `2026-11-25-000001_create_schema`.
    pub name: String,
    /// Diesel's version: the name's leading timestamp without dashes.
    pub version: String,
    /// The text of `up.sql`.
    pub up: Cow<'static, str>,
    /// The text of `down.sql`, when there is one.
    pub down: Option<Cow<'static, str>>,
    /// `run_in_transaction` as Diesel reads `metadata.toml` (default true).
    pub run_in_transaction: bool,
    /// `lock_timeout` from `metadata.toml`, over the run's default.
    pub lock_timeout: Override,
    /// `statement_timeout` from `metadata.toml`, over the run's default.
    pub statement_timeout: Override,
    /// SHA-256 of `up.sql` with line endings and trailing whitespace
    /// normalized, in hex.
    pub checksum: String,
}

/// A complete, ordered set of migrations.
#[derive(Debug, Clone)]
pub struct MigrationSet {
    migrations: Vec<SourceMigration>,
}

impl MigrationSet {
    /// The migrations of the repository's `migrations/`, built into the binary.
    pub fn embedded() -> Result<Self, MigrateError> {
        let diesel = MigrationSource::<Pg>::migrations(&MIGRATIONS).map_err(source_error)?;
        let migrations = diesel
            .iter()
            .map(|migration| {
                let name = migration.name().to_string();
                let texts = EMBEDDED_SQL
                    .iter()
                    .find(|texts| texts.name == name)
                    .ok_or_else(|| MigrateError::Source {
                        reason: format!("the SQL of migration {name} was not embedded"),
                    })?;
                SourceMigration::new(
                    migration.as_ref(),
                    Cow::Borrowed(texts.up),
                    texts.down.map(Cow::Borrowed),
                    texts.metadata,
                )
            })
            .collect::<Result<_, _>>()?;
        Self::new(migrations)
    }

    /// The migrations in a folder laid out as Diesel expects.
    pub fn from_dir(dir: &Path) -> Result<Self, MigrateError> {
        if !dir.is_dir() {
            return Err(MigrateError::Source {
                reason: format!("{} is not a folder", dir.display()),
            });
        }
        let invalid = |e: &dyn std::fmt::Display| MigrateError::Source {
            reason: format!("{}: {e}", dir.display()),
        };
        let source = FileBasedMigrations::from_path(dir).map_err(|e| invalid(&e))?;
        let diesel = MigrationSource::<Pg>::migrations(&source).map_err(|e| invalid(&e))?;
        let read = |path: &Path| -> Result<Option<String>, MigrateError> {
            match std::fs::read_to_string(path) {
                Ok(text) => Ok(Some(text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(MigrateError::Source {
                    reason: format!("could not read {}: {e}", path.display()),
                }),
            }
        };
        let migrations = diesel
            .iter()
            .map(|migration| {
                let folder = dir.join(migration.name().to_string());
                let up = read(&folder.join("up.sql"))?.ok_or_else(|| MigrateError::Source {
                    reason: format!("{} has no up.sql", folder.display()),
                })?;
                let down = read(&folder.join("down.sql"))?;
                let metadata = read(&folder.join("metadata.toml"))?;
                SourceMigration::new(
                    migration.as_ref(),
                    Cow::Owned(up),
                    down.map(Cow::Owned),
                    metadata.as_deref(),
                )
            })
            .collect::<Result<_, _>>()?;
        Self::new(migrations)
    }

    fn new(mut migrations: Vec<SourceMigration>) -> Result<Self, MigrateError> {
        migrations.sort_by(|a, b| a.version.cmp(&b.version));
        if let Some(pair) = migrations.windows(2).find(|w| w[0].version == w[1].version) {
            return Err(MigrateError::Source {
                reason: format!(
                    "migrations {} and {} have the same version {}",
                    pair[0].name, pair[1].name, pair[0].version
                ),
            });
        }
        Ok(Self { migrations })
    }

    /// Every migration, oldest first.
    pub fn migrations(&self) -> &[SourceMigration] {
        &self.migrations
    }

    /// The migration with this version.
    pub fn get(&self, version: &str) -> Option<&SourceMigration> {
        self.migrations.iter().find(|m| m.version == version)
    }
}

fn source_error(e: Box<dyn std::error::Error + Send + Sync>) -> MigrateError {
    MigrateError::Source {
        reason: e.to_string(),
    }
}

/// The keys of `metadata.toml`: Diesel's, and the engine's timeouts.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    run_in_transaction: Option<bool>,
    lock_timeout: Option<String>,
    statement_timeout: Option<String>,
}

impl SourceMigration {
    /// The file that runs in `direction`; `None` for a missing `down.sql`.
    pub fn sql(&self, direction: Direction) -> Option<&str> {
        match direction {
            Direction::Up => Some(&self.up),
            Direction::Down => self.down.as_deref(),
        }
    }

    fn new(
        migration: &dyn Migration<Pg>,
        up: Cow<'static, str>,
        down: Option<Cow<'static, str>>,
        metadata: Option<&str>,
    ) -> Result<Self, MigrateError> {
        let name = migration.name().to_string();
        let invalid = |reason: String| MigrateError::Source {
            reason: format!("metadata.toml of migration {name}: {reason}"),
        };
        let (lock_timeout, statement_timeout) = match metadata {
            None => (None, None),
            Some(text) => {
                let metadata: Metadata =
                    toml::from_str(text).map_err(|e| invalid(e.message().to_string()))?;
                // Diesel reads a metadata.toml without this key as false, which
                // would silently drop the transaction of a migration whose file
                // was only meant to set a timeout.
                if metadata.run_in_transaction.is_none() {
                    return Err(invalid(
                        "it must set run_in_transaction = true or false, as Diesel reads a missing key as false".into(),
                    ));
                }
                let duration = |key: &'static str, value: Option<String>| {
                    value
                        .map(|value| {
                            db::config::parse_limit(&value).map_err(|reason| {
                                invalid(format!("{key}={value:?} is not valid: {reason}"))
                            })
                        })
                        .transpose()
                };
                (
                    duration("lock_timeout", metadata.lock_timeout)?,
                    duration("statement_timeout", metadata.statement_timeout)?,
                )
            }
        };
        Ok(Self {
            version: migration.name().version().to_string(),
            run_in_transaction: migration.metadata().run_in_transaction(),
            checksum: checksum(&up),
            name,
            up,
            down,
            lock_timeout,
            statement_timeout,
        })
    }
}

/// SHA-256, in hex, of `sql` with line endings made `\n`, trailing whitespace
/// removed from each line and trailing blank lines dropped: an editor's
/// invisible changes do not count as edits.
pub fn checksum(sql: &str) -> String {
    let unix = sql.replace("\r\n", "\n").replace('\r', "\n");
    let mut normalized = String::with_capacity(unix.len());
    for line in unix.split('\n') {
        normalized.push_str(line.trim_end());
        normalized.push('\n');
    }
    let normalized = normalized.trim_end_matches('\n');
    let digest = Sha256::digest(normalized.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_ignore_line_endings_and_trailing_whitespace() {
        let base = checksum("CREATE TABLE a (x int);\nINSERT INTO a VALUES (1);\n");
        assert_eq!(
            base,
            checksum("CREATE TABLE a (x int);  \r\nINSERT INTO a VALUES (1);\t\r\n\r\n\n")
        );
        assert_eq!(
            base,
            checksum("CREATE TABLE a (x int);\rINSERT INTO a VALUES (1);")
        );
        assert_ne!(
            base,
            checksum("CREATE TABLE a (x bigint);\nINSERT INTO a VALUES (1);\n")
        );
        // Leading whitespace is content.
        assert_ne!(
            base,
            checksum("  CREATE TABLE a (x int);\nINSERT INTO a VALUES (1);\n")
        );
        assert_eq!(base.len(), 64);
    }

    #[test]
    fn the_embedded_migrations_have_their_texts() {
        let set = MigrationSet::embedded().expect("embedded migrations");
        assert!(!set.migrations().is_empty());
        for migration in set.migrations() {
            assert!(!migration.up.trim().is_empty(), "{}", migration.name);
            assert!(
                migration.down.is_some(),
                "{} has no down.sql",
                migration.name
            );
            assert!(migration.name.starts_with(&migration.version[..4]));
        }
    }
}
