//! How long each step holds its lock, from the tables' sizes.

use std::collections::BTreeMap;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::run::{TextRow, step_error};
use super::steps::{Hold, Lock, StepInfo};
use super::{APP_TABLES, AdoptError, FOREIGN_TABLES, Mode, Progress};

/// Rough speeds of this kind of work, in bytes per second of the table's
/// size, measured on a busy 2-core machine (BENCHMARKS.md): what the
/// estimates divide by.
const SCAN_RATE: f64 = 100e6;
const BACKFILL_RATE: f64 = 8e6;
const BUILD_RATE: f64 = 40e6;
const REWRITE_RATE: f64 = 25e6;

/// The steps with what comes before and after them: the journal and the
/// digests (live), the digests and the record (both).
pub(crate) fn with_bookends(
    steps: Vec<StepInfo>,
    mode: Mode,
    progress: Option<&Progress>,
) -> Vec<StepInfo> {
    let all = format!("{} tables", APP_TABLES.len() + FOREIGN_TABLES.len());
    let bookend = |name: &str, lock: Lock, hold: Hold, done: bool| StepInfo {
        done,
        ..StepInfo::new(name.to_string(), Some(all.clone()), lock, hold, Vec::new())
    };
    let mut out = Vec::new();
    match mode {
        Mode::Live => {
            out.push(bookend(
                "install the change journal",
                Lock::ShareRowExclusive,
                Hold::Instant,
                progress.is_some(),
            ));
            out.push(bookend(
                "digest every row before",
                Lock::AccessShare,
                Hold::Scan,
                progress.is_some_and(|p| p.before.is_some()),
            ));
            out.extend(steps);
            out.push(bookend("verify", Lock::AccessShare, Hold::Scan, false));
            out.push(bookend(
                "remove the change journal and record the baseline",
                Lock::AccessExclusive,
                Hold::Instant,
                false,
            ));
        }
        Mode::Window => {
            out.push(bookend(
                "digest every row before",
                Lock::AccessExclusive,
                Hold::Scan,
                false,
            ));
            out.extend(steps);
            out.push(bookend(
                "digest every row after, verify, record the baseline",
                Lock::AccessExclusive,
                Hold::Scan,
                false,
            ));
        }
    }
    out
}

#[derive(QueryableByName)]
struct SizeRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    pretty: String,
    #[diesel(sql_type = BigInt)]
    bytes: i64,
    #[diesel(sql_type = BigInt)]
    rows: i64,
}

fn seconds(bytes: i64, rate: f64) -> String {
    let seconds = bytes as f64 / rate;
    if seconds < 1.0 {
        "under 1 s".to_string()
    } else {
        format!(
            "about {}",
            humantime::format_duration(Duration::from_secs(seconds.round() as u64))
        )
    }
}

/// Fills in each step's table size and how long it holds its lock.
pub(crate) async fn estimate(
    conn: &mut AsyncPgConnection,
    steps: Vec<StepInfo>,
    mode: Mode,
) -> Result<Vec<StepInfo>, AdoptError> {
    let sizes: Vec<SizeRow> = diesel::sql_query(
        "SELECT c.relname::text AS name, pg_total_relation_size(c.oid)::int8 AS bytes, \
                pg_size_pretty(pg_total_relation_size(c.oid)) AS pretty, \
                greatest(c.reltuples, 0)::int8 AS rows \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r'",
    )
    .load(conn)
    .await
    .map_err(|e| step_error("read the tables' sizes", &e))?;
    let pretty: BTreeMap<String, String> = sizes
        .iter()
        .map(|s| (s.name.clone(), s.pretty.clone()))
        .collect();
    let sizes: BTreeMap<String, (i64, i64)> = sizes
        .into_iter()
        .map(|s| (s.name, (s.bytes, s.rows)))
        .collect();
    let known: i64 = APP_TABLES
        .iter()
        .chain(FOREIGN_TABLES.iter())
        .filter_map(|t| sizes.get(*t))
        .map(|(bytes, _)| bytes)
        .sum();
    let total: TextRow = diesel::sql_query("SELECT pg_size_pretty($1::int8) AS value")
        .bind::<BigInt, _>(known)
        .get_result(conn)
        .await
        .map_err(|e| step_error("read the tables' sizes", &e))?;
    let total = total.value;
    let window_total: f64 = if mode == Mode::Window {
        steps
            .iter()
            .map(|s| {
                let bytes = s
                    .table
                    .as_ref()
                    .and_then(|t| sizes.get(t))
                    .map_or(known, |(b, _)| *b) as f64;
                match s.hold {
                    Hold::Instant | Hold::Batches => 0.0,
                    Hold::Scan => bytes / SCAN_RATE,
                    Hold::Build => bytes / BUILD_RATE,
                    Hold::Rewrite => bytes / REWRITE_RATE,
                }
            })
            .sum()
    } else {
        0.0
    };
    Ok(steps
        .into_iter()
        .map(|mut step| {
            let size = step.table.as_ref().and_then(|t| sizes.get(t)).copied();
            step.table_bytes = Some(size.map_or(known, |(b, _)| b));
            step.table_size = Some(
                step.table
                    .as_ref()
                    .and_then(|t| pretty.get(t).cloned())
                    .unwrap_or_else(|| total.clone()),
            );
            step.table_rows = size.map(|(_, r)| r);
            let bytes = step.table_bytes.unwrap_or_default();
            step.estimate = match (mode, step.hold) {
                (Mode::Window, _) => format!(
                    "until the transaction commits ({} in all)",
                    seconds((window_total * REWRITE_RATE) as i64, REWRITE_RATE)
                ),
                (Mode::Live, Hold::Instant) => "milliseconds (catalog only)".to_string(),
                (Mode::Live, Hold::Batches) => format!(
                    "milliseconds per batch ({} in all)",
                    seconds(bytes, BACKFILL_RATE)
                ),
                (Mode::Live, Hold::Scan) => seconds(bytes, SCAN_RATE),
                (Mode::Live, Hold::Build) => seconds(bytes, BUILD_RATE),
                (Mode::Live, Hold::Rewrite) => seconds(bytes, REWRITE_RATE),
            };
            step
        })
        .collect())
}
