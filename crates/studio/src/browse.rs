//! Any table's rows, as SQL built from the catalog: table and column names
//! come only from the catalog (quoted by PostgreSQL), values are bound as
//! text and cast to the column's type by the server.

use diesel::QueryableByName;
use diesel::pg::Pg;
use diesel::sql_types::{Array, BigInt, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use schema_engine::catalog::{Column, ConstraintKind, Schema, Table};

use crate::error::{Result, StudioError};

/// The application's own tables (crates/db/src/schema.rs); any other table
/// of `public` is foreign: left by another program (the original
/// application's auth tables, for one).
pub const APP_TABLES: [&str; 7] = [
    "category",
    "keyframe",
    "tag",
    "user",
    "video_summary",
    "video_summary_category",
    "video_summary_tag",
];

/// Rows per table page unless asked otherwise, and at most.
pub const PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 500;

pub fn is_app_table(name: &str) -> bool {
    APP_TABLES.contains(&name)
}

/// The table named so, or an error listing the tables.
pub fn table<'s>(schema: &'s Schema, name: &str) -> Result<&'s Table> {
    schema.tables.get(name).ok_or_else(|| {
        let names: Vec<&str> = schema.tables.keys().map(String::as_str).collect();
        StudioError::NotFound(format!(
            "there is no table {name:?}; the tables are {}",
            names.join(", ")
        ))
    })
}

/// The column named so, or an error listing the table's columns.
pub fn column<'t>(table: &'t Table, name: &str) -> Result<&'t Column> {
    table.column(name).ok_or_else(|| {
        let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        StudioError::BadRequest(format!(
            "table {} has no column {name:?}; its columns are {}",
            table.name,
            names.join(", ")
        ))
    })
}

/// The primary key's columns, in key order (empty without one).
pub fn key_columns(table: &Table) -> Vec<&Column> {
    table
        .primary_key()
        .map(|pk| pk.columns.iter().filter_map(|c| table.column(c)).collect())
        .unwrap_or_default()
}

/// What kind of filter a column gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    /// A menu of values (`processing_status`).
    Menu(&'static [&'static str]),
    /// A range: numbers.
    Number,
    /// A range: times (read as UTC).
    Time,
    Bool,
    /// Text search (contains, case-insensitive).
    Text,
}

const STATUSES: [&str; 4] = ["pending", "processing", "completed", "failed"];

pub fn filter_kind(table: &Table, column: &Column) -> FilterKind {
    if column.name == "processing_status" && table.name == "video_summary" {
        return FilterKind::Menu(&STATUSES);
    }
    match column.type_name.as_str() {
        "int2" | "int4" | "int8" | "float4" | "float8" | "numeric" | "oid" => FilterKind::Number,
        "timestamptz" | "timestamp" | "date" => FilterKind::Time,
        "bool" => FilterKind::Bool,
        _ => FilterKind::Text,
    }
}

/// One condition on a column, from the query string:
/// `q.col` (contains), `eq.col`, `min.col`, `max.col`, `null.col` (`yes`/`no`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub op: Op,
    pub column: String,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Contains,
    Eq,
    Min,
    Max,
    Null,
}

impl Op {
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Contains => "q",
            Self::Eq => "eq",
            Self::Min => "min",
            Self::Max => "max",
            Self::Null => "null",
        }
    }

    fn parse(prefix: &str) -> Option<Self> {
        [Self::Contains, Self::Eq, Self::Min, Self::Max, Self::Null]
            .into_iter()
            .find(|op| op.prefix() == prefix)
    }
}

/// What a table page shows: filters, order, position, size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub conditions: Vec<Condition>,
    pub sort: Option<String>,
    pub desc: bool,
    /// The sort value and key of the last row of the previous page.
    pub after: Option<Vec<Option<String>>>,
    pub limit: i64,
}

