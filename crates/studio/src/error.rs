//! What a request can fail with, and how each failure is shown.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::layout;

/// A failed request: its status and a message for the page.
#[derive(Debug, thiserror::Error)]
pub enum StudioError {
    /// The thing asked for does not exist (a table, a column, a row).
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be served as it is (an unknown column, a bad cursor).
    #[error("{0}")]
    BadRequest(String),
    /// The studio or the database refused a change.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Db(#[from] db::Error),
    #[error(transparent)]
    Engine(#[from] schema_engine::Error),
    #[error("database error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// Not a failure: edits that were tried, then rolled back with the
    /// transaction that tried them.
    #[error("the edits were tried and rolled back")]
    Tried(Vec<crate::edits::Staged>),
}

impl From<diesel::result::Error> for StudioError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Db(error.into())
    }
}

pub type Result<T, E = StudioError> = std::result::Result<T, E>;

impl StudioError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) | Self::Db(db::Error::NotFound { .. }) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) | Self::Db(db::Error::InvalidInput { .. }) => {
                StatusCode::BAD_REQUEST
            }
            Self::Refused(_)
            | Self::Db(
                db::Error::IllegalTransition { .. }
                | db::Error::Duplicate { .. }
                | db::Error::StaleAttempt { .. }
                | db::Error::Referenced { .. },
            ) => StatusCode::CONFLICT,
            // A statement the server refused (a value its type rejects, a
            // write in a read-only transaction, a timeout): the request's
            // fault as far as the studio can tell.
            Self::Db(db::Error::Database(_)) | Self::Postgres(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message, with the server's own words for a refused statement.
    pub fn message(&self) -> String {
        match self {
            Self::Postgres(e) => match e.as_db_error() {
                Some(db) => format!("the database refused: {}", db.message()),
                None => e.to_string(),
            },
            other => other.to_string(),
        }
    }
}

impl IntoResponse for StudioError {
    fn into_response(self) -> Response {
        let status = self.status();
        (status, layout::error_page(status, &self.message())).into_response()
    }
}
