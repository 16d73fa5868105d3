//! Staged edits: each is tried in a transaction that is rolled back (the
//! SQL it runs is recorded and shown), then all are applied in one
//! transaction on confirmation. Videos, users, tags and categories change
//! only through the `db` crate's own functions, so the studio cannot write
//! what the application would refuse; other tables take plain cell edits,
//! inserts and deletes, values cast by the server.

use std::sync::{Arc, Mutex, PoisonError};

use axum::Form;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use db::models::{
    Category, NewUser, NewVideo, ProcessingStatus, Tag, User, VideoChanges, VideoSummary,
};
use diesel::connection::InstrumentationEvent;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use maud::{Markup, html};
use schema_engine::catalog::{Column, FkAction, Schema, Table};

use crate::browse::{self, Sql, key_columns};
use crate::error::{Result, StudioError};
use crate::layout::{Ctx, csrf_field, href, page};
use crate::pages::tables::table_href;
use crate::render::plural;
use crate::state::Mode;

/// Which label table an edit concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelKind {
    Tag,
    Category,
}

impl LabelKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Tag => "tag",
            Self::Category => "category",
        }
    }
}

/// One change, as staged.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    VideoDetails {
        user_id: String,
        id: String,
        title: Option<String>,
        description: Option<Option<String>>,
        channel_name: Option<Option<String>>,
        duration: Option<Option<i32>>,
        thumbnail_url: Option<Option<String>>,
    },
    VideoStatus {
        user_id: String,
        id: String,
        status: ProcessingStatus,
        error: Option<String>,
    },
    AddLabel {
        kind: LabelKind,
        user_id: String,
        video_id: String,
        name: String,
    },
    RemoveLabel {
        kind: LabelKind,
        user_id: String,
        video_id: String,
        name: String,
    },
    DeleteVideo {
        user_id: String,
        id: String,
    },
    DeleteUser {
        id: String,
    },
    /// A user's name and email, checked as the application checks them.
    UserProfile {
        id: String,
        name: String,
        email: String,
    },
    /// A tag or category renamed (normalised; for every user).
    RenameLabel {
        kind: LabelKind,
        id: String,
        name: String,
    },
    /// A tag or category deleted, with its links to every user's videos.
    DeleteLabel {
        kind: LabelKind,
        id: String,
    },
    /// A user, as the application creates one (a fresh id, a checked
    /// email that no other user has).
    NewUser {
        name: String,
        email: String,
    },
    /// A video saved for a user, as the application saves one.
    NewVideo {
        user_id: String,
        youtube_url: String,
        title: String,
    },
    /// A cell of a table the application does not guard.
    Cell {
        table: String,
        key: Vec<(String, String)>,
        column: String,
        value: Option<String>,
    },
    InsertRow {
        table: String,
        values: Vec<(String, Option<String>)>,
    },
    DeleteRow {
        table: String,
        key: Vec<(String, String)>,
    },
}

/// A staged edit with what trying it showed.
#[derive(Debug, Clone)]
pub struct Staged {
    pub edit: Edit,
    /// The statements it ran when tried, as Diesel writes them (with binds).
    pub statements: Vec<String>,
    /// What a delete takes with it: (table, rows, what happens to them).
    pub cascades: Vec<(String, i64, String)>,
}

fn quote(text: &str) -> String {
    format!("{text:?}")
}

