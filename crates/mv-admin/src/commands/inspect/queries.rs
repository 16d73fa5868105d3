//! `mv-admin inspect queries`: the slowest statements, as
//! pg_stat_statements measured them.

use schema_engine::inspect::queries::Statement;

use crate::output::{Table, terminal_width};

/// Exit code when the server does not collect statement statistics.
pub const EXIT_UNAVAILABLE: u8 = 3;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Show at most this many statements.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(i64).range(1..=1000))]
    pub limit: i64,
}

/// The statements as a table, each on one line.
pub fn render(statements: &[Statement]) -> String {
    if statements.is_empty() {
        return "no statements recorded yet\n".to_string();
    }
    let mut table = Table::new(["MEAN MS", "CALLS", "TOTAL MS", "ROWS", "QUERY"])
        .right(0)
        .right(1)
        .right(2)
        .right(3)
        .flexible(4);
    for s in statements {
        table.push(vec![
            format!("{:.2}", s.mean_exec_time).into(),
            s.calls.to_string().into(),
            format!("{:.1}", s.total_exec_time).into(),
            s.rows.to_string().into(),
            s.query
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .into(),
        ]);
    }
    table.render(terminal_width())
}
