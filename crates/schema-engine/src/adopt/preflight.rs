//! What must be resolved before the conversion, and what to know before it.
//! Reads only: adopt never edits the team's rows.

use std::collections::BTreeMap;

use db::models::{ProcessingStatus, normalize_name};
use diesel::prelude::*;
use diesel::sql_types::{Array, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

use super::FOREIGN_TABLES;
use crate::catalog::{FkAction, Schema};
use crate::error::{Context as _, Result};

/// A blocker or a warning: what, which rows, and the query that finds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// A stable name for scripts: `duplicate_saves`, `invalid_json`, ...
    pub kind: &'static str,
    pub message: String,
    /// The ids of the rows concerned (the first [`LISTED`]; the query finds
    /// them all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<String>,
    /// How many rows are concerned.
    pub row_count: usize,
    /// The read-only query that lists them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// At most this many row ids are listed in a finding; its query finds all.
pub const LISTED: usize = 100;
/// At most this many are named in its message.
const NAMED: usize = 20;

/// Videos saved twice by one user: the unique key cannot be built.
pub const DUPLICATES: &str = "SELECT user_id || ' ' || youtube_id AS key, \
     array_agg(id ORDER BY created_at, id) AS ids \
     FROM video_summary GROUP BY user_id, youtube_id HAVING count(*) > 1 \
     ORDER BY user_id, youtube_id";

/// JSON that jsonb refuses: a `\u0000` escape, or a UTF-16 surrogate escape
/// not in a high-low pair. The regular expression reads the text's escapes
/// from left to right (so `\\u0000`, an escaped backslash, is no escape),
/// taking a valid pair as one; a NUL or a surrogate left alone is refused.
/// The same test as PostgreSQL's jsonb input in a UTF-8 database, on every
/// version (pg_input_is_valid only came with 16).
pub const INVALID_JSON: &str = r"SELECT id AS key, ARRAY[id] AS ids FROM video_summary v
     WHERE strpos(ai_generated_content::text, '\u') > 0
       AND EXISTS (SELECT 1 FROM regexp_matches(v.ai_generated_content::text,
             '\\(u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)', 'g') AS m
           WHERE m[1] ~* '^u(0000|d[89a-f][0-9a-f]{2})$')
     ORDER BY id";

/// AI content that is not a JSON object (the JSON literal `null`, an array,
/// a string, a number): the data layer reads only objects. Read from the
/// text, so it works on json and jsonb alike.
pub const NOT_AN_OBJECT: &str = r"SELECT id AS key, ARRAY[id] AS ids FROM video_summary
     WHERE ai_generated_content IS NOT NULL
       AND left(ltrim(ai_generated_content::text, E' \t\n\r'), 1) <> '{'
     ORDER BY id";

/// Videos still being processed by the TypeScript app's workers.
pub const PROCESSING: &str = "SELECT id AS key, ARRAY[id] AS ids FROM video_summary \
     WHERE processing_status = 'processing' ORDER BY id";

/// A status outside the four the CHECK constraint allows.
fn unknown_status_query() -> String {
    let known: Vec<String> = ProcessingStatus::ALL
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!(
        "SELECT id || ' (' || processing_status || ')' AS key, ARRAY[id] AS ids \
         FROM video_summary WHERE processing_status NOT IN ({}) ORDER BY id",
        known.join(", ")
    )
}

#[derive(QueryableByName)]
struct Keyed {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Array<Text>)]
    ids: Vec<String>,
}

async fn keyed(conn: &mut AsyncPgConnection, query: &str) -> Result<Vec<Keyed>> {
    diesel::sql_query(query)
        .load(conn)
        .await
        .with_context(|| format!("Failed to run the preflight query {query}"))
}

/// The rows `query` finds, as a finding, or none when it finds nothing:
/// `describe` says what they are (given how many), `item` names one.
async fn finding(
    conn: &mut AsyncPgConnection,
    kind: &'static str,
    query: &str,
    describe: impl Fn(usize) -> String,
    item: impl Fn(&Keyed) -> String,
) -> Result<Option<Finding>> {
    let found = keyed(conn, query).await?;
    if found.is_empty() {
        return Ok(None);
    }
    let items: Vec<String> = found.iter().map(item).collect();
    let message = format!("{}: {}", describe(found.len()), named(&items));
    let ids: Vec<String> = found.iter().flat_map(|k| k.ids.iter().cloned()).collect();
    Ok(Some(Finding {
        kind,
        message,
        row_count: ids.len(),
        rows: ids.into_iter().take(LISTED).collect(),
        query: Some(query.split_whitespace().collect::<Vec<_>>().join(" ")),
    }))
}

