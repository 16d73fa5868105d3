//! `pg_restore` into an empty, new or scratch database, then the copy
//! compared with the manifest.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use db::DbConfig;
use db::config::redact_url;
use tokio_postgres::Client;

use super::client::{ChildConnection, Program, Running, choose, major_version};
use super::manifest::{Manifest, TableDigest, check_files};
use super::{BackupError, Content, Event, Observer, digest, notify, printable};
use crate::error::{Context as _, Error, Result};
use crate::scratch::{database_url, with_scratch};

/// Where a restore goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// An existing database: it must be empty (unless `clean`) and not
    /// marked production (unless `allow_production`).
    Existing(DbConfig),
    /// A database created for the restore on the server of `server`.
    New { server: DbConfig, name: String },
}

/// How to restore.
#[derive(Clone, Default)]
pub struct RestoreOptions {
    /// pg_restore's `--jobs`; with 1, the restore runs in one transaction.
    pub jobs: u32,
    /// Restore into a database that holds objects: pg_restore drops the
    /// dump's objects first (`--clean --if-exists`).
    pub clean: bool,
    /// Restore into a database marked production.
    pub allow_production: bool,
    pub observer: Option<Observer>,
}

/// What the comparison with the manifest covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub tables: usize,
    pub rows: i64,
    pub migrations: usize,
}

/// A restore that matched its manifest.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The database restored into.
    pub database: String,
    /// Its URL, password redacted.
    pub url: String,
    pub manifest: Manifest,
    pub checked: Checked,
}

/// A verified dump.
#[derive(Debug, Clone)]
pub struct Verified {
    pub manifest: Manifest,
    pub checked: Checked,
}

/// Restores the dump at `dump` into `target` with the first of
/// `pg_restore` new enough for the target's server and the dump, then
/// compares the restored rows and migrations with the manifest.
///
/// The dump's files are checked before anything is touched. A database
/// created for the restore is dropped when pg_restore fails; one whose
/// contents differ from the manifest is kept for inspection and the
/// difference is the error.
pub async fn restore(
    dump: &Path,
    target: Target,
    pg_restore: &[Program],
    options: &RestoreOptions,
) -> Result<Restored> {
    let manifest = read_and_check(dump, options.observer.as_ref()).await?;
    match target {
        Target::Existing(config) => {
            let client = db::connect_client(&config).await?;
            let program = choose_restore(&client, pg_restore, &manifest).await?;
            let url = config.url().map_err(db::Error::from)?.to_string();
            let target_name = redact_url(&url);
            if !options.allow_production
                && crate::mark::read(&mut db::connect(&config).await?)
                    .await?
                    .as_deref()
                    == Some(crate::mark::Environment::Production.as_str())
            {
                return Err(BackupError::Production {
                    target: target_name,
                }
                .into());
            }
            if !options.clean {
                refuse_non_empty(&client, &manifest, &target_name).await?;
            }
            run_pg_restore(program, &url, dump, &manifest, options, true).await?;
            let checked = check(&config, &manifest, options).await?;
            Ok(Restored {
                database: current_database(&client).await?,
                url: target_name,
                manifest,
                checked,
            })
        }
        Target::New { server, name } => {
            let admin = db::connect_client(&server).await?;
            let program = choose_restore(&admin, pg_restore, &manifest).await?;
            let server_url = server.url().map_err(db::Error::from)?;
            let url = database_url(server_url, &name, None)?;
            create_database(&admin, &name, &manifest.encoding).await?;
            let config = server.clone().with_url(url.clone());
            if let Err(error) = run_pg_restore(program, &url, dump, &manifest, options, false).await
            {
                drop_database(&admin, &name).await;
                return Err(error);
            }
            let checked = check(&config, &manifest, options).await?;
            Ok(Restored {
                database: name,
                url: redact_url(&url),
                manifest,
                checked,
            })
        }
    }
}

