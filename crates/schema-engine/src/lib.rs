#![doc = include_str!("../README.md")]

pub mod adopt;
pub mod backup;
pub mod catalog;
pub mod error;
pub mod foreign;
pub mod generate;
pub mod inspect;
pub mod mark;
pub mod migrations;
pub mod plan;
pub mod push;
pub mod schema_rs;
pub mod scratch;
pub mod statements;
mod unique;

pub use error::{Error, Result};
pub use unique::unique_name;
