//! `mv-admin bench`: the workloads of `scripts/bench/SPEC.md`, run through
//! the data layer's own DAOs and pool, one JSON line per workload.
//!
//! It runs on a database loaded with `seed --users N --videos N` and leaves
//! it as it found it: `scripts/bench/restore.sql` removes what `create` added
//! and moves back what `status` moved.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use db::models::{NewVideo, ProcessingStatus, VideoFilter, VideoSummary};
use db::{Db, Error};
use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::Context;
use crate::dataset::Id;
use crate::say;

/// Undoes what the workloads change; shared with scripts/bench.sh.
pub const RESTORE_SQL: &str = include_str!("../../../scripts/bench/restore.sql");

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The workloads to run, in this order.
    #[arg(long, value_delimiter = ',', default_value = "get,list,create,status")]
    pub workload: Vec<Workload>,
    /// Concurrent clients, over a pool of as many connections.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub clients: u32,
    /// Operations measured per workload, across all clients.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub ops: u64,
    /// Operations run first and not measured.
    #[arg(long, default_value_t = 1_000)]
    pub warmup: u64,
}

/// One of the SPEC's workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// Fetch a random video, scoped to its owner.
    Get,
    /// The first page of a random user's list.
    List,
    /// Save a new video for a random user.
    Create,
    /// Move a random video to processing.
    Status,
}

/// The size of the loaded dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dataset {
    pub users: u64,
    pub videos: u64,
}

#[derive(QueryableByName)]
struct Sizes {
    #[diesel(sql_type = BigInt)]
    users: i64,
    #[diesel(sql_type = BigInt)]
    videos: i64,
}

impl Dataset {
    /// Puts the dataset back as it was loaded (restore.sql) and reads its
    /// size; fails on a database that holds anything else.
    pub async fn restore(conn: &mut AsyncPgConnection) -> Result<Self> {
        conn.batch_execute(RESTORE_SQL)
            .await
            .context("Failed to restore the benchmark dataset")?;
        let sizes: Sizes = diesel::sql_query(
            r#"SELECT (SELECT count(*) FROM "user") AS users,
                      (SELECT count(*) FROM video_summary) AS videos"#,
        )
        .get_result(conn)
        .await
        .context("Failed to read the dataset's size")?;
        let dataset = Self {
            users: u64::try_from(sizes.users).unwrap_or_default(),
            videos: u64::try_from(sizes.videos).unwrap_or_default(),
        };
        if dataset.users == 0 || dataset.videos == 0 {
            bail!(
                "the database holds no benchmark dataset: load one with \
                 `mv-admin seed --users 1000 --videos 100000`"
            );
        }
        Ok(dataset)
    }
}

impl Workload {
    /// Whether the workload changes the dataset.
    pub fn writes(self) -> bool {
        matches!(self, Self::Create | Self::Status)
    }

    /// How many values its random pick ranges over: videos or users.
    fn choices(self, dataset: Dataset) -> u64 {
        match self {
            Self::Get | Self::Status => dataset.videos,
            Self::List | Self::Create => dataset.users,
        }
    }

