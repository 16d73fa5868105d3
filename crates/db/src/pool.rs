//! Connections and the bb8 pool, built in one place from [`DbConfig`].

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::{ConnectionError, ConnectionResult};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolError, PoolableConnection, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use metrics::{Key, Label};
use tokio_postgres::tls::MakeTlsConnect;

use crate::config::{DbConfig, redact_url, shorten};
use crate::error::{Error, Result, lost_prepared_statement};
use crate::instrument::{METADATA, Tracker, names};
use crate::replica::Replica;
use crate::tls::{TlsParams, client_config, split_tls_params};

/// The application's connection pool.
pub type DbPool = bb8::Pool<AsyncDieselConnectionManager<AsyncPgConnection>>;
/// A connection borrowed from [`DbPool`]; it goes back when dropped.
pub type PooledConn<'a> =
    bb8::PooledConnection<'a, AsyncDieselConnectionManager<AsyncPgConnection>>;

/// A connection that several callers use at the same time, a clone each
/// (from [`Db::shared`]): their statements are pipelined on its one socket,
/// several callers' requests and answers travel in one write and one read,
/// and the server runs one backend where a connection per caller would
/// wake one each. The calls that take `&AsyncPgConnection` run on it (it
/// dereferences to one), each its own statement or pipeline, as on an owned
/// connection. A transaction needs a connection of its own
/// ([`Db::get`]), and so does anything that changes the session (`SET`):
/// the other callers would run inside it. It goes back to the pool when the
/// last clone is dropped; after the server closed it, every call fails, so
/// take another.
#[derive(Clone)]
pub struct SharedConn(Arc<PooledConn<'static>>);

impl std::ops::Deref for SharedConn {
    type Target = AsyncPgConnection;

    fn deref(&self) -> &AsyncPgConnection {
        &self.0
    }
}

impl fmt::Debug for SharedConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedConn")
            .field("callers", &Arc::strong_count(&self.0))
            .finish()
    }
}

/// The half of a tokio-postgres connection that drives the socket.
type Session = tokio_postgres::Connection<
    tokio_postgres::Socket,
    <tokio_postgres_rustls::MakeRustlsConnect as MakeTlsConnect<tokio_postgres::Socket>>::Stream,
>;

/// Everything needed to open one connection, parsed once.
struct ConnectSettings {
    /// The URL without the TLS parameters tokio-postgres does not know.
    pg_config: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    connect_timeout: Duration,
    statement_timeout: Option<Duration>,
    slow_query: Option<Duration>,
}

impl ConnectSettings {
    fn new(url: &str, config: &DbConfig) -> Result<Self> {
        // The reasons may quote parts of the URL (an sslmode); none is a
        // password, but any may be long.
        let invalid = |reason: String| Error::Connect {
            target: redact_url(url),
            cause: shorten(&reason),
        };
        let (pg_url, tls_params): (String, TlsParams) = split_tls_params(url).map_err(invalid)?;
        let mut pg_config: tokio_postgres::Config = pg_url
            .parse()
            .map_err(|e: tokio_postgres::Error| invalid(e.to_string()))?;
        pg_config
            .ssl_mode(tls_params.mode)
            .connect_timeout(config.connect_timeout);
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(
            client_config(&tls_params).map_err(invalid)?,
        );
        Ok(Self {
            pg_config,
            tls,
            connect_timeout: config.connect_timeout,
            statement_timeout: config.statement_timeout,
            slow_query: config.slow_query,
        })
    }

    /// Opens the session, within the connect timeout.
    async fn open(&self) -> ConnectionResult<(tokio_postgres::Client, Session)> {
        let attempt = self.pg_config.connect(self.tls.clone());
        tokio::time::timeout(self.connect_timeout, attempt)
            .await
            .map_err(|_| {
                ConnectionError::BadConnection(format!(
                    "no answer within the connect timeout of {:?} (MV_DB_CONNECT_TIMEOUT)",
                    self.connect_timeout
                ))
            })?
            .map_err(|e| ConnectionError::BadConnection(error_chain(&e)))
    }

    async fn establish(&self) -> ConnectionResult<AsyncPgConnection> {
        let (client, connection) = self.open().await?;
        let mut conn =
            AsyncPgConnection::try_from_client_and_connection(client, connection).await?;
        if let Some(timeout) = self.statement_timeout {
            diesel::sql_query(format!("SET statement_timeout = {}", timeout.as_millis()))
                .execute(&mut conn)
                .await
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
        }
        conn.set_instrumentation(Tracker::new(self.slow_query));
        Ok(conn)
    }
}

