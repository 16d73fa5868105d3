//! Rename hints: `--rename old_table=new_table` and
//! `--rename table.old_column=new_column`. A rename is never guessed: a
//! dropped column and an added one are just that, unless a hint says so.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use crate::error::{Context as _, Result};
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};

use super::{Action, Step, ddl};
use crate::catalog::Schema;

/// One rename hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rename {
    Table {
        from: String,
        to: String,
    },
    /// `table` may be the table's old or new name.
    Column {
        table: String,
        from: String,
        to: String,
    },
}

impl FromStr for Rename {
    type Err = String;

    fn from_str(hint: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{hint:?} is not a rename: expected old_table=new_table or table.old_column=new_column"
            )
        };
        let (left, to) = hint.split_once('=').ok_or_else(bad)?;
        let (left, to) = (left.trim(), to.trim());
        if left.is_empty() || to.is_empty() || to.contains('.') || to.contains('=') {
            return Err(bad());
        }
        match left.split_once('.') {
            None => Ok(Self::Table {
                from: left.to_string(),
                to: to.to_string(),
            }),
            Some((table, from)) if !table.is_empty() && !from.is_empty() && !from.contains('.') => {
                Ok(Self::Column {
                    table: table.to_string(),
                    from: from.to_string(),
                    to: to.to_string(),
                })
            }
            Some(_) => Err(bad()),
        }
    }
}

impl std::fmt::Display for Rename {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Table { from, to } => write!(f, "{from}={to}"),
            Self::Column { table, from, to } => write!(f, "{table}.{from}={to}"),
        }
    }
}

/// The hints that undo `renames` (for a migration's down.sql).
pub fn reversed(renames: &[Rename]) -> Vec<Rename> {
    renames
        .iter()
        .map(|rename| match rename {
            Rename::Table { from, to } => Rename::Table {
                from: to.clone(),
                to: from.clone(),
            },
            Rename::Column { table, from, to } => Rename::Column {
                table: table.clone(),
                from: to.clone(),
                to: from.clone(),
            },
        })
        .collect()
}

/// Checks each hint against both schemas and executes it on `conn`:
/// tables first, then columns. Returns the executed steps.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    current: &Schema,
    desired: &Schema,
    renames: &[Rename],
) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    // Table names as they are after the table renames, old name -> new name.
    let mut moved: BTreeMap<&str, &str> = BTreeMap::new();
    let mut renamed: BTreeSet<(&str, &str)> = BTreeSet::new();
    for rename in renames {
        let Rename::Table { from, to } = rename else {
            continue;
        };
        let fail =
            |reason: String| crate::error::Error::Invalid(format!("--rename {rename}: {reason}"));
        let old = current
            .tables
            .get(from)
            .ok_or_else(|| fail(format!("the database has no table {from}")))?;
        if current.tables.contains_key(to) || moved.values().any(|t| t == to) {
            return Err(fail(format!("the database has a table {to} already")));
        }
        let new = desired
            .tables
            .get(to)
            .ok_or_else(|| fail(format!("schema.sql has no table {to}")))?;
        moved.insert(from, to);
        steps.push(Step::new(
            Action::RenameTable,
            to,
            ddl::rename_table(&old.ident, &new.ident),
        ));
    }
    for rename in renames {
        let Rename::Column { table, from, to } = rename else {
            continue;
        };
        let fail =
            |reason: String| crate::error::Error::Invalid(format!("--rename {rename}: {reason}"));
        let new_name = moved.get(table.as_str()).copied().unwrap_or(table.as_str());
        let old_name = moved
            .iter()
            .find(|(_, new)| **new == new_name)
            .map_or(new_name, |(old, _)| *old);
        let (Some(old_table), Some(new_table)) =
            (current.tables.get(old_name), desired.tables.get(new_name))
        else {
            return Err(fail(format!(
                "the database and schema.sql do not both have table {table}"
            )));
        };
        let old = old_table
            .column(from)
            .ok_or_else(|| fail(format!("table {table} has no column {from}")))?;
        if old_table.column(to).is_some() {
            return Err(fail(format!("table {table} has a column {to} already")));
        }
        if !renamed.insert((new_name, from.as_str())) || !renamed.insert((new_name, to.as_str())) {
            return Err(fail("another hint renames the same column".to_string()));
        }
        let new = new_table
            .column(to)
            .ok_or_else(|| fail(format!("schema.sql has no column {new_name}.{to}")))?;
        steps.push(
            Step::new(
                Action::RenameColumn,
                new_name,
                ddl::rename_column(&new_table.ident, &old.ident, &new.ident),
            )
            .column(to),
        );
    }
    for step in &steps {
        conn.batch_execute(&step.sql)
            .await
            .with_context(|| format!("Failed to apply `{}`", step.sql))?;
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_parse() {
        assert_eq!(
            "video_summary.title=name".parse::<Rename>(),
            Ok(Rename::Column {
                table: "video_summary".into(),
                from: "title".into(),
                to: "name".into()
            })
        );
        assert_eq!(
            "tag=label".parse::<Rename>(),
            Ok(Rename::Table {
                from: "tag".into(),
                to: "label".into()
            })
        );
        for bad in ["tag", "=x", "tag=", "a.b.c=d", "a.b=c.d", ".b=c", "a.=c"] {
            let err = bad.parse::<Rename>().expect_err(bad);
            assert!(err.contains("expected old_table=new_table"), "{err}");
        }
    }

    #[test]
    fn reversing_swaps_the_names() {
        let hints = vec![
            "tag=label".parse::<Rename>().expect("hint"),
            "label.name=title".parse::<Rename>().expect("hint"),
        ];
        let back = reversed(&hints);
        assert_eq!(back[0].to_string(), "label=tag");
        assert_eq!(back[1].to_string(), "label.title=name");
        assert_eq!(reversed(&back), hints);
    }
}
