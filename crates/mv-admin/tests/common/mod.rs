//! What the push and generate tests share: a temporary copy of the
//! repository's schema files, seed rows, and ways to look at a database.
#![allow(dead_code)] // each test binary uses its own part

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use db::migrations::{self, DataLossPolicy, MigrationSet, Options};
use db::models::{NewUser, NewVideo};
use db::testing::TestDatabase;
use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use indicatif::ProgressBar;
use mv_admin::catalog::{Schema, introspect};
use mv_admin::dataset::{self, Outcome};

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

/// schema.sql with `column` added as video_summary's last column.
pub fn add_to_video_summary(sql: &str, column: &str) -> String {
    replace(
        sql,
        "    last_error text,\n",
        &format!("    last_error text,\n    {column},\n"),
    )
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

pub async fn schema(conn: &mut AsyncPgConnection) -> Schema {
    introspect(conn).await.expect("introspect")
}

/// The schema with each table's columns in name order: what a database can
/// be compared on after a column came back at the end of its table.
pub fn normalized(schema: &Schema) -> Schema {
    let mut schema = schema.clone();
    for table in schema.tables.values_mut() {
        table.columns.sort_by(|a, b| a.name.cmp(&b.name));
    }
    schema
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// How many rows each table of `schema` holds.
pub async fn row_counts(conn: &mut AsyncPgConnection, schema: &Schema) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for table in schema.tables.values() {
        let count: Count =
            diesel::sql_query(format!("SELECT count(*) AS count FROM {}", table.ident))
                .get_result(conn)
                .await
                .expect("count");
        counts.insert(table.name.clone(), count.count);
    }
    counts
}

/// The names of the databases on the server that start with `prefix`.
pub async fn databases_like(conn: &mut AsyncPgConnection, prefix: &str) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        datname: String,
    }
    let rows: Vec<Name> = diesel::sql_query(
        "SELECT datname::text AS datname FROM pg_database WHERE starts_with(datname, $1)",
    )
    .bind::<diesel::sql_types::Text, _>(prefix)
    .load(conn)
    .await
    .expect("list databases");
    rows.into_iter().map(|r| r.datname).collect()
}

/// Reverts the newest migration of `dir` with the project's migration
/// engine, accepting data loss (the tests check `down.sql` itself).
pub async fn revert_last(mut conn: AsyncPgConnection, dir: &Path) -> String {
    let set = MigrationSet::from_dir(dir).expect("migrations folder");
    let mut report = migrations::revert(
        &mut conn,
        &set,
        &Options::default(),
        1,
        DataLossPolicy::Accept,
    )
    .await
    .expect("revert");
    report.reverted.pop().expect("one version reverted").version
}

/// Asserts two schemas are equal; on failure, shows the statements that
/// separate them rather than two pages of structs.
#[track_caller]
pub fn assert_same(actual: &Schema, expected: &Schema, what: &str) {
    if actual == expected {
        return;
    }
    let steps: Vec<String> = mv_admin::plan::diff(actual, expected)
        .into_iter()
        .map(|s| s.sql)
        .collect();
    if steps.is_empty() {
        panic!("{what}: the schemas differ in column order or names only");
    }
    panic!("{what}: the schemas differ by\n{}", steps.join("\n"));
}

/// Alice with `n` pending videos; returns their ids, oldest first.
pub async fn alice_with_videos(conn: &mut AsyncPgConnection, n: usize) -> Vec<String> {
    NewUser::new("alice", "Alice", "alice@example.com")
        .insert(conn)
        .await
        .expect("user");
    let mut ids = Vec::new();
    for i in 0..n {
        let url = format!("https://youtu.be/{i:011}");
        let video = NewVideo {
            user_id: "alice",
            youtube_url: &url,
            title: "t",
            ..NewVideo::default()
        }
        .insert(conn)
        .await
        .expect("video");
        ids.push(video.id);
    }
    ids
}

/// Where the benchmark scripts live.
pub const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/bench");
/// Runs a psql script against the database and returns what it printed.
pub fn psql(database: &TestDatabase, script: &str, vars: &[(&str, u64)]) -> String {
    // psql may stand beside the server's programs or only on the PATH.
    let beside = db::local_server::find_bin_dir()
        .map(|dir| dir.join("psql"))
        .ok()
        .filter(|path| path.is_file());
    let mut command = Command::new(beside.unwrap_or_else(|| "psql".into()));
    command
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(database.url())
        .arg("-f")
        .arg(format!("{SCRIPTS}/{script}"));
    for (name, value) in vars {
        command.arg("-v").arg(format!("{name}={value}"));
    }
    let out = command.output().expect("running psql");
    assert!(
        out.status.success(),
        "psql -f {script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

pub fn checksum(database: &TestDatabase) -> String {
    psql(database, "checksum.sql", &[])
}

pub async fn load(database: &TestDatabase, users: u64, videos: u64) -> anyhow::Result<Outcome> {
    let mut client = db::connect_client(&database.config())
        .await
        .expect("connecting");
    dataset::load(&mut client, users, videos, &ProgressBar::hidden()).await
}