fn key_text(key: &[(String, String)]) -> String {
    key.iter()
        .map(|(c, v)| format!("{c} = {}", quote(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Edit {
    pub fn describe(&self) -> String {
        match self {
            Self::VideoDetails {
                id,
                title,
                description,
                channel_name,
                duration,
                thumbnail_url,
                ..
            } => {
                let mut fields = Vec::new();
                if let Some(t) = title {
                    fields.push(format!("title = {}", quote(t)));
                }
                let mut optional = |name: &str, value: &Option<Option<String>>| {
                    if let Some(v) = value {
                        fields.push(format!(
                            "{name} = {}",
                            v.as_deref().map_or("NULL".into(), quote)
                        ));
                    }
                };
                optional("description", description);
                optional("channel_name", channel_name);
                optional("thumbnail_url", thumbnail_url);
                if let Some(d) = duration {
                    fields.push(format!(
                        "duration = {}",
                        d.map_or("NULL".into(), |d| d.to_string())
                    ));
                }
                format!("video {id}: {}", fields.join(", "))
            }
            Self::VideoStatus {
                id, status, error, ..
            } => match error {
                Some(error) => format!("video {id}: status → {status} ({})", quote(error)),
                None => format!("video {id}: status → {status}"),
            },
            Self::AddLabel {
                kind,
                video_id,
                name,
                ..
            } => {
                format!("video {video_id}: add {} {}", kind.as_str(), quote(name))
            }
            Self::RemoveLabel {
                kind,
                video_id,
                name,
                ..
            } => {
                format!("video {video_id}: remove {} {}", kind.as_str(), quote(name))
            }
            Self::DeleteVideo { id, .. } => format!("delete video {id}"),
            Self::DeleteUser { id } => format!("delete user {id}"),
            Self::NewUser { name, email } => {
                format!("create user {} <{}>", quote(name), quote(email))
            }
            Self::UserProfile { id, name, email } => {
                format!("user {id}: name {}, email {}", quote(name), quote(email))
            }
            Self::RenameLabel { kind, id, name } => {
                format!("rename {} {id} to {}", kind.as_str(), quote(name))
            }
            Self::DeleteLabel { kind, id } => format!("delete {} {id}", kind.as_str()),
            Self::NewVideo {
                user_id,
                youtube_url,
                title,
            } => format!(
                "save video {} for user {user_id}: {}",
                quote(youtube_url),
                quote(title)
            ),
            Self::Cell {
                table,
                key,
                column,
                value,
            } => format!(
                "{table} ({}): {column} = {}",
                key_text(key),
                value.as_deref().map_or("NULL".into(), quote)
            ),
            Self::InsertRow { table, values } => format!(
                "insert into {table}: {}",
                values
                    .iter()
                    .map(|(c, v)| format!("{c} = {}", v.as_deref().map_or("NULL".into(), quote)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::DeleteRow { table, key } => format!("delete from {table} ({})", key_text(key)),
        }
    }

    /// What a delete starts from: the table and the row's key.
    fn deleted_row(&self) -> Option<(String, Vec<(String, String)>)> {
        match self {
            Self::DeleteVideo { id, .. } => {
                Some(("video_summary".into(), vec![("id".into(), id.clone())]))
            }
            Self::DeleteUser { id } => Some(("user".into(), vec![("id".into(), id.clone())])),
            Self::DeleteLabel { kind, id } => {
                Some((kind.as_str().into(), vec![("id".into(), id.clone())]))
            }
            Self::DeleteRow { table, key } => Some((table.clone(), key.clone())),
            _ => None,
        }
    }

    async fn apply(&self, conn: &mut AsyncPgConnection, schema: &Schema) -> Result<()> {
        match self {
            Self::VideoDetails {
                user_id,
                id,
                title,
                description,
                channel_name,
                duration,
                thumbnail_url,
            } => {
                VideoChanges {
                    title: title.as_deref(),
                    description: description.as_ref().map(|v| v.as_deref()),
                    channel_name: channel_name.as_ref().map(|v| v.as_deref()),
                    duration: *duration,
                    thumbnail_url: thumbnail_url.as_ref().map(|v| v.as_deref()),
                }
                .apply(conn, user_id, id)
                .await?;
            }
            Self::VideoStatus {
                user_id,
                id,
                status,
                error,
            } => {
                VideoSummary::update_processing_status(
                    conn,
                    user_id,
                    id,
                    *status,
                    error.as_deref(),
                )
                .await?;
            }
            Self::AddLabel {
                kind,
                user_id,
                video_id,
                name,
            } => match kind {
                LabelKind::Tag => drop(Tag::attach(conn, user_id, video_id, &[name]).await?),
                LabelKind::Category => {
                    drop(Category::attach(conn, user_id, video_id, &[name]).await?)
                }
            },
            Self::RemoveLabel {
                kind,
                user_id,
                video_id,
                name,
            } => {
                let removed = match kind {
                    LabelKind::Tag => Tag::detach(conn, user_id, video_id, &[name]).await?,
                    LabelKind::Category => {
                        Category::detach(conn, user_id, video_id, &[name]).await?
                    }
                };
                if removed == 0 {
                    return Err(StudioError::BadRequest(format!(
                        "the video has no {} {}",
                        kind.as_str(),
                        quote(name)
                    )));
                }
            }
            Self::DeleteVideo { user_id, id } => VideoSummary::delete(conn, user_id, id).await?,
            Self::DeleteUser { id } => User::delete(conn, id).await?,
            Self::NewUser { name, email } => {
                let id = db::models::new_id();
                NewUser::new(&id, name, email).insert(conn).await?;
            }
            Self::UserProfile { id, name, email } => {
                User::update_profile(conn, id, name, email).await?;
            }
            Self::RenameLabel { kind, id, name } => match kind {
                LabelKind::Tag => drop(Tag::rename(conn, id, name).await?),
                LabelKind::Category => drop(Category::rename(conn, id, name).await?),
            },
            Self::DeleteLabel { kind, id } => match kind {
                LabelKind::Tag => Tag::delete(conn, id).await?,
                LabelKind::Category => Category::delete(conn, id).await?,
            },
            Self::NewVideo {
                user_id,
                youtube_url,
                title,
            } => {
                NewVideo {
                    user_id,
                    youtube_url,
                    title,
                    ..NewVideo::default()
                }
                .insert(conn)
                .await?;
            }
            Self::Cell {
                table,
                key,
                column,
                value,
            } => {
                let table = guarded_table(schema, table)?;
                let target = browse::column(table, column)?;
                let mut sql = Sql::default();
                let set = format!(
                    "{} = {}",
                    target.ident,
                    sql.param(value.clone(), &target.sql_type)
                );
                let filter = key_filter(table, "t", key, &mut sql)?;
                sql.text = format!("UPDATE {} t SET {set} WHERE {filter}", table.ident);
                expect_one(sql.execute(conn).await?, table)?;
            }
            Self::InsertRow { table, values } => {
                let table = guarded_table(schema, table)?;
                let mut sql = Sql::default();
                let mut columns = Vec::new();
                let mut casts = Vec::new();
                for (name, value) in values {
                    let column = browse::column(table, name)?;
                    columns.push(column.ident.clone());
                    casts.push(sql.param(value.clone(), &column.sql_type));
                }
                sql.text = if columns.is_empty() {
                    format!("INSERT INTO {} DEFAULT VALUES", table.ident)
                } else {
                    format!(
                        "INSERT INTO {} ({}) VALUES ({})",
                        table.ident,
                        columns.join(", "),
                        casts.join(", ")
                    )
                };
                sql.execute(conn).await?;
            }
            Self::DeleteRow { table, key } => {
                let table = guarded_table(schema, table)?;
                let mut sql = Sql::default();
                let filter = key_filter(table, "t", key, &mut sql)?;
                sql.text = format!("DELETE FROM {} t WHERE {filter}", table.ident);
                expect_one(sql.execute(conn).await?, table)?;
            }
        }
        Ok(())
    }
}

fn expect_one(changed: usize, table: &Table) -> Result<()> {
    match changed {
        1 => Ok(()),
        0 => Err(StudioError::NotFound(format!(
            "no row of {} has that key",
            table.name
        ))),
        n => Err(StudioError::BadRequest(format!(
            "the key matches {n} rows of {}: name the whole primary key",
            table.name
        ))),
    }
}

/// A table plain edits may change: not one the application guards.
fn guarded_table<'s>(schema: &'s Schema, name: &str) -> Result<&'s Table> {
    if browse::is_app_table(name) {
        return Err(StudioError::Refused(format!(
            "{name} is the application's table: change it on the video or library pages, \
             through the application's own rules"
        )));
    }
    browse::table(schema, name)
}

/// `alias.k1 = $n AND ...` for the whole primary key.
fn key_filter(
    table: &Table,
    alias: &str,
    key: &[(String, String)],
    sql: &mut Sql,
) -> Result<String> {
    let columns = key_columns(table);
    if columns.is_empty() {
        return Err(StudioError::Refused(format!(
            "{} has no primary key: the studio cannot name one row of it",
            table.name
        )));
    }
    let mut pairs = Vec::new();
    for column in columns {
        let value = key
            .iter()
            .find(|(name, _)| *name == column.name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| StudioError::BadRequest(format!("the key lacks {}", column.name)))?;
        pairs.push((column, Some(value)));
    }
    Ok(sql.equal(alias, &pairs))
}

/// What deleting the row takes with it, following ON DELETE CASCADE to any
/// depth, and which foreign keys would refuse or clear instead.
async fn cascades(
    conn: &mut AsyncPgConnection,
    schema: &Schema,
    table: &Table,
    key: &[(String, String)],
) -> Result<Vec<(String, i64, String)>> {
    let mut sql = Sql::default();
    let filter = key_filter(table, "t0", key, &mut sql)?;
    let root = Level {
        table,
        from: format!("FROM {} t0 WHERE {filter}", table.ident),
        depth: 0,
    };
    let mut found = Vec::new();
    let mut queue = vec![root];
    let mut path_guard = 0;
    while let Some(level) = queue.pop() {
        path_guard += 1;
        if path_guard > 64 {
            break;
        }
        for other in schema.tables.values() {
            for fk in other.foreign_keys() {
                let Some(references) = &fk.references else {
                    continue;
                };
                if references.table != level.table.name {
                    continue;
                }
                let alias = format!("t{}", level.depth + 1);
                let near: Vec<String> = fk
                    .columns
                    .iter()
                    .filter_map(|c| other.column(c).map(|c| format!("{alias}.{}", c.ident)))
                    .collect();
                let far: Vec<String> = references
                    .columns
                    .iter()
                    .filter_map(|c| {
                        level
                            .table
                            .column(c)
                            .map(|c| format!("t{}.{}", level.depth, c.ident))
                    })
                    .collect();
                let from = format!(
                    "FROM {} {alias} WHERE ({}) IN (SELECT {} {})",
                    other.ident,
                    near.join(", "),
                    far.join(", "),
                    level.from
                );
                let count = Sql {
                    text: format!("SELECT count(*) AS n {from}"),
                    params: sql.params.clone(),
                }
                .count(conn)
                .await?;
                if count == 0 {
                    continue;
                }
                let action = match references.on_delete {
                    FkAction::Cascade => "deleted too",
                    FkAction::SetNull => "their reference set to NULL",
                    FkAction::SetDefault => "their reference set to its default",
                    FkAction::NoAction | FkAction::Restrict => {
                        "they refuse the delete (no cascade)"
                    }
                };
                found.push((other.name.clone(), count, action.to_string()));
                if references.on_delete == FkAction::Cascade && level.depth < 5 {
                    queue.push(Level {
                        table: other,
                        from,
                        depth: level.depth + 1,
                    });
                }
            }
        }
    }
    Ok(found)
}

struct Level<'s> {
    table: &'s Table,
    from: String,
    depth: usize,
}

impl Sql {
    /// Runs a statement that returns no rows; how many rows it changed.
    pub async fn execute(self, conn: &mut AsyncPgConnection) -> Result<usize> {
        use diesel::pg::Pg;
        use diesel::sql_types::{Nullable, Text};
        use diesel_async::RunQueryDsl;
        let mut query = diesel::sql_query(self.text).into_boxed::<Pg>();
        for param in self.params {
            query = query.bind::<Nullable<Text>, _>(param);
        }
        Ok(query.execute(conn).await?)
    }
}

/// Records what a connection sends while `f` runs.
async fn recording<T>(
    conn: &mut AsyncPgConnection,
    f: impl AsyncFnOnce(&mut AsyncPgConnection) -> Result<T>,
) -> (Result<T>, Vec<String>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(query.to_string());
        }
    });
    let result = f(conn).await;
    conn.set_instrumentation(|_: InstrumentationEvent<'_>| {});
    let statements = std::mem::take(&mut *log.lock().unwrap_or_else(PoisonError::into_inner));
    (result, statements)
}

/// Tries `edits` after the already staged ones, in a transaction that is
/// always rolled back; the new edits' statements and cascades, or the
/// first failure.
async fn try_edits(ctx: &Ctx, new: Vec<Edit>) -> Result<Vec<Staged>> {
    let schema = ctx.state.catalog().await?;
    let before: Vec<Edit> = ctx
        .state
        .staged
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|s| s.edit.clone())
        .collect();
    let outcome = ctx
        .state
        .write(move |conn| {
            Box::pin(async move {
                for edit in &before {
                    edit.apply(conn, &schema).await?;
                }
                let mut staged = Vec::new();
                for edit in new {
                    let cascades = match edit.deleted_row() {
                        Some((table, key)) => {
                            cascades(conn, &schema, browse::table(&schema, &table)?, &key).await?
                        }
                        None => Vec::new(),
                    };
                    let (result, statements) =
                        recording(conn, async |conn| edit.apply(conn, &schema).await).await;
                    result?;
                    staged.push(Staged {
                        edit,
                        statements,
                        cascades,
                    });
                }
                Err::<(), _>(StudioError::Tried(staged))
            })
        })
        .await;
    match outcome {
        Err(StudioError::Tried(staged)) => Ok(staged),
        Err(e) => Err(e),
        Ok(()) => Ok(Vec::new()),
    }
}

/// A refused edit: the page says why and what to do.
fn refused(ctx: &Ctx, edit: &Edit, error: &StudioError) -> Response {
    let hint = match ctx.state.mode {
        Mode::ReadOnly => {
            Some("The studio is read-only: start it with mv-admin studio --write to change data.")
        }
        Mode::Production => {
            Some("The database carries the production mark: the studio does not change it.")
        }
        Mode::Write => None,
    };
    let status = match error.status() {
        StatusCode::INTERNAL_SERVER_ERROR => StatusCode::INTERNAL_SERVER_ERROR,
        _ if ctx.state.mode != Mode::Write => StatusCode::FORBIDDEN,
        other => other,
    };
    let body = page(
        ctx,
        "Edit refused",
        html! {
            p.error role="alert" { "Refused: " (edit.describe()) }
            p.error { (error.message()) }
            @if let Some(hint) = hint { p.hint { (hint) } }
            p { a href="/changes" { "Staged changes" } }
        },
    );
    (status, body).into_response()
}

/// Stages `edit` if trying it succeeds; else shows why not.
pub async fn stage(ctx: &Ctx, edit: Edit, back: &str) -> Response {
    match try_edits(ctx, vec![edit.clone()]).await {
        Ok(staged) => {
            ctx.state
                .staged
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(staged);
            see_other(back)
        }
        Err(error) => refused(ctx, &edit, &error),
    }
}

pub fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

/// The form fields of an edit (`POST /edits`).
#[derive(Debug, serde::Deserialize)]
pub struct EditForm {
    kind: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    table: String,
    #[serde(default)]
    column: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    null: Option<String>,
    #[serde(default)]
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(flatten)]
    rest: std::collections::BTreeMap<String, String>,
}

