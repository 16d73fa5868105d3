//! What runs now, from `pg_stat_activity` and `pg_locks`: sessions by state
//! and application, long transactions, sessions idle in a transaction, who
//! waits on whose lock, and the oldest snapshot holding back vacuum.

use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Double, Integer, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

use crate::error::{Context as _, Result};

/// The most characters of a statement's text kept.
pub const QUERY_CHARS: usize = 300;

/// One look at the server's activity.
#[derive(Debug, Clone, Serialize)]
pub struct Activity {
    /// Transactions open this long or longer are long.
    pub long_after_seconds: f64,
    /// This database's client sessions by state and application.
    pub sessions: Vec<SessionCount>,
    /// Transactions open at least as long as the threshold asked for.
    pub long_transactions: Vec<Session>,
    /// Sessions idle inside an open transaction, however long.
    pub idle_in_transaction: Vec<Session>,
    /// Sessions waiting for a lock, each with one session it waits on.
    pub lock_waits: Vec<LockWait>,
    /// What holds back the oldest row versions vacuum may not remove yet,
    /// across the server: a session's snapshot, a replication slot or a
    /// prepared transaction.
    pub oldest_snapshot: Option<Snapshot>,
}

#[derive(Debug, Clone, QueryableByName, Serialize)]
pub struct SessionCount {
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = Text)]
    pub application: String,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

#[derive(Debug, Clone, QueryableByName, Serialize)]
pub struct Session {
    #[diesel(sql_type = Integer)]
    pub pid: i32,
    #[diesel(sql_type = Text)]
    pub user: String,
    #[diesel(sql_type = Text)]
    pub application: String,
    /// The client's address, or `local` for a Unix socket.
    #[diesel(sql_type = Text)]
    pub client: String,
    #[diesel(sql_type = Text)]
    pub state: String,
    /// How long its transaction has been open.
    #[diesel(sql_type = Double)]
    pub transaction_seconds: f64,
    /// How long it has been in its state.
    #[diesel(sql_type = Double)]
    pub state_seconds: f64,
    /// What it waits for (`Lock: transactionid`, `Client: ClientRead`, ...).
    #[diesel(sql_type = Nullable<Text>)]
    pub wait: Option<String>,
    /// Its current or last statement.
    #[diesel(sql_type = Text)]
    pub query: String,
}

#[derive(Debug, Clone, QueryableByName, Serialize)]
pub struct LockWait {
    #[diesel(sql_type = Integer)]
    pub waiting_pid: i32,
    #[diesel(sql_type = Text)]
    pub waiting_application: String,
    /// The lock it waits for: its type, relation when there is one, mode.
    #[diesel(sql_type = Text)]
    pub lock: String,
    #[diesel(sql_type = Double)]
    pub waiting_seconds: f64,
    #[diesel(sql_type = Text)]
    pub waiting_query: String,
    #[diesel(sql_type = Integer)]
    pub blocking_pid: i32,
    #[diesel(sql_type = Text)]
    pub blocking_application: String,
    #[diesel(sql_type = Text)]
    pub blocking_state: String,
    #[diesel(sql_type = Text)]
    pub blocking_query: String,
}

#[derive(Debug, Clone, QueryableByName, Serialize)]
pub struct Snapshot {
    /// `session`, `replication slot` or `prepared transaction`.
    #[diesel(sql_type = Text)]
    pub kind: String,
    /// The session's pid, the slot's or the prepared transaction's name.
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub database: Option<String>,
    /// The session's application, the slot's plugin, the transaction's owner.
    #[diesel(sql_type = Text)]
    pub holder: String,
    /// Transactions since its xmin: how far back vacuum must keep rows.
    #[diesel(sql_type = BigInt)]
    pub xmin_age: i64,
    /// How long it has been open, when that is known.
    #[diesel(sql_type = Nullable<Double>)]
    pub seconds: Option<f64>,
}

const SESSIONS: &str = "
SELECT coalesce(state, 'unknown') AS state, application_name AS application, count(*) AS count
FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend'
  AND pid <> pg_backend_pid()
GROUP BY 1, 2
ORDER BY 3 DESC, 1, 2";

const OPEN_TRANSACTIONS: &str = "
SELECT pid, coalesce(usename::text, '') AS user, application_name AS application,
       coalesce(host(client_addr), 'local') AS client,
       coalesce(state, 'unknown') AS state,
       extract(epoch FROM now() - xact_start)::float8 AS transaction_seconds,
       extract(epoch FROM now() - coalesce(state_change, xact_start))::float8 AS state_seconds,
       wait_event_type || ': ' || wait_event AS wait,
       coalesce(query, '') AS query
FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend'
  AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
  AND (now() - xact_start >= make_interval(secs => $1)
       OR state IN ('idle in transaction', 'idle in transaction (aborted)'))
