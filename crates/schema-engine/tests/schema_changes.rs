//! The table of schema changes, each tried on a database with rows: push
//! makes it equal to schema.sql; the generated migration gives the same
//! schema as push, and its down.sql the schema from before; a destructive
//! change is refused without --accept-data-loss and changes nothing.
//! Functions and triggers are checked the same way, and their plans by the
//! statements push ran.

mod common;

use common::{add_to_video_summary, assert_same, normalized, revert_last, row_counts, schema};
use diesel_async::SimpleAsyncConnection;
use local_pg::harness::{Workspace, replace, seeded};
use schema_engine::generate::{plan_migration, write_migration};
use schema_engine::plan::{Action, Plan, Rename};
use schema_engine::push::{Options, Refusal, push};
use schema_engine::scratch::{run_migrations_in, schema_of_sql};

/// A version after every real migration's: a generated one comes last.
const VERSION: &str = "2099-01-01-000000";

/// What push should make of a change on the seeded database.
enum Expect {
    /// Applied without asking.
    Safe,
    /// Refused without the flag (it loses data whatever the rows), applied with it.
    LosesData {
        table: &'static str,
        column: Option<&'static str>,
    },
    /// Refused while rows are in the way; with the flag PostgreSQL refuses
    /// it and nothing changes; once `fix` has changed the rows, applied
    /// without asking.
    Conflict {
        table: &'static str,
        column: Option<&'static str>,
        fix: &'static str,
    },
}

struct Case {
    name: &'static str,
    edit: fn(&str) -> String,
    expect: Expect,
    renames: &'static [&'static str],
    /// Whether down.sql must carry the data-loss warning.
    down_loses_data: bool,
}

/// Returns the plan push applied.
async fn check(case: Case) -> Plan {
    let workspace = Workspace::new();
    let (db, mut conn) = seeded().await;
    let before = schema(&mut conn).await;
    workspace.edit_schema(case.edit);
    let sql = workspace.sql();
    let desired = schema_of_sql(&db.config(), &sql, "schema.sql")
        .await
        .expect("schema.sql loads");
    assert!(
        normalized(&desired) != normalized(&before),
        "the edit must change the schema"
    );
    let renames: Vec<Rename> = case
        .renames
        .iter()
        .map(|hint| hint.parse().expect("hint"))
        .collect();
    let options = |accept: bool| Options {
        accept_data_loss: if accept {
            schema_engine::plan::HazardKind::ALL.to_vec()
        } else {
            Vec::new()
        },
        renames: renames.clone(),
        ..Options::default()
    };

    // Refused without the flag, and nothing changes.
    if let Expect::LosesData { table, column } | Expect::Conflict { table, column, .. } =
        case.expect
    {
        let counts = row_counts(&mut conn, &before).await;
        let error = push(&mut conn, &desired, &options(false), &mut |_| {})
            .await
            .expect_err("a destructive change must be refused");
        let schema_engine::Error::Refused(Refusal::DataLoss(steps)) = &error else {
            panic!("expected a data-loss refusal, got: {error:#}");
        };
        assert!(
            steps.iter().any(|s| s.table.as_deref() == Some(table)
                && s.column.as_deref() == column
                && s.rows.is_some_and(|n| n > 0)),
            "the refusal must name {table} {column:?} with its rows: {error:#}"
        );
        assert_same(
            &schema(&mut conn).await,
            &before,
            "a refused push changes nothing",
        );
        assert_eq!(row_counts(&mut conn, &before).await, counts);
    }
    if let Expect::Conflict { fix, .. } = case.expect {
        let error = push(&mut conn, &desired, &options(true), &mut |_| {})
            .await
            .expect_err("PostgreSQL refuses the change while rows are in the way");
        assert!(
            !matches!(error, schema_engine::Error::Refused(_)),
            "{error:#}"
        );
        assert_same(
            &schema(&mut conn).await,
            &before,
            "a failed push changes nothing",
        );
        conn.batch_execute(fix).await.expect("fix the rows");
    }

    // Push.
    let counts = row_counts(&mut conn, &before).await;
    let accept = matches!(case.expect, Expect::LosesData { .. });
    let outcome = push(&mut conn, &desired, &options(accept), &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("push {}: {e:#}", case.name));
    assert!(outcome.applied);
    let pushed = schema(&mut conn).await;
    assert_same(&pushed, &desired, "after push the database is schema.sql");
    let after = row_counts(&mut conn, &pushed).await;
    for (table, count) in &after {
        let old_name = case
            .renames
            .iter()
            .find_map(|hint| hint.strip_suffix(&format!("={table}")))
            .unwrap_or(table);
        if let Some(old) = counts.get(old_name) {
            assert_eq!(count, old, "push must keep every row of {table}");
        }
    }

    // Generate, then migrate a second database with the same rows.
    let migration = plan_migration(
        &db.config(),
        &sql,
        "schema.sql",
        &workspace.migrations(),
        &renames,
    )
    .await
    .expect("generate")
    .expect("a change gives a migration");
    let folder = workspace
        .migrations()
        .join(format!("{VERSION}_{}", case.name));
    write_migration(&folder, &migration).expect("write the migration");
    let down_sql = std::fs::read_to_string(folder.join("down.sql")).expect("down.sql");
    assert_eq!(
        down_sql.contains("WARNING: reverting this migration loses data"),
        case.down_loses_data,
        "down.sql:\n{down_sql}"
    );
    let (db2, mut conn2) = seeded().await;
    if let Expect::Conflict { fix, .. } = case.expect {
        conn2.batch_execute(fix).await.expect("fix the rows");
    }
    let applied = run_migrations_in(db2.connect().await, &workspace.migrations())
        .await
        .expect("migrate");
    assert_eq!(applied, vec![VERSION.replace('-', "")]);
    assert_same(
        &schema(&mut conn2).await,
        &pushed,
        "generate + migrate equals push",
    );

    // Down.
    revert_last(db2.connect().await, &workspace.migrations()).await;
    assert_same(
        &normalized(&schema(&mut conn2).await),
        &normalized(&before),
        "down.sql returns the schema to before",
    );
    outcome.plan
}

