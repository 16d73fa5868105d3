//! The one place that reads the database configuration.
//!
//! Every setting comes from the environment, else from a `.env` file in the
//! current folder or an ancestor, else from its default. `.env` is read, never
//! loaded into the process environment, and a `.env` that cannot be parsed
//! is an error naming its line: a setting silently missed would send the
//! command to another database.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// At most this many characters of an input are echoed in a message.
const ECHOED_CHARS: usize = 120;

/// A setting that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}={:?} is not valid: {reason}", shorten(value))]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
    /// A `.env` that cannot be parsed; its text is not echoed, as it may
    /// hold secrets.
    #[error("{}{}: {reason}", path.display(), line.map(|n| format!(" line {n}")).unwrap_or_default())]
    DotEnv {
        path: PathBuf,
        line: Option<usize>,
        reason: String,
    },
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
    /// `MV_DB_SLOW_QUERY` (default off, `0` for off): a call taking at least
    /// this long is logged (target `db::slow_query`).
    pub slow_query: Option<Duration>,
    /// `DATABASE_REPLICA_URL` (default none): a streaming replica that
    /// serves the reads a caller allows on it.
    pub replica_url: Option<String>,
    /// `MV_DB_REPLICA_MAX_LAG` (default 10s): a replica further behind
    /// serves no reads until it catches up.
    pub replica_max_lag: Duration,
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
            slow_query: None,
            replica_url: None,
            replica_max_lag: Duration::from_secs(10),
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
            .field("slow_query", &self.slow_query)
            .field("replica_url", &self.replica_url.as_deref().map(redact_url))
            .field("replica_max_lag", &self.replica_max_lag)
            .finish()
    }
}

impl DbConfig {
    /// Reads every setting from the environment and from the `.env` in the
    /// current folder or its nearest ancestor holding one.
    pub fn from_env() -> Result<Self, ConfigError> {
        let dotenv = match std::env::current_dir() {
            Ok(dir) => match dir
                .ancestors()
                .map(|d| d.join(".env"))
                .find(|p| p.is_file())
            {
                Some(path) => read_dotenv(&path)?,
                None => Vec::new(),
            },
            // No current folder (it was deleted): no `.env` to read.
            Err(_) => Vec::new(),
        };
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
            slow_query: duration("MV_DB_SLOW_QUERY")?.unwrap_or(defaults.slow_query),
            replica_url: lookup("DATABASE_REPLICA_URL").filter(|url| !url.trim().is_empty()),
            replica_max_lag: required("MV_DB_REPLICA_MAX_LAG", defaults.replica_max_lag)?,
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

/// The settings of the `.env` file at `path`, parsed by dotenvy; a file
/// that is not UTF-8 or holds a line dotenvy cannot parse (an unterminated
/// quote, a line without `=`) is refused, naming the line.
pub fn read_dotenv(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let refused = |line: Option<usize>, reason: String| ConfigError::DotEnv {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| refused(None, format!("cannot be read: {e}")))?;
    let line_at = |offset: usize| bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        refused(
            Some(line_at(e.valid_up_to())),
            "is not UTF-8 text (binary data?)".into(),
        )
    })?;
    // dotenvy's `load` drops a byte order mark; its iterator leaves it to us.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    dotenvy::from_read_iter(text.as_bytes())
        .map(|item| {
            item.map_err(|e| match e {
                dotenvy::Error::LineParse(logical, _) => {
                    // The logical line (several lines when a quote runs on)
                    // starts a line of the file: the first such place is it,
                    // as an identical line before it would have failed too.
                    let start = text
                        .match_indices(logical.as_str())
                        .map(|(at, _)| at)
                        .find(|&at| at == 0 || text.as_bytes()[at - 1] == b'\n');
                    refused(
                        start.map(|at| line_at(at + bytes.len() - text.len())),
                        "cannot be parsed: expected NAME=value, with every quote closed".into(),
                    )
                }
                other => refused(None, other.to_string()),
            })
        })
        .collect()
}

