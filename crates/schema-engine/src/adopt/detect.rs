//! Which database this is: drizzle's history table, and the catalog compared
//! with the shapes drizzle-kit's migrations make, loaded by PostgreSQL into
//! a scratch database and read by the same catalog reader push uses.

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{APP_TABLES, AdoptError, FOREIGN_TABLES};
use crate::catalog::{ConstraintKind, FkAction, Schema, introspect};
use crate::error::{Context as _, Result};
use crate::plan;
use crate::scratch::{ScratchDatabase, execute_file};

/// drizzle-kit's migrations of the TypeScript app, as its migrator applied
/// them (fixtures/drizzle/drizzle): the file name and its exact text, whose
/// SHA-256 drizzle records.
pub const DRIZZLE_MIGRATIONS: [(&str, &str); 2] = [
    (
        "0000_initial.sql",
        include_str!("../../../../fixtures/drizzle/drizzle/0000_initial.sql"),
    ),
    (
        "0001_indexing_strategy.sql",
        include_str!("../../../../fixtures/drizzle/drizzle/0001_indexing_strategy.sql"),
    ),
];

/// The SHA-256 of a drizzle migration file, in hex, as drizzle records it.
pub fn drizzle_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// What adopt found the database to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detected {
    /// `drizzle-kit migrate` (drizzle's history table says which
    /// migrations ran) or `drizzle-kit push` (no history; the catalog alone).
    pub made_by: String,
    /// The drizzle migrations whose result the database is.
    pub migrations: Vec<String>,
    /// The hash of the last of them: drizzle's record, or for a pushed
    /// database the hash drizzle would have recorded.
    pub last_hash: String,
    /// Foreign keys of the auth tables into `user` without ON DELETE
    /// CASCADE (written by BetterAuth's 1.0 CLI), tolerated as known.
    pub legacy_foreign_keys: Vec<String>,
}

impl Detected {
    /// How many drizzle migrations made the database.
    pub fn applied(&self) -> usize {
        self.migrations.len()
    }
}

/// The catalog after each drizzle migration: `after[0]` after 0000,
/// `after[1]` after 0000 and 0001.
#[derive(Debug, Clone)]
pub struct Shapes {
    pub after: Vec<Schema>,
}

/// Loads drizzle's migrations one by one into `scratch`, reading the
/// catalog after each.
pub async fn load_shapes(scratch: &ScratchDatabase) -> Result<Shapes> {
    let mut conn = scratch.connect().await?;
    let mut after = Vec::new();
    for (file, sql) in DRIZZLE_MIGRATIONS {
        execute_file(&mut conn, sql, file).await?;
        after.push(introspect(&mut conn).await?);
    }
    Ok(Shapes { after })
}

#[derive(QueryableByName)]
struct HistoryRow {
    #[diesel(sql_type = Text)]
    hash: String,
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Nullable<Text>)]
    found: Option<String>,
}

/// drizzle's history (`drizzle.__drizzle_migrations`): the hashes in the
/// order applied, or `None` when the table does not exist.
pub async fn drizzle_history(conn: &mut AsyncPgConnection) -> Result<Option<Vec<String>>> {
    let table: Exists =
        diesel::sql_query("SELECT to_regclass('drizzle.__drizzle_migrations')::text AS found")
            .get_result(conn)
            .await
            .context("Failed to look for drizzle's migration history")?;
    if table.found.is_none() {
        return Ok(None);
    }
    let rows: Vec<HistoryRow> =
        diesel::sql_query("SELECT hash FROM drizzle.__drizzle_migrations ORDER BY id")
            .load(conn)
            .await
            .context("Failed to read drizzle's migration history")?;
    Ok(Some(rows.into_iter().map(|row| row.hash).collect()))
}

/// The app's and the auth library's tables of `schema`, with the functions
/// and the objects push cannot manage; every other table is left out.
pub fn known_tables(schema: &Schema) -> Schema {
    let mut known = schema.clone();
    known.tables.retain(|name, _| {
        APP_TABLES.contains(&name.as_str()) || FOREIGN_TABLES.contains(&name.as_str())
    });
    known
}

/// The app's seven tables of `schema` and its functions.
pub fn app_tables(schema: &Schema) -> Schema {
    let mut app = schema.clone();
    app.tables
        .retain(|name, _| APP_TABLES.contains(&name.as_str()));
    app
}

/// The auth library's tables of `schema`.
pub fn foreign_tables(schema: &Schema) -> Schema {
    let mut foreign = schema.clone();
    foreign
        .tables
        .retain(|name, _| FOREIGN_TABLES.contains(&name.as_str()));
    foreign.functions.clear();
    foreign.unsupported.clear();
    foreign
}

