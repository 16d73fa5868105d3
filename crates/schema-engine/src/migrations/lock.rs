//! One runner at a time: a session-level PostgreSQL advisory lock.
//!
//! Waiters poll `pg_try_advisory_lock` instead of blocking in
//! `pg_advisory_lock`: a blocked waiter sits in an open transaction, which a
//! `CREATE INDEX CONCURRENTLY` in the holder would wait for, and the two
//! would wait on each other for ever. The lock is the session's, so it goes
//! when the holder's session ends, however the holder died.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Int4, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

use super::{Event, MigrateError, Options};

/// The advisory lock key every migration run takes ("mvmigrat").
pub const LOCK_KEY: i64 = 0x6d76_6d69_6772_6174;

/// The `application_name` of a migrating session, so a waiter can say who
/// holds the lock.
pub const APPLICATION_NAME: &str = "mv-migrations";

const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// The session holding the migration lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, QueryableByName)]
pub struct LockHolder {
    /// The PostgreSQL backend pid of the holding session.
    #[diesel(sql_type = Int4)]
    pub pid: i32,
    #[diesel(sql_type = Nullable<Text>)]
    pub application_name: Option<String>,
    /// The client's address; `None` over a Unix socket.
    #[diesel(sql_type = Nullable<Text>)]
    pub client_addr: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub backend_start: Option<DateTime<Utc>>,
}

impl LockHolder {
    /// "PostgreSQL backend pid 123 (mv-migrations, from 10.0.0.5, connected at ...)".
    pub fn describe(&self) -> String {
        let mut about = Vec::new();
        if let Some(name) = self.application_name.as_deref().filter(|n| !n.is_empty()) {
            about.push(name.to_string());
        }
        if let Some(addr) = &self.client_addr {
            about.push(format!("from {addr}"));
        }
        if let Some(start) = self.backend_start {
            about.push(format!(
                "connected at {}",
                start.format("%Y-%m-%d %H:%M:%S UTC")
            ));
        }
        if about.is_empty() {
            format!("PostgreSQL backend pid {}", self.pid)
        } else {
            format!("PostgreSQL backend pid {} ({})", self.pid, about.join(", "))
        }
    }
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// The session holding the migration lock of this database, if any.
pub async fn holder(conn: &mut AsyncPgConnection) -> Result<Option<LockHolder>, MigrateError> {
    // A bigint advisory key is stored as its high and low halves.
    diesel::sql_query(
        "SELECT l.pid, a.application_name, host(a.client_addr) AS client_addr, a.backend_start \
         FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted \
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND l.classid = ($1 >> 32)::oid AND l.objid = ($1 & 4294967295)::oid AND l.objsubid = 1",
    )
    .bind::<BigInt, _>(LOCK_KEY)
    .get_result(conn)
    .await
    .optional()
    .map_err(MigrateError::db("look up the migration lock's holder"))
}

/// Takes the lock, polling until `options.lock_wait` has passed.
pub(crate) async fn acquire(
    conn: &mut AsyncPgConnection,
    options: &Options,
) -> Result<(), MigrateError> {
    prepare_session(conn).await?;
    let start = Instant::now();
    let mut announced = false;
    loop {
        let Locked { locked } = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
            .bind::<BigInt, _>(LOCK_KEY)
            .get_result(conn)
            .await
            .map_err(MigrateError::db("try the migration lock"))?;
        if locked {
            return Ok(());
        }
        let waited = start.elapsed();
        if waited >= options.lock_wait {
            return Err(MigrateError::LockTimeout {
                waited: options.lock_wait,
                holder: holder(conn).await?,
            });
        }
        if !announced {
            announced = true;
            let holder = holder(conn).await?;
            options.notify(Event::WaitingForLock {
                holder: holder.as_ref(),
            });
        }
        tokio::time::sleep(POLL_INTERVAL.min(options.lock_wait - waited)).await;
    }
}

/// Lets go of the lock.
pub(crate) async fn release(conn: &mut AsyncPgConnection) -> Result<(), MigrateError> {
    diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(LOCK_KEY)
        .execute(conn)
        .await
        .map(drop)
        .map_err(MigrateError::db("release the migration lock"))
}

/// Names the session, and makes PostgreSQL notice a dead client even in the
/// middle of a long statement (PostgreSQL 14 and later), so the lock of a
/// killed runner is freed within a second rather than when its statement ends.
async fn prepare_session(conn: &mut AsyncPgConnection) -> Result<(), MigrateError> {
    diesel::sql_query(
        "SELECT set_config('application_name', $1, false), \
                set_config('client_connection_check_interval', '1000', false) \
         WHERE current_setting('server_version_num')::int >= 140000 \
         UNION ALL \
         SELECT set_config('application_name', $1, false), '' \
         WHERE current_setting('server_version_num')::int < 140000",
    )
    .bind::<Text, _>(APPLICATION_NAME)
    .execute(conn)
    .await
    .map(drop)
    .map_err(MigrateError::db("prepare the migration session"))
}
