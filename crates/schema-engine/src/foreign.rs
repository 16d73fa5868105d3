//! Foreign tables and schemas: what shares the database but belongs to
//! someone else (the auth library's tables, drizzle's schema), declared in
//! `schema.sql` by a comment line PostgreSQL ignores:
//!
//! ```sql
//! -- mv:foreign account, session, verification, drizzle.*
//! ```
//!
//! A bare name is a table of `public`; `name.*` is a whole schema. push and
//! generate leave foreign tables out of both sides of every comparison, so
//! they never plan a statement on them; `schema.rs` leaves them out;
//! `inspect` shows them, marked.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::catalog::Schema;
use crate::error::{Result, bail};

/// What starts a declaration line.
pub const MARKER: &str = "-- mv:foreign";

/// What starts every directive line of schema.sql; anything else after it
/// is a typo, refused.
const DIRECTIVE: &str = "-- mv:";

/// The tables of `public` and the schemas declared foreign.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Foreign {
    pub tables: BTreeSet<String>,
    pub schemas: BTreeSet<String>,
}

impl Foreign {
    /// Reads the declaration lines of `sql`; `source` names the file in errors.
    pub fn parse(sql: &str, source: &str) -> Result<Self> {
        let mut foreign = Self::default();
        for (number, line) in sql.lines().enumerate() {
            let line = line.trim();
            let Some(rest) = line.strip_prefix(DIRECTIVE) else {
                continue;
            };
            let line_no = number + 1;
            let Some(list) = line.strip_prefix(MARKER) else {
                bail!(
                    "{source}:{line_no}: unknown directive `{}`; the only one is `{MARKER} \
                     table, other_table, schema.*`",
                    rest.split_whitespace().next().unwrap_or_default()
                );
            };
            if !list.is_empty() && !list.starts_with(char::is_whitespace) {
                bail!(
                    "{source}:{line_no}: `{MARKER}` must be followed by a space and a list of \
                     names"
                );
            }
            let names: Vec<&str> = list.split(',').map(str::trim).collect();
            if names.iter().all(|n| n.is_empty()) {
                bail!("{source}:{line_no}: `{MARKER}` names no table or schema");
            }
            for name in names {
                foreign
                    .add(name)
                    .map_err(|why| crate::Error::Invalid(format!("{source}:{line_no}: {why}")))?;
            }
        }
        Ok(foreign)
    }

