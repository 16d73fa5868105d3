//! `mv-admin db`: the local PostgreSQL server used when no DATABASE_URL is set.

use std::io::IsTerminal;

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use db::config::{LOCAL_DATABASE, local_database_url};
use db::local_server::LocalServer;
use serde_json::json;

use crate::Context;

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
}

pub async fn run(context: &Context, command: DbCommand) -> Result<()> {
    let server = LocalServer::for_project()?;
    match command {
        DbCommand::Start => {
            let started = !server.is_running().await;
            let url = local_database_url()
                .await
                .context("Failed to start the local server")?;
            if context.json {
                println!("{}", json!({ "started": started, "url": url }));
            } else if started {
                println!("started the local server: {url}");
            } else {
                println!("the local server is already running: {url}");
            }
        }
        DbCommand::Stop => {
            let stopped = server.stop().await?;
            if context.json {
                println!("{}", json!({ "stopped": stopped }));
            } else if stopped {
                println!("stopped the local server in {}", server.home().display());
            } else {
                println!("the local server is not running");
            }
        }
        DbCommand::Status => {
            let running = server.is_running().await;
            let status = json!({
                "running": running,
                "created": server.exists(),
                "dir": server.home(),
                "url": server.url(LOCAL_DATABASE),
            });
            if context.json {
                println!("{status}");
            } else {
                println!(
                    "state  {}",
                    if running {
                        "running"
                    } else if server.exists() {
                        "stopped"
                    } else {
                        "not created"
                    }
                );
                println!("dir    {}", server.home().display());
                println!("url    {}", server.url(LOCAL_DATABASE));
            }
        }
        DbCommand::Url => {
            println!(
                "{}",
                local_database_url()
                    .await
                    .context("Failed to start the local server")?
            );
        }
        DbCommand::Reset { yes } => {
            if !yes
                && !confirm(&format!(
                    "Delete the local cluster in {} and all its data?",
                    server.home().display()
                ))?
            {
                bail!("not confirmed; nothing was deleted (pass --yes to skip the question)");
            }
            server.destroy().await?;
            println!("deleted the local cluster in {}", server.home().display());
        }
    }
    Ok(())
}

/// Asks a yes/no question on the terminal; without one, the answer is no.
pub fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("Failed to read the answer")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}
