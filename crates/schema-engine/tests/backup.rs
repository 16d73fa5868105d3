//! Backups through the engine: pg_dump and pg_restore of a real server,
//! the manifest's digests, and what is refused.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use diesel_async::SimpleAsyncConnection;
use local_pg::harness::{TestDatabase, seeded, snapshot};
use schema_engine::Error;
use schema_engine::backup::{
    self, BackupError, Content, DumpOptions, Dumped, Event, Format, Observer, Program,
    RestoreOptions, Target,
};
use schema_engine::mark::{self, Environment};

fn programs(name: &str) -> Vec<Program> {
    local_pg::find_client_programs(name)
        .into_iter()
        .map(|found| Program::new(found.path, found.version))
        .collect()
}

fn options(path: PathBuf, format: Format, jobs: u32) -> DumpOptions {
    DumpOptions {
        path,
        format,
        jobs,
        content: Content::All,
        tool: "backup tests".into(),
        observer: None,
    }
}

async fn dump_to(db: &TestDatabase, options: &DumpOptions) -> Dumped {
    backup::dump(&db.config(), &programs("pg_dump"), options)
        .await
        .expect("dump")
}

/// Restores `dumped` into a new database `name` on the server of `server`.
async fn restore_new(
    dumped: &Dumped,
    server: &db::DbConfig,
    name: &str,
    options: &RestoreOptions,
) -> schema_engine::Result<backup::Restored> {
    let target = Target::New {
        server: server.clone(),
        name: name.to_string(),
    };
    backup::restore(&dumped.path, target, &programs("pg_restore"), options).await
}

/// Rewrites the json of `notes` row 1 with another spacing.
async fn change_the_json(conn: &mut diesel_async::AsyncPgConnection) {
    conn.batch_execute("UPDATE notes SET body = '{\"a\":1}' WHERE id = 1")
        .await
        .expect("update json");
}

fn restore_options(jobs: u32) -> RestoreOptions {
    RestoreOptions {
        jobs,
        ..RestoreOptions::default()
    }
}

fn backup_error(error: Error) -> BackupError {
    match error {
        Error::Backup(error) => error,
        other => panic!("expected a backup error, got: {other}"),
    }
}

#[tokio::test]
async fn a_custom_dump_restores_into_a_new_database_with_the_same_rows() {
    let (source, mut conn) = seeded().await;
    // json has no hash function: this table is hashed in its text form.
    conn.batch_execute(
        "CREATE TABLE notes (id int PRIMARY KEY, body json); \
         INSERT INTO notes VALUES (1, '{\"b\": 1,  \"a\": [2]}'), (2, NULL)",
    )
    .await
    .expect("a json table");
    let dir = tempfile::tempdir().expect("temp dir");
    let dumped = dump_to(
        &source,
        &options(dir.path().join("s.dump"), Format::Custom, 1),
    )
    .await;

    let manifest = &dumped.manifest;
    assert_eq!(
        dumped.manifest_path,
        dir.path().join("s.dump.manifest.json")
    );
    assert_eq!(manifest.database, source.name());
    assert_eq!(manifest.files.len(), 1);
    assert_eq!(manifest.files[0].name, "s.dump");
    let rows = |name: &str| {
        manifest
            .tables
            .iter()
            .find(|t| t.schema == "public" && t.name == name)
            .and_then(|t| t.rows)
    };
    assert_eq!(rows("user"), Some(2));
    assert_eq!(rows("video_summary"), Some(3));
    assert_eq!(rows("keyframe"), Some(2));
    assert_eq!(rows("notes"), Some(2));
    let hashed = |name: &str| {
        manifest
            .tables
            .iter()
            .find(|t| t.name == name)
            .and_then(|t| t.hashed.clone())
    };
    assert_eq!(hashed("video_summary").as_deref(), Some("record"));
    assert_eq!(hashed("notes").as_deref(), Some("text"));
    assert!(
        rows("__mv_migration_history").is_some_and(|n| n > 0),
        "the bookkeeping tables are in the manifest too"
    );
    assert!(!manifest.migrations.is_empty());
    assert!(manifest.migrations.iter().all(|m| m.checksum.is_some()));
    assert!(manifest.server_version_num >= 100_000);

    let copy = TestDatabase::unused().await;
    let restored = restore_new(&dumped, &source.config(), copy.name(), &restore_options(1))
        .await
        .expect("restore");
    assert_eq!(restored.database, copy.name());
    assert_eq!(restored.checked.rows, manifest.rows());
    assert_eq!(restored.checked.migrations, manifest.migrations.len());
    assert_eq!(
        snapshot(&mut copy.connect().await).await,
        snapshot(&mut conn).await
    );
}

