//! One module per view.

pub mod export;
pub mod health;
pub mod library;
pub mod schema;
pub mod sql;
pub mod tables;
