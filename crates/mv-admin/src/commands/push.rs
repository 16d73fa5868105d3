//! `mv-admin push`: makes a development database match `schema.sql` at
//! once, in one transaction, without writing a migration.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use schema_engine::foreign::Foreign;
use schema_engine::plan::{HazardKind, Rename, Step};
use schema_engine::push::{Options, push};
use schema_engine::{schema_rs, scratch};
use serde_json::json;

use super::migrate::{Limit, limit};
use super::read_schema_sql;
use crate::{Context, ExitStatus, SCHEMA_FILE, SCHEMA_SQL, say};

/// Exit code of `push --dry-run` when the plan holds a step push would
/// refuse (0: nothing to do, or every step would run).
pub const EXIT_REFUSED: u8 = 3;

/// A kind of hazard `--accept-data-loss` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Accept {
    /// Every kind below (what a bare --accept-data-loss means).
    All,
    /// Dropping a table and its rows (never a foreign table: those are
    /// never planned).
    DropTable,
    /// Dropping a column and its values.
    DropColumn,
    /// A type change the new type may not hold.
    TypeChange,
    /// NOT NULL on a column holding NULLs, or a NOT NULL column without a
    /// default on a table with rows.
    NotNull,
    /// A unique key existing rows violate.
    Unique,
}

impl Accept {
    fn kinds(self) -> &'static [HazardKind] {
        match self {
            Self::All => &HazardKind::ALL,
            Self::DropTable => &[HazardKind::DropTable],
            Self::DropColumn => &[HazardKind::DropColumn],
            Self::TypeChange => &[HazardKind::TypeChange],
            Self::NotNull => &[HazardKind::NotNull],
            Self::Unique => &[HazardKind::Unique],
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply the steps that lose data or may fail on existing rows (dropping
    /// a table or column, a narrowing type change, NOT NULL, a unique key);
    /// `--accept-data-loss=type-change,not-null` accepts only those kinds.
    /// Rows are never deleted to make a change fit.
    #[arg(
        long,
        value_enum,
        value_name = "KINDS",
        num_args = 0..=1,
        require_equals = true,
        value_delimiter = ',',
        default_missing_value = "all"
    )]
    pub accept_data_loss: Vec<Accept>,
    /// Rename instead of dropping and adding: `table.old_column=new_column`
    /// or `old_table=new_table`. Repeat for several.
    #[arg(long = "rename", value_name = "HINT")]
    pub renames: Vec<Rename>,
    /// PostgreSQL lock_timeout for the push: behind a long transaction it
    /// fails after this instead of making every query on the table wait;
    /// `0` for none.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = limit)]
    pub lock_timeout: Limit,
    /// The desired schema.
    #[arg(long, default_value = SCHEMA_SQL)]
    pub schema: PathBuf,
    /// The schema.rs regenerated afterwards, when its folder exists (that
    /// is, when run from the repository's root).
    #[arg(long, default_value = SCHEMA_FILE)]
    pub schema_rs: PathBuf,
}

pub async fn run(context: &Context, args: Args) -> Result<()> {
    let (source, sql) = read_schema_sql(&args.schema)?;
    let foreign = Foreign::parse(&sql, &source)?;
    let desired = scratch::schema_of_sql(&context.direct_config().await?, &sql, &source).await?;
    let write_schema_rs = !args.dry_run && args.schema_rs.parent().is_some_and(|p| p.is_dir());
    if write_schema_rs {
        // Fail before changing anything if Diesel could not use the result.
        schema_rs::render(&desired).with_context(|| format!("{source} cannot give a schema.rs"))?;
    }
    foreign.ensure_not_created(&desired, &source)?;
    let mut accepted: Vec<HazardKind> = args
        .accept_data_loss
        .iter()
        .flat_map(|a| a.kinds().iter().copied())
        .collect();
    accepted.sort();
    accepted.dedup();
    let options = Options {
        dry_run: args.dry_run,
        accept_data_loss: accepted.clone(),
        foreign,
        renames: args.renames,
        lock_timeout: args.lock_timeout.0,
    };
    let mut conn = context.connect_direct().await?;
    let json = context.json;
    // Each statement as it runs; a reader that went away does not stop the
    // push, which is already under way.
    let mut print = |step: &Step| {
        if !json {
            let _ = crate::output::print(&format!("{}\n", step.sql));
        }
    };
    let outcome = push(&mut conn, &desired, &options, &mut print).await?;

    let mut written = None;
    if let (true, Some(schema)) = (write_schema_rs, &outcome.schema) {
        let text = schema_rs::render(schema)?;
        std::fs::write(&args.schema_rs, text)
            .with_context(|| format!("Failed to write {}", args.schema_rs.display()))?;
        written = Some(args.schema_rs.display().to_string());
    }
    let refused = outcome.plan.refused(&accepted).len();
    if json {
        say!(
            "{}",
            json!({
                "dry_run": args.dry_run,
                "applied": outcome.applied,
                "steps": outcome.plan.steps().collect::<Vec<_>>(),
                "refused": refused,
                "schema_rs": written,
            })
        );
        return refuse_dry_run(args.dry_run, refused);
    }
    if args.dry_run {
        for step in outcome.plan.steps() {
            if let Some(risk) = step.risk() {
                let verdict = match &step.hazard {
                    Some(_) if step.destructive && step.is_accepted(&accepted) => {
                        "accepted by --accept-data-loss".to_string()
                    }
                    Some(hazard) if step.destructive => format!(
                        "refused without --accept-data-loss={}",
                        hazard.kind().as_str()
                    ),
                    _ => "safe here".to_string(),
                };
                say!("-- {verdict}: {risk}");
            }
            say!("{}", step.sql);
        }
        say!(
            "dry run: {} statement(s) planned; nothing was changed",
            outcome.plan.steps().count()
        );
        return refuse_dry_run(true, refused);
    } else if outcome.plan.is_empty() {
        say!("the database already matches {source}");
    } else {
        say!(
            "applied {} statement(s) in one transaction",
            outcome.plan.steps().count()
        );
    }
    if let Some(path) = written {
        say!("wrote {path}");
    }
    Ok(())
}

/// A dry run whose plan holds refused steps exits with [`EXIT_REFUSED`], so
/// CI tells "nothing to do" from "push would refuse".
fn refuse_dry_run(dry_run: bool, refused: usize) -> Result<()> {
    if dry_run && refused > 0 {
        return Err(anyhow::Error::new(ExitStatus(EXIT_REFUSED)).context(format!(
            "push would refuse {refused} step(s) of this plan (marked above); nothing was changed"
        )));
    }
    Ok(())
}
