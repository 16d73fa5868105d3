//! `mv-admin bench`: the workloads of `scripts/bench/SPEC.md`, run through
//! the data layer's own DAOs and pool, one JSON line per workload (with
//! `--json`, one array of them).
//!
//! It runs on a database loaded with `seed --users N --videos N` and leaves
//! it as it found it: `scripts/bench/restore.sql` removes what `create` added
//! and puts back, as loaded, what `status` moved (attempt counts included).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use db::models::{NewVideo, ProcessingStatus, VideoDetails, VideoFilter, VideoSummary};
use db::{Db, DbConfig, Error};
use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::Context;
use crate::dataset::Id;
use crate::output::print_json;
use crate::say;

/// The most operations a workload measures or warms up with.
const MAX_OPS: u64 = 10_000_000;

/// Undoes what the workloads change; shared with scripts/bench.sh.
pub const RESTORE_SQL: &str = include_str!("../../../../scripts/bench/restore.sql");

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The workloads to run, in this order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "get,list,create,status,page,list_tag,list_status,save"
    )]
    pub workload: Vec<Workload>,
    /// Concurrent clients, over a pool of as many connections (at most 1,000).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub clients: u32,
    /// Operations measured per workload, across all clients (at most
    /// 10,000,000: each one's latency is kept).
    #[arg(long, default_value_t = 20_000,
          value_parser = clap::value_parser!(u64).range(1..=MAX_OPS))]
    pub ops: u64,
    /// Operations run first and not measured (at most 10,000,000).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(0..=MAX_OPS))]
    pub warmup: u64,
    /// Threads the clients are spread over, as pgbench's `-j` (at most 256).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub jobs: u32,
    /// Serve the data layer's metrics for a Prometheus scrape at
    /// http://ADDR/metrics while the benchmark runs: `PORT` (on 127.0.0.1)
    /// or `HOST:PORT`. The lines say `"impl":"mv+prometheus"`.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen_address)]
    pub metrics: Option<SocketAddr>,
    /// Run with tracing and metrics on, exported nowhere: a subscriber that
    /// keeps every span and drops every event, and a no-op metrics recorder,
    /// to measure what instrumentation costs. The lines say
    /// `"impl":"mv+obs"`.
    #[arg(long, conflicts_with = "metrics")]
    pub instrumented: bool,
    /// Each job's clients share N connections (`Db::shared`), their calls
    /// pipelined, instead of borrowing a pooled connection for each
    /// operation. The lines' `impl` gets `+shared` (`"mv+shared"`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub shared_connections: Option<u32>,
}

/// `PORT` (on the loopback address) or `HOST:PORT`.
fn parse_listen_address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse::<SocketAddr>().map_err(|_| {
        format!(
            "{text:?} is not PORT or HOST:PORT (an IP address and a port, such as 127.0.0.1:9464)"
        )
    })
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
    /// A random video's page: the video with its tags, categories and
    /// keyframes, as `videos show` reads it.
    Page,
    /// The first page of a random user's videos with a random tag.
    #[value(name = "list_tag")]
    #[serde(rename = "list_tag")]
    ListTag,
    /// The first page of a random user's videos in a random status.
    #[value(name = "list_status")]
    #[serde(rename = "list_status")]
    ListStatus,
    /// Save a new video with three tags for a random user.
    Save,
}

/// The dataset's tags (SPEC: `T`), named `tag-<k>`.
const TAGS: u64 = 200;

