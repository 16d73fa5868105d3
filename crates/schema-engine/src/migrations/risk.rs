//! Statements that hold a lock for as long as they read or rewrite a whole
//! table. On a small table they are instant; on a large one the
//! application's reads or writes queue behind them for seconds or minutes.
//! `classify` finds them in a migration's text (sqlparser's AST, statement
//! by statement as the runner splits them); `assess` weighs them against the
//! tables' sizes in the database (`pg_class.reltuples`,
//! `pg_total_relation_size`), so `migrate` can warn before it starts.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, ColumnOption, FromTable, ObjectName,
    TableConstraint, TableFactor,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::source::{MigrationSet, SourceMigration};
use super::{Direction, MigrateError};
use crate::statements;

/// The default of `--warn-rows`: tables with fewer rows are not warned about.
pub const DEFAULT_WARN_ROWS: u64 = 100_000;

/// Functions whose value differs per row: a column added with one as its
/// default is filled row by row, which rewrites the table.
const VOLATILE: &[&str] = &[
    "random",
    "gen_random_uuid",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "clock_timestamp",
    "timeofday",
    "nextval",
    "txid_current",
    "pg_current_xact_id",
];

/// What a statement does to its table while holding its lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Writes the whole table anew (and its indexes).
    Rewrite,
    /// Reads every row to check it.
    Scan,
    /// Builds an index by reading every row.
    IndexBuild,
    /// Writes every row in the migration's transaction.
    WriteAll,
    /// Writes the rows matching a condition in the migration's
    /// transaction: how many, only the database's planner can say.
    WriteMatching,
}

impl Effect {
    fn verb(self) -> &'static str {
        match self {
            Self::Rewrite => "rewrites",
            Self::Scan => "scans",
            Self::IndexBuild => "builds an index over",
            Self::WriteAll => "writes every row of",
            Self::WriteMatching => "writes the matching rows of",
        }
    }
}

/// A statement that holds a blocking lock for as long as its table takes
/// to read or write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RiskyStatement {
    /// The 1-based line of the file it starts on.
    pub line: usize,
    /// The statement, white space collapsed, cut at 120 characters.
    pub statement: String,
    /// The table, as the statement names it.
    pub table: String,
    /// PostgreSQL's lock mode on it.
    pub lock: &'static str,
    /// What waits behind the lock.
    pub blocks: &'static str,
    pub effect: Effect,
    /// Why, in a few words (`ALTER COLUMN ... TYPE`).
    pub reason: String,
    /// For [`Effect::WriteMatching`]: the rows written are those of
    /// `SELECT 1 FROM <this>`, whose planner estimate is weighed instead
    /// of the table's size. Such a statement is risky only by its count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matching: Option<String>,
}

impl RiskyStatement {
    /// Whether it blocks a large table whatever it matches (all but a
    /// conditional UPDATE or DELETE, which depends on how many rows match).
    pub fn blocks_by_itself(&self) -> bool {
        self.matching.is_none()
    }
}

/// A risky statement of a pending migration on a table this large.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskWarning {
    /// The migration's folder name.
    pub migration: String,
    #[serde(flatten)]
    pub statement: RiskyStatement,
    /// `pg_class.reltuples`; for a table never analyzed, a count that
    /// stops past the threshold (then `rows_at_least`); for a conditional
    /// UPDATE or DELETE, the planner's estimate of the matching rows.
    pub rows: i64,
    pub rows_at_least: bool,
    /// `pg_total_relation_size`: the table, its indexes and TOAST.
    pub bytes: i64,
}

impl RiskWarning {
    /// One line: where, what, on which table, how large.
    pub fn describe(&self) -> String {
        let s = &self.statement;
        format!(
            "{} up.sql line {}: `{}` takes {} on {} and {} it ({}), {} {} rows, {}: {} wait until it ends",
            self.migration,
            s.line,
            s.statement,
            s.lock,
            s.table,
            s.effect.verb(),
            s.reason,
            if self.rows_at_least {
                "at least"
            } else {
                "about"
            },
            self.rows,
            human_bytes(self.bytes),
            s.blocks,
        )
    }
}

fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    if value < 1024.0 {
        return format!("{bytes} bytes");
    }
    let mut unit = "";
    for u in UNITS {
        value /= 1024.0;
        unit = u;
        if value < 1024.0 {
            break;
        }
    }
    format!("{value:.0} {unit}")
}

/// The risky statements of `sql`, a migration's file. `in_transaction`:
/// the file runs in one transaction (a whole-table UPDATE or DELETE then
/// keeps every row locked until the end). Statements on a table the same
/// file creates are left out (it is empty), and so are statements sqlparser
/// cannot read (they are not among the kinds looked for, or PostgreSQL will
/// refuse them).
pub fn classify(sql: &str, in_transaction: bool) -> Vec<RiskyStatement> {
    let Ok(split) = statements::split(sql) else {
        return Vec::new();
    };
    let mut file = FileState::default();
    let mut risky = Vec::new();
    for statement in split {
        let found = match Parser::parse_sql(&PostgreSqlDialect {}, statement.text) {
            Ok(parsed) => parsed
                .iter()
                .flat_map(|s| of_statement(s, in_transaction, &mut file))
                .collect(),
            Err(_) => by_words(statement.text).into_iter().collect::<Vec<_>>(),
        };
        for (table, risk) in found {
            if file.created.contains(&key(&table)) {
                continue;
            }
            risky.push(RiskyStatement {
                line: statement.line,
                statement: shorten(statement.text),
                table,
                lock: risk.lock,
                blocks: risk.blocks,
                effect: risk.effect,
                reason: risk.reason,
                matching: risk.matching,
            });
        }
    }
    risky
}

/// The risky statements of one migration's `up.sql`.
pub fn classify_migration(migration: &SourceMigration) -> Vec<RiskyStatement> {
    classify(
        migration.sql(Direction::Up).unwrap_or_default(),
        migration.run_in_transaction,
    )
}

/// What the statements before this one in the same file have done.
#[derive(Default)]
struct FileState {
    /// Tables the file creates: empty, so nothing on them blocks.
    created: HashSet<String>,
    /// The `CHECK (column IS NOT NULL)` constraints the file adds and has
    /// not dropped, by (table, constraint name; empty when unnamed).
    not_null_checks: HashMap<(String, String), NotNullCheck>,
}

impl FileState {
    /// Whether a valid CHECK proves the column NOT NULL, so that `SET NOT
    /// NULL` trusts it instead of scanning.
    fn proves_not_null(&self, table: &str, column: &str) -> bool {
        self.not_null_checks
            .iter()
            .any(|((on, _), check)| on == table && check.column == column && check.valid)
    }
}

struct NotNullCheck {
    column: String,
    /// Added without `NOT VALID`, or validated since.
    valid: bool,
}

struct Risk {
    lock: &'static str,
    blocks: &'static str,
    effect: Effect,
    reason: String,
    matching: Option<String>,
}

const ACCESS_EXCLUSIVE: &str = "ACCESS EXCLUSIVE";
const READS_AND_WRITES: &str = "reads and writes";
const WRITES: &str = "writes";

impl Risk {
    fn exclusive(effect: Effect, reason: impl Into<String>) -> Self {
        Self {
            lock: ACCESS_EXCLUSIVE,
            blocks: READS_AND_WRITES,
            effect,
            reason: reason.into(),
            matching: None,
        }
    }
}

