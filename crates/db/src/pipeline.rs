//! The processing pipeline: background workers summarize saved videos.
//!
//! A worker [`claim`]s a batch of pending videos. Each becomes `processing`
//! under a lease that ends at a time of the database's clock, and with the
//! next attempt number. While it works, the worker extends its leases with
//! [`heartbeat`]; it ends each attempt with [`complete`] or [`fail`]. All
//! three are fenced by the attempt number: once the lease has expired and
//! [`rescue`] has given the video back, or another worker has claimed it, the
//! old attempt can change nothing.
//!
//! The database enforces the status graph itself (the trigger
//! `video_summary_check_transition`): pending → processing → completed,
//! failed or pending (a retry), and failed → pending (a requeue). The attempt
//! number grows by one with each claim and never otherwise.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use diesel::dsl::{self, array, case_when, now};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Interval, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::instrument::{Rows, one_row, operation};
use crate::models::{
    AiContent, Keyframe, NewKeyframe, ProcessingStatus, StatusCounts, owned_video,
};
use crate::schema::video_summary;

/// The most videos one [`claim`] takes.
pub const MAX_BATCH: i64 = 1000;
/// The longest lease one [`claim`] or [`heartbeat`] grants.
pub const MAX_LEASE: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest worker id.
pub const MAX_WORKER_LEN: usize = 200;
/// What [`rescue`] records as the `last_error` of an abandoned attempt.
pub const LEASE_EXPIRED: &str = "the lease expired before the attempt finished";

// The rows a claim or a rescue picks, named apart from the rows it updates.
// They are picked by `id = ANY(ARRAY(SELECT ...))`: an array is computed
// once, where `id IN (SELECT ...)` may be run again for every row updated,
// and so lock and take more rows than its LIMIT.
diesel::alias!(video_summary as picked: Picked);

define_sql_function! {
    /// Exponential backoff; defined in SQL by the pipeline's migration.
    fn video_summary_retry_delay(attempt: Integer, base: Interval, cap: Interval) -> Interval;
}

/// A video a worker has claimed: what it needs to process it, and the
/// attempt that fences what it writes.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = video_summary, check_for_backend(diesel::pg::Pg))]
pub struct Job {
    pub id: String,
    pub user_id: String,
    pub youtube_url: String,
    pub youtube_id: String,
    pub title: String,
    /// Seconds.
    pub duration: Option<i32>,
    /// Pass it to [`heartbeat`], [`complete`] and [`fail`].
    pub attempt: i32,
    /// Why the previous attempt ended, if one did.
    pub last_error: Option<String>,
    #[diesel(select_expression = video_summary::lease_expires_at.assume_not_null())]
    #[diesel(select_expression_type = dsl::AssumeNotNull<video_summary::lease_expires_at>)]
    pub lease_expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// Where a video stands in the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize)]
#[diesel(table_name = video_summary, check_for_backend(diesel::pg::Pg))]
pub struct JobState {
    pub id: String,
    pub user_id: String,
    pub processing_status: ProcessingStatus,
    /// How many times the video has been claimed.
    pub attempt: i32,
    /// The worker holding the lease, or the last one that held it.
    pub worker_id: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// A pending video is not claimed before this time.
    pub retry_after: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Set when the video failed for good.
    pub processing_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl JobState {
    /// The pipeline state of the user's video.
    pub async fn find(conn: &mut AsyncPgConnection, user_id: &str, id: &str) -> Result<Self> {
        operation!("pipeline.job_state", conn, async |conn| {
            owned_video(user_id, id)
                .select(Self::as_select())
                .first(conn)
                .await
                .optional()?
                .ok_or_else(|| Error::not_found("video_summary", id))
        })
    }
}

/// How often a video is tried, and how long a retry waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts a video gets before it fails for good (at least 1).
    pub max_attempts: i32,
    /// The wait after the first attempt; it doubles after each further one.
    pub base_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(60 * 60),
        }
    }
}

impl RetryPolicy {
    /// The delays as SQL intervals, once the policy is found sound.
    fn intervals(&self) -> Result<(TimeDelta, TimeDelta)> {
        if self.max_attempts < 1 {
            return Err(Error::invalid(
                "max_attempts",
                format!("{} is less than 1", self.max_attempts),
            ));
        }
        if self.base_delay > self.max_delay {
            return Err(Error::invalid(
                "base_delay",
                format!(
                    "{:?} is longer than max_delay ({:?})",
                    self.base_delay, self.max_delay
                ),
            ));
        }
        Ok((
            interval("base_delay", self.base_delay)?,
            interval("max_delay", self.max_delay)?,
        ))
    }
}

