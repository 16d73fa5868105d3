//! What tests share beyond a database: the repository's schema files in a
//! folder of their own, seed rows, folders of migrations, and digests of a
//! database's structure and rows.

use std::path::{Path, PathBuf};

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use schema_engine::unique_name;

use super::TestDatabase;

/// The repository's root.
pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A temporary folder laid out like the repository (schema.sql, schema.rs,
/// migrations/, diesel.toml), so tests never touch the real files.
pub struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let root = repository();
        for file in [
            "crates/db/schema.sql",
            "crates/db/src/schema.rs",
            "diesel.toml",
        ] {
            let to = dir.path().join(file);
            std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
            std::fs::copy(root.join(file), &to).expect("copy");
        }
        copy_dir(&root.join("migrations"), &dir.path().join("migrations"));
        Self { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn schema_sql(&self) -> PathBuf {
        self.root().join("crates/db/schema.sql")
    }

    pub fn schema_rs(&self) -> PathBuf {
        self.root().join("crates/db/src/schema.rs")
    }

    pub fn migrations(&self) -> PathBuf {
        self.root().join("migrations")
    }

    pub fn sql(&self) -> String {
        std::fs::read_to_string(self.schema_sql()).expect("read schema.sql")
    }

    /// Rewrites schema.sql; `edit` must change it.
    pub fn edit_schema(&self, edit: impl FnOnce(&str) -> String) {
        let old = self.sql();
        let new = edit(&old);
        assert_ne!(old, new, "the edit left schema.sql as it was");
        std::fs::write(self.schema_sql(), new).expect("write schema.sql");
    }
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// `text` with `from` replaced once; fails when `from` is missing, so an
/// edit can never silently do nothing.
pub fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "schema.sql has no {from:?}");
    text.replacen(from, to, 1)
}

/// Rows in every table, some with NULLs and duplicate titles, so the
/// hazards have something to find.
pub const SEED: &str = r#"
INSERT INTO "user" (id, name, email, "createdAt", "updatedAt") VALUES
    ('u1', 'Ann', 'ann@example.com', now(), now()),
    ('u2', 'Bob', 'bob@example.com', now(), now());
INSERT INTO video_summary (id, user_id, youtube_url, youtube_id, title, description, channel_name, duration) VALUES
    ('v1', 'u1', 'https://youtu.be/aaaaaaaaaaa', 'aaaaaaaaaaa', 'Same title', NULL, 'Chan', 60),
    ('v2', 'u1', 'https://youtu.be/bbbbbbbbbbb', 'bbbbbbbbbbb', 'Same title', 'About it', NULL, 120),
    ('v3', 'u2', 'https://youtu.be/aaaaaaaaaaa', 'aaaaaaaaaaa', 'Other', NULL, 'Chan 2', NULL);
INSERT INTO tag (id, name) VALUES ('t1', 'rust'), ('t2', 'sql');
INSERT INTO category (id, name) VALUES ('c1', 'tech');
INSERT INTO keyframe (id, video_summary_id, "timestamp", image_url) VALUES
    ('k1', 'v1', 5, 'https://img.example.com/1'),
    ('k2', 'v1', 50, 'https://img.example.com/2');
INSERT INTO video_summary_tag (video_summary_id, tag_id) VALUES ('v1', 't1'), ('v2', 't1'), ('v2', 't2');
INSERT INTO video_summary_category (video_summary_id, category_id) VALUES ('v1', 'c1'), ('v3', 'c1');
"#;

/// A migrated test database holding [`SEED`].
pub async fn seeded() -> (TestDatabase, AsyncPgConnection) {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    conn.batch_execute(SEED).await.expect("seed");
    (db, conn)
}

