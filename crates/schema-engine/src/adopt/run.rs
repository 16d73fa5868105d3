//! Executing the conversion: live (short transactions under lock_timeout,
//! retried; a backfill in small batches; concurrent index builds) or in a
//! window (one transaction); then verifying and recording the baseline.
//!
//! A live conversion records itself in `__mv_adopt` and journals the
//! application's writes from its first step; every step is derived from the
//! catalog as it is, so a rerun after a kill continues where it stopped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use db::DbConfig;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use serde::Serialize;

use super::digest::{self, Digest, Digestible};
use super::record::record;
use super::steps::{self, Lock, Shadow, StepInfo, Work};
use super::verify::{catalog_differences, check, compare_journaled, mismatch};
use super::{
    APP_TABLES, AdoptError, Assessment, BASELINE, Backup, Detected, FOREIGN_TABLES, Mode, PROGRESS,
    Progress, invalid_indexes, read_progress, refuse_managed,
};
use crate::catalog::introspect;
use crate::migrations::{self, lock};
use crate::plan::ddl::literal;

/// The message adopt's own lock attempt raises when the lock stays busy for
/// the whole lock_timeout (PostgreSQL's own message may be translated).
const LOCK_BUSY: &str = "mv-adopt: lock busy";

/// Something worth telling the person watching, as it happens.
#[derive(Debug)]
pub enum Event<'a> {
    Started {
        step: &'a str,
    },
    Finished {
        step: &'a str,
        took: Duration,
    },
    /// The step's lock was busy; it waits and tries again.
    Retrying {
        step: &'a str,
        attempt: u32,
    },
    /// Rows the backfill has written so far.
    Backfilled {
        step: &'a str,
        rows: i64,
    },
}

/// Receives [`Event`]s; mv-admin prints them.
pub type Observer = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// How to convert.
#[derive(Clone)]
pub struct Options {
    pub mode: Mode,
    pub backup: Backup,
    /// A backup file older than this is refused (`None`: any age).
    pub backup_max_age: Option<Duration>,
    /// lock_timeout of each short step; a busy lock is tried again.
    pub lock_timeout: Duration,
    /// How many times a short step tries its lock.
    pub attempts: u32,
    /// Rows per backfill batch.
    pub batch_rows: i64,
    /// How long to wait for the migration lock (another adopt or migrate).
    pub lock_wait: Duration,
    pub observer: Option<Observer>,
}

impl Options {
    /// The defaults for `mode` and `backup`: 500 ms lock_timeout, 40 tries,
    /// batches of 2,000 rows, 60 s for the migration lock.
    pub fn new(mode: Mode, backup: Backup) -> Self {
        Self {
            mode,
            backup,
            backup_max_age: Some(super::DEFAULT_BACKUP_MAX_AGE),
            lock_timeout: Duration::from_millis(500),
            attempts: 40,
            batch_rows: 2_000,
            lock_wait: Duration::from_secs(60),
            observer: None,
        }
    }

    fn notify(&self, event: Event<'_>) {
        if let Some(observer) = &self.observer {
            observer(&event);
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("mode", &self.mode)
            .field("backup", &self.backup)
            .field("backup_max_age", &self.backup_max_age)
            .field("lock_timeout", &self.lock_timeout)
            .field("attempts", &self.attempts)
            .field("batch_rows", &self.batch_rows)
            .finish_non_exhaustive()
    }
}

/// One step as it ran.
#[derive(Debug, Clone, Serialize)]
pub struct StepRun {
    pub name: String,
    pub millis: u128,
    /// Tries beyond the first (its lock was busy).
    pub retries: u32,
}

/// One table's rows before and after.
#[derive(Debug, Clone, Serialize)]
pub struct TableCheck {
    pub table: String,
    /// `canonical` (app tables) or `exact` (the auth library's).
    pub digest: &'static str,
    pub rows_before: i64,
    pub rows_after: i64,
    /// Rows the application inserted, changed or deleted meanwhile (left
    /// out of the comparison).
    pub changed_by_application: i64,
    pub equal: bool,
}

/// What a conversion did.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub mode: Mode,
    /// Whether it continued an unfinished conversion.
    pub resumed: bool,
    pub steps: Vec<StepRun>,
    pub tables: Vec<TableCheck>,
    /// The migration recorded as applied.
    pub baseline: String,
    pub drizzle_last_hash: String,
    pub backup: String,
    pub seconds: f64,
}