/// The label an edit's kind names (`..._tag` or `..._category`).
fn label_kind(kind: &str) -> LabelKind {
    if kind.ends_with("tag") {
        LabelKind::Tag
    } else {
        LabelKind::Category
    }
}

/// On a tag's or category's row page: rename it, or delete it.
pub fn label_forms(ctx: &Ctx, table: &Table, key: &[(String, String)]) -> Markup {
    let kind = match table.name.as_str() {
        "tag" | "category" => table.name.as_str(),
        _ => return html! {},
    };
    let Some((_, id)) = key.iter().find(|(column, _)| column == "id") else {
        return html! {};
    };
    if ctx.state.mode != Mode::Write {
        return html! {};
    }
    html! {
        form.edit method="post" hx-boost="false" action="/edits" {
            (csrf_field(ctx))
            input type="hidden" name="kind" value=(format!("rename_{kind}"));
            input type="hidden" name="id" value=(id);
            label for="label-name" { "new name (for every user)" }
            input #label-name type="text" name="name" required;
            button type="submit" { "Stage renaming" }
        }
        form.delete method="post" hx-boost="false" action="/edits" {
            (csrf_field(ctx))
            input type="hidden" name="kind" value=(format!("delete_{kind}"));
            input type="hidden" name="id" value=(id);
            button.danger type="submit" { "Stage deleting this " (kind) }
        }
    }
}

