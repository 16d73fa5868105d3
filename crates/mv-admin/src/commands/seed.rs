//! `mv-admin seed`: loads the demo data through the data layer's own
//! queries, so what it writes is what the application would write.

use anyhow::{Context as _, Result, bail};
use chrono::{DateTime, Duration, Utc};
use db::Error;
use db::models::{
    AiContent, Category, Keyframe, NewKeyframe, NewUser, NewVideo, ProcessingStatus, Tag, User,
    VideoSummary,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use indicatif::ProgressBar;
use serde::Serialize;

use crate::Context;
use crate::demo::{DEMO_EMAIL, DemoUser, DemoVideo, Outcome, SAVED_BEFORE, USERS, VIDEOS};
use crate::output::{print, print_json, progress_bar};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Delete every user with their videos, and the tags and categories no
    /// video carries, before seeding.
    #[arg(long)]
    pub reset: bool,
    /// Do not ask before `--reset` deletes.
    #[arg(long, requires = "reset")]
    pub yes: bool,
    /// Load the benchmark dataset (scripts/bench/SPEC.md) instead of the demo
    /// data: this many users (with --videos), at most 10,000,000.
    #[arg(long, requires = "videos", conflicts_with = "reset",
          value_parser = clap::value_parser!(u64).range(1..=crate::dataset::MAX_USERS))]
    pub users: Option<u64>,
    /// The number of videos of the benchmark dataset (with --users), at most
    /// 100,000,000.
    #[arg(long, requires = "users",
          value_parser = clap::value_parser!(u64).range(0..=crate::dataset::MAX_VIDEOS))]
    pub videos: Option<u64>,
}

/// What a reset deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ResetReport {
    pub users_deleted: usize,
    pub tags_deleted: usize,
    pub categories_deleted: usize,
}

/// What a seed did; a second run creates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SeedReport {
    pub reset: Option<ResetReport>,
    pub users_created: usize,
    pub users_existing: usize,
    pub videos_created: usize,
    pub videos_existing: usize,
}

impl SeedReport {
    /// Whether the run changed nothing.
    pub fn unchanged(&self) -> bool {
        self.reset.is_none() && self.users_created == 0 && self.videos_created == 0
    }

    /// The report in a sentence or two.
    pub fn describe(&self) -> String {
        let mut text = String::new();
        if let Some(reset) = self.reset {
            text.push_str(&format!(
                "removed {} with their videos, {} and {}\n",
                plural(reset.users_deleted, "user"),
                plural(reset.tags_deleted, "tag"),
                plural(reset.categories_deleted, "category"),
            ));
        }
        if self.users_created == 0 && self.videos_created == 0 {
            text.push_str("the demo data is already there; nothing changed\n");
        } else {
            text.push_str(&format!(
                "seeded the demo data: created {} and {}",
                plural(self.users_created, "user"),
                plural(self.videos_created, "video"),
            ));
            if self.users_existing + self.videos_existing > 0 {
                text.push_str(&format!(
                    "; {} and {} were already there",
                    plural(self.users_existing, "user"),
                    plural(self.videos_existing, "video"),
                ));
            }
            text.push('\n');
        }
        text
    }
}

/// "1 user", "3 categories".
pub fn plural(count: usize, noun: &str) -> String {
    match (count, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{count} {stem}ies"),
        _ => format!("{count} {noun}s"),
    }
}

pub async fn run(context: &Context, args: Args) -> Result<()> {
    if let (Some(users), Some(videos)) = (args.users, args.videos) {
        return crate::dataset::run(context, users, videos).await;
    }
    let mut conn = context.connect().await?;
    super::refuse_production(&mut conn, "seed").await?;
    if args.reset
        && !args.yes
        && !crate::output::confirm(
            "Delete every user with their videos, and unused tags and categories, before seeding?",
        )?
    {
        bail!("not confirmed; nothing was deleted (pass --yes to skip the question)");
    }
    let progress = progress_bar(VIDEOS.len() as u64, "seeding");
    let report = seed(&mut conn, args.reset, &progress).await?;
    progress.finish_and_clear();
    if context.json {
        print_json(&report)
    } else {
        print(&report.describe())?;
        print(&format!("try: mv-admin videos list --user {DEMO_EMAIL}\n"))
    }
}

/// Serializes demo seeds into one database ("mvdemo"): concurrent seeds and
/// quickstarts wait for each other, and all but the first find the data
/// there.
const SEED_LOCK: i64 = 0x6d76_6465_6d6f;

/// Loads the demo data in one transaction, after deleting every user's
/// data when `reset`; a failure leaves the database as it was. Users and
/// videos already there are left alone. Concurrent seeds take turns.
pub async fn seed(
    conn: &mut AsyncPgConnection,
    reset: bool,
    progress: &ProgressBar,
) -> Result<SeedReport> {
    conn.transaction(async |conn| {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({SEED_LOCK})"))
            .execute(conn)
            .await
            .context("Failed to wait for another seed of the demo data")?;
        let reset = match reset {
            true => Some(delete_user_data(conn).await?),
            false => None,
        };
        let mut report = SeedReport {
            reset,
            users_created: 0,
            users_existing: 0,
            videos_created: 0,
            videos_existing: 0,
        };
        let mut user_ids = Vec::with_capacity(USERS.len());
        for user in &USERS {
            let (id, created) = ensure_user(conn, user).await?;
            *if created {
                &mut report.users_created
            } else {
                &mut report.users_existing
            } += 1;
            user_ids.push((user.email, id));
        }
        for video in &VIDEOS {
            let owner = user_ids
                .iter()
                .find(|(email, _)| *email == video.owner)
                .map(|(_, id)| id.as_str())
                .with_context(|| format!("the demo video {:?} has no owner", video.title))?;
            if ensure_video(conn, owner, video).await? {
                report.videos_created += 1;
            } else {
                report.videos_existing += 1;
            }
            progress.inc(1);
        }
        Ok(report)
    })
    .await
}

