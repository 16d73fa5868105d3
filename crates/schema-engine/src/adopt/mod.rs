//! Taking over the database the TypeScript app left behind (Drizzle ORM,
//! drizzle-kit, BetterAuth): detect it, check its rows, convert the app's
//! seven tables to the state of the baseline migration (while the app runs,
//! or in one transaction), verify every row and the catalog, and record the
//! baseline in the migration history. From there `mv-admin migrate` applies
//! the later migrations.
//!
//! - `detect`: drizzle's history and catalog against its known shapes.
//! - `preflight`: what blocks the conversion, what to know before it.
//! - `steps`: the conversion, derived from the catalog.
//! - `estimate`: the locks' durations, from the tables' sizes.
//! - `run`: executing it, resumable.
//! - `digest`: row digests and the journal of the app's writes.
//! - `verify`: the catalog and the digests after.
//! - `record`: the baseline in the migration history.
//! - `rollback`: the reverse plan.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use db::DbConfig;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};

use crate::catalog::{Schema, introspect};
use crate::error::{Context as _, Result};
use crate::migrations::{MigrateError, MigrationSet};
use crate::scratch::{execute_file, with_scratch};

pub mod detect;
pub mod digest;
mod estimate;
pub mod preflight;
mod record;
pub mod rollback;
mod run;
pub mod steps;
mod verify;

pub use detect::Detected;
pub use preflight::Finding;
pub use run::{Event, Observer, Options, Outcome, StepRun, TableCheck, convert};
pub use steps::{Hold, Lock, StepInfo};

/// The app's tables: what adopt converts.
pub const APP_TABLES: [&str; 7] = [
    "user",
    "tag",
    "category",
    "keyframe",
    "video_summary_tag",
    "video_summary_category",
    "video_summary",
];

/// The auth library's tables beside them: left exactly as they are.
pub const FOREIGN_TABLES: [&str; 3] = ["account", "session", "verification"];

/// The migration whose state adopt converts to and records as applied.
pub const BASELINE: &str = "2026-11-25-000001_create_schema";

/// The table recording an unfinished live conversion.
pub const PROGRESS: &str = "public.__mv_adopt";

/// What the TypeScript app must do while both run on one database, and
/// after. adopt prints it; the README's runbook says the same.
pub const SWITCH_OVER: [&str; 6] = [
    "Keep the TypeScript app's database sessions in UTC (SHOW TimeZone; Neon's default): drizzle-orm reads its timestamp() columns as UTC by appending +0000 to their text, which for a timestamptz column is right only when the session prints +00; or declare them timestamp({ withTimezone: true }).",
    "Strip NUL (\\u0000) and broken surrogate escapes from AI content before saving it: jsonb refuses them, so such a save fails from the moment adopt starts.",
    "Handle the new unique key on video_summary (user_id, youtube_id): saving a video the user saved already fails with a unique violation (constraint video_summary_user_id_youtube_id_key); look the existing one up instead.",
    "Stop the TypeScript app's workers before `mv-admin migrate` applies the pipeline migrations (000002-000006): from then on the database allows only the pipeline's status moves, and the Rust workers claim videos with leases.",
    "Never run drizzle-kit push, generate or migrate against this database again: push would turn the schema back into drizzle's (jsonb to json, dropping constraints and indexes), and generate/migrate would work from a history that no longer describes it. Change the schema with `mv-admin generate` and `mv-admin migrate`.",
    "The auth library keeps its tables (account, session, verification) as they are; adopt does not change them.",
];

/// How the conversion runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// While the application runs: short locks, shadow columns, concurrent
    /// index builds.
    Live,
    /// In one transaction, for a maintenance window: one rewrite.
    Window,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Window => "window",
        }
    }

    /// The command line's way of asking for it.
    pub fn flag(self) -> &'static str {
        match self {
            Self::Live => "without --window",
            Self::Window => "with --window",
        }
    }
}

