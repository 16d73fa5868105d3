//! The bookkeeping tables: Diesel's `__diesel_schema_migrations` (the applied
//! versions, so Diesel's own tools keep working) and ours,
//! `__mv_migration_history` (checksums, failures) and `__mv_migration_log`
//! (who did what). Every change to them happens under the migration lock.
//!
//! They live in `public` and are always named with it, so a migration's
//! `search_path` (pg_dump's files empty it) never hides them from the runner.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Bool;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use super::source::SourceMigration;
use super::{Direction, MigrateError};

/// The DDL of our tables (idempotent).
pub const BOOKKEEPING_SQL: &str = include_str!("bookkeeping.sql");

diesel::table! {
    /// Diesel's list of applied versions.
    public.__diesel_schema_migrations (version) {
        version -> VarChar,
        run_on -> Timestamp,
    }
}

diesel::table! {
    /// One row per applied migration, and per migration left failed or
    /// running outside a transaction.
    public.__mv_migration_history (version) {
        version -> Text,
        name -> Text,
        checksum -> Text,
        state -> Text,
        direction -> Text,
        run_in_transaction -> Bool,
        started_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    /// What the engine and its operators did, append-only.
    public.__mv_migration_log (id) {
        id -> Int8,
        at -> Timestamptz,
        version -> Text,
        action -> Text,
        checksum -> Nullable<Text>,
        previous_checksum -> Nullable<Text>,
        reason -> Nullable<Text>,
        by_user -> Text,
    }
}

use __diesel_schema_migrations as applied_versions;
use __mv_migration_history as history;
use __mv_migration_log as log;

/// `__mv_migration_history.state`.
pub const APPLIED: &str = "applied";
/// A run outside a transaction started and has not finished.
pub const RUNNING: &str = "running";
/// A run outside a transaction failed.
pub const FAILED: &str = "failed";

/// One row of `__mv_migration_history`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = history, check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
pub struct HistoryRow {
    pub version: String,
    pub name: String,
    pub checksum: String,
    pub state: String,
    pub direction: String,
    pub run_in_transaction: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

impl HistoryRow {
    fn new(migration: &SourceMigration, state: &str, direction: Direction) -> Self {
        Self {
            version: migration.version.clone(),
            name: migration.name.clone(),
            checksum: migration.checksum.clone(),
            state: state.to_string(),
            direction: direction.as_str().to_string(),
            run_in_transaction: migration.run_in_transaction,
            started_at: Utc::now(),
            finished_at: None,
            error: None,
        }
    }
}

/// One entry of `__mv_migration_log`.
#[derive(Debug, Clone, Default, Insertable)]
#[diesel(table_name = log, check_for_backend(diesel::pg::Pg))]
pub struct LogEntry<'a> {
    pub version: &'a str,
    pub action: &'a str,
    pub checksum: Option<&'a str>,
    pub previous_checksum: Option<&'a str>,
    pub reason: Option<&'a str>,
}

/// What the database records about migrations.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// Diesel's applied versions, with when they ran.
    pub applied: Vec<(String, chrono::NaiveDateTime)>,
    /// Our rows.
    pub history: Vec<HistoryRow>,
    /// Whether every bookkeeping table exists.
    pub tables_exist: bool,
}

#[derive(QueryableByName)]
struct Tables {
    #[diesel(sql_type = Bool)]
    diesel: bool,
    #[diesel(sql_type = Bool)]
    ours: bool,
}

/// Reads the bookkeeping tables without writing (a missing table reads as
/// empty).
pub async fn read(conn: &mut AsyncPgConnection) -> Result<Recorded, MigrateError> {
    let tables: Tables = diesel::sql_query(
        "SELECT to_regclass('public.__diesel_schema_migrations') IS NOT NULL AS diesel, \
                to_regclass('public.__mv_migration_history') IS NOT NULL \
                AND to_regclass('public.__mv_migration_log') IS NOT NULL AS ours",
    )
    .get_result(conn)
    .await
    .map_err(MigrateError::db("look for the migration tables"))?;
    let mut recorded = Recorded {
        tables_exist: tables.diesel && tables.ours,
        ..Recorded::default()
    };
    if tables.diesel {
        recorded.applied = applied_versions::table
            .select((applied_versions::version, applied_versions::run_on))
            .order(applied_versions::version)
            .load(conn)
            .await
            .map_err(MigrateError::db("read the applied migrations"))?;
    }
    if tables.ours {
        recorded.history = history::table
            .select(HistoryRow::as_select())
            .order(history::version)
            .load(conn)
            .await
            .map_err(MigrateError::db("read the migration history"))?;
    }
    Ok(recorded)
}

