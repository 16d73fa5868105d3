//! Digests of every row, computed by the server in one pass and constant
//! memory: per table, the row count and the sum of a 60-bit prefix of the
//! MD5 of each row's text. A sum does not depend on the order of the rows,
//! and a changed row changes it.
//!
//! The app's tables are digested in a canonical form, so a conversion that
//! keeps every value digests the same: columns in name order, timestamps as
//! seconds since the epoch (a `timestamp` read as UTC, as drizzle-orm wrote
//! it), JSON as jsonb's text. The auth library's tables are digested byte
//! for byte: the row in PostgreSQL's binary format (`record_send`), which
//! no session setting (DateStyle, TimeZone) changes.
//!
//! During a live conversion the application keeps writing. Its writes are
//! journaled by triggers (the key of each row it touched, and that row's
//! digest before), so the comparison can leave out exactly the rows it
//! changed: what remains must be the same before and after.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};

use super::steps::PREFIX;
use crate::catalog::Table;
use crate::error::{Context as _, Result};

/// The table journaling the application's writes during a live conversion.
pub const JOURNAL: &str = "public.__mv_adopt_journal";
/// The journal's triggers, one per table.
pub const JOURNAL_TRIGGER: &str = "__mv_adopt_journal";
/// Set to `converting` in adopt's own session, whose writes (the backfill)
/// are the conversion itself, not the application's.
pub const SESSION_SETTING: &str = "mv.adopt";

/// A table's digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    pub rows: i64,
    /// The sum of the rows' 60-bit hashes (at most 2^60 × rows).
    #[serde(with = "as_text")]
    pub sum: i128,
}

impl std::ops::Sub for Digest {
    type Output = Self;
    fn sub(self, other: Self) -> Self {
        Self {
            rows: self.rows - other.rows,
            sum: self.sum - other.sum,
        }
    }
}

mod as_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &i128, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i128, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// How one table's rows are digested.
#[derive(Debug, Clone)]
pub struct Digestible {
    pub name: String,
    pub ident: String,
    /// Primary key column idents.
    key: Vec<String>,
    /// For the canonical form: (ident, type name), in name order; `None`
    /// digests the row's text byte for byte.
    canonical: Option<Vec<(String, String)>>,
}

