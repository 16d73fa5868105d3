//! `mv-admin db dump|restore|verify` as an operator runs them: the real
//! binary, pg_dump and pg_restore, a real server.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{checksum, load};
use local_pg::harness::TestDatabase;

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Output {
    fn ok(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self
    }

    fn failed(self) -> Self {
        assert_eq!(
            self.code,
            Some(1),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        assert!(self.stdout.is_empty(), "{}", self.stdout);
        self
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).expect("one JSON document")
    }
}

/// mv-admin in `dir`, with `env` set over the test process's environment.
fn mv_admin(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mv-admin"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("DATABASE_DIRECT_URL")
        .stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("running mv-admin");
    Output {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// mv-admin on `db`.
fn on(db: &TestDatabase, dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--database-url", db.url()];
    all.extend_from_slice(args);
    mv_admin(dir, &[], &all)
}

fn text(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// `migrate status --json` without the lock holder (a session of its own).
fn migration_history(db: &TestDatabase, dir: &Path) -> serde_json::Value {
    let mut status = on(db, dir, &["--json", "migrate", "status"]).ok().json();
    status
        .as_object_mut()
        .expect("an object")
        .remove("lock_holder");
    status
}

async fn server_major(db: &TestDatabase) -> u32 {
    let client = db::connect_client(&db.config()).await.expect("connect");
    let num: String = client
        .query_one("SHOW server_version_num", &[])
        .await
        .expect("version")
        .get(0);
    num.parse::<u32>().expect("a number") / 10_000
}

#[tokio::test]
async fn the_demo_data_round_trips_with_the_same_checksums_and_history() {
    let source = TestDatabase::new().await;
    let dir = tempfile::tempdir().expect("temp dir");
    on(&source, dir.path(), &["seed"]).ok();
    let file = dir.path().join("demo.dump");

    let dumped = on(&source, dir.path(), &["--json", "db", "dump", text(&file)])
        .ok()
        .json();
    assert_eq!(dumped["format"], "custom");
    assert!(dumped["rows"].as_i64().is_some_and(|n| n > 23), "{dumped}");
    assert!(file.is_file());
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("demo.dump.manifest.json")).expect("manifest"),
    )
    .expect("JSON");
    assert_eq!(
        manifest["tool"],
        format!("mv-admin {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        manifest["files"][0]["sha256"].as_str().map(str::len),
        Some(64)
    );

    let copy = TestDatabase::unused().await;
    let restored = on(
        &source,
        dir.path(),
        &["db", "restore", text(&file), "--new-database", copy.name()],
    )
    .ok();
    assert!(
        restored.stdout.contains("matches the manifest"),
        "{}",
        restored.stdout
    );
    assert_eq!(checksum(&copy), checksum(&source));
    assert_eq!(
        migration_history(&copy, dir.path()),
        migration_history(&source, dir.path())
    );

    on(&source, dir.path(), &["db", "verify", text(&file)]).ok();
}

#[tokio::test]
async fn the_benchmark_dataset_round_trips_in_directory_format() {
    let source = TestDatabase::new().await;
    load(&source, 7, 253).await.expect("dataset");
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join("bench");
    let dumped = on(
        &source,
        dir.path(),
        &["--json", "db", "dump", text(&folder), "--jobs", "2"],
    )
    .ok()
    .json();
    assert_eq!(dumped["format"], "directory");
    assert!(folder.join("toc.dat").is_file());

    let copy = TestDatabase::unused().await;
    on(
        &source,
        dir.path(),
        &[
            "db",
            "restore",
            text(&folder),
            "--new-database",
            copy.name(),
            "--jobs",
            "2",
        ],
    )
    .ok();
    let expected = checksum(&source);
    assert_eq!(expected.lines().count(), 7, "{expected}");
    assert_eq!(checksum(&copy), expected);
    assert_eq!(
        migration_history(&copy, dir.path()),
        migration_history(&source, dir.path())
    );
    let verified = on(
        &source,
        dir.path(),
        &["--json", "db", "verify", text(&folder)],
    )
    .ok()
    .json();
    assert_eq!(verified["verified"], true);
}

/// A copy of the dump (and its manifest) at `to`.
fn copy_dump(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read dir") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    } else {
        std::fs::copy(from, to).expect("copy");
    }
    std::fs::copy(
        schema_engine::backup::manifest_path(from),
        schema_engine::backup::manifest_path(to),
    )
    .expect("copy the manifest");
}

#[tokio::test]
async fn damaged_dumps_are_caught_and_never_restored() {
    let source = TestDatabase::new().await;
    let dir = tempfile::tempdir().expect("temp dir");
    on(&source, dir.path(), &["seed"]).ok();
    let file = dir.path().join("good.dump");
    let folder = dir.path().join("good");
    on(&source, dir.path(), &["db", "dump", text(&file)]).ok();
    on(
        &source,
        dir.path(),
        &["db", "dump", text(&folder), "--jobs", "2"],
    )
    .ok();

    // One byte flipped in the middle of the file.
    let flipped = dir.path().join("flipped.dump");
    copy_dump(&file, &flipped);
    let mut bytes = std::fs::read(&flipped).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&flipped, &bytes).expect("write");
    let out = on(&source, dir.path(), &["db", "verify", text(&flipped)]).failed();
    assert!(out.stderr.contains("is damaged"), "{}", out.stderr);
    assert!(out.stderr.contains("has SHA-256"), "{}", out.stderr);

    // Cut short.
    let truncated = dir.path().join("truncated.dump");
    copy_dump(&file, &truncated);
    std::fs::write(&truncated, &bytes[..middle]).expect("write");
    let out = on(&source, dir.path(), &["db", "verify", text(&truncated)]).failed();
    assert!(
        out.stderr
            .contains(&format!("truncated.dump has {middle} bytes")),
        "{}",
        out.stderr
    );

    // A table's file gone from a directory dump: the largest data file.
    let partial = dir.path().join("partial");
    copy_dump(&folder, &partial);
    let biggest = std::fs::read_dir(&partial)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n != "toc.dat"))
        .max_by_key(|p| std::fs::metadata(p).expect("metadata").len())
        .expect("a data file");
    std::fs::remove_file(&biggest).expect("remove");
    let name = biggest
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let out = on(&source, dir.path(), &["db", "verify", text(&partial)]).failed();
    assert!(
        out.stderr.contains(&format!("{name} is missing")),
        "{}",
        out.stderr
    );

    // A restore checks first and creates nothing.
    let copy = TestDatabase::unused().await;
    let out = on(
        &source,
        dir.path(),
        &[
            "db",
            "restore",
            text(&flipped),
            "--new-database",
            copy.name(),
        ],
    )
    .failed();
    assert!(out.stderr.contains("is damaged"), "{}", out.stderr);
    let client = db::connect_client(&source.config()).await.expect("connect");
    let created: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
            &[&copy.name()],
        )
        .await
        .expect("query")
        .get(0);
    assert!(!created);

    // A dump without its manifest cannot be checked.
    std::fs::remove_file(schema_engine::backup::manifest_path(&flipped)).expect("remove");
    let out = on(&source, dir.path(), &["db", "verify", text(&flipped)]).failed();
    assert!(out.stderr.contains("no manifest for"), "{}", out.stderr);
}