/// Creates the bookkeeping tables that are missing.
pub async fn create_tables(conn: &mut AsyncPgConnection) -> Result<(), MigrateError> {
    conn.batch_execute(BOOKKEEPING_SQL)
        .await
        .map_err(MigrateError::db("create the migration history tables"))
}

/// Appends to the log.
pub async fn log(conn: &mut AsyncPgConnection, entry: LogEntry<'_>) -> Result<(), MigrateError> {
    diesel::insert_into(log::table)
        .values(&entry)
        .execute(conn)
        .await
        .map(drop)
        .map_err(MigrateError::db("write the migration log"))
}

/// Records migrations applied before the history existed, with the checksums
/// of their files now.
pub async fn adopt(
    conn: &mut AsyncPgConnection,
    migrations: &[&SourceMigration],
) -> Result<(), MigrateError> {
    for migration in migrations {
        let mut row = HistoryRow::new(migration, APPLIED, Direction::Up);
        row.finished_at = Some(row.started_at);
        upsert(conn, &row).await?;
        log(
            conn,
            LogEntry {
                version: &migration.version,
                action: "adopted",
                checksum: Some(&migration.checksum),
                ..LogEntry::default()
            },
        )
        .await?;
    }
    Ok(())
}

async fn upsert(conn: &mut AsyncPgConnection, row: &HistoryRow) -> Result<(), MigrateError> {
    diesel::insert_into(history::table)
        .values(row)
        .on_conflict(history::version)
        .do_update()
        .set(row)
        .execute(conn)
        .await
        .map(drop)
        .map_err(MigrateError::db("write the migration history"))
}

/// Marks a migration outside a transaction as started, before it runs.
pub async fn record_running(
    conn: &mut AsyncPgConnection,
    migration: &SourceMigration,
    direction: Direction,
) -> Result<(), MigrateError> {
    upsert(conn, &HistoryRow::new(migration, RUNNING, direction)).await
}

/// Marks a migration outside a transaction as failed.
pub async fn record_failed(
    conn: &mut AsyncPgConnection,
    migration: &SourceMigration,
    direction: Direction,
    error: &str,
) -> Result<(), MigrateError> {
    diesel::update(history::table.find(&migration.version))
        .set((
            history::state.eq(FAILED),
            history::direction.eq(direction.as_str()),
            history::finished_at.eq(Some(Utc::now())),
            history::error.eq(Some(error)),
        ))
        .execute(conn)
        .await
        .map_err(MigrateError::db("record the failed migration"))?;
    log(
        conn,
        LogEntry {
            version: &migration.version,
            action: "failed",
            checksum: Some(&migration.checksum),
            reason: Some(error),
            ..LogEntry::default()
        },
    )
    .await
}

/// Records a migration as applied, in Diesel's table and ours.
pub async fn record_applied(
    conn: &mut AsyncPgConnection,
    migration: &SourceMigration,
    started_at: DateTime<Utc>,
) -> Result<(), MigrateError> {
    let mut row = HistoryRow::new(migration, APPLIED, Direction::Up);
    row.started_at = started_at;
    row.finished_at = Some(Utc::now());
    upsert(conn, &row).await?;
    mark_applied_for_diesel(conn, &migration.version).await?;
    log(
        conn,
        LogEntry {
            version: &migration.version,
            action: "applied",
            checksum: Some(&migration.checksum),
            ..LogEntry::default()
        },
    )
    .await
}

