//! Spans, metrics and the slow-query log, seen by a recording subscriber and
//! a recording metrics recorder, for real calls against a real database.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use db::instrument::{SLOW_QUERY_TARGET, names};
use db::models::{NewVideo, ProcessingStatus, Tag, VideoDetails, VideoFilter, VideoSummary};
use db::{Db, DbConfig, Error, pipeline};
use futures_util::FutureExt as _;
use local_pg::harness::TestDatabase;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Instrument as _, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// A user id and a title that must never show in spans, metrics or logs.
const USER: &str = "user-secret-7f3a";
const TITLE: &str = "Title secret 93bd";

/// A span's or an event's name (or target) and fields.
type Entry = (String, BTreeMap<String, String>);
/// A metric: its kind, name, sorted labels and value.
type Metric = (MetricKind, String, Vec<(String, String)>, DebugValue);

/// What the subscriber saw: each span's name and fields, each event's
/// target and fields.
#[derive(Debug, Clone, Default)]
struct Seen {
    spans: Arc<Mutex<Vec<Entry>>>,
    events: Arc<Mutex<Vec<Entry>>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_string(),
            format!("{value:?}").replace('"', ""),
        );
    }
}

struct SpanIndex(usize);

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Seen {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        // The parent's name, under a key no span's field has.
        if let Some(parent) = ctx.span(id).and_then(|span| span.parent()) {
            fields.insert("(parent)".to_string(), parent.name().to_string());
        }
        let mut spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        spans.push((attrs.metadata().name().to_string(), fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanIndex(spans.len() - 1));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let Some(&SpanIndex(index)) = span.extensions().get::<SpanIndex>() else {
            return;
        };
        let mut spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        values.record(&mut Fields(&mut spans[index].1));
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((event.metadata().target().to_string(), fields));
    }
}

impl Seen {
    /// A recorder that is this thread's subscriber until the guard drops.
    fn install() -> (Self, tracing::subscriber::DefaultGuard) {
        let seen = Self::default();
        let guard =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(seen.clone()));
        (seen, guard)
    }

    fn spans(&self) -> Vec<Entry> {
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn events(&self, target: &str) -> Vec<BTreeMap<String, String>> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(t, _)| t == target)
            .map(|(_, fields)| fields.clone())
            .collect()
    }
}

/// The recorded metrics as (name, sorted labels) -> value.
fn metrics(snapshotter: &Snapshotter) -> Vec<Metric> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value): (CompositeKey, _, _, DebugValue)| {
            let (kind, key) = key.into_parts();
            let mut labels: Vec<(String, String)> = key
                .labels()
                .map(|l| (l.key().to_string(), l.value().to_string()))
                .collect();
            labels.sort();
            (kind, key.name().to_string(), labels, value)
        })
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    labels.sort();
    labels
}

fn samples(value: &DebugValue) -> usize {
    match value {
        DebugValue::Histogram(values) => values.len(),
        _ => 0,
    }
}

async fn config(test: &TestDatabase, slow: Option<Duration>) -> DbConfig {
    DbConfig {
        slow_query: slow,
        ..test.config()
    }
}

/// The parent of each span named `name`, in the order they were made.
fn parents(spans: &[Entry], name: &str) -> Vec<Option<String>> {
    spans
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, fields)| fields.get("(parent)").cloned())
        .collect()
}

#[tokio::test]
async fn a_call_inside_another_is_its_child_and_the_callers_span_is_the_parent() {
    let test = TestDatabase::new().await;
    let (seen, _spans) = Seen::install();
    let config = DbConfig {
        pool_size: 1,
        ..config(&test, None).await
    };
    let db = Db::connect(&config).await.expect("pool");
    let request = tracing::info_span!("request");
    async {
        let mut conn = db.get().await.expect("connection");
        common::user(&mut conn, USER).await;
        let video = common::video(&mut conn, USER, "aaaaaaaaaaa").await;
        Tag::attach(&mut conn, USER, &video.id, &["rust"])
            .await
            .expect("attach");
        VideoSummary::find(&conn, USER, &video.id)
            .await
            .expect("find");
        // A call cancelled mid-way leaves its span as the connection's
        // running operation; the next check-out forgets it.
        // Polled once, then dropped while it waits for the server.
        let cancelled = VideoSummary::find(&conn, USER, &video.id).now_or_never();
        assert!(cancelled.is_none(), "cancelled before the server answered");
        drop(conn);
        let conn = db.get().await.expect("the same connection");
        VideoSummary::find(&conn, USER, &video.id)
            .await
            .expect("find");
    }
    .instrument(request)
    .await;

    let spans = seen.spans();
    let request = || Some("request".to_string());
    let attach = Some("tag.attach".to_string());
    assert_eq!(parents(&spans, "tag.attach"), [request()]);
    // Inside the attach: the tags made and the tags read back.
    assert_eq!(parents(&spans, "tag.get_or_create_many")[0], attach);
    assert_eq!(parents(&spans, "tag.for_video"), [attach]);
    // After it, the cancelled find, and after that one: the caller's span.
    assert_eq!(
        parents(&spans, "video_summary.find"),
        [request(), request(), request()]
    );
}

