//! Reads on a streaming replica, where the caller allows them.
//!
//! [`Db::get`] always gives a connection to the primary: writes,
//! transactions and the worker API use it. [`Db::read`] takes a
//! [`Consistency`]: [`Consistency::Primary`]; [`Consistency::Replica`], any
//! replica state within `MV_DB_REPLICA_MAX_LAG`; or
//! [`Consistency::AtLeast`], a replica that has replayed a given write
//! ([`wal_position`], taken on the primary after the write). A
//! [`UnitOfWork`] reads on the replica until its first write, then on the
//! primary. A replica that is down, too far behind, or behind the given
//! position serves nothing: the read goes to the primary, counted in
//! `db.client.replica.fallbacks` by reason.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use diesel::pg::data_types::PgLsn;
use diesel::prelude::*;
use diesel::sql_types::{Double, Nullable, PgLsn as PgLsnType};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use metrics::{Key, Label};

use crate::config::DbConfig;
use crate::error::Result;
use crate::instrument::{METADATA, names};
use crate::pool::{Db, Pool, PooledConn};

/// After a failed check-out, how long reads skip the replica before trying
/// it again.
const DOWN_FOR: Duration = Duration::from_secs(5);
/// How long a measured replica lag is trusted.
const LAG_CHECKED_FOR: Duration = Duration::from_secs(1);

/// Where a read may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// The primary: sees everything committed.
    Primary,
    /// The replica when it is up and within `MV_DB_REPLICA_MAX_LAG`, else
    /// the primary: may miss the latest writes.
    Replica,
    /// The replica once it has replayed this position (a write's, from
    /// [`wal_position`]), else the primary: sees that write and everything
    /// before it.
    AtLeast(WalPosition),
}

/// A position in the primary's write-ahead log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WalPosition(pub u64);

impl std::fmt::Display for WalPosition {
    /// PostgreSQL's `pg_lsn` text form, `16/B374D848`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

define_sql_function! {
    /// Where the primary inserts its next WAL record: at or past the commit
    /// record of every transaction that has returned.
    fn pg_current_wal_insert_lsn() -> PgLsnType;
}

/// The primary's WAL position now. Taken on the connection that wrote,
/// after its transaction committed, it is a position at which a replica
/// sees the write; pass it to [`Consistency::AtLeast`].
pub async fn wal_position(conn: &mut AsyncPgConnection) -> Result<WalPosition> {
    let PgLsn(position) = diesel::select(pg_current_wal_insert_lsn())
        .get_result(conn)
        .await?;
    Ok(WalPosition(position))
}

/// Why a read allowed on the replica went to the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fallback {
    /// No connection to the replica within its check-out timeout (or
    /// recently not).
    Down,
    /// Its replay lags more than `MV_DB_REPLICA_MAX_LAG`.
    Lagging,
    /// It has not replayed the position asked for yet.
    Behind,
}

impl Fallback {
    fn as_str(self) -> &'static str {
        match self {
            Self::Down => "down",
            Self::Lagging => "lagging",
            Self::Behind => "behind",
        }
    }
}

/// What is known of the replica's health.
#[derive(Debug, Default)]
struct Health {
    /// Reads skip the replica until then.
    skip_until: Option<(Instant, Fallback)>,
    /// When the lag was last measured within bounds.
    lag_ok_at: Option<Instant>,
}

/// The replica's pool and health.
pub(crate) struct Replica {
    pool: Pool,
    max_lag: Duration,
    health: Mutex<Health>,
    fallbacks: [Key; 3],
}

