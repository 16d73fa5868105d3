//! `mv-admin migrate status`: what is applied, pending, changed, missing or
//! failed. It reads only and takes no lock.

use anyhow::Result;
use diesel_async::AsyncPgConnection;
use schema_engine::migrations::{self, MigrationSet, Status};

use crate::Context;
use crate::say;

pub async fn run(
    context: &Context,
    conn: &mut AsyncPgConnection,
    set: &MigrationSet,
    engine: &super::EngineArgs,
) -> Result<()> {
    let status = status(conn, set).await?;
    let pending: Vec<String> = status.pending.iter().map(|p| p.version.clone()).collect();
    let warnings = migrations::risk::assess(conn, set, &pending, engine.warn_rows).await?;
    if context.json {
        let mut value = serde_json::to_value(&status)?;
        value["warnings"] = serde_json::to_value(&warnings)?;
        say!("{}", serde_json::to_string(&value)?);
    } else {
        print!("{}", render(&status));
    }
    for warning in &warnings {
        eprintln!("warning: {}", warning.describe());
    }
    if engine.strict && !warnings.is_empty() {
        return Err(anyhow::Error::new(migrations::MigrateError::Risky(
            warnings,
        )));
    }
    Ok(())
}

/// The status of the database `conn` is connected to.
pub async fn status(conn: &mut AsyncPgConnection, set: &MigrationSet) -> Result<Status> {
    Ok(migrations::status(conn, set).await?)
}

/// One line per migration, then what to do about any trouble.
pub fn render(status: &Status) -> String {
    let mut lines = Vec::new();
    for applied in &status.applied {
        let at = applied
            .applied_at
            .map(|at| format!("  {}", at.format("%Y-%m-%d %H:%M:%S UTC")))
            .unwrap_or_default();
        lines.push(format!("applied      {}{at}", applied.name));
    }
    for changed in &status.changed {
        lines.push(format!(
            "changed      {}  recorded {}, file now {}",
            changed.name, changed.recorded, changed.current
        ));
    }
    for missing in &status.missing {
        lines.push(format!(
            "missing      {}  applied {} but unknown to this binary",
            missing.version,
            missing.run_on.format("%Y-%m-%d %H:%M:%S")
        ));
    }
    for failed in &status.failed {
        lines.push(format!("{:<12} {}", failed.state, failed.name));
    }
    for pending in &status.pending {
        let note = if pending.out_of_order {
            "  (older than the newest applied: needs --allow-out-of-order)"
        } else {
            ""
        };
        lines.push(format!("pending      {}{note}", pending.name));
    }
    if lines.is_empty() {
        lines.push("no migrations are known or applied".to_string());
    }
    if let Some(holder) = &status.lock_holder {
        lines.push(format!(
            "a migration run is in progress: the lock is held by {}",
            holder.describe()
        ));
    }
    for failed in &status.failed {
        lines.push(failed.describe());
    }
    for changed in &status.changed {
        lines.push(changed.describe());
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}
