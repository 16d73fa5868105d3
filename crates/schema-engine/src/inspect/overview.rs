//! The overview: the state of the database at a
//! glance.

use crate::error::{Context as _, Result};
use diesel::QueryableByName;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

use crate::foreign::Foreign;

/// Everything the overview shows.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub server_version: String,
    pub database: String,
    pub database_bytes: i64,
    pub database_size: String,
    pub tables: Vec<TableStats>,
    pub indexes: Vec<IndexStats>,
    pub migrations: Vec<MigrationState>,
    pub connections: Connections,
}

#[derive(Debug, Clone, QueryableByName)]
struct Server {
    #[diesel(sql_type = Text)]
    server_version: String,
    #[diesel(sql_type = Text)]
    database: String,
    #[diesel(sql_type = BigInt)]
    database_bytes: i64,
    #[diesel(sql_type = Text)]
    database_size: String,
}

const SERVER: &str = "
SELECT current_setting('server_version') AS server_version,
       current_database()::text AS database,
       pg_database_size(current_database()) AS database_bytes,
       pg_size_pretty(pg_database_size(current_database())) AS database_size";

/// A table, its exact row count and its size with indexes and TOAST.
#[derive(Debug, Clone, QueryableByName, Serialize)]
pub struct TableStats {
    /// The name in `public`; `schema.name` in a foreign schema.
    #[diesel(sql_type = Text)]
    pub name: String,
    /// Declared foreign in schema.sql (`-- mv:foreign`): not the project's.
    #[diesel(sql_type = Bool)]
    pub foreign: bool,
    #[diesel(sql_type = BigInt)]
    pub row_count: i64,
    #[diesel(sql_type = BigInt)]
    pub total_bytes: i64,
    #[diesel(sql_type = Text)]
    pub size: String,
}

// query_to_xml runs one count(*) per table inside this single statement;
// the table names come from the catalog and are quoted by format('%I').
// $1: the tables of public declared foreign; $2: the foreign schemas,
// whose tables are listed too.
const TABLES: &str = "
SELECT CASE WHEN n.nspname = 'public' THEN c.relname::text
            ELSE n.nspname || '.' || c.relname END AS name,
       (n.nspname <> 'public' OR c.relname = ANY($1)) AS \"foreign\",
       (xpath('/row/n/text()',
              query_to_xml(format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname),
                           false, true, '')))[1]::text::int8 AS row_count,
       pg_total_relation_size(c.oid) AS total_bytes,
       pg_size_pretty(pg_total_relation_size(c.oid)) AS size
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (n.nspname = 'public' OR n.nspname = ANY($2)) AND c.relkind IN ('r', 'p')
ORDER BY n.nspname <> 'public', n.nspname, c.relname";

/// An index and how often the planner used it since statistics were reset.
#[derive(Debug, Clone, QueryableByName, Serialize)]
pub struct IndexStats {
    #[diesel(sql_type = Text)]
    pub table_name: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = BigInt)]
    pub scans: i64,
    #[diesel(sql_type = BigInt)]
    pub bytes: i64,
    #[diesel(sql_type = Text)]
    pub size: String,
}

const INDEXES: &str = "
SELECT s.relname::text AS table_name,
       s.indexrelname::text AS name,
       s.idx_scan AS scans,
       pg_relation_size(s.indexrelid) AS bytes,
       pg_size_pretty(pg_relation_size(s.indexrelid)) AS size
FROM pg_stat_user_indexes s
WHERE s.schemaname = 'public'
ORDER BY s.relname, s.indexrelname";

/// A migration: embedded in this binary, applied to the database, or both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationState {
    pub version: String,
    /// The migration's folder name; `None` when this binary does not know it.
    pub name: Option<String>,
    /// When it was applied, as the server recorded it; `None` when pending.
    pub run_on: Option<String>,
}

#[derive(Debug, QueryableByName)]
struct Applied {
    #[diesel(sql_type = Text)]
    version: String,
    #[diesel(sql_type = Text)]
    run_on: String,
}

#[derive(Debug, QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

/// Connections to the server, and what those to this database are doing.
#[derive(Debug, Clone, Serialize)]
pub struct Connections {
    pub max_connections: i32,
    /// Client connections to any database of the server.
    pub in_use: i64,
    /// This database's connections by state (`active`, `idle`, ...).
    pub by_state: Vec<StateCount>,
}

