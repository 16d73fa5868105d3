#![doc = include_str!("../README.md")]

pub mod config;
pub mod error;
pub mod local_server;
pub mod migrations;
pub mod models;
pub mod pipeline;
pub mod pool;
pub mod schema;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;
pub mod unique;

pub use config::DbConfig;
pub use error::{Error, Result};
pub use pool::{Db, DbPool, PooledConn, connect, connect_client};
