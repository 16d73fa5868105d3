#![doc = include_str!("../README.md")]

#[cfg(feature = "harness")]
pub mod harness;
mod programs;
mod server;

pub use programs::{find_bin_dir, server_version};
pub use server::{
    ClusterState, DEFAULT_LOCK_TIMEOUT, LocalServer, LocalServerError, LockHolder, LockWait,
    MARKER, ServerOptions,
};

/// The database the project's default local server holds.
pub const LOCAL_DATABASE: &str = "mindvault";

/// A stable 64-bit hash (FNV-1a), for folder names (std's hasher is
/// randomly seeded).
pub(crate) fn stable_hash(bytes: &[u8]) -> u64 {
    use std::hash::Hasher as _;
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(bytes);
    hasher.finish()
}