impl Listing {
    /// Reads the query string's pairs; empty values are no filter.
    pub fn from_params(params: &[(String, String)]) -> Result<Self> {
        let mut listing = Self {
            limit: PAGE_SIZE,
            ..Self::default()
        };
        for (key, value) in params {
            match key.as_str() {
                "sort" if !value.is_empty() => listing.sort = Some(value.clone()),
                "dir" => listing.desc = value == "desc",
                "after" if !value.is_empty() => {
                    listing.after = Some(serde_json::from_str(value).map_err(|_| {
                        StudioError::BadRequest(format!(
                            "{value:?} is not a position this studio gave"
                        ))
                    })?)
                }
                "limit" if !value.is_empty() => {
                    listing.limit = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                        .ok_or_else(|| {
                            StudioError::BadRequest(format!(
                                "limit {value:?} is not a number from 1 to {MAX_PAGE_SIZE}"
                            ))
                        })?
                }
                _ => {
                    if let Some((prefix, column)) = key.split_once('.')
                        && let Some(op) = Op::parse(prefix)
                        && !value.is_empty()
                    {
                        listing.conditions.push(Condition {
                            op,
                            column: column.to_string(),
                            value: value.clone(),
                        });
                    }
                }
            }
        }
        Ok(listing)
    }

    /// The query string pairs of the filters and order (not the position).
    pub fn params(&self) -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = self
            .conditions
            .iter()
            .map(|c| (format!("{}.{}", c.op.prefix(), c.column), c.value.clone()))
            .collect();
        if let Some(sort) = &self.sort {
            params.push(("sort".into(), sort.clone()));
            if self.desc {
                params.push(("dir".into(), "desc".into()));
            }
        }
        if self.limit != PAGE_SIZE {
            params.push(("limit".into(), self.limit.to_string()));
        }
        params
    }

    pub fn value(&self, op: Op, column: &str) -> Option<&str> {
        self.conditions
            .iter()
            .find(|c| c.op == op && c.column == column)
            .map(|c| c.value.as_str())
    }
}

/// SQL text and its text parameters (`$1`, `$2`, ... in order).
#[derive(Debug, Clone, Default)]
pub struct Sql {
    pub text: String,
    pub params: Vec<Option<String>>,
}

impl Sql {
    /// A parameter read as `sql_type`.
    pub fn param(&mut self, value: Option<String>, sql_type: &str) -> String {
        self.params.push(value);
        format!("CAST(${}::text AS {sql_type})", self.params.len())
    }

