//! Plans the migration from what the migrations produce to `schema.sql`,
//! and checks that `schema.sql`, the migrations and `schema.rs` agree. It
//! compares scratch databases only, never the developer's, so it works after
//! a push.

use std::path::{Path, PathBuf};

use db::DbConfig;
use diesel_async::AsyncPgConnection;

use crate::catalog::{Schema, introspect};
use crate::error::{Context as _, Result, bail};
use crate::foreign::Foreign;
use crate::plan::{self, Plan, Rename, Step, rename::reversed};
use crate::schema_rs::{self, first_difference};
use crate::scratch::{self, load_sql, run_migrations_in, with_sandbox, with_scratch};

/// A migration's two files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub up: Plan,
    pub down: Plan,
}

impl Migration {
    /// The text of up.sql.
    pub fn up_sql(&self) -> String {
        render(&self.up, "this migration")
    }

    /// The text of down.sql.
    pub fn down_sql(&self) -> String {
        render(&self.down, "reverting this migration")
    }
}

/// How `schema.sql`, the migrations and `schema.rs` disagree.
#[derive(Debug, Clone, Default)]
pub struct Disagreement {
    /// What a migration from the migrations to schema.sql would do.
    pub steps: Vec<Step>,
    /// Where schema.rs first differs from what the migrations give.
    pub schema_rs: Option<String>,
}

impl Disagreement {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.schema_rs.is_none()
    }
}

/// Compares `schema.sql` (text `sql`, named `source`), the migrations in
/// `migrations` and the text of `schema.rs`, each made by PostgreSQL in a
/// scratch database on the server of `target`.
pub async fn check(
    target: &DbConfig,
    sql: &str,
    source: &str,
    migrations: &Path,
    schema_rs_text: &str,
) -> Result<Disagreement> {
    let foreign = Foreign::parse(sql, source)?;
    let migrated = foreign.remove_from(&scratch::schema_of_migrations(target, migrations).await?);
    let desired = scratch::schema_of_sql(target, sql, source).await?;
    foreign.ensure_not_created(&desired, source)?;
    let expected = schema_rs::render(&migrated)
        .context("The schema the migrations produce cannot give a schema.rs")?;
    Ok(Disagreement {
        steps: plan::diff(&migrated, &desired),
        schema_rs: first_difference(schema_rs_text, &expected),
    })
}

/// Plans the migration from what `migrations` produce to `schema.sql`
/// (text `sql`, named `source`), and its reverse; none when they agree.
/// Both plans are tried on the scratch databases before they are returned.
pub async fn plan_migration(
    target: &DbConfig,
    sql: &str,
    source: &str,
    migrations: &Path,
    renames: &[Rename],
) -> Result<Option<Migration>> {
    let foreign = &Foreign::parse(sql, source)?;
    with_scratch(target, async |migrated_db| {
        run_migrations_in(migrated_db.connect().await?, migrations).await?;
        let mut migrated_conn = migrated_db.connect().await?;
        let migrated = introspect(&mut migrated_conn).await?;
        migrated.ensure_supported("the schema the migrations produce")?;
        with_sandbox(target, async |desired_db| {
            load_sql(desired_db, sql, source).await?;
            let mut desired_conn = desired_db.connect().await?;
            let desired = introspect(&mut desired_conn).await?;
            desired.ensure_supported(source)?;
            foreign.ensure_not_created(&desired, source)?;
            let migrated = foreign.remove_from(&migrated);

            let up = plan::prepare(&mut migrated_conn, &desired, renames, foreign).await?;
            if up.is_empty() {
                return Ok(None);
            }
            try_plan(&mut migrated_conn, &up, &desired, "up.sql", foreign).await?;
            let down =
                plan::prepare(&mut desired_conn, &migrated, &reversed(renames), foreign).await?;
            try_plan(&mut desired_conn, &down, &migrated, "down.sql", foreign).await?;
            Ok(Some(Migration { up, down }))
        })
        .await
    })
    .await
}

