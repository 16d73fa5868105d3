//! Connections and the bb8 pool, built in one place from [`DbConfig`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::{ConnectionError, ConnectionResult};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolError, PoolableConnection, RecyclingMethod,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio_postgres::tls::MakeTlsConnect;

use crate::config::{DbConfig, redact_url, shorten};
use crate::error::{Error, Result};
use crate::tls::{TlsParams, client_config, split_tls_params};

/// The application's connection pool.
pub type DbPool = bb8::Pool<AsyncDieselConnectionManager<AsyncPgConnection>>;
/// A connection borrowed from [`DbPool`]; it goes back when dropped.
pub type PooledConn<'a> =
    bb8::PooledConnection<'a, AsyncDieselConnectionManager<AsyncPgConnection>>;

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

/// The pool and what it needs to explain its failures.
///
/// Faults: a request running when the server restarts or ends its backend
/// fails with [`Error::ConnectionLost`]; a connection found closed at
/// check-out is dropped and another handed out, so later requests do not
/// fail. A connection that comes back inside a transaction (its request was
/// cancelled midway) is dropped, never reused. With every connection busy,
/// [`Db::get`] waits up to the pool timeout, then fails with
/// [`Error::PoolTimeout`].
#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    target: String,
    pool_timeout: Duration,
    last_error: LastError,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Db {
    /// Builds the pool and opens a first connection, so a wrong URL or an
    /// unreachable server is reported now, with its cause.
    pub async fn connect(config: &DbConfig) -> Result<Self> {
        let url = config.url()?;
        let settings = Arc::new(ConnectSettings::new(url, config)?);
        let target = redact_url(url);
        let first = settings.establish().await.map_err(|e| Error::Connect {
            target: target.clone(),
            cause: connection_error_text(&e),
        })?;

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
            .connection_timeout(config.pool_timeout)
            .idle_timeout(config.idle_timeout)
            .max_lifetime(config.max_lifetime)
            .error_sink(Box::new(last_error.clone()))
            .build_unchecked(manager);
        // The validated connection is the pool's first.
        let _ = pool.add(first);
        Ok(Self {
            pool,
            target,
            pool_timeout: config.pool_timeout,
            last_error,
        })
    }

    /// Borrows a connection, waiting at most the pool timeout.
    pub async fn get(&self) -> Result<PooledConn<'_>> {
        settle().await;
        self.pool.get().await.map_err(|e| self.run_error(e))
    }

    /// Borrows a connection that can move into a spawned task.
    pub async fn get_owned(&self) -> Result<PooledConn<'static>> {
        settle().await;
        self.pool.get_owned().await.map_err(|e| self.run_error(e))
    }

    fn run_error(&self, error: bb8::RunError<PoolError>) -> Error {
        match error {
            bb8::RunError::User(PoolError::ConnectionError(e)) => Error::Connect {
                target: self.target.clone(),
                cause: connection_error_text(&e),
            },
            bb8::RunError::User(PoolError::QueryError(e)) => e.into(),
            bb8::RunError::TimedOut => Error::PoolTimeout {
                waited: self.pool_timeout,
                last_error: self.last_error.0.lock().ok().and_then(|last| last.clone()),
            },
        }
    }

    /// The bb8 pool itself, for its statistics.
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// The database URL with its password hidden.
    pub fn target(&self) -> &str {
        &self.target
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