/// A form field: trimmed, and empty is none.
fn optional(text: &str) -> Option<String> {
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

/// `POST /edits`: stage one edit.
pub async fn post_edit(ctx: Ctx, Form(form): Form<EditForm>) -> Result<Response> {
    let edit = match form.kind.as_str() {
        "video_details" => {
            let (user_id, id) = (form.user_id.clone(), form.id.clone());
            let current = ctx
                .state
                .read(move |conn| {
                    Box::pin(async move { Ok(VideoSummary::find(conn, &user_id, &id).await?) })
                })
                .await?;
            // Only the fields the form sent, and only where they differ.
            let changed = |name: &str, was: &Option<String>| {
                let now = optional(form.rest.get(name)?);
                (now != *was).then_some(now)
            };
            let title = form.rest.get("title").map(|t| t.trim().to_string());
            let duration = match form.rest.get("duration").map(|d| optional(d)) {
                Some(Some(text)) => Some(Some(text.parse::<i32>().map_err(|_| {
                    StudioError::BadRequest(format!(
                        "duration {text:?} is not a whole number of seconds"
                    ))
                })?)),
                Some(None) => Some(None),
                None => None,
            };
            Edit::VideoDetails {
                user_id: form.user_id.clone(),
                id: form.id.clone(),
                title: title.filter(|t| *t != current.title),
                description: changed("description", &current.description),
                channel_name: changed("channel_name", &current.channel_name),
                duration: duration.filter(|d| *d != current.duration),
                thumbnail_url: changed("thumbnail_url", &current.thumbnail_url),
            }
        }
        "video_status" => Edit::VideoStatus {
            user_id: form.user_id.clone(),
            id: form.id.clone(),
            status: form
                .status
                .parse()
                .map_err(|e: db::models::UnknownStatus| StudioError::BadRequest(e.to_string()))?,
            error: form.error.as_deref().and_then(optional),
        },
        "add_tag" | "add_category" | "remove_tag" | "remove_category" => {
            let kind = if form.kind.ends_with("tag") {
                LabelKind::Tag
            } else {
                LabelKind::Category
            };
            let (user_id, video_id, name) =
                (form.user_id.clone(), form.id.clone(), form.name.clone());
            if form.kind.starts_with("add") {
                Edit::AddLabel {
                    kind,
                    user_id,
                    video_id,
                    name,
                }
            } else {
                Edit::RemoveLabel {
                    kind,
                    user_id,
                    video_id,
                    name,
                }
            }
        }
        "delete_video" => Edit::DeleteVideo {
            user_id: form.user_id.clone(),
            id: form.id.clone(),
        },
        "new_video" => Edit::NewVideo {
            user_id: form.user_id.clone(),
            youtube_url: form.rest.get("youtube_url").cloned().unwrap_or_default(),
            title: form.rest.get("title").cloned().unwrap_or_default(),
        },
        "delete_user" => Edit::DeleteUser {
            id: form.id.clone(),
        },
        "user_profile" => Edit::UserProfile {
            id: form.id.clone(),
            name: form.name.clone(),
            email: form.rest.get("email").cloned().unwrap_or_default(),
        },
        "rename_tag" | "rename_category" => Edit::RenameLabel {
            kind: label_kind(&form.kind),
            id: form.id.clone(),
            name: form.name.clone(),
        },
        "delete_tag" | "delete_category" => Edit::DeleteLabel {
            kind: label_kind(&form.kind),
            id: form.id.clone(),
        },
        "new_user" => Edit::NewUser {
            name: form.name.clone(),
            email: form.rest.get("email").cloned().unwrap_or_default(),
        },
        "cell" => Edit::Cell {
            table: form.table.clone(),
            key: prefixed(&form.rest, "k."),
            column: form.column.clone(),
            value: if form.null.is_some() {
                None
            } else {
                Some(form.value.clone().unwrap_or_default())
            },
        },
        "delete_row" => Edit::DeleteRow {
            table: form.table.clone(),
            key: prefixed(&form.rest, "k."),
        },
        "insert_row" => {
            let nulls: Vec<String> = prefixed(&form.rest, "null.")
                .into_iter()
                .map(|(c, _)| c)
                .collect();
            let mut values: Vec<(String, Option<String>)> = prefixed(&form.rest, "v.")
                .into_iter()
                .filter(|(column, value)| !value.is_empty() && !nulls.contains(column))
                .map(|(column, value)| (column, Some(value)))
                .collect();
            values.extend(nulls.into_iter().map(|column| (column, None)));
            Edit::InsertRow {
                table: form.table.clone(),
                values,
            }
        }
        other => {
            return Err(StudioError::BadRequest(format!(
                "{other:?} is not an edit the studio knows"
            )));
        }
    };
    // Then the staged changes, with their SQL.
    Ok(stage(&ctx, edit, "/changes").await)
}

fn prefixed(
    fields: &std::collections::BTreeMap<String, String>,
    prefix: &str,
) -> Vec<(String, String)> {
    fields
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(prefix).map(|c| (c.to_string(), v.clone())))
        .collect()
}

