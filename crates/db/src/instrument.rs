//! What the data layer tells a service about itself: a `tracing` span per
//! DAO call, metrics through the `metrics` facade, named after
//! OpenTelemetry's database client conventions (the application installs
//! the exporter), and the slow-query log.
//!
//! Nothing here carries user data: spans and metrics hold the operation's
//! name, durations, row counts and error kinds; the slow-query log adds the
//! statement's SQL, in which every value is a bound parameter (`$1`), and
//! parameters are never recorded.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use diesel::connection::{DebugQuery, Instrumentation, InstrumentationEvent};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use metrics::{Key, Label, Level, Metadata, Unit};
use tracing::Id;

use crate::error::{Error, Result};

/// The metric and label names, for dashboards and tests.
pub mod names {
    /// Histogram, seconds: one DAO call, labelled by `db.operation.name`
    /// (and `error.type` when it failed). The pool wait is not in it.
    pub const OPERATION_DURATION: &str = "db.client.operation.duration";
    /// Histogram: rows a DAO call returned (or changed, for a delete).
    pub const RETURNED_ROWS: &str = "db.client.response.returned_rows";
    /// Counter: failed DAO calls, by `db.operation.name` and `error.type`.
    pub const OPERATION_ERRORS: &str = "db.client.operation.errors";
    /// Gauge: the pool's connections, by `db.client.connection.state`
    /// (`idle`, `used`).
    pub const CONNECTION_COUNT: &str = "db.client.connection.count";
    /// Gauge: the most connections the pool opens.
    pub const CONNECTION_MAX: &str = "db.client.connection.max";
    /// Gauge: requests waiting for a pooled connection now.
    pub const PENDING_REQUESTS: &str = "db.client.connection.pending_requests";
    /// Histogram, seconds: the wait for a pooled connection.
    pub const WAIT_TIME: &str = "db.client.connection.wait_time";
    /// Counter: waits for a pooled connection that ended in a pool timeout.
    pub const TIMEOUTS: &str = "db.client.connection.timeouts";
    /// Counter: reads a caller allowed on the replica that went to the
    /// primary, by `reason` (`down`, `lagging`, `behind`).
    pub const REPLICA_FALLBACKS: &str = "db.client.replica.fallbacks";

    pub const SYSTEM: &str = "db.system.name";
    pub const OPERATION: &str = "db.operation.name";
    pub const ERROR_TYPE: &str = "error.type";
    pub const POOL_NAME: &str = "db.client.connection.pool.name";
    pub const STATE: &str = "db.client.connection.state";
    pub const REASON: &str = "reason";
}

/// Where the slow-query log's events go (`tracing` target).
pub const SLOW_QUERY_TARGET: &str = "db::slow_query";

pub(crate) static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// Describes every metric (unit and meaning) to the installed recorder; an
/// application calls it once, after installing its exporter.
pub fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        names::OPERATION_DURATION,
        Unit::Seconds,
        "Duration of a data-layer call, without the wait for a pooled connection"
    );
    describe_histogram!(
        names::RETURNED_ROWS,
        Unit::Count,
        "Rows a data-layer call returned"
    );
    describe_counter!(
        names::OPERATION_ERRORS,
        Unit::Count,
        "Failed data-layer calls by error kind"
    );
    describe_gauge!(
        names::CONNECTION_COUNT,
        Unit::Count,
        "Pooled connections by state"
    );
    describe_gauge!(
        names::CONNECTION_MAX,
        Unit::Count,
        "The most connections the pool opens"
    );
    describe_gauge!(
        names::PENDING_REQUESTS,
        Unit::Count,
        "Requests waiting for a pooled connection"
    );
    describe_histogram!(
        names::WAIT_TIME,
        Unit::Seconds,
        "Wait for a pooled connection"
    );
    describe_counter!(
        names::TIMEOUTS,
        Unit::Count,
        "Waits for a pooled connection that timed out"
    );
    describe_counter!(
        names::REPLICA_FALLBACKS,
        Unit::Count,
        "Reads allowed on the replica that went to the primary"
    );
}

