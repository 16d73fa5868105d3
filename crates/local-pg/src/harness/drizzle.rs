//! The database the TypeScript app left behind (fixtures/drizzle), loaded
//! into a test database of its own, and the fixes a person makes to its
//! rows before `mv-admin adopt` converts it.

use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};

use super::{TestDatabase, repository, schema_snapshot, snapshot};

fn fixture(file: &str) -> String {
    let path = repository().join("fixtures/drizzle").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// What `psql -f schema-dump.sql -f rows.sql` does, in one session: the
/// catalog drizzle-kit made, drizzle's history, and the app's rows.
pub fn drizzle_sql() -> String {
    format!("{}\n{}", fixture("schema-dump.sql"), fixture("rows.sql"))
}

/// A fresh database holding the fixture, with `before` run first (to set
/// the database's TimeZone, say), on a connection of its own.
pub async fn drizzle_database_with(before: &str) -> TestDatabase {
    let db = TestDatabase::empty().await;
    if !before.is_empty() {
        let mut conn = db.connect().await;
        conn.batch_execute(&before.replace("{database}", &format!("\"{}\"", db.name())))
            .await
            .expect("preparing the database");
    }
    // A session of its own: the dump empties search_path for it.
    let mut conn = db.connect().await;
    conn.batch_execute(&drizzle_sql())
        .await
        .expect("loading fixtures/drizzle");
    db
}

/// A fresh database holding the fixture.
pub async fn drizzle_database() -> TestDatabase {
    drizzle_database_with("").await
}

/// What a person does about the fixture's blockers: keeps the first save of
/// a video saved twice, takes the NUL and the cut emoji out of two videos'
/// AI content, and clears the content that is the JSON literal null.
pub const RESOLVE_BLOCKERS: &str = r#"
DELETE FROM video_summary v USING video_summary w
WHERE v.user_id = w.user_id AND v.youtube_id = w.youtube_id
  AND (v.created_at, v.id) > (w.created_at, w.id);
UPDATE video_summary SET ai_generated_content = replace(ai_generated_content::text, '\u0000', '')::json
WHERE id = 'pW105B5umnzNngBJq3EZL';
UPDATE video_summary SET ai_generated_content = replace(ai_generated_content::text, '\ud83e', '')::json
WHERE id = 'YNRb9qZmRnSzLby7tBSdE';
UPDATE video_summary SET ai_generated_content = NULL WHERE id = 'pS8ZFgRSaxpBWuScAW_df';
"#;

/// `pg_dump --schema-only` of `tables` (in `public`) of `db`, without the
/// lines that differ on every run (`\restrict` keys).
pub fn pg_dump_schema(db: &TestDatabase, tables: &[&str]) -> String {
    // pg_dump may stand beside the server's programs or only on the PATH.
    let beside = crate::find_bin_dir()
        .map(|dir| dir.join("pg_dump"))
        .ok()
        .filter(|path| path.is_file());
    let mut command = std::process::Command::new(beside.unwrap_or_else(|| "pg_dump".into()));
    command.args(["--schema-only", "--no-owner", "--no-privileges"]);
    for table in tables {
        command.arg("--table").arg(format!("public.\"{table}\""));
    }
    let out = command.arg(db.url()).output().expect("running pg_dump");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .filter(|line| !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The database's structure and a digest of its rows: the same before and
/// after, nothing changed.
pub async fn database_state(conn: &mut AsyncPgConnection) -> String {
    format!("{}\n{}", schema_snapshot(conn).await, snapshot(conn).await)
}
