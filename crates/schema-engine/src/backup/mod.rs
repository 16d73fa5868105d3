//! Backups: PostgreSQL's own `pg_dump` and `pg_restore`, and a manifest
//! beside each dump that makes it checkable.
//!
//! - `dump`: runs `pg_dump` on a snapshot it exports, and digests every
//!   table in that same snapshot while the dump runs.
//! - `manifest`: what a dump holds (server, migrations, per table its rows
//!   and digest, the files' SHA-256), read, written and pruned.
//! - `digest`: the server-side digest of a table's rows.
//! - `restore`: `pg_restore` into an empty or new database, or a scratch one
//!   (`verify`), then the copy compared with the manifest.
//! - `client`: choosing the client programs by version and running them
//!   without a password on their command line.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

mod client;
mod digest;
mod dump;
mod manifest;
mod restore;

pub use client::{Program, major_version};
pub use dump::{DumpOptions, Dumped, dump};
pub use manifest::{
    AppliedMigration, FileDigest, MANIFEST_VERSION, Manifest, TableDigest, manifest_path, prune,
};
pub use restore::{
    Checked, RestoreOptions, Restored, Target, Verified, check, check_dump, compare,
    describe_table, restore, verify,
};

/// How the dump is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One file (`pg_dump -Fc`), compressed; `pg_restore -j` can still
    /// restore it in parallel.
    Custom,
    /// A folder with a file per table (`pg_dump -Fd`), dumped in parallel.
    Directory,
}

/// What the dump holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Content {
    /// Schema and data.
    All,
    /// The schema only (`--schema-only`): no rows, no digests.
    SchemaOnly,
    /// The rows only (`--data-only`), for a database that has the schema.
    DataOnly,
}

impl Content {
    /// Whether rows are dumped (and so counted and digested).
    pub fn has_data(self) -> bool {
        self != Self::SchemaOnly
    }
}

/// Something worth telling the person watching, as it happens.
#[derive(Debug)]
pub enum Event<'a> {
    /// A client program started.
    Started { program: &'a str, pid: u32 },
    /// `done` of `total` items of the program's work are finished.
    Progress { done: u64, total: u64 },
    /// A step of the engine's own: checking files, comparing tables.
    Step(&'a str),
}

/// Receives [`Event`]s; mv-admin draws them.
pub type Observer = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

pub(crate) fn notify(observer: Option<&Observer>, event: Event<'_>) {
    if let Some(observer) = observer {
        observer(&event);
    }
}

/// Why a backup, restore or verification refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "{program} was not found (searched MV_PG_BINDIR when set, else PATH, `pg_config --bindir`, \
         /usr/lib/postgresql/*/bin and Homebrew's folders). Install PostgreSQL's client programs, \
         version {needed} or newer: `apt-get install postgresql-client-{needed}` (Debian, Ubuntu; \
         PostgreSQL's apt repository has every version) or `brew install postgresql@{needed}`, \
         and set MV_PG_BINDIR to their folder if they are elsewhere"
    )]
    ProgramMissing { program: String, needed: u32 },
    #[error(
        "{program} {version} ({path}) is older than {reason}; PostgreSQL would refuse it halfway \
         through, so nothing was started. Install the client programs of version {needed} or \
         newer (`apt-get install postgresql-client-{needed}`, from PostgreSQL's apt repository \
         where your release lacks it, or `brew install postgresql@{needed}`) and set MV_PG_BINDIR \
         to their folder"
    )]
    ProgramTooOld {
        program: String,
        path: String,
        version: String,
        needed: u32,
        reason: String,
    },
    #[error("{program} failed: {detail}")]
    ProgramFailed { program: String, detail: String },
    #[error("{path} already exists; choose another name or move it away")]
    Exists { path: String },
    #[error(
        "no manifest for {dump}: expected {manifest} (written by `mv-admin db dump` beside the dump)"
    )]
    NoManifest { dump: String, manifest: String },
    #[error("the manifest {path} cannot be read: {reason}")]
    BadManifest { path: String, reason: String },
    #[error("{path} is damaged: {}", problems.join("; "))]
    Damaged { path: String, problems: Vec<String> },
    #[error(
        "the target database {target} is not empty: it holds {}{}; restore into a new database \
         (--new-database NAME), or pass --clean to drop the dump's objects there first",
        objects.join(", "),
        more_text(*more)
    )]
    NotEmpty {
        target: String,
        objects: Vec<String>,
        more: usize,
    },
    #[error(
        "the target database {target} already holds rows in {}{}; a data-only dump restores into \
         tables without rows",
        tables.join(", "),
        more_text(*more)
    )]
    TablesNotEmpty {
        target: String,
        tables: Vec<String>,
        more: usize,
    },
    #[error(
        "the target database {target} is marked production; a restore would replace its data. \
         Pass --allow-production if that is what you mean"
    )]
    Production { target: String },
    #[error("the database {name} already exists on the server; choose another name")]
    DatabaseExists { name: String },
    #[error(
        "the restored database {database} differs from the manifest: {}",
        differences.join("; ")
    )]
    Mismatch {
        database: String,
        differences: Vec<String>,
    },
}

fn more_text(more: usize) -> String {
    if more == 0 {
        String::new()
    } else {
        format!(" and {more} more")
    }
}

/// `text` with control characters (a terminal's escape sequences among
/// them) shown as `?`: names and program output come from data.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