    /// `alias.a = $n AND alias.b = $m ...`: each column equal to its value.
    pub fn equal(&mut self, alias: &str, columns: &[(&Column, Option<String>)]) -> String {
        columns
            .iter()
            .map(|(column, value)| {
                let value = self.param(value.clone(), &column.sql_type);
                format!("{alias}.{} = {value}", column.ident)
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// Runs it, each row an array of the selected text values.
    pub async fn rows(self, conn: &mut AsyncPgConnection) -> Result<Vec<Vec<Option<String>>>> {
        let mut query = diesel::sql_query(self.text).into_boxed::<Pg>();
        for param in self.params {
            query = query.bind::<Nullable<Text>, _>(param);
        }
        let rows: Vec<Values> = query.load(conn).await?;
        Ok(rows.into_iter().map(|row| row.vals).collect())
    }

    /// Runs it for one count.
    pub async fn count(self, conn: &mut AsyncPgConnection) -> Result<i64> {
        let mut query = diesel::sql_query(self.text).into_boxed::<Pg>();
        for param in self.params {
            query = query.bind::<Nullable<Text>, _>(param);
        }
        let row: Count = query.get_result(conn).await?;
        Ok(row.n)
    }
}

#[derive(QueryableByName)]
struct Values {
    #[diesel(sql_type = Array<Nullable<Text>>)]
    vals: Vec<Option<String>>,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// `ARRAY[t.a::text, t.b::text, ...] AS vals`: every column as text.
fn select_all(table: &Table) -> String {
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|c| format!("t.{}::text", c.ident))
        .collect();
    format!("ARRAY[{}]::text[] AS vals", columns.join(", "))
}

/// A `LIKE` pattern matching `text` anywhere, with its wildcards escaped.
fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The WHERE conditions of the listing's filters.
fn conditions(table: &Table, listing: &Listing, sql: &mut Sql) -> Result<Vec<String>> {
    let mut clauses = Vec::new();
    for condition in &listing.conditions {
        let column = column(table, &condition.column)?;
        let ident = format!("t.{}", column.ident);
        let value = condition.value.clone();
        clauses.push(match condition.op {
            Op::Contains => {
                let target = match column.type_name.as_str() {
                    "text" | "varchar" | "bpchar" | "name" | "citext" => ident,
                    _ => format!("{ident}::text"),
                };
                format!(
                    "{target} ILIKE {}",
                    sql.param(Some(contains_pattern(&value)), "text")
                )
            }
            Op::Eq => format!("{ident} = {}", sql.param(Some(value), &column.sql_type)),
            Op::Min => format!("{ident} >= {}", sql.param(Some(value), &column.sql_type)),
            Op::Max => format!("{ident} <= {}", sql.param(Some(value), &column.sql_type)),
            Op::Null => match value.as_str() {
                "yes" => format!("{ident} IS NULL"),
                "no" => format!("{ident} IS NOT NULL"),
                other => {
                    return Err(StudioError::BadRequest(format!(
                        "null.{} is {other:?}; expected yes or no",
                        column.name
                    )));
                }
            },
        });
    }
    Ok(clauses)
}

/// Whether an index (or a primary key or unique constraint) starts with
/// `column`: a page sorted by it is then read in index order, not sorted.
pub fn leads_an_index(table: &Table, column: &str) -> bool {
    let first = |columns: &[String]| columns.first().is_some_and(|c| c == column);
    table
        .indexes
        .iter()
        .any(|index| first(&index.plain_columns))
        || table.constraints.iter().any(|constraint| {
            matches!(
                constraint.kind,
                ConstraintKind::PrimaryKey | ConstraintKind::Unique
            ) && first(&constraint.columns)
        })
}

/// Whether a page of a table of `estimated_rows` may be sorted by `column`:
/// on a large table only when an index starts with it or a filter narrows
/// the rows, since PostgreSQL would otherwise read and sort every row for
/// each page.
pub fn sort_allowed(table: &Table, column: &str, filtered: bool, estimated_rows: i64) -> bool {
    estimated_rows <= EXACT_COUNT_LIMIT || filtered || leads_an_index(table, column)
}

/// Refuses a listing sorted as [`sort_allowed`] does not allow.
pub fn check_sort(table: &Table, listing: &Listing, estimated_rows: i64) -> Result<()> {
    match &listing.sort {
        Some(sort)
            if !sort_allowed(table, sort, !listing.conditions.is_empty(), estimated_rows) =>
        {
            Err(StudioError::BadRequest(format!(
                "{} has about {estimated_rows} rows and no index starts with {sort}, so each \
                 page sorted by it would sort the whole table; filter the rows first, or sort \
                 by a column an index starts with",
                table.name
            )))
        }
        _ => Ok(()),
    }
}

/// The planner's row estimate of a table (-1 before its first ANALYZE).
pub async fn estimated_rows(conn: &mut AsyncPgConnection, table: &Table) -> Result<i64> {
    let mut sql = Sql::default();
    let name = sql.param(Some(format!("public.{}", table.ident)), "text");
    sql.text = format!("SELECT reltuples::int8 AS n FROM pg_class WHERE oid = {name}::regclass");
    sql.count(conn).await
}

/// The columns a page is ordered by: the sort column (if not the key)
/// first, then the key.
pub struct Order<'t> {
    pub sort: Option<&'t Column>,
    pub key: Vec<&'t Column>,
}

pub fn order<'t>(table: &'t Table, listing: &Listing) -> Result<Order<'t>> {
    let key = key_columns(table);
    let sort = match &listing.sort {
        Some(name) => {
            let column = column(table, name)?;
            (key.len() != 1 || key[0].name != column.name).then_some(column)
        }
        None => None,
    };
    Ok(Order { sort, key })
}

