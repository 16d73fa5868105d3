//! `mv-admin hold-leases` (hidden): a worker that claims videos and keeps
//! their leases alive without ever finishing them, until it is killed. A
//! crash drill: kill it, and the videos must come back to the queue once
//! their leases end.

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
    #[arg(long, default_value_t = 1)]
    pub batch: i64,
    /// How long each lease lasts; it is renewed every third of it.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub lease: Duration,
}

pub async fn run(context: &Context, args: Args) -> Result<()> {
    let mut conn = context.connect().await?;
    let mut jobs = pipeline::claim(&mut conn, &args.worker, args.batch, args.lease)
        .await
        .context("Failed to claim videos")?;
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
            match pipeline::heartbeat(&mut conn, &job.id, job.attempt, args.lease).await {
                Ok(_) => held.push(job),
                // Lost to a rescue: nothing more to hold.
                Err(Error::StaleAttempt { .. } | Error::NotFound { .. }) => {}
                Err(e) => return Err(e).context("Failed to renew a lease"),
            }
        }
        jobs = held;
    }
    Ok(())
}
