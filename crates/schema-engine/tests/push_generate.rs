//! push and generate beyond the table of changes: the production mark,
//! rollback, dry runs, rename hints, reproducible output, the CI check,
//! scratch databases and bad input.

mod common;

use common::{assert_same, databases_like, schema};
use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use local_pg::harness::TestDatabase;
use local_pg::harness::{Workspace, replace, repository, seeded};
use schema_engine::foreign::Foreign;
use schema_engine::generate::{check, plan_migration, write_migration};
use schema_engine::mark::{self, Environment};
use schema_engine::plan::{Action, HazardKind, Rename};
use schema_engine::push::{Options, Refusal, push};
use schema_engine::schema_rs;
use schema_engine::scratch::{schema_of_sql, with_scratch};

fn add_language(sql: &str) -> String {
    common::add_to_video_summary(sql, "language text")
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Title {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    title: String,
}

#[tokio::test]
async fn schema_rs_from_the_migrations_is_the_committed_file() {
    let db = TestDatabase::new().await;
    let generated = schema_rs::generate(&mut db.connect().await, &Default::default())
        .await
        .expect("render");
    let committed =
        std::fs::read_to_string(repository().join("crates/db/src/schema.rs")).expect("schema.rs");
    assert_eq!(generated, committed);
}

#[tokio::test]
async fn schema_sql_starts_equal_to_the_migrations() {
    let workspace = Workspace::new();
    let db = TestDatabase::new().await;
    let desired = schema_of_sql(&db.config(), &workspace.sql(), "schema.sql")
        .await
        .expect("load");
    assert_same(
        &schema(&mut db.connect().await).await,
        &desired,
        "schema.sql",
    );
}

#[tokio::test]
async fn a_production_database_is_refused_until_unmarked() {
    let workspace = Workspace::new();
    workspace.edit_schema(add_language);
    let (db, mut conn) = seeded().await;
    let desired = schema_of_sql(&db.config(), &workspace.sql(), "schema.sql")
        .await
        .expect("load");
    let before = schema(&mut conn).await;

    mark::mark(&mut conn, Environment::Production)
        .await
        .expect("mark");
    assert_eq!(
        mark::read(&mut conn).await.expect("read").as_deref(),
        Some("production")
    );
    let error = push(&mut conn, &desired, &Options::default(), &mut |_| {})
        .await
        .expect_err("refused");
    assert!(
        matches!(&error, schema_engine::Error::Refused(Refusal::Marked(env)) if env == "production"),
        "{error:#}"
    );
    assert!(error.to_string().contains("mv-admin db unmark"), "{error}");
    // Not even --accept-data-loss gets past the mark.
    let accept = Options {
        accept_data_loss: HazardKind::ALL.to_vec(),
        ..Options::default()
    };
    assert!(
        push(&mut conn, &desired, &accept, &mut |_| {})
            .await
            .is_err()
    );
    assert_same(
        &schema(&mut conn).await,
        &before,
        "a refused push changes nothing",
    );

    // The mark is bookkeeping, not schema.
    assert!(
        !schema(&mut conn)
            .await
            .tables
            .contains_key(mark::MARK_TABLE)
    );
    assert_eq!(
        mark::unmark(&mut conn).await.expect("unmark").as_deref(),
        Some("production")
    );
    assert_eq!(mark::read(&mut conn).await.expect("read"), None);
    let outcome = push(&mut conn, &desired, &Options::default(), &mut |_| {})
        .await
        .expect("push after unmark");
    assert!(outcome.applied);
}

#[tokio::test]
async fn a_failing_statement_rolls_back_every_step() {
    let workspace = Workspace::new();
    // A new column, then a check the seeded rows violate (durations 60 and 120).
    workspace.edit_schema(|sql| {
        replace(
            &add_language(sql),
            "    duration integer,\n",
            "    duration integer CHECK (duration > 100),\n",
        )
    });
    let (db, mut conn) = seeded().await;
    let desired = schema_of_sql(&db.config(), &workspace.sql(), "schema.sql")
        .await
        .expect("load");
    let before = schema(&mut conn).await;
    let mut ran = Vec::new();
    let error = push(&mut conn, &desired, &Options::default(), &mut |s| {
        ran.push(s.sql.clone())
    })
    .await
    .expect_err("the check fails");
    assert!(
        ran.iter().any(|sql| sql.contains("ADD COLUMN language")),
        "{ran:?}"
    );
    let text = format!("{error:#}");
    assert!(text.contains("video_summary_duration_check"), "{text}");
    assert_same(
        &schema(&mut conn).await,
        &before,
        "nothing stays of a failed push",
    );
}

#[tokio::test]
async fn a_dry_run_plans_and_changes_nothing() {
    let workspace = Workspace::new();
    workspace.edit_schema(|sql| replace(&add_language(sql), "    channel_name text,\n", ""));
    let (db, mut conn) = seeded().await;
    let desired = schema_of_sql(&db.config(), &workspace.sql(), "schema.sql")
        .await
        .expect("load");
    let before = schema(&mut conn).await;
    let options = Options {
        dry_run: true,
        ..Options::default()
    };
    let outcome = push(&mut conn, &desired, &options, &mut |_| {
        panic!("nothing runs")
    })
    .await
    .expect("a dry run is not refused");
    assert!(!outcome.applied);
    let actions: Vec<(Action, bool)> = outcome
        .plan
        .steps()
        .map(|s| (s.action, s.destructive))
        .collect();
    assert_eq!(
        actions,
        vec![(Action::DropColumn, true), (Action::AddColumn, false)]
    );
    assert_same(
        &schema(&mut conn).await,
        &before,
        "a dry run changes nothing",
    );
}

#[tokio::test]
async fn renames_need_a_hint_and_keep_the_values() {
    let workspace = Workspace::new();
    workspace.edit_schema(|sql| {
        replace(
            sql,
            "    title text NOT NULL,\n",
            "    name text NOT NULL,\n",
        )
    });
    let (db, mut conn) = seeded().await;
    let desired = schema_of_sql(&db.config(), &workspace.sql(), "schema.sql")
        .await
        .expect("load");
    let titles: Vec<Title> = diesel::sql_query("SELECT id, title FROM video_summary ORDER BY id")
        .load(&mut conn)
        .await
        .expect("titles");

    // Without a hint it is a dropped column and a new one: refused.
    let error = push(&mut conn, &desired, &Options::default(), &mut |_| {})
        .await
        .expect_err("no hint, no rename");
    let schema_engine::Error::Refused(Refusal::DataLoss(steps)) = &error else {
        panic!("{error:#}");
    };
    assert!(
        steps
            .iter()
            .any(|s| s.action == Action::DropColumn && s.rows == Some(3))
    );

    // A hint naming something absent is an error that says so.
    for (hint, says) in [
        (
            "video_summary.titel=name",
            "table video_summary has no column titel",
        ),
        (
            "video_summary.title=label",
            "schema.sql has no column video_summary.label",
        ),
        ("videos=clips", "the database has no table videos"),
    ] {
        let options = Options {
            renames: vec![hint.parse().expect("hint")],
            ..Options::default()
        };
        let error = push(&mut conn, &desired, &options, &mut |_| {})
            .await
            .expect_err(hint);
        assert!(error.to_string().contains(says), "{hint}: {error}");
    }

    let options = Options {
        renames: vec!["video_summary.title=name".parse().expect("hint")],
        ..Options::default()
    };
    let outcome = push(&mut conn, &desired, &options, &mut |_| {})
        .await
        .expect("renamed");
    assert_eq!(
        outcome
            .plan
            .steps()
            .map(|s| s.sql.as_str())
            .collect::<Vec<_>>(),
        vec!["ALTER TABLE video_summary RENAME COLUMN title TO name;"]
    );
    let names: Vec<Title> =
        diesel::sql_query("SELECT id, name AS title FROM video_summary ORDER BY id")
            .load(&mut conn)
            .await
            .expect("names");
    assert_eq!(names, titles);
}

#[tokio::test]
async fn generate_writes_nothing_when_nothing_changed() {
    let workspace = Workspace::new();
    let db = TestDatabase::new().await;
    let migration = plan_migration(
        &db.config(),
        &workspace.sql(),
        "schema.sql",
        &workspace.migrations(),
        &[],
    )
    .await
    .expect("generate");
    assert_eq!(migration, None);
}

#[tokio::test]
async fn generate_is_byte_identical_for_the_same_input() {
    let db = TestDatabase::new().await;
    let mut outputs = Vec::new();
    for _ in 0..2 {
        let workspace = Workspace::new();
        workspace.edit_schema(|sql| {
            let sql = replace(
                &add_language(sql),
                "least(greatest(attempt - 1, 0), 30)",
                "least(greatest(attempt - 1, 0), 20)",
            );
            replace(&sql, "    channel_name text,\n", "")
                + "CREATE INDEX tag_created_at_idx ON tag (created_at);\n"
                + "CREATE FUNCTION tag_count() RETURNS bigint LANGUAGE sql STABLE \
                   RETURN (SELECT count(*) FROM tag);\n"
        });
        let migration = plan_migration(
            &db.config(),
            &workspace.sql(),
            "schema.sql",
            &workspace.migrations(),
            &[],
        )
        .await
        .expect("generate")
        .expect("a change");
        let folder = workspace.migrations().join("2099-01-01-000000_language");
        write_migration(&folder, &migration).expect("write");
        let read = |file| std::fs::read(folder.join(file)).expect("read");
        outputs.push((read("up.sql"), read("down.sql")));
    }
    assert_eq!(outputs[0], outputs[1]);
    let up = String::from_utf8(outputs[0].0.clone()).expect("utf-8");
    assert!(up.contains("-- WARNING: this migration loses data"), "{up}");
    assert!(
        up.contains("-- Loses data: drops column video_summary.channel_name"),
        "{up}"
    );
    assert!(
        up.contains("CREATE OR REPLACE FUNCTION public.video_summary_retry_delay"),
        "{up}"
    );
    let down = String::from_utf8(outputs[0].1.clone()).expect("utf-8");
    assert!(down.contains("DROP FUNCTION tag_count();"), "{down}");
}

#[tokio::test]
async fn generate_renames_with_hints() {
    let workspace = Workspace::new();
    workspace.edit_schema(|sql| {
        replace(
            sql,
            "    title text NOT NULL,\n",
            "    name text NOT NULL,\n",
        )
    });
    let db = TestDatabase::new().await;
    let renames: Vec<Rename> = vec!["video_summary.title=name".parse().expect("hint")];
    let migration = plan_migration(
        &db.config(),
        &workspace.sql(),
        "schema.sql",
        &workspace.migrations(),
        &renames,
    )
    .await
    .expect("generate")
    .expect("a change");
    assert!(
        migration
            .up_sql()
            .ends_with("\nALTER TABLE video_summary RENAME COLUMN title TO name;\n")
    );
    assert!(
        migration
            .down_sql()
            .ends_with("\nALTER TABLE video_summary RENAME COLUMN name TO title;\n")
    );
}

#[tokio::test]
async fn check_finds_each_kind_of_disagreement() {
    let db = TestDatabase::new().await;
    let config = db.config();
    let run = async |workspace: &Workspace| {
        let schema_rs = std::fs::read_to_string(workspace.schema_rs()).expect("schema.rs");
        check(
            &config,
            &workspace.sql(),
            "schema.sql",
            &workspace.migrations(),
            &schema_rs,
        )
        .await
        .expect("check")
    };

    let agreeing = Workspace::new();
    assert!(
        run(&agreeing).await.is_empty(),
        "the repository's files agree"
    );

    // schema.sql changed, no migration written.
    let edited = Workspace::new();
    edited.edit_schema(add_language);
    let found = run(&edited).await;
    assert_eq!(found.steps.len(), 1);
    assert_eq!(found.steps[0].action, Action::AddColumn);
    assert_eq!(found.schema_rs, None);

    // A migration written by hand, schema.sql not changed.
    let migrated = Workspace::new();
    let folder = migrated.migrations().join("2099-01-01-000000_language");
    std::fs::create_dir(&folder).expect("mkdir");
    std::fs::write(
        folder.join("up.sql"),
        "ALTER TABLE video_summary ADD COLUMN language text;\n",
    )
    .expect("up");
    std::fs::write(
        folder.join("down.sql"),
        "ALTER TABLE video_summary DROP COLUMN language;\n",
    )
    .expect("down");
    let found = run(&migrated).await;
    assert_eq!(found.steps.len(), 1);
    assert_eq!(found.steps[0].action, Action::DropColumn);
    // ...and schema.rs, from the migrations, lacks the column too.
    assert!(
        found
            .schema_rs
            .as_deref()
            .is_some_and(|d| d.contains("language")),
        "{found:?}"
    );

    // schema.rs edited by hand.
    let stale = Workspace::new();
    let text = std::fs::read_to_string(stale.schema_rs()).expect("schema.rs");
    std::fs::write(
        stale.schema_rs(),
        text.replace("duration -> Nullable<Int4>", "duration -> Nullable<Int8>"),
    )
    .expect("write");
    let found = run(&stale).await;
    assert!(found.steps.is_empty());
    assert!(
        found
            .schema_rs
            .as_deref()
            .is_some_and(|d| d.contains("Int8")),
        "{found:?}"
    );
}

#[tokio::test]
async fn scratch_databases_are_dropped_on_failure_and_panic() {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    let mut name = String::new();
    let result: schema_engine::Result<()> = with_scratch(&db.config(), async |scratch| {
        name = scratch.name().to_string();
        Err(schema_engine::Error::Invalid("the work failed".into()))
    })
    .await;
    assert_eq!(result.expect_err("fails").to_string(), "the work failed");
    assert!(name.starts_with("mv_scratch_"));
    assert_eq!(databases_like(&mut conn, &name).await, Vec::<String>::new());

    let config = db.config();
    let panicked = tokio::spawn(async move {
        with_scratch(&config, async |scratch| -> schema_engine::Result<()> {
            panic!("{}", scratch.name())
        })
        .await
    })
    .await
    .expect_err("the task panicked");
    let name = panicked
        .into_panic()
        .downcast::<String>()
        .map(|name| *name)
        .expect("the panic names the database");
    assert_eq!(databases_like(&mut conn, &name).await, Vec::<String>::new());
}

#[tokio::test]
async fn bad_schema_sql_is_named_with_its_line() {
    let db = TestDatabase::new().await;
    let error = schema_of_sql(
        &db.config(),
        "CREATE TABLE a (id text PRIMARY KEY);\n\nCREATE TABLE b (\n    id text PRIMARY KEY,\n    n intger\n);\n",
        "crates/db/schema.sql",
    )
    .await
    .expect_err("bad type");
    assert_eq!(
        error.to_string(),
        "crates/db/schema.sql line 5: type \"intger\" does not exist"
    );

    let error = schema_of_sql(
        &db.config(),
        "CREATE TABLE a (id text PRIMARY KEY);\nCREATE VIEW v AS SELECT id FROM a;\nCREATE SEQUENCE s;\n\
         CREATE PROCEDURE p() LANGUAGE sql AS 'SELECT 1';\n",
        "schema.sql",
    )
    .await
    .expect_err("unsupported");
    assert!(
        error.to_string().starts_with(
            "schema.sql has procedure p, sequence s, view v, which push and generate cannot manage"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn bookkeeping_tables_are_not_schema() {
    let (db, mut conn) = seeded().await;
    conn.batch_execute("CREATE TABLE __scratchpad (id int PRIMARY KEY)")
        .await
        .expect("bookkeeping table");
    let workspace = Workspace::new();
    let desired = schema_of_sql(&db.config(), &workspace.sql(), "schema.sql")
        .await
        .expect("load");
    let outcome = push(&mut conn, &desired, &Options::default(), &mut |_| {})
        .await
        .expect("push");
    assert!(outcome.plan.is_empty(), "{:?}", outcome.plan);
}

/// Tables the auth library would add beside the project's: one declared
/// foreign, one nobody declared.
const AUTH_AND_TEAM_TABLES: &str = r#"
CREATE TABLE session (id text PRIMARY KEY, "userId" text NOT NULL REFERENCES "user" (id));
ALTER TABLE session ADD COLUMN n integer GENERATED ALWAYS AS IDENTITY;
CREATE TABLE team_notes (id int PRIMARY KEY);
"#;

#[tokio::test]
async fn push_never_plans_on_a_declared_foreign_table() {
    let workspace = Workspace::new();
    let (db, mut conn) = seeded().await;
    conn.batch_execute(AUTH_AND_TEAM_TABLES)
        .await
        .expect("the auth library's table and the team's");
    let sql = workspace.sql() + "\n-- mv:foreign session\n";
    let foreign = Foreign::parse(&sql, "schema.sql").expect("declaration");
    let desired = schema_of_sql(&db.config(), &sql, "schema.sql")
        .await
        .expect("load");
    let dry_run = |foreign: Foreign| Options {
        dry_run: true,
        foreign,
        ..Options::default()
    };

    // Undeclared, session's identity column stops push, as any unsupported
    // object does.
    let error = push(
        &mut conn,
        &desired,
        &dry_run(Foreign::default()),
        &mut |_| {},
    )
    .await
    .expect_err("identity column");
    assert!(
        error.to_string().contains("identity column session.n"),
        "{error}"
    );

    // Declared, nothing of session's is planned or refused; the table nobody
    // declared is planned as before.
    let outcome = push(&mut conn, &desired, &dry_run(foreign.clone()), &mut |_| {})
        .await
        .expect("plans");
    let tables: Vec<_> = outcome
        .plan
        .steps()
        .map(|s| (s.action, s.table.clone()))
        .collect();
    assert_eq!(
        tables,
        [(Action::DropTable, Some("team_notes".to_string()))],
        "{:?}",
        outcome.plan
    );

    // Applied with every hazard accepted, session and its rows stay.
    conn.batch_execute(
        "INSERT INTO session (id, \"userId\") SELECT 's1', id FROM \"user\" LIMIT 1",
    )
    .await
    .expect("a session");
    let options = Options {
        accept_data_loss: HazardKind::ALL.to_vec(),
        foreign: foreign.clone(),
        ..Options::default()
    };
    push(&mut conn, &desired, &options, &mut |_| {})
        .await
        .expect("push");
    let after = schema(&mut conn).await;
    assert!(after.tables.contains_key("session"));
    assert!(!after.tables.contains_key("team_notes"));
    assert_eq!(
        local_pg::harness::count(&mut conn, "SELECT count(*) FROM session").await,
        1
    );

    // schema.rs leaves it out.
    let with = schema_rs::generate(&mut conn, &Foreign::default())
        .await
        .expect("render");
    assert!(with.contains("    session (id) {"), "{with}");
    let without = schema_rs::generate(&mut conn, &foreign)
        .await
        .expect("render");
    assert!(!without.contains("session"), "{without}");
    assert_eq!(
        without,
        std::fs::read_to_string(workspace.schema_rs()).expect("schema.rs")
    );
}

#[tokio::test]
async fn a_table_both_created_and_declared_foreign_is_refused() {
    let workspace = Workspace::new();
    let db = TestDatabase::new().await;
    let sql = workspace.sql() + "\n-- mv:foreign tag, session\n";
    let error = check(
        &db.config(),
        &sql,
        "schema.sql",
        &workspace.migrations(),
        "",
    )
    .await
    .expect_err("refused");
    assert!(
        error
            .to_string()
            .contains("schema.sql creates tag and also declares it foreign"),
        "{error}"
    );
    let error = Foreign::parse("-- mv:foreign session,\n", "schema.sql").expect_err("bad");
    assert!(error.to_string().contains("schema.sql:1:"), "{error}");
}

#[tokio::test]
async fn narrowed_acceptance_applies_only_the_accepted_kinds() {
    let workspace = Workspace::new();
    let (db, mut conn) = seeded().await;
    workspace.edit_schema(|sql| {
        let sql = replace(sql, "    channel_name text,\n", "");
        replace(&sql, "    duration integer,\n", "    duration smallint,\n")
    });
    let desired = schema_of_sql(&db.config(), &workspace.sql(), "schema.sql")
        .await
        .expect("load");
    let before = schema(&mut conn).await;
    let accepting = |kinds: &[HazardKind]| Options {
        accept_data_loss: kinds.to_vec(),
        ..Options::default()
    };
    let error = push(
        &mut conn,
        &desired,
        &accepting(&[HazardKind::TypeChange]),
        &mut |_| {},
    )
    .await
    .expect_err("the dropped column is not accepted");
    let schema_engine::Error::Refused(Refusal::DataLoss(steps)) = &error else {
        panic!("{error:#}");
    };
    assert_eq!(steps.len(), 1, "{error}");
    assert_eq!(steps[0].action, Action::DropColumn);
    assert!(
        error.to_string().contains("--accept-data-loss=drop-column"),
        "{error}"
    );
    assert_same(&schema(&mut conn).await, &before, "a refused push");

    push(
        &mut conn,
        &desired,
        &accepting(&[HazardKind::TypeChange, HazardKind::DropColumn]),
        &mut |_| {},
    )
    .await
    .expect("both kinds accepted");
    assert_same(&schema(&mut conn).await, &desired, "schema.sql");
}
