//! `mv-admin inspect table`: browse any table's rows.
//!
//! Table and column names are checked against the catalog and only the
//! catalog's own spelling, quoted, goes into the statement; values are bound
//! as parameters. Nothing typed on the command line becomes SQL.

use schema_engine::inspect::table::{Browse, Condition, Rows, parse_condition};
use serde_json::Value;

use crate::output::{Cell, DIM, Fields, HEADER, Table, paint};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The table's name, as in the overview.
    pub name: String,
    /// Show at most this many rows.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=1000))]
    pub limit: i64,
    /// Only the rows whose column equals the value; repeat to require
    /// several. The value is read as the column's type.
    #[arg(long = "where", value_name = "COLUMN=VALUE", value_parser = parse_condition)]
    pub conditions: Vec<Condition>,
}

/// A value for people: text as it is, JSON documents pretty-printed.
fn display(value: &Value) -> Cell {
    match value {
        Value::Null => Cell::styled("NULL", DIM),
        Value::String(text) => text.as_str().into(),
        Value::Array(_) | Value::Object(_) => serde_json::to_string_pretty(value)
            .unwrap_or_default()
            .into(),
        other => other.to_string().into(),
    }
}

impl From<Args> for Browse {
    fn from(args: Args) -> Self {
        Self {
            name: args.name,
            limit: args.limit,
            conditions: args.conditions,
        }
    }
}

/// The rows as a table when they fit on one line each (and in the
/// terminal, if any), else one block of fields per row.
pub fn render(rows: &Rows, width: Option<usize>) -> String {
    let shown = rows.rows.len();
    let mut out = format!(
        "{}: {shown} row{}{}\n",
        paint(HEADER, &crate::output::shown(&rows.table)),
        if shown == 1 { "" } else { "s" },
        if shown as i64 == rows.limit {
            format!(" (the first {}; --limit shows more)", rows.limit)
        } else {
            String::new()
        }
    );
    if rows.rows.is_empty() {
        return out;
    }
    let cells: Vec<Vec<Cell>> = rows
        .rows
        .iter()
        .map(|row| {
            rows.columns
                .iter()
                .map(|c| display(row.get(&c.name).unwrap_or(&Value::Null)))
                .collect()
        })
        .collect();
    let mut table = Table::new(rows.columns.iter().map(|c| c.name.as_str()));
    for row in &cells {
        table.push(row.clone());
    }
    let one_line = cells.iter().flatten().all(|c| !c.text().contains('\n'));
    if one_line && width.is_none_or(|w| table.natural_width() <= w) {
        out.push_str(&table.render(None));
        return out;
    }
    for (n, row) in cells.iter().enumerate() {
        out.push_str(&paint(DIM, &format!("-- row {} --\n", n + 1)));
        let mut fields = Fields::new();
        for (column, cell) in rows.columns.iter().zip(row) {
            fields.add(&column.name, cell.clone());
        }
        out.push_str(&fields.render());
    }
    out
}
