//! `mv-admin adopt`: takes over the database the TypeScript app left behind
//! (drizzle-kit's schema, BetterAuth's tables), converting the app's tables
//! to the baseline migration while the app runs, then recording it, so that
//! `mv-admin migrate` goes on from there.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use schema_engine::adopt::{
    self, Assessment, Backup, Event, Finding, Mode, Options, Outcome, rollback,
};
use serde_json::json;

use crate::output::{self, Cell, DIM, HEADER, paint, shown};
use crate::{Context, SCHEMA_SQL, say};

/// The comment above the declaration adopt writes into schema.sql.
const DECLARATION_NOTE: &str = "Not this project's: the auth library's tables and drizzle's \
     schema, left alone by push, generate and schema.rs (written by `mv-admin adopt`).";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Detect the database, check its rows and print the plan (locks,
    /// sizes, estimates); change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Convert in one transaction, for a maintenance window: one rewrite
    /// of video_summary, during which the application's reads and writes
    /// wait.
    #[arg(long)]
    pub window: bool,
    /// A dump of this database made by `mv-admin db dump`: checked against
    /// its manifest, its database and its age before anything changes.
    #[arg(long, value_name = "FILE", conflicts_with = "backup_elsewhere")]
    pub backup: Option<PathBuf>,
    /// A --backup dump older than this is refused; `0` accepts any age.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = crate::commands::migrate::limit)]
    pub backup_max_age: crate::commands::migrate::Limit,
    /// Convert without a dump file, naming the backup you made another way
    /// (a Neon branch, a provider snapshot).
    #[arg(long, value_name = "WHAT")]
    pub backup_elsewhere: Option<String>,
    /// Where to write the rollback script.
    #[arg(long, value_name = "FILE", default_value = "adopt-rollback.sql")]
    pub rollback_file: PathBuf,
    /// lock_timeout of each short step; a step whose lock stays busy is
    /// rolled back and tried again (40 times).
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = positive_duration)]
    pub lock_timeout: Duration,
    /// Rows per backfill batch (each its own short transaction).
    #[arg(long, value_name = "N", default_value_t = 2_000,
          value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub batch_rows: i64,
    /// The schema.sql into which the auth library's tables (and drizzle's
    /// schema) are declared foreign after the conversion, when they are not
    /// yet.
    #[arg(long, value_name = "FILE", default_value = SCHEMA_SQL)]
    pub schema: PathBuf,
}

/// What adopt did about the foreign tables' declaration in schema.sql.
#[derive(Debug, serde::Serialize)]
#[serde(tag = "declaration", rename_all = "snake_case")]
enum Declaration {
    /// Written: these names were added.
    Written { file: String, added: Vec<String> },
    /// Everything was declared already.
    AlreadyDeclared { file: String },
    /// The file is not there: the line to add by hand.
    NoFile { file: String, line: String },
    /// A dry run: what would be added.
    WouldWrite { file: String, added: Vec<String> },
}

impl Declaration {
    fn say(&self) -> Result<()> {
        match self {
            Self::Written { file, added } => say!(
                "declared {} foreign in {file} (commit it): push, generate and schema.rs leave \
                 them alone",
                added.join(", ")
            ),
            Self::AlreadyDeclared { file } => {
                say!("{file} declares the auth library's tables foreign already");
            }
            Self::NoFile { file, line } => say!(
                "note: {file} was not found (run adopt from the repository's root or pass \
                 --schema); add this line to schema.sql so push and generate leave these \
                 tables alone: {line}"
            ),
            Self::WouldWrite { file, added } => say!(
                "after converting, adopt declares {} foreign in {file}",
                added.join(", ")
            ),
        }
        Ok(())
    }
}

