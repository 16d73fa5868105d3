//! `mv-admin push`: makes a development database match `schema.sql` at
//! once, in one transaction, without writing a migration.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, TransactionManager};
use serde_json::json;

use crate::catalog::{Schema, introspect};
use crate::mark::{self, Environment};
use crate::plan::{self, Plan, Rename, Step};
use crate::say;
use crate::schema_rs::{self, SCHEMA_FILE};
use crate::{Context, SCHEMA_SQL, scratch};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply the steps that lose data or may fail on existing rows (dropping
    /// a table or column, a narrowing type change, NOT NULL, a unique key).
    /// Rows are never deleted to make a change fit.
    #[arg(long)]
    pub accept_data_loss: bool,
    /// Rename instead of dropping and adding: `table.old_column=new_column`
    /// or `old_table=new_table`. Repeat for several.
    #[arg(long = "rename", value_name = "HINT")]
    pub renames: Vec<Rename>,
    /// The desired schema.
    #[arg(long, default_value = SCHEMA_SQL)]
    pub schema: PathBuf,
    /// The schema.rs regenerated afterwards, when its folder exists (that
    /// is, when run from the repository's root).
    #[arg(long, default_value = SCHEMA_FILE)]
    pub schema_rs: PathBuf,
}

/// How to push.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub dry_run: bool,
    pub accept_data_loss: bool,
    pub renames: Vec<Rename>,
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub plan: Plan,
    /// Whether the changes were committed (not on a dry run or an empty plan).
    pub applied: bool,
    /// The database's schema afterwards; none on a dry run.
    pub schema: Option<Schema>,
}

/// Why push did not even try.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the database is marked {0}, so push refuses it: change it with `mv-admin generate` and \
         `mv-admin migrate`, or remove the mark with `mv-admin db unmark`"
    )]
    Marked(String),
    #[error(
        "push refuses {} step(s) that can lose data or fail on existing rows, and changed \
         nothing: {}; pass --accept-data-loss to apply them anyway",
        .0.len(),
        .0.iter().filter_map(Step::risk).collect::<Vec<_>>().join("; ")
    )]
    DataLoss(Vec<Step>),
}

pub async fn run(context: &Context, args: Args) -> Result<()> {
    let source = args.schema.display().to_string();
    let sql = std::fs::read_to_string(&args.schema).with_context(|| {
        format!("Failed to read {source} (run from the repository's root or pass --schema)")
    })?;
    let desired = scratch::schema_of_sql(&context.config, &sql, &source).await?;
    let write_schema_rs = !args.dry_run && args.schema_rs.parent().is_some_and(|p| p.is_dir());
    if write_schema_rs {
        // Fail before changing anything if Diesel could not use the result.
        schema_rs::render(&desired).with_context(|| format!("{source} cannot give a schema.rs"))?;
    }
    let options = Options {
        dry_run: args.dry_run,
        accept_data_loss: args.accept_data_loss,
        renames: args.renames,
    };
    let mut conn = context.connect().await?;
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
    if json {
        say!(
            "{}",
            json!({
                "dry_run": args.dry_run,
                "applied": outcome.applied,
                "steps": outcome.plan.steps().collect::<Vec<_>>(),
                "schema_rs": written,
            })
        );
        return Ok(());
    }
    if args.dry_run {
        for step in outcome.plan.steps() {
            if let Some(risk) = step.risk() {
                let verdict = if step.destructive {
                    "refused without --accept-data-loss"
                } else {
                    "safe here"
                };
                say!("-- {verdict}: {risk}");
            }
            say!("{}", step.sql);
        }
        say!(
            "dry run: {} statement(s) planned; nothing was changed",
            outcome.plan.steps().count()
        );
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

/// Changes the database `conn` is connected to into `desired`, in one
/// transaction: every step or none. `report` sees each statement as it runs.
pub async fn push(
    conn: &mut AsyncPgConnection,
    desired: &Schema,
    options: &Options,
    report: &mut dyn FnMut(&Step),
) -> Result<Outcome> {
    if let Some(environment) = mark::read(conn).await?
        && environment == Environment::Production.as_str()
    {
        return Err(Refusal::Marked(environment).into());
    }
    AnsiTransactionManager::begin_transaction(conn)
        .await
        .context("Failed to begin the transaction")?;
    let result = plan_and_apply(conn, desired, options, report).await;
    match result {
        Ok(outcome) if !options.dry_run => {
            AnsiTransactionManager::commit_transaction(conn)
                .await
                .context("Failed to commit the changes; none was applied")?;
            Ok(outcome)
        }
        other => {
            // The error, if any, is what matters; a failed rollback only
            // means the connection broke, which ends the transaction too.
            let _ = AnsiTransactionManager::rollback_transaction(conn).await;
            other
        }
    }
}

async fn plan_and_apply(
    conn: &mut AsyncPgConnection,
    desired: &Schema,
    options: &Options,
    report: &mut dyn FnMut(&Step),
) -> Result<Outcome> {
    let plan = plan::prepare(conn, desired, &options.renames).await?;
    if options.dry_run {
        return Ok(Outcome {
            plan,
            applied: false,
            schema: None,
        });
    }
    let refused: Vec<Step> = plan.destructive().into_iter().cloned().collect();
    if !refused.is_empty() && !options.accept_data_loss {
        return Err(Refusal::DataLoss(refused).into());
    }
    plan.renames.iter().for_each(&mut *report);
    plan::apply(conn, &plan, report).await?;
    let after = introspect(conn).await?;
    if let Some(left) = plan::diff(&after, desired).first() {
        bail!(
            "after the plan the database still differs from schema.sql (next would be `{}`), so \
             nothing was changed",
            left.sql
        );
    }
    Ok(Outcome {
        applied: !plan.is_empty(),
        plan,
        schema: Some(after),
    })
}
