//! What every command is given: the configuration, resolved only when a
//! command connects, and the output mode. The configuration as read stays
//! private here, so no command can use it before the local server's URL
//! is filled in.

use anyhow::Result;
use db::{Db, DbConfig};
use diesel_async::AsyncPgConnection;

/// What every command needs: the configuration and the output mode.
#[derive(Debug, Clone)]
pub struct Context {
    /// As read; without a URL until [`Context::config`] fills in the local
    /// server's.
    config: DbConfig,
    pub json: bool,
    /// Whether `--database-url` was given: then it is also the direct URL.
    url_given: bool,
}

impl Context {
    /// Reads the configuration; `--database-url` wins over the environment.
    pub fn new(database_url: Option<String>, json: bool) -> Result<Self> {
        let mut config = DbConfig::from_env()?;
        let url_given = database_url.is_some();
        if let Some(url) = database_url {
            config = config.with_url(url);
        }
        Ok(Self {
            config,
            json,
            url_given,
        })
    }

    /// The configuration with its database URL: `--database-url`, else
    /// `DATABASE_URL` (environment, then `.env`), else the project's local
    /// server, started and its database created when needed.
    pub async fn config(&self) -> Result<DbConfig> {
        if self.config.database_url.is_some() {
            return Ok(self.config.clone());
        }
        let url = crate::commands::db::local_database_url().await?;
        Ok(self.config.clone().with_url(url))
    }

    /// The configuration for what a connection pooler cannot carry (dumps,
    /// restores, migrations, push): `--database-url`, else
    /// `DATABASE_DIRECT_URL`, else as [`Context::config`]. A URL recognised as
    /// a pooler's is refused.
    pub async fn direct_config(&self) -> Result<DbConfig> {
        let config = match &self.config.database_direct_url {
            Some(direct) if !self.url_given => self.config.clone().with_url(direct.clone()),
            _ => self.config().await?,
        };
        let url = config.url()?;
        if let Some(host) = db::config::pooler_host(url) {
            anyhow::bail!(
                "{} goes through a connection pooler ({host}); dumps, restores, migrations and \
                 push need a direct connection: set DATABASE_DIRECT_URL to the database's direct \
                 URL (on Neon, the same host without `-pooler`)",
                db::config::redact_url(url)
            );
        }
        Ok(config)
    }

    /// One connection over [`Context::direct_config`].
    pub async fn connect_direct(&self) -> Result<AsyncPgConnection> {
        Ok(db::connect(&self.direct_config().await?).await?)
    }

    /// A pool over the configured database.
    pub async fn db(&self) -> Result<Db> {
        Ok(Db::connect(&self.config().await?).await?)
    }

    /// One connection to the configured database.
    pub async fn connect(&self) -> Result<AsyncPgConnection> {
        Ok(db::connect(&self.config().await?).await?)
    }

    /// One plain tokio-postgres client (for COPY).
    pub async fn client(&self) -> Result<tokio_postgres::Client> {
        Ok(db::connect_client(&self.config().await?).await?)
    }
}