fn of_statement(
    statement: &sqlparser::ast::Statement,
    in_transaction: bool,
    file: &mut FileState,
) -> Vec<(String, Risk)> {
    use sqlparser::ast::Statement as S;
    match statement {
        S::CreateTable(create) => {
            file.created.insert(key(&create.name.to_string()));
            Vec::new()
        }
        S::AlterTable(alter) => alter_table(&alter.name, &alter.operations, file),
        S::CreateIndex(index) if !index.concurrently => vec![(
            index.table_name.to_string(),
            Risk {
                lock: "SHARE",
                blocks: WRITES,
                effect: Effect::IndexBuild,
                reason: "CREATE INDEX without CONCURRENTLY".to_string(),
                matching: None,
            },
        )],
        S::Update(update) if in_transaction && update.from.is_none() => {
            let relation = &update.table.relation;
            table_of(relation)
                .map(|table| (table, writes("UPDATE", relation, update.selection.as_ref())))
                .into_iter()
                .collect()
        }
        S::Delete(delete) if in_transaction && delete.using.is_none() => {
            let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
            from.iter()
                .next()
                .and_then(|t| {
                    table_of(&t.relation).map(|table| {
                        (
                            table,
                            writes("DELETE", &t.relation, delete.selection.as_ref()),
                        )
                    })
                })
                .into_iter()
                .collect()
        }
        S::Vacuum(vacuum) if vacuum.full => vacuum
            .table_name
            .as_ref()
            .map(|name| {
                (
                    name.to_string(),
                    Risk::exclusive(Effect::Rewrite, "VACUUM FULL"),
                )
            })
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

/// An UPDATE or DELETE of `relation` (with its alias) in a transactional
/// migration: every row it writes stays locked until the migration commits.
fn writes(verb: &str, relation: &TableFactor, condition: Option<&sqlparser::ast::Expr>) -> Risk {
    match condition {
        None => Risk {
            lock: "ROW EXCLUSIVE and every row's lock",
            blocks: "writes of those rows",
            effect: Effect::WriteAll,
            reason: format!("{verb} without WHERE, in the migration's transaction"),
            matching: None,
        },
        Some(condition) => Risk {
            lock: "ROW EXCLUSIVE and the matching rows' locks",
            blocks: "writes of those rows",
            effect: Effect::WriteMatching,
            reason: format!(
                "{verb} ... WHERE, in the migration's transaction: its rows stay locked until the migration commits"
            ),
            matching: Some(format!("{relation} WHERE {condition}")),
        },
    }
}

fn table_of(relation: &TableFactor) -> Option<String> {
    match relation {
        TableFactor::Table { name, .. } => Some(name.to_string()),
        _ => None,
    }
}

fn alter_table(
    name: &ObjectName,
    operations: &[AlterTableOperation],
    file: &mut FileState,
) -> Vec<(String, Risk)> {
    let table = key(&name.to_string());
    let mut reasons: Vec<(Effect, &'static str, String)> = Vec::new();
    for operation in operations {
        match operation {
            AlterTableOperation::AddColumn { column_def, .. } => {
                let column = &column_def.name;
                let data_type = column_def.data_type.to_string().to_ascii_lowercase();
                if matches!(
                    data_type.as_str(),
                    "serial" | "bigserial" | "smallserial" | "serial2" | "serial4" | "serial8"
                ) {
                    reasons.push((
                        Effect::Rewrite,
                        ACCESS_EXCLUSIVE,
                        format!("ADD COLUMN {column} {data_type}"),
                    ));
                }
                for option in &column_def.options {
                    match &option.option {
                        ColumnOption::Default(expr) if is_volatile(&expr.to_string()) => reasons
                            .push((
                                Effect::Rewrite,
                                ACCESS_EXCLUSIVE,
                                format!("ADD COLUMN {column} with the volatile default {expr}"),
                            )),
                        ColumnOption::Generated { .. } | ColumnOption::Identity(_) => reasons
                            .push((
                                Effect::Rewrite,
                                ACCESS_EXCLUSIVE,
                                format!("ADD COLUMN {column} GENERATED"),
                            )),
                        ColumnOption::Check(_) => reasons.push((
                            Effect::Scan,
                            ACCESS_EXCLUSIVE,
                            format!("ADD COLUMN {column} with a CHECK"),
                        )),
                        ColumnOption::PrimaryKey(_) | ColumnOption::Unique(_) => reasons.push((
                            Effect::IndexBuild,
                            ACCESS_EXCLUSIVE,
                            format!("ADD COLUMN {column} with a unique index"),
                        )),
                        _ => {}
                    }
                }
            }
            AlterTableOperation::AlterColumn { column_name, op } => match op {
                AlterColumnOperation::SetDataType { .. } => reasons.push((
                    Effect::Rewrite,
                    ACCESS_EXCLUSIVE,
                    format!("ALTER COLUMN {column_name} TYPE, unless the types are binary-compatible"),
                )),
                AlterColumnOperation::SetNotNull
                    if file.proves_not_null(&table, &key(&column_name.to_string())) => {}
                AlterColumnOperation::SetNotNull => reasons.push((
                    Effect::Scan,
                    ACCESS_EXCLUSIVE,
                    format!(
                        "ALTER COLUMN {column_name} SET NOT NULL, unless a valid CHECK (... IS NOT NULL) proves it"
                    ),
                )),
                _ => {}
            },
            AlterTableOperation::ValidateConstraint { name } => {
                let constraint = (table.clone(), key(&name.to_string()));
                if let Some(check) = file.not_null_checks.get_mut(&constraint) {
                    check.valid = true;
                }
            }
            AlterTableOperation::DropConstraint { name, .. } => {
                file.not_null_checks
                    .remove(&(table.clone(), key(&name.to_string())));
            }
            AlterTableOperation::AddConstraint {
                constraint,
                not_valid,
            } => match constraint {
                TableConstraint::Check(check) => {
                    if let Some(column) = not_null_column(&check.expr) {
                        let name = check.name.as_ref().map(|n| key(&n.to_string()));
                        file.not_null_checks.insert(
                            (table.clone(), name.unwrap_or_default()),
                            NotNullCheck {
                                column,
                                valid: !not_valid,
                            },
                        );
                    }
                    if !not_valid {
                        reasons.push((
                            Effect::Scan,
                            ACCESS_EXCLUSIVE,
                            "ADD CONSTRAINT CHECK without NOT VALID".to_string(),
                        ));
                    }
                }
                TableConstraint::ForeignKey(_) if !not_valid => reasons.push((
                    Effect::Scan,
                    "SHARE ROW EXCLUSIVE",
                    "ADD CONSTRAINT FOREIGN KEY without NOT VALID".to_string(),
                )),
                TableConstraint::PrimaryKey(_)
                | TableConstraint::Unique(_)
                | TableConstraint::Exclude(_) => reasons.push((
                    Effect::IndexBuild,
                    ACCESS_EXCLUSIVE,
                    "ADD CONSTRAINT building its index (not USING INDEX)".to_string(),
                )),
                _ => {}
            },
            AlterTableOperation::SetLogged | AlterTableOperation::SetUnlogged => reasons.push((
                Effect::Rewrite,
                ACCESS_EXCLUSIVE,
                "SET LOGGED/UNLOGGED".to_string(),
            )),
            _ => {}
        }
    }
    if reasons.is_empty() {
        return Vec::new();
    }
    // One ALTER TABLE takes one lock, the strongest its operations need.
    let lock = if reasons.iter().any(|(_, lock, _)| *lock == ACCESS_EXCLUSIVE) {
        ACCESS_EXCLUSIVE
    } else {
        reasons[0].1
    };
    let effect = [Effect::Rewrite, Effect::IndexBuild, Effect::Scan]
        .into_iter()
        .find(|e| reasons.iter().any(|(r, ..)| r == e))
        .unwrap_or(Effect::Scan);
    vec![(
        name.to_string(),
        Risk {
            lock,
            blocks: if lock == ACCESS_EXCLUSIVE {
                READS_AND_WRITES
            } else {
                WRITES
            },
            effect,
            reason: reasons
                .into_iter()
                .map(|(.., why)| why)
                .collect::<Vec<_>>()
                .join("; "),
            matching: None,
        },
    )]
}

/// The column of a `column IS NOT NULL` check.
fn not_null_column(expr: &sqlparser::ast::Expr) -> Option<String> {
    use sqlparser::ast::Expr;
    match expr {
        Expr::IsNotNull(inner) => match inner.as_ref() {
            Expr::Identifier(column) => Some(key(&column.to_string())),
            _ => None,
        },
        Expr::Nested(inner) => not_null_column(inner),
        _ => None,
    }
}

/// Whether an expression calls a function known to be volatile.
fn is_volatile(expr: &str) -> bool {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, expr).tokenize() else {
        return false;
    };
    let tokens: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    tokens.windows(2).any(|pair| match pair {
        [Token::Word(word), Token::LParen] => {
            VOLATILE.contains(&word.value.to_ascii_lowercase().as_str())
        }
        _ => false,
    })
}

/// `VACUUM FULL` and `CLUSTER`, which sqlparser does not read in
/// PostgreSQL's forms: the table is the first name after the options.
fn by_words(text: &str) -> Option<(String, Risk)> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, text)
        .tokenize()
        .ok()?;
    let mut tokens = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .peekable();
    let Some(Token::Word(first)) = tokens.next() else {
        return None;
    };
    let first = first.value.to_ascii_uppercase();
    let mut full = false;
    let mut depth = 0usize;
    let mut name = String::new();
    for token in tokens {
        match token {
            Token::LParen if name.is_empty() => depth += 1,
            Token::RParen if depth > 0 => depth -= 1,
            Token::Word(word) if depth > 0 || name.is_empty() => {
                let upper = word.value.to_ascii_uppercase();
                let option = word.quote_style.is_none()
                    && matches!(
                        upper.as_str(),
                        "FULL" | "FREEZE" | "VERBOSE" | "ANALYZE" | "ANALYSE"
                    );
                if upper == "FULL" && word.quote_style.is_none() {
                    full = true;
                }
                if depth == 0 && !option {
                    name.push_str(&word.to_string());
                }
            }
            Token::Period if !name.is_empty() && depth == 0 => name.push('.'),
            Token::Word(word) if name.ends_with('.') => name.push_str(&word.to_string()),
            _ if depth > 0 => {}
            _ => break,
        }
    }
    if name.is_empty() {
        return None;
    }
    match first.as_str() {
        "VACUUM" if full => Some((name, Risk::exclusive(Effect::Rewrite, "VACUUM FULL"))),
        "CLUSTER" => Some((name, Risk::exclusive(Effect::Rewrite, "CLUSTER"))),
        _ => None,
    }
}

