//! The session as it was before a migration, put back after it: a `SET` in
//! one migration (search_path, role, timeouts, session_replication_role)
//! never reaches the next migration, and a temporary table never shadows
//! the next migration's tables.
//!
//! Every name here is schema-qualified or a pg_catalog function, so a
//! migration's `search_path` cannot redirect these statements.

use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use super::MigrateError;

/// Every setting a session can change (not the per-transaction
/// `transaction_*` ones), as a JSON object, with the session's user and role,
/// which `pg_settings` does not show.
const CAPTURE: &str = "\
SELECT pg_catalog.jsonb_object_agg(name, setting)::text AS settings, \
       pg_catalog.current_setting('session_authorization') AS session_authorization, \
       pg_catalog.current_setting('role') AS role \
FROM pg_catalog.pg_settings \
WHERE context IN ('user', 'superuser') AND name NOT LIKE 'transaction\\_%'";

/// Puts back every changed setting; one set since (a new custom setting)
/// goes back to its reset value.
const RESTORE_SETTINGS: &str = "\
SELECT pg_catalog.count(pg_catalog.set_config(s.name, coalesce(b.value, s.reset_val), false)) \
FROM pg_catalog.pg_settings s \
LEFT JOIN pg_catalog.jsonb_each_text($1::pg_catalog.jsonb) b ON b.key = s.name \
WHERE s.context IN ('user', 'superuser') AND s.name NOT LIKE 'transaction\\_%' \
  AND s.setting IS DISTINCT FROM coalesce(b.value, s.reset_val)";

/// The session's settings at one moment.
#[derive(Debug, QueryableByName)]
pub(crate) struct Session {
    #[diesel(sql_type = Text)]
    settings: String,
    #[diesel(sql_type = Text)]
    session_authorization: String,
    #[diesel(sql_type = Text)]
    role: String,
}

impl Session {
    /// Reads the session's settings now.
    pub(crate) async fn capture(conn: &mut AsyncPgConnection) -> Result<Self, MigrateError> {
        diesel::sql_query(CAPTURE)
            .get_result(conn)
            .await
            .map_err(MigrateError::db("read the session's settings"))
    }

    /// Puts the session back as it was captured: its user and role first
    /// (so that setting the rest is allowed), then every setting, then drops
    /// the temporary tables made since.
    pub(crate) async fn restore(&self, conn: &mut AsyncPgConnection) -> Result<(), MigrateError> {
        let failed = MigrateError::db("restore the session's settings after a migration");
        for (name, value) in [
            ("session_authorization", &self.session_authorization),
            ("role", &self.role),
        ] {
            diesel::sql_query(
                "SELECT pg_catalog.set_config($1, $2, false) \
                 WHERE pg_catalog.current_setting($1) IS DISTINCT FROM $2",
            )
            .bind::<Text, _>(name)
            .bind::<Text, _>(value)
            .execute(conn)
            .await
            .map_err(MigrateError::db(
                "restore the session's user and role after a migration",
            ))?;
        }
        diesel::sql_query(RESTORE_SETTINGS)
            .bind::<Text, _>(&self.settings)
            .execute(conn)
            .await
            .map_err(failed)?;
        conn.batch_execute("DISCARD TEMP")
            .await
            .map_err(MigrateError::db(
                "drop the temporary tables a migration made",
            ))
    }
}
