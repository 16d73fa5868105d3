//! `mv-admin schema`: writes `schema.rs` from the database's catalog, or
//! checks it.

use anyhow::{Context as _, Result, bail};
use schema_engine::schema_rs::{first_difference, generate};
use serde_json::json;

use crate::output::print_json;
use crate::{Context, SCHEMA_FILE, say};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Compare instead of writing: fail, showing the first difference, when
    /// the file is not what the database gives.
    #[arg(long)]
    pub check: bool,
    /// The file to write or check.
    #[arg(long, default_value = SCHEMA_FILE)]
    pub file: std::path::PathBuf,
    /// The schema.sql whose `-- mv:foreign` tables are left out (default:
    /// crates/db/schema.sql when run from the repository's root).
    #[arg(long, value_name = "FILE")]
    pub schema: Option<std::path::PathBuf>,
}

pub async fn run(context: &Context, args: Args) -> Result<()> {
    let foreign = super::declared_foreign(args.schema.as_deref())?;
    let mut conn = context.connect().await?;
    let generated = generate(&mut conn, &foreign).await?;
    if args.check {
        let current = std::fs::read_to_string(&args.file)
            .with_context(|| format!("Failed to read {}", args.file.display()))?;
        let difference = first_difference(&current, &generated);
        if context.json {
            print_json(&json!({
                "file": args.file,
                "matches": difference.is_none(),
                "difference": difference,
            }))?;
        }
        if let Some(difference) = difference {
            bail!(
                "{} differs from what the migrations produce ({difference}); run `mv-admin schema` and commit the result",
                args.file.display()
            );
        }
        if !context.json {
            say!("{} matches the database", args.file.display());
        }
    } else {
        std::fs::write(&args.file, &generated)
            .with_context(|| format!("Failed to write {}", args.file.display()))?;
        if context.json {
            print_json(&json!({ "file": args.file, "written": true }))?;
        } else {
            say!("wrote {}", args.file.display());
        }
    }
    Ok(())
}
