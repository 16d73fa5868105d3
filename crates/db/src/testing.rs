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

use diesel::QueryableByName;
use diesel::connection::InstrumentationEvent;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::StreamExt;
use tokio::sync::OnceCell;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use crate::config::DbConfig;
use crate::local_server::{LocalServer, ServerOptions, fnv1a};
use crate::migrations::{FINGERPRINT, run_pending};
use crate::pool::{Db, connect};
use crate::unique::unique_name;

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
                fnv1a(project.as_bytes()) as u32
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
                crate::config::redact_url(&url)
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
    let template = format!("{TEMPLATE_PREFIX}{FINGERPRINT}");
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

/// Everything about the `public` schema's structure, one sorted line per
/// table, column (by position among the live ones), constraint, index,
/// function and trigger (with comments), for comparing two databases.
pub async fn schema_snapshot(conn: &mut AsyncPgConnection) -> String {
    #[derive(diesel::QueryableByName)]
    struct Snapshot {
        #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
        schema: Option<String>,
    }
    const SNAPSHOT: &str = r#"
SELECT string_agg(line, E'\n' ORDER BY line) AS schema FROM (
    SELECT format('table %s kind=%s comment=%s', c.relname, c.relkind,
                  obj_description(c.oid, 'pg_class')) AS line
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
    UNION ALL
    SELECT format('column %s %s %s %s %s default=%s comment=%s', c.relname,
                  lpad((row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum))::text, 4, '0'), a.attname,
                  format_type(a.atttypid, a.atttypmod),
                  CASE WHEN a.attnotnull THEN 'not null' ELSE 'null' END,
                  pg_get_expr(d.adbin, d.adrelid), col_description(c.oid, a.attnum))
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
    UNION ALL
    SELECT format('constraint %s %s %s', c.relname, k.conname, pg_get_constraintdef(k.oid))
    FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public'
    UNION ALL
    SELECT format('index %s', pg_get_indexdef(i.indexrelid))
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public'
    UNION ALL
    SELECT format('function %s comment=%s', pg_get_functiondef(p.oid),
                  obj_description(p.oid, 'pg_proc'))
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public'
    UNION ALL
    SELECT format('trigger %s', pg_get_triggerdef(t.oid))
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND NOT t.tgisinternal
) lines
"#;
    use diesel_async::RunQueryDsl;
    diesel::sql_query(SNAPSHOT)
        .get_result::<Snapshot>(conn)
        .await
        .expect("reading the schema")
        .schema
        .unwrap_or_default()
}

/// A folder of migrations in Diesel's layout, for tests that need a set of
/// their own; deleted when dropped.
#[derive(Debug)]
pub struct MigrationDir {
    path: std::path::PathBuf,
}

impl MigrationDir {
    /// An empty folder.
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(unique_name("mv-migrations-"));
        std::fs::create_dir_all(&path).expect("creating a migrations folder");
        Self { path }
    }

    /// The folder.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Writes (or overwrites) migration `name`'s up.sql and down.sql.
    pub fn write(&self, name: &str, up: &str, down: Option<&str>) -> &Self {
        let folder = self.path.join(name);
        std::fs::create_dir_all(&folder).expect("creating a migration folder");
        std::fs::write(folder.join("up.sql"), up).expect("writing up.sql");
        if let Some(down) = down {
            std::fs::write(folder.join("down.sql"), down).expect("writing down.sql");
        }
        self
    }

    /// Writes migration `name`'s metadata.toml.
    pub fn metadata(&self, name: &str, toml: &str) -> &Self {
        std::fs::write(self.path.join(name).join("metadata.toml"), toml)
            .expect("writing metadata.toml");
        self
    }

    /// Deletes migration `name`.
    pub fn remove(&self, name: &str) -> &Self {
        std::fs::remove_dir_all(self.path.join(name)).expect("removing a migration");
        self
    }

    /// The migrations as the engine reads them.
    pub fn set(&self) -> crate::migrations::MigrationSet {
        crate::migrations::MigrationSet::from_dir(&self.path).expect("reading the migrations")
    }
}

impl Default for MigrationDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for MigrationDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[derive(QueryableByName)]
struct Digest {
    #[diesel(sql_type = Text)]
    digest: String,
}

/// A digest of every row of every table of the schema (the migration
/// history left out): equal digests, equal data.
pub async fn snapshot(conn: &mut AsyncPgConnection) -> String {
    let tables: Vec<Digest> = diesel::sql_query(
        "SELECT quote_ident(tablename) AS digest FROM pg_tables \
         WHERE schemaname = 'public' AND left(tablename, 2) <> '__' ORDER BY tablename",
    )
    .load(conn)
    .await
    .expect("listing the tables");
    let parts: Vec<String> = tables
        .iter()
        .map(|table| {
            format!(
                "'{name}:' || (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {name} t)",
                name = table.digest
            )
        })
        .collect();
    if parts.is_empty() {
        return String::new();
    }
    let sql = format!("SELECT {} AS digest", parts.join(" || ',' || "));
    diesel::sql_query(sql)
        .get_result::<Digest>(conn)
        .await
        .expect("digesting the tables")
        .digest
}

/// The number a `SELECT count(*) AS count ...` query returns.
pub async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .count
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