/// The statuses `list_status` picks from, in the order its pgbench script
/// numbers them.
const STATUSES: [ProcessingStatus; 4] = [
    ProcessingStatus::Pending,
    ProcessingStatus::Processing,
    ProcessingStatus::Completed,
    ProcessingStatus::Failed,
];

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
        if let Err(e) = conn.batch_execute(RESTORE_SQL).await {
            // The script's own transaction, which Diesel does not know of,
            // must not outlive the failure on this connection.
            let _ = conn.batch_execute("ROLLBACK").await;
            return Err(e).context("Failed to restore the benchmark dataset");
        }
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
        matches!(self, Self::Create | Self::Status | Self::Save)
    }

    /// How many values its random pick ranges over: videos, users, or a
    /// user and a tag or status.
    fn choices(self, dataset: Dataset) -> u64 {
        match self {
            Self::Get | Self::Status | Self::Page => dataset.videos,
            Self::List | Self::Create | Self::Save => dataset.users,
            Self::ListTag => dataset.users * TAGS,
            Self::ListStatus => dataset.users * STATUSES.len() as u64,
        }
    }

    /// One operation through the DAOs: `pick` is the video (get, status,
    /// page), the user (list, create, save), or the user and the tag or
    /// status (`pick % users`, `pick / users`); `rng` makes a new video's
    /// YouTube id and picks its tags.
    pub async fn run_once(
        self,
        conn: &AsyncPgConnection,
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
                let url = random_youtube_url(rng);
                new_video(&Id::user(pick), &url).insert(conn).await?;
            }
            Self::Save => {
                let url = random_youtube_url(rng);
                // Three different tags, as save.sql picks them.
                let first = rng.random_range(0..TAGS);
                let tags = [0, 67, 134].map(|step| format!("tag-{}", (first + step) % TAGS));
                let tags = tags.each_ref().map(String::as_str);
                new_video(&Id::user(pick), &url)
                    .insert_tagged(conn, &tags)
                    .await?;
            }
            Self::Page => {
                let (user, video) = (Id::user(pick % dataset.users), Id::video(pick));
                VideoDetails::find(conn, user.as_str(), video.as_str()).await?;
            }
            Self::ListTag => {
                let user = Id::user(pick % dataset.users);
                let tag = format!("tag-{}", pick / dataset.users);
                let filter = VideoFilter {
                    tag: Some(&tag),
                    ..VideoFilter::default()
                };
                VideoSummary::list(conn, user.as_str(), &filter).await?;
            }
            Self::ListStatus => {
                let user = Id::user(pick % dataset.users);
                let filter = VideoFilter {
                    status: Some(STATUSES[(pick / dataset.users) as usize % STATUSES.len()]),
                    ..VideoFilter::default()
                };
                VideoSummary::list(conn, user.as_str(), &filter).await?;
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

/// A YouTube URL of a random video id.
fn random_youtube_url(rng: &mut SmallRng) -> String {
    let youtube_id: String = (0..11)
        .map(|_| YOUTUBE_ID_ALPHABET[rng.random_range(0..64)] as char)
        .collect();
    format!("https://www.youtube.com/watch?v={youtube_id}")
}

/// The video `create` and `save` add for `user`.
fn new_video<'a>(user: &'a Id, url: &'a str) -> NewVideo<'a> {
    NewVideo {
        user_id: user.as_str(),
        youtube_url: url,
        title: "Bench video",
        ..NewVideo::default()
    }
}

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
    let implementation = match (observe(&args)?, args.shared_connections) {
        (name, None) => name,
        ("mv+obs", Some(_)) => "mv+shared+obs",
        ("mv+prometheus", Some(_)) => "mv+shared+prometheus",
        (_, Some(_)) => "mv+shared",
    };
    let mut conn = context.connect().await?;
    super::refuse_production(&mut conn, "bench").await?;
    let dataset = Dataset::restore(&mut conn).await?;
    drop(conn);
    let setup = Setup {
        config: context.config().await?,
        dataset,
        clients: args.clients,
        jobs: args.jobs,
        shared_connections: args.shared_connections,
    };
    let mut reports = Vec::new();
    for workload in args.workload {
        let measured = setup.measure(workload, args.ops, args.warmup).await;
        if workload.writes() {
            Dataset::restore(&mut context.connect().await?).await?;
        }
        let mut measured = measured?;
        measured.implementation = implementation;
        // Each line as soon as it is measured; `--json` waits for all.
        if !context.json {
            say!("{}", serde_json::to_string(&measured)?);
        }
        reports.push(measured);
    }
    if context.json {
        print_json(&reports)?;
    }
    Ok(())
}

/// Installs what `--metrics` or `--instrumented` ask for; returns the name
/// the output lines carry.
fn observe(args: &Args) -> Result<&'static str> {
    if let Some(address) = args.metrics {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(address)
            .install()
            .with_context(|| format!("Failed to serve the metrics at {address}"))?;
        db::instrument::describe_metrics();
        eprintln!("metrics: http://{address}/metrics");
        return Ok("mv+prometheus");
    }
    if args.instrumented {
        metrics::set_global_recorder(metrics::NoopRecorder)
            .map_err(|e| anyhow::anyhow!("Failed to install the metrics recorder: {e}"))?;
        // The registry keeps every span; with no layer, events go nowhere.
        tracing::subscriber::set_global_default(tracing_subscriber::registry())
            .context("Failed to install the tracing subscriber")?;
        return Ok("mv+obs");
    }
    Ok("mv")
}

/// How a measurement runs: where, on what, and how many at once.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The database; its pool size is set from the clients.
    pub config: DbConfig,
    pub dataset: Dataset,
    /// Concurrent clients, one pooled connection each unless they share.
    pub clients: u32,
    /// Threads the clients are spread over (pgbench's `-j`).
    pub jobs: u32,
    /// Connections each job's clients share ([`db::SharedConn`]); `None`:
    /// each operation borrows a pooled connection.
    pub shared_connections: Option<u32>,
}

impl Setup {
    /// Runs `warmup` operations, then `ops` measured ones, from the clients.
    ///
    /// Like pgbench's threads, each job is a thread of its own that runs its
    /// share of the clients on a single-threaded runtime with a pool of its
    /// own: a connection's I/O task then runs on the thread of the client
    /// that waits for it, with no wake-up across threads.
    pub async fn measure(&self, workload: Workload, ops: u64, warmup: u64) -> Result<Report> {
        let setup = self.clone();
        tokio::task::spawn_blocking(move || setup.measure_on_threads(workload, ops, warmup))
            .await
            .context("The benchmark stopped")?
    }

