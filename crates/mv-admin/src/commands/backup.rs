//! `mv-admin db dump|restore|verify`: PostgreSQL's pg_dump and pg_restore,
//! with a manifest that makes every dump checkable.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use db::DbConfig;
use indicatif::ProgressBar;
use schema_engine::backup::{
    self, Content, DumpOptions, Event, Format, Manifest, Observer, Program, RestoreOptions, Target,
};
use serde_json::json;

use crate::output::progress_bar;
use crate::{Context, say};

/// Where dumps go when no FILE or DIR is given, in the project's folder.
pub const BACKUPS_DIR: &str = ".mv-admin/backups";

#[derive(Debug, Args)]
pub struct DumpArgs {
    /// A file to write (custom format), or a folder (directory format: with
    /// --jobs above 1, or a path ending in `/`). Default: a new file in
    /// .mv-admin/backups/.
    #[arg(value_name = "FILE|DIR")]
    pub path: Option<PathBuf>,
    /// Dump this many tables at once (directory format).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: u32,
    /// The schema only, no rows.
    #[arg(long, conflicts_with = "data_only")]
    pub schema_only: bool,
    /// The rows only, for a database that has the schema.
    #[arg(long)]
    pub data_only: bool,
    /// Keep the newest N dumps of this database in .mv-admin/backups/ and
    /// delete the older ones (only without FILE|DIR).
    #[arg(long, value_name = "N", conflicts_with = "path", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: Option<u32>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The dump (its manifest beside it).
    #[arg(value_name = "FILE|DIR")]
    pub path: PathBuf,
    /// Restore into this existing, empty database instead of the configured one.
    #[arg(long, value_name = "URL", conflicts_with = "new_database")]
    pub into: Option<String>,
    /// Create this database on the configured server and restore into it.
    #[arg(long, value_name = "NAME")]
    pub new_database: Option<String>,
    /// Restore this many items at once.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: u32,
    /// Restore into a database that holds objects: the dump's objects are
    /// dropped there first; others stay.
    #[arg(long)]
    pub clean: bool,
    /// Allow a database marked production as the target.
    #[arg(long)]
    pub allow_production: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The dump (its manifest beside it).
    #[arg(value_name = "FILE|DIR")]
    pub path: PathBuf,
    /// Restore this many items at once.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: u32,
}

/// The copies of a client program on this machine, newest-enough first.
fn programs(name: &str) -> Vec<Program> {
    local_pg::find_client_programs(name)
        .into_iter()
        .map(|found| Program::new(found.path, found.version))
        .collect()
}

/// A progress bar on a terminal, fed by the engine's events.
fn watch(label: &'static str) -> (ProgressBar, Observer) {
    let bar = progress_bar(0, label);
    let shown = bar.clone();
    let observer: Observer = Arc::new(move |event: &Event<'_>| match event {
        Event::Progress { done, total } => {
            shown.set_length(*total);
            shown.set_position(*done);
        }
        Event::Step(step) => shown.set_message(format!("{label}: {step}")),
        Event::Started { .. } => {}
    });
    (bar, observer)
}

fn seconds(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0
}

pub async fn dump(context: &Context, args: DumpArgs) -> Result<()> {
    let config = context.direct_config().await?;
    let format = if args.jobs > 1 || args.path.as_deref().is_some_and(is_dir_path) {
        Format::Directory
    } else {
        Format::Custom
    };
    let content = match (args.schema_only, args.data_only) {
        (true, _) => Content::SchemaOnly,
        (_, true) => Content::DataOnly,
        _ => Content::All,
    };
    let default_dir = match &args.path {
        Some(_) => None,
        None => {
            let dir = local_pg::project_folder()?.join(BACKUPS_DIR);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("Failed to create {}", dir.display()))?;
            Some(dir)
        }
    };
    let path = match (&args.path, &default_dir) {
        (Some(path), _) => path.clone(),
        (None, Some(dir)) => dir.join(default_name(&config, format)),
        (None, None) => bail!("no path for the dump"),
    };
    let (bar, observer) = watch("dumping");
    let started = Instant::now();
    let dumped = backup::dump(
        &config,
        &programs("pg_dump"),
        &DumpOptions {
            path,
            format,
            jobs: args.jobs,
            content,
            tool: format!("mv-admin {}", env!("CARGO_PKG_VERSION")),
            observer: Some(observer),
        },
    )
    .await;
    bar.finish_and_clear();
    let dumped = dumped?;
    let pruned = match (args.keep, &default_dir) {
        (Some(keep), Some(dir)) => backup::prune(dir, &dumped.manifest.database, keep as usize)?,
        _ => Vec::new(),
    };
    let manifest = &dumped.manifest;
    if context.json {
        say!(
            "{}",
            json!({
                "path": dumped.path,
                "manifest": dumped.manifest_path,
                "database": manifest.database,
                "format": manifest.format,
                "content": manifest.content,
                "bytes": manifest.bytes(),
                "tables": manifest.tables.len(),
                "rows": manifest.rows(),
                "migrations": manifest.migrations.len(),
                "seconds": seconds(started),
                "pruned": pruned,
            })
        );
        return Ok(());
    }
    say!(
        "dumped {} to {} ({} format, {} bytes, {:.1} s)",
        manifest.database,
        dumped.path.display(),
        format_name(manifest.format),
        manifest.bytes(),
        seconds(started)
    );
    say!("manifest {}", dumped.manifest_path.display());
    say!("{}", summary(manifest));
    for old in pruned {
        say!("deleted the older dump {}", old.display());
    }
    Ok(())
}

