//! The one place that reads a database's schema from pg_catalog.
//!
//! Both sides of every comparison come from here: the target database and
//! a scratch database that PostgreSQL itself loaded from `schema.sql` or
//! the migrations. Definitions are PostgreSQL's own deparsed text
//! (`pg_get_constraintdef`, `pg_get_indexdef`, `pg_get_expr`,
//! `pg_get_functiondef`, `pg_get_triggerdef`), so two schemas built from
//! different SQL compare equal when they mean the same.

use std::collections::BTreeMap;

use crate::error::{Context as _, Result, bail};
use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Int4, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// Tables whose names start with this are bookkeeping (migration history,
/// the production mark), not schema.
pub const BOOKKEEPING_PREFIX: &str = "__";

/// The tables and functions of the `public` schema.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    /// By name.
    pub tables: BTreeMap<String, Table>,
    /// By [`Function::signature`].
    pub functions: BTreeMap<String, Function>,
    /// Objects push and generate cannot manage (views, sequences, ...),
    /// described for an error message.
    pub unsupported: Vec<Unsupported>,
}

/// An object push and generate cannot manage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// What it is and its name: `view active_users`.
    pub description: String,
    /// The table it belongs to (a trigger's, a column's, a sequence's
    /// owner), if any: a foreign table's objects are not the project's.
    pub table: Option<String>,
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

/// One table with everything that belongs to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    /// The name as SQL needs it (`"user"`), quoted by PostgreSQL.
    pub ident: String,
    pub comment: Option<String>,
    /// In the table's column order.
    pub columns: Vec<Column>,
    /// Primary key, unique, check and foreign key constraints, by name.
    pub constraints: Vec<Constraint>,
    /// Indexes that back no constraint, by name.
    pub indexes: Vec<Index>,
    /// Its triggers, by name.
    pub triggers: Vec<Trigger>,
}

/// One column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ident: String,
    /// The type as SQL writes it: `character varying(20)`, `text[]`.
    pub sql_type: String,
    /// The catalog's type name (`varchar`, `_text` for arrays).
    pub type_name: String,
    /// The type modifier (length, precision); -1 when there is none.
    pub type_mod: i32,
    pub not_null: bool,
    /// The default expression as PostgreSQL deparses it.
    pub default: Option<String>,
    pub comment: Option<String>,
}

/// What a constraint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConstraintKind {
    PrimaryKey,
    Unique,
    Check,
    ForeignKey,
}

/// A primary key, unique, check or foreign key constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub name: String,
    pub ident: String,
    pub kind: ConstraintKind,
    /// The constrained columns, in key order.
    pub columns: Vec<String>,
    /// `pg_get_constraintdef`: `UNIQUE (email)`, `FOREIGN KEY ... ON DELETE CASCADE`.
    pub definition: String,
    /// For foreign keys: what they reference and their actions.
    pub references: Option<References>,
}

/// The far side of a foreign key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct References {
    pub table: String,
    pub columns: Vec<String>,
    pub on_delete: FkAction,
    pub on_update: FkAction,
}

/// What a foreign key does when the referenced row goes or changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FkAction {
    NoAction,
    Restrict,
    Cascade,
    SetNull,
    SetDefault,
}

impl FkAction {
    fn from_catalog(code: &str) -> Self {
        match code {
            "r" => Self::Restrict,
            "c" => Self::Cascade,
            "n" => Self::SetNull,
            "d" => Self::SetDefault,
            _ => Self::NoAction,
        }
    }
}

/// An index that backs no constraint (`CREATE INDEX`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub name: String,
    pub ident: String,
    pub unique: bool,
    /// Its key columns when it indexes plain columns, without a predicate;
    /// empty otherwise.
    pub plain_columns: Vec<String>,
    /// `pg_get_indexdef`: the whole `CREATE INDEX` statement.
    pub definition: String,
}

/// A function (`prokind` 'f': plain and trigger functions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// Its identity: the quoted name and the input argument types,
    /// `video_summary_retry_delay(integer, interval, interval)`; what
    /// `DROP FUNCTION` and `COMMENT ON FUNCTION` take.
    pub signature: String,
    /// `pg_get_function_arguments`: the arguments with their names and
    /// defaults, which `CREATE OR REPLACE` cannot change.
    pub arguments: String,
    /// `pg_get_function_result`, which `CREATE OR REPLACE` cannot change either.
    pub result: String,
    /// `pg_get_functiondef`: the whole `CREATE OR REPLACE FUNCTION` statement.
    pub definition: String,
    pub comment: Option<String>,
}

impl Function {
    /// Whether `CREATE OR REPLACE` can turn this function into `other`.
    pub fn replaceable_by(&self, other: &Self) -> bool {
        self.signature == other.signature
            && self.arguments == other.arguments
            && self.result == other.result
    }
}

