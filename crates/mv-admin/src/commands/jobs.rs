//! `mv-admin jobs`: the processing queue at a glance, for operators.

use std::fmt::Write as _;

use anyhow::{Context as _, Result};
use db::pipeline::{self, QueueStats};

use crate::Context;
use crate::say;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(context: &Context, _args: Args) -> Result<()> {
    let mut conn = context.connect().await?;
    let stats = pipeline::stats(&mut conn)
        .await
        .context("Failed to read the processing queue")?;
    if context.json {
        say!("{}", serde_json::to_string(&stats)?);
    } else {
        print!("{}", render(&stats));
    }
    Ok(())
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
            let waited = std::time::Duration::from_secs(waited.as_secs());
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
