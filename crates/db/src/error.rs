//! The errors callers of this crate tell apart.

use std::time::Duration;

use crate::config::ConfigError;
use crate::models::ProcessingStatus;

/// A failure of a data-layer call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing with this id exists for this user.
    #[error("{entity} {:?} not found", crate::config::shorten(id))]
    NotFound { entity: &'static str, id: String },
    /// The row exists already; `existing_id` is the one to use.
    #[error("{entity} already exists as {existing_id:?}")]
    Duplicate {
        entity: &'static str,
        existing_id: String,
    },
    /// The row cannot be deleted: rows of another table (one this project
    /// may not own, such as the auth library's `session`) still reference
    /// it through a foreign key without ON DELETE CASCADE.
    #[error(
        "{entity} {:?} cannot be deleted: table {table} still references it (foreign key \
         {constraint}, without ON DELETE CASCADE); delete those {table} rows first, or make the \
         foreign key cascade",
        crate::config::shorten(id)
    )]
    Referenced {
        entity: &'static str,
        id: String,
        /// The referencing table.
        table: String,
        constraint: String,
    },
    /// A value the caller passed is not acceptable.
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    /// The processing status cannot move this way.
    #[error("video {id:?} cannot move from {from} to {to}")]
    IllegalTransition {
        id: String,
        from: ProcessingStatus,
        to: ProcessingStatus,
    },
    /// A worker's attempt is no longer the video's current one: its lease
    /// ended and the video was given back, retried or finished by another
    /// attempt. The call changed nothing; the worker drops the video.
    #[error(
        "video {id:?}: attempt {attempt} is no longer current (the video is {status} at attempt {current_attempt})"
    )]
    StaleAttempt {
        id: String,
        attempt: i32,
        status: ProcessingStatus,
        current_attempt: i32,
    },
    /// The connection broke while the request ran (the server restarted,
    /// or the backend was terminated): the request may or may not have
    /// taken effect. The pool replaces the connection; retrying is safe for
    /// requests that are idempotent or fenced.
    #[error("the database connection was lost during the request: {cause}")]
    ConnectionLost { cause: String },
    /// No connection could be opened.
    #[error("could not connect to {target}: {cause}")]
    Connect { target: String, cause: String },
    /// Every pooled connection stayed busy for the whole pool timeout.
    #[error(
        "pool timeout: no database connection became free within {waited:?}{}",
        last_error.as_deref().map(|e| format!(" (last connection error: {e})")).unwrap_or_default()
    )]
    PoolTimeout {
        waited: Duration,
        last_error: Option<String>,
    },
    /// A statement prepared on one server connection reached another: the
    /// URL goes through a pooler in transaction mode that does not keep
    /// prepared statements apart (PgBouncer before 1.21, or without
    /// `max_prepared_statements`).
    #[error(
        "{cause}: the database URL goes through a pooler in transaction mode that does not \
         track prepared statements; use PgBouncer 1.21 or newer with max_prepared_statements \
         set (for example 200), or its session mode"
    )]
    PoolerPreparedStatements { cause: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("database error: {0}")]
    Database(diesel::result::Error),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether the failure is the connection's, not the request's: the
    /// connection was lost, none could be opened, or none came free. A
    /// worker keeps its work and tries again; the pool reconnects.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::ConnectionLost { .. } | Self::Connect { .. } | Self::PoolTimeout { .. }
        )
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            reason: reason.into(),
        }
    }

    /// The kind of failure, for metrics and logs: a fixed name, never data.
    pub fn kind(&self) -> &'static str {
        Self::KINDS[self.kind_index()]
    }

    /// Every [`Error::kind`], in the order of [`Error::kind_index`].
    pub const KINDS: [&'static str; 12] = [
        "not_found",
        "duplicate",
        "referenced",
        "invalid_input",
        "illegal_transition",
        "stale_attempt",
        "connection_lost",
        "connect",
        "pool_timeout",
        "pooler_prepared_statements",
        "config",
        "database",
    ];

    /// Where the kind is in [`Error::KINDS`]: the metrics keep a key per
    /// kind, built at compile time.
    pub(crate) fn kind_index(&self) -> usize {
        match self {
            Self::NotFound { .. } => 0,
            Self::Duplicate { .. } => 1,
            Self::Referenced { .. } => 2,
            Self::InvalidInput { .. } => 3,
            Self::IllegalTransition { .. } => 4,
            Self::StaleAttempt { .. } => 5,
            Self::ConnectionLost { .. } => 6,
            Self::Connect { .. } => 7,
            Self::PoolTimeout { .. } => 8,
            Self::PoolerPreparedStatements { .. } => 9,
            Self::Config(_) => 10,
            Self::Database(_) => 11,
        }
    }

    /// `error` as [`Error::Referenced`] when it is a foreign-key violation
    /// (SQLSTATE 23503) raised by deleting `entity` `id`; otherwise as usual.
    pub(crate) fn on_delete(error: diesel::result::Error, entity: &'static str, id: &str) -> Self {
        use diesel::result::{DatabaseErrorKind, Error as Diesel};
        match error {
            Diesel::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                Self::Referenced {
                    entity,
                    id: id.to_string(),
                    // PostgreSQL names the table holding the foreign key.
                    table: info.table_name().unwrap_or("another table").to_string(),
                    constraint: info.constraint_name().unwrap_or("unnamed").to_string(),
                }
            }
            other => other.into(),
        }
    }

    pub(crate) fn not_found(entity: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            entity,
            id: id.into(),
        }
    }
}

impl From<diesel::result::Error> for Error {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::DatabaseErrorKind::{ClosedConnection, UnableToSendCommand, Unknown};
        match error {
            // No SQLSTATE: the socket failed, not a statement.
            diesel::result::Error::DatabaseError(UnableToSendCommand | ClosedConnection, info) => {
                Self::ConnectionLost {
                    cause: info.message().to_string(),
                }
            }
            // The server ending the session (SQLSTATE 57P01, 57P02, 57P05,
            // 25P03) reaches the statement in flight; diesel keeps no
            // SQLSTATE, and these are the messages of a server speaking
            // English. Elsewhere they stay `Database` errors, with the text.
            diesel::result::Error::DatabaseError(Unknown, info)
                if info.message().starts_with("terminating connection") =>
            {
                Self::ConnectionLost {
                    cause: info.message().to_string(),
                }
            }
            diesel::result::Error::DatabaseError(Unknown, info)
                if lost_prepared_statement(info.message()) =>
            {
                Self::PoolerPreparedStatements {
                    cause: info.message().to_string(),
                }
            }
            other => Self::Database(other),
        }
    }
}

/// Whether the server's message says that a statement prepared on one
/// server connection reached another (SQLSTATE 26000 or 42P05 for a
/// statement of the connection's own cache, or 08P01 when another
/// client's statement of the same name was found): only a pooler moving
/// the session between server connections does that.
pub(crate) fn lost_prepared_statement(message: &str) -> bool {
    (message.starts_with("prepared statement \"")
        && (message.ends_with("does not exist") || message.ends_with("already exists")))
        || (message.starts_with("bind message supplies")
            && message.contains("but prepared statement \""))
}