/// The tables whose rows are digested: the app's in canonical form (by the
/// baseline's columns), the auth library's byte for byte.
fn digestibles(assessment: &Assessment) -> Vec<Digestible> {
    let app = APP_TABLES
        .iter()
        .filter_map(|name| assessment.baseline.tables.get(*name))
        .map(Digestible::canonical);
    let foreign = FOREIGN_TABLES
        .iter()
        .filter_map(|name| assessment.shape.tables.get(*name))
        .map(Digestible::exact);
    app.chain(foreign).collect()
}

fn idents(tables: &[Digestible]) -> Vec<String> {
    tables
        .iter()
        .map(|t| format!("public.{}", t.ident))
        .collect()
}

/// Converts the database as `assessment` planned, verifies, and records the
/// baseline; resumes an unfinished live conversion. Holds the migration lock
/// throughout, so no `migrate` (or other adopt) runs meanwhile.
pub async fn convert(
    config: &DbConfig,
    assessment: &Assessment,
    options: &Options,
) -> Result<Outcome, AdoptError> {
    let backup = options.backup.check(config, options.backup_max_age).await?;
    if !assessment.blockers.is_empty() {
        return Err(AdoptError::Blocked(assessment.blockers.clone()));
    }
    let mut conn = db::connect(config).await?;
    let lock_options = migrations::Options {
        lock_wait: options.lock_wait,
        ..migrations::Options::default()
    };
    lock::acquire(&mut conn, &lock_options).await?;
    let started = Instant::now();
    let result = async {
        refuse_managed(&mut conn).await?;
        conn.batch_execute(&format!(
            "SET application_name = 'mv-adopt'; SET statement_timeout = 0; SET lock_timeout = 0; \
             SET {} = 'converting'",
            digest::SESSION_SETTING
        ))
        .await
        .map_err(|e| step_error("prepare the session", &e))?;
        let progress = read_progress(&mut conn).await?;
        if let Some(progress) = &progress
            && progress.mode != options.mode
        {
            return Err(AdoptError::OtherMode {
                mode: progress.mode,
                started: progress.started_at.clone(),
            });
        }
        match options.mode {
            Mode::Live => live(&mut conn, assessment, options, &backup, progress).await,
            Mode::Window => window(&mut conn, assessment, options, &backup).await,
        }
    }
    .await;
    let _ = lock::release(&mut conn).await;
    let (resumed, steps, tables) = result?;
    Ok(Outcome {
        mode: options.mode,
        resumed,
        steps,
        tables,
        baseline: BASELINE.to_string(),
        drizzle_last_hash: assessment.detected.last_hash.clone(),
        backup,
        seconds: started.elapsed().as_secs_f64(),
    })
}

type Done = (bool, Vec<StepRun>, Vec<TableCheck>);