fn interval(field: &'static str, duration: Duration) -> Result<TimeDelta> {
    TimeDelta::from_std(duration)
        .map_err(|_| Error::invalid(field, format!("{duration:?} is too long")))
}

fn lease_interval(lease: Duration) -> Result<TimeDelta> {
    if lease.is_zero() || lease > MAX_LEASE {
        return Err(Error::invalid(
            "lease",
            format!("{lease:?} is not between zero and {MAX_LEASE:?}"),
        ));
    }
    interval("lease", lease)
}

/// What became of a video whose attempt ended without a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Retry {
    /// Pending again; no worker claims it before `at`.
    Scheduled { at: DateTime<Utc> },
    /// Failed for good: it had its last attempt.
    Exhausted,
}

/// The videos [`rescue`] found with an expired lease.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rescued {
    /// Pending again, to be retried after their backoff.
    pub retried: Vec<String>,
    /// Failed for good: that was their last attempt.
    pub failed: Vec<String>,
}

impl Rows for Rescued {
    fn rows(&self) -> u64 {
        (self.retried.len() + self.failed.len()) as u64
    }
}

one_row!(JobState, Retry, QueueStats);

/// A view of the queue for operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    /// Videos in each status, across all users.
    pub counts: StatusCounts,
    /// Pending videos still waiting out their backoff.
    pub waiting_to_retry: i64,
    /// Processing videos whose lease has expired: their worker is gone or
    /// late, and the next [`rescue`] gives them back.
    pub expired_leases: i64,
    /// When the longest-waiting pending video was saved.
    pub oldest_pending: Option<DateTime<Utc>>,
    /// The database's clock when the numbers were taken.
    pub checked_at: DateTime<Utc>,
}

/// The filter that fences a write: this attempt of this video.
#[dsl::auto_type(no_type_alias)]
fn attempt_of<'a>(id: &'a str, attempt: i32) -> _ {
    video_summary::id
        .eq(id)
        .and(video_summary::attempt.eq(attempt))
}

/// Ends the current attempt of each matched row: back to pending after its
/// backoff while attempts remain, else failed for good.
#[dsl::auto_type(no_type_alias)]
fn end_attempt<'a>(error: &'a str, max_attempts: i32, base: TimeDelta, cap: TimeDelta) -> _ {
    // auto_type reads the types of values from annotated bindings.
    let pending: ProcessingStatus = ProcessingStatus::Pending;
    let failed: ProcessingStatus = ProcessingStatus::Failed;
    let no_lease: Option<DateTime<Utc>> = None;
    let retry_at: dsl::Add<
        dsl::AsExprOf<now, Timestamptz>,
        video_summary_retry_delay<video_summary::attempt, TimeDelta, TimeDelta>,
    > = now.into_sql::<Timestamptz>()
        + video_summary_retry_delay(video_summary::attempt, base, cap);
    (
        video_summary::processing_status.eq(case_when::<_, _, Text>(
            video_summary::attempt.lt(max_attempts),
            pending,
        )
        .otherwise(failed)),
        video_summary::retry_after.eq(case_when::<_, _, Timestamptz>(
            video_summary::attempt.lt(max_attempts),
            retry_at,
        )),
        video_summary::processing_error.eq(case_when::<_, _, Text>(
            video_summary::attempt.ge(max_attempts),
            error,
        )),
        video_summary::last_error.eq(error),
        video_summary::lease_expires_at.eq(no_lease),
        video_summary::updated_at.eq(now),
    )
}

/// Why a fenced write matched no row.
async fn stale(conn: &mut AsyncPgConnection, id: &str, attempt: i32) -> Error {
    let current = video_summary::table
        .filter(video_summary::id.eq(id))
        .select((video_summary::processing_status, video_summary::attempt))
        .first::<(ProcessingStatus, i32)>(conn)
        .await
        .optional();
    match current {
        Ok(Some((status, current_attempt))) => Error::StaleAttempt {
            id: id.to_string(),
            attempt,
            status,
            current_attempt,
        },
        // Its user deleted it meanwhile.
        Ok(None) => Error::not_found("video_summary", id),
        Err(e) => e.into(),
    }
}

