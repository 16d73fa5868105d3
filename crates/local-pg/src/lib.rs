#![doc = include_str!("../README.md")]

#[cfg(feature = "harness")]
pub mod harness;
mod programs;
mod server;

pub use programs::{ClientProgram, find_bin_dir, find_client_programs, server_version};
pub use server::{LocalServer, LocalServerError, ServerOptions};

/// The database the project's default local server holds.
pub const LOCAL_DATABASE: &str = "mindvault";

/// Starts the project's local server when needed (`MV_PG_DIR`, else
/// `.mv-admin/pg`), creates its database when missing, and returns that
/// database's URL: what every command uses when no `DATABASE_URL` is set.
pub async fn project_database_url() -> Result<String, LocalServerError> {
    let server = LocalServer::for_project()?;
    server.ensure_running().await?;
    server.ensure_database(LOCAL_DATABASE).await?;
    Ok(server.url(LOCAL_DATABASE))
}

/// The project's folder: the nearest ancestor of the current folder holding
/// `.mv-admin`, `.git` or a workspace `Cargo.toml`, else the current folder.
/// The local server lives in its `.mv-admin/pg`, backups in `.mv-admin/backups`.
pub fn project_folder() -> Result<std::path::PathBuf, LocalServerError> {
    let cwd = std::env::current_dir().map_err(|cause| LocalServerError::Io {
        context: "reading the current folder".into(),
        cause,
    })?;
    Ok(server::project_root(&cwd))
}

/// A stable 64-bit hash (FNV-1a), for folder names (std's hasher is
/// randomly seeded).
pub(crate) fn stable_hash(bytes: &[u8]) -> u64 {
    use std::hash::Hasher as _;
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(bytes);
    hasher.finish()
}