    fn measure_on_threads(&self, workload: Workload, ops: u64, warmup: u64) -> Result<Report> {
        let jobs = self.jobs.clamp(1, self.clients);
        let counters = Counters {
            warmup: Arc::new(AtomicU64::new(0)),
            measured: Arc::new(AtomicU64::new(0)),
            start: Arc::new(Barrier::new(jobs as usize + 1)),
        };
        let threads: Vec<_> = (0..jobs)
            .map(|job| {
                // Clients job, job + jobs, job + 2 jobs, ...
                let clients: Vec<u32> = (job..self.clients).step_by(jobs as usize).collect();
                let (setup, counters) = (self.clone(), counters.clone());
                std::thread::spawn(move || {
                    setup.run_job(workload, &clients, &counters, warmup, ops)
                })
            })
            .collect();
        counters.start.wait();
        let started = Instant::now();
        let mut latencies = Vec::with_capacity(ops as usize);
        let mut finished = started;
        for thread in threads {
            let (job_latencies, job_finished) = thread
                .join()
                .map_err(|_| anyhow::anyhow!("A benchmark thread panicked"))??;
            latencies.extend(job_latencies);
            finished = finished.max(job_finished);
        }
        if latencies.len() as u64 != ops {
            bail!("the clients ran {} operations, not {ops}", latencies.len());
        }
        let seconds = (finished - started).as_secs_f64();
        latencies.sort_unstable();
        Ok(Report {
            implementation: "mv",
            workload,
            clients: self.clients,
            ops,
            seconds: round(seconds, 1000.0),
            ops_per_s: round(ops as f64 / seconds, 10.0),
            p50_us: percentile(&latencies, 0.50).as_micros() as u64,
            p99_us: percentile(&latencies, 0.99).as_micros() as u64,
        })
    }

    /// One job's thread: connects, warms up, waits for every job to be
    /// ready, then runs its clients until the measured operations are done.
    fn run_job(
        &self,
        workload: Workload,
        clients: &[u32],
        counters: &Counters,
        warmup: u64,
        ops: u64,
    ) -> Result<(Vec<Duration>, Instant)> {
        // I/O and timers only: the signal and process drivers would look for
        // finished child processes every time the runtime parks.
        let ready = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .context("Failed to start a benchmark thread's runtime")
            .and_then(|runtime| {
                let db = runtime.block_on(async {
                    let mut config = self.config.clone();
                    config.pool_size = self.shared_connections.unwrap_or(clients.len() as u32);
                    let db = Db::connect(&config).await?;
                    self.run_clients(&db, workload, clients, &counters.warmup, warmup, 0)
                        .await?;
                    anyhow::Ok(db)
                })?;
                Ok((runtime, db))
            });
        // Every job passes the barrier once, ready or not, so that no thread
        // waits for ever on one that failed.
        counters.start.wait();
        let (runtime, db) = ready?;
        runtime.block_on(async {
            let latencies = self
                .run_clients(&db, workload, clients, &counters.measured, ops, 1)
                .await?;
            Ok((latencies, Instant::now()))
        })
    }

    /// Runs operations from `clients` tasks until `next` reaches `ops`;
    /// returns each one's latency, measured around the whole call (pool
    /// checkout included).
    async fn run_clients(
        &self,
        db: &Db,
        workload: Workload,
        clients: &[u32],
        next: &Arc<AtomicU64>,
        ops: u64,
        phase: u64,
    ) -> Result<Vec<Duration>> {
        let dataset = self.dataset;
        let mut shared = Vec::new();
        for _ in 0..self.shared_connections.unwrap_or(0) {
            shared.push(db.shared().await?);
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (index, &client) in clients.iter().enumerate() {
            let (db, next) = (db.clone(), next.clone());
            let shared = (!shared.is_empty()).then(|| shared[index % shared.len()].clone());
            // Reproducible picks, different for every client and phase.
            let mut rng = SmallRng::seed_from_u64(phase << 32 | u64::from(client));
            let expected = ops / u64::from(self.clients) + 1;
            tasks.spawn(async move {
                let mut latencies = Vec::with_capacity(expected as usize);
                while next.fetch_add(1, Ordering::Relaxed) < ops {
                    let pick = rng.random_range(0..workload.choices(dataset));
                    let started = Instant::now();
                    match &shared {
                        Some(conn) => workload.run_once(conn, dataset, pick, &mut rng).await?,
                        None => {
                            let conn = db.get().await?;
                            workload.run_once(&conn, dataset, pick, &mut rng).await?;
                        }
                    }
                    latencies.push(started.elapsed());
                }
                anyhow::Ok(latencies)
            });
        }
        let mut all = Vec::new();
        while let Some(done) = tasks.join_next().await {
            all.extend(done.context("A benchmark client failed")??);
        }
        Ok(all)
    }
}

/// What the job threads share.
#[derive(Clone)]
struct Counters {
    /// Operations taken so far in the warm-up, by every client.
    warmup: Arc<AtomicU64>,
    /// Operations taken so far in the measurement, by every client.
    measured: Arc<AtomicU64>,
    /// Passed by every job once warmed up, and by the thread that keeps
    /// time, which starts the clock when the last one is through.
    start: Arc<Barrier>,
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