impl Replica {
    /// Builds the replica's pool without connecting: a replica that is down
    /// now only sends reads to the primary. A check-out waits at most the
    /// connect timeout (never more than the pool timeout), so reads go to
    /// the primary soon when the replica stops.
    pub(crate) fn build(url: &str, config: &DbConfig) -> Result<Self> {
        let timeout = config.connect_timeout.min(config.pool_timeout);
        let reason = |fallback: Fallback| {
            Key::from_parts(
                names::REPLICA_FALLBACKS,
                vec![Label::from_static_parts(names::REASON, fallback.as_str())],
            )
        };
        Ok(Self {
            pool: Pool::build(url, config, "replica", None, timeout)?,
            max_lag: config.replica_max_lag,
            health: Mutex::new(Health::default()),
            fallbacks: [
                reason(Fallback::Down),
                reason(Fallback::Lagging),
                reason(Fallback::Behind),
            ],
        })
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    pub(crate) fn target(&self) -> &str {
        self.pool.target()
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A replica connection fit for `consistency`, or why there is none.
    async fn checkout(
        &self,
        consistency: Consistency,
    ) -> std::result::Result<PooledConn<'_>, Fallback> {
        let lag_due = {
            let health = self.health();
            if let Some((until, why)) = health.skip_until
                && Instant::now() < until
            {
                return Err(why);
            }
            health
                .lag_ok_at
                .is_none_or(|at| at.elapsed() >= LAG_CHECKED_FOR)
        };
        let mut conn = match self.pool.get().await {
            Ok(conn) => conn,
            Err(_) => return Err(self.skip(Fallback::Down)),
        };
        match consistency {
            Consistency::AtLeast(position) => match replayed(&mut conn, position).await {
                Ok(true) => Ok(conn),
                Ok(false) => Err(Fallback::Behind),
                Err(_) => Err(self.skip(Fallback::Down)),
            },
            _ if !lag_due => Ok(conn),
            _ => match lag(&mut conn).await {
                Ok(Some(lag)) if lag <= self.max_lag => {
                    self.health().lag_ok_at = Some(Instant::now());
                    Ok(conn)
                }
                Ok(_) => Err(self.skip(Fallback::Lagging)),
                Err(_) => Err(self.skip(Fallback::Down)),
            },
        }
    }

    /// Sends reads to the primary for a while; returns `why`.
    fn skip(&self, why: Fallback) -> Fallback {
        let mut health = self.health();
        let wait = match why {
            Fallback::Down => DOWN_FOR,
            _ => LAG_CHECKED_FOR,
        };
        health.skip_until = Some((Instant::now() + wait, why));
        health.lag_ok_at = None;
        why
    }

    fn count(&self, why: Fallback) {
        let key = &self.fallbacks[why as usize];
        metrics::with_recorder(|r| r.register_counter(key, &METADATA).increment(1));
    }
}

#[derive(QueryableByName)]
struct Lag {
    #[diesel(sql_type = Nullable<Double>)]
    seconds: Option<f64>,
}

/// How far the replica's replay is behind: nothing when it has replayed all
/// it received, else the age of the last transaction it replayed; `None`
/// when that cannot be told (it received WAL and replayed no transaction
/// since it started). A server that is not a standby has no lag.
async fn lag(conn: &mut AsyncPgConnection) -> Result<Option<Duration>> {
    let lag: Lag = diesel::sql_query(
        "SELECT CASE WHEN NOT pg_is_in_recovery() \
                       OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 \
                     ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 \
                END AS seconds",
    )
    .get_result(conn)
    .await?;
    Ok(lag
        .seconds
        .and_then(|seconds| Duration::try_from_secs_f64(seconds.max(0.0)).ok()))
}

define_sql_function! {
    /// The last WAL position a standby replayed; NULL on a primary.
    fn pg_last_wal_replay_lsn() -> Nullable<PgLsnType>;
}

/// Whether the replica has replayed `position`; a server that is not a
/// standby has not (it may be a promoted former replica, on another
/// timeline).
async fn replayed(conn: &mut AsyncPgConnection, position: WalPosition) -> Result<bool> {
    let replayed: Option<PgLsn> = diesel::select(pg_last_wal_replay_lsn())
        .get_result(conn)
        .await?;
    Ok(replayed.is_some_and(|PgLsn(at)| at >= position.0))
}

impl Db {
    /// Borrows a connection for reads that may go where `consistency`
    /// allows: the replica when one is configured and fit, else the primary
    /// (counted in `db.client.replica.fallbacks`). Never write on it.
    pub async fn read(&self, consistency: Consistency) -> Result<PooledConn<'_>> {
        if let (Some(replica), Consistency::Replica | Consistency::AtLeast(_)) =
            (self.replica(), consistency)
        {
            match replica.checkout(consistency).await {
                Ok(conn) => return Ok(conn),
                Err(why) => replica.count(why),
            }
        }
        self.primary().get().await
    }

    /// Whether a replica is configured.
    pub fn has_replica(&self) -> bool {
        self.replica().is_some()
    }

    /// A unit of work that reads as `consistency` allows until it writes,
    /// and on the primary from then on.
    pub fn unit_of_work(&self, consistency: Consistency) -> UnitOfWork<'_> {
        UnitOfWork {
            db: self,
            consistency,
            wrote: false,
        }
    }
}

/// A request's connections: reads go where its [`Consistency`] allows until
/// the first [`UnitOfWork::write`], and to the primary after it, so that
/// nothing read after a write misses it.
#[derive(Debug)]
pub struct UnitOfWork<'a> {
    db: &'a Db,
    consistency: Consistency,
    wrote: bool,
}

impl<'a> UnitOfWork<'a> {
    /// A connection for reading.
    pub async fn read(&mut self) -> Result<PooledConn<'a>> {
        if self.wrote {
            self.db.get().await
        } else {
            self.db.read(self.consistency).await
        }
    }

    /// A connection to the primary, for writing; later reads go there too.
    pub async fn write(&mut self) -> Result<PooledConn<'a>> {
        self.wrote = true;
        self.db.get().await
    }
}