/// Declares the assessment's foreign tables in schema.sql (only computes
/// what it would add when `write` is false). Reads the file first, so a
/// schema.sql that cannot be read or parsed stops adopt before it converts.
fn declare_foreign(path: &std::path::Path, names: &[String], write: bool) -> Result<Declaration> {
    let file = path.display().to_string();
    if !path.exists() {
        return Ok(Declaration::NoFile {
            line: schema_engine::foreign::Foreign::line(names),
            file,
        });
    }
    let sql = std::fs::read_to_string(path).with_context(|| format!("Failed to read {file}"))?;
    let Some((text, added)) =
        schema_engine::foreign::declare(&sql, &file, names, DECLARATION_NOTE)?
    else {
        return Ok(Declaration::AlreadyDeclared { file });
    };
    if !write {
        return Ok(Declaration::WouldWrite { file, added });
    }
    std::fs::write(path, text).with_context(|| format!("Failed to write {file}"))?;
    Ok(Declaration::Written { file, added })
}

fn positive_duration(value: &str) -> Result<Duration, String> {
    db::config::parse_limit(value)?.ok_or_else(|| "must be more than 0".to_string())
}

pub async fn run(context: &Context, args: Args) -> Result<()> {
    let config = context.config().await?;
    let mode = if args.window {
        Mode::Window
    } else {
        Mode::Live
    };
    let assessment = adopt::assess(&config, mode).await?;
    let foreign = assessment.foreign();
    // Checked before anything changes: a schema.sql adopt cannot read or
    // parse stops it here.
    let would = declare_foreign(&args.schema, &foreign, false)?;
    if args.dry_run {
        if context.json {
            say!(
                "{}",
                json!({ "dry_run": true, "assessment": assessment, "foreign": would })
            );
        } else {
            print_assessment(&assessment)?;
            would.say()?;
            say!("\ndry run: nothing was changed");
        }
        return refuse_blockers(&assessment, context.json);
    }
    if !context.json {
        print_assessment(&assessment)?;
    }
    refuse_blockers(&assessment, context.json)?;
    let backup = match (args.backup, args.backup_elsewhere) {
        (Some(file), _) => Backup::File(file),
        (None, Some(what)) => Backup::Elsewhere(what),
        (None, None) => return Err(adopt::AdoptError::NoBackup.into()),
    };
    // Before anything is written.
    let described = backup.check(&config, args.backup_max_age.0).await?;
    eprintln!("{described}");
    std::fs::write(&args.rollback_file, &assessment.rollback_sql).with_context(|| {
        format!(
            "Failed to write the rollback script to {}",
            args.rollback_file.display()
        )
    })?;
    eprintln!(
        "wrote the rollback script (tried on a scratch database) to {}",
        args.rollback_file.display()
    );
    let options = Options {
        lock_timeout: args.lock_timeout,
        batch_rows: args.batch_rows,
        backup_max_age: args.backup_max_age.0,
        observer: Some(Arc::new(print_event)),
        ..Options::new(assessment.mode, backup)
    };
    let outcome = adopt::convert(&config, &assessment, &options).await?;
    let declared = declare_foreign(&args.schema, &foreign, true)
        .context("The database was adopted, but declaring its foreign tables failed")?;
    if context.json {
        say!(
            "{}",
            json!({
                "dry_run": false,
                "assessment": assessment,
                "outcome": outcome,
                "rollback_file": args.rollback_file,
                "foreign": declared,
            })
        );
    } else {
        print_outcome(&outcome, &assessment)?;
        declared.say()?;
    }
    Ok(())
}

/// Fails when blockers exist: with the whole list when it was not printed.
fn refuse_blockers(assessment: &Assessment, json: bool) -> Result<()> {
    let blockers = &assessment.blockers;
    if blockers.is_empty() {
        Ok(())
    } else if json {
        Err(adopt::AdoptError::Blocked(blockers.clone()).into())
    } else {
        anyhow::bail!(
            "{} blocker(s), listed above with their rows, must be resolved first; nothing was changed",
            blockers.len()
        )
    }
}

fn print_event(event: &Event<'_>) {
    match event {
        Event::Started { step } => eprintln!("{step} ..."),
        Event::Finished { step, took } => {
            eprintln!("{step}: done in {}", format_took(*took));
        }
        Event::Retrying { step, attempt } => {
            eprintln!("{step}: the lock is busy; trying again (try {attempt})");
        }
        Event::Backfilled { step, rows } => {
            if rows % 100_000 < 2_000 || *rows < 2_000 {
                eprintln!("{step}: {rows} rows so far");
            }
        }
    }
}

