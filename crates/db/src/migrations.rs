//! The repository's migrations, compiled in: the schema this crate's
//! `schema.rs` and models are written for. The `schema-engine` crate runs
//! them (under a lock, with checksums and a history); this module only
//! carries them.

use diesel_migrations::{EmbeddedMigrations, embed_migrations};

/// Every migration of the repository, as Diesel embeds them.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// One migration folder's files, as build.rs embeds them.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedSql {
    /// The folder name, e.g. `2026-11-25-000001_create_schema`.
    pub name: &'static str,
    pub up: &'static str,
    pub down: Option<&'static str>,
    pub metadata: Option<&'static str>,
}

/// The texts of every migration folder, in name order.
pub const EMBEDDED_SQL: &[EmbeddedSql] = include!(concat!(env!("OUT_DIR"), "/embedded_sql.rs"));
