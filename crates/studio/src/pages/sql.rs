//! The SQL console: one statement, in a READ ONLY transaction with the
//! statement timeout, on a connection of its own that is closed after it
//! (so no `SET` outlives the request), showing at most the row cap.
//!
//! The statement is first prepared, which PostgreSQL refuses for more than
//! one statement; then it runs through the simple protocol so every value
//! comes back as PostgreSQL prints it. A query runs as a cursor, of which
//! one more row than the cap is fetched.

use axum::Form;
use maud::{Markup, html};
use tokio_postgres::SimpleQueryMessage;

use crate::error::{Result, StudioError};
use crate::layout::{Ctx, csrf_field, page};

#[derive(Debug, Default, serde::Deserialize)]
pub struct Console {
    #[serde(default)]
    sql: String,
    /// `run`, `explain` or `analyze`.
    #[serde(default)]
    action: String,
}

/// What a statement gave.
pub struct Outcome {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    /// More rows than the cap were there.
    pub capped: bool,
    pub command: Option<String>,
}

/// `GET /sql`.
pub async fn form(ctx: Ctx) -> Markup {
    console(&ctx, &Console::default(), None)
}

/// `POST /sql` (a POST only so the statement stays out of the address).
pub async fn run(ctx: Ctx, Form(input): Form<Console>) -> Markup {
    let sql = match input.action.as_str() {
        "explain" => format!("EXPLAIN {}", input.sql),
        "analyze" => format!("EXPLAIN (ANALYZE, BUFFERS) {}", input.sql),
        _ => input.sql.clone(),
    };
    let outcome = execute(&ctx, &sql).await;
    console(&ctx, &input, Some(outcome))
}

/// Runs one statement read-only.
pub async fn execute(ctx: &Ctx, sql: &str) -> Result<Outcome> {
    if sql.trim().is_empty() {
        return Err(StudioError::BadRequest("write a statement first".into()));
    }
    let client = ctx.state.dedicated_client().await?;
    let statement = client.prepare(sql).await?;
    let returns_rows = !statement.columns().is_empty();
    let timeout = ctx.state.statement_timeout.as_millis();
    client
        .batch_execute(&format!(
            "BEGIN READ ONLY; SET LOCAL statement_timeout = {timeout}; SET LOCAL TimeZone = 'UTC'"
        ))
        .await?;
    let cap = ctx.state.row_cap;
    let messages = if returns_rows {
        client.batch_execute("SAVEPOINT console").await?;
        match client
            .batch_execute(&format!("DECLARE console NO SCROLL CURSOR FOR {sql}"))
            .await
        {
            Ok(()) => {
                client
                    .simple_query(&format!("FETCH FORWARD {} FROM console", cap + 1))
                    .await?
            }
            // EXPLAIN, SHOW and the like are not cursors' queries; their
            // output is small.
            Err(_) => {
                client
                    .batch_execute("ROLLBACK TO SAVEPOINT console")
                    .await?;
                client.simple_query(sql).await?
            }
        }
    } else {
        client.simple_query(sql).await?
    };
    // Whatever the statement did to the transaction, nothing is kept.
    let _ = client.batch_execute("ROLLBACK").await;
    let mut outcome = Outcome {
        columns: Vec::new(),
        rows: Vec::new(),
        capped: false,
        command: None,
    };
    for message in messages {
        match message {
            SimpleQueryMessage::RowDescription(columns) => {
                outcome.columns = columns.iter().map(|c| c.name().to_string()).collect();
            }
            SimpleQueryMessage::Row(row) => {
                if outcome.columns.is_empty() {
                    outcome.columns = row.columns().iter().map(|c| c.name().to_string()).collect();
                }
                if outcome.rows.len() == cap {
                    outcome.capped = true;
                    continue;
                }
                outcome.rows.push(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                );
            }
            SimpleQueryMessage::CommandComplete(n) if !returns_rows => {
                outcome.command = Some(format!("done ({n} rows)"));
            }
            _ => {}
        }
    }
    Ok(outcome)
}

fn console(ctx: &Ctx, input: &Console, outcome: Option<Result<Outcome>>) -> Markup {
    page(
        ctx,
        "SQL",
        html! {
            p.lead { "One statement, in a READ ONLY transaction with a "
                (ctx.state.statement_timeout.as_secs_f64()) " s timeout; at most " (ctx.state.row_cap) " rows are shown. Nothing is ever committed." }
            form.sql method="post" hx-boost="false" action="/sql" {
                (csrf_field(ctx))
                label for="sql" { "Statement" }
                textarea #sql name="sql" rows="8" spellcheck="false" { (input.sql) }
                div.actions {
                    button.primary type="submit" name="action" value="run" { "Run" }
                    button type="submit" name="action" value="explain" { "Explain" }
                    button type="submit" name="action" value="analyze" { "Explain analyze" }
                }
            }
            @match outcome {
                None => {},
                Some(Err(e)) => p.error role="alert" { (e.message()) },
                Some(Ok(outcome)) => {
                    @if let Some(command) = &outcome.command { p.ok role="status" { (command) } }
                    @if !outcome.columns.is_empty() {
                        p role="status" { (outcome.rows.len()) " rows" @if outcome.capped { " (the cap; there are more)" } }
                        div.scroll {
                            table.grid.result {
                                thead { tr { @for c in &outcome.columns { th { (c) } } } }
                                tbody {
                                    @for row in &outcome.rows {
                                        tr { @for v in row { td { @match v { Some(v) => pre.cell { (v) }, None => (crate::render::null()) } } } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}