    /// One operation through the DAOs: `pick` is the video (get, status) or
    /// the user (list, create); `rng` makes the new video's YouTube id.
    pub async fn run_once(
        self,
        conn: &mut AsyncPgConnection,
        dataset: Dataset,
        pick: u64,
        rng: &mut SmallRng,
    ) -> Result<()> {
        match self {
            Self::Get => {
                let (user, video) = (Id::user(pick % dataset.users), Id::video(pick));
                VideoSummary::find(conn, user.as_str(), video.as_str()).await?;
            }
            Self::List => {
                let user = Id::user(pick);
                VideoSummary::list(conn, user.as_str(), &VideoFilter::default()).await?;
            }
            Self::Create => {
                let youtube_id: String = (0..11)
                    .map(|_| YOUTUBE_ID_ALPHABET[rng.random_range(0..64)] as char)
                    .collect();
                NewVideo {
                    user_id: Id::user(pick).as_str(),
                    youtube_url: &format!("https://www.youtube.com/watch?v={youtube_id}"),
                    title: "Bench video",
                    ..NewVideo::default()
                }
                .insert(conn)
                .await?;
            }
            Self::Status => {
                // The DAO makes legal moves only: a video that is not pending
                // stays as it is, and the refusal is a normal outcome.
                let (user, video) = (Id::user(pick % dataset.users), Id::video(pick));
                let moved = VideoSummary::update_processing_status(
                    conn,
                    user.as_str(),
                    video.as_str(),
                    ProcessingStatus::Processing,
                    None,
                )
                .await;
                match moved {
                    Ok(_) | Err(Error::IllegalTransition { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }
}

const YOUTUBE_ID_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// One SPEC output line.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    #[serde(rename = "impl")]
    pub implementation: &'static str,
    pub workload: Workload,
    pub clients: u32,
    pub ops: u64,
    pub seconds: f64,
    pub ops_per_s: f64,
    pub p50_us: u64,
    pub p99_us: u64,
}

pub async fn run(context: &Context, args: Args) -> Result<()> {
    let mut config = context.config.clone();
    config.pool_size = args.clients;
    let db = Db::connect(&config).await?;
    let dataset = Dataset::restore(&mut *db.get().await?).await?;
    for workload in args.workload {
        let measured = measure(&db, dataset, workload, args.clients, args.ops, args.warmup).await;
        if workload.writes() {
            Dataset::restore(&mut *db.get().await?).await?;
        }
        say!("{}", serde_json::to_string(&measured?)?);
    }
    Ok(())
}

/// Runs `warmup` operations, then `ops` measured ones, from `clients`
/// concurrent tasks that share the pool.
pub async fn measure(
    db: &Db,
    dataset: Dataset,
    workload: Workload,
    clients: u32,
    ops: u64,
    warmup: u64,
) -> Result<Report> {
    run_clients(db, dataset, workload, clients, warmup, 0).await?;
    let started = Instant::now();
    let mut latencies = run_clients(db, dataset, workload, clients, ops, 1).await?;
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    Ok(Report {
        implementation: "mv",
        workload,
        clients,
        ops,
        seconds: round(seconds, 1000.0),
        ops_per_s: round(ops as f64 / seconds, 10.0),
        p50_us: percentile(&latencies, 0.50).as_micros() as u64,
        p99_us: percentile(&latencies, 0.99).as_micros() as u64,
    })
}

/// Runs `ops` operations from `clients` tasks; returns each one's latency,
/// measured around the whole call (pool checkout included).
async fn run_clients(
    db: &Db,
    dataset: Dataset,
    workload: Workload,
    clients: u32,
    ops: u64,
    phase: u64,
) -> Result<Vec<Duration>> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients {
        let (db, next) = (db.clone(), next.clone());
        // Reproducible picks, different for every client and phase.
        let mut rng = SmallRng::seed_from_u64(phase << 32 | u64::from(client));
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity((ops / u64::from(clients) + 1) as usize);
            while next.fetch_add(1, Ordering::Relaxed) < ops {
                let pick = rng.random_range(0..workload.choices(dataset));
                let started = Instant::now();
                let mut conn = db.get().await?;
                workload
                    .run_once(&mut conn, dataset, pick, &mut rng)
                    .await?;
                drop(conn);
                latencies.push(started.elapsed());
            }
            anyhow::Ok(latencies)
        });
    }
    let mut all = Vec::with_capacity(ops as usize);
    while let Some(done) = tasks.join_next().await {
        all.extend(done.context("A benchmark client failed")??);
    }
    Ok(all)
}

/// The nearest-rank percentile of sorted values (scripts/bench.sh computes
/// pgbench's the same way).
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len().max(1)) - 1)
        .copied()
        .unwrap_or_default()
}

fn round(value: f64, scale: f64) -> f64 {
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<Duration> = (1..=200).map(Duration::from_micros).collect();
        assert_eq!(percentile(&values, 0.50), Duration::from_micros(100));
        assert_eq!(percentile(&values, 0.99), Duration::from_micros(198));
        assert_eq!(percentile(&values[..1], 0.99), Duration::from_micros(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }
}
