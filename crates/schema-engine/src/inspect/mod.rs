//! A look inside a database that cannot change it: the overview (sizes,
//! index use, migrations, connections), any table's rows, and the slowest
//! statements. Every inspection runs in one READ ONLY transaction
//! ([`read_only`]), so no statement it sends can write.

use std::future::Future;
use std::pin::Pin;

use diesel_async::AsyncPgConnection;

use crate::error::{Error, Result};

pub mod activity;
pub mod overview;
pub mod queries;
pub mod table;

/// A future borrowing the connection, as [`read_only`] takes it.
pub type ConnFuture<'c, T, E = Error> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>;

/// Runs `f` in a READ ONLY transaction: the server refuses any write it
/// attempts, and the transaction is rolled back when `f` fails.
pub async fn read_only<T, E, F>(conn: &mut AsyncPgConnection, f: F) -> Result<T, E>
where
    T: Send,
    E: From<diesel::result::Error> + Send,
    F: for<'c> FnOnce(&'c mut AsyncPgConnection) -> ConnFuture<'c, T, E> + Send,
{
    conn.build_transaction()
        .read_only()
        .run(async move |conn| f(conn).await)
        .await
}