/// `GET /changes`: what is staged, as the SQL it ran when tried.
pub async fn changes(ctx: Ctx) -> Markup {
    let staged = ctx
        .state
        .staged
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    page(
        &ctx,
        "Staged changes",
        html! {
            @match ctx.state.mode {
                Mode::ReadOnly => p.hint { "The studio is read-only (started without --write): the database refuses every change." },
                Mode::Production => p.hint { "The database carries the production mark: the studio does not change it, even with --write." },
                Mode::Write => p.lead { "Each change below was tried in a transaction that was rolled back. Apply runs them all in one transaction: all or nothing." },
            }
            @if staged.is_empty() { p.empty { "Nothing is staged." } }
            ol.staged {
                @for (i, item) in staged.iter().enumerate() {
                    li {
                        strong { (item.edit.describe()) }
                        @if !item.cascades.is_empty() {
                            ul.cascades {
                                @for (table, count, action) in &item.cascades {
                                    li { (plural(*count, &format!("{table} row"))) ": " (action) }
                                }
                            }
                        }
                        pre.sql { @for statement in &item.statements { (statement) "\n" } }
                        form method="post" hx-boost="false" action=(format!("/changes/{i}/remove")) {
                            (csrf_field(&ctx))
                            button type="submit" { "Unstage" }
                        }
                    }
                }
            }
            @if !staged.is_empty() {
                div.actions {
                    form method="post" hx-boost="false" action="/changes/apply" {
                        (csrf_field(&ctx))
                        button.primary type="submit" { "Apply " (plural(staged.len() as i64, "change")) }
                    }
                    form method="post" hx-boost="false" action="/changes/discard" {
                        (csrf_field(&ctx))
                        button type="submit" { "Discard all" }
                    }
                }
            }
        },
    )
}