/// What protects the data if the conversion has to be undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backup {
    /// A dump file made by the project's backup command.
    File(PathBuf),
    /// An acknowledgement naming the alternative (a Neon branch, a
    /// provider snapshot).
    Elsewhere(String),
}

/// A dump older than this is refused unless adopt is told otherwise.
pub const DEFAULT_BACKUP_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// drizzle-kit's history, which adopt never changes: a dump holding the
/// same rows in it is a dump of this database.
const DRIZZLE_HISTORY: (&str, &str) = ("drizzle", "__drizzle_migrations");

impl Backup {
    /// One line for the log and the output. A dump file must be one
    /// `mv-admin db dump` made (its manifest present, its files as the
    /// manifest says), hold schema and rows, be of this database (the same
    /// name, the app's tables, drizzle's history with the same rows) and be
    /// no older than `max_age` (`None`: any age); the line says its age.
    pub async fn check(
        &self,
        config: &DbConfig,
        max_age: Option<Duration>,
    ) -> Result<String, AdoptError> {
        match self {
            Self::File(path) => check_dump(config, path, max_age).await,
            Self::Elsewhere(what) if what.trim().is_empty() => Err(AdoptError::NoBackup),
            Self::Elsewhere(what) => Ok(format!("backup elsewhere: {}", what.trim())),
        }
    }
}

async fn check_dump(
    config: &DbConfig,
    path: &std::path::Path,
    max_age: Option<Duration>,
) -> Result<String, AdoptError> {
    let shown = path.display();
    let bad = |why: String| AdoptError::BadBackup(format!("{shown}: {why}"));
    let with_causes = |e: &dyn std::error::Error| {
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        text
    };
    std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    let manifest = crate::backup::check_dump(path).await.map_err(|e| {
        bad(format!(
            "{}; adopt takes a dump made by `mv-admin db dump`, checked against its manifest",
            with_causes(&e)
        ))
    })?;
    if manifest.content != crate::backup::Content::All {
        return Err(bad(format!(
            "the dump holds {} only; take a whole one with `mv-admin db dump`",
            if manifest.content.has_data() {
                "rows"
            } else {
                "the schema"
            }
        )));
    }
    let history = manifest
        .tables
        .iter()
        .find(|t| (t.schema.as_str(), t.name.as_str()) == DRIZZLE_HISTORY);
    let probe = history.cloned().unwrap_or(crate::backup::TableDigest {
        schema: DRIZZLE_HISTORY.0.to_string(),
        name: DRIZZLE_HISTORY.1.to_string(),
        rows: None,
        digest: None,
        hashed: None,
    });
    let (database, now) = crate::backup::describe_table(config, &probe)
        .await
        .map_err(|e| {
            bad(format!(
                "cannot compare it with the database: {}",
                with_causes(&e)
            ))
        })?;
    if manifest.database != database {
        return Err(bad(format!(
            "it is a dump of the database {:?}, not of this one ({database:?})",
            manifest.database
        )));
    }
    let missing: Vec<&str> = APP_TABLES
        .into_iter()
        .filter(|name| {
            !manifest
                .tables
                .iter()
                .any(|t| t.schema == "public" && t.name == *name)
        })
        .collect();
    if !missing.is_empty() {
        return Err(bad(format!(
            "the dump does not hold the app's table(s) {}, so it is not a dump of this database as the TypeScript app left it",
            missing.join(", ")
        )));
    }
    match (history, now) {
        (Some(dumped), Some(now)) if dumped.rows != now.rows || dumped.digest != now.digest => {
            return Err(bad(format!(
                "drizzle's history (drizzle.__drizzle_migrations) in the dump ({} rows) differs from this database's ({} rows), so it is a dump of another database",
                dumped.rows.unwrap_or(0),
                now.rows.unwrap_or(0)
            )));
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(bad(
                "one of the dump and this database has drizzle's history (drizzle.__drizzle_migrations) and the other has not, so it is a dump of another database".to_string(),
            ));
        }
        _ => {}
    }
    let age = (chrono::Utc::now() - manifest.created_at)
        .to_std()
        .unwrap_or(Duration::ZERO);
    let age_text = humantime::format_duration(Duration::from_secs(age.as_secs())).to_string();
    if let Some(max_age) = max_age
        && age > max_age
    {
        return Err(bad(format!(
            "the dump was made {} ({age_text} ago), longer ago than --backup-max-age {}; take a fresh one with `mv-admin db dump`",
            manifest.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
            humantime::format_duration(max_age)
        )));
    }
    Ok(format!(
        "backup file {shown} (mv-admin db dump of {} made {}, {age_text} old, {} rows in {} tables, checked against its manifest)",
        manifest.database,
        manifest.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        manifest.rows(),
        manifest.tables.len()
    ))
}

