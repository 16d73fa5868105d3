//! What every request shares: the pool, the mode, the catalog, and the
//! transactions every database access goes through.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use schema_engine::catalog::{self, Schema, Table};
use schema_engine::inspect::ConnFuture;

use crate::edits::Staged;
use crate::error::{Result, StudioError};
use crate::security::Guard;

/// Whether the studio may change the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Started without `--write`: every transaction is READ ONLY.
    ReadOnly,
    /// Started with `--write` on a database without the production mark.
    Write,
    /// Started with `--write`, but the database carries the production mark.
    Production,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Self::ReadOnly => "read-only",
            Self::Write => "write",
            Self::Production => "production: read-only",
        }
    }
}

/// How long the catalog read for one request is reused by the next ones.
const CATALOG_TTL: Duration = Duration::from_secs(5);

pub struct AppState {
    pub db: db::Db,
    pub config: db::DbConfig,
    pub mode: Mode,
    pub guard: Guard,
    /// Per statement, for every transaction of the studio.
    pub statement_timeout: Duration,
    /// The most rows the SQL console shows.
    pub row_cap: usize,
    /// The edits staged and not yet applied.
    pub staged: Mutex<Vec<Staged>>,
    catalog: Mutex<Option<(Instant, Arc<Schema>)>>,
}

impl AppState {
    pub fn new(
        db: db::Db,
        config: db::DbConfig,
        mode: Mode,
        guard: Guard,
        statement_timeout: Duration,
        row_cap: usize,
    ) -> Self {
        Self {
            db,
            config,
            mode,
            guard,
            statement_timeout,
            row_cap,
            staged: Mutex::new(Vec::new()),
            catalog: Mutex::new(None),
        }
    }

    /// Runs `f` in a READ ONLY transaction with the statement timeout.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send,
        F: for<'c> FnOnce(&'c mut AsyncPgConnection) -> ConnFuture<'c, T, StudioError> + Send,
    {
        self.transaction(false, f).await
    }

    /// Runs `f` in a transaction that may write only when the studio was
    /// started with `--write` on an unmarked database; otherwise it is READ
    /// ONLY and the database refuses the first write. The production mark
    /// is read again inside the transaction, so marking a database while
    /// the studio runs takes effect at once.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AsyncPgConnection) -> ConnFuture<'c, T, StudioError>
            + Send
            + 'static,
    {
        let may_write = self.mode == Mode::Write;
        self.transaction(may_write, move |conn| {
            Box::pin(async move {
                // A READ ONLY transaction needs no check: the server refuses.
                if may_write && schema_engine::mark::read(conn).await?.is_some() {
                    return Err(StudioError::Refused(
                        "the database carries the production mark: the studio does not change it"
                            .into(),
                    ));
                }
                f(conn).await
            })
        })
        .await
    }

    async fn transaction<T, F>(&self, may_write: bool, f: F) -> Result<T>
    where
        T: Send,
        F: for<'c> FnOnce(&'c mut AsyncPgConnection) -> ConnFuture<'c, T, StudioError> + Send,
    {
        let mut conn = self.db.get().await?;
        let timeout = self.statement_timeout.as_millis().to_string();
        let mut builder = conn.build_transaction();
        if !may_write {
            builder = builder.read_only();
        }
        builder
            .run(async move |conn| {
                // Times are shown and read as UTC; the browser shows its own zone.
                diesel::sql_query(
                    "SELECT set_config('statement_timeout', $1, true), \
                            set_config('TimeZone', 'UTC', true)",
                )
                .bind::<Text, _>(timeout)
                .execute(conn)
                .await?;
                f(conn).await
            })
            .await
    }

    /// The tables of `public` (bookkeeping tables left out), read at most
    /// [`CATALOG_TTL`] ago.
    pub async fn catalog(&self) -> Result<Arc<Schema>> {
        if let Some((at, schema)) = &*self.catalog.lock().unwrap_or_else(|e| e.into_inner())
            && at.elapsed() < CATALOG_TTL
        {
            return Ok(schema.clone());
        }
        let schema = Arc::new(
            self.read(|conn| Box::pin(async move { Ok(catalog::introspect(conn).await?) }))
                .await?,
        );
        *self.catalog.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), schema.clone()));
        Ok(schema)
    }

    /// The catalog and the table named so (or an error listing the tables).
    pub async fn table(&self, name: &str) -> Result<(Arc<Schema>, Table)> {
        let schema = self.catalog().await?;
        let table = crate::browse::table(&schema, name)?.clone();
        Ok((schema, table))
    }

    /// A connection of its own (not pooled), for work that must not leave
    /// session settings on a pooled connection: the SQL console and exports.
    pub async fn dedicated_client(&self) -> Result<tokio_postgres::Client> {
        Ok(db::connect_client(&self.config).await?)
    }
}

pub type Shared = Arc<AppState>;
