//! `mv-admin seed --users N --videos N`: the benchmark dataset of
//! `scripts/bench/SPEC.md`, row for row as `scripts/bench/dataset.sql` makes
//! it, streamed to the server with binary `COPY FROM STDIN`.
//!
//! Rows are made one at a time into reused buffers and sent in small chunks,
//! so memory stays flat whatever the size. Everything loads in one
//! transaction: a failure midway leaves the tables as they were, and a run
//! over a complete dataset changes nothing.

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result, bail};
use bytes::BytesMut;
use indicatif::{ProgressBar, ProgressStyle};
use md5::{Digest, Md5};
use serde_json::json;
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::Context;
use crate::output::progress_bar;
use crate::say;

/// Tags in the dataset, whatever its size.
pub const TAGS: u64 = 200;
/// Categories in the dataset, whatever its size.
pub const CATEGORIES: u64 = 20;
/// Every tenth video has keyframes, five each.
const KEYFRAME_STEP: u64 = 10;
const KEYFRAMES_PER_VIDEO: u64 = 5;
/// 2026-01-01 00:00:00 UTC: every row's `created_at` counts from it.
const EPOCH_SECS: u64 = 1_767_225_600;
/// The most users `seed --users` takes: ids have room for more, but not
/// a load's time.
pub const MAX_USERS: u64 = 10_000_000;
/// The most videos `seed --videos` takes (about three hours of loading).
pub const MAX_VIDEOS: u64 = 100_000_000;
/// Serializes concurrent loads into one database ("mvbench").
const LOAD_LOCK: i64 = 0x006d_7662_656e_6368;

/// A dataset id: a letter and `n` in 20 digits, made on the stack (the
/// benchmark makes two for every operation it measures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id([u8; 21]);

impl Id {
    /// The id of user `n`.
    pub fn user(n: u64) -> Self {
        Self::new(b'u', n)
    }

    /// The id of video `n`.
    pub fn video(n: u64) -> Self {
        Self::new(b'v', n)
    }

    fn new(letter: u8, mut n: u64) -> Self {
        let mut bytes = [b'0'; 21];
        bytes[0] = letter;
        for digit in bytes[1..].iter_mut().rev() {
            *digit = b'0' + (n % 10) as u8;
            n /= 10;
        }
        Self(bytes)
    }

    pub fn as_str(&self) -> &str {
        // One ASCII letter and ASCII digits.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// The id of user `n`.
pub fn user_id(n: u64) -> String {
    Id::user(n).as_str().to_string()
}

/// The id of video `n`.
pub fn video_id(n: u64) -> String {
    Id::video(n).as_str().to_string()
}

/// How many rows a dataset of this size has, in every table together.
pub fn row_count(users: u64, videos: u64) -> u64 {
    let with_keyframes = videos.div_ceil(KEYFRAME_STEP);
    users + TAGS + CATEGORIES + videos * 5 + with_keyframes * KEYFRAMES_PER_VIDEO
}

/// What [`load`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The rows were loaded (and the tables analyzed).
    Loaded { rows: u64 },
    /// The database already held exactly this dataset; nothing changed.
    AlreadyLoaded,
}

/// `mv-admin seed --users N --videos N`: loads the dataset and says so.
pub async fn run(context: &Context, users: u64, videos: u64) -> Result<()> {
    crate::commands::refuse_production(&mut context.connect().await?, "seed --users").await?;
    let mut client = context.client().await?;
    // Drawn only where the output module draws bars (a terminal on stderr),
    // with the rows and time left that a long load wants.
    let progress = progress_bar(row_count(users, videos), "loading");
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {human_pos}/{human_len} rows, {eta} left")
            .context("Failed to set up the progress bar")?,
    );
    let started = Instant::now();
    let outcome = load(&mut client, users, videos, &progress).await;
    progress.finish_and_clear();
    let outcome = outcome?;
    let seconds = started.elapsed().as_secs_f64();
    match outcome {
        Outcome::Loaded { rows } if context.json => say!(
            "{}",
            json!({ "loaded": true, "users": users, "videos": videos, "rows": rows, "seconds": seconds })
        ),
        Outcome::Loaded { rows } => say!(
            "loaded the benchmark dataset: {users} users, {videos} videos, {rows} rows in {seconds:.1} s"
        ),
        Outcome::AlreadyLoaded if context.json => say!(
            "{}",
            json!({ "loaded": false, "users": users, "videos": videos })
        ),
        Outcome::AlreadyLoaded => say!(
            "the benchmark dataset of {users} users and {videos} videos is already loaded; nothing changed"
        ),
    }
    Ok(())
}