#[tokio::test]
async fn a_directory_dump_in_parallel_verifies_and_restores_into_an_empty_database() {
    let (source, mut conn) = seeded().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let dumped = dump_to(
        &source,
        &options(dir.path().join("s"), Format::Directory, 2),
    )
    .await;
    assert!(dumped.path.join("toc.dat").is_file());
    assert!(
        dumped.manifest.files.len() > 2,
        "toc.dat and a file per table: {:?}",
        dumped.manifest.files
    );

    let verified = backup::verify(
        &dumped.path,
        &source.config(),
        &programs("pg_restore"),
        &restore_options(2),
    )
    .await
    .expect("verify");
    assert_eq!(verified.checked.rows, dumped.manifest.rows());

    let empty = TestDatabase::empty().await;
    backup::restore(
        &dumped.path,
        Target::Existing(empty.config()),
        &programs("pg_restore"),
        &restore_options(2),
    )
    .await
    .expect("restore into an empty database");
    assert_eq!(
        snapshot(&mut empty.connect().await).await,
        snapshot(&mut conn).await
    );
}

#[tokio::test]
async fn a_copy_with_other_rows_or_migrations_is_reported() {
    let (source, mut source_conn) = seeded().await;
    source_conn
        .batch_execute("CREATE TABLE notes (id int PRIMARY KEY, body json); INSERT INTO notes VALUES (1, '{\"a\": 1}')")
        .await
        .expect("a json table");
    let dir = tempfile::tempdir().expect("temp dir");
    let dumped = dump_to(
        &source,
        &options(dir.path().join("s.dump"), Format::Custom, 1),
    )
    .await;
    let copy = TestDatabase::unused().await;
    restore_new(&dumped, &source.config(), copy.name(), &restore_options(1))
        .await
        .expect("restore");
    let check = async || backup::check(&copy.config(), &dumped.manifest, &restore_options(2)).await;
    check().await.expect("the untouched copy matches");

    let mut conn = copy.connect().await;
    conn.batch_execute("UPDATE video_summary SET title = 'Changed' WHERE id = 'v2'")
        .await
        .expect("update");
    // Spaces inside a json value are part of it.
    change_the_json(&mut conn).await;
    let BackupError::Mismatch { differences, .. } =
        backup_error(check().await.expect_err("changed"))
    else {
        panic!("expected a mismatch")
    };
    assert_eq!(differences.len(), 2, "{differences:?}");
    assert!(
        differences[0].contains("table public.notes holds other rows than the dump"),
        "{differences:?}"
    );
    assert!(
        differences[1].contains("table public.video_summary holds other rows than the dump"),
        "{differences:?}"
    );

    conn.batch_execute(
        "DELETE FROM keyframe WHERE id = 'k2';
         DELETE FROM __mv_migration_history WHERE version = (SELECT max(version) FROM __mv_migration_history)",
    )
    .await
    .expect("delete");
    let message = check().await.expect_err("changed").to_string();
    assert!(
        message.contains("table public.keyframe has 1 rows, the manifest says 2"),
        "{message}"
    );
    assert!(
        message.contains("the applied migrations differ"),
        "{message}"
    );
}

