//! The one place that reads the database configuration.
//!
//! Every setting comes from the environment, else from a `.env` file in the
//! current folder or an ancestor, else from its default. `.env` is read, never
//! loaded into the process environment.

use std::fmt;
use std::time::Duration;

/// A setting that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}={value:?} is not valid: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error("DATABASE_URL is not a valid PostgreSQL URL ({url}): {reason}")]
    BadUrl { url: String, reason: String },
    #[error(
        "no database is configured: set DATABASE_URL (mv-admin starts the project's local \
         server when it is not set)"
    )]
    NoDatabaseUrl,
}

/// How to reach the database and how to pool connections to it.
#[derive(Clone)]
pub struct DbConfig {
    /// `DATABASE_URL`; `None` until a tool fills it in (mv-admin uses the
    /// project's local server then).
    pub database_url: Option<String>,
    /// `DATABASE_DIRECT_URL`: the same database without a connection pooler
    /// in between, for what a pooler cannot carry (dumps, restores,
    /// migrations, push); `None` when `DATABASE_URL` is already direct.
    pub database_direct_url: Option<String>,
    /// `MV_DB_POOL_SIZE` (default 10): connections the pool keeps at most.
    pub pool_size: u32,
    /// `MV_DB_CONNECT_TIMEOUT` (default 5s): to open one connection.
    pub connect_timeout: Duration,
    /// `MV_DB_POOL_TIMEOUT` (default 10s): to wait for a free pooled connection.
    pub pool_timeout: Duration,
    /// `MV_DB_STATEMENT_TIMEOUT` (default 30s, `0` for none): per statement.
    pub statement_timeout: Option<Duration>,
    /// `MV_DB_IDLE_TIMEOUT` (default 10m, `0` for never): an idle connection is closed after it.
    pub idle_timeout: Option<Duration>,
    /// `MV_DB_MAX_LIFETIME` (default 30m, `0` for never): a connection is replaced after it.
    pub max_lifetime: Option<Duration>,
}

impl Default for DbConfig {
    fn default() -> Self {
        Self {
            database_url: None,
            database_direct_url: None,
            pool_size: 10,
            connect_timeout: Duration::from_secs(5),
            pool_timeout: Duration::from_secs(10),
            statement_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
        }
    }
}

impl fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbConfig")
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field(
                "database_direct_url",
                &self.database_direct_url.as_deref().map(redact_url),
            )
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("pool_timeout", &self.pool_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_lifetime", &self.max_lifetime)
            .finish()
    }
}

impl DbConfig {
    /// Reads every setting from the environment and `.env`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let dotenv: Vec<(String, String)> = dotenvy::dotenv_iter()
            .map(|iter| iter.filter_map(Result::ok).collect())
            .unwrap_or_default();
        Self::from_lookup(|name| {
            std::env::var(name).ok().or_else(|| {
                dotenv
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })
        })
    }

    /// Reads every setting through `lookup` (the environment, in practice).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let database_url = lookup("DATABASE_URL").filter(|url| !url.trim().is_empty());
        let database_direct_url =
            lookup("DATABASE_DIRECT_URL").filter(|url| !url.trim().is_empty());
        let pool_size = match lookup("MV_DB_POOL_SIZE") {
            None => defaults.pool_size,
            Some(value) => match value.trim().parse::<u32>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "MV_DB_POOL_SIZE",
                        value,
                        reason: "expected a whole number of at least 1".into(),
                    });
                }
            },
        };
        let duration = |name: &'static str| -> Result<Option<Option<Duration>>, ConfigError> {
            lookup(name)
                .map(|value| parse_duration(name, &value))
                .transpose()
        };
        let required = |name: &'static str, default: Duration| -> Result<Duration, ConfigError> {
            match duration(name)? {
                None => Ok(default),
                Some(Some(d)) => Ok(d),
                Some(None) => Err(ConfigError::Invalid {
                    name,
                    value: "0".into(),
                    reason: "must be longer than zero".into(),
                }),
            }
        };
        Ok(Self {
            database_url,
            database_direct_url,
            pool_size,
            connect_timeout: required("MV_DB_CONNECT_TIMEOUT", defaults.connect_timeout)?,
            pool_timeout: required("MV_DB_POOL_TIMEOUT", defaults.pool_timeout)?,
            statement_timeout: duration("MV_DB_STATEMENT_TIMEOUT")?
                .unwrap_or(defaults.statement_timeout),
            idle_timeout: duration("MV_DB_IDLE_TIMEOUT")?.unwrap_or(defaults.idle_timeout),
            max_lifetime: duration("MV_DB_MAX_LIFETIME")?.unwrap_or(defaults.max_lifetime),
        })
    }

    /// The same configuration for another database URL.
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.database_url = Some(url.into());
        self
    }

    /// The URL to connect to.
    pub fn url(&self) -> Result<&str, ConfigError> {
        self.database_url
            .as_deref()
            .ok_or(ConfigError::NoDatabaseUrl)
    }
}

