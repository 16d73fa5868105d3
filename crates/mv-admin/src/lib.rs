#![doc = include_str!("../README.md")]

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

pub mod commands;
mod context;
pub mod dataset;
pub mod demo;
pub mod output;

pub use context::Context;

use commands::{
    adopt, bench, db as db_server, generate, hold_leases, inspect, jobs, labels, migrate, push,
    quickstart, schema, seed, studio, users, videos,
};

/// Where the desired schema lives, from the repository's root.
pub const SCHEMA_SQL: &str = "crates/db/schema.sql";
/// Where the migrations live, from the repository's root (see `diesel.toml`).
pub const MIGRATIONS_DIR: &str = "migrations";
/// Where `diesel.toml` says the schema lives, from the repository's root.
pub const SCHEMA_FILE: &str = "crates/db/src/schema.rs";

/// Exit code for a command that failed (usage errors exit with 2, as clap does).
pub const EXIT_FAILURE: u8 = 1;
/// Exit code of a migrate command that gave up waiting for another run's
/// migration lock.
pub const EXIT_LOCK_TIMEOUT: u8 = 3;

/// Mind-vault's database tool: the local server, migrations, schema and data.
#[derive(Debug, Parser)]
#[command(name = "mv-admin", version, about, propagate_version = true)]
pub struct Cli {
    /// The database to use, over DATABASE_URL, over .env, over the local server.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// Print data as one JSON document on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage the local PostgreSQL server used when no DATABASE_URL is set,
    /// mark a database as production, and dump, restore and verify backups.
    #[command(subcommand)]
    Db(db_server::DbCommand),
    /// Take over the database the TypeScript app (drizzle-kit) made:
    /// check its rows, convert its tables to the baseline migration while
    /// the app runs, verify every row, record the baseline.
    Adopt(adopt::Args),
    /// Apply the pending migrations embedded in this binary (under a lock,
    /// refusing edited, out-of-order or failed ones); see its subcommands.
    Migrate(migrate::Args),
    /// Write crates/db/src/schema.rs from the database, or check it.
    Schema(schema::Args),
    /// Make the database match crates/db/schema.sql now, in one transaction
    /// (development databases; production ones take migrations).
    Push(push::Args),
    /// Write the migration from what migrations/ produce to
    /// crates/db/schema.sql, or check that they and schema.rs agree.
    #[command(disable_version_flag = true)]
    Generate(generate::Args),
    /// Load the demo data: users and videos in every processing state.
    Seed(seed::Args),
    /// Browse a user's videos.
    #[command(subcommand)]
    Videos(videos::VideosCommand),
    /// Browse the users.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Browse the tags.
    #[command(subcommand)]
    Tags(labels::LabelsCommand),
    /// Browse the categories.
    #[command(subcommand)]
    Categories(labels::LabelsCommand),
    /// Look inside the database without changing it: sizes, indexes,
    /// migrations, rows and statements.
    Inspect(inspect::Args),
    /// Migrate and seed the local database, then list the demo user's videos.
    Quickstart(quickstart::Args),
    /// Show the processing queue: videos per status, the oldest pending
    /// one, retries waiting out a backoff, and expired leases; `jobs rescue`
    /// gives back the videos whose lease expired.
    Jobs(jobs::Args),
    /// Browse and edit the database in a browser: a local web studio on
    /// 127.0.0.1, reached through a one-time address (read-only unless --write).
    Studio(studio::Args),
    /// Run the benchmark workloads through the data layer (scripts/bench/SPEC.md).
    Bench(bench::Args),
    /// Claim videos and hold their leases until killed (a crash drill).
    #[command(hide = true)]
    HoldLeases(hold_leases::Args),
}

/// Runs the command line; what `main` returns.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&anyhow::Error::new(e).context("Failed to start the async runtime")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(error: &anyhow::Error) -> ExitCode {
    // The causes on one line, as `{:#}` joins them, less the exit status
    // (it is not a cause); no backtrace is ever printed.
    let message: Vec<String> = error
        .chain()
        .filter(|cause| !cause.is::<ExitStatus>())
        .map(ToString::to_string)
        .collect();
    let message = message.join(": ");
    // An error may quote data (a value, a server message): on a terminal,
    // its control characters are shown, not obeyed.
    if std::io::stderr().is_terminal() {
        eprintln!("error: {}", output::escape_controls(&message));
    } else {
        eprintln!("error: {message}");
    }
    let code = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<ExitStatus>())
        .map_or(EXIT_FAILURE, |status| status.0);
    ExitCode::from(code)
}

