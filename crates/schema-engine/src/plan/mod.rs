//! Plans: the ordered DDL statements that turn one schema into another,
//! each knowing what it touches and whether it can lose data.

pub(crate) mod ddl;
mod diff;
pub mod rename;

use crate::error::{Context as _, Result};
use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use serde::Serialize;

use crate::catalog::{Schema, introspect};
use crate::foreign::Foreign;
pub use diff::diff;
pub use rename::Rename;

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    RenameTable,
    RenameColumn,
    CreateTable,
    DropTable,
    AddColumn,
    DropColumn,
    AlterColumnType,
    SetDefault,
    DropDefault,
    SetNotNull,
    DropNotNull,
    AddConstraint,
    DropConstraint,
    RenameConstraint,
    CreateIndex,
    DropIndex,
    RenameIndex,
    CreateFunction,
    /// `CREATE OR REPLACE` of a function whose arguments and result stay.
    ReplaceFunction,
    DropFunction,
    CreateTrigger,
    DropTrigger,
    Comment,
}

/// Why a step may lose data or fail on the rows a table holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Hazard {
    /// The table and every row in it go.
    DropTable,
    /// The column and every value in it go.
    DropColumn,
    /// The new type cannot hold every value of the old one.
    LossyType { from: String, to: String },
    /// NOT NULL on a column that may hold NULLs.
    NullsInColumn,
    /// A NOT NULL column without a default cannot be added to a table with rows.
    NotNullWithoutDefault,
    /// A unique key that existing rows may violate.
    Duplicates { columns: Vec<String> },
}

/// The kinds of hazard a person can accept one by one
/// (`--accept-data-loss=type-change,not-null`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HazardKind {
    /// Dropping a table of the project (never a foreign one: those are
    /// never planned).
    DropTable,
    DropColumn,
    /// A type change the new type may not hold.
    TypeChange,
    /// NOT NULL on a column holding NULLs, or a NOT NULL column without a
    /// default added to a table with rows.
    NotNull,
    /// A unique key existing rows may violate.
    Unique,
}

impl HazardKind {
    pub const ALL: [Self; 5] = [
        Self::DropTable,
        Self::DropColumn,
        Self::TypeChange,
        Self::NotNull,
        Self::Unique,
    ];

    /// The name the command line takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DropTable => "drop-table",
            Self::DropColumn => "drop-column",
            Self::TypeChange => "type-change",
            Self::NotNull => "not-null",
            Self::Unique => "unique",
        }
    }
}

impl Hazard {
    /// Which kind of hazard this is.
    pub fn kind(&self) -> HazardKind {
        match self {
            Self::DropTable => HazardKind::DropTable,
            Self::DropColumn => HazardKind::DropColumn,
            Self::LossyType { .. } => HazardKind::TypeChange,
            Self::NullsInColumn | Self::NotNullWithoutDefault => HazardKind::NotNull,
            Self::Duplicates { .. } => HazardKind::Unique,
        }
    }

    /// Whether the step loses data by its nature, whatever the rows; the
    /// others only fail when rows are in the way.
    pub fn loses_data(&self) -> bool {
        matches!(
            self,
            Self::DropTable | Self::DropColumn | Self::LossyType { .. }
        )
    }
}

/// One DDL statement of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub action: Action,
    /// None for a function's steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The constraint, index, trigger or function (by signature) the step
    /// is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    pub sql: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hazard: Option<Hazard>,
    /// Rows the hazard concerns, counted in the target database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<i64>,
    /// Whether push refuses the step without `--accept-data-loss`.
    pub destructive: bool,
    /// The query that counts `rows`; none when they cannot be counted.
    #[serde(skip)]
    count_sql: Option<String>,
}

impl Step {
    fn new(action: Action, table: &str, sql: String) -> Self {
        Self {
            action,
            table: Some(table.to_string()),
            column: None,
            object: None,
            sql,
            hazard: None,
            rows: None,
            destructive: false,
            count_sql: None,
        }
    }

    /// A step on the function `signature`, which belongs to no table.
    fn function(action: Action, signature: &str, sql: String) -> Self {
        Self {
            table: None,
            ..Self::new(action, "", sql)
        }
        .object(signature)
    }

    fn column(mut self, column: &str) -> Self {
        self.column = Some(column.to_string());
        self
    }

    fn object(mut self, object: &str) -> Self {
        self.object = Some(object.to_string());
        self
    }

    fn hazard(mut self, hazard: Hazard, count_sql: Option<String>) -> Self {
        self.destructive = hazard.loses_data();
        self.hazard = Some(hazard);
        self.count_sql = count_sql;
        self
    }

    fn table_name(&self) -> &str {
        self.table.as_deref().unwrap_or_default()
    }

    fn target(&self) -> String {
        match (&self.column, &self.object) {
            (Some(column), _) => format!("{}.{column}", self.table_name()),
            (None, Some(object)) if self.table.is_none() => object.clone(),
            _ => self.table_name().to_string(),
        }
    }

