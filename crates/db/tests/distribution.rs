//! The schema against the rules of a PostgreSQL sharded by user (Citus,
//! distribution column `user_id`; see the README's "Growing past one
//! server"). What breaks a rule today is listed here, so the gap stays
//! visible: closing one, or opening a new one, fails this test until the
//! list (and the README) say so.

use std::collections::BTreeMap;

use diesel::QueryableByName;
use diesel::sql_types::{Array, Bool, Nullable, Text};
use diesel_async::RunQueryDsl;
use local_pg::harness::TestDatabase;

/// Shared by all users: replicated to every node whole.
const REFERENCE_TABLES: [&str; 2] = ["category", "tag"];

/// The column a table's rows are placed by: a user's id.
fn distribution_column(table: &str) -> &'static str {
    if table == "user" { "id" } else { "user_id" }
}

/// What the schema lacks today to be distributed by user.
const GAPS: &[&str] = &[
    "keyframe: foreign key keyframe_video_summary_id_fkey (video_summary_id) -> video_summary (id) does not join on user_id",
    "keyframe: has no user_id column",
    "keyframe: primary key keyframe_pkey (id) lacks user_id",
    "user: unique user_email_key (email) lacks id",
    "video_summary: primary key video_summary_pkey (id) lacks user_id",
    "video_summary_category: foreign key video_summary_category_video_summary_id_fkey (video_summary_id) -> video_summary (id) does not join on user_id",
    "video_summary_category: primary key video_summary_category_pkey (video_summary_id, category_id) lacks user_id",
    "video_summary_tag: foreign key video_summary_tag_video_summary_id_fkey (video_summary_id) -> video_summary (id) does not join on user_id",
    "video_summary_tag: primary key video_summary_tag_pkey (video_summary_id, tag_id) lacks user_id",
];

#[derive(QueryableByName, Debug)]
struct Column {
    #[diesel(sql_type = Text)]
    table: String,
    #[diesel(sql_type = Text)]
    column: String,
}

#[derive(QueryableByName, Debug)]
struct Key {
    #[diesel(sql_type = Text)]
    table: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    primary: bool,
    #[diesel(sql_type = Array<Nullable<Text>>)]
    columns: Vec<Option<String>>,
}

#[derive(QueryableByName, Debug)]
struct ForeignKey {
    #[diesel(sql_type = Text)]
    table: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Array<Text>)]
    columns: Vec<String>,
    #[diesel(sql_type = Text)]
    target: String,
    #[diesel(sql_type = Array<Text>)]
    target_columns: Vec<String>,
}

const NOT_BOOKKEEPING: &str =
    r"c.relnamespace = 'public'::regnamespace AND c.relname NOT LIKE '\_\_%'";

/// Every rule the schema breaks, one line each, sorted.
async fn gaps(conn: &mut diesel_async::AsyncPgConnection) -> Vec<String> {
    let columns: Vec<Column> = diesel::sql_query(format!(
        "SELECT c.relname::text AS table, a.attname::text AS column
         FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
         WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND {NOT_BOOKKEEPING}"
    ))
    .load(conn)
    .await
    .expect("columns");
    // Unique indexes, whether constraints or not; an expression's place
    // holds NULL.
    let keys: Vec<Key> = diesel::sql_query(format!(
        "SELECT c.relname::text AS table, ic.relname::text AS name, i.indisprimary AS primary,
                array(SELECT a.attname::text
                      FROM unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY AS k(attnum, n)
                      LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                      ORDER BY k.n) AS columns
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE i.indisunique AND {NOT_BOOKKEEPING}"
    ))
    .load(conn)
    .await
    .expect("unique keys");
    let foreign_keys: Vec<ForeignKey> = diesel::sql_query(format!(
        "SELECT c.relname::text AS table, k.conname::text AS name,
                array(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, n)
                      JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
                      ORDER BY u.n) AS columns,
                t.relname::text AS target,
                array(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY AS u(attnum, n)
                      JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum
                      ORDER BY u.n) AS target_columns
         FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class t ON t.oid = k.confrelid
         WHERE k.contype = 'f' AND {NOT_BOOKKEEPING}"
    ))
    .load(conn)
    .await
    .expect("foreign keys");

    let mut tables: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in &columns {
        tables.entry(&c.table).or_default().push(&c.column);
    }
    let distributed = |table: &str| !REFERENCE_TABLES.contains(&table);
    let mut gaps = Vec::new();
    for (table, columns) in &tables {
        if distributed(table) && !columns.contains(&distribution_column(table)) {
            gaps.push(format!(
                "{table}: has no {} column",
                distribution_column(table)
            ));
        }
    }
    for key in keys.iter().filter(|k| distributed(&k.table)) {
        let column = distribution_column(&key.table);
        if !key.columns.iter().any(|c| c.as_deref() == Some(column)) {
            let shown: Vec<&str> = key
                .columns
                .iter()
                .map(|c| c.as_deref().unwrap_or("(expression)"))
                .collect();
            gaps.push(format!(
                "{}: {} {} ({}) lacks {column}",
                key.table,
                if key.primary { "primary key" } else { "unique" },
                key.name,
                shown.join(", ")
            ));
        }
    }
    for fk in &foreign_keys {
        let line = format!(
            "{}: foreign key {} ({}) -> {} ({})",
            fk.table,
            fk.name,
            fk.columns.join(", "),
            fk.target,
            fk.target_columns.join(", ")
        );
        match (distributed(&fk.table), distributed(&fk.target)) {
            // A reference table may be referenced from anywhere.
            (_, false) => {}
            (false, true) => gaps.push(format!(
                "{line}: a reference table cannot reference a distributed one"
            )),
            (true, true) => {
                let joined = fk.columns.iter().zip(&fk.target_columns).any(|(from, to)| {
                    from == distribution_column(&fk.table) && to == distribution_column(&fk.target)
                });
                if !joined {
                    gaps.push(format!(
                        "{line} does not join on {}",
                        distribution_column(&fk.table)
                    ));
                }
            }
        }
    }
    gaps.sort();
    gaps
}

#[tokio::test]
async fn the_gap_to_sharding_by_user_is_the_known_one() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    let found = gaps(&mut conn).await;
    assert_eq!(
        found,
        GAPS,
        "the schema's distance to sharding by user changed; update GAPS and the README's \
         \"Growing past one server\":\n{}",
        found.join("\n")
    );
}

#[tokio::test]
async fn the_check_sees_a_table_made_to_follow_the_rules() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    // keyframe as sharding wants it: user_id in it, in its key, and in its
    // foreign key to a video keyed by (user_id, id).
    diesel_async::SimpleAsyncConnection::batch_execute(
        &mut conn,
        "ALTER TABLE keyframe ADD COLUMN user_id text;
         ALTER TABLE keyframe DROP CONSTRAINT keyframe_video_summary_id_fkey;
         ALTER TABLE keyframe DROP CONSTRAINT keyframe_pkey;
         ALTER TABLE keyframe ADD PRIMARY KEY (user_id, id);
         ALTER TABLE video_summary ADD CONSTRAINT video_summary_user_id_id_key UNIQUE (user_id, id);
         ALTER TABLE keyframe ADD FOREIGN KEY (user_id, video_summary_id)
             REFERENCES video_summary (user_id, id);",
    )
    .await
    .expect("reshape keyframe");
    let found = gaps(&mut conn).await;
    assert!(
        !found.iter().any(|gap| gap.starts_with("keyframe:")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|gap| gap.starts_with("video_summary_tag:")),
        "{found:#?}"
    );
}