/// A failure that must exit with a code other than 1 (see the README).
#[derive(Debug, thiserror::Error)]
#[error("exit status {0}")]
pub struct ExitStatus(pub u8);

async fn run(cli: Cli) -> Result<()> {
    let context = Context::new(cli.database_url, cli.json)?;
    match cli.command {
        Command::Db(command) => db_server::run(&context, command).await,
        Command::Adopt(args) => adopt::run(&context, args).await,
        Command::Migrate(args) => migrate::run(&context, args).await,
        Command::Schema(args) => schema::run(&context, args).await,
        Command::Push(args) => push::run(&context, args).await,
        Command::Generate(args) => generate::run(&context, args).await,
        Command::Seed(args) => seed::run(&context, args).await,
        Command::Videos(command) => videos::run(&context, command).await,
        Command::Users(command) => users::run(&context, command).await,
        Command::Tags(command) => labels::run(&context, labels::LabelKind::Tag, command).await,
        Command::Categories(command) => {
            labels::run(&context, labels::LabelKind::Category, command).await
        }
        Command::Inspect(args) => inspect::run(&context, args).await,
        Command::Quickstart(args) => quickstart::run(&context, args).await,
        Command::Jobs(args) => jobs::run(&context, args).await,
        Command::Studio(args) => studio::run(&context, args).await,
        Command::Bench(args) => bench::run(&context, args).await,
        Command::HoldLeases(args) => hold_leases::run(&context, args).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser as _};

    #[test]
    fn verify_cli() {
        super::Cli::command().debug_assert();
    }

    /// Ids are nanoids, whose alphabet has `-`: one in 64 begins with it.
    const HYPHENATED_ID: &str = "-acDcW8ORwI7ITHG8tiEe";

    #[test]
    fn an_id_that_begins_with_a_hyphen_is_an_id_not_a_flag() {
        let forms: [&[&str]; 6] = [
            &["videos", "show", HYPHENATED_ID, "--user", HYPHENATED_ID],
            &["videos", "requeue", "--user", HYPHENATED_ID, HYPHENATED_ID],
            &["videos", "list", "--user", HYPHENATED_ID],
            &["users", "show", HYPHENATED_ID],
            &["tags", "list", "--user", HYPHENATED_ID],
            &["inspect", "video", HYPHENATED_ID],
        ];
        for form in forms {
            let cli =
                super::Cli::try_parse_from(std::iter::once("mv-admin").chain(form.iter().copied()))
                    .unwrap_or_else(|error| panic!("{form:?}: {error}"));
            let parsed = format!("{cli:?}");
            assert_eq!(
                parsed.matches(HYPHENATED_ID).count(),
                form.iter().filter(|arg| **arg == HYPHENATED_ID).count(),
                "{form:?} parsed as {parsed}"
            );
        }
    }

    /// Every argument that takes an id, now and later, accepts one that
    /// begins with a hyphen.
    #[test]
    fn every_id_argument_allows_a_leading_hyphen() {
        fn check(command: &clap::Command, path: &str, found: &mut usize) {
            for arg in command.get_arguments() {
                let takes_id = arg
                    .get_value_names()
                    .is_some_and(|names| names.iter().any(|name| name.starts_with("ID")));
                if takes_id {
                    *found += 1;
                    assert!(
                        arg.is_allow_hyphen_values_set(),
                        "{path} {}: an id can begin with '-'",
                        arg.get_id()
                    );
                }
            }
            for sub in command.get_subcommands() {
                check(sub, &format!("{path} {}", sub.get_name()), found);
            }
        }
        let mut found = 0;
        check(&super::Cli::command(), "mv-admin", &mut found);
        assert!(found >= 7, "only {found} id arguments found");
    }
}
