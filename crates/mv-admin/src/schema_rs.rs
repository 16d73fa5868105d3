//! Writes `schema.rs` from a database's catalog, in the format of
//! `diesel print-schema` (with `with_docs = "only-database-comments"`), so the
//! file can be regenerated and checked without diesel_cli.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Int4, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    table_comment: Option<String>,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    type_name: String,
    #[diesel(sql_type = Bool)]
    not_null: bool,
    #[diesel(sql_type = Nullable<Text>)]
    column_comment: Option<String>,
    #[diesel(sql_type = Nullable<Int4>)]
    primary_key_position: Option<i32>,
}

#[derive(QueryableByName)]
struct ForeignKeyRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    referenced_table: String,
}

/// Where `diesel.toml` says the schema lives, from the repository root.
pub const SCHEMA_FILE: &str = "crates/db/src/schema.rs";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Compare instead of writing: fail, showing the first difference, when
    /// the file is not what the database gives.
    #[arg(long)]
    pub check: bool,
    /// The file to write or check.
    #[arg(long, default_value = SCHEMA_FILE)]
    pub file: std::path::PathBuf,
}

pub async fn run(context: &crate::Context, args: Args) -> Result<()> {
    let mut conn = context.connect().await?;
    let generated = generate(&mut conn).await?;
    if args.check {
        let current = std::fs::read_to_string(&args.file)
            .with_context(|| format!("Failed to read {}", args.file.display()))?;
        if let Some(difference) = first_difference(&current, &generated) {
            bail!(
                "{} differs from what the migrations produce ({difference}); run `mv-admin schema` and commit the result",
                args.file.display()
            );
        }
        println!("{} matches the database", args.file.display());
    } else {
        std::fs::write(&args.file, &generated)
            .with_context(|| format!("Failed to write {}", args.file.display()))?;
        println!("wrote {}", args.file.display());
    }
    Ok(())
}

/// The first line where two texts differ, as a short description.
pub fn first_difference(current: &str, expected: &str) -> Option<String> {
    if current == expected {
        return None;
    }
    let mut current_lines = current.lines();
    let mut expected_lines = expected.lines();
    let mut number = 1;
    loop {
        match (current_lines.next(), expected_lines.next()) {
            (Some(a), Some(b)) if a == b => number += 1,
            (a, b) => {
                return Some(format!(
                    "line {number}: the file has {:?}, the database gives {:?}",
                    a.unwrap_or("<end of file>"),
                    b.unwrap_or("<end of file>")
                ));
            }
        }
    }
}

/// Tables whose names start with this are bookkeeping, not schema
/// (Diesel's migration history and ours).
const BOOKKEEPING_PREFIX: &str = "__";

const COLUMNS: &str = r#"
SELECT c.relname::text AS table_name,
       obj_description(c.oid, 'pg_class') AS table_comment,
       a.attname::text AS column_name,
       CASE WHEN t.typcategory = 'A' THEN '_' || et.typname ELSE t.typname END::text AS type_name,
       a.attnotnull AS not_null,
       col_description(c.oid, a.attnum) AS column_comment,
       array_position(i.indkey::int2[], a.attnum)::int4 AS primary_key_position
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type et ON et.oid = t.typelem
LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
ORDER BY c.relname, a.attnum
"#;

const FOREIGN_KEYS: &str = r#"
SELECT c.relname::text AS table_name,
       a.attname::text AS column_name,
       rc.relname::text AS referenced_table
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class rc ON rc.oid = k.confrelid
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.conkey[1]
WHERE n.nspname = 'public' AND k.contype = 'f' AND cardinality(k.conkey) = 1
ORDER BY c.relname, rc.relname, a.attname
"#;

struct Column {
    name: String,
    sql_type: String,
    comment: Option<String>,
}

struct Table {
    comment: Option<String>,
    primary_key: Vec<(i32, String)>,
    columns: Vec<Column>,
}