/// A message with every cause, as tokio-postgres keeps the useful part
/// (refused, timed out, bad password) in its sources.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// Opens one connection, outside any pool (migrations, admin tasks).
pub async fn connect(config: &DbConfig) -> Result<AsyncPgConnection> {
    let url = config.url()?;
    let settings = ConnectSettings::new(url, config)?;
    settings.establish().await.map_err(|e| Error::Connect {
        target: redact_url(url),
        cause: connection_error_text(&e),
    })
}

/// Opens a plain tokio-postgres client, outside any pool, for what Diesel
/// does not cover (`COPY FROM STDIN`). No statement timeout is set: bulk work
/// may take longer than one.
pub async fn connect_client(config: &DbConfig) -> Result<tokio_postgres::Client> {
    let url = config.url()?;
    let settings = ConnectSettings::new(url, config)?;
    let (client, connection) = settings.open().await.map_err(|e| Error::Connect {
        target: redact_url(url),
        cause: connection_error_text(&e),
    })?;
    // The connection's errors come back through the client's calls.
    tokio::spawn(connection);
    Ok(client)
}

fn connection_error_text(error: &ConnectionError) -> String {
    match error {
        ConnectionError::BadConnection(text) => text.clone(),
        ConnectionError::CouldntSetupConfiguration(e)
            if lost_prepared_statement(&e.to_string()) =>
        {
            Error::PoolerPreparedStatements {
                cause: e.to_string(),
            }
            .to_string()
        }
        other => error_chain(other),
    }
}

/// Remembers the last connection error, so a pool timeout can say why.
#[derive(Debug, Clone, Default)]
struct LastError(Arc<Mutex<Option<String>>>);

impl bb8::ErrorSink<PoolError> for LastError {
    fn sink(&self, error: PoolError) {
        let text = match &error {
            PoolError::ConnectionError(e) => connection_error_text(e),
            PoolError::QueryError(e) => e.to_string(),
        };
        if let Ok(mut last) = self.0.lock() {
            *last = Some(text);
        }
    }

    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<PoolError>> {
        Box::new(self.clone())
    }
}

/// One pool over one server, with what it needs to explain its failures
/// and the keys of its metrics.
#[derive(Clone)]
pub(crate) struct Pool {
    pool: DbPool,
    target: String,
    timeout: Duration,
    last_error: LastError,
    metrics: Arc<PoolMetrics>,
}

impl Pool {
    /// Builds the pool over `url`, with `first` as its first connection when
    /// given, and check-outs that wait at most `timeout`.
    pub(crate) fn build(
        url: &str,
        config: &DbConfig,
        name: &'static str,
        first: Option<AsyncPgConnection>,
        timeout: Duration,
    ) -> Result<Self> {
        let settings = Arc::new(ConnectSettings::new(url, config)?);
        let mut manager_config = ManagerConfig::default();
        manager_config.custom_setup = Box::new(move |_url| {
            let settings = settings.clone();
            async move { settings.establish().await }.boxed()
        });
        // A broken or closed connection is replaced at check-out, without the
        // round trip of a test query on every borrow; one that a cancelled
        // request left inside a transaction is dropped when it comes back.
        manager_config.recycling_method = RecyclingMethod::CustomFunction(Box::new(check_alive));
        let manager = AsyncDieselConnectionManager::new_with_config(url, manager_config);
        let last_error = LastError::default();
        let pool = bb8::Pool::builder()
            .max_size(config.pool_size)
            .connection_timeout(timeout)
            .idle_timeout(config.idle_timeout)
            .max_lifetime(config.max_lifetime)
            .error_sink(Box::new(last_error.clone()))
            .build_unchecked(manager);
        if let Some(first) = first {
            let _ = pool.add(first);
        }
        Ok(Self {
            pool,
            target: redact_url(url),
            timeout,
            last_error,
            metrics: Arc::new(PoolMetrics::new(name)),
        })
    }