    fn add(&mut self, name: &str) -> Result<(), String> {
        let (schema, table) = match name.split_once('.') {
            Some((schema, "*")) => (Some(schema), None),
            Some(_) => {
                return Err(format!(
                    "`{name}`: name a table of public without its schema, or a whole schema as \
                     `schema.*`"
                ));
            }
            None => (None, Some(name)),
        };
        let word = schema.or(table).unwrap_or_default();
        if !is_name(word) {
            return Err(format!(
                "`{name}` is not a table or schema name (letters, digits, `_` and `$`, not \
                 starting with a digit; an empty entry is a stray comma)"
            ));
        }
        match (schema, table) {
            (Some("public"), _) => Err(
                "`public.*`: public holds this project's tables; declare its foreign tables by \
                 name"
                    .to_string(),
            ),
            (Some(schema), _) => {
                self.schemas.insert(schema.to_string());
                Ok(())
            }
            (None, Some(table)) => {
                self.tables.insert(table.to_string());
                Ok(())
            }
            (None, None) => unreachable!("a name is a table or a schema"),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty() && self.schemas.is_empty()
    }

    /// Whether the table `name` of `public` is foreign.
    pub fn is_foreign_table(&self, name: &str) -> bool {
        self.tables.contains(name)
    }

    /// `schema` without the foreign tables and whatever belongs to them.
    pub fn remove_from(&self, schema: &Schema) -> Schema {
        let mut owned = schema.clone();
        owned.tables.retain(|name, _| !self.tables.contains(name));
        owned
            .unsupported
            .retain(|u| u.table.as_ref().is_none_or(|t| !self.tables.contains(t)));
        owned
    }

    /// Fails when `desired` (loaded from `source`) creates a table the
    /// declaration calls foreign: either it is the project's or it is not.
    pub fn ensure_not_created(&self, desired: &Schema, source: &str) -> Result<()> {
        let both: Vec<&str> = desired
            .tables
            .keys()
            .filter(|name| self.tables.contains(*name))
            .map(String::as_str)
            .collect();
        if !both.is_empty() {
            bail!(
                "{source} creates {} and also declares {} foreign (`{MARKER}`); a table is either \
                 the project's or foreign: remove one of the two",
                both.join(", "),
                if both.len() == 1 { "it" } else { "them" }
            );
        }
        Ok(())
    }

    /// The declaration line for `names`, as [`Foreign::parse`] reads it.
    pub fn line(names: &[String]) -> String {
        format!("{MARKER} {}", names.join(", "))
    }

    /// Whether `name` (a table, or `schema.*`) is declared.
    pub fn declares(&self, name: &str) -> bool {
        match name.strip_suffix(".*") {
            Some(schema) => self.schemas.contains(schema),
            None => self.tables.contains(name),
        }
    }
}

/// `sql` (schema.sql's text, named `source`) with a declaration of those of
/// `names` (tables, or `schema.*`) it does not declare yet, and which they
/// are; `None` when it declares them all.
pub fn declare(
    sql: &str,
    source: &str,
    names: &[String],
    why: &str,
) -> Result<Option<(String, Vec<String>)>> {
    let declared = Foreign::parse(sql, source)?;
    let missing: Vec<String> = names
        .iter()
        .filter(|name| !declared.declares(name))
        .cloned()
        .collect();
    if missing.is_empty() {
        return Ok(None);
    }
    let mut text = sql.to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("\n-- {why}\n{MARKER} {}\n", missing.join(", ")));
    // What was written must read back as declared.
    let after = Foreign::parse(&text, source)?;
    debug_assert!(missing.iter().all(|name| after.declares(name)));
    Ok(Some((text, missing)))
}

fn is_name(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tables_and_schemas() {
        let sql =
            "CREATE TABLE t (id int);\n-- mv:foreign session, account\n  -- mv:foreign drizzle.*\n";
        let foreign = Foreign::parse(sql, "schema.sql").expect("parses");
        assert!(foreign.is_foreign_table("session"));
        assert!(foreign.is_foreign_table("account"));
        assert!(!foreign.is_foreign_table("t"));
        assert!(foreign.schemas.contains("drizzle"));
    }

    #[test]
    fn refuses_bad_declarations_naming_the_line() {
        for (sql, expected) in [
            ("\n-- mv:foriegn session", "schema.sql:2: unknown directive"),
            ("-- mv:foreign", "names no table"),
            ("-- mv:foreignsession", "followed by a space"),
            ("-- mv:foreign session,,account", "stray comma"),
            ("-- mv:foreign public.*", "public holds"),
            ("-- mv:foreign auth.session", "without its schema"),
            ("-- mv:foreign 1abc", "not a table or schema name"),
        ] {
            let error = Foreign::parse(sql, "schema.sql").expect_err(sql);
            assert!(error.to_string().contains(expected), "{sql}: {error}");
        }
    }

    #[test]
    fn declares_only_what_is_missing() {
        let names = ["session".to_string(), "drizzle.*".to_string()];
        let (text, added) = declare("CREATE TABLE t (id int);", "s", &names, "theirs")
            .expect("declares")
            .expect("something was missing");
        assert_eq!(added, names);
        assert!(
            text.ends_with("\n-- theirs\n-- mv:foreign session, drizzle.*\n"),
            "{text}"
        );
        assert_eq!(declare(&text, "s", &names, "theirs").expect("reads"), None);
    }

    #[test]
    fn other_comments_are_not_declarations() {
        let foreign = Foreign::parse("-- mv foreign session\n-- a comment", "s").expect("parses");
        assert!(foreign.is_empty());
    }
}