/// Takes up to `n` pending videos, oldest first, for `worker`: in one
/// statement each becomes processing with the next attempt number and a
/// lease ending `lease` from now by the database's clock. Videos waiting out
/// a backoff, and rows other workers are claiming at this moment, are
/// skipped rather than waited for. The jobs come back oldest first.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    worker: &str,
    n: i64,
    lease: Duration,
) -> Result<Vec<Job>> {
    operation!("pipeline.claim", conn, async |conn| {
        let worker = worker.trim();
        if worker.is_empty() || worker.len() > MAX_WORKER_LEN {
            return Err(Error::invalid(
                "worker",
                format!("must be 1 to {MAX_WORKER_LEN} bytes, not {}", worker.len()),
            ));
        }
        if !(1..=MAX_BATCH).contains(&n) {
            return Err(Error::invalid(
                "n",
                format!("{n} is not between 1 and {MAX_BATCH}"),
            ));
        }
        let lease = lease_interval(lease)?;
        // Served by the partial index on pending rows, in its order.
        let oldest = picked
            .filter(
                picked
                    .field(video_summary::processing_status)
                    .eq(ProcessingStatus::Pending),
            )
            .filter(
                picked
                    .field(video_summary::retry_after)
                    .is_null()
                    .or(picked.field(video_summary::retry_after).le(now)),
            )
            .order((
                picked.field(video_summary::created_at),
                picked.field(video_summary::id),
            ))
            .limit(n)
            .select(picked.field(video_summary::id))
            .for_update()
            .skip_locked();
        let mut jobs: Vec<Job> = diesel::update(video_summary::table)
            .filter(video_summary::id.eq_any(array(oldest)))
            .filter(video_summary::processing_status.eq(ProcessingStatus::Pending))
            .set((
                video_summary::processing_status.eq(ProcessingStatus::Processing),
                video_summary::attempt.eq(video_summary::attempt + 1),
                video_summary::worker_id.eq(worker),
                video_summary::lease_expires_at
                    .eq((now.into_sql::<Timestamptz>() + lease).nullable()),
                video_summary::retry_after.eq(None::<DateTime<Utc>>),
                video_summary::updated_at.eq(now),
            ))
            .returning(Job::as_returning())
            .get_results(conn)
            .await?;
        jobs.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(jobs)
    })
}

/// Extends the lease of a job still in its current attempt to `lease` from
/// now; returns the new end. A lease that has run out but was not rescued yet
/// is extended too: nobody else has the video. [`Error::StaleAttempt`] once
/// the attempt is over.
pub async fn heartbeat(
    conn: &mut AsyncPgConnection,
    id: &str,
    attempt: i32,
    lease: Duration,
) -> Result<DateTime<Utc>> {
    operation!("pipeline.heartbeat", conn, async |conn| {
        let lease = lease_interval(lease)?;
        let extended = diesel::update(video_summary::table)
            .filter(attempt_of(id, attempt))
            .filter(video_summary::processing_status.eq(ProcessingStatus::Processing))
            .set(
                video_summary::lease_expires_at
                    .eq((now.into_sql::<Timestamptz>() + lease).nullable()),
            )
            .returning(video_summary::lease_expires_at.assume_not_null())
            .get_result(conn)
            .await
            .optional()?;
        match extended {
            Some(until) => Ok(until),
            None => Err(stale(conn, id, attempt).await),
        }
    })
}

