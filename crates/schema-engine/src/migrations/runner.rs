//! The commands: each takes the lock, reads the bookkeeping, refuses what is
//! unsafe, then acts.

use std::time::{Duration, Instant};

use chrono::Utc;
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use serde::Serialize;

use super::data_loss::{self, DataLoss};
use super::error::{Location, Outcome, StatementFailure};
use super::history::{self, HistoryRow};
use super::session::Session;
use super::source::{MigrationSet, SourceMigration};
use super::status::{Changed, Status, Unfinished};
use super::{Direction, Event, MigrateError, Options, lock};
use crate::statements::{self, Statement};

/// One migration applied or reverted.
#[derive(Debug, Clone, Serialize)]
pub struct Done {
    pub version: String,
    pub name: String,
    /// How long its SQL and bookkeeping took, in milliseconds.
    pub millis: u128,
}

/// What a command did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Applied before the history existed, recorded now.
    pub adopted: Vec<String>,
    /// Reverted, newest first.
    pub reverted: Vec<Done>,
    /// Applied, oldest first.
    pub applied: Vec<Done>,
    /// Statements of the pending migrations that blocked a large table
    /// (warned about before they ran).
    pub warnings: Vec<super::RiskWarning>,
}

impl Report {
    /// The versions applied, in order.
    pub fn versions(&self) -> Vec<String> {
        self.applied.iter().map(|d| d.version.clone()).collect()
    }
}

/// What to do when a revert would delete data.
pub enum DataLossPolicy<'a> {
    /// Refuse, listing what would go.
    Refuse,
    /// Revert without looking.
    Accept,
    /// Ask; `true` reverts.
    Ask(&'a mut (dyn FnMut(&[DataLoss]) -> bool + Send)),
}

/// What became of a failed or interrupted migration, as its operator says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Nothing of the run remains: the database is as it was before it.
    RolledBack,
    /// The run's work is fully done (finished by hand).
    Completed,
}

/// The `lock_timeout` and `statement_timeout` a migration runs with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    lock_timeout: Option<Duration>,
    statement_timeout: Option<Duration>,
}

impl Timeouts {
    /// The migration's own settings over the run's defaults.
    pub(crate) fn of(migration: &SourceMigration, options: &Options) -> Self {
        Self {
            lock_timeout: migration.lock_timeout.unwrap_or(options.lock_timeout),
            statement_timeout: migration
                .statement_timeout
                .unwrap_or(options.statement_timeout),
        }
    }

    /// Sets them for the transaction (`local`) or the session.
    pub(crate) async fn set(
        &self,
        conn: &mut AsyncPgConnection,
        local: bool,
    ) -> Result<(), MigrateError> {
        let millis = |d: Option<Duration>| d.map_or(0, |d| d.as_millis().max(1));
        let scope = if local { "SET LOCAL" } else { "SET" };
        conn.batch_execute(&format!(
            "{scope} lock_timeout = {}; {scope} statement_timeout = {}",
            millis(self.lock_timeout),
            millis(self.statement_timeout)
        ))
        .await
        .map_err(MigrateError::db("set the migration's timeouts"))
    }
}

/// PostgreSQL's message with its detail and hint.
pub(crate) fn describe_db_error(error: &diesel::result::Error) -> String {
    match error {
        diesel::result::Error::DatabaseError(_, info) => {
            let mut text = info.message().to_string();
            if let Some(detail) = info.details() {
                text.push_str(&format!(" ({detail})"));
            }
            if let Some(hint) = info.hint() {
                text.push_str(&format!(" (hint: {hint})"));
            }
            text
        }
        other => other.to_string(),
    }
}

