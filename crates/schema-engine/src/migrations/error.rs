//! Why a migration command did not do what was asked, in words that say what
//! to do next.

use std::fmt;
use std::time::Duration;

use super::Direction;
use super::data_loss::DataLoss;
use super::lock::LockHolder;
use super::status::{Changed, Unfinished};

/// A failure of the migration engine; callers tell a lock timeout apart.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// Another run held the migration lock for the whole wait.
    #[error(
        "{}; gave up after waiting {}",
        .holder.as_ref().map_or_else(
            || "another migration run held the migration lock and has just let go".to_string(),
            |h| format!("the migration lock is held by another migration run, {}", h.describe())
        ),
        humantime::format_duration(*.waited)
    )]
    LockTimeout {
        waited: Duration,
        holder: Option<LockHolder>,
    },
    /// Applied migrations whose `up.sql` changed since.
    #[error("{}", list(.0, Changed::describe))]
    Changed(Vec<Changed>),
    /// Pending statements block a large table, and the run was strict.
    #[error(
        "refused before anything ran (--strict): {}; run them in a window, or make them online (CONCURRENTLY, NOT VALID then VALIDATE, a backfill in batches)",
        list(.0, super::RiskWarning::describe)
    )]
    Risky(Vec<super::RiskWarning>),
    /// Pending migrations older than the newest applied one.
    #[error(
        "migration {} is older than the newest applied migration {newest_applied} and would run out of order; pass --allow-out-of-order if it is independent of the newer ones",
        .pending.join(", ")
    )]
    OutOfOrder {
        pending: Vec<String>,
        newest_applied: String,
    },
    /// A migration outside a transaction failed or was interrupted, and no
    /// one has said yet what became of it.
    #[error("{}", list(.0, Unfinished::describe))]
    Unresolved(Vec<Unfinished>),
    /// The migration to revert is applied but unknown to this binary.
    #[error(
        "migration {version} is applied but missing from the known migrations, so it cannot be reverted (was it deleted, or is this binary older than the database?)"
    )]
    Missing { version: String },
    /// The migration to revert has no `down.sql`.
    #[error("migration {name} has no down.sql, so it cannot be reverted")]
    NoDown { name: String },
    /// `revert` with nothing applied.
    #[error("no migration is applied, so there is nothing to revert")]
    NothingApplied,
    /// Reverting would delete rows or values.
    #[error(
        "reverting would delete data: {}; pass --accept-data-loss to revert anyway",
        list(.0, DataLoss::describe)
    )]
    DataLoss(Vec<DataLoss>),
    /// The trial run of `down.sql` that finds data loss failed.
    #[error(
        "could not check whether reverting {name} deletes data, because its down.sql failed in a trial run ({cause}); pass --accept-data-loss to revert without the check"
    )]
    DataLossUnknown { name: String, cause: String },
    /// A migration's file starts or ends a transaction itself; refused
    /// before anything runs.
    #[error(
        "migration {name} was refused before anything ran: {file} line {line} (`{statement}`) starts or ends a transaction, which the runner does itself (a migration runs in one transaction, or with run_in_transaction = false one statement at a time, each on its own); remove it, or split the file into several migrations"
    )]
    TransactionControl {
        name: String,
        file: &'static str,
        line: usize,
        statement: String,
    },
    /// A migration's file cannot be split into statements.
    #[error(
        "migration {name} was refused before anything ran: its {file} cannot be read as SQL statements ({cause})"
    )]
    Unreadable {
        name: String,
        file: &'static str,
        cause: crate::statements::SplitError,
    },
    /// A migration's own SQL failed.
    #[error("{0}")]
    Statement(Box<StatementFailure>),
    /// `accept-edit` of a migration whose file did not change.
    #[error("migration {version} has not changed since it was applied; there is no edit to accept")]
    NotChanged { version: String },
    /// The version names no applied migration.
    #[error("migration {version} is not applied")]
    NotApplied { version: String },
    /// `resolve` of a migration that is not failed or interrupted.
    #[error(
        "migration {version} is neither failed nor interrupted, so there is nothing to resolve"
    )]
    NothingToResolve { version: String },
    /// The migrations themselves are malformed.
    #[error("invalid migrations: {reason}")]
    Source { reason: String },
    /// A query of the engine's own failed.
    #[error("could not {doing}: {cause}")]
    Database {
        doing: &'static str,
        cause: diesel::result::Error,
    },
}