pub async fn restore(context: &Context, args: RestoreArgs) -> Result<()> {
    let target = match (&args.into, &args.new_database) {
        (Some(url), _) => {
            let into = Context::new(Some(url.clone()), context.json)?;
            Target::Existing(into.direct_config().await?)
        }
        (None, Some(name)) => Target::New {
            server: context.direct_config().await?,
            name: name.clone(),
        },
        (None, None) => Target::Existing(context.direct_config().await?),
    };
    let (bar, observer) = watch("restoring");
    let started = Instant::now();
    let restored = backup::restore(
        &args.path,
        target,
        &programs("pg_restore"),
        &RestoreOptions {
            jobs: args.jobs,
            clean: args.clean,
            allow_production: args.allow_production,
            observer: Some(observer),
        },
    )
    .await;
    bar.finish_and_clear();
    let restored = restored?;
    if context.json {
        say!(
            "{}",
            json!({
                "database": restored.database,
                "url": restored.url,
                "tables": restored.checked.tables,
                "rows": restored.checked.rows,
                "migrations": restored.checked.migrations,
                "seconds": seconds(started),
            })
        );
        return Ok(());
    }
    say!(
        "restored {} into {} ({:.1} s)",
        args.path.display(),
        restored.url,
        seconds(started)
    );
    say!("matches the manifest: {}", summary(&restored.manifest));
    if restored.manifest.production_mark.is_some() {
        say!(
            "the copy carries the source's production mark; `mv-admin db unmark` removes it from a copy that is not production"
        );
    }
    Ok(())
}

pub async fn verify(context: &Context, args: VerifyArgs) -> Result<()> {
    let server = context.direct_config().await?;
    let (bar, observer) = watch("verifying");
    let started = Instant::now();
    let verified = backup::verify(
        &args.path,
        &server,
        &programs("pg_restore"),
        &RestoreOptions {
            jobs: args.jobs,
            observer: Some(observer),
            ..RestoreOptions::default()
        },
    )
    .await;
    bar.finish_and_clear();
    let verified = verified?;
    if context.json {
        say!(
            "{}",
            json!({
                "verified": true,
                "path": args.path,
                "tables": verified.checked.tables,
                "rows": verified.checked.rows,
                "migrations": verified.checked.migrations,
                "seconds": seconds(started),
            })
        );
        return Ok(());
    }
    say!(
        "{} is intact: restored into a scratch database, it matches the manifest ({:.1} s)",
        args.path.display(),
        seconds(started)
    );
    say!("{}", summary(&verified.manifest));
    Ok(())
}

fn summary(manifest: &Manifest) -> String {
    let rows = if manifest.content.has_data() {
        format!("{} rows", manifest.rows())
    } else {
        "no rows (schema only)".to_string()
    };
    format!(
        "{} tables, {rows}, {} migrations; dumped {} from PostgreSQL {} by {}",
        manifest.tables.len(),
        manifest.migrations.len(),
        manifest.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        manifest.server_version,
        manifest.tool
    )
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Custom => "custom",
        Format::Directory => "directory",
    }
}

fn is_dir_path(path: &Path) -> bool {
    path.as_os_str().to_string_lossy().ends_with('/') || path.is_dir()
}

/// `<database>-<UTC time to the millisecond>[.dump]`.
fn default_name(config: &DbConfig, format: Format) -> String {
    let database = config
        .url()
        .ok()
        .and_then(|url| url::Url::parse(url).ok())
        .and_then(|url| {
            url.query_pairs()
                .find(|(key, _)| key == "dbname")
                .map(|(_, value)| value.into_owned())
                .or_else(|| Some(url.path().trim_start_matches('/').to_string()))
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "database".to_string());
    let safe: String = database
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    match format {
        Format::Custom => format!("{safe}-{stamp}.dump"),
        Format::Directory => format!("{safe}-{stamp}"),
    }
}
