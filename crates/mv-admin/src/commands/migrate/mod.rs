//! `mv-admin migrate`: applies the migrations embedded in this binary, under
//! the engine's lock and checks; its subcommands show, revert, redo, accept
//! an edit and resolve a failure.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Subcommand;
use diesel_async::AsyncPgConnection;
use schema_engine::migrations::{
    self, Direction, Event, MigrateError, MigrationSet, Options, Report,
};

use crate::say;
use crate::{Context, EXIT_LOCK_TIMEOUT, ExitStatus};

pub mod accept_edit;
pub mod resolve;
pub mod revert;
pub mod status;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<MigrateCommand>,

    /// Apply pending migrations older than the newest applied one (only when
    /// they do not depend on the newer ones).
    #[arg(long)]
    pub allow_out_of_order: bool,

    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Show the applied, pending, changed, missing and failed migrations.
    Status,
    /// Revert the newest applied migrations.
    Revert(revert::Args),
    /// Revert the newest applied migrations, then apply them again.
    Redo(revert::Args),
    /// Accept a deliberate edit of an applied migration; the log keeps both
    /// checksums and the reason.
    AcceptEdit(accept_edit::Args),
    /// Say what became of a migration that failed or was interrupted outside
    /// a transaction, so migrations can run again.
    Resolve(resolve::Args),
    /// List every statement of the migrations that would lock a table
    /// while it rewrites or scans it, whatever its size (no database is
    /// read); exits 1 when there is one.
    Lint,
}

/// The settings every migrate command shares.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineArgs {
    /// How long to wait for another run's migration lock; then exit with
    /// status 3. `0` tries once.
    #[arg(long, global = true, value_name = "DURATION", default_value = "60s", value_parser = limit)]
    pub lock_timeout: Limit,

    /// PostgreSQL lock_timeout for each migration, unless its metadata.toml
    /// sets one; `0` for none.
    #[arg(long, global = true, value_name = "DURATION", default_value = "5s", value_parser = limit)]
    pub migration_lock_timeout: Limit,

    /// PostgreSQL statement_timeout for each migration, unless its
    /// metadata.toml sets one; `0` for none.
    #[arg(long, global = true, value_name = "DURATION", default_value = "10m", value_parser = limit)]
    pub migration_statement_timeout: Limit,

    /// Use the migrations in this folder (Diesel's layout) instead of those
    /// built into this binary.
    #[arg(long, global = true, value_name = "DIR")]
    pub migrations_dir: Option<PathBuf>,

    /// Warn before a pending statement that locks a table holding at least
    /// N rows (estimated) while it rewrites or scans it; `0` warns for any
    /// table that exists.
    #[arg(long, global = true, value_name = "N", default_value_t = migrations::risk::DEFAULT_WARN_ROWS)]
    pub warn_rows: u64,

    /// Refuse (exit 1) instead of warning: `migrate` runs nothing, `status`
    /// and `lint` fail.
    #[arg(long, global = true)]
    pub strict: bool,
}

/// A duration, or none (`0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub Option<Duration>);

/// Reads a `--...-timeout` value.
pub fn limit(value: &str) -> Result<Limit, String> {
    db::config::parse_limit(value).map(Limit)
}

impl EngineArgs {
    /// The engine's options, printing progress on stderr.
    pub fn options(&self, allow_out_of_order: bool) -> Options {
        Options {
            lock_wait: self.lock_timeout.0.unwrap_or(Duration::ZERO),
            lock_timeout: self.migration_lock_timeout.0,
            statement_timeout: self.migration_statement_timeout.0,
            allow_out_of_order,
            warn_rows: Some(self.warn_rows),
            strict: self.strict,
            observer: Some(Arc::new(print_event)),
        }
    }

    /// The migrations to use: the folder's, or the embedded ones.
    pub fn migration_set(&self) -> Result<MigrationSet> {
        Ok(match &self.migrations_dir {
            Some(dir) => MigrationSet::from_dir(dir)?,
            None => MigrationSet::embedded()?,
        })
    }
}

fn print_event(event: &Event<'_>) {
    match event {
        Event::WaitingForLock { holder } => eprintln!(
            "waiting for the migration lock, {}",
            holder.map_or_else(
                || "whose holder has just let go".to_string(),
                |h| h.describe()
            )
        ),
        Event::Adopted { versions } => eprintln!(
            "recorded the checksums of migrations applied before the history existed: {}",
            versions.join(", ")
        ),
        Event::Missing { versions } => eprintln!(
            "warning: applied migrations unknown to this binary: {} (see `mv-admin migrate status`)",
            versions.join(", ")
        ),
        Event::Risky { warnings } => {
            for warning in *warnings {
                eprintln!("warning: {}", warning.describe());
            }
        }
        Event::Starting { name, direction } => eprintln!(
            "{} {name}",
            match direction {
                Direction::Up => "applying",
                Direction::Down => "reverting",
            }
        ),
        Event::Finished {
            name,
            direction,
            took,
        } => eprintln!(
            "{} {name} in {} ms",
            match direction {
                Direction::Up => "applied",
                Direction::Down => "reverted",
            },
            took.as_millis()
        ),
    }
}