/// `expected` with the foreign keys named in `legacy` as BetterAuth's 1.0
/// CLI wrote them: ON DELETE NO ACTION instead of CASCADE.
pub fn with_legacy_foreign_keys(expected: &Schema, legacy: &[String]) -> Schema {
    let mut patched = expected.clone();
    for table in patched.tables.values_mut() {
        for constraint in &mut table.constraints {
            if legacy.contains(&constraint.name)
                && let Some(references) = &mut constraint.references
            {
                references.on_delete = FkAction::NoAction;
                constraint.definition = constraint.definition.replace(" ON DELETE CASCADE", "");
            }
        }
    }
    patched
}

/// The foreign keys of the auth tables in `live` that `expected` has with
/// ON DELETE CASCADE and `live` with NO ACTION, otherwise the same.
fn legacy_foreign_keys(live: &Schema, expected: &Schema) -> Vec<String> {
    let mut legacy = Vec::new();
    for name in FOREIGN_TABLES {
        let (Some(live), Some(expected)) = (live.tables.get(name), expected.tables.get(name))
        else {
            continue;
        };
        let cascading = expected.foreign_keys().filter(|k| {
            k.references
                .as_ref()
                .is_some_and(|r| r.on_delete == FkAction::Cascade)
        });
        for want in cascading {
            let found = live.constraints.iter().find(|k| {
                k.name == want.name
                    && k.kind == ConstraintKind::ForeignKey
                    && k.references
                        .as_ref()
                        .is_some_and(|r| r.on_delete == FkAction::NoAction)
            });
            if found
                .is_some_and(|k| k.definition == want.definition.replace(" ON DELETE CASCADE", ""))
            {
                legacy.push(want.name.clone());
            }
        }
    }
    legacy
}

/// How `live` differs from `expected`, as the statements that would make it
/// `expected`, plus columns in another order and objects push cannot
/// manage; empty when they are the same.
pub fn differences(live: &Schema, expected: &Schema) -> Vec<String> {
    let mut found: Vec<String> = plan::diff(live, expected)
        .into_iter()
        .map(|step| step.sql)
        .collect();
    for (name, table) in &live.tables {
        let Some(wanted) = expected.tables.get(name) else {
            continue;
        };
        let order = |t: &crate::catalog::Table| -> Vec<String> {
            t.columns.iter().map(|c| c.name.clone()).collect()
        };
        let (have, want) = (order(table), order(wanted));
        let mut sorted_have = have.clone();
        let mut sorted_want = want.clone();
        sorted_have.sort();
        sorted_want.sort();
        if have != want && sorted_have == sorted_want {
            found.push(format!(
                "the columns of {name} are in another order ({} instead of {})",
                have.join(", "),
                want.join(", ")
            ));
        }
    }
    for object in &live.unsupported {
        if !expected.unsupported.contains(object) {
            found.push(format!("{object} is not part of it"));
        }
    }
    found
}

/// Identifies the database from drizzle's history and its catalog; refuses,
/// listing every difference, anything but a known shape.
pub fn identify(
    live: &Schema,
    history: Option<&[String]>,
    shapes: &Shapes,
) -> Result<Detected, AdoptError> {
    let candidates: Vec<usize> = match history {
        Some(hashes) if !hashes.is_empty() => {
            for (i, hash) in hashes.iter().enumerate() {
                let known = DRIZZLE_MIGRATIONS.get(i).map(|(_, sql)| drizzle_hash(sql));
                if known.as_deref() != Some(hash.as_str()) {
                    return Err(AdoptError::Unrecognised(vec![format!(
                        "drizzle's history lists migration {} with hash {hash}, which is not one \
                         of the TypeScript app's migrations ({})",
                        i + 1,
                        DRIZZLE_MIGRATIONS
                            .iter()
                            .map(|(file, sql)| format!("{file} {}", drizzle_hash(sql)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )]));
                }
            }
            vec![hashes.len() - 1]
        }
        // A pushed database: the complete schema first.
        _ => (0..shapes.after.len()).rev().collect(),
    };
    let mut nearest: Option<Vec<String>> = None;
    for index in candidates {
        let expected = known_tables(&shapes.after[index]);
        let legacy = legacy_foreign_keys(live, &expected);
        let expected = with_legacy_foreign_keys(&expected, &legacy);
        let found = differences(live, &expected);
        if found.is_empty() {
            let migrations: Vec<String> = DRIZZLE_MIGRATIONS[..=index]
                .iter()
                .map(|(file, _)| (*file).to_string())
                .collect();
            return Ok(Detected {
                made_by: if history.is_some_and(|h| !h.is_empty()) {
                    "drizzle-kit migrate".to_string()
                } else {
                    "drizzle-kit push".to_string()
                },
                migrations,
                last_hash: drizzle_hash(DRIZZLE_MIGRATIONS[index].1),
                legacy_foreign_keys: legacy,
            });
        }
        if nearest.as_ref().is_none_or(|n| found.len() < n.len()) {
            nearest = Some(found);
        }
    }
    Err(AdoptError::Unrecognised(nearest.unwrap_or_default()))
}