/// The `schema.rs` text for the database `conn` is connected to.
pub async fn generate(conn: &mut AsyncPgConnection) -> Result<String> {
    let rows: Vec<ColumnRow> = diesel::sql_query(COLUMNS)
        .load(conn)
        .await
        .context("Failed to read the tables' columns")?;
    let foreign_keys: Vec<ForeignKeyRow> = diesel::sql_query(FOREIGN_KEYS)
        .load(conn)
        .await
        .context("Failed to read the foreign keys")?;

    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    for row in rows {
        if row.table_name.starts_with(BOOKKEEPING_PREFIX) {
            continue;
        }
        let sql_type = diesel_type(&row.type_name).with_context(|| {
            format!(
                "column {}.{} has type {}",
                row.table_name, row.column_name, row.type_name
            )
        })?;
        let table = tables.entry(row.table_name).or_insert_with(|| Table {
            comment: row.table_comment,
            primary_key: Vec::new(),
            columns: Vec::new(),
        });
        if let Some(position) = row.primary_key_position {
            table.primary_key.push((position, row.column_name.clone()));
        }
        table.columns.push(Column {
            sql_type: if row.not_null {
                sql_type
            } else {
                format!("Nullable<{sql_type}>")
            },
            name: row.column_name,
            comment: row.column_comment,
        });
    }

    let mut out = String::from("// @generated automatically by Diesel CLI.\n");
    for (name, table) in &mut tables {
        if table.primary_key.is_empty() {
            bail!("table {name} has no primary key; Diesel needs one");
        }
        table.primary_key.sort();
        write_table(&mut out, name, table);
    }

    // Diesel emits a joinable only where one foreign key links two tables.
    let mut links: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for fk in &foreign_keys {
        if tables.contains_key(&fk.table_name) && tables.contains_key(&fk.referenced_table) {
            links
                .entry((&fk.table_name, &fk.referenced_table))
                .or_default()
                .push(&fk.column_name);
        }
    }
    let joinables: Vec<_> = links
        .iter()
        .filter(|(_, columns)| columns.len() == 1)
        .collect();
    if !joinables.is_empty() {
        out.push('\n');
    }
    for ((from, to), columns) in joinables {
        let _ = writeln!(
            out,
            "diesel::joinable!({from} -> {to} ({}));",
            rust_name(columns[0])
        );
    }
    if tables.len() > 1 {
        out.push_str("\ndiesel::allow_tables_to_appear_in_same_query!(\n");
        for name in tables.keys() {
            let _ = writeln!(out, "    {name},");
        }
        out.push_str(");\n");
    }
    Ok(out)
}

fn write_table(out: &mut String, name: &str, table: &Table) {
    out.push_str("\ndiesel::table! {\n");
    write_doc(out, "    ", table.comment.as_deref());
    let key: Vec<String> = table
        .primary_key
        .iter()
        .map(|(_, column)| rust_name(column))
        .collect();
    let _ = writeln!(out, "    {name} ({}) {{", key.join(", "));
    for column in &table.columns {
        write_doc(out, "        ", column.comment.as_deref());
        let rust = rust_name(&column.name);
        if rust != column.name {
            let _ = writeln!(out, "        #[sql_name = \"{}\"]", column.name);
        }
        let _ = writeln!(out, "        {rust} -> {},", column.sql_type);
    }
    out.push_str("    }\n}\n");
}

fn write_doc(out: &mut String, indent: &str, comment: Option<&str>) {
    for line in comment.into_iter().flat_map(str::lines) {
        let _ = writeln!(out, "{indent}/// {line}");
    }
}

/// Diesel's name for a column: `emailVerified` becomes `email_verified`.
fn rust_name(sql_name: &str) -> String {
    let mut name = String::with_capacity(sql_name.len() + 4);
    for (i, ch) in sql_name.chars().enumerate() {
        if ch.is_uppercase() {
            if i > 0 {
                name.push('_');
            }
            name.extend(ch.to_lowercase());
        } else {
            name.push(ch);
        }
    }
    name
}

/// The Diesel SQL type for a PostgreSQL type name (`_` marks an array).
fn diesel_type(type_name: &str) -> Result<String> {
    if let Some(element) = type_name.strip_prefix('_') {
        return Ok(format!("Array<Nullable<{}>>", diesel_type(element)?));
    }
    let name = match type_name {
        "bool" => "Bool",
        "int2" => "Int2",
        "int4" => "Int4",
        "int8" => "Int8",
        "float4" => "Float4",
        "float8" => "Float8",
        "numeric" => "Numeric",
        "text" => "Text",
        "varchar" => "Varchar",
        "bpchar" => "Bpchar",
        "bytea" => "Bytea",
        "date" => "Date",
        "time" => "Time",
        "timestamp" => "Timestamp",
        "timestamptz" => "Timestamptz",
        "interval" => "Interval",
        "json" => "Json",
        "jsonb" => "Jsonb",
        "uuid" => "Uuid",
        "inet" => "Inet",
        "cidr" => "Cidr",
        "oid" => "Oid",
        other => bail!("no Diesel type is known for PostgreSQL type {other}"),
    };
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_columns_become_snake_case() {
        assert_eq!(rust_name("emailVerified"), "email_verified");
        assert_eq!(rust_name("createdAt"), "created_at");
        assert_eq!(rust_name("user_id"), "user_id");
    }

    #[test]
    fn types_map_to_diesel_names() {
        assert_eq!(diesel_type("timestamptz").expect("known"), "Timestamptz");
        assert_eq!(
            diesel_type("_text").expect("known"),
            "Array<Nullable<Text>>"
        );
        assert!(diesel_type("tsvector").is_err());
    }
}