    /// Whether the step's hazard is of one of the `accepted` kinds.
    pub fn is_accepted(&self, accepted: &[HazardKind]) -> bool {
        self.hazard
            .as_ref()
            .is_some_and(|h| accepted.contains(&h.kind()))
    }

    /// What the step risks, with the rows counted: for refusals.
    pub fn risk(&self) -> Option<String> {
        let hazard = self.hazard.as_ref()?;
        let rows = self
            .rows
            .map_or_else(|| "an unknown number of".to_string(), |n| n.to_string());
        let target = self.target();
        Some(match hazard {
            Hazard::DropTable => format!("drops table {target} and its {rows} rows"),
            Hazard::DropColumn => {
                format!("drops column {target}, which holds a value in {rows} rows")
            }
            Hazard::LossyType { from, to } => {
                format!("changes {target} from {from} to {to}, which can alter {rows} values")
            }
            Hazard::NullsInColumn => {
                format!("sets NOT NULL on {target}, which is NULL in {rows} rows")
            }
            Hazard::NotNullWithoutDefault => {
                format!("adds NOT NULL column {target} without a default to a table of {rows} rows")
            }
            Hazard::Duplicates { columns } => format!(
                "adds a unique key on {}({}) that {rows} existing rows violate",
                self.table_name(),
                columns.join(", ")
            ),
        })
    }

    /// What the step risks in general: the comment above it in a migration.
    pub fn warning(&self) -> Option<String> {
        let hazard = self.hazard.as_ref()?;
        let target = self.target();
        Some(match hazard {
            Hazard::DropTable => format!("Loses data: drops table {target} and all its rows."),
            Hazard::DropColumn => format!("Loses data: drops column {target} and its values."),
            Hazard::LossyType { from, to } => {
                format!(
                    "Loses data: {target} changes from {from} to {to}, which cannot hold every value."
                )
            }
            Hazard::NullsInColumn => format!("Fails if {target} holds NULLs."),
            Hazard::NotNullWithoutDefault => format!(
                "Fails if {} has rows: {target} is NOT NULL without a default.",
                self.table_name()
            ),
            Hazard::Duplicates { columns } => format!(
                "Fails if rows of {} share a value of ({}).",
                self.table_name(),
                columns.join(", ")
            ),
        })
    }
}

/// The statements that turn a database into the desired schema.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Renames asked for with hints; [`prepare`] has executed them already.
    pub renames: Vec<Step>,
    /// Everything else, in the order it must run.
    pub changes: Vec<Step>,
}

impl Plan {
    /// Every step, renames first.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.renames.iter().chain(&self.changes)
    }

    /// Whether the database matches already.
    pub fn is_empty(&self) -> bool {
        self.renames.is_empty() && self.changes.is_empty()
    }

    /// Whether any step loses data.
    pub fn loses_data(&self) -> bool {
        self.steps()
            .any(|s| s.hazard.as_ref().is_some_and(Hazard::loses_data))
    }

    /// The steps push refuses without `--accept-data-loss`.
    pub fn destructive(&self) -> Vec<&Step> {
        self.steps().filter(|s| s.destructive).collect()
    }

    /// The steps push refuses when only the hazards of the `accepted`
    /// kinds are accepted.
    pub fn refused(&self, accepted: &[HazardKind]) -> Vec<&Step> {
        self.steps()
            .filter(|s| s.destructive && !s.is_accepted(accepted))
            .collect()
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Plans the change from the database `conn` is connected to into
/// `desired`. The rename hints are executed first, on `conn`, so the
/// comparison sees the renamed tables and columns (and PostgreSQL's own
/// text of every definition after the rename): run this in a transaction.
/// The `foreign` tables are left out of both sides: no step touches them.
pub async fn prepare(
    conn: &mut AsyncPgConnection,
    desired: &Schema,
    renames: &[Rename],
    foreign: &Foreign,
) -> Result<Plan> {
    let desired = &foreign.remove_from(desired);
    let before = foreign.remove_from(&introspect(conn).await?);
    before.ensure_supported("the database")?;
    let renames = rename::apply(conn, &before, desired, renames).await?;
    let current = if renames.is_empty() {
        before
    } else {
        foreign.remove_from(&introspect(conn).await?)
    };
    let mut changes = diff(&current, desired);
    for step in &mut changes {
        if let Some(query) = &step.count_sql {
            let count: Count = diesel::sql_query(query)
                .get_result(conn)
                .await
                .with_context(|| format!("Failed to count the rows {} touches", step.target()))?;
            step.rows = Some(count.count);
            step.destructive |= count.count > 0;
        }
    }
    Ok(Plan { renames, changes })
}

/// Executes the plan's changes in order (its renames ran in [`prepare`]),
/// calling `report` before each statement.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    plan: &Plan,
    report: &mut dyn FnMut(&Step),
) -> Result<()> {
    for step in &plan.changes {
        report(step);
        conn.batch_execute(&step.sql)
            .await
            .with_context(|| format!("Failed to apply `{}`", step.sql))?;
    }
    Ok(())
}