/// A DAO call's name and its metric keys, built at compile time so that
/// recording allocates nothing.
pub(crate) struct Operation {
    name: &'static str,
    duration: Key,
    rows: Key,
    /// The labels of a failure, by [`Error::kind_index`].
    error_labels: &'static ErrorLabels,
}

/// An operation's labels with `error.type`, one set per [`Error::KINDS`].
pub(crate) type ErrorLabels = [[Label; 3]; Error::KINDS.len()];

impl Operation {
    pub(crate) const fn labels(name: &'static str) -> [Label; 2] {
        [
            Label::from_static_parts(names::SYSTEM, "postgresql"),
            Label::from_static_parts(names::OPERATION, name),
        ]
    }

    pub(crate) const fn error_labels(name: &'static str) -> ErrorLabels {
        const fn failed(name: &'static str, kind: usize) -> [Label; 3] {
            [
                Label::from_static_parts(names::SYSTEM, "postgresql"),
                Label::from_static_parts(names::OPERATION, name),
                Label::from_static_parts(names::ERROR_TYPE, Error::KINDS[kind]),
            ]
        }
        [
            failed(name, 0),
            failed(name, 1),
            failed(name, 2),
            failed(name, 3),
            failed(name, 4),
            failed(name, 5),
            failed(name, 6),
            failed(name, 7),
            failed(name, 8),
            failed(name, 9),
            failed(name, 10),
            failed(name, 11),
        ]
    }

    pub(crate) const fn new(
        name: &'static str,
        labels: &'static [Label; 2],
        error_labels: &'static ErrorLabels,
    ) -> Self {
        Self {
            name,
            duration: Key::from_static_parts(names::OPERATION_DURATION, labels),
            rows: Key::from_static_parts(names::RETURNED_ROWS, labels),
            error_labels,
        }
    }
}

/// Runs a DAO call as the operation `$name` (a literal such as
/// `"video_summary.find"`): a span of that name, its duration and row count
/// in the metrics, and a line in the slow-query log when it is slow. The
/// body gets `$conn` back; with `shared` first, `$conn` is a connection
/// other calls may be using at the same time (`&AsyncPgConnection`).
macro_rules! operation {
    (shared $name:expr, $conn:expr, $body:expr) => {
        $crate::instrument::operation!(@run run_shared, $name, $conn, $body)
    };
    ($name:expr, $conn:expr, $body:expr) => {
        $crate::instrument::operation!(@run run, $name, $conn, $body)
    };
    (@run $run:ident, $name:expr, $conn:expr, $body:expr) => {{
        static LABELS: [::metrics::Label; 2] = $crate::instrument::Operation::labels($name);
        static ERROR_LABELS: $crate::instrument::ErrorLabels =
            $crate::instrument::Operation::error_labels($name);
        static OPERATION: $crate::instrument::Operation =
            $crate::instrument::Operation::new($name, &LABELS, &ERROR_LABELS);
        $crate::instrument::$run(
            $conn,
            &OPERATION,
            // The parent is looked up only when the span is enabled.
            |parent: Option<::tracing::Id>| {
                ::tracing::info_span!(
                    parent: parent.or_else(|| ::tracing::Span::current().id()),
                    $name,
                    db.system.name = "postgresql",
                    db.operation.name = $name,
                    db.response.returned_rows = ::tracing::field::Empty,
                    error.type = ::tracing::field::Empty,
                )
            },
            $body,
        )
        .await
    }};
}
pub(crate) use operation;

tokio::task_local! {
    /// The operation running in this task. Diesel's connection events fire
    /// in the task that polls the statement, pipelined or not, so a call's
    /// statements are counted here, for owned and shared connections alike.
    static RUNNING: RefCell<Running>;
}