/// `POST /changes/apply`: every staged edit in one transaction.
pub async fn apply(ctx: Ctx) -> Result<Response> {
    let staged: Vec<Edit> = ctx
        .state
        .staged
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|s| s.edit.clone())
        .collect();
    let schema = ctx.state.catalog().await?;
    let count = staged.len();
    let result = ctx
        .state
        .write(move |conn| {
            Box::pin(async move {
                for edit in &staged {
                    edit.apply(conn, &schema).await.map_err(|e| {
                        StudioError::Refused(format!("{}: {}", edit.describe(), e.message()))
                    })?;
                }
                Ok(())
            })
        })
        .await;
    match result {
        Ok(()) => {
            ctx.state
                .staged
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
            Ok(page(
                &ctx,
                "Changes applied",
                html! {
                    p.ok role="status" { "Applied " (plural(count as i64, "change")) " in one transaction." }
                    p { a href="/" { "Tables" } }
                },
            )
            .into_response())
        }
        Err(error) => Ok((
            error.status(),
            page(
                &ctx,
                "Nothing was applied",
                html! {
                    p.error role="alert" { (error.message()) }
                    p { "The transaction was rolled back. " a href="/changes" { "Staged changes" } }
                },
            ),
        )
            .into_response()),
    }
}

/// `POST /changes/discard`.
pub async fn discard(ctx: Ctx) -> Response {
    ctx.state
        .staged
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
    see_other("/changes")
}