/// Restores the dump at `dump` into a scratch database on the server of
/// `server`, compares it with the manifest, and drops it.
pub async fn verify(
    dump: &Path,
    server: &DbConfig,
    pg_restore: &[Program],
    options: &RestoreOptions,
) -> Result<Verified> {
    let manifest = read_and_check(dump, options.observer.as_ref()).await?;
    let admin = db::connect_client(server).await?;
    let program = choose_restore(&admin, pg_restore, &manifest).await?;
    with_scratch(server, async |scratch| {
        let url = scratch.config().url().map_err(db::Error::from)?.to_string();
        run_pg_restore(program, &url, dump, &manifest, options, false).await?;
        let checked = check(scratch.config(), &manifest, options).await?;
        Ok(Verified {
            manifest: manifest.clone(),
            checked,
        })
    })
    .await
}

/// Reads the manifest beside the dump at `dump` and checks the dump's
/// files against it (sizes and SHA-256), restoring nothing: the cheap part
/// of `verify`.
pub async fn check_dump(dump: &Path) -> Result<Manifest> {
    read_and_check(dump, None).await
}

/// The database of `config` as a dump's manifest would describe it: its
/// name, and the rows and digest of the table `schema.name` hashed as the
/// manifest's `table` was (`None` when there is no such table).
pub async fn describe_table(
    config: &DbConfig,
    table: &TableDigest,
) -> Result<(String, Option<TableDigest>)> {
    let client = db::connect_client(config).await?;
    digest::prepare_session(&client).await?;
    let database = current_database(&client).await?;
    let found = digest::tables(&client).await?;
    if !found.contains(&(table.schema.clone(), table.name.clone())) {
        return Ok((database, None));
    }
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .context("Failed to start a read-only transaction")?;
    let digest = digest::digest(&client, &table.schema, &table.name, table.hashed.as_deref()).await;
    let _ = client.batch_execute("ROLLBACK").await;
    Ok((database, Some(digest?)))
}

async fn read_and_check(dump: &Path, observer: Option<&Observer>) -> Result<Manifest> {
    let manifest = Manifest::for_dump(dump)?;
    notify(observer, Event::Step("checking the files' SHA-256"));
    let (path, copy) = (dump.to_path_buf(), manifest.clone());
    tokio::task::spawn_blocking(move || check_files(&path, &copy))
        .await
        .map_err(|e| Error::Invalid(format!("checking the files stopped: {e}")))??;
    Ok(manifest)
}

/// pg_restore must be as new as the target's server and as the pg_dump
/// that wrote the archive.
async fn choose_restore<'a>(
    client: &Client,
    pg_restore: &'a [Program],
    manifest: &Manifest,
) -> Result<&'a Program> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int",
            &[],
        )
        .await
        .context("Failed to read the server's version")?;
    let version: String = row.get(0);
    let server_major = u32::try_from(row.get::<_, i32>(1) / 10_000).unwrap_or(0);
    let dump_major = major_version(&manifest.pg_dump_version).unwrap_or(0);
    let (needed, reason) = if dump_major > server_major {
        (
            dump_major,
            format!(
                "the pg_dump that wrote the dump ({})",
                manifest.pg_dump_version
            ),
        )
    } else {
        (
            server_major,
            format!("the target server (PostgreSQL {version})"),
        )
    };
    Ok(choose("pg_restore", pg_restore, needed, &reason)?)
}

async fn current_database(client: &Client) -> Result<String> {
    Ok(client
        .query_one("SELECT current_database()", &[])
        .await
        .context("Failed to read the database's name")?
        .get(0))
}

/// Objects a restore could collide with, listed at most this many.
const LISTED: usize = 10;