/// What PostgreSQL said about the migration's file `sql` failing; outside a
/// transaction, `at` is the statement that failed, its 1-based number and
/// how many there are.
fn failure(
    migration: &SourceMigration,
    direction: Direction,
    sql: &str,
    error: &diesel::result::Error,
    outcome: Outcome,
    at: Option<(&Statement<'_>, usize, usize)>,
) -> StatementFailure {
    // PostgreSQL counts characters from the start of the text it was sent.
    let sent_from = at.map_or(0, |(statement, ..)| statement.chars_before(sql));
    let position = match error {
        diesel::result::Error::DatabaseError(_, info) => info.statement_position(),
        _ => None,
    };
    let location = match (position, at) {
        (Some(position), _) => usize::try_from(position)
            .ok()
            .and_then(|p| i32::try_from(p + sent_from).ok())
            .and_then(|p| Location::find(sql, p)),
        // Without a position, the statement that failed is still known.
        (None, Some(_)) => i32::try_from(sent_from + 1)
            .ok()
            .and_then(|p| Location::find(sql, p)),
        (None, None) => None,
    };
    StatementFailure {
        name: migration.name.clone(),
        version: migration.version.clone(),
        direction,
        location,
        message: describe_db_error(error),
        outcome,
        statement: at.map(|(_, index, total)| (index, total)),
    }
}

/// The statements of a migration's file in `direction`, refused before
/// anything runs when the file cannot be split or controls the transaction
/// itself (the runner's transaction would end with half the file in it, and
/// the history outside it).
fn statements_of(
    migration: &SourceMigration,
    direction: Direction,
) -> Result<Vec<Statement<'_>>, MigrateError> {
    let sql = migration
        .sql(direction)
        .ok_or_else(|| MigrateError::NoDown {
            name: migration.name.clone(),
        })?;
    let statements = statements::split(sql).map_err(|cause| MigrateError::Unreadable {
        name: migration.name.clone(),
        file: direction.file(),
        cause,
    })?;
    if let Some(control) = statements.iter().find(|s| s.controls_transaction()) {
        return Err(MigrateError::TransactionControl {
            name: migration.name.clone(),
            file: direction.file(),
            line: control.line,
            statement: control
                .text
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string(),
        });
    }
    Ok(statements)
}

/// Checks every file a command is about to run, before it runs any.
fn check_runnable<'m>(
    files: impl IntoIterator<Item = (&'m SourceMigration, Direction)>,
) -> Result<(), MigrateError> {
    for (migration, direction) in files {
        statements_of(migration, direction)?;
    }
    Ok(())
}

