#![doc = include_str!("../README.md")]

pub mod config;
pub mod error;
pub mod instrument;
pub mod migrations;
pub mod models;
pub mod pipeline;
pub mod pool;
pub mod replica;
pub mod schema;
mod tls;

pub use config::DbConfig;
pub use error::{Error, Result};
pub use pool::{Db, DbPool, PooledConn, SharedConn, connect, connect_client};
pub use replica::{Consistency, UnitOfWork, WalPosition, wal_position};