/// Parses `30s`, `500ms`, `2m`, or a bare number of seconds; `0` means no
/// limit (`None`). The error says what was expected.
pub fn parse_limit(value: &str) -> Result<Option<Duration>, String> {
    let trimmed = value.trim();
    let parsed = match trimmed.parse::<u64>() {
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) => humantime::parse_duration(trimmed).map_err(|e| e.to_string()),
    };
    match parsed {
        Ok(d) if d.is_zero() => Ok(None),
        Ok(d) => Ok(Some(d)),
        Err(reason) => Err(format!(
            "expected a duration such as 30s, 500ms or 2m ({reason})"
        )),
    }
}

/// [`parse_limit`] for the setting `name`.
pub(crate) fn parse_duration(
    name: &'static str,
    value: &str,
) -> Result<Option<Duration>, ConfigError> {
    parse_limit(value).map_err(|reason| ConfigError::Invalid {
        name,
        value: value.to_string(),
        reason,
    })
}

/// The host of `url` when it is a connection pooler's that can be told from
/// the URL alone: Neon's pooled endpoints (`ep-…-pooler.<region>…`).
pub fn pooler_host(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    let first = host.split('.').next()?;
    first.ends_with("-pooler").then(|| host.to_string())
}

/// The URL with its password replaced by `***`, fit for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_string(),
        // Not a URL: keep only what cannot hold a secret.
        Err(_) => "<the configured database>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let config = DbConfig::from_lookup(lookup(&[])).expect("defaults");
        assert_eq!(config.database_url, None);
        assert_eq!(config.pool_size, 10);
        assert_eq!(config.statement_timeout, Some(Duration::from_secs(30)));
    }

    #[test]
    fn settings_are_parsed_and_zero_disables() {
        let config = DbConfig::from_lookup(lookup(&[
            ("DATABASE_URL", "postgres://u:p@h/db"),
            ("MV_DB_POOL_SIZE", "3"),
            ("MV_DB_CONNECT_TIMEOUT", "750ms"),
            ("MV_DB_STATEMENT_TIMEOUT", "0"),
            ("MV_DB_IDLE_TIMEOUT", "2m"),
        ]))
        .expect("valid settings");
        assert_eq!(config.pool_size, 3);
        assert_eq!(config.connect_timeout, Duration::from_millis(750));
        assert_eq!(config.statement_timeout, None);
        assert_eq!(config.idle_timeout, Some(Duration::from_secs(120)));
    }

    #[test]
    fn bad_settings_name_the_variable() {
        let err =
            DbConfig::from_lookup(lookup(&[("MV_DB_POOL_SIZE", "many")])).expect_err("invalid");
        assert!(
            err.to_string().contains("MV_DB_POOL_SIZE=\"many\""),
            "{err}"
        );
        let err =
            DbConfig::from_lookup(lookup(&[("MV_DB_CONNECT_TIMEOUT", "0")])).expect_err("zero");
        assert!(err.to_string().contains("MV_DB_CONNECT_TIMEOUT"), "{err}");
    }

    #[test]
    fn passwords_never_show() {
        let config = DbConfig::default().with_url("postgres://alice:s3cret@db.example.com/app");
        assert!(!format!("{config:?}").contains("s3cret"));
        assert_eq!(
            redact_url("postgres://alice:s3cret@h/db"),
            "postgres://alice:***@h/db"
        );
        assert_eq!(redact_url("postgres://alice@h/db"), "postgres://alice@h/db");
        assert!(!redact_url("host=h password=s3cret").contains("s3cret"));
    }

    #[test]
    fn the_direct_url_is_read_beside_the_pooled_one() {
        let config = DbConfig::from_lookup(lookup(&[
            (
                "DATABASE_URL",
                "postgres://u:p@ep-a-1-pooler.eu.aws.neon.tech/db",
            ),
            (
                "DATABASE_DIRECT_URL",
                "postgres://u:s3cret@ep-a-1.eu.aws.neon.tech/db",
            ),
        ]))
        .expect("valid settings");
        assert_eq!(
            config.database_direct_url.as_deref(),
            Some("postgres://u:s3cret@ep-a-1.eu.aws.neon.tech/db")
        );
        assert!(!format!("{config:?}").contains("s3cret"));
        assert_eq!(
            pooler_host("postgres://u:p@ep-a-1-pooler.eu.aws.neon.tech/db").as_deref(),
            Some("ep-a-1-pooler.eu.aws.neon.tech")
        );
        assert_eq!(
            pooler_host("postgres://u:p@ep-a-1.eu.aws.neon.tech/db"),
            None
        );
        assert_eq!(pooler_host("postgres://u:p@pooler.example.com/db"), None);
        assert_eq!(pooler_host("postgresql:///db?host=%2Ftmp"), None);
    }
}
