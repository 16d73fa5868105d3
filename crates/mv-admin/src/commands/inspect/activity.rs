//! `mv-admin inspect activity`: what runs now, from pg_stat_activity and
//! pg_locks, once or every few seconds (`--watch`).

use std::time::Duration;

use schema_engine::inspect::activity::{Activity, Session};

use crate::output::{Cell, DIM, Table, heading, paint, terminal_width};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Transactions open this long or longer are listed as long.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1m")]
    pub long: Duration,
    /// Look again every INTERVAL until interrupted (Ctrl-C); with `--json`,
    /// one JSON document per line each time.
    #[arg(
        long,
        value_name = "INTERVAL",
        num_args = 0..=1,
        default_missing_value = "2s",
        value_parser = parse_interval
    )]
    pub watch: Option<Duration>,
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(interval) if interval >= Duration::from_millis(100) => Ok(interval),
        Ok(_) => Err("the interval must be at least 100ms".into()),
        Err(e) => Err(format!("expected a duration such as 2s or 500ms ({e})")),
    }
}

/// Text from the server as one line without control characters, so that
/// names and statements cannot drive the terminal.
fn plain(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn age(seconds: f64) -> String {
    let rounded = Duration::from_secs(seconds.max(0.0).round() as u64);
    humantime::format_duration(rounded).to_string()
}

fn sessions_table(sessions: &[Session], width: Option<usize>) -> String {
    let mut table = Table::new([
        "PID",
        "APPLICATION",
        "CLIENT",
        "STATE",
        "OPEN FOR",
        "IN STATE",
        "QUERY",
    ])
    .right(0)
    .right(4)
    .right(5)
    .flexible(6);
    for s in sessions {
        table.push(vec![
            s.pid.to_string().into(),
            plain(&s.application).into(),
            plain(&s.client).into(),
            plain(&s.state).into(),
            age(s.transaction_seconds).into(),
            age(s.state_seconds).into(),
            plain(&s.query).into(),
        ]);
    }
    table.render(width)
}

fn none() -> String {
    format!("{}\n", paint(DIM, "none"))
}

/// The activity for people.
pub fn render(activity: &Activity) -> String {
    let long = Duration::from_secs_f64(activity.long_after_seconds.max(0.0));
    let width = terminal_width();
    let mut out = heading("Sessions (this database)");
    if activity.sessions.is_empty() {
        out.push_str(&none());
    } else {
        let mut table = Table::new(["STATE", "APPLICATION", "SESSIONS"]).right(2);
        for s in &activity.sessions {
            table.push(vec![
                plain(&s.state).into(),
                plain(&s.application).into(),
                s.count.to_string().into(),
            ]);
        }
        out.push_str(&table.render(width));
    }

    out.push_str(&heading(&format!(
        "Long transactions (open {} or more)",
        humantime::format_duration(long)
    )));
    if activity.long_transactions.is_empty() {
        out.push_str(&none());
    } else {
        out.push_str(&sessions_table(&activity.long_transactions, width));
    }

    out.push_str(&heading("Idle in transaction"));
    if activity.idle_in_transaction.is_empty() {
        out.push_str(&none());
    } else {
        out.push_str(&sessions_table(&activity.idle_in_transaction, width));
    }

    out.push_str(&heading("Lock waits"));
    if activity.lock_waits.is_empty() {
        out.push_str(&none());
    } else {
        let mut table = Table::new([
            "WAITING PID",
            "APPLICATION",
            "WAITS FOR",
            "SINCE",
            "BLOCKED BY",
            "BLOCKER STATE",
            "BLOCKER QUERY",
        ])
        .right(0)
        .right(3)
        .right(4)
        .flexible(6);
        for w in &activity.lock_waits {
            table.push(vec![
                w.waiting_pid.to_string().into(),
                plain(&w.waiting_application).into(),
                plain(&w.lock).into(),
                age(w.waiting_seconds).into(),
                Cell::from(w.blocking_pid.to_string()),
                plain(&w.blocking_state).into(),
                plain(&w.blocking_query).into(),
            ]);
        }
        out.push_str(&table.render(width));
    }

    out.push_str(&heading("Oldest snapshot holding back vacuum"));
    match &activity.oldest_snapshot {
        None => out.push_str(&none()),
        Some(s) => {
            let open = s
                .seconds
                .map(|seconds| format!(", open {}", age(seconds)))
                .unwrap_or_default();
            let database = s
                .database
                .as_deref()
                .map(|d| format!(" in {}", plain(d)))
                .unwrap_or_default();
            out.push_str(&format!(
                "{} {} ({}){database}: xmin {} transaction{} old{open}\n",
                plain(&s.kind),
                plain(&s.id),
                plain(&s.holder),
                s.xmin_age,
                if s.xmin_age == 1 { "" } else { "s" }
            ));
        }
    }
    out
}