/// Stores the AI content and the keyframes and marks the video completed, in
/// one transaction, if `attempt` is its current attempt. The keyframes
/// replace any the video had, so a repeated call by the attempt that
/// completed the video (say, after a lost reply) leaves one set.
/// [`Error::StaleAttempt`] when the attempt is over.
pub async fn complete(
    conn: &mut AsyncPgConnection,
    id: &str,
    attempt: i32,
    content: &AiContent,
    keyframes: &[NewKeyframe<'_>],
) -> Result<Vec<Keyframe>> {
    operation!("pipeline.complete", conn, async |conn| {
        NewKeyframe::check_all(keyframes)?;
        conn.transaction(async |conn| {
            let owner: Option<String> = diesel::update(video_summary::table)
                .filter(attempt_of(id, attempt))
                // Completed is final, so a completed video at this attempt was
                // completed by this attempt.
                .filter(
                    video_summary::processing_status
                        .eq_any([ProcessingStatus::Processing, ProcessingStatus::Completed]),
                )
                .set((
                    video_summary::processing_status.eq(ProcessingStatus::Completed),
                    video_summary::ai_generated_content.eq(content),
                    video_summary::processing_error.eq(None::<String>),
                    video_summary::lease_expires_at.eq(None::<DateTime<Utc>>),
                    video_summary::updated_at.eq(now),
                ))
                .returning(video_summary::user_id)
                .get_result(conn)
                .await
                .optional()?;
            let Some(owner) = owner else {
                return Err(stale(conn, id, attempt).await);
            };
            Keyframe::delete_for_video(conn, id).await?;
            Keyframe::insert_many(conn, &owner, id, keyframes).await
        })
        .await
    })
}

/// Ends the current attempt with `error`: the video is pending again after
/// its backoff while it has attempts left under `policy`, else failed for
/// good with `error` as its processing error. [`Error::StaleAttempt`] when
/// the attempt is over.
pub async fn fail(
    conn: &mut AsyncPgConnection,
    id: &str,
    attempt: i32,
    error: &str,
    policy: &RetryPolicy,
) -> Result<Retry> {
    operation!("pipeline.fail", conn, async |conn| {
        let error = error.trim();
        if error.is_empty() {
            return Err(Error::invalid(
                "error",
                "a failed attempt needs the reason it failed",
            ));
        }
        let (base, cap) = policy.intervals()?;
        let ended = diesel::update(video_summary::table)
            .filter(attempt_of(id, attempt))
            .filter(video_summary::processing_status.eq(ProcessingStatus::Processing))
            .set(end_attempt(error, policy.max_attempts, base, cap))
            .returning(video_summary::retry_after)
            .get_result::<Option<DateTime<Utc>>>(conn)
            .await
            .optional()?;
        match ended {
            Some(Some(at)) => Ok(Retry::Scheduled { at }),
            Some(None) => Ok(Retry::Exhausted),
            None => Err(stale(conn, id, attempt).await),
        }
    })
}

/// Gives back every video whose lease has expired (or that has none: one
/// left in processing before the pipeline existed): pending again after its
/// backoff while it has attempts left, else failed for good; either way with
/// [`LEASE_EXPIRED`] as its last error. Rows being written at this moment
/// are skipped; the next rescue sees them.
pub async fn rescue(conn: &mut AsyncPgConnection, policy: &RetryPolicy) -> Result<Rescued> {
    operation!("pipeline.rescue", conn, async |conn| {
        let (base, cap) = policy.intervals()?;
        let expired = picked
            .filter(
                picked
                    .field(video_summary::processing_status)
                    .eq(ProcessingStatus::Processing),
            )
            // Without a lease: left in processing before leases existed.
            .filter(
                picked
                    .field(video_summary::lease_expires_at)
                    .lt(now)
                    .or(picked.field(video_summary::lease_expires_at).is_null()),
            )
            .select(picked.field(video_summary::id))
            .for_update()
            .skip_locked();
        let ended: Vec<(String, ProcessingStatus)> = diesel::update(video_summary::table)
            .filter(video_summary::id.eq_any(array(expired)))
            .filter(video_summary::processing_status.eq(ProcessingStatus::Processing))
            .set(end_attempt(LEASE_EXPIRED, policy.max_attempts, base, cap))
            .returning((video_summary::id, video_summary::processing_status))
            .get_results(conn)
            .await?;
        let mut rescued = Rescued::default();
        for (id, status) in ended {
            if status == ProcessingStatus::Failed {
                rescued.failed.push(id);
            } else {
                rescued.retried.push(id);
            }
        }
        rescued.retried.sort();
        rescued.failed.sort();
        Ok(rescued)
    })
}

/// Puts the user's failed video back in the queue, claimable at once; a
/// pending video waiting out a backoff becomes claimable at once too. The
/// attempt number stays (it is the fencing token), so the video gets one
/// more attempt. A video being processed, or completed, is refused.
pub async fn requeue(conn: &mut AsyncPgConnection, user_id: &str, id: &str) -> Result<JobState> {
    operation!("pipeline.requeue", conn, async |conn| {
        let requeued = diesel::update(owned_video(user_id, id))
            .filter(
                video_summary::processing_status
                    .eq_any([ProcessingStatus::Failed, ProcessingStatus::Pending]),
            )
            .set((
                video_summary::processing_status.eq(ProcessingStatus::Pending),
                video_summary::retry_after.eq(None::<DateTime<Utc>>),
                video_summary::processing_error.eq(None::<String>),
                video_summary::updated_at.eq(now),
            ))
            .returning(JobState::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        if let Some(state) = requeued {
            return Ok(state);
        }
        let current = JobState::find(conn, user_id, id).await?;
        match current.processing_status {
            ProcessingStatus::Processing => Err(Error::invalid(
                "video",
                format!(
                    "{id:?} is being processed (attempt {}, worker {}, lease until {}); once the lease \
                     expires, rescue gives it back to the queue",
                    current.attempt,
                    current.worker_id.as_deref().unwrap_or("unknown"),
                    current
                        .lease_expires_at
                        .map_or_else(|| "none".to_string(), |at| at.to_rfc3339()),
                ),
            )),
            from => Err(Error::IllegalTransition {
                id: id.to_string(),
                from,
                to: ProcessingStatus::Pending,
            }),
        }
    })
}

#[derive(QueryableByName)]
struct StatsRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pending: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    processing: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    completed: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    failed: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    waiting_to_retry: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    expired_leases: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<Timestamptz>)]
    oldest_pending: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    checked_at: DateTime<Utc>,
}