fn format_took(took: Duration) -> String {
    if took < Duration::from_secs(1) {
        format!("{} ms", took.as_millis())
    } else {
        format!("{:.1} s", took.as_secs_f64())
    }
}

fn print_findings(title: &str, findings: &[Finding]) -> Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    say!(
        "{}",
        output::heading(&format!("{title} ({})", findings.len()))
    );
    for finding in findings {
        say!(
            "- {}: {}",
            paint(HEADER, finding.kind),
            shown(&finding.message)
        );
        if !finding.rows.is_empty() {
            say!("  rows: {}", shown(&finding.rows.join(", ")));
        }
        if let Some(query) = &finding.query {
            say!("  {}", paint(DIM, &format!("query: {}", shown(query))));
        }
    }
    Ok(())
}

fn print_assessment(assessment: &Assessment) -> Result<()> {
    let detected = &assessment.detected;
    say!(
        "This database was made by {} ({}); drizzle's last migration hash is {}.",
        detected.made_by,
        detected.migrations.join(" + "),
        detected.last_hash
    );
    if let Some(resuming) = &assessment.resuming {
        say!(
            "An adoption started at {} ({} mode, {}) is unfinished: it resumes after its last \
             finished step.",
            resuming.started_at,
            resuming.mode.as_str(),
            shown(&resuming.backup)
        );
    }
    print_findings(
        "Blockers: resolve them, then run adopt again",
        &assessment.blockers,
    )?;
    print_findings("Warnings", &assessment.warnings)?;
    let title = match assessment.mode {
        Mode::Live => "Steps (live: the application keeps running)",
        Mode::Window => "Steps (window: one transaction; stop the application)",
    };
    say!("{}", output::heading(title));
    let mut table =
        output::Table::new(["", "step", "table", "lock", "blocks", "size", "held"]).flexible(6);
    for step in &assessment.steps {
        table.push(vec![
            Cell::from(if step.done { "done" } else { "" }),
            Cell::from(step.name.as_str()),
            Cell::from(step.table.as_deref().unwrap_or("")),
            Cell::from(step.lock.as_str()),
            Cell::from(step.blocks),
            Cell::from(step.table_size.as_deref().unwrap_or("")),
            Cell::from(step.estimate.as_str()),
        ]);
    }
    table.print()?;
    for step in &assessment.steps {
        if let Some(note) = &step.note {
            say!("{}: {note}", step.name);
        }
    }
    say!("{}", output::heading("Rollback"));
    say!("The rollback script was tried on a scratch database. It cannot restore:");
    for item in rollback::CANNOT_RESTORE {
        say!("- {item}");
    }
    Ok(())
}

fn print_outcome(outcome: &Outcome, assessment: &Assessment) -> Result<()> {
    say!(
        "{}",
        output::heading(&format!(
            "Converted ({} mode{}) in {:.1} s; every row and the catalog verified",
            outcome.mode.as_str(),
            if outcome.resumed { ", resumed" } else { "" },
            outcome.seconds
        ))
    );
    let mut table = output::Table::new([
        "table",
        "digest",
        "rows before",
        "rows after",
        "changed by the app",
        "equal",
    ])
    .right(2)
    .right(3)
    .right(4);
    for check in &outcome.tables {
        table.push(vec![
            Cell::from(check.table.as_str()),
            Cell::from(check.digest),
            Cell::from(check.rows_before.to_string()),
            Cell::from(check.rows_after.to_string()),
            Cell::from(check.changed_by_application.to_string()),
            Cell::from(if check.equal { "yes" } else { "NO" }),
        ]);
    }
    table.print()?;
    say!(
        "\nrecorded {} as applied (log: baselined, drizzle's last hash {}; {})",
        outcome.baseline,
        outcome.drizzle_last_hash,
        shown(&outcome.backup)
    );
    say!("next: stop the TypeScript app's workers, then run `mv-admin migrate`");
    say!("{}", output::heading("Switch-over"));
    for (i, note) in assessment.switch_over.iter().enumerate() {
        say!("{}. {note}", i + 1);
    }
    Ok(())
}
