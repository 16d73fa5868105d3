//! `mv-admin inspect` with no argument: the state of the database at a
//! glance.

use schema_engine::inspect::overview::Overview;

use crate::output::{Cell, DIM, Fields, Table, heading, terminal_width};

/// The overview for people.
pub fn render(overview: &Overview) -> String {
    let pending = overview
        .migrations
        .iter()
        .filter(|m| m.run_on.is_none())
        .count();
    let applied = overview.migrations.len() - pending;
    let states: Vec<String> = overview
        .connections
        .by_state
        .iter()
        .map(|s| format!("{} {}", s.count, s.state))
        .collect();
    let mut fields = Fields::new();
    fields
        .add("server", format!("PostgreSQL {}", overview.server_version))
        .add(
            "database",
            format!("{} ({})", overview.database, overview.database_size),
        )
        .add(
            "connections",
            format!(
                "{} in use of {} ({} here)",
                overview.connections.in_use,
                overview.connections.max_connections,
                states.join(", ")
            ),
        )
        .add(
            "migrations",
            format!("{applied} applied, {pending} pending"),
        );
    let mut out = fields.render();
    let width = terminal_width();

    out.push_str(&heading("Tables"));
    let mut tables = Table::new(["TABLE", "ROWS", "SIZE", ""]).right(1).right(2);
    for table in &overview.tables {
        tables.push(vec![
            table.name.as_str().into(),
            table.row_count.to_string().into(),
            table.size.as_str().into(),
            // Declared in schema.sql as someone else's: push, generate and
            // schema.rs leave it alone.
            if table.foreign { "foreign" } else { "" }.into(),
        ]);
    }
    out.push_str(&tables.render(width));

    out.push_str(&heading("Indexes"));
    let mut indexes = Table::new(["TABLE", "INDEX", "SCANS", "SIZE"])
        .right(2)
        .right(3)
        .flexible(1);
    for index in &overview.indexes {
        indexes.push(vec![
            index.table_name.as_str().into(),
            index.name.as_str().into(),
            index.scans.to_string().into(),
            index.size.as_str().into(),
        ]);
    }
    out.push_str(&indexes.render(width));

    out.push_str(&heading("Migrations"));
    let mut migrations = Table::new(["VERSION", "NAME", "APPLIED"]);
    for migration in &overview.migrations {
        migrations.push(vec![
            migration.version.as_str().into(),
            migration
                .name
                .as_deref()
                .unwrap_or("(not in this binary)")
                .into(),
            match &migration.run_on {
                Some(run_on) => run_on.as_str().into(),
                None => Cell::styled("pending", DIM),
            },
        ]);
    }
    out.push_str(&migrations.render(width));
    out
}