/// The position after a row: its sort value (if sorted by another column)
/// and its key, from the row's values.
pub fn position(table: &Table, order: &Order<'_>, row: &[Option<String>]) -> Vec<Option<String>> {
    let index = |name: &str| table.columns.iter().position(|c| c.name == name);
    order
        .sort
        .iter()
        .chain(order.key.iter())
        .map(|column| index(&column.name).and_then(|i| row.get(i).cloned().flatten()))
        .collect()
}

/// The statement of one table page (or, with `limit` None, of all the
/// filtered rows in the same order, for exports). Ordered by the key
/// (one index range), or by another column with the key breaking ties;
/// pages continue after the last row's position (keyset, no OFFSET).
pub fn page_sql(table: &Table, listing: &Listing, limit: Option<i64>) -> Result<Sql> {
    let mut sql = Sql::default();
    let mut clauses = conditions(table, listing, &mut sql)?;
    let order = order(table, listing)?;
    let direction = if listing.desc { "DESC" } else { "ASC" };
    let key_list = |prefix: &str| {
        order
            .key
            .iter()
            .map(|c| format!("{prefix}{}", c.ident))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(after) = &listing.after {
        let expected = order.key.len() + usize::from(order.sort.is_some());
        if after.len() != expected || order.key.is_empty() {
            return Err(StudioError::BadRequest(
                "the page position does not fit this table's order; start from the first page"
                    .into(),
            ));
        }
        let (sort_value, key_values) = match order.sort {
            Some(_) => (Some(after[0].clone()), &after[1..]),
            None => (None, &after[..]),
        };
        let keys: Vec<String> = order
            .key
            .iter()
            .zip(key_values)
            .map(|(column, value)| sql.param(value.clone(), &column.sql_type))
            .collect();
        let key_tuple = format!("({})", key_list("t."));
        let key_params = keys.join(", ");
        let keys = format!("({key_params})");
        clauses.push(match (order.sort, sort_value) {
            (None, _) => {
                let op = if listing.desc { "<" } else { ">" };
                format!("{key_tuple} {op} {keys}")
            }
            // Without NULLs, one row comparison: one index range when an
            // index starts with the column.
            (Some(column), Some(Some(value))) if column.not_null => {
                let op = if listing.desc { "<" } else { ">" };
                let value = sql.param(Some(value), &column.sql_type);
                format!(
                    "(t.{}, {}) {op} ({value}, {key_params})",
                    column.ident,
                    key_list("t.")
                )
            }
            // NULLs come last in both directions.
            (Some(column), Some(Some(value))) => {
                let op = if listing.desc { "<" } else { ">" };
                let ident = format!("t.{}", column.ident);
                let value = sql.param(Some(value), &column.sql_type);
                format!(
                    "({ident} {op} {value} OR ({ident} = {value} AND {key_tuple} > {keys}) OR {ident} IS NULL)"
                )
            }
            (Some(column), _) => {
                format!("(t.{} IS NULL AND {key_tuple} > {keys})", column.ident)
            }
        });
    }
    sql.text = format!("SELECT {} FROM {} t", select_all(table), table.ident);
    if !clauses.is_empty() {
        sql.text.push_str(" WHERE ");
        sql.text.push_str(&clauses.join(" AND "));
    }
    let ordering = match order.sort {
        None => order
            .key
            .iter()
            .map(|c| format!("t.{} {direction}", c.ident))
            .collect::<Vec<_>>(),
        // The key follows the sort's direction, so that an index on
        // (column, key) or (column) serves the order.
        Some(column) if column.not_null => std::iter::once(&column.ident)
            .chain(order.key.iter().map(|c| &c.ident))
            .map(|ident| format!("t.{ident} {direction}"))
            .collect(),
        Some(column) => std::iter::once(format!("t.{} {direction} NULLS LAST", column.ident))
            .chain(order.key.iter().map(|c| format!("t.{} ASC", c.ident)))
            .collect(),
    };
    if !ordering.is_empty() {
        sql.text.push_str(" ORDER BY ");
        sql.text.push_str(&ordering.join(", "));
    }
    if let Some(limit) = limit {
        let limit = sql.param(Some(limit.to_string()), "bigint");
        sql.text.push_str(&format!(" LIMIT {limit}"));
    }
    Ok(sql)
}

/// The rows whose `columns` equal `values` (at most `limit`).
pub fn rows_where(table: &Table, columns: &[(&Column, Option<String>)], limit: i64) -> Sql {
    let mut sql = Sql::default();
    let clauses = sql.equal("t", columns);
    let limit = sql.param(Some(limit.to_string()), "bigint");
    sql.text = format!(
        "SELECT {} FROM {} t WHERE {clauses} LIMIT {limit}",
        select_all(table),
        table.ident,
    );
    sql
}

/// How many rows have `columns` equal to `values`, counting to `cap` at most.
pub fn count_where(table: &Table, columns: &[(&Column, Option<String>)], cap: i64) -> Sql {
    let mut sql = Sql::default();
    let clauses = sql.equal("t", columns);
    let cap = sql.param(Some(cap.to_string()), "bigint");
    sql.text = format!(
        "SELECT count(*) AS n FROM (SELECT 1 FROM {} t WHERE {clauses} LIMIT {cap}) s",
        table.ident,
    );
    sql
}

/// A table, its row count (exact up to [`EXACT_COUNT_LIMIT`], else the
/// planner's estimate) and its size.
#[derive(Debug, Clone)]
pub struct TableSize {
    pub name: String,
    pub rows: i64,
    pub estimated: bool,
    pub size: String,
}

/// Tables with at most this many rows (by the statistics) are counted exactly.
pub const EXACT_COUNT_LIMIT: i64 = 10_000;

#[derive(QueryableByName)]
struct SizeRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    estimate: i64,
    #[diesel(sql_type = Text)]
    size: String,
}

