//! The engine's errors: typed, for the caller to match, print or wrap.

use crate::backup::BackupError;
use crate::migrations::MigrateError;
use crate::push::Refusal;

/// What went wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A step failed; `context` says which, the source says why.
    #[error("{context}")]
    Failed {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The input cannot be used as it is (a schema the engine cannot
    /// manage, a bad name, a plan that does not reach its goal).
    #[error("{0}")]
    Invalid(String),
    /// push refused before changing anything.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// pg_stat_statements is not available; says how to turn it on.
    #[error("{how_to}")]
    StatementsUnavailable { how_to: String },
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    /// A backup, restore or verification refused or found a difference.
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error(transparent)]
    Db(#[from] db::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<diesel::result::Error> for Error {
    fn from(error: diesel::result::Error) -> Self {
        Self::Db(error.into())
    }
}

/// `context` and `with_context` for any error, as the engine reports it.
pub trait Context<T> {
    fn context(self, context: impl Into<String>) -> Result<T>;
    fn with_context<C: Into<String>>(self, context: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E> Context<T> for std::result::Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|source| Error::Failed {
            context: context.into(),
            source: Box::new(source),
        })
    }

    fn with_context<C: Into<String>>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|source| Error::Failed {
            context: context().into(),
            source: Box::new(source),
        })
    }
}

/// Returns an [`Error::Invalid`] with a formatted message.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::Invalid(format!($($arg)*)))
    };
}
pub(crate) use bail;