/// Loads the dataset of `users` users and `videos` videos into empty tables,
/// in one transaction, then analyzes them. A database that already holds
/// exactly this dataset is left alone; one holding anything else is refused.
pub async fn load(
    client: &mut Client,
    users: u64,
    videos: u64,
    progress: &ProgressBar,
) -> Result<Outcome> {
    if users == 0 {
        bail!("the benchmark dataset needs at least one user");
    }
    if users > MAX_USERS || videos > MAX_VIDEOS {
        bail!(
            "the benchmark dataset has at most {MAX_USERS} users and {MAX_VIDEOS} videos, \
             not {users} and {videos}"
        );
    }
    // No server work outlives this client: on PostgreSQL 14 and later the
    // server checks every second, even mid-statement, that the client is
    // still there, so a killed load stops at once instead of finishing its
    // statement (and holding the load lock) for nobody; and a client that
    // stalls inside the transaction is cut off after a minute.
    client
        .batch_execute(
            "SELECT set_config(name, '1s', false) FROM pg_settings \
             WHERE name = 'client_connection_check_interval'; \
             SET idle_in_transaction_session_timeout = '60s'",
        )
        .await
        .context("Failed to set up the load's session")?;
    let tx = client
        .transaction()
        .await
        .context("Failed to start the load")?;
    // The load may outlast any statement timeout; a second load waits for
    // the first. The tables are then locked against VACUUM and ANALYZE
    // (autovacuum skips a table it cannot lock at once): one running while
    // they fill would record them as empty, as the rows are not committed,
    // and the foreign-key checks planned after it would take minutes
    // instead of seconds. Reads and writes of others are not blocked.
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = 0; SELECT pg_advisory_xact_lock({LOAD_LOCK}); \
         LOCK TABLE \"user\", tag, category, video_summary, video_summary_tag, \
         video_summary_category, keyframe IN SHARE UPDATE EXCLUSIVE MODE"
    ))
    .await
    .context("Failed to start the load")?;
    if check_state(&tx, users, videos).await? {
        return Ok(Outcome::AlreadyLoaded);
    }
    let mut rows = Rows::default();

    let mut copy = TableCopy::start(
        &tx,
        r#""user" (id, name, email, "emailVerified", image, "createdAt", "updatedAt")"#,
        &[
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::BOOL,
            Type::TEXT,
            Type::TIMESTAMPTZ,
            Type::TIMESTAMPTZ,
        ],
        progress,
    )
    .await?;
    for n in 0..users {
        let at = at(n);
        rows.set(&[
            format_args!("u{n:020}"),
            format_args!("User {n}"),
            format_args!("user{n}@example.com"),
        ]);
        let [id, name, email, ..] = rows.fields();
        copy.row(&[&id, &name, &email, &(n % 2 == 0), &None::<&str>, &at, &at])
            .await?;
    }
    copy.finish().await?;

    for (table, count) in [("tag", TAGS), ("category", CATEGORIES)] {
        let mut copy = TableCopy::start(
            &tx,
            &format!("{table} (id, name, description, created_at)"),
            &[Type::TEXT, Type::TEXT, Type::TEXT, Type::TIMESTAMPTZ],
            progress,
        )
        .await?;
        for k in 0..count {
            rows.set(&[
                format_args!("{}{k:020}", &table[..1]),
                format_args!("{table}-{k}"),
            ]);
            let [id, name, ..] = rows.fields();
            copy.row(&[&id, &name, &None::<&str>, &at(0)]).await?;
        }
        copy.finish().await?;
    }

    let mut copy = TableCopy::start(
        &tx,
        "video_summary (id, user_id, youtube_url, youtube_id, title, description, channel_name, \
         duration, thumbnail_url, processing_status, processing_error, ai_generated_content, \
         created_at, updated_at)",
        &[
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::INT4,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::JSONB,
            Type::TIMESTAMPTZ,
            Type::TIMESTAMPTZ,
        ],
        progress,
    )
    .await?;
    for n in 0..videos {
        let youtube_id = youtube_id(n);
        let youtube_id = youtube_id.as_str();
        rows.set(&[
            format_args!("v{n:020}"),
            format_args!("u{:020}", n % users),
            format_args!("https://www.youtube.com/watch?v={youtube_id}"),
            format_args!("Video {n}"),
            format_args!("Description of video {n}"),
            format_args!("Channel {}", n % 50),
            format_args!("https://i.ytimg.com/vi/{youtube_id}/hqdefault.jpg"),
            format_args!(
                r#"{{"summary": "Summary of video {n}", "keyPoints": ["point 1", "point 2", "point 3"]}}"#
            ),
        ]);
        let [
            id,
            user,
            url,
            title,
            description,
            channel,
            thumbnail,
            content,
        ] = rows.fields();
        let (status, error) = match n % 10 {
            0..=6 => ("completed", None),
            7 => ("pending", None),
            8 => ("processing", None),
            _ => ("failed", Some("transcript unavailable")),
        };
        let content = (status == "completed").then_some(Jsonb(content));
        let duration = (60 + (n * 37) % 3600) as i32;
        let at = at(n);
        copy.row(&[
            &id,
            &user,
            &url,
            &youtube_id,
            &title,
            &description,
            &channel,
            &duration,
            &thumbnail,
            &status,
            &error,
            &content,
            &at,
            &at,
        ])
        .await?;
    }
    copy.finish().await?;

    // Video n's tags are (7n + j) % TAGS for j in 0..3; its category n % CATEGORIES.
    let links: [(&str, u64, char, LabelOf); 2] = [
        (
            "video_summary_tag (video_summary_id, tag_id)",
            3,
            't',
            |n, j| (7 * n + j) % TAGS,
        ),
        (
            "video_summary_category (video_summary_id, category_id)",
            1,
            'c',
            |n, _| n % CATEGORIES,
        ),
    ];
    for (target, per_video, letter, label) in links {
        let mut copy = TableCopy::start(&tx, target, &[Type::TEXT, Type::TEXT], progress).await?;
        for n in 0..videos {
            for j in 0..per_video {
                rows.set(&[
                    format_args!("v{n:020}"),
                    format_args!("{letter}{:020}", label(n, j)),
                ]);
                let [video, label, ..] = rows.fields();
                copy.row(&[&video, &label]).await?;
            }
        }
        copy.finish().await?;
    }

    let mut copy = TableCopy::start(
        &tx,
        r#"keyframe (id, video_summary_id, "timestamp", image_url, description, created_at)"#,
        &[
            Type::TEXT,
            Type::TEXT,
            Type::INT4,
            Type::TEXT,
            Type::TEXT,
            Type::TIMESTAMPTZ,
        ],
        progress,
    )
    .await?;
    for n in (0..videos).step_by(KEYFRAME_STEP as usize) {
        let at = at(n);
        for j in 0..KEYFRAMES_PER_VIDEO {
            rows.set(&[
                format_args!("k{:020}", KEYFRAMES_PER_VIDEO * n + j),
                format_args!("v{n:020}"),
                format_args!("https://cdn.example.com/keyframes/{n}/{j}.jpg"),
                format_args!("Keyframe {j}"),
            ]);
            let [id, video, image, description, ..] = rows.fields();
            let timestamp = 30 * j as i32;
            copy.row(&[&id, &video, &timestamp, &image, &description, &at])
                .await?;
        }
    }
    copy.finish().await?;

    tx.commit().await.context("Failed to commit the dataset")?;
    client
        .batch_execute("ANALYZE")
        .await
        .context("Failed to analyze the loaded tables")?;
    Ok(Outcome::Loaded {
        rows: row_count(users, videos),
    })
}