    /// Borrows a connection, waiting at most the pool's timeout; the wait is
    /// measured apart from what the connection then runs.
    pub(crate) async fn get(&self) -> Result<PooledConn<'_>> {
        settle().await;
        let started = self.metrics.waiting();
        let got = self.pool.get().await;
        self.get_done(started, got)
    }

    async fn get_owned(&self) -> Result<PooledConn<'static>> {
        settle().await;
        let started = self.metrics.waiting();
        let got = self.pool.get_owned().await;
        self.get_done(started, got)
    }

    fn get_done<'a>(
        &self,
        started: Instant,
        got: Result<PooledConn<'a>, bb8::RunError<PoolError>>,
    ) -> Result<PooledConn<'a>> {
        let waited = started.elapsed();
        self.metrics.waited(waited, got.is_ok());
        let mut conn = got.map_err(|e| self.run_error(e))?;
        if let Some(tracker) = Tracker::of(&mut conn) {
            tracker.checked_out(waited);
        }
        Ok(conn)
    }

    fn run_error(&self, error: bb8::RunError<PoolError>) -> Error {
        match error {
            bb8::RunError::User(PoolError::ConnectionError(e)) => Error::Connect {
                target: self.target.clone(),
                cause: connection_error_text(&e),
            },
            bb8::RunError::User(PoolError::QueryError(e)) => e.into(),
            bb8::RunError::TimedOut => Error::PoolTimeout {
                waited: self.timeout,
                last_error: self.last_error(),
            },
        }
    }

    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    /// The last error of a connection attempt, if any.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.last_error.0.lock().ok().and_then(|last| last.clone())
    }

    /// Sets the connection gauges from the pool's state.
    fn sample(&self) {
        let state = self.pool.state();
        let used = state.connections.saturating_sub(state.idle_connections);
        self.metrics.sample(used, state.idle_connections);
    }
}

/// The keys of a pool's metrics, labelled with the pool's name.
struct PoolMetrics {
    pending: Key,
    wait: Key,
    timeouts: Key,
    used: Key,
    idle: Key,
}

impl PoolMetrics {
    fn new(name: &'static str) -> Self {
        let pool = || Label::from_static_parts(names::POOL_NAME, name);
        let key = |metric: &'static str| Key::from_parts(metric, vec![pool()]);
        let count = |state: &'static str| {
            Key::from_parts(
                names::CONNECTION_COUNT,
                vec![pool(), Label::from_static_parts(names::STATE, state)],
            )
        };
        Self {
            pending: key(names::PENDING_REQUESTS),
            wait: key(names::WAIT_TIME),
            timeouts: key(names::TIMEOUTS),
            used: count("used"),
            idle: count("idle"),
        }
    }

    /// Counts a request as waiting; returns when it started.
    fn waiting(&self) -> Instant {
        metrics::with_recorder(|r| r.register_gauge(&self.pending, &METADATA).increment(1.0));
        Instant::now()
    }

    fn waited(&self, waited: Duration, got: bool) {
        metrics::with_recorder(|r| {
            r.register_gauge(&self.pending, &METADATA).decrement(1.0);
            r.register_histogram(&self.wait, &METADATA)
                .record(waited.as_secs_f64());
            if !got {
                r.register_counter(&self.timeouts, &METADATA).increment(1);
            }
        });
    }

    fn sample(&self, used: u32, idle: u32) {
        metrics::with_recorder(|r| {
            r.register_gauge(&self.used, &METADATA).set(used);
            r.register_gauge(&self.idle, &METADATA).set(idle);
        });
    }
}

/// How often the connection gauges are read from the pools.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Ends the task that samples the pools when the last [`Db`] goes.
struct Sampler(Option<tokio::sync::oneshot::Sender<()>>);

impl Sampler {
    fn spawn(pools: Vec<Pool>, max: u32) -> Self {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        for pool in &pools {
            let key = Key::from_parts(
                names::CONNECTION_MAX,
                pool.metrics
                    .idle
                    .labels()
                    .take(1)
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            metrics::with_recorder(|r| r.register_gauge(&key, &METADATA).set(max));
        }
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SAMPLE_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = every.tick() => pools.iter().for_each(Pool::sample),
                    _ = &mut stopped => break,
                }
            }
        });
        Self(Some(stop))
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            let _ = stop.send(());
        }
    }
}