/// Applies `plan` (its renames ran already) and checks that it reaches `goal`.
async fn try_plan(
    conn: &mut AsyncPgConnection,
    plan: &Plan,
    goal: &Schema,
    file: &str,
    foreign: &Foreign,
) -> Result<()> {
    plan::apply(conn, plan, &mut |_| {})
        .await
        .with_context(|| format!("The planned {file} does not apply"))?;
    let reached = foreign.remove_from(&introspect(conn).await?);
    if let Some(left) = plan::diff(&reached, goal).first() {
        bail!(
            "the planned {file} does not reach its goal (next would be `{}`)",
            left.sql
        );
    }
    Ok(())
}

/// A migration file: a header, then each statement, with a comment above
/// those that lose data or may fail on existing rows.
fn render(plan: &Plan, what: &str) -> String {
    let mut out = String::from(
        "-- Written by `mv-admin generate` from schema.sql; review it before committing.\n",
    );
    if plan.loses_data() {
        out.push_str(&format!(
            "-- WARNING: {what} loses data; the statements that do are marked below.\n"
        ));
    }
    for step in plan.steps() {
        out.push('\n');
        if let Some(warning) = step.warning() {
            out.push_str(&format!("-- {warning}\n"));
        }
        out.push_str(&step.sql);
        out.push('\n');
    }
    out
}

/// Writes `folder/up.sql` and `folder/down.sql`; leaves nothing behind on failure.
pub fn write_migration(folder: &Path, migration: &Migration) -> Result<()> {
    std::fs::create_dir(folder)
        .with_context(|| format!("Failed to create {}", folder.display()))?;
    let written = std::fs::write(folder.join("up.sql"), migration.up_sql())
        .and_then(|()| std::fs::write(folder.join("down.sql"), migration.down_sql()));
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(folder);
        return Err(e).with_context(|| format!("Failed to write {}", folder.display()));
    }
    Ok(())
}

/// Diesel's rule for names, so the folder's name parses as a migration.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        bail!("the migration name {name:?} must be lower-case letters, digits and underscores");
    }
    Ok(())
}

/// The digits of a well-formed version, which order migrations as Diesel does.
pub fn version_digits(version: &str) -> Result<String> {
    let digits: String = version.chars().filter(|c| *c != '-').collect();
    if digits.len() != 14 || !digits.chars().all(|c| c.is_ascii_digit()) || version.contains("--") {
        bail!("the version {version:?} is not of the form YYYY-MM-DD-HHMMSS");
    }
    Ok(digits)
}

/// `migrations/<version>_<name>`, once the version is known to be well
/// formed and newer than every migration there.
pub fn migration_folder(migrations: &Path, version: &str, name: &str) -> Result<PathBuf> {
    let digits = version_digits(version)?;
    let entries = std::fs::read_dir(migrations)
        .with_context(|| format!("Failed to read {}", migrations.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("Failed to read {}", migrations.display()))?;
        let file_name = entry.file_name();
        let existing = file_name.to_string_lossy();
        let existing_version = existing.split('_').next().unwrap_or_default();
        let existing_digits: String = existing_version.chars().filter(|c| *c != '-').collect();
        if existing_digits >= digits && entry.path().is_dir() {
            bail!(
                "the version {version} must come after the migration {existing} already in {}",
                migrations.display()
            );
        }
    }
    Ok(migrations.join(format!("{version}_{name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions_are_checked() {
        assert!(check_name("add_video_notes").is_ok());
        for bad in ["", "Add", "add-notes", "a b"] {
            let err = check_name(bad).expect_err(bad).to_string();
            assert!(err.contains("lower-case letters"), "{err}");
        }
        let dir = std::env::temp_dir().join(format!("mv-admin-versions-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("2026-11-25-000001_create_schema")).expect("mkdir");
        let folder = migration_folder(&dir, "2026-12-01-120000", "x").expect("newer");
        assert!(folder.ends_with("2026-12-01-120000_x"));
        let err = migration_folder(&dir, "2026-11-25-000001", "x").expect_err("same");
        assert!(err.to_string().contains("must come after"), "{err}");
        let err = migration_folder(&dir, "yesterday", "x").expect_err("bad");
        assert!(err.to_string().contains("YYYY-MM-DD-HHMMSS"), "{err}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
