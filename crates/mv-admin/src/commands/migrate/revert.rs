//! `mv-admin migrate revert` and `mv-admin migrate redo`.

use anyhow::Result;
use diesel_async::AsyncPgConnection;
use schema_engine::migrations::{self, DataLoss, DataLossPolicy, MigrationSet, Options};

use super::{engine_error, print_report};
use crate::Context;
use crate::output::confirm;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many of the newest applied migrations.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub steps: u32,

    /// Revert even when down.sql drops tables or columns that hold data.
    /// Without it, such a revert asks on a terminal and refuses elsewhere.
    #[arg(long)]
    pub accept_data_loss: bool,
}

pub async fn run(
    context: &Context,
    conn: &mut AsyncPgConnection,
    set: &MigrationSet,
    options: &Options,
    args: Args,
    redo: bool,
) -> Result<()> {
    let mut ask = ask_on_terminal;
    let policy = if args.accept_data_loss {
        DataLossPolicy::Accept
    } else {
        DataLossPolicy::Ask(&mut ask)
    };
    let steps = args.steps as usize;
    let report = if redo {
        migrations::redo(conn, set, options, steps, policy).await
    } else {
        migrations::revert(conn, set, options, steps, policy).await
    }
    .map_err(engine_error)?;
    print_report(context, &report)?;
    Ok(())
}

/// Lists what would be deleted and asks; without a terminal the answer is no,
/// and the refusal lists the same.
fn ask_on_terminal(losses: &[DataLoss]) -> bool {
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return false;
    }
    eprintln!("reverting would delete:");
    for loss in losses {
        eprintln!("  {}", loss.describe());
    }
    confirm("Revert and delete this data?").unwrap_or(false)
}
