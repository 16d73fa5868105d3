//! Recording the baseline: the bookkeeping tables, the baseline migration
//! applied, and a `baselined` log entry carrying drizzle's last hash.

use diesel_async::AsyncPgConnection;

use super::{AdoptError, BASELINE, Detected, Mode};
use crate::migrations::{MigrationSet, history};

/// The bookkeeping tables, the baseline as applied, and the log entry.
pub(crate) async fn record(
    conn: &mut AsyncPgConnection,
    detected: &Detected,
    backup: &str,
    mode: Mode,
) -> Result<(), AdoptError> {
    history::create_tables(conn).await?;
    let set = MigrationSet::embedded()?;
    let migration = set
        .migrations()
        .iter()
        .find(|m| m.name == BASELINE)
        .ok_or_else(|| AdoptError::Step {
            step: "record the baseline".to_string(),
            cause: format!("{BASELINE} is not built into this binary"),
        })?;
    let reason = format!(
        "mv-admin adopt ({} mode) took over the database made by {} ({}); drizzle's last migration hash {}; {backup}",
        mode.as_str(),
        detected.made_by,
        detected.migrations.join(" + "),
        detected.last_hash
    );
    history::record_baselined(conn, migration, &detected.last_hash, &reason).await?;
    Ok(())
}
