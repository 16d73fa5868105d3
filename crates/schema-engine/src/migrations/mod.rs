//! The migration engine: Diesel's embedded migrations, run under a lock, with
//! checksums, ordering rules, recorded failures, timeouts and guarded reverts.
//!
//! - `lock`: one runner at a time (a polled PostgreSQL advisory lock).
//! - `source`: the migrations and their texts (embedded, or a folder).
//! - `history`: the bookkeeping tables beside Diesel's.
//! - `status`: applied, pending, changed, missing and failed migrations.
//! - `data_loss`: what a revert would delete.
//! - `risk`: pending statements that would block a large table.
//! - `runner`: `migrate`, `revert`, `redo`, `accept_edit`, `resolve`.

use std::sync::Arc;
use std::time::Duration;

use diesel_async::AsyncPgConnection;
use serde::Serialize;
use sha2::{Digest, Sha256};

mod data_loss;
mod error;
pub(crate) mod history;
pub(crate) mod lock;
pub mod risk;
mod runner;
mod session;
mod source;
mod status;

pub use data_loss::DataLoss;
pub use error::{Location, MigrateError, Outcome, StatementFailure};
pub use lock::{APPLICATION_NAME, LOCK_KEY, LockHolder};
pub use risk::{RiskWarning, RiskyStatement};
pub(crate) use runner::describe_db_error;
pub use runner::{
    DataLossPolicy, Done, Report, Resolution, accept_edit, migrate, redo, resolve, revert, status,
};
pub use source::{MigrationSet, Override, SourceMigration, checksum};
pub use status::{Applied, Changed, Missing, Pending, Status, Unfinished};

/// A fingerprint of every embedded migration file and of the bookkeeping
/// tables (16 hex digits): equal fingerprints, equal migrated databases. The
/// test harness names its templates by it.
pub fn fingerprint() -> String {
    let mut hash = Sha256::new();
    for migration in db::migrations::EMBEDDED_SQL {
        for part in [
            Some(migration.name),
            Some(migration.up),
            migration.down,
            migration.metadata,
        ] {
            hash.update(part.unwrap_or_default());
            hash.update([0]);
        }
    }
    hash.update(history::BOOKKEEPING_SQL);
    hash.finalize()[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Applies every pending embedded migration with the default options; returns
/// the versions applied, in order.
pub async fn run_pending(mut conn: AsyncPgConnection) -> Result<Vec<String>, MigrateError> {
    let set = MigrationSet::embedded()?;
    let report = migrate(&mut conn, &set, &Options::default()).await?;
    Ok(report.versions())
}

/// Whether a migration is being applied or reverted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
}

impl Direction {
    /// The value stored in the bookkeeping tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }

    /// The file that runs in this direction.
    pub fn file(self) -> &'static str {
        match self {
            Self::Up => "up.sql",
            Self::Down => "down.sql",
        }
    }

    fn parse(text: &str) -> Self {
        // The table's CHECK constraint allows only these two.
        if text == "down" { Self::Down } else { Self::Up }
    }
}

/// Something worth telling the person watching, as it happens.
#[derive(Debug)]
pub enum Event<'a> {
    /// Another run holds the lock; this one waits.
    WaitingForLock { holder: Option<&'a LockHolder> },
    /// Applied migrations were recorded in the history for the first time.
    Adopted { versions: &'a [String] },
    /// Applied migrations that this binary does not know.
    Missing { versions: &'a [String] },
    /// Pending migrations hold statements that block a large table.
    Risky { warnings: &'a [RiskWarning] },
    /// A migration starts.
    Starting { name: &'a str, direction: Direction },
    /// A migration finished.
    Finished {
        name: &'a str,
        direction: Direction,
        took: Duration,
    },
}

/// Receives [`Event`]s; mv-admin prints them.
pub type Observer = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// How a run behaves.
#[derive(Clone)]
pub struct Options {
    /// How long to wait for another run's lock before giving up (default 60s).
    pub lock_wait: Duration,
    /// `lock_timeout` for each migration unless its `metadata.toml` says
    /// otherwise (default 5s; `None` for no limit).
    pub lock_timeout: Option<Duration>,
    /// `statement_timeout` for each migration unless its `metadata.toml` says
    /// otherwise (default 10m; `None` for no limit).
    pub statement_timeout: Option<Duration>,
    /// Apply pending migrations older than the newest applied one.
    pub allow_out_of_order: bool,
    /// Warn before a pending statement that blocks a table holding at
    /// least this many rows (default 100,000; `None`: do not look).
    pub warn_rows: Option<u64>,
    /// Refuse to run, instead of warning, when there is such a statement.
    pub strict: bool,
    /// Told of progress.
    pub observer: Option<Observer>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            lock_wait: Duration::from_secs(60),
            lock_timeout: Some(Duration::from_secs(5)),
            statement_timeout: Some(Duration::from_secs(600)),
            allow_out_of_order: false,
            warn_rows: Some(risk::DEFAULT_WARN_ROWS),
            strict: false,
            observer: None,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("lock_wait", &self.lock_wait)
            .field("lock_timeout", &self.lock_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("allow_out_of_order", &self.allow_out_of_order)
            .field("warn_rows", &self.warn_rows)
            .field("strict", &self.strict)
            .finish_non_exhaustive()
    }
}

impl Options {
    fn notify(&self, event: Event<'_>) {
        if let Some(observer) = &self.observer {
            observer(&event);
        }
    }
}
