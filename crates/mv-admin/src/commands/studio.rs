//! `mv-admin studio`: the local web studio (crates/studio), served on
//! loopback until Ctrl-C.

use std::net::{IpAddr, Ipv4Addr};

use anyhow::{Context as _, Result};
use studio::{Mode, Options, Studio};

use crate::Context;
use crate::say;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The port to listen on (default: a free one).
    #[arg(long)]
    pub port: Option<u16>,
    /// Allow staged edits to be applied (never to a database marked production).
    #[arg(long)]
    pub write: bool,
    /// Open the address in the default browser.
    #[arg(long)]
    pub open: bool,
    /// The address to listen on; anything but loopback needs --allow-non-loopback.
    #[arg(long, value_name = "IP", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// Serve the studio on a non-loopback address (anyone who can reach it
    /// and has the token can read the database).
    #[arg(long)]
    pub allow_non_loopback: bool,
}

pub async fn run(context: &Context, args: Args) -> Result<()> {
    let config = context.config().await?;
    let db = db::Db::connect(&config).await?;
    let options = Options {
        ip: args.bind,
        port: args.port.unwrap_or(0),
        write: args.write,
        allow_non_loopback: args.allow_non_loopback,
        ..Options::default()
    };
    let studio = Studio::bind(db, config, options)
        .await
        .context("Failed to start the studio")?;
    if !args.bind.is_loopback() {
        eprintln!(
            "warning: the studio listens on {}, outside this machine's loopback: anyone who can reach it and gets the address can read the database",
            studio.address()
        );
    }
    let url = studio.login_url();
    let mode = match studio.mode() {
        Mode::ReadOnly => "read-only; --write to allow changes",
        Mode::Write => "write: staged changes can be applied",
        Mode::Production => {
            "read-only: the database carries the production mark, --write is ignored"
        }
    };
    if context.json {
        say!(
            "{}",
            serde_json::json!({ "url": url, "address": studio.address().to_string(), "mode": studio.mode().label() })
        );
    } else {
        say!("Mind-vault studio ({mode})");
        say!("Open {url}");
        say!("The address works once, in one browser. Ctrl-C stops the studio.");
    }
    if args.open
        && let Err(e) = open::that_detached(&url)
    {
        eprintln!("warning: could not open a browser ({e}); open the address yourself");
    }
    studio
        .serve(stopped())
        .await
        .context("The studio's server failed")
}

/// Completes on Ctrl-C or SIGTERM.
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
