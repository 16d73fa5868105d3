//! What the database holds, compared with the known migrations.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

use super::Direction;
use super::history::{APPLIED, FAILED, HistoryRow, Recorded};
use super::lock::LockHolder;
use super::source::MigrationSet;

/// Every migration, sorted into what it is.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Applied, and unchanged since (or applied before checksums were kept).
    pub applied: Vec<Applied>,
    /// Known and not applied, oldest first.
    pub pending: Vec<Pending>,
    /// Applied, but the file is no longer what was applied.
    pub changed: Vec<Changed>,
    /// Applied, but unknown to this binary.
    pub missing: Vec<Missing>,
    /// Run outside a transaction and failed or interrupted, or running now.
    pub failed: Vec<Unfinished>,
    /// The session holding the migration lock now, if any.
    pub lock_holder: Option<LockHolder>,
}

/// An applied migration.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub version: String,
    pub name: String,
    /// When it finished, as recorded in the history.
    pub applied_at: Option<DateTime<Utc>>,
    /// The recorded checksum; `None` until a run records it.
    pub checksum: Option<String>,
}

/// A migration not yet applied.
#[derive(Debug, Clone, Serialize)]
pub struct Pending {
    pub version: String,
    pub name: String,
    /// Older than the newest applied migration.
    pub out_of_order: bool,
}

/// An applied migration whose `up.sql` changed since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changed {
    pub version: String,
    pub name: String,
    /// The checksum recorded when it was applied (or last accepted).
    pub recorded: String,
    /// The checksum of the file now.
    pub current: String,
}

impl Changed {
    /// One sentence naming the version, both checksums and the way out.
    pub fn describe(&self) -> String {
        format!(
            "migration {} (version {}) was edited after it was applied: recorded checksum {}, file checksum now {}; restore the file, or accept the edit with `mv-admin migrate accept-edit {} --reason <why>`",
            self.name, self.version, self.recorded, self.current, self.version
        )
    }
}

/// An applied version that this binary does not know.
#[derive(Debug, Clone, Serialize)]
pub struct Missing {
    pub version: String,
    /// When Diesel's table says it ran (server time).
    pub run_on: NaiveDateTime,
}

/// A migration run outside a transaction that did not finish.
#[derive(Debug, Clone, Serialize)]
pub struct Unfinished {
    pub version: String,
    pub name: String,
    pub direction: Direction,
    /// `failed`, `interrupted` (its runner died) or `running` (another
    /// session is running it now).
    pub state: &'static str,
    pub started_at: DateTime<Utc>,
    pub error: Option<String>,
}

impl Unfinished {
    pub(crate) fn from_row(row: &HistoryRow, others_migrating: bool) -> Self {
        let state = match row.state.as_str() {
            FAILED => "failed",
            _ if others_migrating => "running",
            _ => "interrupted",
        };
        Self {
            version: row.version.clone(),
            name: row.name.clone(),
            direction: Direction::parse(&row.direction),
            state,
            started_at: row.started_at,
            error: row.error.clone(),
        }
    }

    /// One sentence saying what happened and how to go on.
    pub fn describe(&self) -> String {
        let doing = match self.direction {
            Direction::Up => "applied",
            Direction::Down => "reverted",
        };
        let started = self.started_at.format("%Y-%m-%d %H:%M:%S UTC");
        let what = match self.state {
            "running" => {
                return format!(
                    "migration {} is being {doing} by another run now (started {started})",
                    self.name
                );
            }
            "failed" => format!(
                "migration {} failed while being {doing} outside a transaction (started {started}: {})",
                self.name,
                self.error.as_deref().unwrap_or("no error was recorded")
            ),
            _ => format!(
                "migration {} was interrupted while being {doing} outside a transaction (started {started}; its runner died)",
                self.name
            ),
        };
        format!(
            "{what}; find out what it did, then run `mv-admin migrate resolve {} --rolled-back` if nothing of it remains or `--completed` if it is fully done",
            self.version
        )
    }
}

impl Status {
    /// Sorts the known migrations against what the database records.
    /// `others_migrating` says whether another session holds the lock, so a
    /// `running` row is live rather than interrupted.
    pub(crate) fn compute(set: &MigrationSet, recorded: &Recorded, others_migrating: bool) -> Self {
        let history: HashMap<&str, &HistoryRow> = recorded
            .history
            .iter()
            .map(|row| (row.version.as_str(), row))
            .collect();
        let failed: Vec<Unfinished> = recorded
            .history
            .iter()
            .filter(|row| row.state != APPLIED)
            .map(|row| Unfinished::from_row(row, others_migrating))
            .collect();
        let unfinished: BTreeSet<&str> = failed.iter().map(|f| f.version.as_str()).collect();
        let applied_versions: BTreeSet<&str> =
            recorded.applied.iter().map(|(v, _)| v.as_str()).collect();

        let mut status = Self {
            applied: Vec::new(),
            pending: Vec::new(),
            changed: Vec::new(),
            missing: Vec::new(),
            failed: Vec::new(),
            lock_holder: None,
        };
        for (version, run_on) in &recorded.applied {
            if unfinished.contains(version.as_str()) {
                continue;
            }
            let Some(migration) = set.get(version) else {
                status.missing.push(Missing {
                    version: version.clone(),
                    run_on: *run_on,
                });
                continue;
            };
            let row = history
                .get(version.as_str())
                .filter(|row| row.state == APPLIED);
            match row {
                Some(row) if row.checksum != migration.checksum => {
                    status.changed.push(Changed {
                        version: version.clone(),
                        name: migration.name.clone(),
                        recorded: row.checksum.clone(),
                        current: migration.checksum.clone(),
                    });
                }
                _ => status.applied.push(Applied {
                    version: version.clone(),
                    name: migration.name.clone(),
                    applied_at: row.and_then(|row| row.finished_at),
                    checksum: row.map(|row| row.checksum.clone()),
                }),
            }
        }
        let newest = applied_versions.last().copied();
        for migration in set.migrations() {
            let version = migration.version.as_str();
            if applied_versions.contains(version) || unfinished.contains(version) {
                continue;
            }
            status.pending.push(Pending {
                version: migration.version.clone(),
                name: migration.name.clone(),
                out_of_order: newest.is_some_and(|newest| version < newest),
            });
        }
        status.failed = failed;
        status
    }

    /// Applied migrations whose checksum has not been recorded yet.
    pub(crate) fn unrecorded(&self) -> impl Iterator<Item = &Applied> {
        self.applied.iter().filter(|a| a.checksum.is_none())
    }

    /// The newest applied version, known or not.
    pub fn newest_applied(&self) -> Option<&str> {
        self.applied
            .iter()
            .map(|a| a.version.as_str())
            .chain(self.changed.iter().map(|c| c.version.as_str()))
            .chain(self.missing.iter().map(|m| m.version.as_str()))
            .max()
    }
}
