//! `mv-admin generate`: writes the migration from what the migrations
//! produce to `schema.sql`, and checks that `schema.sql`, the migrations and
//! `schema.rs` agree.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use schema_engine::generate::{
    check, check_name, migration_folder, plan_migration, version_digits, write_migration,
};
use schema_engine::plan::Rename;
use serde_json::json;

use super::read_schema_sql;
use crate::{Context, MIGRATIONS_DIR, SCHEMA_FILE, SCHEMA_SQL, say};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The migration's name: lower-case letters, digits and underscores.
    #[arg(required_unless_present = "check", conflicts_with = "check")]
    pub name: Option<String>,
    /// Write nothing: fail, showing the difference, when schema.sql, the
    /// migrations and schema.rs disagree.
    #[arg(long)]
    pub check: bool,
    /// The migration's version, YYYY-MM-DD-HHMMSS (default: now, in UTC).
    #[arg(long, conflicts_with = "check")]
    pub version: Option<String>,
    /// Rename instead of dropping and adding: `table.old_column=new_column`
    /// or `old_table=new_table`. Repeat for several.
    #[arg(long = "rename", value_name = "HINT", conflicts_with = "check")]
    pub renames: Vec<Rename>,
    /// The desired schema.
    #[arg(long, default_value = SCHEMA_SQL)]
    pub schema: PathBuf,
    /// The migrations folder.
    #[arg(long, default_value = MIGRATIONS_DIR)]
    pub migrations: PathBuf,
    /// The schema.rs that --check compares.
    #[arg(long, default_value = SCHEMA_FILE)]
    pub schema_rs: PathBuf,
}

pub async fn run(context: &Context, args: Args) -> Result<()> {
    let (source, sql) = read_schema_sql(&args.schema)?;
    if args.check {
        return run_check(context, &args, &sql, &source).await;
    }
    let name = args.name.as_deref().unwrap_or_default();
    check_name(name)?;
    let version = match &args.version {
        Some(version) => version.clone(),
        None => chrono::Utc::now().format("%Y-%m-%d-%H%M%S").to_string(),
    };
    version_digits(&version)?;
    let migration = plan_migration(
        &context.config().await?,
        &sql,
        &source,
        &args.migrations,
        &args.renames,
    )
    .await?;
    let Some(migration) = migration else {
        if context.json {
            say!("{}", json!({ "written": null }));
        } else {
            say!("{source} matches the migrations; no migration was written");
        }
        return Ok(());
    };
    let folder = migration_folder(&args.migrations, &version, name)?;
    write_migration(&folder, &migration)?;
    if context.json {
        say!(
            "{}",
            json!({
                "written": folder.display().to_string(),
                "up": migration.up.steps().collect::<Vec<_>>(),
                "down": migration.down.steps().collect::<Vec<_>>(),
            })
        );
        return Ok(());
    }
    say!("wrote {}/up.sql and down.sql", folder.display());
    for (file, plan) in [("up.sql", &migration.up), ("down.sql", &migration.down)] {
        if plan.loses_data() {
            say!("note: {file} loses data; the statements that do are marked in it");
        }
    }
    Ok(())
}

async fn run_check(context: &Context, args: &Args, sql: &str, source: &str) -> Result<()> {
    let schema_rs_text = std::fs::read_to_string(&args.schema_rs)
        .with_context(|| format!("Failed to read {}", args.schema_rs.display()))?;
    let found = check(
        &context.config().await?,
        sql,
        source,
        &args.migrations,
        &schema_rs_text,
    )
    .await?;
    if context.json {
        say!(
            "{}",
            json!({
                "agree": found.is_empty(),
                "steps": found.steps,
                "schema_rs": found.schema_rs,
            })
        );
    } else {
        if !found.steps.is_empty() {
            say!(
                "{source} differs from what {} produce; `mv-admin generate <name>` would write:",
                args.migrations.display()
            );
            for step in &found.steps {
                say!("    {}", step.sql.replace('\n', "\n    "));
            }
        }
        if let Some(difference) = &found.schema_rs {
            say!(
                "{} differs from what {} produce ({difference}); run `mv-admin schema` on a \
                 migrated database",
                args.schema_rs.display(),
                args.migrations.display()
            );
        }
    }
    if !found.is_empty() {
        bail!(
            "{source}, {} and {} disagree",
            args.migrations.display(),
            args.schema_rs.display()
        );
    }
    if !context.json {
        say!(
            "{source}, {} and {} agree",
            args.migrations.display(),
            args.schema_rs.display()
        );
    }
    Ok(())
}
