//! Verification: the catalog of the app's tables against the baseline
//! replayed in a scratch database, the auth tables against drizzle's, and
//! every row's digest before and after.

use std::collections::BTreeMap;

use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};

use super::digest::{Digest, Digestible};
use super::run::{TableCheck, step_error};
use super::steps::PREFIX;
use super::{AdoptError, Assessment, BASELINE, FOREIGN_TABLES, detect};
use crate::catalog::Schema;

/// The schema without adopt's own objects (journal triggers and functions).
fn without_adopt_objects(schema: &Schema) -> Schema {
    let mut clean = schema.clone();
    clean
        .functions
        .retain(|signature, _| !signature.starts_with(PREFIX));
    for table in clean.tables.values_mut() {
        table.triggers.retain(|t| !t.name.starts_with(PREFIX));
    }
    clean
}

/// How the app's tables differ from the baseline, and the auth tables from
/// drizzle's; empty when the conversion is exact.
pub(crate) fn catalog_differences(live: &Schema, assessment: &Assessment) -> Vec<String> {
    let live = without_adopt_objects(live);
    let app = detect::app_tables(&live);
    let baseline = detect::app_tables(&assessment.baseline);
    let mut found: Vec<String> = detect::differences(&app, &baseline)
        .into_iter()
        .map(|d| format!("the app's tables differ from {BASELINE}: {d}"))
        .collect();
    if found.is_empty() && app.tables != baseline.tables {
        found.push(format!(
            "the app's tables differ from {BASELINE} in their catalog entries"
        ));
    }
    found.extend(
        detect::differences(
            &detect::foreign_tables(&live),
            &detect::foreign_tables(&assessment.shape),
        )
        .into_iter()
        .map(|d| format!("the auth tables changed: {d}")),
    );
    found
}

pub(crate) fn check(
    table: &Digestible,
    before: Digest,
    after: Digest,
    changed: i64,
    equal: bool,
) -> TableCheck {
    TableCheck {
        table: table.name.clone(),
        digest: if FOREIGN_TABLES.contains(&table.name.as_str()) {
            "exact"
        } else {
            "canonical"
        },
        rows_before: before.rows,
        rows_after: after.rows,
        changed_by_application: changed,
        equal,
    }
}

pub(crate) fn mismatch(table: &Digestible, before: Digest, after: Digest) -> String {
    format!(
        "the rows of {} differ: {} row(s) digest {} before, {} row(s) digest {} after",
        table.name, before.rows, before.sum, after.rows, after.sum
    )
}

/// Digests every table now, in one snapshot, and compares with the digests
/// before, leaving out the rows the application changed since.
pub(crate) async fn compare_journaled(
    conn: &mut AsyncPgConnection,
    tables: &[Digestible],
    snapshot: &str,
    before: &BTreeMap<String, Digest>,
) -> Result<(Vec<TableCheck>, Vec<String>), AdoptError> {
    conn.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(|e| step_error("verify", &e))?;
    let mut measured = Vec::new();
    for table in tables {
        match table.journaled(conn, snapshot).await {
            Ok(journaled) => measured.push(journaled),
            Err(e) => {
                let _ = conn.batch_execute("ROLLBACK").await;
                return Err(e.into());
            }
        }
    }
    let _ = conn.batch_execute("COMMIT").await;
    let mut checks = Vec::new();
    let mut found = Vec::new();
    for (table, journaled) in tables.iter().zip(measured) {
        let Some(was) = before.get(&table.name).copied() else {
            found.push(format!("no digest of {} was taken before", table.name));
            continue;
        };
        let kept_before = was - journaled.changed_before;
        let kept_after = journaled.now - journaled.changed_now;
        let equal = kept_before == kept_after;
        checks.push(check(table, was, journaled.now, journaled.keys, equal));
        if !equal {
            found.push(mismatch(table, kept_before, kept_after));
        }
    }
    Ok((checks, found))
}