async fn live(
    conn: &mut AsyncPgConnection,
    assessment: &Assessment,
    options: &Options,
    backup: &str,
    progress: Option<Progress>,
) -> Result<Done, AdoptError> {
    let tables = digestibles(assessment);
    let mut runs = Vec::new();
    let resumed = progress.is_some();
    let progress = match progress {
        Some(progress) => progress,
        None => {
            let name = "install the change journal";
            runs.push(
                timed(options, name, async || {
                    let sql = start_sql(&tables, &assessment.detected, backup)?;
                    instant(
                        conn,
                        options,
                        name,
                        &idents(&tables),
                        Lock::ShareRowExclusive,
                        &sql,
                        async |_| Ok(()),
                    )
                    .await
                })
                .await?,
            );
            read_progress(conn).await?.ok_or_else(|| AdoptError::Step {
                step: name.to_string(),
                cause: format!("{PROGRESS} is missing after it was created"),
            })?
        }
    };
    let (snapshot, before) = match progress.before {
        Some(before) => before,
        None => {
            let mut taken = None;
            runs.push(
                timed(options, "digest every row before", async || {
                    taken = Some(digest_before(conn, &tables).await?);
                    Ok(0)
                })
                .await?,
            );
            taken.unwrap_or_default()
        }
    };

    let live = introspect(conn).await.map_err(AdoptError::from)?;
    let invalid = invalid_indexes(conn).await?;
    for step in steps::derive(&live, &assessment.baseline, &invalid, Mode::Live)? {
        let name = step.info.name.clone();
        let journal = step
            .info
            .table
            .as_ref()
            .and_then(|t| tables.iter().find(|d| &d.name == t))
            .map(Digestible::journal_function);
        runs.push(
            timed(options, &name, async || {
                execute(
                    conn,
                    options,
                    &name,
                    &step.info,
                    &step.work,
                    journal.as_deref(),
                )
                .await
            })
            .await?,
        );
    }

    let name = "verify";
    let mut checks = Vec::new();
    runs.push(
        timed(options, name, async || {
            let live = introspect(conn).await.map_err(AdoptError::from)?;
            let mut found = catalog_differences(&live, assessment);
            let (tables_checked, digest_found) =
                compare_journaled(conn, &tables, &snapshot, &before).await?;
            checks = tables_checked;
            found.extend(digest_found);
            if found.is_empty() {
                Ok(0)
            } else {
                Err(AdoptError::Verification(found))
            }
        })
        .await?,
    );

    let name = "remove the change journal and record the baseline";
    runs.push(
        timed(options, name, async || {
            let mut sql: Vec<String> = tables
                .iter()
                .flat_map(Digestible::journal_removal)
                .collect();
            sql.push(format!("DROP TABLE {};", digest::JOURNAL));
            sql.push(format!("DROP TABLE {PROGRESS};"));
            instant(
                conn,
                options,
                name,
                &idents(&tables),
                Lock::AccessExclusive,
                &sql,
                async |conn| record(conn, &assessment.detected, backup, Mode::Live).await,
            )
            .await
        })
        .await?,
    );
    Ok((resumed, runs, checks))
}

async fn window(
    conn: &mut AsyncPgConnection,
    assessment: &Assessment,
    options: &Options,
    backup: &str,
) -> Result<Done, AdoptError> {
    let tables = digestibles(assessment);
    let live = introspect(conn).await.map_err(AdoptError::from)?;
    let invalid = invalid_indexes(conn).await?;
    let steps = steps::derive(&live, &assessment.baseline, &invalid, Mode::Window)?;
    let name = "convert in one transaction";
    let mut checks = Vec::new();
    let mut runs = Vec::new();
    runs.push(
        timed(options, name, async || {
            let (foreign, app): (Vec<Digestible>, Vec<Digestible>) = tables
                .iter()
                .cloned()
                .partition(|t| FOREIGN_TABLES.contains(&t.name.as_str()));
            let (app, foreign) = (idents(&app), idents(&foreign));
            let mut statements = Vec::new();
            for step in &steps {
                if let Work::InWindow(sql) = &step.work {
                    statements.extend(sql.iter().cloned());
                }
            }
            // The window is the application's downtime: one try, waiting as
            // long as all the short steps' tries together, and no limit on
            // how long the transaction runs.
            let limits = Limits {
                lock_timeout: options.lock_timeout * options.attempts.max(1),
                attempts: 1,
                statement_timeout: None,
            };
            instant_with(
                conn,
                options,
                name,
                limits,
                &[
                    (app, Lock::AccessExclusive),
                    (foreign, Lock::ShareRowExclusive),
                ],
                &[],
                async |conn| {
                    let mut before = BTreeMap::new();
                    for table in &tables {
                        before.insert(
                            table.name.clone(),
                            table.digest(conn).await.map_err(AdoptError::from)?,
                        );
                    }
                    conn.batch_execute(&statements.join("\n"))
                        .await
                        .map_err(|e| step_error(name, &e))?;
                    let mut found = Vec::new();
                    checks.clear();
                    for table in &tables {
                        let after = table.digest(conn).await.map_err(AdoptError::from)?;
                        let was = before[&table.name];
                        checks.push(check(table, was, after, 0, was == after));
                        if was != after {
                            found.push(mismatch(table, was, after));
                        }
                    }
                    let live = introspect(conn).await.map_err(AdoptError::from)?;
                    found.extend(catalog_differences(&live, assessment));
                    if !found.is_empty() {
                        return Err(AdoptError::Verification(found));
                    }
                    record(conn, &assessment.detected, backup, Mode::Window).await
                },
            )
            .await
        })
        .await?,
    );
    Ok((false, runs, checks))
}