#[tokio::test]
async fn non_empty_and_production_targets_need_the_flags() {
    let source = TestDatabase::new().await;
    let dir = tempfile::tempdir().expect("temp dir");
    on(&source, dir.path(), &["seed"]).ok();
    let file = dir.path().join("s.dump");
    on(&source, dir.path(), &["db", "dump", text(&file)]).ok();

    let target = TestDatabase::new().await;
    let out = on(&target, dir.path(), &["db", "restore", text(&file)]).failed();
    assert!(
        out.stderr.contains("is not empty: it holds"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("table public.user"), "{}", out.stderr);

    on(&target, dir.path(), &["db", "mark", "production"]).ok();
    let out = on(
        &target,
        dir.path(),
        &["db", "restore", text(&file), "--clean"],
    )
    .failed();
    assert!(
        out.stderr.contains("is marked production"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--allow-production"), "{}", out.stderr);
    // --into names the target; the configured database stays the server.
    let into = |more: &[&str]| {
        let args = [
            &[
                "db",
                "restore",
                text(&file),
                "--into",
                target.url(),
                "--clean",
            ],
            more,
        ];
        on(&source, dir.path(), &args.concat())
    };
    let out = into(&[]).failed();
    assert!(
        out.stderr.contains("is marked production"),
        "{}",
        out.stderr
    );
    into(&["--allow-production"]).ok();
    assert_eq!(checksum(&target), checksum(&source));
}

#[tokio::test]
async fn a_pooled_url_is_refused_and_the_direct_url_is_used() {
    let source = TestDatabase::new().await;
    let dir = tempfile::tempdir().expect("temp dir");
    const POOLED: &str = "postgresql://app:pw-s3cret@ep-cool-1-pooler.us-east-2.aws.neon.tech/neondb?sslmode=require";
    let file = dir.path().join("s.dump");
    for args in [
        vec!["db", "dump", text(&file)],
        vec!["db", "restore", text(&file)],
        vec!["db", "verify", text(&file)],
        vec!["migrate"],
        vec![
            "push",
            "--dry-run",
            "--schema",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../db/schema.sql"),
        ],
    ] {
        let out = mv_admin(dir.path(), &[("DATABASE_URL", POOLED)], &args).failed();
        assert!(
            out.stderr
                .contains("goes through a connection pooler (ep-cool-1-pooler"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("DATABASE_DIRECT_URL"), "{}", out.stderr);
        assert!(!out.stderr.contains("pw-s3cret"), "{}", out.stderr);
    }
    mv_admin(
        dir.path(),
        &[
            ("DATABASE_URL", POOLED),
            ("DATABASE_DIRECT_URL", source.url()),
        ],
        &["db", "dump", text(&file)],
    )
    .ok();
    assert!(file.is_file());
}

/// A folder holding stand-ins for pg_dump and pg_restore that report
/// `version` and leave a mark if anything else is asked of them.
fn old_programs(dir: &Path, version: &str) -> PathBuf {
    let bin = dir.join("old-bin");
    std::fs::create_dir(&bin).expect("mkdir");
    for name in ["pg_dump", "pg_restore"] {
        let script = bin.join(name);
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nif [ \"$1\" = --version ]; then echo '{name} (PostgreSQL) {version}'; exit 0; fi\n\
                 touch \"$(dirname \"$0\")/ran\"\nexit 1\n"
            ),
        )
        .expect("write");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    bin
}

#[tokio::test]
async fn old_or_missing_client_programs_are_refused_before_starting() {
    let source = TestDatabase::new().await;
    let major = server_major(&source).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("s.dump");
    on(&source, dir.path(), &["db", "dump", text(&file)]).ok();

    let old = format!("{}.4", major - 2);
    let bin = old_programs(dir.path(), &old);
    let with_old = |args: &[&str]| {
        let mut all = vec!["--database-url", source.url()];
        all.extend_from_slice(args);
        mv_admin(dir.path(), &[("MV_PG_BINDIR", text(&bin))], &all).failed()
    };
    let out = with_old(&["db", "dump", text(&dir.path().join("new.dump"))]);
    assert!(
        out.stderr.contains(&format!(
            "pg_dump {old} ({}/pg_dump) is older than the server (PostgreSQL {major}.",
            bin.display()
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was started"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("postgresql-client-{major}")),
        "{}",
        out.stderr
    );
    assert!(!dir.path().join("new.dump").exists());
    let copy = TestDatabase::unused().await;
    let out = with_old(&["db", "restore", text(&file), "--new-database", copy.name()]);
    assert!(
        out.stderr.contains(&format!("pg_restore {old} (")),
        "{}",
        out.stderr
    );
    assert!(
        !bin.join("ran").exists(),
        "the old programs were never run for work"
    );

    let empty = dir.path().join("empty-bin");
    std::fs::create_dir(&empty).expect("mkdir");
    let out = mv_admin(
        dir.path(),
        &[("MV_PG_BINDIR", text(&empty))],
        &["--database-url", source.url(), "db", "verify", text(&file)],
    )
    .failed();
    assert!(
        out.stderr.contains("pg_restore was not found"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("apt-get install postgresql-client-{major}")),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn dumps_go_to_the_project_folder_and_keep_prunes_the_oldest() {
    let source = TestDatabase::new().await;
    let project = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(project.path().join(".mv-admin")).expect("mkdir");
    let inside = project.path().join("sub");
    std::fs::create_dir(&inside).expect("mkdir");
    let mut made = Vec::new();
    for _ in 0..3 {
        let out = on(&source, &inside, &["--json", "db", "dump", "--keep", "2"])
            .ok()
            .json();
        made.push(PathBuf::from(out["path"].as_str().expect("path")));
    }
    let backups = project.path().join(".mv-admin/backups");
    assert!(
        made.iter()
            .all(|path| path.parent() == Some(backups.as_path())),
        "{made:?}"
    );
    let mut left: Vec<String> = std::fs::read_dir(&backups)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let name = |path: &PathBuf| {
        path.file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned()
    };
    let expected = vec![
        name(&made[1]),
        format!("{}.manifest.json", name(&made[1])),
        name(&made[2]),
        format!("{}.manifest.json", name(&made[2])),
    ];
    assert_eq!(left, expected);

    let out = on(&source, &inside, &["db", "dump", "x.dump", "--keep", "1"]);
    assert_eq!(
        out.code,
        Some(2),
        "--keep goes with the default folder only"
    );
}

/// The README's recovery runbook, run as written: every `mv-admin` line of
/// its code block, with its variables filled in.
#[tokio::test]
async fn the_recovery_runbook_in_the_readme_works() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let section = readme
        .split("### Recovery runbook")
        .nth(1)
        .expect("the runbook section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the runbook's code block");

    let source = TestDatabase::new().await;
    let dir = tempfile::tempdir().expect("temp dir");
    on(&source, dir.path(), &["seed"]).ok();
    let before = checksum(&source);
    let restored = TestDatabase::unused().await;
    let backup = dir.path().join("before-change.dump");
    let vars = [
        ("$BACKUP", text(&backup).to_string()),
        ("$RESTORED_URL", restored.url().to_string()),
        ("$RESTORED", restored.name().to_string()),
    ];
    let mut ran = 0;
    for line in block.lines() {
        let line = line.trim();
        if line.starts_with("# DISASTER") {
            // What the runbook recovers from: data lost in the source.
            let client = db::connect_client(&source.config()).await.expect("connect");
            client
                .batch_execute("DELETE FROM video_summary; DELETE FROM \"user\"")
                .await
                .expect("lose the data");
            assert_ne!(checksum(&source), before);
            continue;
        }
        let Some(command) = line.strip_prefix("mv-admin ") else {
            continue;
        };
        let command = command.split(" #").next().unwrap_or_default();
        let args: Vec<String> = command
            .split_whitespace()
            .map(|word| {
                vars.iter().fold(word.to_string(), |word, (var, value)| {
                    word.replace(var, value)
                })
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        mv_admin(dir.path(), &[("DATABASE_URL", source.url())], &args).ok();
        ran += 1;
    }
    assert!(ran >= 4, "the runbook ran {ran} commands");
    assert_eq!(checksum(&restored), before);
}
