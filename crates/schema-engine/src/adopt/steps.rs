//! The conversion, derived from the catalog: the differ lists what separates
//! the app's tables from the baseline, and each difference becomes a step
//! that keeps the application running (live) or runs in one transaction
//! (window). Derived anew on every run from the catalog as it is, so a
//! rerun after a kill continues with what is left.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{AdoptError, Mode, detect};
use crate::catalog::{Column, ConstraintKind, Schema, Table};
use crate::plan::{self, Action, ddl};

/// Objects adopt adds for the time of a live conversion start with this:
/// shadow columns, the trigger and function keeping them in sync, the
/// change journal's triggers and functions.
pub const PREFIX: &str = "__mv_";
/// The trigger that keeps shadow columns in sync with the old ones.
pub const SYNC_TRIGGER: &str = "__mv_adopt_sync";

/// A PostgreSQL table lock a step takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Lock {
    AccessExclusive,
    ShareRowExclusive,
    ShareUpdateExclusive,
    RowExclusive,
    AccessShare,
}

impl Lock {
    /// The lock's name, as PostgreSQL's documentation writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessExclusive => "ACCESS EXCLUSIVE",
            Self::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            Self::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            Self::RowExclusive => "ROW EXCLUSIVE",
            Self::AccessShare => "ACCESS SHARE",
        }
    }

    /// What of the application's work waits while the lock is held.
    pub fn blocks(self) -> &'static str {
        match self {
            Self::AccessExclusive => "reads and writes",
            Self::ShareRowExclusive => "writes",
            Self::ShareUpdateExclusive | Self::RowExclusive | Self::AccessShare => "nothing",
        }
    }
}

/// How long a step holds its lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hold {
    /// Catalog changes only: milliseconds, whatever the table's size.
    Instant,
    /// Reads every row once.
    Scan,
    /// Short transactions of a few thousand rows each.
    Batches,
    /// Builds an index.
    Build,
    /// Rewrites the table.
    Rewrite,
}

/// One step as a person reads it: what, where, which lock for how long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepInfo {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    pub lock: Lock,
    /// What of the application's work waits while it is held.
    pub blocks: &'static str,
    pub hold: Hold,
    /// The table's size (with its indexes and TOAST), for people and in
    /// bytes, and its estimated rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_bytes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_rows: Option<i64>,
    /// How long the lock is held, roughly.
    pub estimate: String,
    /// Already done (an unfinished conversion resumes after it).
    pub done: bool,
    /// What is particular about this run of the step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub sql: Vec<String>,
}

/// What a step executes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Statements in one short transaction, retried when a lock is busy.
    Instant(Vec<String>),
    /// Copies the old columns into the shadow ones, batch by batch.
    Backfill(Shadow),
    /// Checks the shadow columns, then drops the old ones and renames.
    Swap(Shadow),
    /// One statement that scans or builds without blocking the application.
    Online(String),
    /// Builds an index CONCURRENTLY, dropping an INVALID leftover first.
    CreateIndex { name: String, sql: String },
    /// Part of the single transaction of a window conversion.
    InWindow(Vec<String>),
}

/// A step of the conversion.
#[derive(Debug, Clone)]
pub struct Step {
    pub info: StepInfo,
    pub work: Work,
}

/// The trailing columns of a table converted through shadow columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadow {
    pub table: String,
    pub ident: String,
    /// The primary key column the backfill walks.
    pub key: String,
    pub columns: Vec<ShadowColumn>,
}

/// One old column and its shadow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowColumn {
    pub name: String,
    pub ident: String,
    /// The shadow's name, quoted.
    pub shadow: String,
    /// The old value converted, over `{row}.` (`NEW.` in the trigger, `t.`
    /// in the backfill).
    pub convert: String,
}

impl Shadow {
    /// The converted value of every column, over `row`.
    pub fn assignments(&self, row: &str) -> Vec<(String, String)> {
        self.columns
            .iter()
            .map(|c| (c.shadow.clone(), c.convert.replace("{row}", row)))
            .collect()
    }

    /// Whether any row's shadow columns differ from its old ones converted.
    pub fn out_of_sync(&self, row: &str) -> String {
        self.assignments(row)
            .iter()
            .map(|(shadow, value)| format!("{row}.{shadow} IS DISTINCT FROM {value}"))
            .collect::<Vec<_>>()
            .join(" OR ")
    }

