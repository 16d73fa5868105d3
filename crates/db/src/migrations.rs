//! The migrations in `migrations/`, embedded in the binary.

use diesel::migration::MigrationVersion;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::{Error, Result};

/// Every migration of the repository, compiled in.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// A fingerprint of every migration file, for naming test templates.
pub const FINGERPRINT: &str = env!("MV_MIGRATIONS_FINGERPRINT");

/// Applies every pending migration; returns the versions applied, in order.
pub async fn run_pending(conn: AsyncPgConnection) -> Result<Vec<String>> {
    tokio::task::spawn_blocking(move || {
        // Diesel's harness is synchronous; the wrapper drives our async
        // connection from this blocking thread.
        let mut wrapper: AsyncConnectionWrapper<AsyncPgConnection> =
            AsyncConnectionWrapper::from(conn);
        wrapper
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(MigrationVersion::to_string).collect())
            .map_err(|e| Error::Migration(e.to_string()))
    })
    .await
    .map_err(|e| Error::Migration(format!("the migration task failed: {e}")))?
}