#[derive(Debug, Clone, QueryableByName, Serialize)]
pub struct StateCount {
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

#[derive(Debug, QueryableByName)]
struct ServerConnections {
    #[diesel(sql_type = Integer)]
    max_connections: i32,
    #[diesel(sql_type = BigInt)]
    in_use: i64,
}

const SERVER_CONNECTIONS: &str = "
SELECT current_setting('max_connections')::int4 AS max_connections,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS in_use";

const CONNECTION_STATES: &str = "
SELECT coalesce(state, 'unknown') AS state, count(*) AS count
FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend'
GROUP BY 1
ORDER BY 1";

/// Collects the overview, marking the `foreign` tables and listing those
/// of the foreign schemas.
pub async fn collect(conn: &mut AsyncPgConnection, foreign: &Foreign) -> Result<Overview> {
    collect_with(conn, true, foreign).await
}

/// Collects the overview; without `count_rows`, `tables` is left empty
/// (counting every row of a large table takes a while).
pub async fn collect_with(
    conn: &mut AsyncPgConnection,
    count_rows: bool,
    foreign: &Foreign,
) -> Result<Overview> {
    let server: Server = diesel::sql_query(SERVER)
        .get_result(conn)
        .await
        .context("Failed to read the server's version and the database's size")?;
    let tables = if count_rows {
        diesel::sql_query(TABLES)
            .bind::<Array<Text>, _>(foreign.tables.iter().collect::<Vec<_>>())
            .bind::<Array<Text>, _>(foreign.schemas.iter().collect::<Vec<_>>())
            .load(conn)
            .await
            .context("Failed to count the tables' rows")?
    } else {
        Vec::new()
    };
    let indexes = diesel::sql_query(INDEXES)
        .load(conn)
        .await
        .context("Failed to read the index statistics")?;
    let migrations = migrations(conn).await?;
    let totals: ServerConnections = diesel::sql_query(SERVER_CONNECTIONS)
        .get_result(conn)
        .await
        .context("Failed to count the connections")?;
    let by_state = diesel::sql_query(CONNECTION_STATES)
        .load(conn)
        .await
        .context("Failed to count the connections")?;
    Ok(Overview {
        server_version: server.server_version,
        database: server.database,
        database_bytes: server.database_bytes,
        database_size: server.database_size,
        tables,
        indexes,
        migrations,
        connections: Connections {
            max_connections: totals.max_connections,
            in_use: totals.in_use,
            by_state,
        },
    })
}

/// Every migration this binary embeds and every one the database recorded,
/// by version. Read from Diesel's table directly: its harness would create
/// the table when missing, which a read-only look must not do.
pub async fn migrations(conn: &mut AsyncPgConnection) -> Result<Vec<MigrationState>> {
    let table: Exists = diesel::sql_query(
        "SELECT to_regclass('public.__diesel_schema_migrations') IS NOT NULL AS exists",
    )
    .get_result(conn)
    .await
    .context("Failed to look for the migration history")?;
    let applied: Vec<Applied> = if table.exists {
        diesel::sql_query(
            "SELECT version::text AS version, run_on::text AS run_on \
             FROM __diesel_schema_migrations ORDER BY version",
        )
        .load(conn)
        .await
        .context("Failed to read the migration history")?
    } else {
        Vec::new()
    };
    let embedded = MigrationSource::<Pg>::migrations(&db::migrations::MIGRATIONS).map_err(|e| {
        crate::error::Error::Invalid(format!("Failed to read the embedded migrations: {e}"))
    })?;
    let mut states: Vec<MigrationState> = embedded
        .iter()
        .map(|migration| {
            let version = migration.name().version().to_string();
            MigrationState {
                run_on: applied
                    .iter()
                    .find(|a| a.version == version)
                    .map(|a| a.run_on.clone()),
                name: Some(migration.name().to_string()),
                version,
            }
        })
        .collect();
    for row in applied {
        if !states.iter().any(|s| s.version == row.version) {
            states.push(MigrationState {
                version: row.version,
                name: None,
                run_on: Some(row.run_on),
            });
        }
    }
    states.sort_by(|a, b| a.version.cmp(&b.version));
    Ok(states)
}