/// Runs `body` in a transaction: committed when it succeeds, rolled back
/// when it fails.
pub(crate) async fn in_transaction<T>(
    conn: &mut AsyncPgConnection,
    body: impl AsyncFnOnce(&mut AsyncPgConnection) -> Result<T, MigrateError>,
) -> Result<T, MigrateError> {
    conn.batch_execute("BEGIN")
        .await
        .map_err(MigrateError::db("start a transaction"))?;
    match body(conn).await {
        Ok(value) => {
            conn.batch_execute("COMMIT")
                .await
                .map_err(MigrateError::db("commit the transaction"))?;
            Ok(value)
        }
        Err(e) => {
            // The first error says more than a failed rollback would (a dead
            // session rolls back by itself).
            let _ = conn.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// Takes the migration lock, runs `body`, lets go.
async fn locked<T>(
    conn: &mut AsyncPgConnection,
    options: &Options,
    body: impl AsyncFnOnce(&mut AsyncPgConnection) -> Result<T, MigrateError>,
) -> Result<T, MigrateError> {
    lock::acquire(conn, options).await?;
    let result = body(conn).await;
    // A release that fails means the session is gone, and the lock with it.
    let _ = lock::release(conn).await;
    result
}

async fn read_status(
    conn: &mut AsyncPgConnection,
    set: &MigrationSet,
) -> Result<(history::Recorded, Status), MigrateError> {
    let recorded = history::read(conn).await?;
    // Under the lock, a running row is one whose runner died.
    let status = Status::compute(set, &recorded, false);
    if !status.failed.is_empty() {
        return Err(MigrateError::Unresolved(status.failed));
    }
    Ok((recorded, status))
}

/// What the database holds compared with `set`; reads only, takes no lock.
pub async fn status(
    conn: &mut AsyncPgConnection,
    set: &MigrationSet,
) -> Result<Status, MigrateError> {
    let recorded = history::read(conn).await?;
    let holder = lock::holder(conn).await?;
    let mut status = Status::compute(set, &recorded, holder.is_some());
    status.lock_holder = holder;
    Ok(status)
}

/// Applies every pending migration of `set`, oldest first.
///
/// Refuses, before running anything, when a migration is failed or
/// interrupted, when an applied one was edited, or when a pending one is
/// older than the newest applied (unless `options.allow_out_of_order`).
/// When nothing is pending, nothing is written.
pub async fn migrate(
    conn: &mut AsyncPgConnection,
    set: &MigrationSet,
    options: &Options,
) -> Result<Report, MigrateError> {
    locked(conn, options, async |conn| {
        let (recorded, status) = read_status(conn, set).await?;
        if !status.changed.is_empty() {
            return Err(MigrateError::Changed(status.changed));
        }
        let missing: Vec<String> = status.missing.iter().map(|m| m.version.clone()).collect();
        if !missing.is_empty() {
            options.notify(Event::Missing { versions: &missing });
        }
        let out_of_order: Vec<String> = status
            .pending
            .iter()
            .filter(|p| p.out_of_order)
            .map(|p| p.name.clone())
            .collect();
        if !out_of_order.is_empty() && !options.allow_out_of_order {
            return Err(MigrateError::OutOfOrder {
                pending: out_of_order,
                newest_applied: status.newest_applied().unwrap_or_default().to_string(),
            });
        }

        check_runnable(
            status
                .pending
                .iter()
                .filter_map(|p| set.get(&p.version))
                .map(|m| (m, Direction::Up)),
        )?;

        let mut report = Report::default();
        if let Some(warn_rows) = options.warn_rows {
            let pending: Vec<String> = status.pending.iter().map(|p| p.version.clone()).collect();
            report.warnings = super::risk::assess(conn, set, &pending, warn_rows).await?;
            if !report.warnings.is_empty() {
                if options.strict {
                    return Err(MigrateError::Risky(report.warnings));
                }
                options.notify(Event::Risky {
                    warnings: &report.warnings,
                });
            }
        }
        let unrecorded: Vec<&SourceMigration> = status
            .unrecorded()
            .filter_map(|a| set.get(&a.version))
            .collect();
        if status.pending.is_empty() && unrecorded.is_empty() {
            return Ok(report);
        }
        if !recorded.tables_exist {
            in_transaction(conn, async |conn| history::create_tables(conn).await).await?;
        }
        if !unrecorded.is_empty() {
            in_transaction(conn, async |conn| history::adopt(conn, &unrecorded).await).await?;
            report.adopted = unrecorded.iter().map(|m| m.version.clone()).collect();
            options.notify(Event::Adopted {
                versions: &report.adopted,
            });
        }
        for pending in &status.pending {
            if let Some(migration) = set.get(&pending.version) {
                report
                    .applied
                    .push(run(conn, migration, Direction::Up, options).await?);
            }
        }
        Ok(report)
    })
    .await
}

/// Runs one migration in `direction` and records it; the session's
/// settings are put back afterwards, whatever happened.
async fn run(
    conn: &mut AsyncPgConnection,
    migration: &SourceMigration,
    direction: Direction,
    options: &Options,
) -> Result<Done, MigrateError> {
    let statements = statements_of(migration, direction)?;
    options.notify(Event::Starting {
        name: &migration.name,
        direction,
    });
    let start = Instant::now();
    let session = Session::capture(conn).await?;
    if migration.run_in_transaction {
        let result = run_in_transaction(conn, migration, direction, options).await;
        // A failed migration's session is put back too: the next command
        // may use the connection.
        let restored = session.restore(conn).await;
        result.and(restored)?;
    } else {
        run_outside_transaction(conn, migration, direction, options, &statements, &session).await?;
    }
    let took = start.elapsed();
    options.notify(Event::Finished {
        name: &migration.name,
        direction,
        took,
    });
    Ok(Done {
        version: migration.version.clone(),
        name: migration.name.clone(),
        millis: took.as_millis(),
    })
}

/// Records a migration as applied (`up`) or forgets it (`down`).
async fn record_done(
    conn: &mut AsyncPgConnection,
    migration: &SourceMigration,
    direction: Direction,
    started_at: chrono::DateTime<Utc>,
) -> Result<(), MigrateError> {
    match direction {
        Direction::Up => history::record_applied(conn, migration, started_at).await,
        Direction::Down => {
            history::record_reverted(conn, &migration.version, "reverted", None).await
        }
    }
}

/// The whole file and its history rows in one transaction: all or nothing.
async fn run_in_transaction(
    conn: &mut AsyncPgConnection,
    migration: &SourceMigration,
    direction: Direction,
    options: &Options,
) -> Result<(), MigrateError> {
    let sql = migration.sql(direction).unwrap_or_default();
    let started_at = Utc::now();
    conn.batch_execute("BEGIN")
        .await
        .map_err(MigrateError::db("start the migration's transaction"))?;
    let body = async {
        Timeouts::of(migration, options).set(conn, true).await?;
        conn.batch_execute(sql).await.map_err(|e| {
            MigrateError::Statement(Box::new(failure(
                migration,
                direction,
                sql,
                &e,
                Outcome::RolledBack,
                None,
            )))
        })?;
        record_done(conn, migration, direction, started_at).await
    }
    .await;
    if let Err(e) = body {
        let _ = conn.batch_execute("ROLLBACK").await;
        return Err(e);
    }
    // A deferred constraint fails here, and it is the migration's failure.
    conn.batch_execute("COMMIT").await.map_err(|e| {
        let mut failed = failure(migration, direction, sql, &e, Outcome::RolledBack, None);
        failed.message = format!("at COMMIT: {}", failed.message);
        failed.location = None;
        MigrateError::Statement(Box::new(failed))
    })
}

/// One statement at a time, each in a transaction of its own (as
/// `CREATE INDEX CONCURRENTLY` needs), recorded as running before and as
/// failed if one fails; the session is put back before the record is written.
async fn run_outside_transaction(
    conn: &mut AsyncPgConnection,
    migration: &SourceMigration,
    direction: Direction,
    options: &Options,
    statements: &[Statement<'_>],
    session: &Session,
) -> Result<(), MigrateError> {
    let started_at = Utc::now();
    history::record_running(conn, migration, direction).await?;
    let ran = run_statements(conn, migration, direction, options, statements).await;
    let restored = session.restore(conn).await;
    match ran {
        Ok(()) => {
            restored?;
            in_transaction(conn, async |conn| {
                record_done(conn, migration, direction, started_at).await
            })
            .await
        }
        Err(MigrateError::Statement(mut failed)) => {
            let recorded = match restored {
                Ok(()) => {
                    history::record_failed(conn, migration, direction, &failed.summary()).await
                }
                Err(e) => Err(e),
            };
            if recorded.is_err() {
                failed.outcome = Outcome::LeftRunning;
            }
            Err(MigrateError::Statement(failed))
        }
        Err(other) => Err(other),
    }
}

/// Sets the migration's timeouts for the session and runs `statements` in order.
async fn run_statements(
    conn: &mut AsyncPgConnection,
    migration: &SourceMigration,
    direction: Direction,
    options: &Options,
    statements: &[Statement<'_>],
) -> Result<(), MigrateError> {
    let sql = migration.sql(direction).unwrap_or_default();
    Timeouts::of(migration, options).set(conn, false).await?;
    for (index, statement) in statements.iter().enumerate() {
        conn.batch_execute(statement.text).await.map_err(|e| {
            let at = Some((statement, index + 1, statements.len()));
            MigrateError::Statement(Box::new(failure(
                migration,
                direction,
                sql,
                &e,
                Outcome::RecordedFailed,
                at,
            )))
        })?;
    }
    Ok(())
}

/// The newest `steps` applied migrations, newest first, checked revertible.
fn revert_targets<'s>(
    set: &'s MigrationSet,
    status: &Status,
    steps: usize,
) -> Result<Vec<&'s SourceMigration>, MigrateError> {
    let mut applied: Vec<&str> = status
        .applied
        .iter()
        .map(|a| a.version.as_str())
        .chain(status.changed.iter().map(|c| c.version.as_str()))
        .chain(status.missing.iter().map(|m| m.version.as_str()))
        .collect();
    if applied.is_empty() {
        return Err(MigrateError::NothingApplied);
    }
    applied.sort_unstable_by(|a, b| b.cmp(a));
    applied
        .into_iter()
        .take(steps.max(1))
        .map(|version| {
            if let Some(changed) = status.changed.iter().find(|c| c.version == version) {
                return Err(MigrateError::Changed(vec![changed.clone()]));
            }
            let migration = set.get(version).ok_or_else(|| MigrateError::Missing {
                version: version.to_string(),
            })?;
            if migration.down.is_none() {
                return Err(MigrateError::NoDown {
                    name: migration.name.clone(),
                });
            }
            Ok(migration)
        })
        .collect()
}

async fn guard_data_loss(
    conn: &mut AsyncPgConnection,
    targets: &[&SourceMigration],
    options: &Options,
    policy: DataLossPolicy<'_>,
) -> Result<(), MigrateError> {
    if matches!(policy, DataLossPolicy::Accept) {
        return Ok(());
    }
    let losses = data_loss::find(conn, targets, options).await?;
    if losses.is_empty() {
        return Ok(());
    }
    let accepted = match policy {
        DataLossPolicy::Ask(ask) => ask(&losses),
        DataLossPolicy::Refuse | DataLossPolicy::Accept => false,
    };
    if accepted {
        Ok(())
    } else {
        Err(MigrateError::DataLoss(losses))
    }
}

/// Reverts the newest `steps` applied migrations, newest first.
///
/// Refuses when one of them is missing from `set`, was edited, or has no
/// `down.sql`, and (unless `policy` accepts) when their `down.sql`s would
/// drop a table or column holding data.
pub async fn revert(
    conn: &mut AsyncPgConnection,
    set: &MigrationSet,
    options: &Options,
    steps: usize,
    policy: DataLossPolicy<'_>,
) -> Result<Report, MigrateError> {
    locked(conn, options, async |conn| {
        Ok(revert_newest(conn, set, options, steps, policy, false)
            .await?
            .0)
    })
    .await
}

/// Inside the lock: reverts the newest `steps` applied migrations after the
/// data-loss guard; returns the report and what was reverted, newest first.
/// With `redo`, their `up.sql`s are checked too before anything runs.
async fn revert_newest<'s>(
    conn: &mut AsyncPgConnection,
    set: &'s MigrationSet,
    options: &Options,
    steps: usize,
    policy: DataLossPolicy<'_>,
    redo: bool,
) -> Result<(Report, Vec<&'s SourceMigration>), MigrateError> {
    let (_, status) = read_status(conn, set).await?;
    let targets = revert_targets(set, &status, steps)?;
    let ups = targets.iter().filter(|_| redo).map(|m| (*m, Direction::Up));
    check_runnable(targets.iter().map(|m| (*m, Direction::Down)).chain(ups))?;
    guard_data_loss(conn, &targets, options, policy).await?;
    let mut report = Report::default();
    for migration in &targets {
        report
            .reverted
            .push(run(conn, migration, Direction::Down, options).await?);
    }
    Ok((report, targets))
}

/// Reverts the newest `steps` applied migrations, then applies them again:
/// a check that `down.sql` undoes `up.sql`.
pub async fn redo(
    conn: &mut AsyncPgConnection,
    set: &MigrationSet,
    options: &Options,
    steps: usize,
    policy: DataLossPolicy<'_>,
) -> Result<Report, MigrateError> {
    locked(conn, options, async |conn| {
        let (mut report, targets) = revert_newest(conn, set, options, steps, policy, true).await?;
        for migration in targets.iter().rev() {
            report
                .applied
                .push(run(conn, migration, Direction::Up, options).await?);
        }
        Ok(report)
    })
    .await
}

/// Accepts a deliberate edit of an applied migration: its new checksum is
/// recorded, and the log keeps both checksums and `reason`.
pub async fn accept_edit(
    conn: &mut AsyncPgConnection,
    set: &MigrationSet,
    options: &Options,
    version: &str,
    reason: &str,
) -> Result<Changed, MigrateError> {
    locked(conn, options, async |conn| {
        let (_, status) = read_status(conn, set).await?;
        let Some(changed) = status.changed.iter().find(|c| c.version == version) else {
            return Err(if status.applied.iter().any(|a| a.version == version) {
                MigrateError::NotChanged {
                    version: version.to_string(),
                }
            } else {
                MigrateError::NotApplied {
                    version: version.to_string(),
                }
            });
        };
        let migration = set.get(version).ok_or_else(|| MigrateError::Missing {
            version: version.to_string(),
        })?;
        in_transaction(conn, async |conn| {
            history::record_accepted_edit(conn, migration, &changed.recorded, reason).await
        })
        .await?;
        Ok(changed.clone())
    })
    .await
}

/// Records what became of a failed or interrupted migration, so migrations
/// run again: after `RolledBack` an `up` is pending again (a `down` still
/// applied); after `Completed` an `up` is applied (a `down` reverted).
pub async fn resolve(
    conn: &mut AsyncPgConnection,
    options: &Options,
    version: &str,
    resolution: Resolution,
    reason: Option<&str>,
) -> Result<Unfinished, MigrateError> {
    locked(conn, options, async |conn| {
        let recorded = history::read(conn).await?;
        let row: HistoryRow = recorded
            .history
            .into_iter()
            .find(|row| row.version == version && row.state != history::APPLIED)
            .ok_or_else(|| MigrateError::NothingToResolve {
                version: version.to_string(),
            })?;
        let unfinished = Unfinished::from_row(&row, false);
        in_transaction(conn, async |conn| match resolution {
            Resolution::RolledBack => history::record_rolled_back(conn, &row, reason).await,
            Resolution::Completed => history::record_completed(conn, &row, reason).await,
        })
        .await?;
        Ok(unfinished)
    })
    .await
}
