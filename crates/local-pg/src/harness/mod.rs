//! Test databases: one shared server, one migrated template, one database
//! per test.
//!
//! The server is `DATABASE_URL` when set (in the environment, not `.env`, so a
//! developer's `.env` never receives test databases), else a local cluster in
//! the system temp folder (`MV_TEST_PG_DIR` to move it), shared by every test
//! process. The template is migrated once per set of migrations and closed to
//! connections, so `CREATE DATABASE ... TEMPLATE` never fails on a busy
//! template. A test's database is a spare copy of the template made ahead
//! of time in the background and renamed (a copy made on the spot when none
//! is waiting); it is dropped when its [`TestDatabase`] is, and a database
//! left by a killed process is dropped by the next run.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use diesel::connection::InstrumentationEvent;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::StreamExt;
use tokio::sync::OnceCell;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use db::{Db, DbConfig, connect};
use schema_engine::migrations::{fingerprint, run_pending};
use schema_engine::unique_name;

use crate::{LocalServer, ServerOptions, stable_hash};

mod drizzle;
mod fixtures;
mod pgbouncer;

pub use drizzle::{
    RESOLVE_BLOCKERS, database_state, drizzle_database, drizzle_database_with, drizzle_sql,
    pg_dump_schema,
};
pub use fixtures::{
    MigrationDir, SEED, Workspace, count, replace, repository, schema_snapshot, seeded, snapshot,
};
pub use pgbouncer::{PgBouncer, PoolMode, pgbouncer_version};

const TEST_PREFIX: &str = "mv_test_";
const TEMPLATE_PREFIX: &str = "mv_template_";
const SPARE_PREFIX: &str = "mv_spare_";
/// Spares kept ready per template.
const MAX_SPARES: i64 = 4;
/// Serializes template creation across test processes.
const TEMPLATE_LOCK: i64 = 0x6d76_7465_6d70; // "mvtemp"

/// Where the shared test databases live.
#[derive(Debug, Clone)]
enum TestServer {
    Local(LocalServer),
    External(url::Url),
}

impl TestServer {
    fn url(&self, database: &str) -> String {
        match self {
            Self::Local(server) => server.url(database),
            Self::External(base) => {
                let mut url = base.clone();
                url.set_path(&format!("/{database}"));
                url.to_string()
            }
        }
    }
}

#[derive(Debug)]
struct Shared {
    server: TestServer,
    template: String,
}

static SHARED: OnceCell<Shared> = OnceCell::const_new();

/// The shared test cluster (started when needed), unless `DATABASE_URL` names
/// an external server.
pub async fn test_server() -> LocalServer {
    let home = std::env::var_os("MV_TEST_PG_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            let project = env!("CARGO_MANIFEST_DIR");
            let uid = nix::unistd::Uid::current();
            std::env::temp_dir().join(format!(
                "mv-test-{uid}-{:08x}",
                stable_hash(project.as_bytes()) as u32
            ))
        });
    let options = ServerOptions {
        unsafe_fast: true,
        ..ServerOptions::default()
    };
    let server = LocalServer::new(home, options).unwrap_or_else(|e| panic!("test server: {e}"));
    server
        .ensure_running()
        .await
        .unwrap_or_else(|e| panic!("starting the test server: {e}"));
    server
}

async fn shared() -> &'static Shared {
    SHARED
        .get_or_init(|| async {
            let server = match std::env::var("DATABASE_URL") {
                Ok(url) if !url.trim().is_empty() => TestServer::External(
                    url::Url::parse(&url)
                        .unwrap_or_else(|e| panic!("DATABASE_URL is not a URL: {e}")),
                ),
                _ => TestServer::Local(test_server().await),
            };
            let admin = admin_client(&server).await;
            drop_abandoned_databases(&admin).await;
            let template = prepare_template(&server, &admin).await;
            Shared { server, template }
        })
        .await
}

async fn admin_client(server: &TestServer) -> Client {
    let url = server.url("postgres");
    let (client, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "connecting to the test server {}: {e}",
                db::config::redact_url(&url)
            )
        });
    tokio::spawn(connection);
    client
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Drops the databases of test processes that are gone.
async fn drop_abandoned_databases(admin: &Client) {
    let rows = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE $1",
            &[&format!("{TEST_PREFIX}%")],
        )
        .await
        .expect("listing test databases");
    for row in rows {
        let name: String = row.get(0);
        let pid = name
            .strip_prefix(TEST_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let alive = pid.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = admin
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    quote_ident(&name)
                ))
                .await;
        }
    }
}