/// Why adopt stopped.
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    /// The database has this project's history: there is nothing to adopt.
    #[error(
        "the database already has this project's migration history ({0}); adopt takes over a \
         database drizzle-kit made, once, and changed nothing; use `mv-admin migrate` from here"
    )]
    AlreadyManaged(String),
    /// Not a database the TypeScript app made, as far as adopt can tell.
    #[error(
        "the database is not the one drizzle-kit made for the TypeScript app, so adopt changed \
         nothing; it differs in: {}",
        .0.join("; ")
    )]
    Unrecognised(Vec<String>),
    /// Rows a person must resolve first.
    #[error(
        "{} blocker(s) must be resolved first, so adopt changed nothing: {}",
        .0.len(),
        .0.iter().map(|f| f.message.as_str()).collect::<Vec<_>>().join("; ")
    )]
    Blocked(Vec<Finding>),
    #[error(
        "adopt converts only with a backup: pass --backup FILE (a dump of this database made by \
         the project's backup command) or --backup-elsewhere \"<what>\" naming the backup you \
         made another way (a Neon branch, a provider snapshot)"
    )]
    NoBackup,
    #[error("the backup cannot be used: {0}")]
    BadBackup(String),
    /// A conversion in the other mode is unfinished.
    #[error(
        "an adoption started at {started} in {} mode is unfinished; run adopt {} to resume it",
        .mode.as_str(), .mode.flag()
    )]
    OtherMode { mode: Mode, started: String },
    /// A step could not take its lock in any of its tries.
    #[error(
        "{step}: the lock on {tables} stayed busy through {attempts} tries of {lock_timeout:?} \
         each (long transactions of the application hold it); nothing of this step was applied: \
         run adopt again to resume here"
    )]
    LockBusy {
        step: String,
        tables: String,
        attempts: u32,
        lock_timeout: Duration,
    },
    /// A step failed; the conversion stops before it.
    #[error("{step} failed: {cause}; the steps before it are done, run adopt again to resume here")]
    Step { step: String, cause: String },
    /// Verification found a difference: the baseline is not recorded.
    #[error("verification failed, so the baseline was not recorded: {}", .0.join("; "))]
    Verification(Vec<String>),
    #[error(transparent)]
    Engine(#[from] crate::Error),
    #[error(transparent)]
    Migrate(#[from] MigrateError),
}

impl From<db::Error> for AdoptError {
    fn from(error: db::Error) -> Self {
        Self::Engine(error.into())
    }
}

/// What adopt found and would do: detection, preflight, the steps with their
/// locks, and the reverse plan. Made without changing anything.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    pub detected: Detected,
    /// When a conversion is unfinished: how it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resuming: Option<Resuming>,
    pub mode: Mode,
    pub blockers: Vec<Finding>,
    pub warnings: Vec<Finding>,
    pub steps: Vec<StepInfo>,
    /// The SQL that undoes the conversion (tried on a scratch database).
    pub rollback_sql: String,
    pub switch_over: Vec<&'static str>,
    /// drizzle's catalog, as detected (with the auth tables' foreign keys as
    /// they are).
    #[serde(skip)]
    pub(crate) shape: Schema,
    /// The baseline migration's catalog.
    #[serde(skip)]
    pub(crate) baseline: Schema,
}

