//! `mv-admin db`: the local PostgreSQL server used when no DATABASE_URL is
//! set, the production mark of the configured database, and backups
//! (`dump`, `restore`, `verify`, in `backup.rs`).

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use local_pg::{ClusterState, LOCAL_DATABASE, LocalServer};
use schema_engine::mark::{self, Environment};
use serde_json::json;

use super::backup;
use crate::output::confirm;
use crate::{Context, say};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create the cluster if needed and start the server.
    Start,
    /// Stop the server.
    Stop,
    /// Say whether the server runs, where it lives and how to reach it.
    Status,
    /// Print the connection URL of the local database (for psql and others).
    Url,
    /// Stop the server and delete the cluster with all its data.
    Reset {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Mark the configured database (DATABASE_URL or the local one), in the
    /// database itself: push refuses a database marked production.
    Mark {
        /// What to mark it as: `production`.
        #[arg(value_name = "production")]
        environment: Environment,
    },
    /// Remove the mark from the configured database.
    Unmark {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Dump the configured database with pg_dump, and write a manifest
    /// beside the dump: rows and digest per table, migrations, files' SHA-256.
    Dump(backup::DumpArgs),
    /// Restore a dump with pg_restore into an empty or new database, then
    /// check the rows and migrations against its manifest.
    Restore(backup::RestoreArgs),
    /// Restore a dump into a scratch database, compare it with its
    /// manifest, and drop the scratch database.
    Verify(backup::VerifyArgs),
}

/// The project's local server; a command kept waiting for its lock says on
/// stderr who holds it.
pub fn local_server() -> Result<LocalServer> {
    Ok(LocalServer::for_project()?.on_lock_wait(|wait| {
        eprintln!(
            "waiting for the lock on the local cluster in {}, held by {}; giving up after {} s",
            wait.home.display(),
            wait.holder,
            wait.gives_up_after.as_secs()
        );
    }))
}

/// The URL of the local database, with its server started and the database
/// created when needed: what commands use when no DATABASE_URL is set.
pub async fn local_database_url() -> Result<String> {
    Ok(local_server()?.start_database(LOCAL_DATABASE).await?)
}

pub async fn run(context: &Context, command: DbCommand) -> Result<()> {
    match command {
        DbCommand::Mark { environment } => return run_mark(context, environment).await,
        DbCommand::Unmark { yes } => return run_unmark(context, yes).await,
        DbCommand::Dump(args) => return backup::dump(context, args).await,
        DbCommand::Restore(args) => return backup::restore(context, args).await,
        DbCommand::Verify(args) => return backup::verify(context, args).await,
        _ => {}
    }
    let server = local_server()?;
    match command {
        DbCommand::Start => {
            let started = !server.is_running().await;
            let url = server
                .start_database(LOCAL_DATABASE)
                .await
                .context("Failed to start the local server")?;
            if context.json {
                say!("{}", json!({ "started": started, "url": url }));
            } else if started {
                say!("started the local server: {url}");
            } else {
                say!("the local server is already running: {url}");
            }
        }
        DbCommand::Stop => {
            let stopped = server.stop().await?;
            if context.json {
                say!("{}", json!({ "stopped": stopped }));
            } else if stopped {
                say!("stopped the local server in {}", server.home().display());
            } else {
                say!("the local server is not running");
            }
        }
        DbCommand::Status => {
            let state = server.state()?;
            let running = server.is_running().await;
            let damaged = match &state {
                ClusterState::Damaged(problem) => Some(problem.as_str()),
                _ => None,
            };
            if context.json {
                say!(
                    "{}",
                    json!({
                        "running": running,
                        "created": state != ClusterState::NotCreated,
                        "damaged": damaged,
                        "dir": server.home(),
                        "url": server.url(LOCAL_DATABASE),
                    })
                );
            } else {
                let described = match (&state, running) {
                    (_, true) => "running".to_string(),
                    (ClusterState::Created, false) => "stopped".to_string(),
                    (ClusterState::NotCreated, false) => "not created".to_string(),
                    (ClusterState::Damaged(problem), false) => {
                        format!("damaged: {problem} (`mv-admin db reset` deletes it)")
                    }
                };
                say!("state  {described}");
                say!("dir    {}", server.home().display());
                say!("url    {}", server.url(LOCAL_DATABASE));
            }
        }
        DbCommand::Url => {
            say!(
                "{}",
                server
                    .start_database(LOCAL_DATABASE)
                    .await
                    .context("Failed to start the local server")?
            );
        }
        DbCommand::Reset { yes } => {
            // A folder the project did not make is refused before the question.
            server.state()?;
            if !yes
                && !confirm(&format!(
                    "Delete the local cluster in {} and all its data?",
                    server.home().display()
                ))?
            {
                bail!("not confirmed; nothing was deleted (pass --yes to skip the question)");
            }
            server.destroy().await?;
            say!("deleted the local cluster in {}", server.home().display());
        }
        DbCommand::Mark { .. }
        | DbCommand::Unmark { .. }
        | DbCommand::Dump(_)
        | DbCommand::Restore(_)
        | DbCommand::Verify(_) => {}
    }
    Ok(())
}

async fn run_mark(context: &Context, environment: Environment) -> Result<()> {
    let mut conn = context.connect().await?;
    mark::mark(&mut conn, environment).await?;
    if context.json {
        say!("{}", json!({ "marked": environment.as_str() }));
    } else {
        say!(
            "marked the database {}; push now refuses it",
            environment.as_str()
        );
    }
    Ok(())
}

async fn run_unmark(context: &Context, yes: bool) -> Result<()> {
    let mut conn = context.connect().await?;
    let Some(previous) = mark::read(&mut conn).await? else {
        if context.json {
            say!("{}", json!({ "unmarked": null }));
        } else {
            say!("the database has no mark");
        }
        return Ok(());
    };
    if !yes
        && !confirm(&format!(
            "Remove the {previous} mark, so push may change this database?"
        ))?
    {
        bail!("not confirmed; the mark stays (pass --yes to skip the question)");
    }
    mark::unmark(&mut conn).await?;
    if context.json {
        say!("{}", json!({ "unmarked": previous }));
    } else {
        say!("removed the {previous} mark");
    }
    Ok(())
}