/// A trigger on a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub name: String,
    pub ident: String,
    /// The [`Function::signature`] of the function it executes.
    pub function: String,
    /// `pg_get_triggerdef`: the whole `CREATE TRIGGER` statement.
    pub definition: String,
    pub comment: Option<String>,
}

impl Index {
    /// The definition without the index's name, so a renamed index still
    /// matches its old self.
    pub fn shape(&self) -> String {
        self.definition
            .replacen(&format!("INDEX {} ", self.ident), "INDEX ", 1)
    }
}

impl Table {
    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The primary key, if the table has one.
    pub fn primary_key(&self) -> Option<&Constraint> {
        self.constraints
            .iter()
            .find(|k| k.kind == ConstraintKind::PrimaryKey)
    }

    /// The table's foreign keys.
    pub fn foreign_keys(&self) -> impl Iterator<Item = &Constraint> {
        self.constraints
            .iter()
            .filter(|k| k.kind == ConstraintKind::ForeignKey)
    }
}

impl Schema {
    /// Fails, naming them, when the schema holds objects that push and
    /// generate cannot manage; `source` says where the schema came from.
    pub fn ensure_supported(&self, source: &str) -> Result<()> {
        if !self.unsupported.is_empty() {
            bail!(
                "{source} has {}, which push and generate cannot manage (they handle tables, \
                 columns, defaults, constraints, indexes, functions, triggers and comments)",
                self.unsupported
                    .iter()
                    .map(|u| u.description.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(())
    }
}

#[derive(QueryableByName)]
struct TableRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    ident: String,
    #[diesel(sql_type = Nullable<Text>)]
    comment: Option<String>,
}

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    ident: String,
    #[diesel(sql_type = Text)]
    sql_type: String,
    #[diesel(sql_type = Text)]
    type_name: String,
    #[diesel(sql_type = Int4)]
    type_mod: i32,
    #[diesel(sql_type = Bool)]
    not_null: bool,
    #[diesel(sql_type = Nullable<Text>)]
    default_value: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    comment: Option<String>,
}

#[derive(QueryableByName)]
struct ConstraintRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    ident: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Array<Text>)]
    columns: Vec<String>,
    #[diesel(sql_type = Text)]
    definition: String,
    #[diesel(sql_type = Nullable<Text>)]
    referenced_table: Option<String>,
    #[diesel(sql_type = Array<Text>)]
    referenced_columns: Vec<String>,
    #[diesel(sql_type = Text)]
    on_delete: String,
    #[diesel(sql_type = Text)]
    on_update: String,
}

#[derive(QueryableByName)]
struct IndexRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    ident: String,
    #[diesel(sql_type = Bool)]
    is_unique: bool,
    #[diesel(sql_type = Bool)]
    plain: bool,
    #[diesel(sql_type = Array<Text>)]
    columns: Vec<String>,
    #[diesel(sql_type = Text)]
    definition: String,
}

#[derive(QueryableByName)]
struct FunctionRow {
    #[diesel(sql_type = Text)]
    signature: String,
    #[diesel(sql_type = Text)]
    arguments: String,
    #[diesel(sql_type = Text)]
    result: String,
    #[diesel(sql_type = Text)]
    definition: String,
    #[diesel(sql_type = Nullable<Text>)]
    comment: Option<String>,
}

#[derive(QueryableByName)]
struct TriggerRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    ident: String,
    #[diesel(sql_type = Text)]
    function: String,
    #[diesel(sql_type = Text)]
    definition: String,
    #[diesel(sql_type = Nullable<Text>)]
    comment: Option<String>,
}

#[derive(QueryableByName)]
struct UnsupportedRow {
    #[diesel(sql_type = Text)]
    description: String,
    #[diesel(sql_type = Nullable<Text>)]
    table_name: Option<String>,
}

const TABLES: &str = r#"
SELECT c.relname::text AS name,
       quote_ident(c.relname) AS ident,
       obj_description(c.oid, 'pg_class') AS comment
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'r'
ORDER BY c.relname
"#;

const COLUMNS: &str = r#"
SELECT c.relname::text AS table_name,
       a.attname::text AS name,
       quote_ident(a.attname) AS ident,
       format_type(a.atttypid, a.atttypmod) AS sql_type,
       CASE WHEN t.typcategory = 'A' THEN '_' || et.typname ELSE t.typname END::text AS type_name,
       a.atttypmod AS type_mod,
       a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS default_value,
       col_description(c.oid, a.attnum) AS comment
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type et ON et.oid = t.typelem
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = 'public' AND c.relkind = 'r'
ORDER BY c.relname, a.attnum
"#;