/// The actions of the plan's steps on `object` (a trigger's name or a
/// function's signature), in order.
fn actions_on(plan: &Plan, object: &str) -> Vec<Action> {
    plan.steps()
        .filter(|s| s.object.as_deref() == Some(object))
        .map(|s| s.action)
        .collect()
}

/// Where a step on `object` with `action` comes in the plan.
fn position(plan: &Plan, action: Action, object: &str) -> usize {
    plan.steps()
        .position(|s| s.action == action && s.object.as_deref() == Some(object))
        .unwrap_or_else(|| panic!("no {action:?} of {object} in {:#?}", plan.changes))
}

const RETRY_DELAY: &str = "video_summary_retry_delay(integer, interval, interval)";
const CHECK_TRANSITION: &str = "video_summary_check_transition()";
const TRIGGER_SQL: &str = "CREATE TRIGGER video_summary_check_transition
    BEFORE UPDATE ON video_summary
    FOR EACH ROW
    WHEN (OLD.processing_status IS DISTINCT FROM NEW.processing_status
          OR OLD.attempt IS DISTINCT FROM NEW.attempt)
    EXECUTE FUNCTION video_summary_check_transition();
";

/// A trigger function and a trigger on tag, which has rows.
const TAG_TRIGGER: &str = "
CREATE FUNCTION tag_normalize() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.name := lower(trim(NEW.name));
    RETURN NEW;
END
$$;
CREATE TRIGGER tag_normalize BEFORE INSERT OR UPDATE OF name ON tag
    FOR EACH ROW EXECUTE FUNCTION tag_normalize();
COMMENT ON TRIGGER tag_normalize ON tag IS 'Keeps names trimmed and lower case.';
";