    fn sync_function(&self) -> String {
        format!("public.\"{PREFIX}adopt_sync_{}\"", self.table)
    }

    /// The function and trigger that keep the shadow columns in sync.
    fn sync_sql(&self) -> Vec<String> {
        let assignments: String = self
            .assignments("NEW")
            .iter()
            .map(|(shadow, value)| format!("    NEW.{shadow} := {value};\n"))
            .collect();
        vec![
            format!(
                "CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $mv$\nBEGIN\n{assignments}    RETURN NEW;\nEND\n$mv$;",
                self.sync_function()
            ),
            format!(
                "CREATE TRIGGER \"{SYNC_TRIGGER}\" BEFORE INSERT OR UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {}();",
                self.ident,
                self.sync_function()
            ),
        ]
    }

    /// The swap: the old columns go, the shadows take their names.
    pub fn swap_sql(&self) -> Vec<String> {
        let mut sql = vec![format!(
            "DROP TRIGGER \"{SYNC_TRIGGER}\" ON {};",
            self.ident
        )];
        sql.push(format!(
            "ALTER TABLE {} {};",
            self.ident,
            self.columns
                .iter()
                .map(|c| format!("DROP COLUMN {}", c.ident))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        for column in &self.columns {
            sql.push(format!(
                "ALTER TABLE {} RENAME COLUMN {} TO {};",
                self.ident, column.shadow, column.ident
            ));
        }
        sql.push(format!("DROP FUNCTION {}();", self.sync_function()));
        sql
    }
}

/// `value` (a column of type `old`) as type `new`. Times in `timestamp` are
/// UTC wall-clock times (drizzle-orm writes `Date#toISOString()`), read as
/// such whatever the session's time zone.
fn convert(old: &Column, new: &Column, value: &str) -> String {
    if old.sql_type == new.sql_type {
        value.to_string()
    } else if old.type_name == "timestamp" && new.type_name == "timestamptz" {
        format!("({value} AT TIME ZONE 'UTC')")
    } else {
        format!("({value})::{}", new.sql_type)
    }
}

/// Whether PostgreSQL rewrites the table to change `old` into `new`:
/// `timestamp` to `timestamptz` is a relabelling when the session's time
/// zone is UTC (PostgreSQL 12 and later), which every step sets.
fn rewrites(old: &Column, new: &Column) -> bool {
    old.sql_type != new.sql_type
        && !(old.type_name == "timestamp" && new.type_name == "timestamptz")
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn unexpected(step: &plan::Step) -> AdoptError {
    AdoptError::Unrecognised(vec![format!(
        "adopt converts column types, constraint names, CHECKs, indexes and comments, not \
         `{}`",
        step.sql
    )])
}

/// What a table's conversion is made of.
#[derive(Default)]
struct TableWork {
    /// Clauses of its one ALTER TABLE.
    alter: Vec<String>,
    /// Statements after it (renames, comments, the sync trigger).
    then: Vec<String>,
    /// Its new CHECKs, validated after (live).
    validate: Vec<String>,
    shadow: Option<Shadow>,
    /// Whether the shadow columns exist already.
    shadow_exists: bool,
    rewrites: bool,
}

/// The steps that turn the app's tables of `live` into `baseline`.
/// `invalid` names the INVALID indexes a failed concurrent build left.
pub fn derive(
    live: &Schema,
    baseline: &Schema,
    invalid: &BTreeSet<String>,
    mode: Mode,
) -> Result<Vec<Step>, AdoptError> {
    let baseline = detect::app_tables(baseline);
    let mut logical = detect::app_tables(live);
    logical
        .functions
        .retain(|signature, _| !signature.starts_with(PREFIX));
    let mut work: BTreeMap<String, TableWork> = BTreeMap::new();
    let mut rebuilt = BTreeSet::new();
    for table in logical.tables.values_mut() {
        let entry = work.entry(table.name.clone()).or_default();
        let shadowed: Vec<String> = table
            .columns
            .iter()
            .filter_map(|c| c.name.strip_prefix(PREFIX).map(str::to_string))
            .collect();
        table.columns.retain(|c| !c.name.starts_with(PREFIX));
        table.triggers.retain(|t| !t.name.starts_with(PREFIX));
        for constraint in &mut table.constraints {
            if let Some(valid) = constraint.definition.strip_suffix(" NOT VALID") {
                constraint.definition = valid.to_string();
                entry
                    .validate
                    .push(validate_sql(&table.ident, &constraint.ident));
            }
        }
        table.indexes.retain(|index| {
            let keep = !invalid.contains(&index.name);
            if !keep {
                rebuilt.insert(index.name.clone());
            }
            keep
        });
        if !shadowed.is_empty() {
            let wanted = baseline.tables.get(&table.name).ok_or_else(|| {
                AdoptError::Unrecognised(vec![format!(
                    "{} has adopt's shadow columns but is not one of the app's tables",
                    table.name
                )])
            })?;
            entry.shadow = Some(shadow(table, wanted, &shadowed)?);
            entry.shadow_exists = true;
        }
    }

    let steps = plan::diff(&logical, &baseline);
    // The columns that need a rewrite, and from them the shadowed ones:
    // every column from the first to the end, so the column order stays.
    if mode == Mode::Live {
        for step in &steps {
            if step.action != Action::AlterColumnType {
                continue;
            }
            let (table, old, new) = columns(&logical, &baseline, step)?;
            let entry = work.entry(table.name.clone()).or_default();
            if entry.shadow.is_none() && rewrites(old, new) {
                let wanted = &baseline.tables[&table.name];
                let first = wanted
                    .columns
                    .iter()
                    .position(|c| c.name == new.name)
                    .unwrap_or_default();
                let names: Vec<String> = wanted.columns[first..]
                    .iter()
                    .map(|c| c.name.clone())
                    .collect();
                entry.shadow = Some(shadow(table, wanted, &names)?);
            }
        }
    }
    let mut creates = Vec::new();
    let mut drops = Vec::new();
    for step in &steps {
        let table_name = step.table.clone().unwrap_or_default();
        let entry = work.entry(table_name.clone()).or_default();
        let shadowed = step.column.as_ref().is_some_and(|column| {
            entry
                .shadow
                .as_ref()
                .is_some_and(|s| s.columns.iter().any(|c| &c.name == column))
        });
        match step.action {
            Action::RenameConstraint => entry.then.push(step.sql.clone()),
            Action::Comment if step.object.is_none() => {
                if !shadowed {
                    entry.then.push(step.sql.clone());
                }
            }
            Action::AlterColumnType => {
                if shadowed {
                    continue;
                }
                let (_, old, new) = columns(&logical, &baseline, step)?;
                if rewrites(old, new) {
                    entry.rewrites = true;
                    entry.alter.push(format!(
                        "ALTER COLUMN {} TYPE {} USING {}",
                        new.ident,
                        new.sql_type,
                        convert(old, new, &old.ident)
                    ));
                } else {
                    entry
                        .alter
                        .push(format!("ALTER COLUMN {} TYPE {}", new.ident, new.sql_type));
                }
            }
            Action::DropDefault | Action::SetDefault => {
                // The differ drops a default around a type change; adopt
                // keeps it when the baseline has the same one.
                let (_, old, new) = columns(&logical, &baseline, step)?;
                if shadowed || old.default == new.default {
                    continue;
                }
                entry.alter.push(match &new.default {
                    Some(default) => format!("ALTER COLUMN {} SET DEFAULT {default}", new.ident),
                    None => format!("ALTER COLUMN {} DROP DEFAULT", new.ident),
                });
            }
            Action::AddConstraint => {
                let constraint = baseline.tables[&table_name]
                    .constraints
                    .iter()
                    .find(|k| Some(&k.name) == step.object.as_ref())
                    .filter(|k| k.kind == ConstraintKind::Check)
                    .ok_or_else(|| unexpected(step))?;
                if mode == Mode::Live {
                    entry.alter.push(format!(
                        "ADD CONSTRAINT {} {} NOT VALID",
                        constraint.ident, constraint.definition
                    ));
                    entry.validate.push(validate_sql(
                        &logical.tables[&table_name].ident,
                        &constraint.ident,
                    ));
                } else {
                    entry.alter.push(format!(
                        "ADD CONSTRAINT {} {}",
                        constraint.ident, constraint.definition
                    ));
                }
            }
            Action::CreateIndex => {
                let index = baseline.tables[&table_name]
                    .indexes
                    .iter()
                    .find(|i| Some(&i.name) == step.object.as_ref())
                    .ok_or_else(|| unexpected(step))?;
                creates.push((
                    table_name.clone(),
                    index.name.clone(),
                    index.definition.clone(),
                ));
            }
            Action::DropIndex => {
                let index = logical.tables[&table_name]
                    .indexes
                    .iter()
                    .find(|i| Some(&i.name) == step.object.as_ref())
                    .ok_or_else(|| unexpected(step))?;
                drops.push((table_name.clone(), index.ident.clone()));
            }
            _ => return Err(unexpected(step)),
        }
    }

    let mut out = Vec::new();
    let mut later = Vec::new();
    for name in super::APP_TABLES {
        let Some(entry) = work.get_mut(name) else {
            continue;
        };
        let ident = logical
            .tables
            .get(name)
            .map(|t| t.ident.clone())
            .unwrap_or_else(|| quoted(name));
        if let (Some(shadow), false) = (&entry.shadow, entry.shadow_exists) {
            let wanted = &baseline.tables[name];
            for column in &shadow.columns {
                let new = wanted.column(&column.name).ok_or_else(|| {
                    AdoptError::Unrecognised(vec![format!(
                        "{name}.{} is not in the baseline",
                        column.ident
                    )])
                })?;
                entry
                    .alter
                    .push(format!("ADD COLUMN {}", shadow_definition(column, new)?));
                if let Some(comment) = &new.comment {
                    entry.then.push(format!(
                        "COMMENT ON COLUMN {ident}.{} IS {};",
                        column.shadow,
                        ddl::literal(comment)
                    ));
                }
            }
            entry.then.extend(shadow.sync_sql());
        }
        let mut sql = Vec::new();
        if !entry.alter.is_empty() {
            sql.push(format!("ALTER TABLE {ident} {};", entry.alter.join(", ")));
        }
        sql.append(&mut entry.then);
        if !sql.is_empty() {
            let (lock, hold) = (
                Lock::AccessExclusive,
                if entry.rewrites {
                    Hold::Rewrite
                } else {
                    Hold::Instant
                },
            );
            out.push(step(
                format!("convert {name}"),
                Some(name),
                lock,
                hold,
                match mode {
                    Mode::Live => Work::Instant(sql),
                    Mode::Window => Work::InWindow(sql),
                },
            ));
        }
        if let Some(shadow) = &entry.shadow {
            later.push(step(
                format!("backfill {name}"),
                Some(name),
                Lock::RowExclusive,
                Hold::Batches,
                Work::Backfill(shadow.clone()),
            ));
            later.push(step(
                format!("swap {name}'s columns"),
                Some(name),
                Lock::AccessExclusive,
                Hold::Instant,
                Work::Swap(shadow.clone()),
            ));
        }
        for validate in &entry.validate {
            later.push(step(
                format!("validate {name}'s new CHECK"),
                Some(name),
                Lock::ShareUpdateExclusive,
                Hold::Scan,
                Work::Online(validate.clone()),
            ));
        }
    }
    out.append(&mut later);
    creates.sort();
    for (table, name, definition) in creates {
        let sql = match mode {
            Mode::Live => definition
                .replacen("CREATE INDEX ", "CREATE INDEX CONCURRENTLY ", 1)
                .replacen(
                    "CREATE UNIQUE INDEX ",
                    "CREATE UNIQUE INDEX CONCURRENTLY ",
                    1,
                ),
            Mode::Window => definition,
        };
        let (lock, work) = match mode {
            Mode::Live => (
                Lock::ShareUpdateExclusive,
                Work::CreateIndex {
                    name: name.clone(),
                    sql: format!("{sql};"),
                },
            ),
            Mode::Window => (
                Lock::AccessExclusive,
                Work::InWindow(vec![format!("{sql};")]),
            ),
        };
        let mut created = step(
            format!("create index {name}"),
            Some(&table),
            lock,
            Hold::Build,
            work,
        );
        if rebuilt.contains(&name) {
            created.info.note = Some(
                "an INVALID index of this name, left by a build that failed or was killed, is \
                 dropped first"
                    .to_string(),
            );
        }
        out.push(created);
    }
    drops.sort();
    for (table, ident) in drops {
        let (lock, work) = match mode {
            Mode::Live => (
                Lock::ShareUpdateExclusive,
                Work::Online(format!("DROP INDEX CONCURRENTLY IF EXISTS public.{ident};")),
            ),
            Mode::Window => (
                Lock::AccessExclusive,
                Work::InWindow(vec![format!("DROP INDEX public.{ident};")]),
            ),
        };
        out.push(step(
            format!("drop index {ident}"),
            Some(&table),
            lock,
            Hold::Instant,
            work,
        ));
    }
    Ok(out)
}

fn validate_sql(table: &str, constraint: &str) -> String {
    format!("ALTER TABLE {table} VALIDATE CONSTRAINT {constraint};")
}

/// The old and new column a differ step is about.
fn columns<'a>(
    logical: &'a Schema,
    baseline: &'a Schema,
    step: &plan::Step,
) -> Result<(&'a Table, &'a Column, &'a Column), AdoptError> {
    let table = step
        .table
        .as_ref()
        .and_then(|t| logical.tables.get(t))
        .ok_or_else(|| unexpected(step))?;
    let column = step.column.as_ref().ok_or_else(|| unexpected(step))?;
    let old = table.column(column).ok_or_else(|| unexpected(step))?;
    let new = baseline.tables[&table.name]
        .column(column)
        .ok_or_else(|| unexpected(step))?;
    Ok((table, old, new))
}

/// The shadows of `names` (old columns of `table`, converted as in `wanted`).
fn shadow(table: &Table, wanted: &Table, names: &[String]) -> Result<Shadow, AdoptError> {
    let key = match wanted.primary_key().map(|k| k.columns.as_slice()) {
        Some([key]) => wanted.column(key).map(|c| c.ident.clone()),
        _ => None,
    }
    .ok_or_else(|| {
        AdoptError::Unrecognised(vec![format!(
            "{} needs a single-column primary key for a live conversion; use --window",
            table.name
        )])
    })?;
    let columns = names
        .iter()
        .map(|name| {
            let old = table.column(name);
            let new = wanted.column(name);
            match (old, new) {
                (Some(old), Some(new)) => Ok(ShadowColumn {
                    name: name.clone(),
                    ident: new.ident.clone(),
                    shadow: quoted(&format!("{PREFIX}{name}")),
                    convert: convert(old, new, &format!("{{row}}.{}", old.ident)),
                }),
                _ => Err(AdoptError::Unrecognised(vec![format!(
                    "{}.{name} is not in both the database and the baseline",
                    table.name
                )])),
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(Shadow {
        table: table.name.clone(),
        ident: table.ident.clone(),
        key,
        columns,
    })
}

/// The shadow column's definition: the baseline's type, default and
/// nullability. NOT NULL needs a default (added without a rewrite when it
/// is not volatile); the backfill then writes the real values.
fn shadow_definition(column: &ShadowColumn, new: &Column) -> Result<String, AdoptError> {
    let mut definition = format!("{} {}", column.shadow, new.sql_type);
    if new.not_null {
        let default = new.default.as_ref().ok_or_else(|| {
            AdoptError::Unrecognised(vec![format!(
                "{} is NOT NULL without a default, which a live conversion cannot shadow; use \
                 --window",
                new.name
            )])
        })?;
        definition.push_str(&format!(" NOT NULL DEFAULT {default}"));
    } else if let Some(default) = &new.default {
        definition.push_str(&format!(" DEFAULT {default}"));
    }
    Ok(definition)
}

fn step(name: String, table: Option<&str>, lock: Lock, hold: Hold, work: Work) -> Step {
    let sql = match &work {
        Work::Instant(sql) | Work::InWindow(sql) => sql.clone(),
        Work::Backfill(shadow) => vec![format!(
            "UPDATE {t} AS t SET {} WHERE t.{k} IN (<the next batch of ids>) AND ({}); -- batch after batch",
            shadow
                .assignments("t")
                .iter()
                .map(|(s, v)| format!("{s} = {v}"))
                .collect::<Vec<_>>()
                .join(", "),
            shadow.out_of_sync("t"),
            t = shadow.ident,
            k = shadow.key,
        )],
        Work::Swap(shadow) => shadow.swap_sql(),
        Work::Online(sql) => vec![sql.clone()],
        Work::CreateIndex { sql, .. } => vec![sql.clone()],
    };
    Step {
        info: StepInfo::new(name, table.map(str::to_string), lock, hold, sql),
        work,
    }
}

impl StepInfo {
    /// A step not yet done, before its size and estimate are known.
    pub fn new(
        name: String,
        table: Option<String>,
        lock: Lock,
        hold: Hold,
        sql: Vec<String>,
    ) -> Self {
        Self {
            name,
            table,
            lock,
            blocks: lock.blocks(),
            hold,
            table_size: None,
            table_bytes: None,
            table_rows: None,
            estimate: String::new(),
            done: false,
            note: None,
            sql,
        }
    }
}