/// `text` cut to a length fit for a message, saying how long it was.
pub fn shorten(text: &str) -> String {
    let count = text.chars().count();
    if count <= ECHOED_CHARS {
        return text.to_string();
    }
    let kept: String = text.chars().take(ECHOED_CHARS).collect();
    format!("{kept}… ({count} characters)")
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

/// The URL with every secret replaced by `***` (the password of its user
/// part, and the value of any parameter whose name holds "password":
/// `password`, `sslpassword`), shortened, fit for messages and logs.
pub fn redact_url(url: &str) -> String {
    let secret = |key: &str| key.to_ascii_lowercase().contains("password");
    let shown = match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            if parsed.query_pairs().any(|(key, _)| secret(&key)) {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(key, value)| {
                        let value = if secret(&key) { "***".into() } else { value };
                        (key.into_owned(), value.into_owned())
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            // A fragment means nothing to PostgreSQL; it is no place to look.
            parsed.set_fragment(None);
            parsed.to_string()
        }
        // Not a URL (a `key=value` string, a typo): keep only what cannot
        // hold a secret.
        Err(_) => return "<the configured database>".to_string(),
    };
    shorten(&shown)
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
    fn observability_and_replica_settings() {
        let config = DbConfig::from_lookup(lookup(&[])).expect("defaults");
        assert_eq!(config.slow_query, None);
        assert_eq!(config.replica_url, None);
        let config = DbConfig::from_lookup(lookup(&[
            ("MV_DB_SLOW_QUERY", "250ms"),
            ("DATABASE_REPLICA_URL", "postgres://r:s3cret@replica/app"),
            ("MV_DB_REPLICA_MAX_LAG", "2s"),
        ]))
        .expect("valid settings");
        assert_eq!(config.slow_query, Some(Duration::from_millis(250)));
        assert_eq!(config.replica_max_lag, Duration::from_secs(2));
        assert!(!format!("{config:?}").contains("s3cret"));
        let err = DbConfig::from_lookup(lookup(&[("MV_DB_SLOW_QUERY", "soon")])).expect_err("bad");
        assert!(err.to_string().contains("MV_DB_SLOW_QUERY"), "{err}");
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
        for url in [
            "postgres://h/db?user=u&password=s3cret",
            "postgres://h/db?sslmode=require&sslpassword=s3cret&application_name=a",
            "postgres://h/db?PassWord=s3cret",
            "postgres://u:s3cret@h/db?password=s3cret#s3cret",
            "postgres://u:s3cret@h:99999/db",
        ] {
            let shown = redact_url(url);
            assert!(!shown.contains("s3cret"), "{url} -> {shown}");
        }
        assert_eq!(
            redact_url("postgresql:///db?host=%2Frun&user=r&password=s3cret"),
            "postgresql:///db?host=%2Frun&user=r&password=***"
        );
        assert_eq!(
            redact_url("postgres://h/db?sslmode=require&password=s3cret"),
            "postgres://h/db?sslmode=require&password=***"
        );
    }

    #[test]
    fn long_inputs_are_shortened() {
        let long = format!("postgres://h/{}", "d".repeat(5000));
        let shown = redact_url(&long);
        assert!(shown.len() < 200, "{shown}");
        assert!(shown.ends_with("(5013 characters)"), "{shown}");
        let err = DbConfig::from_lookup(lookup(&[("MV_DB_POOL_SIZE", &"9".repeat(5000))]))
            .expect_err("invalid");
        assert!(err.to_string().len() < 300, "{err}");
    }

    fn dotenv(text: &[u8]) -> Result<Vec<(String, String)>, ConfigError> {
        let dir = std::env::temp_dir().join(format!("mv-dotenv-{}", nanoid::nanoid!()));
        std::fs::create_dir_all(&dir).expect("folder");
        let path = dir.join(".env");
        std::fs::write(&path, text).expect("write");
        let read = read_dotenv(&path);
        let _ = std::fs::remove_dir_all(&dir);
        read
    }

    #[test]
    fn a_dotenv_that_cannot_be_parsed_names_its_line_and_echoes_nothing() {
        let read = dotenv(b"\xef\xbb\xbfA=1\n# note\nB='two\nlines'\n").expect("valid");
        assert_eq!(
            read,
            [("A".into(), "1".into()), ("B".into(), "two\nlines".into())]
        );
        for (text, line) in [
            (
                &b"A=1\nDATABASE_URL=\"postgres://u:s3cret@h/db\nB=2\n"[..],
                2,
            ),
            (b"A=1\n\nB=2\njust words s3cret\n", 4),
            (b"A=1\nB=\xff\xfe s3cret\n", 2),
        ] {
            let err = dotenv(text).expect_err("refused").to_string();
            assert!(err.contains(&format!(".env line {line}: ")), "{err}");
            assert!(!err.contains("s3cret"), "{err}");
        }
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