/// Records a migration whose schema the database reached another way
/// (`mv-admin adopt` converted it): applied, in Diesel's table and ours,
/// with a `baselined` log entry carrying the previous tool's last checksum
/// and `reason`.
pub async fn record_baselined(
    conn: &mut AsyncPgConnection,
    migration: &SourceMigration,
    previous_checksum: &str,
    reason: &str,
) -> Result<(), MigrateError> {
    let mut row = HistoryRow::new(migration, APPLIED, Direction::Up);
    row.finished_at = Some(row.started_at);
    upsert(conn, &row).await?;
    mark_applied_for_diesel(conn, &migration.version).await?;
    log(
        conn,
        LogEntry {
            version: &migration.version,
            action: "baselined",
            checksum: Some(&migration.checksum),
            previous_checksum: Some(previous_checksum),
            reason: Some(reason),
        },
    )
    .await
}

async fn mark_applied_for_diesel(
    conn: &mut AsyncPgConnection,
    version: &str,
) -> Result<(), MigrateError> {
    diesel::insert_into(applied_versions::table)
        .values(applied_versions::version.eq(version))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(drop)
        .map_err(MigrateError::db("record the applied version"))
}

/// Forgets a reverted migration, in Diesel's table and ours.
pub async fn record_reverted(
    conn: &mut AsyncPgConnection,
    version: &str,
    action: &str,
    reason: Option<&str>,
) -> Result<(), MigrateError> {
    diesel::delete(applied_versions::table.find(version))
        .execute(conn)
        .await
        .map_err(MigrateError::db("forget the reverted version"))?;
    diesel::delete(history::table.find(version))
        .execute(conn)
        .await
        .map_err(MigrateError::db("forget the reverted migration"))?;
    log(
        conn,
        LogEntry {
            version,
            action,
            reason,
            ..LogEntry::default()
        },
    )
    .await
}

/// Records a new checksum for an applied migration whose file was edited.
pub async fn record_accepted_edit(
    conn: &mut AsyncPgConnection,
    migration: &SourceMigration,
    previous: &str,
    reason: &str,
) -> Result<(), MigrateError> {
    diesel::update(history::table.find(&migration.version))
        .set(history::checksum.eq(&migration.checksum))
        .execute(conn)
        .await
        .map_err(MigrateError::db("record the accepted checksum"))?;
    log(
        conn,
        LogEntry {
            version: &migration.version,
            action: "accepted_edit",
            checksum: Some(&migration.checksum),
            previous_checksum: Some(previous),
            reason: Some(reason),
        },
    )
    .await
}

/// Records that a failed migration's work was completed by hand: applied
/// after `up`, gone after `down`.
pub async fn record_completed(
    conn: &mut AsyncPgConnection,
    row: &HistoryRow,
    reason: Option<&str>,
) -> Result<(), MigrateError> {
    if Direction::parse(&row.direction) == Direction::Down {
        return record_reverted(conn, &row.version, "resolved_completed", reason).await;
    }
    diesel::update(history::table.find(&row.version))
        .set((
            history::state.eq(APPLIED),
            history::finished_at.eq(Some(Utc::now())),
            history::error.eq(None::<String>),
        ))
        .execute(conn)
        .await
        .map_err(MigrateError::db("record the completed migration"))?;
    mark_applied_for_diesel(conn, &row.version).await?;
    log(
        conn,
        LogEntry {
            version: &row.version,
            action: "resolved_completed",
            checksum: Some(&row.checksum),
            reason,
            ..LogEntry::default()
        },
    )
    .await
}

/// Records that nothing of a failed migration remains: pending again after
/// `up`, still applied after `down`.
pub async fn record_rolled_back(
    conn: &mut AsyncPgConnection,
    row: &HistoryRow,
    reason: Option<&str>,
) -> Result<(), MigrateError> {
    if Direction::parse(&row.direction) == Direction::Down {
        diesel::update(history::table.find(&row.version))
            .set((
                history::state.eq(APPLIED),
                history::direction.eq(Direction::Up.as_str()),
                history::error.eq(None::<String>),
            ))
            .execute(conn)
            .await
            .map_err(MigrateError::db("record the rolled-back revert"))?;
    } else {
        diesel::delete(history::table.find(&row.version))
            .execute(conn)
            .await
            .map_err(MigrateError::db("forget the rolled-back migration"))?;
    }
    log(
        conn,
        LogEntry {
            version: &row.version,
            action: "resolved_rolled_back",
            checksum: Some(&row.checksum),
            reason,
            ..LogEntry::default()
        },
    )
    .await
}