#[tokio::test]
async fn a_non_empty_or_production_target_is_refused_unless_asked() {
    let (source, mut conn) = seeded().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let dumped = dump_to(
        &source,
        &options(dir.path().join("s.dump"), Format::Custom, 1),
    )
    .await;
    let restore = async |target: &TestDatabase, options: RestoreOptions| {
        backup::restore(
            &dumped.path,
            Target::Existing(target.config()),
            &programs("pg_restore"),
            &options,
        )
        .await
    };

    // A migrated database holds the schema already.
    let migrated = TestDatabase::new().await;
    let error = restore(&migrated, restore_options(1))
        .await
        .expect_err("not empty");
    let message = error.to_string();
    assert!(matches!(backup_error(error), BackupError::NotEmpty { .. }));
    assert!(message.contains("is not empty: it holds"), "{message}");
    assert!(message.contains("table public.category"), "{message}");
    assert!(message.contains("--clean"), "{message}");

    mark::mark(&mut migrated.connect().await, Environment::Production)
        .await
        .expect("mark");
    for options in [
        restore_options(1),
        RestoreOptions {
            clean: true,
            ..restore_options(1)
        },
    ] {
        let error = restore(&migrated, options).await.expect_err("production");
        assert!(
            matches!(backup_error(error), BackupError::Production { .. }),
            "production is refused first"
        );
    }
    restore(
        &migrated,
        RestoreOptions {
            clean: true,
            allow_production: true,
            ..restore_options(1)
        },
    )
    .await
    .expect("asked for both");
    assert_eq!(
        snapshot(&mut migrated.connect().await).await,
        snapshot(&mut conn).await
    );

    let error = restore_new(
        &dumped,
        &source.config(),
        migrated.name(),
        &restore_options(1),
    )
    .await
    .expect_err("exists");
    assert!(matches!(
        backup_error(error),
        BackupError::DatabaseExists { .. }
    ));
}

#[tokio::test]
async fn a_password_reaches_the_programs_through_their_environment_only() {
    let (source, _conn) = seeded().await;
    let dir = tempfile::tempdir().expect("temp dir");
    const PASSWORD: &str = "s3cret-pw";
    // The test server trusts local connections: the password is carried,
    // not needed.
    let config = source
        .config()
        .with_url(format!("{}&password={PASSWORD}", source.url()));
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let record = Arc::clone(&seen);
    let observer: Observer = Arc::new(move |event: &Event<'_>| {
        if let Event::Started { pid, .. } = event {
            let read = |what: &str| {
                std::fs::read(format!("/proc/{pid}/{what}"))
                    .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
                    .unwrap_or_default()
            };
            // Until the program has replaced the forked process (exec).
            for _ in 0..100 {
                if read("cmdline").contains("--dbname") {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            record
                .lock()
                .expect("lock")
                .push((read("cmdline"), read("environ")));
        }
    });
    let dumped = backup::dump(
        &config,
        &programs("pg_dump"),
        &DumpOptions {
            observer: Some(observer.clone()),
            ..options(dir.path().join("s.dump"), Format::Custom, 1)
        },
    )
    .await
    .expect("dump");
    let copy = TestDatabase::unused().await;
    restore_new(
        &dumped,
        &config,
        copy.name(),
        &RestoreOptions {
            observer: Some(observer),
            ..restore_options(1)
        },
    )
    .await
    .expect("restore");

    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 2, "pg_dump and pg_restore");
    for (cmdline, environ) in seen.iter() {
        assert!(cmdline.contains("--dbname="), "{cmdline}");
        assert!(!cmdline.contains(PASSWORD), "{cmdline}");
        assert!(
            environ.contains(&format!("PGPASSWORD={PASSWORD}")),
            "read while the program ran"
        );
    }
    let manifest = std::fs::read_to_string(&dumped.manifest_path).expect("manifest");
    assert!(!manifest.contains(PASSWORD));
}

#[tokio::test]
async fn the_digests_are_taken_in_the_dumps_snapshot() {
    let (source, _conn) = seeded().await;
    let dir = tempfile::tempdir().expect("temp dir");
    // Rows written while the dump runs are in neither the dump nor the
    // manifest: the restored copy still matches.
    let writer_url = source.config();
    let observer: Observer = Arc::new(move |event: &Event<'_>| {
        if let Event::Started { .. } = event {
            let config = writer_url.clone();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async {
                    let mut conn = db::connect(&config).await.expect("connect");
                    conn.batch_execute("INSERT INTO tag (id, name) VALUES ('t9', 'late')")
                        .await
                        .expect("insert");
                });
            })
            .join()
            .expect("writer");
        }
    });
    let dumped = backup::dump(
        &source.config(),
        &programs("pg_dump"),
        &DumpOptions {
            observer: Some(observer),
            ..options(dir.path().join("s.dump"), Format::Custom, 1)
        },
    )
    .await
    .expect("dump");
    let tags = dumped
        .manifest
        .tables
        .iter()
        .find(|t| t.name == "tag")
        .and_then(|t| t.rows);
    assert_eq!(
        tags,
        Some(2),
        "the tag written during the dump is not counted"
    );
    backup::verify(
        &dumped.path,
        &source.config(),
        &programs("pg_restore"),
        &restore_options(1),
    )
    .await
    .expect("the dump matches its manifest");
}