/// The pool and what it needs to explain its failures.
///
/// Faults: a request running when the server restarts or ends its backend
/// fails with [`Error::ConnectionLost`]; a connection found closed at
/// check-out is dropped and another handed out, so later requests do not
/// fail. A connection that comes back inside a transaction (its request was
/// cancelled midway) is dropped, never reused. With every connection busy,
/// [`Db::get`] waits up to the pool timeout, then fails with
/// [`Error::PoolTimeout`].
///
/// With a replica configured, [`Db::read`] sends the reads a caller allows
/// there (see [`crate::replica`]); everything else goes to the primary.
#[derive(Clone)]
pub struct Db {
    primary: Pool,
    replica: Option<Arc<Replica>>,
    _sampler: Arc<Sampler>,
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("target", &self.primary.target)
            .field("replica", &self.replica.as_ref().map(|r| r.target()))
            .finish_non_exhaustive()
    }
}

impl Db {
    /// Builds the pool and opens a first connection, so a wrong URL or an
    /// unreachable server is reported now, with its cause. A configured
    /// replica is not required to be up: its reads go to the primary until
    /// it is.
    pub async fn connect(config: &DbConfig) -> Result<Self> {
        let url = config.url()?;
        let first = ConnectSettings::new(url, config)?
            .establish()
            .await
            .map_err(|e| Error::Connect {
                target: redact_url(url),
                cause: connection_error_text(&e),
            })?;
        let primary = Pool::build(url, config, "primary", Some(first), config.pool_timeout)?;
        let replica = config
            .replica_url
            .as_deref()
            .map(|url| Replica::build(url, config).map(Arc::new))
            .transpose()?;
        let pools = std::iter::once(primary.clone())
            .chain(replica.iter().map(|r| r.pool().clone()))
            .collect();
        Ok(Self {
            _sampler: Arc::new(Sampler::spawn(pools, config.pool_size)),
            primary,
            replica,
        })
    }

    /// Borrows a connection to the primary, waiting at most the pool
    /// timeout: for writes, transactions, the worker API, and reads that
    /// must see everything.
    pub async fn get(&self) -> Result<PooledConn<'_>> {
        self.primary.get().await
    }

    /// Borrows a connection to the primary that can move into a spawned task.
    pub async fn get_owned(&self) -> Result<PooledConn<'static>> {
        self.primary.get_owned().await
    }

    /// Borrows a connection to the primary for several callers at once:
    /// see [`SharedConn`]. It is one of the pool's connections, taken for as
    /// long as a clone of it lives.
    pub async fn shared(&self) -> Result<SharedConn> {
        let mut conn = self.primary.get_owned().await?;
        // Its calls wait for no check-out of their own.
        if let Some(tracker) = Tracker::of(&mut conn) {
            tracker.checked_out(Duration::ZERO);
        }
        Ok(SharedConn(Arc::new(conn)))
    }

    /// The bb8 pool itself, for its statistics.
    pub fn pool(&self) -> &DbPool {
        &self.primary.pool
    }

    /// The database URL with its password hidden.
    pub fn target(&self) -> &str {
        &self.primary.target
    }

    pub(crate) fn primary(&self) -> &Pool {
        &self.primary
    }

    pub(crate) fn replica(&self) -> Option<&Replica> {
        self.replica.as_deref()
    }
}

/// Lets the runtime poll its I/O driver before a check-out. A server that
/// ends a connection closes its socket; the connection's task sees that only
/// when the runtime has polled its I/O driver since. Without the yield, a
/// connection killed while idle (a restart, `pg_terminate_backend`) could be
/// handed out as alive and fail the next request; with it, the check-out
/// test ([`check_alive`]) sees it closed, and bb8 drops it and checks out
/// another, or opens a new one.
///
/// The yield comes before the check-out rather than inside it: inside, it
/// would leave bb8's check-out timeout pending, and arming that timer costs a
/// wake-up of the runtime's driver on every borrow.
async fn settle() {
    tokio::task::yield_now().await;
}

/// The check-out test: no round trip, only the state the connection's task
/// has recorded (see [`settle`]).
fn check_alive(conn: &mut AsyncPgConnection) -> BoxFuture<'_, diesel::QueryResult<()>> {
    let alive = if PoolableConnection::is_broken(conn) {
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ClosedConnection,
            Box::new(
                "a pooled connection was closed by the server or left inside a transaction"
                    .to_string(),
            ),
        ))
    } else {
        Ok(())
    };
    std::future::ready(alive).boxed()
}
