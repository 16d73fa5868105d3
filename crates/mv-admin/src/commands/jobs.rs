//! `mv-admin jobs`: the processing queue at a glance, and the rescue of
//! videos whose worker went away, for operators.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Subcommand;
use db::pipeline::{self, QueueStats, Rescued, RetryPolicy};

use crate::Context;
use crate::output::{print, print_json, shown};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<JobsCommand>,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Give back every video whose lease expired (its worker died or
    /// stalled): pending again after its backoff, or failed for good after
    /// its last attempt. Workers do this themselves; this is for when none
    /// runs.
    Rescue(RescueArgs),
}

/// The retry policy the workers use; the defaults are the data layer's.
#[derive(Debug, clap::Args)]
pub struct RescueArgs {
    /// Attempts a video gets before it fails for good.
    #[arg(long, default_value_t = RetryPolicy::default().max_attempts,
          value_parser = clap::value_parser!(i32).range(1..=1_000))]
    pub max_attempts: i32,
    /// The wait after the first attempt; it doubles after each further one.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub base_delay: Duration,
    /// The longest wait.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
    pub max_delay: Duration,
}

pub async fn run(context: &Context, args: Args) -> Result<()> {
    let mut conn = context.connect().await?;
    match args.command {
        None => {
            let stats = pipeline::stats(&mut conn)
                .await
                .context("Failed to read the processing queue")?;
            if context.json {
                print_json(&stats)
            } else {
                print(&render(&stats))
            }
        }
        Some(JobsCommand::Rescue(args)) => {
            let policy = RetryPolicy {
                max_attempts: args.max_attempts,
                base_delay: args.base_delay,
                max_delay: args.max_delay,
            };
            let rescued = pipeline::rescue(&mut conn, &policy)
                .await
                .context("Failed to give back the videos with an expired lease")?;
            if context.json {
                print_json(&rescued)
            } else {
                print(&render_rescued(&rescued))
            }
        }
    }
}

/// What a rescue did, in a line or three.
pub fn render_rescued(rescued: &Rescued) -> String {
    if rescued.retried.is_empty() && rescued.failed.is_empty() {
        return "no video had an expired lease; nothing changed\n".to_string();
    }
    let mut out = String::new();
    if !rescued.retried.is_empty() {
        let _ = writeln!(
            out,
            "pending again, after their backoff: {}",
            shown(&rescued.retried.join(", "))
        );
    }
    if !rescued.failed.is_empty() {
        let _ = writeln!(
            out,
            "failed for good (that was their last attempt): {}",
            shown(&rescued.failed.join(", "))
        );
    }
    out
}

/// The queue as a few lines of text.
pub fn render(stats: &QueueStats) -> String {
    let counts = &stats.counts;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "pending     {:>8}  ({} waiting to retry)",
        counts.pending, stats.waiting_to_retry
    );
    let _ = writeln!(
        out,
        "processing  {:>8}  ({} with an expired lease)",
        counts.processing, stats.expired_leases
    );
    let _ = writeln!(out, "completed   {:>8}", counts.completed);
    let _ = writeln!(out, "failed      {:>8}", counts.failed);
    match stats.oldest_pending {
        Some(saved) => {
            let waited = (stats.checked_at - saved).to_std().unwrap_or_default();
            let waited = Duration::from_secs(waited.as_secs());
            let _ = writeln!(
                out,
                "oldest pending: saved {} ({} ago)",
                saved.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                humantime::format_duration(waited)
            );
        }
        None => out.push_str("oldest pending: none\n"),
    }
    out
}