/// Makes sure the template for the current migrations exists and is sealed.
async fn prepare_template(server: &TestServer, admin: &Client) -> String {
    let template = format!("{TEMPLATE_PREFIX}{}", fingerprint());
    admin
        .execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK])
        .await
        .expect("locking the template");
    let ready: Option<bool> = admin
        .query_opt(
            "SELECT datistemplate FROM pg_database WHERE datname = $1",
            &[&template],
        )
        .await
        .expect("looking up the template")
        .map(|row| row.get(0));
    if ready != Some(true) {
        // Absent, or left half-built by a process that died: build it anew.
        let quoted = quote_ident(&template);
        for statement in [
            format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"),
            format!("CREATE DATABASE {quoted}"),
        ] {
            admin
                .batch_execute(&statement)
                .await
                .expect("creating the template");
        }
        let config = DbConfig::default().with_url(server.url(&template));
        let conn = connect(&config).await.expect("connecting to the template");
        run_pending(conn).await.expect("migrating the template");
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {quoted} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true"
            ))
            .await
            .expect("sealing the template");
        drop_old_templates(admin, &template).await;
    }
    admin
        .execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK])
        .await
        .expect("unlocking the template");
    template
}

async fn drop_old_templates(admin: &Client, current: &str) {
    let rows = admin
        .query(
            "SELECT datname FROM pg_database
             WHERE (datname LIKE $1 AND datname <> $2)
                OR (datname LIKE $3 AND NOT starts_with(datname, $4))",
            &[
                &format!("{TEMPLATE_PREFIX}%"),
                &current,
                &format!("{SPARE_PREFIX}%"),
                &spare_prefix(current),
            ],
        )
        .await
        .expect("listing templates");
    for row in rows {
        let name = quote_ident(row.get(0));
        let _ = admin
            .batch_execute(&format!("ALTER DATABASE {name} WITH IS_TEMPLATE false"))
            .await;
        let _ = admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
}

/// Spares of a template: copies made ahead of time, so that a test's fresh
/// database is a rename (a catalog update) rather than a copy. Named after
/// the template, so changed migrations never hand out a stale one.
fn spare_prefix(template: &str) -> String {
    format!(
        "{SPARE_PREFIX}{}_",
        template.trim_start_matches(TEMPLATE_PREFIX)
    )
}

/// Renames a spare of `template` to `name`; false when none is left (or
/// other processes took them first).
async fn claim_spare(admin: &Client, template: &str, name: &str) -> bool {
    let Ok(rows) = admin
        .query(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname LIMIT 4",
            &[&spare_prefix(template)],
        )
        .await
    else {
        return false;
    };
    for row in rows {
        let spare: String = row.get(0);
        let rename = format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(&spare),
            quote_ident(name)
        );
        if admin.batch_execute(&rename).await.is_ok() {
            return true;
        }
    }
    false
}

/// Makes one more spare in the background, off the test's path, unless
/// enough are waiting; a process that exits first leaves it to the next.
fn replenish_spares(admin_url: String, template: String) {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&admin_url, NoTls).await.ok()?;
            tokio::spawn(connection);
            let prefix = spare_prefix(&template);
            let waiting: i64 = client
                .query_one(
                    "SELECT count(*) FROM pg_database WHERE starts_with(datname, $1)",
                    &[&prefix],
                )
                .await
                .ok()?
                .get(0);
            if waiting >= MAX_SPARES {
                return Some(());
            }
            let create = format!(
                "CREATE DATABASE {} TEMPLATE {}",
                quote_ident(&unique_name(&prefix)),
                quote_ident(&template)
            );
            client.batch_execute(&create).await.ok()
        })
    });
}