/// The first items, and how many more there are.
fn named(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if items.len() > NAMED {
        text.push_str(&format!(
            " (and {} more, which the query lists)",
            items.len() - NAMED
        ));
    }
    text
}

fn key(found: &Keyed) -> String {
    found.key.clone()
}

/// What stops the conversion until a person resolves it.
pub async fn blockers(conn: &mut AsyncPgConnection) -> Result<Vec<Finding>> {
    let mut found = Vec::new();
    found.extend(
        finding(
            conn,
            "duplicate_saves",
            DUPLICATES,
            |n| {
                format!(
                    "{n} video(s) saved more than once by the same user, so the unique key \
                     (user_id, youtube_id) cannot be built; keep one video of each and delete \
                     the others (or merge them)"
                )
            },
            |k| format!("{} in videos {}", k.key, k.ids.join(", ")),
        )
        .await?,
    );
    found.extend(
        finding(
            conn,
            "invalid_json",
            INVALID_JSON,
            |n| {
                format!(
                    "{n} video(s) hold AI content that jsonb cannot hold (a \\u0000 escape or a \
                 lone UTF-16 surrogate escape); remove the NUL or the broken escape from \
                 ai_generated_content"
                )
            },
            key,
        )
        .await?,
    );
    found.extend(
        finding(
            conn,
            "unknown_status",
            &unknown_status_query(),
            |n| {
                format!(
                    "{n} video(s) have a processing_status other than pending, processing, \
                 completed or failed"
                )
            },
            key,
        )
        .await?,
    );
    found.extend(
        finding(
            conn,
            "content_not_an_object",
            NOT_AN_OBJECT,
            |n| {
                format!(
                    "{n} video(s) hold AI content that is not a JSON object (the data layer reads \
                 objects only); set it to an object, or to NULL"
                )
            },
            key,
        )
        .await?,
    );
    Ok(found)
}

#[derive(QueryableByName)]
struct Label {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct ZoneSetting {
    #[diesel(sql_type = Text)]
    place: String,
    #[diesel(sql_type = Text)]
    zone: String,
}

/// The time zone a new session gets, and every database or role setting of
/// TimeZone that applies to this database, that is not UTC (tested by
/// offset in January and July, so every alias of UTC passes).
const TIME_ZONES: &str = r"
WITH settings AS (
    SELECT 'the default of new sessions of ' || current_user AS place,
           (SELECT reset_val FROM pg_settings WHERE name = 'TimeZone') AS zone
    UNION ALL
    SELECT CASE WHEN s.setrole = 0 THEN 'database ' || current_database()
                WHEN s.setdatabase = 0 THEN 'role ' || r.rolname
                ELSE 'role ' || r.rolname || ' in database ' || current_database() END,
           substr(c, strpos(c, '=') + 1)
    FROM pg_db_role_setting s
    LEFT JOIN pg_roles r ON r.oid = s.setrole
    CROSS JOIN LATERAL unnest(s.setconfig) AS c
    WHERE lower(c) LIKE 'timezone=%'
      AND (s.setdatabase = 0 OR s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()))
)
SELECT place, zone FROM settings
WHERE ('2025-01-15 12:00'::timestamp AT TIME ZONE zone) <> '2025-01-15 12:00+00'::timestamptz
   OR ('2025-07-15 12:00'::timestamp AT TIME ZONE zone) <> '2025-07-15 12:00+00'::timestamptz
ORDER BY place";