// Not-null constraints (pg_constraint rows of type 'n' from PostgreSQL 18)
// are read as the columns' nullability instead.
const CONSTRAINTS: &str = r#"
SELECT c.relname::text AS table_name,
       k.conname::text AS name,
       quote_ident(k.conname) AS ident,
       k.contype::text AS kind,
       ARRAY(SELECT a.attname::text
             FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, i)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
             ORDER BY u.i) AS columns,
       pg_get_constraintdef(k.oid) AS definition,
       r.relname::text AS referenced_table,
       ARRAY(SELECT a.attname::text
             FROM unnest(k.confkey) WITH ORDINALITY AS u(attnum, i)
             JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum
             ORDER BY u.i) AS referenced_columns,
       k.confdeltype::text AS on_delete,
       k.confupdtype::text AS on_update
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class r ON r.oid = k.confrelid
WHERE n.nspname = 'public' AND c.relkind = 'r' AND k.contype IN ('p', 'u', 'c', 'f')
ORDER BY c.relname, k.conname
"#;

const INDEXES: &str = r#"
SELECT c.relname::text AS table_name,
       ic.relname::text AS name,
       quote_ident(ic.relname) AS ident,
       i.indisunique AS is_unique,
       (i.indpred IS NULL AND i.indexprs IS NULL) AS plain,
       ARRAY(SELECT a.attname::text
             FROM generate_series(0, i.indnkeyatts - 1) AS g(n)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[g.n]
             ORDER BY g.n) AS columns,
       pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'r'
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                  WHERE k.conrelid = i.indrelid AND k.conindid = i.indexrelid
                    AND k.contype IN ('p', 'u', 'x'))
ORDER BY c.relname, ic.relname
"#;

// The same expression names a function here and in TRIGGERS, so a trigger
// finds its function by signature.
const FUNCTIONS: &str = r#"
SELECT quote_ident(p.proname) || '(' || oidvectortypes(p.proargtypes) || ')' AS signature,
       pg_get_function_arguments(p.oid) AS arguments,
       pg_get_function_result(p.oid) AS result,
       pg_get_functiondef(p.oid) AS definition,
       obj_description(p.oid, 'pg_proc') AS comment
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.prokind = 'f'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                  AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY 1
"#;

// Constraint triggers (which have a pg_constraint row) are left to UNSUPPORTED.
const TRIGGERS: &str = r#"
SELECT c.relname::text AS table_name,
       g.tgname::text AS name,
       quote_ident(g.tgname) AS ident,
       quote_ident(p.proname) || '(' || oidvectortypes(p.proargtypes) || ')' AS function,
       pg_get_triggerdef(g.oid) AS definition,
       obj_description(g.oid, 'pg_trigger') AS comment
FROM pg_trigger g
JOIN pg_class c ON c.oid = g.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_proc p ON p.oid = g.tgfoid
WHERE n.nspname = 'public' AND c.relkind = 'r' AND NOT g.tgisinternal AND g.tgconstraint = 0
ORDER BY c.relname, g.tgname
"#;

// Everything in `public` that is not a table, column, constraint, index,
// function, trigger or comment, except what an extension owns.
const UNSUPPORTED: &str = r#"
SELECT description, table_name FROM (
    SELECT CASE c.relkind WHEN 'v' THEN 'view ' WHEN 'm' THEN 'materialized view '
                          WHEN 'S' THEN 'sequence ' WHEN 'p' THEN 'partitioned table '
                          WHEN 'f' THEN 'foreign table ' ELSE 'composite type ' END
           || c.relname AS description,
           -- a sequence owned by a column belongs to that column's table
           (SELECT o.relname::text FROM pg_depend d JOIN pg_class o ON o.oid = d.refobjid
            WHERE c.relkind = 'S' AND d.classid = 'pg_class'::regclass AND d.objid = c.oid
              AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
            LIMIT 1) AS table_name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm', 'S', 'p', 'f', 'c')
      AND left(c.relname, 2) <> '__'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
    UNION ALL
    SELECT CASE t.typtype WHEN 'e' THEN 'enum type ' WHEN 'd' THEN 'domain ' ELSE 'range type ' END
           || t.typname, NULL
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'r')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                      AND d.objid = t.oid AND d.deptype = 'e')
    UNION ALL
    SELECT CASE p.prokind WHEN 'p' THEN 'procedure ' WHEN 'a' THEN 'aggregate '
                          ELSE 'window function ' END || p.proname, NULL
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND p.prokind <> 'f'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                      AND d.objid = p.oid AND d.deptype = 'e')
    UNION ALL
    SELECT CASE WHEN g.tgconstraint <> 0 THEN 'constraint trigger ' ELSE 'trigger ' END
           || g.tgname || ' on ' || c.relname, c.relname::text
    FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND NOT g.tgisinternal AND left(c.relname, 2) <> '__'
      AND (g.tgconstraint <> 0 OR c.relkind <> 'r')
    UNION ALL
    SELECT CASE WHEN a.attidentity <> '' THEN 'identity column ' ELSE 'generated column ' END
           || c.relname || '.' || a.attname, c.relname::text
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
      AND (a.attidentity <> '' OR a.attgenerated <> '') AND left(c.relname, 2) <> '__'
    UNION ALL
    SELECT 'exclusion constraint ' || k.conname || ' on ' || c.relname, c.relname::text
    FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND k.contype = 'x' AND left(c.relname, 2) <> '__'
) AS found
ORDER BY description
"#;