/// Everything about the `public` schema's structure, one sorted line per
/// table, column (by position among the live ones), constraint, index,
/// function and trigger (with comments), for comparing two databases.
pub async fn schema_snapshot(conn: &mut AsyncPgConnection) -> String {
    #[derive(diesel::QueryableByName)]
    struct Snapshot {
        #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
        schema: Option<String>,
    }
    const SNAPSHOT: &str = r#"
SELECT string_agg(line, E'\n' ORDER BY line) AS schema FROM (
    SELECT format('table %s kind=%s comment=%s', c.relname, c.relkind,
                  obj_description(c.oid, 'pg_class')) AS line
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
    UNION ALL
    SELECT format('column %s %s %s %s %s default=%s comment=%s', c.relname,
                  lpad((row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum))::text, 4, '0'), a.attname,
                  format_type(a.atttypid, a.atttypmod),
                  CASE WHEN a.attnotnull THEN 'not null' ELSE 'null' END,
                  pg_get_expr(d.adbin, d.adrelid), col_description(c.oid, a.attnum))
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
    UNION ALL
    SELECT format('constraint %s %s %s', c.relname, k.conname, pg_get_constraintdef(k.oid))
    FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public'
    UNION ALL
    SELECT format('index %s', pg_get_indexdef(i.indexrelid))
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public'
    UNION ALL
    SELECT format('function %s comment=%s', pg_get_functiondef(p.oid),
                  obj_description(p.oid, 'pg_proc'))
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public'
    UNION ALL
    SELECT format('trigger %s', pg_get_triggerdef(t.oid))
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND NOT t.tgisinternal
) lines
"#;
    use diesel_async::RunQueryDsl;
    diesel::sql_query(SNAPSHOT)
        .get_result::<Snapshot>(conn)
        .await
        .expect("reading the schema")
        .schema
        .unwrap_or_default()
}

/// A folder of migrations in Diesel's layout, for tests that need a set of
/// their own; deleted when dropped.
#[derive(Debug)]
pub struct MigrationDir {
    path: PathBuf,
}

impl MigrationDir {
    /// An empty folder.
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(unique_name("mv-migrations-"));
        std::fs::create_dir_all(&path).expect("creating a migrations folder");
        Self { path }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes (or overwrites) migration `name`'s up.sql and down.sql.
    pub fn write(&self, name: &str, up: &str, down: Option<&str>) -> &Self {
        let folder = self.path.join(name);
        std::fs::create_dir_all(&folder).expect("creating a migration folder");
        std::fs::write(folder.join("up.sql"), up).expect("writing up.sql");
        if let Some(down) = down {
            std::fs::write(folder.join("down.sql"), down).expect("writing down.sql");
        }
        self
    }

    /// Writes migration `name`'s metadata.toml.
    pub fn metadata(&self, name: &str, toml: &str) -> &Self {
        std::fs::write(self.path.join(name).join("metadata.toml"), toml)
            .expect("writing metadata.toml");
        self
    }

    /// Deletes migration `name`.
    pub fn remove(&self, name: &str) -> &Self {
        std::fs::remove_dir_all(self.path.join(name)).expect("removing a migration");
        self
    }

    /// The migrations as the engine reads them.
    pub fn set(&self) -> schema_engine::migrations::MigrationSet {
        schema_engine::migrations::MigrationSet::from_dir(&self.path)
            .expect("reading the migrations")
    }
}

impl Default for MigrationDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for MigrationDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[derive(QueryableByName)]
struct Digest {
    #[diesel(sql_type = Text)]
    digest: String,
}

/// A digest of every row of every table of the schema (the migration
/// history left out): equal digests, equal data.
pub async fn snapshot(conn: &mut AsyncPgConnection) -> String {
    let tables: Vec<Digest> = diesel::sql_query(
        "SELECT quote_ident(tablename) AS digest FROM pg_tables \
         WHERE schemaname = 'public' AND left(tablename, 2) <> '__' ORDER BY tablename",
    )
    .load(conn)
    .await
    .expect("listing the tables");
    let parts: Vec<String> = tables
        .iter()
        .map(|table| {
            format!(
                "'{name}:' || (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {name} t)",
                name = table.digest
            )
        })
        .collect();
    if parts.is_empty() {
        return String::new();
    }
    let sql = format!("SELECT {} AS digest", parts.join(" || ',' || "));
    diesel::sql_query(sql)
        .get_result::<Digest>(conn)
        .await
        .expect("digesting the tables")
        .digest
}

/// The number a `SELECT count(*) AS count ...` query returns.
pub async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .count
}