impl Digestible {
    /// An app table, digested in the canonical form of `baseline`'s columns
    /// (whose names the table has before and after the conversion).
    pub fn canonical(baseline: &Table) -> Self {
        let mut columns: Vec<&crate::catalog::Column> = baseline.columns.iter().collect();
        columns.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            name: baseline.name.clone(),
            ident: baseline.ident.clone(),
            key: key_idents(baseline),
            canonical: Some(
                columns
                    .into_iter()
                    .map(|c| (c.ident.clone(), c.type_name.clone()))
                    .collect(),
            ),
        }
    }

    /// A table digested byte for byte.
    pub fn exact(table: &Table) -> Self {
        Self {
            name: table.name.clone(),
            ident: table.ident.clone(),
            key: key_idents(table),
            canonical: None,
        }
    }

    /// The row's canonical text (or bytes), over the row variable `row`.
    fn text(&self, row: &str) -> String {
        match &self.canonical {
            None => format!("record_send({row})"),
            Some(columns) => {
                let values: Vec<String> = columns
                    .iter()
                    .map(|(ident, type_name)| match type_name.as_str() {
                        // The same number for a timestamp read as UTC and
                        // the timestamptz it becomes.
                        "timestamp" | "timestamptz" => format!("extract(epoch FROM {row}.{ident})"),
                        // json's text as jsonb keeps it: json and jsonb alike.
                        "json" | "jsonb" => format!("({row}.{ident})::jsonb"),
                        _ => format!("{row}.{ident}"),
                    })
                    .collect();
                format!("jsonb_build_array({})::text", values.join(", "))
            }
        }
    }

    /// The row's 60-bit hash, over `row`.
    fn hash(&self, row: &str) -> String {
        format!(
            "('x' || substr(md5({}), 1, 15))::bit(60)::int8",
            self.text(row)
        )
    }

    /// The row's key as text, over `row`.
    fn key(&self, row: &str) -> String {
        let columns: Vec<String> = self.key.iter().map(|k| format!("{row}.{k}")).collect();
        format!("jsonb_build_array({})::text", columns.join(", "))
    }

    /// The digest of every row the session sees.
    pub async fn digest(&self, conn: &mut AsyncPgConnection) -> Result<Digest> {
        let row: DigestRow = diesel::sql_query(format!(
            "SELECT count(*)::int8 AS rows, coalesce(sum({}), 0)::text AS sum FROM {} AS t",
            self.hash("t"),
            self.ident
        ))
        .get_result(conn)
        .await
        .with_context(|| format!("Failed to digest the rows of {}", self.name))?;
        row.digest()
    }

    /// The journal function of this table: for each row the application
    /// changes, its key and its hash before (NULL for a row it inserts).
    pub fn journal_function(&self) -> String {
        let name = self.journal_function_name();
        let insert = |row: &str, hash: &str| {
            format!(
                "INSERT INTO {JOURNAL} (tbl, key, old_hash) VALUES ({}, {}, {hash});",
                crate::plan::ddl::literal(&self.name),
                self.key(row)
            )
        };
        format!(
            "CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $mv$
BEGIN
    IF current_setting('{SESSION_SETTING}', true) = 'converting' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        {new}
    ELSIF TG_OP = 'DELETE' THEN
        {old}
    ELSE
        {old}
        IF {new_key} IS DISTINCT FROM {old_key} THEN
            {new}
        END IF;
    END IF;
    RETURN NULL;
END
$mv$;",
            new = insert("NEW", "NULL"),
            old = insert("OLD", &self.hash("OLD")),
            new_key = self.key("NEW"),
            old_key = self.key("OLD"),
        )
    }

    fn journal_function_name(&self) -> String {
        format!("public.\"{PREFIX}adopt_journal_{}\"", self.name)
    }

    /// The trigger that journals the application's writes to this table.
    pub fn journal_trigger(&self) -> String {
        format!(
            "CREATE TRIGGER \"{JOURNAL_TRIGGER}\" AFTER INSERT OR UPDATE OR DELETE ON {} \
             FOR EACH ROW EXECUTE FUNCTION {}();",
            self.ident,
            self.journal_function_name()
        )
    }

    /// Removes the trigger and its function.
    pub fn journal_removal(&self) -> Vec<String> {
        vec![
            format!(
                "DROP TRIGGER IF EXISTS \"{JOURNAL_TRIGGER}\" ON {};",
                self.ident
            ),
            format!(
                "DROP FUNCTION IF EXISTS {}();",
                self.journal_function_name()
            ),
        ]
    }

    /// The digest now, and the part of it (and of the digest at `snapshot`)
    /// made of the rows the application changed since `snapshot`.
    pub async fn journaled(
        &self,
        conn: &mut AsyncPgConnection,
        snapshot: &str,
    ) -> Result<Journaled> {
        let row: JournaledRow = diesel::sql_query(format!(
            "WITH changed AS (
                 SELECT DISTINCT ON (key) key, old_hash FROM {JOURNAL}
                 WHERE tbl = $1 AND NOT pg_visible_in_snapshot(xid, $2::pg_snapshot)
                 ORDER BY key, id
             ), now AS (
                 SELECT {key} AS key, {hash} AS hash FROM {table} AS t
             )
             SELECT count(*)::int8 AS rows, coalesce(sum(now.hash), 0)::text AS sum,
                    count(changed.key)::int8 AS changed_rows,
                    coalesce(sum(now.hash) FILTER (WHERE changed.key IS NOT NULL), 0)::text AS changed_sum,
                    (SELECT count(*) FROM changed)::int8 AS keys,
                    (SELECT count(old_hash) FROM changed)::int8 AS before_rows,
                    (SELECT coalesce(sum(old_hash), 0) FROM changed)::text AS before_sum
             FROM now LEFT JOIN changed ON changed.key = now.key",
            key = self.key("t"),
            hash = self.hash("t"),
            table = self.ident,
        ))
        .bind::<Text, _>(&self.name)
        .bind::<Text, _>(snapshot)
        .get_result(conn)
        .await
        .with_context(|| format!("Failed to digest the rows of {}", self.name))?;
        Ok(Journaled {
            now: DigestRow {
                rows: row.rows,
                sum: row.sum,
            }
            .digest()?,
            changed_now: DigestRow {
                rows: row.changed_rows,
                sum: row.changed_sum,
            }
            .digest()?,
            changed_before: DigestRow {
                rows: row.before_rows,
                sum: row.before_sum,
            }
            .digest()?,
            keys: row.keys,
        })
    }
}

/// A table's digest now, with the application's changes set apart.
#[derive(Debug, Clone, Copy)]
pub struct Journaled {
    pub now: Digest,
    /// The rows the application changed, as they are now.
    pub changed_now: Digest,
    /// The same rows as they were before (those that existed).
    pub changed_before: Digest,
    /// How many rows (keys) the application changed.
    pub keys: i64,
}

fn key_idents(table: &Table) -> Vec<String> {
    table
        .primary_key()
        .map(|k| {
            k.columns
                .iter()
                .filter_map(|c| table.column(c).map(|c| c.ident.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// The journal table (created with the progress record).
pub fn journal_table() -> String {
    format!(
        "CREATE TABLE {JOURNAL} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tbl text NOT NULL,
    key text NOT NULL,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    old_hash bigint
);
COMMENT ON TABLE {JOURNAL} IS 'Rows the application changed during an unfinished mv-admin adopt; dropped when it finishes.';"
    )
}

#[derive(QueryableByName)]
struct DigestRow {
    #[diesel(sql_type = BigInt)]
    rows: i64,
    #[diesel(sql_type = Text)]
    sum: String,
}

impl DigestRow {
    fn digest(&self) -> Result<Digest> {
        let sum = self.sum.parse().map_err(|e| {
            crate::error::Error::Invalid(format!(
                "a digest sum {:?} is not a number: {e}",
                self.sum
            ))
        })?;
        Ok(Digest {
            rows: self.rows,
            sum,
        })
    }
}

#[derive(QueryableByName)]
struct JournaledRow {
    #[diesel(sql_type = BigInt)]
    rows: i64,
    #[diesel(sql_type = Text)]
    sum: String,
    #[diesel(sql_type = BigInt)]
    changed_rows: i64,
    #[diesel(sql_type = Text)]
    changed_sum: String,
    #[diesel(sql_type = BigInt)]
    keys: i64,
    #[diesel(sql_type = BigInt)]
    before_rows: i64,
    #[diesel(sql_type = Text)]
    before_sum: String,
}
