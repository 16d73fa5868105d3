//! SQL text split into statements where psql splits it, so that a file can
//! run one statement at a time and its statements' kinds can be checked
//! before any of them runs.
//!
//! sqlparser's tokenizer reads PostgreSQL's quoting (strings, `E''`, dollar
//! quotes, quoted identifiers, nested comments). The boundaries follow
//! psql's rule (`psqlscan.l`): a `;` ends a statement unless it is inside
//! parentheses or inside the `BEGIN ... END` body of a
//! `CREATE [OR REPLACE] FUNCTION|PROCEDURE` (a SQL-standard body).

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

/// One statement of a SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    /// From its first word through its `;` (comments before it belong to
    /// no statement).
    pub text: &'a str,
    /// Where `text` starts in the whole text, in bytes.
    pub start: usize,
    /// The 1-based line it starts on.
    pub line: usize,
    /// Its first words outside quotes, upper-cased (at most three).
    words: Vec<String>,
}

/// The text could not be read as SQL (an unterminated string or comment).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct SplitError {
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl Statement<'_> {
    /// Whether it starts, ends or prepares a transaction: `BEGIN`,
    /// `START TRANSACTION`, `COMMIT`, `END`, `ROLLBACK` (not `ROLLBACK TO`
    /// a savepoint, which stays inside the transaction), `ABORT` or
    /// `PREPARE TRANSACTION`.
    pub fn controls_transaction(&self) -> bool {
        let word = |i: usize| self.words.get(i).map(String::as_str);
        match word(0) {
            Some("BEGIN" | "START" | "COMMIT" | "END" | "ABORT") => true,
            Some("ROLLBACK") => word(1) != Some("TO") && word(2) != Some("TO"),
            Some("PREPARE") => word(1) == Some("TRANSACTION"),
            _ => false,
        }
    }

    /// The number of characters before it in the whole text, which turns a
    /// PostgreSQL error position inside the statement into one in the text.
    pub fn chars_before(&self, whole: &str) -> usize {
        whole[..self.start].chars().count()
    }
}

/// Splits `sql` into its statements, in order; empty ones (a lone `;`,
/// comments only) are left out.
pub fn split(sql: &str) -> Result<Vec<Statement<'_>>, SplitError> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| SplitError {
            line: e.location.line,
            column: e.location.column,
            message: e.message,
        })?;
    let offsets = Offsets::new(sql);
    let mut statements = Vec::new();
    let mut current = Boundary::default();
    for token in &tokens {
        if matches!(token.token, Token::Whitespace(_)) {
            continue;
        }
        let start = *current
            .start
            .get_or_insert_with(|| (offsets.byte(token.span.start), token.span.start.line));
        if current.ends_with(token) {
            let end = offsets.byte(token.span.end);
            statements.push(current.statement(sql, start, end));
            current = Boundary::default();
        }
    }
    if let Some(start) = current.start {
        statements.push(current.statement(sql, start, sql.len()));
    }
    Ok(statements
        .into_iter()
        .filter(|s| s.text.trim() != ";")
        .collect())
}

/// psql's state while it reads one statement.
#[derive(Default)]
struct Boundary {
    /// The byte offset and line of its first token.
    start: Option<(usize, u64)>,
    paren_depth: usize,
    /// Inside `BEGIN ... END` of a CREATE FUNCTION or PROCEDURE.
    begin_depth: usize,
    /// The first letter of each of the first four words that is one of
    /// create, or, replace, function, procedure (psql's `identifiers`).
    leading: [Option<char>; 4],
    word_count: usize,
    /// The first three words, upper-cased.
    words: Vec<String>,
}

impl Boundary {
    /// Takes in `token`; whether it ends the statement.
    fn ends_with(&mut self, token: &TokenWithSpan) -> bool {
        match &token.token {
            Token::LParen => self.paren_depth += 1,
            Token::RParen => self.paren_depth = self.paren_depth.saturating_sub(1),
            Token::SemiColon => return self.paren_depth == 0 && self.begin_depth == 0,
            Token::Word(word) if word.quote_style.is_none() => self.word(&word.value),
            _ => {}
        }
        false
    }

    fn word(&mut self, value: &str) {
        let lower = value.to_ascii_lowercase();
        if self.words.len() < 3 {
            self.words.push(value.to_ascii_uppercase());
        }
        if self.word_count < self.leading.len()
            && matches!(
                lower.as_str(),
                "create" | "or" | "replace" | "function" | "procedure"
            )
        {
            self.leading[self.word_count] = lower.chars().next();
        }
        self.word_count += 1;
        if !self.creates_routine() || self.paren_depth > 0 {
            return;
        }
        match lower.as_str() {
            "begin" => self.begin_depth += 1,
            // CASE also ends with END, which matters only inside a body.
            "case" if self.begin_depth > 0 => self.begin_depth += 1,
            "end" => self.begin_depth = self.begin_depth.saturating_sub(1),
            _ => {}
        }
    }