#[tokio::test]
async fn add_a_function() {
    let plan = check(Case {
        name: "add_tag_slug",
        edit: |sql| {
            sql.to_string()
                + "CREATE FUNCTION tag_slug(name text) RETURNS text
    LANGUAGE sql IMMUTABLE RETURN replace(lower(trim(name)), ' ', '-');
COMMENT ON FUNCTION tag_slug(text) IS 'The URL form of a tag''s name.';
"
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
    assert_eq!(
        actions_on(&plan, "tag_slug(text)"),
        [Action::CreateFunction, Action::Comment]
    );
}

#[tokio::test]
async fn change_a_function_body() {
    let plan = check(Case {
        name: "retry_delay_cap",
        edit: |sql| {
            replace(
                sql,
                "least(greatest(attempt - 1, 0), 30)",
                "least(greatest(attempt - 1, 0), 20)",
            )
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
    // The signature and result stay: replaced in place, comment kept.
    assert_eq!(actions_on(&plan, RETRY_DELAY), [Action::ReplaceFunction]);
}

#[tokio::test]
async fn change_a_function_argument_name() {
    let plan = check(Case {
        name: "retry_delay_arguments",
        edit: |sql| {
            let sql = replace(
                sql,
                "video_summary_retry_delay(attempt integer, base interval, cap interval)",
                "video_summary_retry_delay(attempt integer, base interval, max_delay interval)",
            );
            replace(&sql, "RETURN least(cap, ", "RETURN least(max_delay, ")
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
    // CREATE OR REPLACE cannot rename an argument: dropped and made again,
    // with its comment.
    assert_eq!(
        actions_on(&plan, RETRY_DELAY),
        [
            Action::DropFunction,
            Action::CreateFunction,
            Action::Comment
        ]
    );
}

#[tokio::test]
async fn change_a_trigger_function_body() {
    let plan = check(Case {
        name: "check_transition_message",
        edit: |sql| {
            replace(
                sql,
                "'video % cannot move from % to %'",
                "'video % may not move from % to %'",
            )
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
    // Replaced in place, so its trigger stays.
    assert_eq!(
        actions_on(&plan, CHECK_TRANSITION),
        [Action::ReplaceFunction]
    );
    assert_eq!(actions_on(&plan, "video_summary_check_transition"), []);
}

#[tokio::test]
async fn drop_a_function() {
    let plan = check(Case {
        name: "drop_retry_delay",
        edit: |sql| {
            let start = sql
                .find("CREATE FUNCTION video_summary_retry_delay")
                .expect("function");
            let end = sql
                .find("CREATE FUNCTION video_summary_check_transition")
                .expect("function");
            format!("{}{}", &sql[..start], &sql[end..])
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
    let step = plan
        .steps()
        .find(|s| s.object.as_deref() == Some(RETRY_DELAY))
        .expect("the drop shows in the plan");
    assert_eq!(step.action, Action::DropFunction);
    assert!(!step.destructive);
    assert_eq!(step.table, None);
}

#[tokio::test]
async fn change_a_function_comment() {
    let plan = check(Case {
        name: "retry_delay_comment",
        edit: |sql| {
            replace(
                sql,
                "'Exponential backoff: base after the first attempt,",
                "'Exponential backoff (it''s capped): base after the first attempt,",
            )
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
    assert_eq!(actions_on(&plan, RETRY_DELAY), [Action::Comment]);
    assert_eq!(plan.steps().count(), 1);
}

#[tokio::test]
async fn add_a_trigger() {
    let plan = check(Case {
        name: "add_tag_normalize",
        edit: |sql| sql.to_string() + TAG_TRIGGER,
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
    // The function comes before the trigger that executes it.
    assert!(
        position(&plan, Action::CreateFunction, "tag_normalize()")
            < position(&plan, Action::CreateTrigger, "tag_normalize")
    );
    assert_eq!(
        actions_on(&plan, "tag_normalize"),
        [Action::CreateTrigger, Action::Comment]
    );
}

#[tokio::test]
async fn add_a_table_with_a_trigger() {
    let plan = check(Case {
        name: "create_note_with_trigger",
        edit: |sql| {
            sql.to_string()
                + "
CREATE TABLE note (
    id text PRIMARY KEY,
    body text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE FUNCTION note_touch() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER note_touch BEFORE UPDATE ON note
    FOR EACH ROW EXECUTE FUNCTION note_touch();
"
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: true,
    })
    .await;
    assert!(
        position(&plan, Action::CreateFunction, "note_touch()")
            < position(&plan, Action::CreateTrigger, "note_touch")
    );
}

#[tokio::test]
async fn change_a_trigger() {
    let plan = check(Case {
        name: "check_transition_columns",
        edit: |sql| {
            replace(
                sql,
                TRIGGER_SQL,
                "CREATE TRIGGER video_summary_check_transition
    BEFORE UPDATE OF processing_status, attempt ON video_summary
    FOR EACH ROW
    EXECUTE FUNCTION video_summary_check_transition();
",
            )
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
    assert_eq!(
        actions_on(&plan, "video_summary_check_transition"),
        [Action::DropTrigger, Action::CreateTrigger]
    );
    assert_eq!(actions_on(&plan, CHECK_TRANSITION), []);
}

#[tokio::test]
async fn change_a_trigger_comment() {
    let plan = check(Case {
        name: "check_transition_comment",
        edit: |sql| {
            sql.to_string()
                + "COMMENT ON TRIGGER video_summary_check_transition ON video_summary IS 'The status graph.';\n"
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
    assert_eq!(
        actions_on(&plan, "video_summary_check_transition"),
        [Action::Comment]
    );
}

#[tokio::test]
async fn drop_a_trigger() {
    let plan = check(Case {
        name: "drop_check_transition_trigger",
        edit: |sql| replace(sql, TRIGGER_SQL, ""),
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
    assert_eq!(
        actions_on(&plan, "video_summary_check_transition"),
        [Action::DropTrigger]
    );
}

#[tokio::test]
async fn drop_a_trigger_and_its_function() {
    let plan = check(Case {
        name: "drop_check_transition",
        edit: |sql| {
            let start = sql
                .find("CREATE FUNCTION video_summary_check_transition")
                .expect("function");
            sql[..start].to_string()
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
    // The trigger goes before the function it executes.
    assert!(
        position(&plan, Action::DropTrigger, "video_summary_check_transition")
            < position(&plan, Action::DropFunction, CHECK_TRANSITION)
    );
    assert!(plan.destructive().is_empty());
}

#[tokio::test]
async fn drop_a_table_with_a_trigger_and_its_function() {
    let plan = check(Case {
        name: "drop_video_summary",
        edit: |sql| {
            // video_summary with the tables that reference it and the
            // functions after them.
            let start = sql.find("CREATE TABLE video_summary (").expect("table");
            let tag = sql.find("CREATE TABLE tag (").expect("table");
            let keyframe = sql.find("CREATE TABLE keyframe (").expect("table");
            format!("{}{}", &sql[..start], &sql[tag..keyframe])
        },
        expect: Expect::LosesData {
            table: "video_summary",
            column: None,
        },
        renames: &[],
        down_loses_data: false,
    })
    .await;
    assert!(
        position(&plan, Action::DropTrigger, "video_summary_check_transition")
            < position(&plan, Action::DropFunction, CHECK_TRANSITION)
    );
}

#[tokio::test]
async fn add_a_column() {
    check(Case {
        name: "add_language",
        edit: |sql| add_to_video_summary(sql, "language text"),
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: true,
    })
    .await;
}

#[tokio::test]
async fn add_a_not_null_column_with_a_default() {
    check(Case {
        name: "add_color",
        edit: |sql| {
            replace(
                sql,
                "CREATE TABLE tag (\n    id text PRIMARY KEY,\n    name text NOT NULL UNIQUE,\n    description text,\n    created_at timestamptz NOT NULL DEFAULT now()\n",
                "CREATE TABLE tag (\n    id text PRIMARY KEY,\n    name text NOT NULL UNIQUE,\n    description text,\n    created_at timestamptz NOT NULL DEFAULT now(),\n    color text NOT NULL DEFAULT 'grey'\n",
            )
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: true,
    })
    .await;
}

#[tokio::test]
async fn add_a_not_null_column_without_a_default() {
    check(Case {
        name: "add_slug",
        edit: |sql| {
            replace(
                sql,
                "    created_at timestamptz NOT NULL DEFAULT now()\n);\nCOMMENT ON TABLE tag",
                "    created_at timestamptz NOT NULL DEFAULT now(),\n    slug text NOT NULL\n);\nCOMMENT ON TABLE tag",
            )
        },
        expect: Expect::Conflict {
            table: "tag",
            column: Some("slug"),
            fix: "DELETE FROM video_summary_tag; DELETE FROM tag;",
        },
        renames: &[],
        down_loses_data: true,
    })
    .await;
}

#[tokio::test]
async fn drop_a_column() {
    check(Case {
        name: "drop_channel_name",
        edit: |sql| replace(sql, "    channel_name text,\n", ""),
        expect: Expect::LosesData {
            table: "video_summary",
            column: Some("channel_name"),
        },
        renames: &[],
        down_loses_data: false,
    })
    .await;
}

#[tokio::test]
async fn widen_a_column_type() {
    check(Case {
        name: "duration_bigint",
        edit: |sql| replace(sql, "    duration integer,\n", "    duration bigint,\n"),
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: true,
    })
    .await;
}

#[tokio::test]
async fn narrow_a_column_type() {
    check(Case {
        name: "timestamp_smallint",
        edit: |sql| {
            replace(
                sql,
                "    \"timestamp\" integer NOT NULL,",
                "    \"timestamp\" smallint NOT NULL,",
            )
        },
        expect: Expect::LosesData {
            table: "keyframe",
            column: Some("timestamp"),
        },
        renames: &[],
        down_loses_data: false,
    })
    .await;
}

#[tokio::test]
async fn change_a_default() {
    check(Case {
        name: "status_default",
        edit: |sql| {
            replace(
                sql,
                "processing_status text NOT NULL DEFAULT 'pending'",
                "processing_status text NOT NULL DEFAULT 'processing'",
            )
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
}

#[tokio::test]
async fn drop_a_default() {
    check(Case {
        name: "email_verified_no_default",
        edit: |sql| {
            replace(
                sql,
                "\"emailVerified\" boolean NOT NULL DEFAULT false,",
                "\"emailVerified\" boolean NOT NULL,",
            )
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
}

#[tokio::test]
async fn add_not_null() {
    check(Case {
        name: "description_not_null",
        edit: |sql| {
            replace(
                sql,
                "    description text,\n    channel_name",
                "    description text NOT NULL,\n    channel_name",
            )
        },
        expect: Expect::Conflict {
            table: "video_summary",
            column: Some("description"),
            fix: "UPDATE video_summary SET description = '' WHERE description IS NULL",
        },
        renames: &[],
        down_loses_data: false,
    })
    .await;
}

#[tokio::test]
async fn drop_not_null() {
    check(Case {
        name: "title_nullable",
        edit: |sql| replace(sql, "    title text NOT NULL,\n", "    title text,\n"),
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
}

#[tokio::test]
async fn add_a_unique_constraint() {
    check(Case {
        name: "title_unique",
        edit: |sql| {
            replace(
                sql,
                "    title text NOT NULL,\n",
                "    title text NOT NULL UNIQUE,\n",
            )
        },
        expect: Expect::Conflict {
            table: "video_summary",
            column: None,
            fix: "UPDATE video_summary SET title = id",
        },
        renames: &[],
        down_loses_data: false,
    })
    .await;
}

#[tokio::test]
async fn drop_a_unique_constraint() {
    check(Case {
        name: "category_name_not_unique",
        edit: |sql| {
            replace(
                sql,
                "CREATE TABLE category (\n    id text PRIMARY KEY,\n    name text NOT NULL UNIQUE,",
                "CREATE TABLE category (\n    id text PRIMARY KEY,\n    name text NOT NULL,",
            )
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
}

#[tokio::test]
async fn add_a_check_constraint() {
    check(Case {
        name: "duration_positive",
        edit: |sql| {
            replace(
                sql,
                "    duration integer,\n",
                "    duration integer CHECK (duration > 0),\n",
            )
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
}

#[tokio::test]
async fn drop_a_check_constraint() {
    check(Case {
        name: "status_unchecked",
        edit: |sql| {
            replace(
                sql,
                "\n        CONSTRAINT video_summary_processing_status_check\n        CHECK (processing_status IN ('pending', 'processing', 'completed', 'failed')),",
                ",",
            )
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
}

#[tokio::test]
async fn add_a_foreign_key() {
    check(Case {
        name: "video_category",
        edit: |sql| {
            // The column references a table defined further down.
            add_to_video_summary(sql, "main_category_id text")
                + "ALTER TABLE video_summary ADD FOREIGN KEY (main_category_id) REFERENCES category (id) ON DELETE SET NULL;\n"
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: true,
    })
    .await;
}

#[tokio::test]
async fn drop_a_foreign_key() {
    check(Case {
        name: "category_id_unreferenced",
        edit: |sql| {
            replace(
                sql,
                "    category_id text NOT NULL REFERENCES category (id) ON DELETE CASCADE,",
                "    category_id text NOT NULL,",
            )
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
}

#[tokio::test]
async fn change_a_foreign_key_action() {
    check(Case {
        name: "keep_videos_of_users",
        edit: |sql| {
            replace(
                sql,
                "    user_id text NOT NULL REFERENCES \"user\" (id) ON DELETE CASCADE,",
                "    user_id text NOT NULL REFERENCES \"user\" (id) ON DELETE RESTRICT,",
            )
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
}

#[tokio::test]
async fn add_an_index() {
    check(Case {
        name: "tag_created_at_index",
        edit: |sql| sql.to_string() + "CREATE INDEX tag_created_at_idx ON tag (created_at DESC);\n",
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
}

#[tokio::test]
async fn add_a_unique_index_over_duplicates() {
    check(Case {
        name: "title_unique_index",
        edit: |sql| {
            sql.to_string() + "CREATE UNIQUE INDEX video_summary_user_title_idx ON video_summary (user_id, title);\n"
        },
        expect: Expect::Conflict {
            table: "video_summary",
            column: None,
            fix: "UPDATE video_summary SET title = id",
        },
        renames: &[],
        down_loses_data: false,
    })
    .await;
}

#[tokio::test]
async fn drop_an_index() {
    check(Case {
        name: "drop_tag_index",
        edit: |sql| {
            replace(
                sql,
                "CREATE INDEX video_summary_tag_tag_id_idx ON video_summary_tag (tag_id);\n",
                "",
            )
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
}

#[tokio::test]
async fn add_a_table() {
    check(Case {
        name: "create_note",
        edit: |sql| {
            sql.to_string()
                + "
CREATE TABLE note (
    id text PRIMARY KEY,
    video_summary_id text NOT NULL REFERENCES video_summary (id) ON DELETE CASCADE,
    body text NOT NULL DEFAULT '' CHECK (length(body) <= 10000),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE note IS 'A user''s note on a video.';
COMMENT ON COLUMN note.body IS 'Markdown.';
CREATE INDEX note_video_summary_id_idx ON note (video_summary_id);
"
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: true,
    })
    .await;
}

#[tokio::test]
async fn drop_a_table() {
    check(Case {
        name: "drop_video_summary_category",
        edit: |sql| {
            let start = sql
                .find("CREATE TABLE video_summary_category")
                .expect("table");
            sql[..start].to_string()
        },
        expect: Expect::LosesData {
            table: "video_summary_category",
            column: None,
        },
        renames: &[],
        down_loses_data: false,
    })
    .await;
}

#[tokio::test]
async fn change_comments() {
    check(Case {
        name: "comments",
        edit: |sql| {
            let sql = replace(
                sql,
                "COMMENT ON TABLE tag IS 'A label shared by all users; the name is normalized (trimmed, lower case).';",
                "COMMENT ON TABLE tag IS 'A label; it''s shared by all users.';\nCOMMENT ON COLUMN tag.name IS 'Trimmed, lower case.';",
            );
            replace(&sql, "COMMENT ON COLUMN video_summary.duration IS 'Length of the video in seconds.';\n", "")
        },
        expect: Expect::Safe,
        renames: &[],
        down_loses_data: false,
    })
    .await;
}

#[tokio::test]
async fn rename_a_column_with_a_hint() {
    check(Case {
        name: "rename_title",
        edit: |sql| {
            replace(
                sql,
                "    title text NOT NULL,\n",
                "    name text NOT NULL,\n",
            )
        },
        expect: Expect::Safe,
        renames: &["video_summary.title=name"],
        down_loses_data: false,
    })
    .await;
}

#[tokio::test]
async fn rename_a_table_with_a_hint() {
    check(Case {
        name: "rename_tag",
        edit: |sql| {
            let sql = replace(sql, "CREATE TABLE tag (", "CREATE TABLE label (");
            let sql = replace(&sql, "COMMENT ON TABLE tag IS", "COMMENT ON TABLE label IS");
            replace(&sql, "REFERENCES tag (id)", "REFERENCES label (id)")
        },
        expect: Expect::Safe,
        renames: &["tag=label"],
        down_loses_data: false,
    })
    .await;
}