ORDER BY xact_start, pid";

// pg_locks.waitstart needs PostgreSQL 14.
const LOCK_WAITS: &str = "
SELECT w.pid AS waiting_pid, w.application_name AS waiting_application,
       coalesce(l.locktype || coalesce(' on ' || l.relation::regclass::text, '') || ' ' || l.mode,
                w.wait_event_type || ': ' || w.wait_event, 'unknown') AS lock,
       extract(epoch FROM now() - coalesce(l.waitstart, w.query_start, now()))::float8
           AS waiting_seconds,
       coalesce(w.query, '') AS waiting_query,
       b.pid AS blocking_pid, b.application_name AS blocking_application,
       coalesce(b.state, 'unknown') AS blocking_state, coalesce(b.query, '') AS blocking_query
FROM pg_stat_activity w
CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS blocker(pid)
JOIN pg_stat_activity b ON b.pid = blocker.pid
LEFT JOIN LATERAL (
    SELECT * FROM pg_locks l WHERE l.pid = w.pid AND NOT l.granted LIMIT 1
) l ON true
WHERE w.datname = current_database()
ORDER BY waiting_seconds DESC, w.pid, b.pid";

const OLDEST_SNAPSHOT: &str = "
SELECT kind, id, database, holder, xmin_age, seconds FROM (
    SELECT 'session' AS kind, pid::text AS id, datname::text AS database,
           application_name AS holder, age(backend_xmin)::int8 AS xmin_age,
           extract(epoch FROM now() - coalesce(xact_start, query_start))::float8 AS seconds
    FROM pg_stat_activity
    WHERE backend_xmin IS NOT NULL AND pid <> pg_backend_pid()
    UNION ALL
    SELECT 'replication slot', slot_name::text, database::text, coalesce(plugin::text, 'physical'),
           greatest(age(xmin), age(catalog_xmin))::int8, NULL
    FROM pg_replication_slots
    WHERE xmin IS NOT NULL OR catalog_xmin IS NOT NULL
    UNION ALL
    SELECT 'prepared transaction', gid, database::text, owner::text, age(transaction)::int8,
           extract(epoch FROM now() - prepared)::float8
    FROM pg_prepared_xacts
) holders
ORDER BY xmin_age DESC, kind, id
LIMIT 1";

/// Reads the activity; transactions open `long` or longer are long.
pub async fn collect(conn: &mut AsyncPgConnection, long: Duration) -> Result<Activity> {
    let sessions = diesel::sql_query(SESSIONS)
        .load(conn)
        .await
        .context("Failed to count the sessions")?;
    let mut open: Vec<Session> = diesel::sql_query(OPEN_TRANSACTIONS)
        .bind::<Double, _>(long.as_secs_f64())
        .load(conn)
        .await
        .context("Failed to list the open transactions")?;
    for session in &mut open {
        session.query = shown_query(&session.query);
    }
    let mut lock_waits: Vec<LockWait> = diesel::sql_query(LOCK_WAITS)
        .load(conn)
        .await
        .context("Failed to list the lock waits")?;
    for wait in &mut lock_waits {
        wait.waiting_query = shown_query(&wait.waiting_query);
        wait.blocking_query = shown_query(&wait.blocking_query);
    }
    let oldest_snapshot = diesel::sql_query(OLDEST_SNAPSHOT)
        .load::<Snapshot>(conn)
        .await
        .context("Failed to find the oldest snapshot")?
        .pop();
    let long_secs = long.as_secs_f64();
    Ok(Activity {
        long_after_seconds: long_secs,
        sessions,
        long_transactions: open
            .iter()
            .filter(|s| s.transaction_seconds >= long_secs)
            .cloned()
            .collect(),
        idle_in_transaction: open
            .into_iter()
            .filter(|s| s.state.starts_with("idle in transaction"))
            .collect(),
        lock_waits,
        oldest_snapshot,
    })
}

/// A statement's text as shown: on one line, at most [`QUERY_CHARS`]
/// characters, and hidden whole when it may carry a password (`ALTER ROLE
/// .. PASSWORD '..'`), which the server shows as it was sent.
pub fn shown_query(query: &str) -> String {
    if query.to_ascii_lowercase().contains("password") {
        return "(hidden: the statement mentions a password)".to_string();
    }
    let one_line = query
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match one_line.char_indices().nth(QUERY_CHARS) {
        Some((at, _)) => format!("{}...", &one_line[..at]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_shown_on_one_line_without_passwords() {
        assert_eq!(shown_query("SELECT\n  1\t\u{1b}[31m"), "SELECT 1 [31m");
        assert!(!shown_query("ALTER ROLE app PASSWORD 's3cret'").contains("s3cret"));
        let long = "x ".repeat(400);
        assert_eq!(shown_query(&long).chars().count(), QUERY_CHARS + 3);
    }
}