impl MigrateError {
    /// Wraps a failed query of the engine's own; `doing` reads after "could not".
    pub(crate) fn db(doing: &'static str) -> impl FnOnce(diesel::result::Error) -> Self {
        move |cause| Self::Database { doing, cause }
    }
}

fn list<T>(items: &[T], describe: fn(&T) -> String) -> String {
    items.iter().map(describe).collect::<Vec<_>>().join("; ")
}

/// Where in a migration's SQL PostgreSQL located an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// 1-based line of the file.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// That line's text, trimmed.
    pub text: String,
}

impl Location {
    /// Maps PostgreSQL's error position (1-based, in characters, counted from
    /// the start of the whole multi-statement text) to a line of `sql`.
    pub fn find(sql: &str, position: i32) -> Option<Self> {
        let index = usize::try_from(position).ok()?.checked_sub(1)?;
        let (byte, _) = sql.char_indices().nth(index)?;
        let line_start = sql[..byte].rfind('\n').map_or(0, |i| i + 1);
        let line_end = sql[byte..].find('\n').map_or(sql.len(), |i| byte + i);
        Some(Self {
            line: sql[..byte].matches('\n').count() + 1,
            column: sql[line_start..byte].chars().count() + 1,
            text: sql[line_start..line_end].trim().to_string(),
        })
    }
}

/// What became of a migration whose SQL failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its transaction was rolled back: nothing of it remains.
    RolledBack,
    /// It ran outside a transaction and is recorded as failed.
    RecordedFailed,
    /// It ran outside a transaction and the session is gone, so it stays
    /// recorded as running (the next run sees it as interrupted).
    LeftRunning,
}

/// A migration's SQL failed.
#[derive(Debug, Clone)]
pub struct StatementFailure {
    /// The migration's folder name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Applying (`up.sql`) or reverting (`down.sql`).
    pub direction: Direction,
    /// Where PostgreSQL says it failed, when it says.
    pub location: Option<Location>,
    /// PostgreSQL's message, with its detail and hint.
    pub message: String,
    /// What is left of it.
    pub outcome: Outcome,
    /// Outside a transaction, which statement failed (1-based) of how many.
    pub statement: Option<(usize, usize)>,
}

impl StatementFailure {
    /// Where and why it failed: "at up.sql line 3, column 5 (`...`): message".
    pub fn summary(&self) -> String {
        let file = self.direction.file();
        match &self.location {
            Some(at) => format!(
                "at {file} line {}, column {} (`{}`): {}",
                at.line, at.column, at.text, self.message
            ),
            None => format!(
                "in {file} (PostgreSQL did not say at which statement): {}",
                self.message
            ),
        }
    }

    /// What of a migration outside a transaction may be done.
    fn partly_done(&self) -> String {
        match self.statement {
            Some((index, total)) => format!(
                "it runs outside a transaction, one statement at a time: statement {index} of {total} failed, those before it are done and none after it ran"
            ),
            None => "it runs outside a transaction, so part of it may be done".to_string(),
        }
    }
}

impl fmt::Display for StatementFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "migration {} failed {}; ", self.name, self.summary())?;
        let resolve = format!(
            "`mv-admin migrate resolve {} --rolled-back` or `--completed` says what was done",
            self.version
        );
        match self.outcome {
            Outcome::RolledBack => {
                f.write_str("its transaction was rolled back, so nothing of it remains")
            }
            Outcome::RecordedFailed => write!(
                f,
                "{}: it is recorded as failed, and no migration runs until {resolve}",
                self.partly_done()
            ),
            Outcome::LeftRunning => write!(
                f,
                "{}, and the session is gone: it stays recorded as running, and no migration runs until {resolve}",
                self.partly_done()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_across_statements() {
        let sql = "SELECT 'é';\nCREATE TABLE a (x int);\n  INSERT INTO a (nope) VALUES (1);\n";
        // PostgreSQL points at `nope`, counting characters from the start.
        let byte = sql.find("nope").expect("has nope");
        let position = sql[..byte].chars().count() as i32 + 1;
        let at = Location::find(sql, position).expect("inside the text");
        assert_eq!(at.line, 3);
        assert_eq!(at.column, 18);
        assert_eq!(at.text, "INSERT INTO a (nope) VALUES (1);");
        assert_eq!(Location::find(sql, 0), None);
        assert_eq!(Location::find(sql, 10_000), None);
    }
}