/// Reads the schema of the database `conn` is connected to.
pub async fn introspect(conn: &mut AsyncPgConnection) -> Result<Schema> {
    let tables: Vec<TableRow> = load(conn, TABLES, "tables").await?;
    let columns: Vec<ColumnRow> = load(conn, COLUMNS, "columns").await?;
    let constraints: Vec<ConstraintRow> = load(conn, CONSTRAINTS, "constraints").await?;
    let indexes: Vec<IndexRow> = load(conn, INDEXES, "indexes").await?;
    let functions: Vec<FunctionRow> = load(conn, FUNCTIONS, "functions").await?;
    let triggers: Vec<TriggerRow> = load(conn, TRIGGERS, "triggers").await?;
    let unsupported: Vec<UnsupportedRow> = load(conn, UNSUPPORTED, "other objects").await?;

    let mut schema = Schema {
        tables: BTreeMap::new(),
        functions: functions
            .into_iter()
            .map(|row| {
                let function = Function {
                    signature: row.signature,
                    arguments: row.arguments,
                    result: row.result,
                    definition: row.definition,
                    comment: row.comment,
                };
                (function.signature.clone(), function)
            })
            .collect(),
        unsupported: unsupported
            .into_iter()
            .map(|r| Unsupported {
                description: r.description,
                table: r.table_name,
            })
            .collect(),
    };
    for row in tables {
        if row.name.starts_with(BOOKKEEPING_PREFIX) {
            continue;
        }
        schema.tables.insert(
            row.name.clone(),
            Table {
                name: row.name,
                ident: row.ident,
                comment: row.comment,
                columns: Vec::new(),
                constraints: Vec::new(),
                indexes: Vec::new(),
                triggers: Vec::new(),
            },
        );
    }
    for row in columns {
        if let Some(table) = schema.tables.get_mut(&row.table_name) {
            table.columns.push(Column {
                name: row.name,
                ident: row.ident,
                sql_type: row.sql_type,
                type_name: row.type_name,
                type_mod: row.type_mod,
                not_null: row.not_null,
                default: row.default_value,
                comment: row.comment,
            });
        }
    }
    for row in constraints {
        let Some(table) = schema.tables.get_mut(&row.table_name) else {
            continue;
        };
        let kind = match row.kind.as_str() {
            "p" => ConstraintKind::PrimaryKey,
            "u" => ConstraintKind::Unique,
            "c" => ConstraintKind::Check,
            _ => ConstraintKind::ForeignKey,
        };
        let references = (kind == ConstraintKind::ForeignKey).then(|| References {
            table: row.referenced_table.unwrap_or_default(),
            columns: row.referenced_columns,
            on_delete: FkAction::from_catalog(&row.on_delete),
            on_update: FkAction::from_catalog(&row.on_update),
        });
        table.constraints.push(Constraint {
            name: row.name,
            ident: row.ident,
            kind,
            columns: row.columns,
            definition: row.definition,
            references,
        });
    }
    for row in indexes {
        if let Some(table) = schema.tables.get_mut(&row.table_name) {
            table.indexes.push(Index {
                name: row.name,
                ident: row.ident,
                unique: row.is_unique,
                plain_columns: if row.plain { row.columns } else { Vec::new() },
                definition: row.definition,
            });
        }
    }
    for row in triggers {
        if let Some(table) = schema.tables.get_mut(&row.table_name) {
            table.triggers.push(Trigger {
                name: row.name,
                ident: row.ident,
                function: row.function,
                definition: row.definition,
                comment: row.comment,
            });
        }
    }
    Ok(schema)
}

async fn load<T>(conn: &mut AsyncPgConnection, query: &'static str, what: &str) -> Result<Vec<T>>
where
    T: QueryableByName<diesel::pg::Pg> + Send + 'static,
{
    diesel::sql_query(query)
        .load(conn)
        .await
        .with_context(|| format!("Failed to read the {what} from the catalog"))
}