/// Whether exactly this dataset is loaded already; fails unless the tables
/// are empty or hold it.
async fn check_state(
    tx: &tokio_postgres::Transaction<'_>,
    users: u64,
    videos: u64,
) -> Result<bool> {
    let row = tx
        .query_one(
            r#"SELECT (SELECT count(*) FROM "user"), (SELECT count(*) FROM video_summary),
                      (SELECT count(*) FROM tag), (SELECT count(*) FROM category),
                      EXISTS (SELECT FROM "user" WHERE id = $1),
                      EXISTS (SELECT FROM video_summary WHERE id = $2)"#,
            &[&user_id(users - 1), &video_id(videos.saturating_sub(1))],
        )
        .await
        .context("Failed to read what the database holds (has `mv-admin migrate` run?)")?;
    let count = |i: usize| row.get::<_, i64>(i).try_into().unwrap_or(u64::MAX);
    let (have_users, have_videos, have_tags, have_categories) =
        (count(0), count(1), count(2), count(3));
    if have_users + have_videos + have_tags + have_categories == 0 {
        return Ok(false);
    }
    let last_ones = row.get::<_, bool>(4) && (videos == 0 || row.get::<_, bool>(5));
    if (have_users, have_videos, have_tags, have_categories) == (users, videos, TAGS, CATEGORIES)
        && last_ones
    {
        return Ok(true);
    }
    bail!(
        "the database already holds {have_users} users, {have_videos} videos, {have_tags} tags \
         and {have_categories} categories, not the benchmark dataset of {users} users and \
         {videos} videos; it loads into empty tables: use a fresh database (`mv-admin db reset` \
         for the local one)"
    )
}