/// A table name for comparison: unquoted names fold to lower case.
fn key(name: &str) -> String {
    if name.contains('"') {
        name.to_string()
    } else {
        name.to_ascii_lowercase()
    }
}

fn shorten(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let collapsed = collapsed.trim_end_matches(';').trim_end().to_string();
    if collapsed.chars().count() <= 120 {
        collapsed
    } else {
        let cut: String = collapsed.chars().take(117).collect();
        format!("{cut}...")
    }
}

#[derive(QueryableByName)]
struct Size {
    #[diesel(sql_type = Text)]
    qualified: String,
    #[diesel(sql_type = Double)]
    reltuples: f64,
    #[diesel(sql_type = BigInt)]
    bytes: i64,
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

/// The planner's estimate of the rows of `SELECT 1 FROM <from_where>`;
/// `None` when it cannot be planned. EXPLAIN runs nothing.
async fn matching_rows(conn: &mut AsyncPgConnection, from_where: &str) -> Option<i64> {
    let plan: Vec<PlanLine> = diesel::sql_query(format!("EXPLAIN SELECT 1 FROM {from_where}"))
        .load(conn)
        .await
        .ok()?;
    let top = plan.into_iter().next()?.line;
    let digits: String = top
        .split(" rows=")
        .nth(1)?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// The risky statements of the migrations `versions` of `set` on tables
/// holding at least `warn_rows` rows. A table that does not exist yet (an
/// earlier pending migration makes it) is empty, so never warned about.
pub async fn assess(
    conn: &mut AsyncPgConnection,
    set: &MigrationSet,
    versions: &[String],
    warn_rows: u64,
) -> Result<Vec<RiskWarning>, MigrateError> {
    let mut warnings = Vec::new();
    for version in versions {
        let Some(migration) = set.get(version.as_str()) else {
            continue;
        };
        for statement in classify_migration(migration) {
            let Some((mut rows, mut rows_at_least, bytes)) =
                size(conn, &statement.table, warn_rows).await?
            else {
                continue;
            };
            if let Some(matching) = &statement.matching {
                // A condition on columns an earlier pending migration adds
                // cannot be planned yet: then the table's size stands.
                if let Some(estimate) = matching_rows(conn, matching).await {
                    (rows, rows_at_least) = (estimate, false);
                }
            }
            if u64::try_from(rows).unwrap_or(0) >= warn_rows {
                warnings.push(RiskWarning {
                    migration: migration.name.clone(),
                    statement,
                    rows,
                    rows_at_least,
                    bytes,
                });
            }
        }
    }
    Ok(warnings)
}

/// The table's estimated rows (and whether they were counted only up to
/// past `warn_rows`) and total size; `None` when there is no such table.
async fn size(
    conn: &mut AsyncPgConnection,
    table: &str,
    warn_rows: u64,
) -> Result<Option<(i64, bool, i64)>, MigrateError> {
    let found: Option<Size> = diesel::sql_query(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS qualified, \
                c.reltuples::float8 AS reltuples, pg_total_relation_size(c.oid)::int8 AS bytes \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.oid = to_regclass($1)",
    )
    .bind::<Text, _>(table)
    .get_result(conn)
    .await
    .optional()
    .map_err(MigrateError::db(
        "read the size of a table a migration changes",
    ))?;
    let Some(found) = found else {
        return Ok(None);
    };
    if found.reltuples >= 0.0 {
        return Ok(Some((found.reltuples as i64, false, found.bytes)));
    }
    // Never analyzed nor vacuumed (-1): count, but no further than needed.
    let count: Count = diesel::sql_query(format!(
        "SELECT count(*)::int8 AS count FROM (SELECT 1 FROM {} LIMIT {}) AS rows",
        found.qualified,
        warn_rows.saturating_add(1)
    ))
    .get_result(conn)
    .await
    .map_err(MigrateError::db(
        "count the rows of a table a migration changes",
    ))?;
    let bound = i64::try_from(warn_rows.saturating_add(1)).unwrap_or(i64::MAX);
    Ok(Some((count.count, count.count >= bound, found.bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons(sql: &str, in_transaction: bool) -> Vec<(String, Effect, &'static str)> {
        classify(sql, in_transaction)
            .into_iter()
            .map(|r| (r.table, r.effect, r.lock))
            .collect()
    }

    #[test]
    fn blocking_statements_are_found() {
        let sql = "\
ALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid();
ALTER TABLE t ALTER COLUMN n TYPE bigint;
ALTER TABLE t ALTER COLUMN n SET NOT NULL;
ALTER TABLE t ADD CONSTRAINT c CHECK (n > 0);
ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (o) REFERENCES o (id);
CREATE INDEX i ON s.t (n);
UPDATE t SET n = 0;
DELETE FROM t;
VACUUM (FULL, ANALYZE) t;
CLUSTER VERBOSE t USING i;
ALTER TABLE t ADD COLUMN k serial;";
        let found = reasons(sql, true);
        let effects: Vec<Effect> = found.iter().map(|(_, e, _)| *e).collect();
        assert_eq!(
            effects,
            [
                Effect::Rewrite,
                Effect::Rewrite,
                Effect::Scan,
                Effect::Scan,
                Effect::Scan,
                Effect::IndexBuild,
                Effect::WriteAll,
                Effect::WriteAll,
                Effect::Rewrite,
                Effect::Rewrite,
                Effect::Rewrite,
            ],
            "{found:?}"
        );
        assert_eq!(found[4].2, "SHARE ROW EXCLUSIVE");
        assert_eq!(found[5].0, "s.t");
        assert!(
            found
                .iter()
                .enumerate()
                .all(|(i, (t, ..))| i == 5 || t == "t")
        );
        let first = &classify(sql, true)[0];
        assert_eq!(first.line, 1);
        assert!(first.reason.contains("gen_random_uuid"), "{}", first.reason);
    }

    #[test]
    fn the_online_forms_are_not() {
        let sql = "\
ALTER TABLE t ADD COLUMN a integer NOT NULL DEFAULT 0, ADD COLUMN b timestamptz DEFAULT now(), ADD COLUMN c text;
ALTER TABLE t ADD CONSTRAINT c CHECK (n > 0) NOT VALID;
ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (o) REFERENCES o (id) NOT VALID;
ALTER TABLE t VALIDATE CONSTRAINT c;
CREATE INDEX CONCURRENTLY i ON t (n);
UPDATE t SET n = 0 WHERE n IS NULL;
DELETE FROM t WHERE n < 0;
VACUUM t;
COMMENT ON COLUMN t.n IS 'x';";
        let found = classify(sql, true);
        assert!(
            found
                .iter()
                .all(|r| r.effect == Effect::WriteMatching && !r.blocks_by_itself()),
            "{found:?}"
        );
        assert_eq!(
            found
                .iter()
                .map(|r| r.matching.as_deref())
                .collect::<Vec<_>>(),
            [Some("t WHERE n IS NULL"), Some("t WHERE n < 0")]
        );
        // Outside a transaction a whole-table UPDATE commits at once.
        assert_eq!(reasons("UPDATE t SET n = 0", false), []);
    }

    #[test]
    fn set_not_null_trusts_a_check_validated_before_it() {
        let online = "\
ALTER TABLE t ADD CONSTRAINT t_n_not_null CHECK (n IS NOT NULL) NOT VALID;
ALTER TABLE t VALIDATE CONSTRAINT t_n_not_null;
ALTER TABLE t ALTER COLUMN n SET NOT NULL;
ALTER TABLE t DROP CONSTRAINT t_n_not_null;";
        assert_eq!(reasons(online, false), []);
        // Not validated yet, another column, another table, a check of the
        // same name validated on another table, the check dropped first:
        // each scans.
        for sql in [
            "ALTER TABLE u ADD CONSTRAINT c CHECK (n IS NOT NULL) NOT VALID;\nALTER TABLE t ADD CONSTRAINT c CHECK (n IS NOT NULL) NOT VALID;\nALTER TABLE u VALIDATE CONSTRAINT c;\nALTER TABLE t ALTER COLUMN n SET NOT NULL;",
            "ALTER TABLE t ADD CONSTRAINT c CHECK (n IS NOT NULL) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT c;\nALTER TABLE t DROP CONSTRAINT c;\nALTER TABLE t ALTER COLUMN n SET NOT NULL;",
            "ALTER TABLE t ADD CONSTRAINT c CHECK (n IS NOT NULL) NOT VALID;\nALTER TABLE t ALTER COLUMN n SET NOT NULL;",
            "ALTER TABLE t ADD CONSTRAINT c CHECK (n IS NOT NULL) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT c;\nALTER TABLE t ALTER COLUMN m SET NOT NULL;",
            "ALTER TABLE t ADD CONSTRAINT c CHECK (n IS NOT NULL) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT c;\nALTER TABLE u ALTER COLUMN n SET NOT NULL;",
        ] {
            assert_eq!(
                reasons(sql, false).last().map(|(_, effect, _)| *effect),
                Some(Effect::Scan),
                "{sql}"
            );
        }
    }

    #[test]
    fn a_table_the_file_creates_is_empty() {
        let sql = "CREATE TABLE t (n int);\nCREATE INDEX i ON t (n);\nCREATE INDEX j ON other (n);";
        let found = classify(sql, true);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].table.as_str(), found[0].line), ("other", 3));
    }

    #[test]
    fn the_projects_migrations_hold_no_blocking_statement_on_existing_tables() {
        let set = MigrationSet::embedded().expect("embedded migrations");
        let mut by_count = Vec::new();
        for migration in set.migrations() {
            for statement in classify_migration(migration) {
                assert!(
                    !statement.blocks_by_itself(),
                    "{} holds a statement that blocks a large table: {statement:?}",
                    migration.name
                );
                by_count.push((migration.name.clone(), statement.matching));
            }
        }
        // None depends on the data either (000003 writes no row).
        assert!(
            by_count.iter().all(|(_, matching)| matching.is_none()),
            "{by_count:?}"
        );
    }
}