/// Refuses a target holding objects; for a data-only dump, one whose
/// tables hold rows.
async fn refuse_non_empty(client: &Client, manifest: &Manifest, target: &str) -> Result<()> {
    if manifest.content == Content::DataOnly {
        let mut full = Vec::new();
        for table in &manifest.tables {
            let sql = format!(
                "SELECT EXISTS (SELECT 1 FROM ONLY {}.{})",
                quote_ident(&table.schema),
                quote_ident(&table.name)
            );
            // A missing table is pg_restore's to report.
            if let Ok(row) = client.query_one(&sql, &[]).await
                && row.get::<_, bool>(0)
            {
                full.push(table.qualified());
            }
        }
        if full.is_empty() {
            return Ok(());
        }
        let more = full.len().saturating_sub(LISTED);
        full.truncate(LISTED);
        return Err(BackupError::TablesNotEmpty {
            target: target.to_string(),
            tables: full,
            more,
        }
        .into());
    }
    let rows = client
        .query(
            "SELECT what FROM (
                 SELECT 1 AS o, CASE c.relkind WHEN 'v' THEN 'view ' WHEN 'm' THEN 'materialized view '
                                WHEN 'S' THEN 'sequence ' WHEN 'f' THEN 'foreign table '
                                ELSE 'table ' END || n.nspname || '.' || c.relname AS what
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                   AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
                   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                   AND d.objid = c.oid AND d.deptype IN ('e', 'i', 'a'))
                 UNION ALL
                 SELECT 2, 'function ' || p.oid::regprocedure::text
                 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
                   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                                   AND d.objid = p.oid AND d.deptype = 'e')
                 UNION ALL
                 SELECT 3, 'extension ' || extname FROM pg_extension WHERE extname <> 'plpgsql'
                 UNION ALL
                 SELECT 4, 'schema ' || nspname FROM pg_namespace
                 WHERE nspname NOT IN ('public', 'pg_catalog', 'information_schema')
                   AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%'
             ) objects ORDER BY o, what COLLATE \"C\"",
            &[],
        )
        .await
        .context("Failed to list what the target database holds")?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut objects: Vec<String> = rows
        .iter()
        .map(|row| printable(&row.get::<_, String>(0)))
        .collect();
    let more = objects.len().saturating_sub(LISTED);
    objects.truncate(LISTED);
    Err(BackupError::NotEmpty {
        target: target.to_string(),
        objects,
        more,
    }
    .into())
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

async fn create_database(admin: &Client, name: &str, encoding: &str) -> Result<()> {
    let exists = admin
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
            &[&name],
        )
        .await
        .context("Failed to look for the database")?
        .get::<_, bool>(0);
    if exists {
        return Err(BackupError::DatabaseExists {
            name: printable(name),
        }
        .into());
    }
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE template0 ENCODING {}",
            quote_ident(name),
            quote_literal(encoding)
        ))
        .await
        .with_context(|| format!("Failed to create the database {}", printable(name)))
}

async fn drop_database(admin: &Client, name: &str) {
    let _ = admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(name)
        ))
        .await;
}

async fn run_pg_restore(
    program: &Program,
    url: &str,
    dump: &Path,
    manifest: &Manifest,
    options: &RestoreOptions,
    existing: bool,
) -> Result<()> {
    let child = ChildConnection::new(url)?;
    let items = toc_items(program, dump).await?;
    let mut command = child.command(program);
    // Roles and grants of the source need not exist on the target.
    command
        .args([
            "--verbose",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
        ])
        .arg(format!("--jobs={}", options.jobs.max(1)));
    if options.jobs <= 1 && existing {
        // All or nothing in a database that was there before.
        command.arg("--single-transaction");
    }
    if options.clean && manifest.content != Content::DataOnly {
        command.args(["--clean", "--if-exists"]);
    }
    command.arg(dump);
    notify(options.observer.as_ref(), Event::Step("restoring"));
    let running = Running::start(
        "pg_restore",
        command,
        items,
        |line| {
            // Once per item, whether one process restores or several.
            line.starts_with("creating ") || line.starts_with("processing data for table")
        },
        options.observer.clone(),
    )?;
    running.finish().await
}

/// The archive's items (`pg_restore --list`), for the progress display.
async fn toc_items(program: &Program, dump: &Path) -> Result<u64> {
    let (path, dump) = (program.path.clone(), dump.to_path_buf());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(path)
            .arg("--list")
            .arg(dump)
            .stdin(std::process::Stdio::null())
            .output()
    })
    .await
    .map_err(|e| Error::Invalid(format!("pg_restore --list stopped: {e}")))?
    .map_err(|e| BackupError::ProgramFailed {
        program: "pg_restore".into(),
        detail: format!("could not start it: {e}"),
    })?;
    if !out.status.success() {
        return Err(BackupError::ProgramFailed {
            program: "pg_restore --list".into(),
            detail: printable(String::from_utf8_lossy(&out.stderr).trim()),
        }
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| !line.starts_with(';') && !line.trim().is_empty())
        .count() as u64)
}

