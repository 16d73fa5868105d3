//! The health page: what `mv-admin inspect` shows, from the same engine
//! (row counts estimated on large tables, as the tables page does).

use maud::{Markup, html};
use schema_engine::inspect::{overview, queries};

use crate::browse;
use crate::error::{Result, StudioError};
use crate::layout::{Ctx, page};
use crate::pages::tables::table_href;

/// Slowest statements shown.
const STATEMENTS: i64 = 10;

/// `/health`.
pub async fn health(ctx: Ctx) -> Result<Markup> {
    let schema = ctx.state.catalog().await?;
    let (overview, sizes, statements) = ctx
        .state
        .read(move |conn| {
            Box::pin(async move {
                let overview = overview::collect_with(conn, false, &Default::default()).await?;
                let sizes = browse::table_sizes(conn, &schema).await?;
                // Unavailable statistics are a message, not a failure; the
                // check runs no statement that could fail the transaction.
                let statements = match queries::slowest(conn, STATEMENTS).await {
                    Ok(statements) => Ok(statements),
                    Err(schema_engine::Error::StatementsUnavailable { how_to }) => Err(how_to),
                    Err(e) => return Err(StudioError::from(e)),
                };
                Ok((overview, sizes, statements))
            })
        })
        .await?;
    Ok(page(
        &ctx,
        "Health",
        html! {
            dl.facts {
                dt { "server" } dd { "PostgreSQL " (overview.server_version) }
                dt { "database" } dd { (overview.database) " · " (overview.database_size) }
                dt { "connections" } dd {
                    (overview.connections.in_use) " of " (overview.connections.max_connections) " in use; here: "
                    @for (i, s) in overview.connections.by_state.iter().enumerate() {
                        @if i > 0 { ", " } (s.count) " " (s.state)
                    }
                }
            }
            h2 { "Tables" }
            table.grid {
                thead { tr { th { "table" } th.num { "rows" } th.num { "size" } } }
                tbody {
                    @for s in &sizes {
                        tr { td { a href=(table_href(&s.name)) { (s.name) } } td.num { @if s.estimated { "≈ " } (s.rows) } td.num { (s.size) } }
                    }
                }
            }
            h2 { "Index use" }
            table.grid {
                thead { tr { th { "table" } th { "index" } th.num { "scans" } th.num { "size" } } }
                tbody {
                    @for i in &overview.indexes {
                        tr class=[(i.scans == 0).then_some("unused")] { td { (i.table_name) } td { (i.name) } td.num { (i.scans) } td.num { (i.size) } }
                    }
                }
            }
            h2 { "Migrations" }
            table.grid {
                thead { tr { th { "version" } th { "name" } th { "applied" } } }
                tbody {
                    @for m in &overview.migrations {
                        tr { td { (m.version) } td { (m.name.as_deref().unwrap_or("(unknown to this binary)")) } td { (m.run_on.as_deref().unwrap_or("pending")) } }
                    }
                }
            }
            h2 { "Slowest statements" }
            @match &statements {
                Err(how_to) => p.note { (how_to) },
                Ok(list) => table.grid {
                    thead { tr { th { "statement" } th.num { "calls" } th.num { "mean ms" } th.num { "total ms" } } }
                    tbody {
                        @for s in list {
                            tr { td { code { (s.query) } } td.num { (s.calls) } td.num { (format!("{:.2}", s.mean_exec_time)) } td.num { (format!("{:.1}", s.total_exec_time)) } }
                        }
                    }
                },
            }
        },
    ))
}