pub async fn table_sizes(conn: &mut AsyncPgConnection, schema: &Schema) -> Result<Vec<TableSize>> {
    let rows: Vec<SizeRow> = diesel::sql_query(
        "SELECT c.relname::text AS name, c.reltuples::int8 AS estimate,
                pg_size_pretty(pg_total_relation_size(c.oid)) AS size
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r'
         ORDER BY c.relname",
    )
    .load(conn)
    .await?;
    let mut sizes = Vec::new();
    for row in rows {
        let Some(table) = schema.tables.get(&row.name) else {
            continue;
        };
        // reltuples is -1 before the first ANALYZE.
        let (rows, estimated) =
            if (0..=EXACT_COUNT_LIMIT).contains(&row.estimate) || row.estimate < 0 {
                let sql = Sql {
                    text: format!(
                        "SELECT count(*) AS n FROM (SELECT 1 FROM {} LIMIT {}) s",
                        table.ident,
                        EXACT_COUNT_LIMIT + 1
                    ),
                    params: Vec::new(),
                };
                let n = sql.count(conn).await?;
                (n, n > EXACT_COUNT_LIMIT)
            } else {
                (row.estimate, true)
            };
        sizes.push(TableSize {
            name: row.name,
            rows,
            estimated,
            size: row.size,
        });
    }
    Ok(sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn listings_read_filters_order_and_position() {
        let listing = Listing::from_params(&params(&[
            ("q.title", "rust"),
            ("eq.processing_status", "failed"),
            ("min.duration", ""),
            ("sort", "created_at"),
            ("dir", "desc"),
            ("after", r#"["2026-01-01 00:00:00+00","v1"]"#),
        ]))
        .expect("valid");
        assert_eq!(listing.conditions.len(), 2);
        assert_eq!(listing.value(Op::Contains, "title"), Some("rust"));
        assert!(listing.desc);
        assert_eq!(listing.after.as_ref().map(Vec::len), Some(2));
        assert!(Listing::from_params(&params(&[("after", "nope")])).is_err());
        assert!(Listing::from_params(&params(&[("limit", "0")])).is_err());
    }

    #[test]
    fn like_wildcards_in_a_search_are_literal() {
        assert_eq!(contains_pattern(r"50%_a\b"), r"%50\%\_a\\b%");
    }
}
