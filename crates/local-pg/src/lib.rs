#![doc = include_str!("../README.md")]

#[cfg(feature = "harness")]
pub mod harness;
mod programs;
mod server;

pub use programs::{ClientProgram, find_bin_dir, find_client_programs, server_version};
pub use server::{
    ClusterState, DEFAULT_LOCK_TIMEOUT, LocalServer, LocalServerError, LockHolder, LockWait,
    MARKER, ServerOptions,
};

/// The database the project's default local server holds.
pub const LOCAL_DATABASE: &str = "mindvault";

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