/// What one call's statements took, and its span.
#[derive(Default)]
struct Running {
    /// The call's span: the parent of any call it makes. Kept as a span, so
    /// that it stays open for as long as it is referred to.
    span: Option<tracing::Span>,
    /// The slow-query threshold and check-out wait of the connection its
    /// statements ran on (from the connection's [`Tracker`]).
    slow: Option<Duration>,
    pool_wait: Duration,
    statements: u32,
    statement_started: Option<Instant>,
    slowest: Option<(Duration, String)>,
}

impl Running {
    /// Adds what a call made inside this one ran.
    fn absorb(&mut self, inner: Running) {
        self.statements = self.statements.wrapping_add(inner.statements);
        self.slow = self.slow.or(inner.slow);
        if let Some((took, sql)) = inner.slowest
            && self
                .slowest
                .as_ref()
                .is_none_or(|(slowest, _)| took > *slowest)
        {
            self.slowest = Some((took, sql));
        }
    }
}

/// Runs `body` on `conn` as `operation`; see [`observe`].
pub(crate) async fn run<T: Rows>(
    conn: &mut AsyncPgConnection,
    operation: &'static Operation,
    span: impl FnOnce(Option<Id>) -> tracing::Span,
    body: impl AsyncFnOnce(&mut AsyncPgConnection) -> Result<T>,
) -> Result<T> {
    observe(operation, span, body(conn)).await
}

/// Runs `body` on a connection that other calls may use at the same time
/// (pipelined) as `operation`; see [`observe`].
pub(crate) async fn run_shared<T: Rows>(
    conn: &AsyncPgConnection,
    operation: &'static Operation,
    span: impl FnOnce(Option<Id>) -> tracing::Span,
    body: impl AsyncFnOnce(&AsyncPgConnection) -> Result<T>,
) -> Result<T> {
    observe(operation, span, body(conn)).await
}

/// Awaits `body` as `operation`, in the span `span` makes, and records it.
///
/// The span is never entered: entering it on every poll of the body (what
/// `Instrument` does) costs a subscriber's span stack a push, a pop and two
/// reference counts each time, a few per cent of a primary-key read. A
/// call's span has as parent the call running in the same task (`span`
/// gets its id), and otherwise (`None`) the caller's current span, as an
/// entered one would.
async fn observe<T: Rows>(
    operation: &'static Operation,
    span: impl FnOnce(Option<Id>) -> tracing::Span,
    body: impl Future<Output = Result<T>>,
) -> Result<T> {
    let parent = RUNNING
        .try_with(|running| running.borrow().span.as_ref().and_then(tracing::Span::id))
        .ok()
        .flatten();
    let span = span(parent);
    let running = Running {
        span: (!span.is_disabled()).then(|| span.clone()),
        ..Running::default()
    };
    let started = Instant::now();
    let (result, running) = RUNNING
        .scope(RefCell::new(running), async {
            let result = body.await;
            (result, RUNNING.with(|running| running.take()))
        })
        .await;
    let took = started.elapsed();
    let seconds = took.as_secs_f64();
    match &result {
        Ok(value) => {
            let rows = value.rows();
            span.record("db.response.returned_rows", rows);
            metrics::with_recorder(|recorder| {
                recorder
                    .register_histogram(&operation.duration, &METADATA)
                    .record(seconds);
                recorder
                    .register_histogram(&operation.rows, &METADATA)
                    .record(rows as f64);
            });
        }
        Err(error) => {
            span.record("error.type", error.kind());
            // Keys of static labels: a failure allocates nothing either.
            let labels = &operation.error_labels[error.kind_index()];
            metrics::with_recorder(|recorder| {
                recorder
                    .register_histogram(
                        &Key::from_static_parts(names::OPERATION_DURATION, labels),
                        &METADATA,
                    )
                    .record(seconds);
                recorder
                    .register_counter(
                        &Key::from_static_parts(names::OPERATION_ERRORS, labels),
                        &METADATA,
                    )
                    .increment(1);
            });
        }
    }
    if let Some(threshold) = running.slow
        && took >= threshold
    {
        let (statement_ms, statement) = match &running.slowest {
            Some((took, sql)) => (Some(millis(*took)), sql.as_str()),
            None => (None, "(none slower than the threshold by itself)"),
        };
        tracing::warn!(
            target: SLOW_QUERY_TARGET,
            parent: &span,
            operation = operation.name,
            duration_ms = millis(took),
            pool_wait_ms = millis(running.pool_wait),
            statements = running.statements,
            statement_ms,
            statement,
            failed = result.is_err(),
            "slow database operation"
        );
    }
    // The enclosing call counts what this one ran.
    let _ = RUNNING.try_with(|outer| outer.borrow_mut().absorb(running));
    result
}

fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

/// What a call returned, as a row count for spans and metrics.
pub(crate) trait Rows {
    fn rows(&self) -> u64;
}

impl<T> Rows for Vec<T> {
    fn rows(&self) -> u64 {
        self.len() as u64
    }
}

impl<T> Rows for Option<T> {
    fn rows(&self) -> u64 {
        u64::from(self.is_some())
    }
}

impl Rows for () {
    fn rows(&self) -> u64 {
        0
    }
}

/// Rows changed, for the calls that return that count.
impl Rows for usize {
    fn rows(&self) -> u64 {
        *self as u64
    }
}

/// Types that are one row (or one row of aggregates).
macro_rules! one_row {
    ($($type:ty),+ $(,)?) => {$(
        impl $crate::instrument::Rows for $type {
            fn rows(&self) -> u64 {
                1
            }
        }
    )+};
}
pub(crate) use one_row;

one_row!(String, chrono::DateTime<chrono::Utc>);

/// The state kept on each connection the pool opens, as its Diesel
/// instrumentation: the slow-query threshold and the wait of its last
/// check-out, handed to the call whose statement runs on it ([`RUNNING`]).
#[derive(Debug)]
pub(crate) struct Tracker {
    slow: Option<Duration>,
    pool_wait: Duration,
}

impl Tracker {
    pub(crate) fn new(slow: Option<Duration>) -> Self {
        Self {
            slow,
            pool_wait: Duration::ZERO,
        }
    }

    /// The connection's tracker, unless something replaced it.
    pub(crate) fn of(conn: &mut AsyncPgConnection) -> Option<&mut Self> {
        conn.instrumentation().downcast_mut::<Self>()
    }

    /// Records the wait of the check-out that handed the connection out.
    pub(crate) fn checked_out(&mut self, waited: Duration) {
        self.pool_wait = waited;
    }
}

impl Instrumentation for Tracker {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        // Outside a DAO call (no task-local call) there is nothing to count.
        let _ = RUNNING.try_with(|running| {
            let mut running = running.borrow_mut();
            running.slow = self.slow;
            running.pool_wait = self.pool_wait;
            match event {
                InstrumentationEvent::StartQuery { .. } => {
                    running.statements = running.statements.wrapping_add(1);
                    if self.slow.is_some() {
                        running.statement_started = Some(Instant::now());
                    }
                }
                InstrumentationEvent::FinishQuery { query, .. } => {
                    if let (Some(threshold), Some(started)) =
                        (self.slow, running.statement_started.take())
                    {
                        let took = started.elapsed();
                        if took >= threshold
                            && running
                                .slowest
                                .as_ref()
                                .is_none_or(|(slowest, _)| took > *slowest)
                        {
                            running.slowest = Some((took, statement_sql(query)));
                        }
                    }
                }
                _ => {}
            }
        });
    }
}

/// The statement's SQL without its parameters: Diesel writes a statement as
/// its SQL, then ` -- binds: [..]` when it shows the parameters.
fn statement_sql(query: &dyn DebugQuery) -> String {
    let mut text = query.to_string();
    if let Some(at) = text.find(" -- binds: ") {
        text.truncate(at);
    }
    text
}
