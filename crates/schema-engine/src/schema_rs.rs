//! Writes `schema.rs` from a database's catalog, in the format of
//! `diesel print-schema` (with `with_docs = "only-database-comments"`), so the
//! file can be regenerated and checked without diesel_cli.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::error::{Context as _, Result, bail};
use diesel_async::AsyncPgConnection;

use crate::catalog::{Schema, Table, introspect};
use crate::foreign::Foreign;

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

/// The `schema.rs` text for the database `conn` is connected to, without
/// its `foreign` tables (the project has no Diesel table for them).
pub async fn generate(conn: &mut AsyncPgConnection, foreign: &Foreign) -> Result<String> {
    render(&foreign.remove_from(&introspect(conn).await?))
}

/// The `schema.rs` text for a schema.
pub fn render(schema: &Schema) -> Result<String> {
    let mut out = String::from("// @generated automatically by Diesel CLI.\n");
    for (name, table) in &schema.tables {
        write_table(&mut out, name, table)?;
    }

    // Diesel emits a joinable only where one single-column foreign key
    // links two tables.
    let mut links: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for (name, table) in &schema.tables {
        for fk in table.foreign_keys() {
            let (Some(references), [column]) = (&fk.references, fk.columns.as_slice()) else {
                continue;
            };
            if schema.tables.contains_key(&references.table) {
                links
                    .entry((name, &references.table))
                    .or_default()
                    .push(column);
            }
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
    if schema.tables.len() > 1 {
        out.push_str("\ndiesel::allow_tables_to_appear_in_same_query!(\n");
        for name in schema.tables.keys() {
            let _ = writeln!(out, "    {name},");
        }
        out.push_str(");\n");
    }
    Ok(out)
}

fn write_table(out: &mut String, name: &str, table: &Table) -> Result<()> {
    let Some(primary_key) = table.primary_key() else {
        bail!("table {name} has no primary key; Diesel needs one");
    };
    out.push_str("\ndiesel::table! {\n");
    write_doc(out, "    ", table.comment.as_deref());
    let key: Vec<String> = primary_key.columns.iter().map(|c| rust_name(c)).collect();
    let _ = writeln!(out, "    {name} ({}) {{", key.join(", "));
    for column in &table.columns {
        let sql_type = diesel_type(&column.type_name).with_context(|| {
            format!(
                "column {name}.{} has type {}",
                column.name, column.type_name
            )
        })?;
        write_doc(out, "        ", column.comment.as_deref());
        let rust = rust_name(&column.name);
        if rust != column.name {
            let _ = writeln!(out, "        #[sql_name = \"{}\"]", column.name);
        }
        if column.not_null {
            let _ = writeln!(out, "        {rust} -> {sql_type},");
        } else {
            let _ = writeln!(out, "        {rust} -> Nullable<{sql_type}>,");
        }
    }
    out.push_str("    }\n}\n");
    Ok(())
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