/// Deletes every user (their videos go with them) and the labels no video
/// carries any more.
pub async fn delete_user_data(conn: &mut AsyncPgConnection) -> Result<ResetReport> {
    Ok(ResetReport {
        users_deleted: User::delete_all(conn).await?,
        tags_deleted: Tag::delete_unused(conn).await?,
        categories_deleted: Category::delete_unused(conn).await?,
    })
}

/// The id of the demo user with this email, created if missing.
async fn ensure_user(conn: &mut AsyncPgConnection, user: &DemoUser) -> Result<(String, bool)> {
    match User::find_by_email(conn, user.email).await {
        Ok(existing) => return Ok((existing.id, false)),
        Err(Error::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let id = stable_id(&format!("user:{}", user.email));
    let joined = at(user.joined_days_before * 24);
    let created = NewUser {
        email_verified: user.email_verified,
        created_at: joined,
        updated_at: joined,
        ..NewUser::new(&id, user.name, user.email)
    }
    .insert(conn)
    .await
    .with_context(|| format!("Failed to create the demo user {}", user.email))?;
    Ok((created.id, true))
}

/// Saves the video for its owner and takes it through the pipeline to its
/// outcome, unless the owner has it already; says whether it was created.
async fn ensure_video(
    conn: &mut AsyncPgConnection,
    owner: &str,
    video: &DemoVideo,
) -> Result<bool> {
    let youtube_id = db::models::parse_youtube_id(video.youtube_url)
        .map_err(|reason| anyhow::anyhow!("the demo video {:?}: {reason}", video.title))?;
    if VideoSummary::find_by_youtube_id(conn, owner, &youtube_id)
        .await?
        .is_some()
    {
        return Ok(false);
    }
    let id = stable_id(&format!("video:{}:{youtube_id}", video.owner));
    let thumbnail = format!("https://i.ytimg.com/vi/{youtube_id}/hqdefault.jpg");
    let saved = NewVideo {
        id: Some(&id),
        saved_at: Some(at(video.saved_hours_before)),
        user_id: owner,
        youtube_url: video.youtube_url,
        title: video.title,
        description: Some(video.description),
        channel_name: Some(video.channel),
        duration: video.duration,
        thumbnail_url: Some(&thumbnail),
    }
    .insert(conn)
    .await
    .with_context(|| format!("Failed to save the demo video {:?}", video.title))?;
    Tag::attach(conn, owner, &saved.id, video.tags).await?;
    Category::attach(conn, owner, &saved.id, video.categories).await?;

    // The same moves the worker makes, so the rows are ones it could have made.
    if matches!(video.outcome, Outcome::Pending) {
        return Ok(true);
    }
    VideoSummary::update_processing_status(
        conn,
        owner,
        &saved.id,
        ProcessingStatus::Processing,
        None,
    )
    .await?;
    match &video.outcome {
        Outcome::Pending | Outcome::Processing => {}
        Outcome::Completed {
            summary,
            key_points,
            keyframes,
        } => {
            let content = AiContent::new(*summary, key_points.iter().copied());
            VideoSummary::complete(conn, owner, &saved.id, &content).await?;
            // YouTube serves three frames of every video as hq1..hq3.jpg.
            let urls: Vec<String> = (1..=keyframes.len())
                .map(|n| format!("https://i.ytimg.com/vi/{youtube_id}/hq{n}.jpg"))
                .collect();
            let frames: Vec<NewKeyframe<'_>> = keyframes
                .iter()
                .zip(&urls)
                .map(|((timestamp, description), url)| NewKeyframe {
                    timestamp: *timestamp,
                    image_url: url,
                    description: Some(description),
                })
                .collect();
            Keyframe::insert_many(conn, owner, &saved.id, &frames).await?;
        }
        Outcome::Failed { error } => {
            VideoSummary::update_processing_status(
                conn,
                owner,
                &saved.id,
                ProcessingStatus::Failed,
                Some(error),
            )
            .await?;
        }
    }
    Ok(true)
}

/// `hours` before the demo data's reference time.
fn at(hours: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(SAVED_BEFORE, 0).unwrap_or_default() - Duration::hours(hours)
}

/// A nanoid-shaped id (21 characters of the URL-safe alphabet) derived from
/// `key`, so every run gives a row the same id.
pub fn stable_id(key: &str) -> String {
    const ALPHABET: &[u8; 64] = b"_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut state = {
        use std::hash::Hasher as _;
        // FNV-1a: stable across runs and Rust versions, unlike std's hasher.
        let mut hasher = fnv::FnvHasher::default();
        hasher.write(key.as_bytes());
        hasher.finish()
    };
    (0..21)
        .map(|_| {
            // splitmix64: spreads the hash over every character.
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            char::from(ALPHABET[((z ^ (z >> 31)) % 64) as usize])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_ids_are_stable_nanoid_shaped_and_distinct() {
        let a = stable_id("video:demo@mind-vault.dev:rK8vQ2mXb1s");
        assert_eq!(a, stable_id("video:demo@mind-vault.dev:rK8vQ2mXb1s"));
        assert_eq!(a.len(), 21);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(a, stable_id("video:demo@mind-vault.dev:Pq3nTz7LwQe"));
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(1, "category"), "1 category");
        assert_eq!(plural(3, "category"), "3 categories");
        assert_eq!(plural(0, "user"), "0 users");
    }
}
