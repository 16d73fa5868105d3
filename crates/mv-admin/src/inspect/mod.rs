//! `mv-admin inspect`: a look inside the database that cannot change it.
//!
//! Every inspection runs in one READ ONLY transaction, so no statement it
//! sends can write, whatever it was given.

use std::future::Future;
use std::pin::Pin;

use anyhow::Result;
use chrono::Utc;
use clap::Subcommand;
use diesel_async::AsyncPgConnection;

use crate::Context;
use crate::output::{print, print_json};

pub mod overview;
pub mod queries;
pub mod table;
pub mod video;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<InspectCommand>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum InspectCommand {
    /// Browse a table's rows, JSON values pretty-printed.
    Table(table::Args),
    /// One video with everything related to it, whoever owns it.
    Video(video::Args),
    /// The slowest statements, from pg_stat_statements.
    Queries(queries::Args),
}

/// What an inspection found.
#[derive(Debug)]
pub enum Report {
    Overview(overview::Overview),
    Table(table::Rows),
    Video(Box<video::Inspection>),
    Queries(Vec<queries::Statement>),
}

pub async fn run(context: &Context, args: Args) -> Result<()> {
    let mut conn = context.connect().await?;
    let report = inspect(&mut conn, args.command).await?;
    let now = Utc::now();
    match (&report, context.json) {
        (Report::Overview(overview), true) => print_json(overview),
        (Report::Overview(overview), false) => print(&overview.render()),
        (Report::Table(rows), true) => print_json(&rows.rows),
        (Report::Table(rows), false) => print(&rows.render(crate::output::terminal_width())),
        (Report::Video(video), true) => print_json(video),
        (Report::Video(video), false) => print(&video.render(now)),
        (Report::Queries(statements), true) => print_json(statements),
        (Report::Queries(statements), false) => print(&queries::render(statements)),
    }
}

/// Runs the inspection (the overview when `command` is `None`) in a READ
/// ONLY transaction.
pub async fn inspect(
    conn: &mut AsyncPgConnection,
    command: Option<InspectCommand>,
) -> Result<Report> {
    read_only(conn, move |conn| {
        Box::pin(async move {
            Ok(match command {
                None => Report::Overview(overview::collect(conn).await?),
                Some(InspectCommand::Table(args)) => {
                    Report::Table(table::browse(conn, &args).await?)
                }
                Some(InspectCommand::Video(args)) => {
                    Report::Video(Box::new(video::inspect_video(conn, &args.id).await?))
                }
                Some(InspectCommand::Queries(args)) => {
                    Report::Queries(queries::slowest(conn, args.limit).await?)
                }
            })
        })
    })
    .await
}

/// A future borrowing the connection, as [`read_only`] takes it.
pub type ConnFuture<'c, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'c>>;

/// Runs `f` in a READ ONLY transaction: the server refuses any write it
/// attempts, and the transaction is rolled back when `f` fails.
pub async fn read_only<T, F>(conn: &mut AsyncPgConnection, f: F) -> Result<T>
where
    T: Send,
    F: for<'c> FnOnce(&'c mut AsyncPgConnection) -> ConnFuture<'c, T> + Send,
{
    conn.build_transaction()
        .read_only()
        .run(async move |conn| f(conn).await)
        .await
}