/// The `created_at` of row `n`: the dataset's epoch plus `n` seconds.
fn at(n: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(EPOCH_SECS + n)
}

/// The first 11 hex digits of `md5('yt' || n)`.
fn youtube_id(n: u64) -> String {
    let digest = Md5::digest(format!("yt{n}"));
    let mut hex = String::with_capacity(12);
    for byte in &digest[..6] {
        let _ = write!(hex, "{byte:02x}");
    }
    hex.truncate(11);
    hex
}

/// The number of video `n`'s `j`-th tag or category.
type LabelOf = fn(u64, u64) -> u64;

/// The text fields of one row, written into buffers reused for every row.
#[derive(Default)]
struct Rows {
    buffers: [String; 8],
}

impl Rows {
    fn set(&mut self, fields: &[std::fmt::Arguments<'_>]) {
        for (buffer, field) in self.buffers.iter_mut().zip(fields) {
            buffer.clear();
            let _ = buffer.write_fmt(*field);
        }
    }

    fn fields(&self) -> [&str; 8] {
        self.buffers.each_ref().map(String::as_str)
    }
}

/// One table's `COPY ... FROM STDIN (FORMAT binary)`, counting rows on the
/// progress bar.
struct TableCopy<'a> {
    writer: Pin<Box<BinaryCopyInWriter>>,
    progress: &'a ProgressBar,
    unreported: u64,
}

impl<'a> TableCopy<'a> {
    async fn start(
        tx: &tokio_postgres::Transaction<'_>,
        target: &str,
        types: &[Type],
        progress: &'a ProgressBar,
    ) -> Result<Self> {
        let sink = tx
            .copy_in(&format!("COPY {target} FROM STDIN (FORMAT binary)"))
            .await
            .with_context(|| format!("Failed to start copying into {target}"))?;
        Ok(Self {
            writer: Box::pin(BinaryCopyInWriter::new(sink, types)),
            progress,
            unreported: 0,
        })
    }

    async fn row(&mut self, values: &[&(dyn ToSql + Sync)]) -> Result<()> {
        self.writer
            .as_mut()
            .write(values)
            .await
            .context("Failed to send a row")?;
        self.unreported += 1;
        if self.unreported == 4096 {
            self.progress.inc(self.unreported);
            self.unreported = 0;
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<()> {
        self.writer
            .as_mut()
            .finish()
            .await
            .context("Failed to finish copying the rows")?;
        self.progress.inc(self.unreported);
        Ok(())
    }
}

/// JSON text sent as `jsonb` (its binary form is a version byte, then the text).
#[derive(Debug)]
struct Jsonb<'a>(&'a str);

impl ToSql for Jsonb<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.extend_from_slice(&[1]);
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_youtube_ids_follow_the_spec() {
        assert_eq!(user_id(7), "u00000000000000000007");
        assert_eq!(video_id(123), "v00000000000000000123");
        assert_eq!(Id::video(u64::MAX).as_str(), "v18446744073709551615");
        assert_eq!(video_id(42), format!("v{:020}", 42));
        assert!(youtube_id(0).bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(youtube_id(0).len(), 11);
        assert_eq!(row_count(10, 25), 10 + 200 + 20 + 125 + 3 * 5);
    }
}