/// Compares the database of `config` with the manifest: every table there
/// with the manifest's rows and digest, the same applied migrations. Tables
/// are digested over `options.jobs` connections. A difference is the error
/// ([`BackupError::Mismatch`]).
pub async fn check(
    config: &DbConfig,
    manifest: &Manifest,
    options: &RestoreOptions,
) -> Result<Checked> {
    notify(
        options.observer.as_ref(),
        Event::Step("comparing the tables with the manifest"),
    );
    let client = db::connect_client(config).await?;
    digest::prepare_session(&client).await?;
    let database = current_database(&client).await?;
    let found = digest::tables(&client).await?;
    let migrations = digest::migrations(&client).await?;
    let queue: Arc<Mutex<Vec<&TableDigest>>> = Arc::new(Mutex::new(
        manifest
            .tables
            .iter()
            .filter(|t| t.digest.is_some() && found.contains(&(t.schema.clone(), t.name.clone())))
            .rev()
            .collect(),
    ));
    let mut clients = vec![client];
    for _ in 1..options.jobs.max(1) {
        let extra = db::connect_client(config).await?;
        digest::prepare_session(&extra).await?;
        clients.push(extra);
    }
    let workers = clients.iter().map(|client| {
        let queue = Arc::clone(&queue);
        async move {
            let mut digests = Vec::new();
            loop {
                let next = queue.lock().unwrap_or_else(PoisonError::into_inner).pop();
                let Some(table) = next else { break };
                digests.push(
                    digest::digest(client, &table.schema, &table.name, table.hashed.as_deref())
                        .await?,
                );
            }
            Ok::<_, Error>(digests)
        }
    });
    let mut restored = Vec::new();
    for digests in futures_util::future::join_all(workers).await {
        restored.extend(digests?);
    }
    let differences = compare(manifest, &found, &restored, &migrations);
    if !differences.is_empty() {
        return Err(BackupError::Mismatch {
            database: printable(&database),
            differences,
        }
        .into());
    }
    Ok(Checked {
        tables: manifest.tables.len(),
        rows: manifest.rows(),
        migrations: migrations.len(),
    })
}

/// What differs between the manifest and a restored copy: `found` are its
/// tables, `restored` the digests read there, `migrations` its applied
/// migrations.
pub fn compare(
    manifest: &Manifest,
    found: &[(String, String)],
    restored: &[TableDigest],
    migrations: &[super::AppliedMigration],
) -> Vec<String> {
    let mut differences = Vec::new();
    if manifest.content.has_data() && manifest.digest_method != digest::METHOD {
        differences.push(format!(
            "the manifest's digests were computed as \"{}\", this tool computes \"{}\"",
            printable(&manifest.digest_method),
            digest::METHOD
        ));
        return differences;
    }
    for table in &manifest.tables {
        let name = table.qualified();
        if !found.contains(&(table.schema.clone(), table.name.clone())) {
            differences.push(format!("table {name} is missing"));
            continue;
        }
        if table.digest.is_none() {
            continue;
        }
        let Some(copy) = restored
            .iter()
            .find(|t| t.schema == table.schema && t.name == table.name)
        else {
            differences.push(format!("table {name} was not digested"));
            continue;
        };
        if copy.rows != table.rows {
            differences.push(format!(
                "table {name} has {} rows, the manifest says {}",
                copy.rows.unwrap_or(0),
                table.rows.unwrap_or(0)
            ));
        } else if copy.digest != table.digest {
            differences.push(format!(
                "table {name} holds other rows than the dump (digest {}, the manifest says {})",
                copy.digest.as_deref().unwrap_or("-"),
                table.digest.as_deref().unwrap_or("-")
            ));
        }
    }
    if migrations != manifest.migrations.as_slice() {
        let versions = |list: &[super::AppliedMigration]| {
            list.iter()
                .map(|m| m.version.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        differences.push(format!(
            "the applied migrations differ: [{}], the manifest says [{}]",
            printable(&versions(migrations)),
            printable(&versions(&manifest.migrations))
        ));
    }
    differences
}