/// `POST /changes/{i}/remove`: unstage one (the others stay as tried).
pub async fn remove(ctx: Ctx, Path(index): Path<usize>) -> Response {
    let mut staged = ctx
        .state
        .staged
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if index < staged.len() {
        staged.remove(index);
    }
    see_other("/changes")
}

/// The edit form of one cell of a plain table.
pub fn cell_form(
    ctx: &Ctx,
    table: &Table,
    column: &Column,
    key: &[(String, String)],
    value: Option<&str>,
) -> Markup {
    html! {
        form.cell method="post" hx-boost="false" action="/edits" {
            (csrf_field(ctx))
            input type="hidden" name="kind" value="cell";
            input type="hidden" name="table" value=(table.name);
            input type="hidden" name="column" value=(column.name);
            @for (name, v) in key { input type="hidden" name=(format!("k.{name}")) value=(v); }
            input type="text" name="value" value=(value.unwrap_or("")) aria-label=(format!("new value of {}", column.name));
            @if !column.not_null { label { input type="checkbox" name="null" value="1" checked[value.is_none()]; " NULL" } }
            button type="submit" { "Stage" }
        }
    }
}

/// The delete button of a row of a plain table (write mode only).
pub fn delete_form(ctx: &Ctx, table: &Table, key: &[(String, String)]) -> Markup {
    if ctx.state.mode != Mode::Write || browse::is_app_table(&table.name) || key.is_empty() {
        return html! {};
    }
    html! {
        form.delete method="post" hx-boost="false" action="/edits" {
            (csrf_field(ctx))
            input type="hidden" name="kind" value="delete_row";
            input type="hidden" name="table" value=(table.name);
            @for (name, v) in key { input type="hidden" name=(format!("k.{name}")) value=(v); }
            button.danger type="submit" { "Stage deleting this row" }
        }
    }
}