    /// `CREATE [OR REPLACE] FUNCTION|PROCEDURE`.
    fn creates_routine(&self) -> bool {
        let routine = |c: Option<char>| matches!(c, Some('f' | 'p'));
        self.leading[0] == Some('c')
            && (routine(self.leading[1])
                || (self.leading[1] == Some('o')
                    && self.leading[2] == Some('r')
                    && routine(self.leading[3])))
    }

    fn statement<'a>(
        &mut self,
        sql: &'a str,
        (start, line): (usize, u64),
        end: usize,
    ) -> Statement<'a> {
        Statement {
            text: &sql[start..end],
            start,
            line: usize::try_from(line).unwrap_or(usize::MAX),
            words: std::mem::take(&mut self.words),
        }
    }
}

/// Turns the tokenizer's lines and columns (in characters) into byte offsets.
struct Offsets<'a> {
    sql: &'a str,
    /// The byte offset where each line starts.
    lines: Vec<usize>,
}

impl<'a> Offsets<'a> {
    fn new(sql: &'a str) -> Self {
        let lines = std::iter::once(0)
            .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { sql, lines }
    }

    fn byte(&self, at: Location) -> usize {
        let line = usize::try_from(at.line).unwrap_or(usize::MAX).max(1) - 1;
        let Some(&line_start) = self.lines.get(line) else {
            return self.sql.len();
        };
        let column = usize::try_from(at.column).unwrap_or(usize::MAX).max(1) - 1;
        self.sql[line_start..]
            .char_indices()
            .nth(column)
            .map_or(self.sql.len(), |(i, _)| line_start + i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<&str> {
        split(sql)
            .expect("splits")
            .into_iter()
            .map(|s| s.text)
            .collect()
    }

    #[test]
    fn semicolons_in_quotes_comments_and_bodies_do_not_split() {
        let sql = "-- a; comment\nCREATE TABLE a (x text DEFAULT ';');\n\
                   /* one; /* nested; */ still; */ INSERT INTO \"we;ird\" VALUES (E'\\';');\n\
                   CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 1; END $body$;\n\
                   CREATE OR REPLACE FUNCTION g(x int) RETURNS int LANGUAGE sql\n\
                   BEGIN ATOMIC SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END; SELECT 2; END;\n\
                   CREATE RULE r AS ON INSERT TO a DO INSTEAD (SELECT 1; SELECT 2);\n\
                   SELECT 'é'";
        assert_eq!(
            texts(sql),
            [
                "CREATE TABLE a (x text DEFAULT ';');",
                "INSERT INTO \"we;ird\" VALUES (E'\\';');",
                "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 1; END $body$;",
                "CREATE OR REPLACE FUNCTION g(x int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END; SELECT 2; END;",
                "CREATE RULE r AS ON INSERT TO a DO INSTEAD (SELECT 1; SELECT 2);",
                "SELECT 'é'",
            ]
        );
    }

    #[test]
    fn statements_know_where_they_start() {
        let sql = "SELECT 'é';\n\n  CREATE INDEX CONCURRENTLY i ON t (x);;\n-- the end\n";
        let statements = split(sql).expect("splits");
        assert_eq!(statements.len(), 2);
        let second = &statements[1];
        assert_eq!(second.line, 3);
        assert_eq!(
            &sql[second.start..],
            "CREATE INDEX CONCURRENTLY i ON t (x);;\n-- the end\n"
        );
        assert_eq!(second.chars_before(sql), 15);
        assert!(split("-- nothing\n").expect("splits").is_empty());
    }

    #[test]
    fn transaction_control_is_recognised() {
        let controls = |sql: &str| {
            split(sql)
                .expect("splits")
                .iter()
                .map(Statement::controls_transaction)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            controls(
                "begin; Start Transaction; COMMIT AND CHAIN; end; ABORT; ROLLBACK; \
                 PREPARE TRANSACTION 'x'; COMMIT PREPARED 'x'"
            ),
            [true; 8]
        );
        assert_eq!(
            controls(
                "SAVEPOINT s; ROLLBACK TO s; ROLLBACK TRANSACTION TO SAVEPOINT s; RELEASE s; \
                 PREPARE p AS SELECT 1; SELECT 'COMMIT'; \"commit\"; CREATE TABLE \"begin\" (x int)"
            ),
            [false; 8]
        );
    }

    #[test]
    fn unreadable_text_is_refused_with_its_place() {
        let error = split("SELECT 1;\nSELECT 'unterminated").expect_err("unterminated");
        assert_eq!(error.line, 2, "{error}");
        assert!(error.to_string().contains("Unterminated"), "{error}");
    }
}