impl Assessment {
    /// What schema.sql should declare foreign after the adoption: the auth
    /// library's tables the database holds, and drizzle's schema when its
    /// history is there.
    pub fn foreign(&self) -> Vec<String> {
        let mut names: Vec<String> = FOREIGN_TABLES
            .iter()
            .filter(|name| self.shape.tables.contains_key(**name))
            .map(ToString::to_string)
            .collect();
        if self.detected.made_by.contains("migrate") {
            names.push("drizzle.*".to_string());
        }
        names
    }
}

/// An unfinished conversion.
#[derive(Debug, Clone, Serialize)]
pub struct Resuming {
    pub mode: Mode,
    pub started_at: String,
    pub backup: String,
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Nullable<Text>)]
    found: Option<String>,
}

#[derive(QueryableByName)]
struct Applied {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Refuses a database that has this project's migration history.
pub(crate) async fn refuse_managed(conn: &mut AsyncPgConnection) -> Result<(), AdoptError> {
    let tables: Found = diesel::sql_query(
        "SELECT concat_ws(', ', to_regclass('public.__diesel_schema_migrations')::text, \
                to_regclass('public.__mv_migration_history')::text, \
                to_regclass('public.__mv_migration_log')::text) AS found",
    )
    .get_result(conn)
    .await
    .context("Failed to look for the migration history")?;
    let found = tables.found.unwrap_or_default();
    if found.is_empty() {
        return Ok(());
    }
    let applied = if found.contains("__diesel_schema_migrations") {
        let count: Applied = diesel::sql_query(
            "SELECT count(*)::int8 AS count FROM public.__diesel_schema_migrations",
        )
        .get_result(conn)
        .await
        .context("Failed to read the applied migrations")?;
        format!("{} applied migration(s) in {found}", count.count)
    } else {
        format!("tables {found}")
    };
    Err(AdoptError::AlreadyManaged(applied))
}

#[derive(QueryableByName)]
struct ProgressRow {
    #[diesel(sql_type = Text)]
    mode: String,
    #[diesel(sql_type = Text)]
    detected: String,
    #[diesel(sql_type = Text)]
    backup: String,
    #[diesel(sql_type = Text)]
    started_at: String,
    #[diesel(sql_type = Nullable<Text>)]
    snapshot: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    digests: Option<String>,
}

/// An unfinished live conversion, as recorded.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    pub mode: Mode,
    pub detected: Detected,
    pub backup: String,
    pub started_at: String,
    /// The snapshot the digests before were taken in, and the digests.
    pub before: Option<(String, std::collections::BTreeMap<String, digest::Digest>)>,
}

pub(crate) async fn read_progress(conn: &mut AsyncPgConnection) -> Result<Option<Progress>> {
    let exists: Found =
        diesel::sql_query(format!("SELECT to_regclass('{PROGRESS}')::text AS found"))
            .get_result(conn)
            .await
            .context("Failed to look for an unfinished adoption")?;
    if exists.found.is_none() {
        return Ok(None);
    }
    let row: Option<ProgressRow> = diesel::sql_query(format!(
        "SELECT mode, detected::text AS detected, backup, \
                to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC' AS started_at, \
                snapshot, digests::text AS digests FROM {PROGRESS}"
    ))
    .get_result(conn)
    .await
    .optional()
    .context("Failed to read the unfinished adoption")?;
    let Some(row) = row else {
        return Ok(None);
    };
    let invalid = |what: &str, e: &dyn std::fmt::Display| {
        crate::error::Error::Invalid(format!("{PROGRESS} holds an unreadable {what}: {e}"))
    };
    let detected: Detected =
        serde_json::from_str(&row.detected).map_err(|e| invalid("detection", &e))?;
    let mode = match row.mode.as_str() {
        "window" => Mode::Window,
        _ => Mode::Live,
    };
    let before = match (row.snapshot, row.digests) {
        (Some(snapshot), Some(digests)) => Some((
            snapshot,
            serde_json::from_str(&digests).map_err(|e| invalid("digest", &e))?,
        )),
        _ => None,
    };
    Ok(Some(Progress {
        mode,
        detected,
        backup: row.backup,
        started_at: row.started_at,
        before,
    }))
}

