//! The text of each DDL statement a plan holds. Names come quoted by
//! PostgreSQL (`ident` fields) and definitions are its own deparsed text,
//! so nothing here needs to understand SQL.

use crate::catalog::{Column, Constraint, ConstraintKind, Function, Index, Table, Trigger};

/// A string literal; `standard_conforming_strings` is on since PostgreSQL 9.1.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `name type [DEFAULT expr] [NOT NULL]`, as in `CREATE TABLE`.
pub fn column_definition(column: &Column) -> String {
    let mut text = format!("{} {}", column.ident, column.sql_type);
    if let Some(default) = &column.default {
        text.push_str(" DEFAULT ");
        text.push_str(default);
    }
    if column.not_null {
        text.push_str(" NOT NULL");
    }
    text
}

/// The table with its columns, primary key, unique and check constraints;
/// foreign keys are added once every table exists.
pub fn create_table(table: &Table) -> String {
    let mut lines: Vec<String> = table.columns.iter().map(column_definition).collect();
    let mut constraints: Vec<&Constraint> = table
        .constraints
        .iter()
        .filter(|k| k.kind != ConstraintKind::ForeignKey)
        .collect();
    constraints.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    lines.extend(
        constraints
            .iter()
            .map(|k| format!("CONSTRAINT {} {}", k.ident, k.definition)),
    );
    format!(
        "CREATE TABLE {} (\n    {}\n);",
        table.ident,
        lines.join(",\n    ")
    )
}

pub fn drop_table(table: &Table) -> String {
    format!("DROP TABLE {};", table.ident)
}

pub fn rename_table(from: &str, to: &str) -> String {
    format!("ALTER TABLE {from} RENAME TO {to};")
}

pub fn add_column(table: &Table, column: &Column) -> String {
    format!(
        "ALTER TABLE {} ADD COLUMN {};",
        table.ident,
        column_definition(column)
    )
}

pub fn drop_column(table: &Table, column: &Column) -> String {
    format!("ALTER TABLE {} DROP COLUMN {};", table.ident, column.ident)
}

pub fn rename_column(table: &str, from: &str, to: &str) -> String {
    format!("ALTER TABLE {table} RENAME COLUMN {from} TO {to};")
}

/// The explicit cast makes conversions without an implicit one (text to
/// integer) work; where one exists it changes nothing.
pub fn alter_type(table: &Table, column: &Column) -> String {
    format!(
        "ALTER TABLE {t} ALTER COLUMN {c} TYPE {ty} USING {c}::{ty};",
        t = table.ident,
        c = column.ident,
        ty = column.sql_type
    )
}

pub fn set_default(table: &Table, column: &Column, default: &str) -> String {
    format!(
        "ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {default};",
        table.ident, column.ident
    )
}

pub fn drop_default(table: &Table, column: &Column) -> String {
    format!(
        "ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT;",
        table.ident, column.ident
    )
}

pub fn set_not_null(table: &Table, column: &Column) -> String {
    format!(
        "ALTER TABLE {} ALTER COLUMN {} SET NOT NULL;",
        table.ident, column.ident
    )
}

pub fn drop_not_null(table: &Table, column: &Column) -> String {
    format!(
        "ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL;",
        table.ident, column.ident
    )
}

pub fn add_constraint(table: &Table, constraint: &Constraint) -> String {
    format!(
        "ALTER TABLE {} ADD CONSTRAINT {} {};",
        table.ident, constraint.ident, constraint.definition
    )
}

pub fn drop_constraint(table: &Table, constraint: &Constraint) -> String {
    format!(
        "ALTER TABLE {} DROP CONSTRAINT {};",
        table.ident, constraint.ident
    )
}

pub fn rename_constraint(table: &Table, from: &Constraint, to: &Constraint) -> String {
    format!(
        "ALTER TABLE {} RENAME CONSTRAINT {} TO {};",
        table.ident, from.ident, to.ident
    )
}

pub fn create_index(index: &Index) -> String {
    format!("{};", index.definition)
}

pub fn drop_index(index: &Index) -> String {
    format!("DROP INDEX {};", index.ident)
}

pub fn rename_index(from: &Index, to: &Index) -> String {
    format!("ALTER INDEX {} RENAME TO {};", from.ident, to.ident)
}

pub fn comment_on_table(table: &Table, comment: Option<&str>) -> String {
    format!(
        "COMMENT ON TABLE {} IS {};",
        table.ident,
        comment_text(comment)
    )
}

pub fn comment_on_column(table: &Table, column: &Column, comment: Option<&str>) -> String {
    format!(
        "COMMENT ON COLUMN {}.{} IS {};",
        table.ident,
        column.ident,
        comment_text(comment)
    )
}

/// The catalog's own `CREATE OR REPLACE FUNCTION` statement, which both
/// creates and replaces.
pub fn create_function(function: &Function) -> String {
    format!("{};", function.definition.trim_end())
}

pub fn drop_function(function: &Function) -> String {
    format!("DROP FUNCTION {};", function.signature)
}

pub fn comment_on_function(function: &Function) -> String {
    format!(
        "COMMENT ON FUNCTION {} IS {};",
        function.signature,
        comment_text(function.comment.as_deref())
    )
}

pub fn create_trigger(trigger: &Trigger) -> String {
    format!("{};", trigger.definition)
}

pub fn drop_trigger(table: &Table, trigger: &Trigger) -> String {
    format!("DROP TRIGGER {} ON {};", trigger.ident, table.ident)
}

pub fn comment_on_trigger(table: &Table, trigger: &Trigger) -> String {
    format!(
        "COMMENT ON TRIGGER {} ON {} IS {};",
        trigger.ident,
        table.ident,
        comment_text(trigger.comment.as_deref())
    )
}

fn comment_text(comment: Option<&str>) -> String {
    comment.map_or_else(|| "NULL".to_string(), literal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_double_their_quotes() {
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal(r"a\b"), r"'a\b'");
    }
}