/// A database of its own for one test, dropped with this value.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDatabase {
    /// A fresh database with every migration applied.
    pub async fn new() -> Self {
        let shared = shared().await;
        Self::create(shared, Some(&shared.template)).await
    }

    /// A fresh, empty database (no migrations), for migration tests.
    pub async fn empty() -> Self {
        Self::create(shared().await, None).await
    }

    /// A name and URL on the test server for a database the test's code
    /// creates itself (a restore into a new database); whatever is made
    /// there is dropped with this value.
    pub async fn unused() -> Self {
        let shared = shared().await;
        let name = unique_name(TEST_PREFIX);
        Self {
            url: shared.server.url(&name),
            admin_url: shared.server.url("postgres"),
            name,
        }
    }

    async fn create(shared: &Shared, template: Option<&str>) -> Self {
        let name = unique_name(TEST_PREFIX);
        let admin = admin_client(&shared.server).await;
        let created = match template {
            Some(template) => {
                let claimed = claim_spare(&admin, template, &name).await;
                replenish_spares(shared.server.url("postgres"), template.to_string());
                if claimed {
                    Ok(())
                } else {
                    admin
                        .batch_execute(&format!(
                            "CREATE DATABASE {} TEMPLATE {}",
                            quote_ident(&name),
                            quote_ident(template)
                        ))
                        .await
                }
            }
            None => {
                admin
                    .batch_execute(&format!("CREATE DATABASE {}", quote_ident(&name)))
                    .await
            }
        };
        created.unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
        Self {
            url: shared.server.url(&name),
            admin_url: shared.server.url("postgres"),
            name,
        }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A configuration for this database, with a small pool.
    pub fn config(&self) -> DbConfig {
        DbConfig {
            pool_size: 4,
            pool_timeout: Duration::from_secs(30),
            ..DbConfig::default()
        }
        .with_url(self.url.clone())
    }

    /// One connection to this database.
    pub async fn connect(&self) -> AsyncPgConnection {
        connect(&self.config())
            .await
            .expect("connecting to the test database")
    }

    /// A pool over this database.
    pub async fn db(&self) -> Db {
        Db::connect(&self.config())
            .await
            .expect("building the test pool")
    }

    /// A connection that records the plan of every statement it runs (the
    /// server's `auto_explain`, as JSON), returned with the record.
    pub async fn connect_explaining(&self) -> (AsyncPgConnection, Plans) {
        let (client, mut connection) = tokio_postgres::connect(&self.url, NoTls)
            .await
            .expect("connecting to the test database");
        let plans = Plans::default();
        let record = plans.clone();
        // The server sends each plan as a notice; this task reads them.
        tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(|cx| connection.poll_message(cx));
            while let Some(Ok(message)) = messages.next().await {
                if let AsyncMessage::Notice(notice) = message
                    && let Some(start) = notice.message().find('{')
                    && let Ok(plan) = serde_json::from_str(&notice.message()[start..])
                {
                    record
                        .0
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(plan);
                }
            }
        });
        let mut conn = AsyncPgConnection::try_from(client)
            .await
            .expect("wrapping the test connection");
        conn.batch_execute(
            "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; \
             SET auto_explain.log_format = json; SET auto_explain.log_level = notice",
        )
        .await
        .expect("enabling auto_explain");
        (conn, plans)
    }
}

/// The plans a [`TestDatabase::connect_explaining`] connection has run.
#[derive(Debug, Clone, Default)]
pub struct Plans(Arc<Mutex<Vec<serde_json::Value>>>);

impl Plans {
    /// The plans recorded since the last call, oldest first; each is
    /// `{"Query Text": .., "Plan": {..}}`. A statement's plan is here once
    /// the statement returned: the server sends it before the result, and
    /// the task reading the connection records it before reading on.
    pub fn take(&self) -> Vec<serde_json::Value> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Records the SQL of every statement a connection sends, as Diesel's
/// `debug_query` writes it: the text, then ` -- binds: [..]`.
#[derive(Debug, Clone, Default)]
pub struct Statements(Arc<Mutex<Vec<String>>>);

impl Statements {
    /// Starts recording what `conn` sends.
    pub fn record(conn: &mut AsyncPgConnection) -> Self {
        let statements = Self::default();
        let log = statements.0.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::StartQuery { query, .. } = event {
                log.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(query.to_string());
            }
        });
        statements
    }

    /// The statements' SQL (without the binds) since the last call.
    pub fn take_sql(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
            .into_iter()
            .map(|text| match text.split_once(" -- binds: ") {
                Some((sql, _)) => sql.to_string(),
                None => text,
            })
            .collect()
    }
}

/// Records when each statement a connection sends starts and finishes, by
/// the statement's first word: `["start UPDATE", "start SELECT", "finish
/// UPDATE", "finish SELECT"]` is two statements sent in one round trip
/// (pipelined), where one after the other each finishes before the next
/// starts.
#[derive(Debug, Clone, Default)]
pub struct QueryOrder(Arc<Mutex<Vec<String>>>);

impl QueryOrder {
    /// Starts recording on `conn`.
    pub fn record(conn: &mut AsyncPgConnection) -> Self {
        let order = Self::default();
        let log = order.0.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            let (when, query) = match event {
                InstrumentationEvent::StartQuery { query, .. } => ("start", query),
                InstrumentationEvent::FinishQuery { query, .. } => ("finish", query),
                _ => return,
            };
            let sql = query.to_string();
            let verb = sql.split_whitespace().next().unwrap_or_default();
            log.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(format!("{when} {verb}"));
        });
        order
    }

    /// What happened since the last call.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Stops and deletes a test's own cluster when dropped, even when the test
/// fails: for tests that restart or reconfigure a server.
#[derive(Debug)]
pub struct DestroyOnDrop(pub LocalServer);

impl Drop for DestroyOnDrop {
    fn drop(&mut self) {
        let server = self.0.clone();
        run_detached(async move { server.destroy().await.ok() });
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let statement = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&self.name)
        );
        // A failure here leaves a database the next run drops.
        run_detached(async move {
            let (client, connection) = tokio_postgres::connect(&admin_url, NoTls).await.ok()?;
            tokio::spawn(connection);
            client.batch_execute(&statement).await.ok()
        });
    }
}

/// Runs a clean-up to its end from `Drop`, which is synchronous and may run
/// inside a runtime: on a thread and a runtime of its own.
fn run_detached<T: Send + 'static>(task: impl Future<Output = T> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        Some(runtime.block_on(task))
    })
    .join();
}