#[derive(QueryableByName)]
struct IndexName {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The app tables' INVALID indexes (left by a failed concurrent build).
pub(crate) async fn invalid_indexes(conn: &mut AsyncPgConnection) -> Result<BTreeSet<String>> {
    let rows: Vec<IndexName> = diesel::sql_query(
        "SELECT c.relname::text AS name FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND NOT i.indisvalid",
    )
    .load(conn)
    .await
    .context("Failed to look for INVALID indexes")?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

/// The baseline migration's up.sql.
pub(crate) fn baseline_sql() -> Result<String, AdoptError> {
    let set = MigrationSet::embedded()?;
    let migration = set
        .migrations()
        .iter()
        .find(|m| m.name == BASELINE)
        .ok_or_else(|| {
            AdoptError::Engine(crate::error::Error::Invalid(format!(
                "the baseline migration {BASELINE} is not built into this binary"
            )))
        })?;
    Ok(migration.up.to_string())
}

/// Looks at the database and says what adopt would do, changing nothing
/// there (scratch databases on its server hold drizzle's shapes and the
/// baseline). `mode` is the one asked for; an unfinished conversion keeps
/// its own.
pub async fn assess(config: &DbConfig, mode: Mode) -> Result<Assessment, AdoptError> {
    let mut conn = db::connect(config).await?;
    refuse_managed(&mut conn).await?;
    let progress = read_progress(&mut conn).await?;
    let live = introspect(&mut conn).await?;
    let shapes = with_scratch(config, async |scratch| detect::load_shapes(scratch).await).await?;
    let detected = match &progress {
        Some(progress) => progress.detected.clone(),
        None => {
            let history = detect::drizzle_history(&mut conn).await?;
            detect::identify(&live, history.as_deref(), &shapes)?
        }
    };
    let shape = detect::with_legacy_foreign_keys(
        &shapes.after[detected.applied().saturating_sub(1)],
        &detected.legacy_foreign_keys,
    );
    let baseline_sql = baseline_sql()?;
    let (baseline, rollback_sql, rolled_back) = with_scratch(config, async |scratch| {
        let mut conn = scratch.connect().await?;
        execute_file(&mut conn, &baseline_sql, BASELINE).await?;
        let baseline = introspect(&mut conn).await?;
        let sql = rollback::reverse_sql(&baseline, &shape, &detected);
        let after = rollback::apply(&mut conn, &sql).await?;
        Ok((baseline, sql, after))
    })
    .await?;
    rollback::check(&rolled_back, &shape)?;

    let mode = progress.as_ref().map_or(mode, |p| p.mode);
    let blockers = preflight::blockers(&mut conn).await?;
    let warnings = preflight::warnings(&mut conn, &live).await?;
    let invalid = invalid_indexes(&mut conn).await?;
    let remaining = steps::derive(&live, &baseline, &invalid, mode)?;
    let all = steps::derive(&shape, &baseline, &BTreeSet::new(), mode)?;
    let mut infos: Vec<StepInfo> = all
        .into_iter()
        .map(|step| {
            let mut info = step.info;
            match remaining.iter().find(|r| r.info.name == info.name) {
                Some(left) => info = left.info.clone(),
                None => info.done = progress.is_some(),
            }
            info
        })
        .collect();
    for left in &remaining {
        if !infos.iter().any(|i| i.name == left.info.name) {
            infos.push(left.info.clone());
        }
    }
    let infos = estimate::with_bookends(infos, mode, progress.as_ref());
    let infos = estimate::estimate(&mut conn, infos, mode).await?;
    Ok(Assessment {
        detected,
        resuming: progress.map(|p| Resuming {
            mode: p.mode,
            started_at: p.started_at,
            backup: p.backup,
        }),
        mode,
        blockers,
        warnings,
        steps: infos,
        rollback_sql,
        switch_over: SWITCH_OVER.to_vec(),
        shape,
        baseline,
    })
}