/// What the conversion does not need resolved, but a person should know.
pub async fn warnings(conn: &mut AsyncPgConnection, live: &Schema) -> Result<Vec<Finding>> {
    let mut found = Vec::new();
    found.extend(
        finding(
            conn,
            "processing",
            PROCESSING,
            |n| {
                format!(
                    "{n} video(s) are being processed by the TypeScript app's workers; stop the \
                 workers before `mv-admin migrate` applies the pipeline migrations, which give \
                 such videos an expired lease (the next rescue puts them back in the queue)"
                )
            },
            key,
        )
        .await?,
    );
    for table in ["tag", "category"] {
        found.extend(labels(conn, table).await?);
    }
    found.extend(foreign_keys(conn, live).await?);
    let zones: Vec<ZoneSetting> = diesel::sql_query(TIME_ZONES)
        .load(conn)
        .await
        .context("Failed to read the TimeZone settings")?;
    if !zones.is_empty() {
        found.push(Finding {
            kind: "time_zone",
            message: format!(
                "TimeZone is not UTC for {}: drizzle-orm writes UTC times, but a DEFAULT now() \
                 in a timestamp column stored that zone's wall-clock time, and adopt reads every \
                 stored time as UTC; set TimeZone to UTC (ALTER DATABASE/ROLE ... SET TimeZone = \
                 'UTC') so the app's sessions agree",
                zones
                    .iter()
                    .map(|z| format!("{} ({})", z.place, z.zone))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            rows: Vec::new(),
            row_count: 0,
            query: Some(TIME_ZONES.split_whitespace().collect::<Vec<_>>().join(" ")),
        });
    }
    Ok(found)
}

/// Label names the data layer would store differently (it trims, collapses
/// white space and lowers case), and names that become the same.
async fn labels(conn: &mut AsyncPgConnection, table: &'static str) -> Result<Option<Finding>> {
    let query = format!("SELECT id, name FROM {table} ORDER BY name, id");
    let rows: Vec<Label> = diesel::sql_query(&query)
        .load(conn)
        .await
        .with_context(|| format!("Failed to read the {table} names"))?;
    let mut by_form: BTreeMap<String, Vec<&Label>> = BTreeMap::new();
    let mut differ = Vec::new();
    let mut ids = Vec::new();
    for label in &rows {
        match normalize_name("name", &label.name) {
            Ok(form) => {
                if form != label.name {
                    differ.push(format!("{:?} ({}) would be {form:?}", label.name, label.id));
                    ids.push(label.id.clone());
                }
                by_form.entry(form).or_default().push(label);
            }
            Err(e) => {
                differ.push(format!("{:?} ({}): {e}", label.name, label.id));
                ids.push(label.id.clone());
            }
        }
    }
    let same: Vec<String> = by_form
        .iter()
        .filter(|(_, labels)| labels.len() > 1)
        .map(|(form, labels)| {
            format!(
                "{} are all {form:?}",
                labels
                    .iter()
                    .map(|l| format!("{:?} ({})", l.name, l.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    if differ.is_empty() {
        return Ok(None);
    }
    let mut message = format!(
        "{} {table} name(s) are not stored as this project stores them (trimmed, single \
         spaces, lower case), so the data layer, which looks names up in that form, does not \
         find them: {}",
        differ.len(),
        named(&differ)
    );
    if !same.is_empty() {
        message.push_str(&format!(
            "; these become one name, and the data layer will use only the stored one already \
             in that form: {}",
            named(&same)
        ));
    }
    Ok(Some(Finding {
        kind: if table == "tag" {
            "tag_names"
        } else {
            "category_names"
        },
        message,
        row_count: ids.len(),
        rows: ids.into_iter().take(LISTED).collect(),
        query: Some(query),
    }))
}

#[derive(QueryableByName)]
struct Referencing {
    #[diesel(sql_type = Nullable<diesel::sql_types::BigInt>)]
    count: Option<i64>,
}

/// Foreign keys from the auth tables into the app's tables that do not
/// cascade: deleting a user that has such rows fails.
async fn foreign_keys(conn: &mut AsyncPgConnection, live: &Schema) -> Result<Vec<Finding>> {
    let mut found = Vec::new();
    for name in FOREIGN_TABLES {
        let Some(table) = live.tables.get(name) else {
            continue;
        };
        for fk in table.foreign_keys() {
            let Some(references) = &fk.references else {
                continue;
            };
            if references.on_delete == FkAction::Cascade
                || FOREIGN_TABLES.contains(&references.table.as_str())
            {
                continue;
            }
            let columns: Vec<String> = fk
                .columns
                .iter()
                .filter_map(|c| table.column(c).map(|c| c.ident.clone()))
                .collect();
            let query = format!(
                "SELECT count(DISTINCT ({})) AS count FROM {}",
                columns.join(", "),
                table.ident
            );
            let count: Referencing = diesel::sql_query(&query)
                .get_result(conn)
                .await
                .with_context(|| format!("Failed to count the rows {} references", fk.name))?;
            found.push(Finding {
                kind: "foreign_key_without_cascade",
                message: format!(
                    "{name}.{} references {}.{} without ON DELETE CASCADE ({}), so a {} that \
                     has {name} rows cannot be deleted ({} have some now); the auth library \
                     owns {name}, so adopt leaves it as it is",
                    fk.columns.join(", "),
                    references.table,
                    references.columns.join(", "),
                    fk.name,
                    references.table,
                    count.count.unwrap_or(0)
                ),
                rows: Vec::new(),
                row_count: 0,
                query: Some(query),
            });
        }
    }
    Ok(found)
}