/// An engine error for the command line: a lock timeout exits with its own
/// status.
pub fn engine_error(error: MigrateError) -> anyhow::Error {
    if matches!(error, MigrateError::LockTimeout { .. }) {
        anyhow::Error::new(ExitStatus(EXIT_LOCK_TIMEOUT)).context(error)
    } else {
        anyhow::Error::new(error)
    }
}

/// Diesel's version from a version or a folder name
/// (`2026-11-25-000001_create_schema` → `20261125000001`).
pub fn version_arg(value: &str) -> Result<String, String> {
    let version = value.split('_').next().unwrap_or_default().replace('-', "");
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "expected a migration version such as 20261125000001 or a folder name such as 2026-11-25-000001_create_schema, not {value:?}"
        ));
    }
    Ok(version)
}

pub async fn run(context: &Context, args: Args) -> Result<()> {
    let set = args.engine.migration_set()?;
    if let Some(MigrateCommand::Lint) = args.command {
        return lint(context, &set);
    }
    let mut conn = context.connect_direct().await?;
    let options = args.engine.options(args.allow_out_of_order);
    match args.command {
        None => {
            let report = apply(&mut conn, &set, &options).await?;
            print_report(context, &report)?;
            Ok(())
        }
        Some(MigrateCommand::Status) => status::run(context, &mut conn, &set, &args.engine).await,
        Some(MigrateCommand::Lint) => unreachable!("lint reads no database"),
        Some(MigrateCommand::Revert(revert)) => {
            revert::run(context, &mut conn, &set, &options, revert, false).await
        }
        Some(MigrateCommand::Redo(redo)) => {
            revert::run(context, &mut conn, &set, &options, redo, true).await
        }
        Some(MigrateCommand::AcceptEdit(accept)) => {
            accept_edit::run(context, &mut conn, &set, &options, accept).await
        }
        Some(MigrateCommand::Resolve(resolve)) => {
            resolve::run(context, &mut conn, &options, resolve).await
        }
    }
}

/// `migrate lint`: every statement that would block a large table, in
/// every migration, on tables the same file does not create.
fn lint(context: &Context, set: &MigrationSet) -> Result<()> {
    let found: Vec<(String, migrations::RiskyStatement)> = set
        .migrations()
        .iter()
        .flat_map(|m| {
            migrations::risk::classify_migration(m)
                .into_iter()
                .filter(migrations::RiskyStatement::blocks_by_itself)
                .map(|s| (m.name.clone(), s))
        })
        .collect();
    if context.json {
        let found: Vec<_> = found
            .iter()
            .map(|(migration, statement)| {
                serde_json::json!({ "migration": migration, "statement": statement })
            })
            .collect();
        say!("{}", serde_json::json!({ "risky": found }));
    } else {
        for (migration, s) in &found {
            say!(
                "{migration}/up.sql:{}: `{}` takes {} on {} while it {} it ({}); {} wait on a large table",
                s.line,
                s.statement,
                s.lock,
                s.table,
                match s.effect {
                    migrations::risk::Effect::Rewrite => "rewrites",
                    migrations::risk::Effect::Scan => "scans",
                    migrations::risk::Effect::IndexBuild => "indexes",
                    migrations::risk::Effect::WriteAll => "writes every row of",
                    migrations::risk::Effect::WriteMatching => "writes the matching rows of",
                },
                s.reason,
                s.blocks
            );
        }
    }
    if found.is_empty() {
        if !context.json {
            say!(
                "no migration holds a statement that blocks a table while it rewrites or scans it ({} checked)",
                set.migrations().len()
            );
        }
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "{} statement(s) would block a large table; make them online (CONCURRENTLY, NOT VALID then VALIDATE CONSTRAINT, a backfill in batches) or split them out",
            found.len()
        ))
    }
}

/// Applies every pending migration of `set`.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    set: &MigrationSet,
    options: &Options,
) -> Result<Report> {
    migrations::migrate(conn, set, options)
        .await
        .map_err(engine_error)
}

/// Applies every pending embedded migration with the default settings (for
/// `quickstart`); returns the versions applied.
pub async fn apply_pending(conn: &mut AsyncPgConnection) -> Result<Vec<String>> {
    let set = MigrationSet::embedded()?;
    let report = apply(conn, &set, &Options::default())
        .await
        .context("Failed to apply the migrations")?;
    Ok(report.versions())
}

/// Prints what a command did: JSON, or one line per migration.
pub fn print_report(context: &Context, report: &Report) -> Result<()> {
    if context.json {
        say!("{}", serde_json::to_string(report).unwrap_or_default());
        return Ok(());
    }
    for done in &report.reverted {
        say!("reverted {}", done.name);
    }
    for done in &report.applied {
        say!("applied {}", done.name);
    }
    if report.applied.is_empty() && report.reverted.is_empty() {
        say!("the database is up to date; nothing was applied");
    }
    Ok(())
}
