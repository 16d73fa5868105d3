//! Browsing any table's rows.
//!
//! Table and column names are checked against the catalog and only the
//! catalog's own spelling, quoted, goes into the statement; values are bound
//! as parameters. Nothing typed on the command line becomes SQL.

use crate::error::{Context as _, Result, bail};
use diesel::QueryableByName;
use diesel::pg::Pg;
use diesel::sql_types::{BigInt, Integer, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use serde_json::{Map, Value};

/// Which rows of which table to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Browse {
    /// The table's name, as the catalog spells it.
    pub name: String,
    /// At most this many rows.
    pub limit: i64,
    /// Only the rows whose column equals the value (read as the column's type).
    pub conditions: Vec<Condition>,
}

/// `column=value`: a column and the value it must equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub column: String,
    pub value: String,
}

/// Splits `column=value` at the first `=`.
pub fn parse_condition(text: &str) -> Result<Condition, String> {
    match text.split_once('=') {
        Some((column, value)) if !column.trim().is_empty() => Ok(Condition {
            column: column.trim().to_string(),
            value: value.to_string(),
        }),
        _ => Err(format!("{text:?} is not COLUMN=VALUE")),
    }
}

/// A column as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName, Serialize)]
pub struct Column {
    #[diesel(sql_type = Text)]
    pub name: String,
    /// The type as SQL spells it (`format_type`), e.g. `timestamp with time zone`.
    #[diesel(sql_type = Text)]
    pub type_name: String,
    /// Position in the primary key, from 1; 0 when not part of it.
    #[diesel(sql_type = Integer)]
    pub key_position: i32,
}

/// The rows found, each an object keyed by column name in column order.
#[derive(Debug, Clone, Serialize)]
pub struct Rows {
    pub table: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Map<String, Value>>,
    pub limit: i64,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct JsonRow {
    #[diesel(sql_type = Text)]
    row: String,
}

const TABLES: &str = "
SELECT c.relname::text AS name
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
ORDER BY c.relname";

const COLUMNS: &str = "
SELECT a.attname::text AS name,
       format_type(a.atttypid, a.atttypmod) AS type_name,
       coalesce((SELECT k.n FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
                 WHERE k.attnum = a.attnum), 0)::int4 AS key_position
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
WHERE n.nspname = 'public' AND c.relname = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum";

/// `name` as a quoted SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The names of the tables one can browse.
pub async fn table_names(conn: &mut AsyncPgConnection) -> Result<Vec<String>> {
    let names: Vec<Name> = diesel::sql_query(TABLES)
        .load(conn)
        .await
        .context("Failed to list the tables")?;
    Ok(names.into_iter().map(|n| n.name).collect())
}

/// The table's rows matching every condition, in primary key order.
pub async fn browse(conn: &mut AsyncPgConnection, args: &Browse) -> Result<Rows> {
    let tables = table_names(conn).await?;
    let Some(table) = tables.iter().find(|t| **t == args.name) else {
        bail!(
            "there is no table {:?}; the tables are {}",
            args.name,
            tables.join(", ")
        );
    };
    let columns: Vec<Column> = diesel::sql_query(COLUMNS)
        .bind::<Text, _>(table)
        .load(conn)
        .await
        .with_context(|| format!("Failed to read the columns of {table}"))?;

    let mut sql = format!(
        "SELECT row_to_json(t)::text AS row FROM (SELECT * FROM {}",
        quote_ident(table)
    );
    for (i, condition) in args.conditions.iter().enumerate() {
        let Some(column) = columns.iter().find(|c| c.name == condition.column) else {
            let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            bail!(
                "table {table} has no column {:?}; its columns are {}",
                condition.column,
                names.join(", ")
            );
        };
        sql.push_str(if i == 0 { " WHERE " } else { " AND " });
        // The value travels as text and the server reads it as the
        // column's type, so `42`, `true` or a date compare as such.
        sql.push_str(&format!(
            "{} = CAST(${} AS {})",
            quote_ident(&column.name),
            i + 1,
            column.type_name
        ));
    }
    let mut key: Vec<&Column> = columns.iter().filter(|c| c.key_position > 0).collect();
    key.sort_by_key(|c| c.key_position);
    if !key.is_empty() {
        let names: Vec<String> = key.iter().map(|c| quote_ident(&c.name)).collect();
        sql.push_str(&format!(" ORDER BY {}", names.join(", ")));
    }
    sql.push_str(&format!(" LIMIT ${}) t", args.conditions.len() + 1));

    let mut query = diesel::sql_query(sql).into_boxed::<Pg>();
    for condition in &args.conditions {
        query = query.bind::<Text, _>(condition.value.clone());
    }
    let rows: Vec<JsonRow> = query
        .bind::<BigInt, _>(args.limit)
        .load(conn)
        .await
        .with_context(|| format!("Failed to read the rows of {table}"))?;
    let rows = rows
        .into_iter()
        .map(|row| match serde_json::from_str(&row.row) {
            Ok(Value::Object(object)) => Ok(object),
            Ok(other) => bail!("the server gave {other} for a row"),
            Err(e) => Err(e).context("Failed to read a row's JSON"),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Rows {
        table: table.clone(),
        columns,
        rows,
        limit: args.limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_split_at_the_first_equals_sign() {
        assert_eq!(
            parse_condition("title=a=b").expect("valid"),
            Condition {
                column: "title".into(),
                value: "a=b".into()
            }
        );
        assert_eq!(parse_condition("x=").expect("valid").value, "");
        assert!(parse_condition("=1").is_err());
        assert!(parse_condition("title").is_err());
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("user"), "\"user\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
