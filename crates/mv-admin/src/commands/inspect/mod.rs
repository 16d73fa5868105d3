//! `mv-admin inspect`: a look inside the database that cannot change it.
//!
//! Every inspection runs in one READ ONLY transaction, so no statement it
//! sends can write, whatever it was given.

use anyhow::Result;
use chrono::Utc;
use clap::Subcommand;
use diesel_async::AsyncPgConnection;
use schema_engine::foreign::Foreign;
use schema_engine::inspect::activity::{self as engine_activity, Activity};
use schema_engine::inspect::overview::{self as engine_overview, Overview};
use schema_engine::inspect::queries::{self as engine_queries, Statement};
use schema_engine::inspect::table::{self as engine_table, Rows};
use schema_engine::inspect::{ConnFuture, read_only};

use crate::output::{print, print_json, terminal_width};
use crate::{Context, ExitStatus};

pub mod activity;
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
    /// What runs now: sessions, long transactions, lock waits, the oldest
    /// snapshot (pg_stat_activity, pg_locks).
    Activity(activity::Args),
}

/// What an inspection found.
#[derive(Debug)]
pub enum Report {
    Overview(Overview),
    Table(Rows),
    Video(Box<video::Inspection>),
    Queries(Vec<Statement>),
    Activity(Box<Activity>),
}

pub async fn run(context: &Context, args: Args) -> Result<()> {
    let mut conn = context.connect().await?;
    if let Some(InspectCommand::Activity(activity)) = &args.command
        && let Some(interval) = activity.watch
    {
        return watch(context, &mut conn, activity, interval).await;
    }
    // The overview marks the tables schema.sql declares foreign.
    let foreign = if args.command.is_none() {
        super::declared_foreign(None)?
    } else {
        Foreign::default()
    };
    let report = inspect_with(&mut conn, args.command, &foreign).await?;
    show(context, &report)
}

/// Shows the activity every `interval`, until interrupted: on a terminal
/// in place of the last one, elsewhere one after the other.
async fn watch(
    context: &Context,
    conn: &mut AsyncPgConnection,
    args: &activity::Args,
    interval: std::time::Duration,
) -> Result<()> {
    let on_terminal = terminal_width().is_some() && !context.json;
    loop {
        let report = inspect(conn, Some(InspectCommand::Activity(args.clone()))).await?;
        if on_terminal {
            // Home and clear the screen: the report replaces the last one.
            print("\x1b[H\x1b[2J")?;
        }
        show(context, &report)?;
        tokio::time::sleep(interval).await;
    }
}

fn show(context: &Context, report: &Report) -> Result<()> {
    let now = Utc::now();
    match (report, context.json) {
        (Report::Overview(overview), true) => print_json(overview),
        (Report::Overview(report), false) => print(&overview::render(report)),
        (Report::Table(rows), true) => print_json(&rows.rows),
        (Report::Table(rows), false) => print(&table::render(rows, terminal_width())),
        (Report::Video(video), true) => print_json(video),
        (Report::Video(video), false) => print(&video.render(now)),
        (Report::Queries(statements), true) => print_json(statements),
        (Report::Queries(statements), false) => print(&queries::render(statements)),
        (Report::Activity(activity), true) => print_json(activity),
        (Report::Activity(found), false) => print(&activity::render(found)),
    }
}

/// Runs the inspection (the overview when `command` is `None`) in a READ
/// ONLY transaction.
pub async fn inspect(
    conn: &mut AsyncPgConnection,
    command: Option<InspectCommand>,
) -> Result<Report> {
    inspect_with(conn, command, &Foreign::default()).await
}

/// [`inspect`], the overview marking the `foreign` tables.
pub async fn inspect_with(
    conn: &mut AsyncPgConnection,
    command: Option<InspectCommand>,
    foreign: &Foreign,
) -> Result<Report> {
    let foreign = foreign.clone();
    let found = read_only(conn, move |conn| -> ConnFuture<'_, Report, anyhow::Error> {
        Box::pin(async move {
            Ok(match command {
                None => Report::Overview(engine_overview::collect(conn, &foreign).await?),
                Some(InspectCommand::Table(args)) => {
                    Report::Table(engine_table::browse(conn, &args.into()).await?)
                }
                Some(InspectCommand::Video(args)) => {
                    Report::Video(Box::new(video::inspect_video(conn, &args.id).await?))
                }
                Some(InspectCommand::Queries(args)) => {
                    Report::Queries(engine_queries::slowest(conn, args.limit).await?)
                }
                Some(InspectCommand::Activity(args)) => {
                    Report::Activity(Box::new(engine_activity::collect(conn, args.long).await?))
                }
            })
        })
    })
    .await;
    // No statistics to show is its own exit status, so scripts can tell.
    found.map_err(|e| match e.downcast_ref::<schema_engine::Error>() {
        Some(schema_engine::Error::StatementsUnavailable { how_to }) => {
            anyhow::Error::new(ExitStatus(queries::EXIT_UNAVAILABLE)).context(how_to.clone())
        }
        _ => e,
    })
}
