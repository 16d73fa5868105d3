//! `mv-admin tags` and `mv-admin categories`: the two kinds of label have
//! the same shape, so one module serves both.

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use db::models::{Category, Tag, User};
use diesel_async::AsyncPgConnection;
use serde::Serialize;

use crate::Context;
use crate::output::{Cell, DIM, Table, print, print_json, relative_time};

/// Which labels a command is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelKind {
    Tag,
    Category,
}

#[derive(Debug, Subcommand)]
pub enum LabelsCommand {
    /// List them, most used first, with how many videos carry each.
    List(ListArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Count only this user's videos (an id or an email address) and leave
    /// out the labels they do not use.
    #[arg(long, value_name = "ID|EMAIL", allow_hyphen_values = true)]
    pub user: Option<String>,
}

/// A label and how many videos carry it; in JSON, the label's columns and
/// `video_count`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelRow {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub video_count: i64,
}

macro_rules! label_row_from {
    ($($model:ty),*) => {$(
        impl From<($model, i64)> for LabelRow {
            fn from((label, video_count): ($model, i64)) -> Self {
                Self {
                    id: label.id,
                    name: label.name,
                    description: label.description,
                    created_at: label.created_at,
                    video_count,
                }
            }
        }
    )*};
}
label_row_from!(Tag, Category);

pub async fn run(context: &Context, kind: LabelKind, command: LabelsCommand) -> Result<()> {
    let LabelsCommand::List(args) = command;
    let mut conn = context.connect().await?;
    let rows = list(&mut conn, kind, args.user.as_deref()).await?;
    if context.json {
        print_json(&rows)
    } else {
        print(&render(kind, &rows, Utc::now()))
    }
}

/// Every label of this kind with its use over all videos, or, for a user
/// (an id or an email), the labels of their videos with their use there.
pub async fn list(
    conn: &mut AsyncPgConnection,
    kind: LabelKind,
    user: Option<&str>,
) -> Result<Vec<LabelRow>> {
    let user_id = match user {
        Some(key) => Some(User::find_by_id_or_email(conn, key).await?.id),
        None => None,
    };
    fn rows<L>(labels: Vec<(L, i64)>) -> Vec<LabelRow>
    where
        LabelRow: From<(L, i64)>,
    {
        labels.into_iter().map(LabelRow::from).collect()
    }
    Ok(match (kind, user_id) {
        (LabelKind::Tag, None) => rows(Tag::list_with_counts(conn).await?),
        (LabelKind::Tag, Some(id)) => rows(Tag::list_for_user(conn, &id).await?),
        (LabelKind::Category, None) => rows(Category::list_with_counts(conn).await?),
        (LabelKind::Category, Some(id)) => rows(Category::list_for_user(conn, &id).await?),
    })
}

/// Labels as a table.
pub fn render(kind: LabelKind, rows: &[LabelRow], now: DateTime<Utc>) -> String {
    if rows.is_empty() {
        return match kind {
            LabelKind::Tag => "no tags\n",
            LabelKind::Category => "no categories\n",
        }
        .to_string();
    }
    // Descriptions are optional; a column of blanks says nothing.
    let described = rows.iter().any(|row| row.description.is_some());
    let mut titles = vec!["NAME", "VIDEOS", "CREATED", "ID"];
    if described {
        titles.push("DESCRIPTION");
    }
    let mut table = Table::new(titles).right(1).flexible(4);
    for row in rows {
        let mut cells: Vec<Cell> = vec![
            row.name.as_str().into(),
            row.video_count.to_string().into(),
            relative_time(row.created_at, now).into(),
            Cell::styled(row.id.as_str(), DIM),
        ];
        if described {
            cells.push(row.description.as_deref().unwrap_or("").into());
        }
        table.push(cells);
    }
    table.render(crate::output::terminal_width())
}