#[tokio::test]
async fn every_call_is_a_span_and_a_measurement_without_user_data() {
    let test = TestDatabase::new().await;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _metrics = metrics::set_default_local_recorder(&recorder);
    let (seen, _spans) = Seen::install();

    let db = Db::connect(&config(&test, None).await).await.expect("pool");
    let mut conn = db.get().await.expect("connection");
    common::user(&mut conn, USER).await;
    let video = NewVideo {
        user_id: USER,
        youtube_url: "https://youtu.be/dQw4w9WgXcQ",
        title: TITLE,
        ..NewVideo::default()
    }
    .insert(&conn)
    .await
    .expect("insert");
    VideoSummary::find(&conn, USER, &video.id)
        .await
        .expect("find");
    // One span for the pipelined page, one for the tagged save.
    VideoDetails::find(&conn, USER, &video.id)
        .await
        .expect("page");
    NewVideo {
        user_id: USER,
        youtube_url: "https://youtu.be/aaaaaaaaaaa",
        title: TITLE,
        ..NewVideo::default()
    }
    .insert_tagged(&conn, &["tag"])
    .await
    .expect("tagged");
    let page = VideoSummary::list(&conn, USER, &VideoFilter::default())
        .await
        .expect("list");
    assert_eq!(page.items.len(), 2);
    let missing = VideoSummary::find(&conn, USER, "no-such-video").await;
    assert!(matches!(missing, Err(Error::NotFound { .. })));
    let jobs = pipeline::claim(&mut conn, "worker-1", 1, Duration::from_secs(60))
        .await
        .expect("claim");
    assert_eq!(jobs.len(), 1);
    let completed = VideoSummary::update_processing_status(
        &conn,
        USER,
        &video.id,
        ProcessingStatus::Completed,
        None,
    )
    .await;
    assert!(completed.is_ok(), "{completed:?}");
    drop(conn);
    // The sampler reads the pool's gauges every second.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let spans = seen.spans();
    let names_seen: Vec<&str> = spans.iter().map(|(name, _)| name.as_str()).collect();
    for expected in [
        "user.insert",
        "video_summary.insert",
        "video_summary.find",
        "video_details.find",
        "video_summary.insert_tagged",
        "video_summary.list",
        "pipeline.claim",
        "video_summary.update_status",
    ] {
        assert!(
            names_seen.contains(&expected),
            "{expected} in {names_seen:?}"
        );
    }
    let span = |name: &str| {
        spans
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, fields)| fields.clone())
            .collect::<Vec<_>>()
    };
    let list = &span("video_summary.list")[0];
    assert_eq!(list["db.system.name"], "postgresql");
    assert_eq!(list["db.operation.name"], "video_summary.list");
    assert_eq!(list["db.response.returned_rows"], "2");
    let finds = span("video_summary.find");
    assert!(
        finds
            .iter()
            .any(|f| f.get("error.type").map(String::as_str) == Some("not_found")),
        "{finds:?}"
    );
    assert_eq!(span("pipeline.claim")[0]["db.response.returned_rows"], "1");
    let everything = format!("{spans:?}");
    for secret in [USER, TITLE, &video.id] {
        assert!(!everything.contains(secret), "{secret} in {everything}");
    }

    let recorded = metrics(&snapshotter);
    let find = |kind: MetricKind, name: &str, want: &[(&str, &str)]| {
        recorded
            .iter()
            .find(|(k, n, l, _)| *k == kind && n == name && *l == labels(want))
            .map(|(_, _, _, value)| value)
            .unwrap_or_else(|| panic!("no {name} {want:?} in {recorded:#?}"))
    };
    let op = |name: &'static str| {
        [
            ("db.system.name", "postgresql"),
            ("db.operation.name", name),
        ]
    };
    let duration = find(
        MetricKind::Histogram,
        names::OPERATION_DURATION,
        &op("video_summary.find"),
    );
    assert_eq!(samples(duration), 1, "the successful find");
    let failed = find(
        MetricKind::Histogram,
        names::OPERATION_DURATION,
        &[
            ("db.system.name", "postgresql"),
            ("db.operation.name", "video_summary.find"),
            ("error.type", "not_found"),
        ],
    );
    assert_eq!(samples(failed), 1, "the failed find");
    assert_eq!(
        find(
            MetricKind::Counter,
            names::OPERATION_ERRORS,
            &[
                ("db.system.name", "postgresql"),
                ("db.operation.name", "video_summary.find"),
                ("error.type", "not_found"),
            ],
        ),
        &DebugValue::Counter(1)
    );
    for name in [
        "video_summary.insert",
        "video_summary.list",
        "pipeline.claim",
        "user.insert",
    ] {
        assert!(
            samples(find(
                MetricKind::Histogram,
                names::OPERATION_DURATION,
                &op(name)
            )) >= 1
        );
        find(MetricKind::Histogram, names::RETURNED_ROWS, &op(name));
    }
    let pool = [("db.client.connection.pool.name", "primary")];
    assert_eq!(
        samples(find(MetricKind::Histogram, names::WAIT_TIME, &pool)),
        1,
        "one check-out"
    );
    assert_eq!(
        find(MetricKind::Gauge, names::PENDING_REQUESTS, &pool),
        &DebugValue::Gauge(0.0_f64.into())
    );
    for state in ["idle", "used"] {
        find(
            MetricKind::Gauge,
            names::CONNECTION_COUNT,
            &[
                ("db.client.connection.pool.name", "primary"),
                ("db.client.connection.state", state),
            ],
        );
    }
    assert_eq!(
        find(MetricKind::Gauge, names::CONNECTION_MAX, &pool),
        &DebugValue::Gauge(4.0_f64.into())
    );
    let everything = format!("{recorded:?}");
    for secret in [USER, TITLE, &video.id] {
        assert!(!everything.contains(secret), "{secret} in metrics");
    }
}

