//! `mv-admin hold-leases` (hidden): a worker that claims videos and keeps
//! their leases alive without ever finishing them, until it is killed. A
//! crash drill: kill it, and the videos must come back to the queue once
//! their leases end. A lost connection (a server restart) does not end it:
//! it reconnects and renews, as a real worker must.

use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context as _, Result};
use db::Error;
use db::pipeline;
use serde_json::json;

use crate::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The worker's name, recorded on the videos it claims.
    #[arg(long)]
    pub worker: String,
    /// How many videos to claim.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i64).range(1..=1_000))]
    pub batch: i64,
    /// How long each lease lasts; it is renewed every third of it.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub lease: Duration,
}

pub async fn run(context: &Context, args: Args) -> Result<()> {
    let db = context.db().await?;
    let mut jobs = {
        let mut conn = db.get().await?;
        super::refuse_production(&mut conn, "hold-leases").await?;
        pipeline::claim(&mut conn, &args.worker, args.batch, args.lease)
            .await
            .context("Failed to claim videos")?
    };
    // One JSON line per claim, flushed, so whoever drills can act on it.
    let mut stdout = std::io::stdout().lock();
    for job in &jobs {
        writeln!(
            stdout,
            "{}",
            json!({ "id": job.id, "attempt": job.attempt, "lease_expires_at": job.lease_expires_at })
        )?;
    }
    stdout.flush()?;
    drop(stdout);
    while !jobs.is_empty() {
        tokio::time::sleep(args.lease / 3).await;
        let mut held = Vec::with_capacity(jobs.len());
        for job in jobs {
            let renewed = match db.get().await {
                Ok(mut conn) => {
                    pipeline::heartbeat(&mut conn, &job.id, job.attempt, args.lease).await
                }
                Err(e) => Err(e),
            };
            match renewed {
                Ok(_) => held.push(job),
                // Lost to a rescue: nothing more to hold.
                Err(Error::StaleAttempt { .. } | Error::NotFound { .. }) => {}
                // The pool opens a new connection; the next round renews.
                Err(e) if e.is_transient() => {
                    eprintln!("lost the database connection ({e}); reconnecting");
                    held.push(job);
                }
                Err(e) => return Err(e).context("Failed to renew a lease"),
            }
        }
        jobs = held;
    }
    Ok(())
}