/// The videos whose lease has expired, or that have none (left in
/// processing before the pipeline existed), as SQL; [`rescue`]'s filter
/// says the same in Diesel.
macro_rules! expired_lease {
    () => {
        "processing_status = 'processing' AND (lease_expires_at < now() OR lease_expires_at IS NULL)"
    };
}

/// What [`stats`] tells without reading every row: expired leases and the
/// oldest pending video, from the pipeline's partial indexes (for a table
/// too large to count).
#[derive(Debug, Clone, QueryableByName)]
pub struct QueueFacts {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub expired_leases: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<Timestamptz>)]
    pub oldest_pending: Option<DateTime<Utc>>,
    /// The database's clock when the numbers were taken.
    #[diesel(sql_type = Timestamptz)]
    pub checked_at: DateTime<Utc>,
}

one_row!(QueueFacts);

pub async fn queue_facts(conn: &mut AsyncPgConnection) -> Result<QueueFacts> {
    operation!("pipeline.queue_facts", conn, async |conn| {
        Ok(diesel::sql_query(concat!(
            "SELECT (SELECT count(*) FROM video_summary WHERE ",
            expired_lease!(),
            ") AS expired_leases,
                    (SELECT min(created_at) FROM video_summary WHERE processing_status = 'pending')
                        AS oldest_pending,
                    now() AS checked_at"
        ))
        .get_result(conn)
        .await?)
    })
}

/// Counts per status, the oldest pending video, backoffs and expired leases,
/// from one snapshot.
pub async fn stats(conn: &mut AsyncPgConnection) -> Result<QueueStats> {
    operation!("pipeline.stats", conn, async |conn| {
        let row: StatsRow = diesel::sql_query(concat!(
            "SELECT count(*) FILTER (WHERE processing_status = 'pending') AS pending,
                    count(*) FILTER (WHERE processing_status = 'processing') AS processing,
                    count(*) FILTER (WHERE processing_status = 'completed') AS completed,
                    count(*) FILTER (WHERE processing_status = 'failed') AS failed,
                    count(*) FILTER (WHERE processing_status = 'pending' AND retry_after > now())
                        AS waiting_to_retry,
                    count(*) FILTER (WHERE ",
            expired_lease!(),
            ") AS expired_leases,
                    min(created_at) FILTER (WHERE processing_status = 'pending') AS oldest_pending,
                    now() AS checked_at
             FROM video_summary"
        ))
        .get_result(conn)
        .await?;
        Ok(QueueStats {
            counts: StatusCounts {
                pending: row.pending,
                processing: row.processing,
                completed: row.completed,
                failed: row.failed,
            },
            waiting_to_retry: row.waiting_to_retry,
            expired_leases: row.expired_leases,
            oldest_pending: row.oldest_pending,
            checked_at: row.checked_at,
        })
    })
}