/// `GET /tables/{name}/new`: the form for a new row of a plain table.
pub async fn new_row(
    ctx: Ctx,
    Path(name): Path<String>,
    Query(_q): Query<Vec<(String, String)>>,
) -> Result<Markup> {
    let (_, table) = ctx.state.table(&name).await?;
    Ok(page(
        &ctx,
        &format!("New {} row", table.name),
        html! {
            @if browse::is_app_table(&table.name) {
                p.hint { (table.name) " is the application's table: add videos and users through the application's rules." }
            }
            form.new-row method="post" hx-boost="false" action="/edits" {
                (csrf_field(&ctx))
                input type="hidden" name="kind" value="insert_row";
                input type="hidden" name="table" value=(table.name);
                table.record {
                    @for column in &table.columns {
                        tr {
                            th scope="row" { label for=(format!("v-{}", column.name)) { (column.name) } br; small.type { (column.sql_type) } }
                            td {
                                input id=(format!("v-{}", column.name)) type="text" name=(format!("v.{}", column.name))
                                    placeholder=(column.default.as_deref().map_or("(no default)".to_string(), |d| format!("default: {d}")));
                                @if !column.not_null { label { input type="checkbox" name=(format!("null.{}", column.name)) value="1"; " NULL" } }
                            }
                        }
                    }
                }
                button type="submit" { "Stage the new row" }
                " " a href=(href(&table_href(&table.name), &[])) { "Cancel" }
            }
        },
    ))
}
