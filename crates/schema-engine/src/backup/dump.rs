//! `pg_dump` on an exported snapshot, with the manifest's digests read in
//! that same snapshot while the dump runs: the manifest describes exactly
//! the rows the dump holds, however busy the database is.

use std::path::{Path, PathBuf};

use chrono::Utc;
use db::DbConfig;

use super::client::{ChildConnection, Program, Running, choose, major_version};
use super::manifest::{Manifest, file_digests};
use super::{BackupError, Content, Event, Format, MANIFEST_VERSION, Observer, digest, notify};
use crate::error::{Context as _, Error, Result};

/// What to dump, and where.
#[derive(Clone)]
pub struct DumpOptions {
    /// A file (custom format) or a folder (directory format) that does not
    /// exist yet; its parent must.
    pub path: PathBuf,
    pub format: Format,
    /// pg_dump's `--jobs` (directory format only).
    pub jobs: u32,
    pub content: Content,
    /// Recorded in the manifest: the tool and its version.
    pub tool: String,
    pub observer: Option<Observer>,
}

/// A finished dump.
#[derive(Debug, Clone)]
pub struct Dumped {
    pub path: PathBuf,
    pub manifest_path: PathBuf,
    pub manifest: Manifest,
}

/// Dumps the database of `config` with the first of `pg_dump` (in search
/// order) at least as new as its server, and writes the manifest beside the
/// dump. On failure nothing is left behind.
pub async fn dump(config: &DbConfig, pg_dump: &[Program], options: &DumpOptions) -> Result<Dumped> {
    let path = options.path.as_path();
    refuse_existing(path)?;
    let manifest_path = super::manifest_path(path);
    refuse_existing(&manifest_path)?;
    let url = config.url().map_err(db::Error::from)?;
    let child = ChildConnection::new(url)?;

    let client = db::connect_client(config).await?;
    digest::prepare_session(&client).await?;
    let server = client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int,
                    current_database(),
                    (SELECT pg_encoding_to_char(encoding) FROM pg_database
                     WHERE datname = current_database())",
            &[],
        )
        .await
        .context("Failed to read the server's version")?;
    let server_version: String = server.get(0);
    let server_version_num = u32::try_from(server.get::<_, i32>(1)).unwrap_or(0);
    let program = choose(
        "pg_dump",
        pg_dump,
        server_version_num / 10_000,
        &format!("the server (PostgreSQL {server_version})"),
    )?;
    let production_mark = crate::mark::read(&mut db::connect(config).await?).await?;

    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
        .context("Failed to start the dump's transaction")?;
    let snapshot: String = client
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .context("Failed to export the dump's snapshot")?
        .get(0);
    let created_at = Utc::now();
    let tables = digest::tables(&client).await?;
    let migrations = digest::migrations(&client).await?;

    let running = start_pg_dump(program, &child, options, &snapshot, tables.len() as u64)?;
    let mut digests = Vec::new();
    for (schema, name) in &tables {
        let digested = if options.content.has_data() {
            notify(
                options.observer.as_ref(),
                Event::Step(&format!("digesting {schema}.{name}")),
            );
            digest::digest(&client, schema, name, None).await
        } else {
            Ok(super::TableDigest {
                schema: schema.clone(),
                name: name.clone(),
                rows: None,
                digest: None,
                hashed: None,
            })
        };
        match digested {
            Ok(table) => digests.push(table),
            Err(error) => {
                running.kill();
                remove_output(path);
                return Err(error);
            }
        }
    }
    if let Err(error) = running.finish().await {
        remove_output(path);
        return Err(error);
    }
    // The snapshot had to stay open until pg_dump had taken it up.
    client
        .batch_execute("COMMIT")
        .await
        .context("Failed to end the dump's transaction")?;

    notify(
        options.observer.as_ref(),
        Event::Step("computing the files' SHA-256"),
    );
    let (dump_path, format) = (path.to_path_buf(), options.format);
    let files = tokio::task::spawn_blocking(move || file_digests(&dump_path, format))
        .await
        .map_err(|e| Error::Invalid(format!("computing the files' SHA-256 stopped: {e}")))?;
    let files = match files {
        Ok(files) => files,
        Err(error) => {
            remove_output(path);
            return Err(error);
        }
    };
    let manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        created_at,
        tool: options.tool.clone(),
        pg_dump_version: program.version.clone(),
        server_version,
        server_version_num,
        database: server.get(2),
        encoding: server.get(3),
        production_mark,
        format: options.format,
        content: options.content,
        jobs: options.jobs,
        files,
        migrations,
        digest_method: digest::METHOD.to_string(),
        tables: digests,
    };
    let manifest_path = match manifest.write(path) {
        Ok(written) => written,
        Err(error) => {
            remove_output(path);
            return Err(error);
        }
    };
    Ok(Dumped {
        path: path.to_path_buf(),
        manifest_path,
        manifest,
    })
}

fn start_pg_dump(
    program: &Program,
    child: &ChildConnection,
    options: &DumpOptions,
    snapshot: &str,
    tables: u64,
) -> Result<Running> {
    let mut command = child.command(program);
    command
        .arg("--verbose")
        .arg(format!("--snapshot={snapshot}"))
        .arg("--file")
        .arg(&options.path);
    match options.format {
        Format::Custom => {
            command.arg("--format=custom");
        }
        Format::Directory => {
            command
                .arg("--format=directory")
                .arg(format!("--jobs={}", options.jobs.max(1)));
        }
    }
    match options.content {
        Content::All => {}
        Content::SchemaOnly => {
            command.arg("--schema-only");
        }
        Content::DataOnly => {
            command.arg("--data-only");
        }
    }
    // pg_dump refuses a newer server itself, but only after it connected;
    // the version was checked before this point.
    debug_assert!(major_version(&program.version).is_some());
    Running::start(
        "pg_dump",
        command,
        tables,
        // Printed once per table, whether one process dumps or several.
        |line| line.starts_with("dumping contents of table"),
        options.observer.clone(),
    )
}

fn refuse_existing(path: &Path) -> Result<(), BackupError> {
    let empty_dir = path
        .read_dir()
        .map(|mut entries| entries.next().is_none())
        .unwrap_or(false);
    if path.exists() && !empty_dir {
        return Err(BackupError::Exists {
            path: path.display().to_string(),
        });
    }
    Ok(())
}

/// Removes what a failed dump wrote.
fn remove_output(path: &Path) {
    let _ = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
}