/// Runs `body`, telling the observer; returns the step's record.
async fn timed(
    options: &Options,
    name: &str,
    body: impl AsyncFnOnce() -> Result<u32, AdoptError>,
) -> Result<StepRun, AdoptError> {
    options.notify(Event::Started { step: name });
    let start = Instant::now();
    let retries = body().await?;
    let took = start.elapsed();
    options.notify(Event::Finished { step: name, took });
    Ok(StepRun {
        name: name.to_string(),
        millis: took.as_millis(),
        retries,
    })
}

pub(crate) fn step_error(step: &str, error: &diesel::result::Error) -> AdoptError {
    AdoptError::Step {
        step: step.to_string(),
        cause: migrations::describe_db_error(error),
    }
}

fn is_lock_busy(error: &diesel::result::Error) -> bool {
    matches!(error, diesel::result::Error::DatabaseError(_, info) if info.message() == LOCK_BUSY)
}

/// Runs one live step.
async fn execute(
    conn: &mut AsyncPgConnection,
    options: &Options,
    name: &str,
    info: &StepInfo,
    work: &Work,
    journal: Option<&str>,
) -> Result<u32, AdoptError> {
    let table = info
        .table
        .as_ref()
        .map(|t| vec![format!("public.{}", quote(t))])
        .unwrap_or_default();
    let sql = match work {
        Work::Instant(sql) => sql.clone(),
        Work::Swap(shadow) => {
            // The trigger keeps the shadows in sync from its creation on; a
            // row out of sync now means something else changed them.
            let left = out_of_sync(conn, shadow).await?;
            if left > 0 {
                return Err(AdoptError::Step {
                    step: name.to_string(),
                    cause: format!(
                        "{left} row(s) of {} differ from their shadow columns after the backfill",
                        shadow.table
                    ),
                });
            }
            shadow.swap_sql()
        }
        Work::Backfill(shadow) => {
            backfill(conn, options, name, shadow).await?;
            return Ok(0);
        }
        Work::Online(sql) => {
            conn.batch_execute(sql)
                .await
                .map_err(|e| step_error(name, &e))?;
            return Ok(0);
        }
        Work::CreateIndex { name: index, sql } => {
            // A build that failed or was killed leaves an INVALID index.
            conn.batch_execute(&format!(
                "DROP INDEX CONCURRENTLY IF EXISTS public.{}",
                quote(index)
            ))
            .await
            .map_err(|e| step_error(name, &e))?;
            conn.batch_execute(sql)
                .await
                .map_err(|e| step_error(name, &e))?;
            return Ok(0);
        }
        Work::InWindow(_) => return Ok(0),
    };
    let sql: Vec<String> = sql.into_iter().chain(journal.map(str::to_string)).collect();
    instant(
        conn,
        options,
        name,
        &table,
        Lock::AccessExclusive,
        &sql,
        async |_| Ok(()),
    )
    .await
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Runs `sql` and then `then` in one short transaction: TimeZone UTC, the
/// tables locked first under `options.lock_timeout`; a busy lock rolls back,
/// waits and tries again. Returns the number of retries.
async fn instant(
    conn: &mut AsyncPgConnection,
    options: &Options,
    name: &str,
    tables: &[String],
    lock: Lock,
    sql: &[String],
    then: impl AsyncFnMut(&mut AsyncPgConnection) -> Result<(), AdoptError>,
) -> Result<u32, AdoptError> {
    let limits = Limits {
        lock_timeout: options.lock_timeout,
        attempts: options.attempts,
        statement_timeout: Some(SHORT_STEP_TIMEOUT),
    };
    instant_with(
        conn,
        options,
        name,
        limits,
        &[(tables.to_vec(), lock)],
        sql,
        then,
    )
    .await
}

/// A short step that runs longer than this (a rewrite where none was
/// expected) is cancelled rather than left holding its lock.
const SHORT_STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// How a transaction waits for its locks, and how long it may run.
#[derive(Debug, Clone, Copy)]
struct Limits {
    lock_timeout: Duration,
    /// Tries when the locks stay busy.
    attempts: u32,
    statement_timeout: Option<Duration>,
}

async fn instant_with(
    conn: &mut AsyncPgConnection,
    options: &Options,
    name: &str,
    limits: Limits,
    locks: &[(Vec<String>, Lock)],
    sql: &[String],
    mut then: impl AsyncFnMut(&mut AsyncPgConnection) -> Result<(), AdoptError>,
) -> Result<u32, AdoptError> {
    let Limits {
        lock_timeout,
        attempts,
        statement_timeout,
    } = limits;
    let mut prelude = format!(
        "SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = {}; SET LOCAL TimeZone = 'UTC';",
        lock_timeout.as_millis().max(1),
        statement_timeout.map_or(0, |t| t.as_millis().max(1))
    );
    for (tables, lock) in locks.iter().filter(|(t, _)| !t.is_empty()) {
        prelude.push_str(&format!(
            "\nDO $mv_lock$ BEGIN LOCK TABLE {} IN {} MODE; \
             EXCEPTION WHEN lock_not_available OR deadlock_detected THEN RAISE EXCEPTION '{LOCK_BUSY}'; \
             END $mv_lock$;",
            tables.join(", "),
            lock.as_str()
        ));
    }
    let body_sql = sql.join("\n");
    let mut pause = Duration::from_millis(200);
    for attempt in 1..=attempts.max(1) {
        conn.batch_execute("BEGIN")
            .await
            .map_err(|e| step_error(name, &e))?;
        let mut busy = false;
        let result = async {
            for part in [&prelude, &body_sql] {
                if part.is_empty() {
                    continue;
                }
                conn.batch_execute(part).await.map_err(|e| {
                    busy = is_lock_busy(&e);
                    step_error(name, &e)
                })?;
            }
            then(conn).await
        }
        .await;
        match result {
            Ok(()) => {
                conn.batch_execute("COMMIT")
                    .await
                    .map_err(|e| step_error(name, &e))?;
                return Ok(attempt - 1);
            }
            Err(error) => {
                let _ = conn.batch_execute("ROLLBACK").await;
                if !busy {
                    return Err(error);
                }
            }
        }
        if attempt < attempts {
            options.notify(Event::Retrying {
                step: name,
                attempt: attempt + 1,
            });
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }
    Err(AdoptError::LockBusy {
        step: name.to_string(),
        tables: locks
            .iter()
            .flat_map(|(t, _)| t.iter().cloned())
            .collect::<Vec<_>>()
            .join(", "),
        attempts,
        lock_timeout,
    })
}

/// The first transaction of a live conversion: the progress record, the
/// journal, and its triggers on every table.
fn start_sql(
    tables: &[Digestible],
    detected: &Detected,
    backup: &str,
) -> Result<Vec<String>, AdoptError> {
    let detected = serde_json::to_string(detected).map_err(|e| AdoptError::Step {
        step: "install the change journal".to_string(),
        cause: e.to_string(),
    })?;
    let mut sql = vec![
        format!(
            "CREATE TABLE {PROGRESS} (
    mode text NOT NULL,
    detected jsonb NOT NULL,
    backup text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    snapshot text,
    digests jsonb
);
COMMENT ON TABLE {PROGRESS} IS 'An unfinished mv-admin adopt: run it again to resume; dropped when it finishes.';
INSERT INTO {PROGRESS} (mode, detected, backup) VALUES ('live', {}::jsonb, {});",
            literal(&detected),
            literal(backup)
        ),
        digest::journal_table(),
    ];
    for table in tables {
        sql.push(table.journal_function());
        sql.push(table.journal_trigger());
    }
    Ok(sql)
}

/// One text value of a query.
#[derive(QueryableByName)]
pub(crate) struct TextRow {
    #[diesel(sql_type = Text)]
    pub(crate) value: String,
}

/// Digests every table in one snapshot and records them with it.
async fn digest_before(
    conn: &mut AsyncPgConnection,
    tables: &[Digestible],
) -> Result<(String, BTreeMap<String, Digest>), AdoptError> {
    let name = "digest every row before";
    conn.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .await
        .map_err(|e| step_error(name, &e))?;
    let result = async {
        let snapshot: TextRow = diesel::sql_query("SELECT pg_current_snapshot()::text AS value")
            .get_result(conn)
            .await
            .map_err(|e| step_error(name, &e))?;
        let mut digests = BTreeMap::new();
        for table in tables {
            digests.insert(table.name.clone(), table.digest(conn).await?);
        }
        let json = serde_json::to_string(&digests).map_err(|e| AdoptError::Step {
            step: name.to_string(),
            cause: e.to_string(),
        })?;
        diesel::sql_query(format!(
            "UPDATE {PROGRESS} SET snapshot = $1, digests = $2::jsonb"
        ))
        .bind::<Text, _>(&snapshot.value)
        .bind::<Text, _>(&json)
        .execute(conn)
        .await
        .map_err(|e| step_error(name, &e))?;
        Ok::<_, AdoptError>((snapshot.value, digests))
    }
    .await;
    match result {
        Ok(value) => {
            conn.batch_execute("COMMIT")
                .await
                .map_err(|e| step_error(name, &e))?;
            Ok(value)
        }
        Err(e) => {
            let _ = conn.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

#[derive(QueryableByName)]
struct BatchRow {
    #[diesel(sql_type = Nullable<Text>)]
    last: Option<String>,
    #[diesel(sql_type = BigInt)]
    updated: i64,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Copies the old columns into the shadows, converted, in batches of rows
/// in key order, each its own short transaction. Rows the application has
/// locked are skipped (its own write syncs them through the trigger); a
/// last pass catches any row left out of sync.
async fn backfill(
    conn: &mut AsyncPgConnection,
    options: &Options,
    name: &str,
    shadow: &Shadow,
) -> Result<(), AdoptError> {
    let assignments = shadow
        .assignments("t")
        .iter()
        .map(|(column, value)| format!("{column} = {value}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (t, k) = (&shadow.ident, &shadow.key);
    let batch = format!(
        "WITH batch AS (
             SELECT {k} FROM {t} WHERE {k} > $1 ORDER BY {k} LIMIT $2 FOR UPDATE SKIP LOCKED
         ), updated AS (
             UPDATE {t} AS t SET {assignments} FROM batch
             WHERE t.{k} = batch.{k} AND ({sync}) RETURNING 1
         )
         SELECT (SELECT max({k}) FROM batch)::text AS last, (SELECT count(*) FROM updated)::int8 AS updated",
        sync = shadow.out_of_sync("t"),
    );
    let mut last = String::new();
    let mut rows = 0;
    loop {
        let row: BatchRow = diesel::sql_query(&batch)
            .bind::<Text, _>(&last)
            .bind::<BigInt, _>(options.batch_rows)
            .get_result(conn)
            .await
            .map_err(|e| step_error(name, &e))?;
        let Some(next) = row.last else { break };
        last = next;
        rows += row.updated;
        options.notify(Event::Backfilled { step: name, rows });
    }
    let rest = format!(
        "WITH batch AS (
             SELECT {k} FROM {t} AS t WHERE {sync} LIMIT $1 FOR UPDATE SKIP LOCKED
         ), updated AS (
             UPDATE {t} AS t SET {assignments} FROM batch WHERE t.{k} = batch.{k} RETURNING 1
         )
         SELECT NULL::text AS last, (SELECT count(*) FROM updated)::int8 AS updated",
        sync = shadow.out_of_sync("t"),
    );
    for _ in 0..options.attempts.max(1) {
        if out_of_sync(conn, shadow).await? == 0 {
            return Ok(());
        }
        let row: BatchRow = diesel::sql_query(&rest)
            .bind::<BigInt, _>(options.batch_rows)
            .get_result(conn)
            .await
            .map_err(|e| step_error(name, &e))?;
        if row.updated == 0 {
            // Every row left is locked by the application right now.
            tokio::time::sleep(options.lock_timeout).await;
        }
    }
    Ok(())
}

async fn out_of_sync(conn: &mut AsyncPgConnection, shadow: &Shadow) -> Result<i64, AdoptError> {
    let count: CountRow = diesel::sql_query(format!(
        "SELECT count(*)::int8 AS count FROM {} AS t WHERE {}",
        shadow.ident,
        shadow.out_of_sync("t")
    ))
    .get_result(conn)
    .await
    .map_err(|e| step_error(&format!("backfill {}", shadow.table), &e))?;
    Ok(count.count)
}