#[tokio::test]
async fn the_pool_wait_is_measured_apart_from_the_call() {
    let test = TestDatabase::new().await;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _metrics = metrics::set_default_local_recorder(&recorder);
    let (seen, _spans) = Seen::install();
    let db = Db::connect(&DbConfig {
        pool_size: 1,
        slow_query: Some(Duration::from_millis(200)),
        ..test.config()
    })
    .await
    .expect("pool");
    common::user(&mut db.get().await.expect("connection"), USER).await;

    // The only connection is busy for 400 ms; the next call waits for it.
    let held = db.get_owned().await.expect("connection");
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        drop(held);
    });
    let conn = db.get().await.expect("connection after the wait");
    release.await.expect("released");
    VideoSummary::list(&conn, USER, &VideoFilter::default())
        .await
        .expect("list");
    drop(conn);

    // A snapshot takes the histograms' values: one for both checks.
    let recorded = metrics(&snapshotter);
    let waits: Vec<f64> = recorded
        .iter()
        .filter(|(_, name, _, _)| name == names::WAIT_TIME)
        .flat_map(|(_, _, _, value)| match value {
            DebugValue::Histogram(values) => values.iter().map(|v| v.into_inner()).collect(),
            _ => Vec::new(),
        })
        .collect();
    assert!(waits.iter().any(|w| *w >= 0.35), "{waits:?}");
    let durations: Vec<f64> = recorded
        .iter()
        .filter(|(_, name, l, _)| {
            name == names::OPERATION_DURATION
                && l.contains(&("db.operation.name".into(), "video_summary.list".into()))
        })
        .flat_map(|(_, _, _, value)| match value {
            DebugValue::Histogram(values) => values.iter().map(|v| v.into_inner()).collect(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(durations.len(), 1);
    assert!(durations[0] < 0.3, "the call alone: {durations:?}");
    // Fast calls are not slow, however long they waited for a connection.
    assert!(seen.events(SLOW_QUERY_TARGET).is_empty());
}

#[tokio::test]
async fn the_slow_query_log_names_the_statement_never_its_parameters() {
    let test = TestDatabase::new().await;
    let (seen, _spans) = Seen::install();
    let db = Db::connect(&config(&test, Some(Duration::from_millis(150))).await)
        .await
        .expect("pool");
    let mut conn = db.get().await.expect("connection");
    common::user(&mut conn, USER).await;
    let video = NewVideo {
        user_id: USER,
        youtube_url: "https://youtu.be/dQw4w9WgXcQ",
        title: TITLE,
        ..NewVideo::default()
    }
    .insert(&conn)
    .await
    .expect("insert");
    assert!(
        seen.events(SLOW_QUERY_TARGET).is_empty(),
        "nothing slow yet"
    );

    // Another session holds the row's lock for 300 ms: the status move
    // waits for it, and is slow.
    let holder = hold_row_lock(&test, &video.id).await;
    VideoSummary::update_processing_status(
        &conn,
        USER,
        &video.id,
        ProcessingStatus::Processing,
        None,
    )
    .await
    .expect("moved once the lock is released");
    holder.await.expect("holder").expect("lock held");

    let slow = seen.events(SLOW_QUERY_TARGET);
    assert_eq!(slow.len(), 1, "{slow:?}");
    let line = &slow[0];
    assert_eq!(line["operation"], "video_summary.update_status");
    assert!(
        line["duration_ms"].parse::<f64>().expect("a number") >= 150.0,
        "{line:?}"
    );
    assert!(line.contains_key("pool_wait_ms"), "{line:?}");
    assert!(
        line["statement"].starts_with("UPDATE \"video_summary\""),
        "{line:?}"
    );
    assert!(line["statement"].contains("$1"), "{line:?}");
    let text = format!("{slow:?}");
    for secret in [USER, TITLE, &video.id] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

/// Calls sharing one connection each count their own statements: a status
/// move waiting for a row lock and a find queued behind it on the same
/// connection are both slow, and each line names its own statement.
#[tokio::test]
async fn calls_on_a_shared_connection_are_logged_with_their_own_statements() {
    let test = TestDatabase::new().await;
    let (seen, _spans) = Seen::install();
    let db = Db::connect(&config(&test, Some(Duration::from_millis(150))).await)
        .await
        .expect("pool");
    let mut conn = db.get().await.expect("connection");
    common::user(&mut conn, USER).await;
    let video = common::video(&mut conn, USER, "aaaaaaaaaaa").await;
    drop(conn);
    let shared = db.shared().await.expect("shared");

    let holder = hold_row_lock(&test, &video.id).await;
    let (moved, found) = tokio::join!(
        VideoSummary::update_processing_status(
            &shared,
            USER,
            &video.id,
            ProcessingStatus::Processing,
            None,
        ),
        async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            VideoSummary::find(&shared, USER, &video.id).await
        }
    );
    moved.expect("moved once the lock is released");
    found.expect("found after it");
    holder.await.expect("holder").expect("lock held");

    let slow = seen.events(SLOW_QUERY_TARGET);
    let named: BTreeMap<&str, &str> = slow
        .iter()
        .map(|line| (line["operation"].as_str(), line["statement"].as_str()))
        .collect();
    assert_eq!(named.len(), 2, "{slow:?}");
    assert!(
        named["video_summary.update_status"].starts_with("UPDATE \"video_summary\""),
        "{slow:?}"
    );
    assert!(
        named["video_summary.find"].starts_with("SELECT \"video_summary\".\"id\""),
        "{slow:?}"
    );
    for line in &slow {
        assert_eq!(
            line["statements"],
            if line["operation"] == "video_summary.find" {
                "1"
            } else {
                "2"
            },
            "{line:?}"
        );
    }
}

/// Another session holds the video's row lock for 300 ms, from 50 ms
/// before this returns: a write to the row waits for it, and is slow.
async fn hold_row_lock(
    test: &TestDatabase,
    id: &str,
) -> tokio::task::JoinHandle<Result<(), diesel::result::Error>> {
    let mut locker = test.connect().await;
    let locked = id.to_string();
    let holder = tokio::spawn(async move {
        use diesel_async::{AsyncConnection as _, RunQueryDsl as _};
        locker
            .transaction::<_, diesel::result::Error, _>(async |tx| {
                diesel::sql_query("SELECT 1 FROM video_summary WHERE id = $1 FOR UPDATE")
                    .bind::<diesel::sql_types::Text, _>(&locked)
                    .execute(tx)
                    .await?;
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(())
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    holder
}
