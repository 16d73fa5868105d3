//! Push: makes a development database match `schema.sql` at once, in one
//! transaction, without writing a migration.

use std::time::Duration;

use diesel_async::{
    AnsiTransactionManager, AsyncPgConnection, SimpleAsyncConnection, TransactionManager,
};

use crate::catalog::{Schema, introspect};
use crate::error::{Context as _, Result, bail};
use crate::foreign::Foreign;
use crate::mark::{self, Environment};
use crate::plan::{self, HazardKind, Plan, Rename, Step};

/// How to push.
#[derive(Debug, Clone)]
pub struct Options {
    pub dry_run: bool,
    /// The kinds of hazard accepted: steps of these kinds run, the other
    /// hazardous steps are refused. [`HazardKind::ALL`] accepts every kind.
    pub accept_data_loss: Vec<HazardKind>,
    pub renames: Vec<Rename>,
    /// Tables declared foreign in schema.sql: never planned on.
    pub foreign: Foreign,
    /// PostgreSQL's `lock_timeout` for the push's transaction (default 5s;
    /// `None` for no limit): behind a long transaction, push fails instead
    /// of queueing every query on the table behind its own lock.
    pub lock_timeout: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            dry_run: false,
            accept_data_loss: Vec::new(),
            renames: Vec::new(),
            foreign: Foreign::default(),
            lock_timeout: Some(Duration::from_secs(5)),
        }
    }
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
         nothing: {}; pass --accept-data-loss to apply them anyway (or \
         --accept-data-loss={} to accept only these kinds)",
        .0.len(),
        .0.iter().filter_map(Step::risk).collect::<Vec<_>>().join("; "),
        kinds(.0)
    )]
    DataLoss(Vec<Step>),
}

/// The kinds of hazard of `steps`, as `--accept-data-loss=` takes them.
fn kinds(steps: &[Step]) -> String {
    let mut kinds: Vec<HazardKind> = steps
        .iter()
        .filter_map(|s| s.hazard.as_ref().map(plan::Hazard::kind))
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(",")
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
    let millis = options.lock_timeout.map_or(0, |d| d.as_millis().max(1));
    let result = match conn
        .batch_execute(&format!("SET LOCAL lock_timeout = {millis}"))
        .await
        .context("Failed to set the lock timeout")
    {
        Ok(()) => plan_and_apply(conn, desired, options, report).await,
        Err(e) => Err(e),
    };
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
    options.foreign.ensure_not_created(desired, "schema.sql")?;
    let desired = &options.foreign.remove_from(desired);
    let plan = plan::prepare(conn, desired, &options.renames, &options.foreign).await?;
    if options.dry_run {
        return Ok(Outcome {
            plan,
            applied: false,
            schema: None,
        });
    }
    let refused: Vec<Step> = plan
        .refused(&options.accept_data_loss)
        .into_iter()
        .cloned()
        .collect();
    if !refused.is_empty() {
        return Err(Refusal::DataLoss(refused).into());
    }
    plan.renames.iter().for_each(&mut *report);
    plan::apply(conn, &plan, report).await?;
    let after = options.foreign.remove_from(&introspect(conn).await?);
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
