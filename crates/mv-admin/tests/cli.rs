//! The binary from the outside: arguments, exit codes, stdout and stderr.

use std::collections::HashSet;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use local_pg::harness::{TestDatabase, snapshot};
use mv_admin::demo::{DEMO_EMAIL as DEMO, Outcome, USERS, VIDEOS};
use serde_json::Value;

/// What the first seed of an empty database says.
fn created_everything() -> String {
    format!("created {} users and {} videos", USERS.len(), VIDEOS.len())
}

/// How many videos the demo user has, all told or pending.
fn demo_videos(pending_only: bool) -> usize {
    VIDEOS
        .iter()
        .filter(|v| v.owner == DEMO && (!pending_only || matches!(v.outcome, Outcome::Pending)))
        .count()
}

/// The binary, with nothing from the environment choosing its database.
fn mv_admin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mv-admin"));
    command
        .env_remove("DATABASE_URL")
        .env_remove("CLICOLOR_FORCE")
        .timeout(Duration::from_secs(120));
    command
}

/// The binary pointed at `url`.
fn on(url: &str) -> Command {
    let mut command = mv_admin();
    command.arg("--database-url").arg(url);
    command
}

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(mut command: Command, args: &[&str]) -> Output {
    let output = command.args(args).output().expect("running mv-admin");
    Output {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs a command that must succeed; returns its stdout.
fn ok(url: &str, args: &[&str]) -> String {
    let output = run(on(url), args);
    assert_eq!(
        output.code,
        Some(0),
        "{args:?} failed: {}{}",
        output.stdout,
        output.stderr
    );
    output.stdout
}

/// Runs a `--json` command; its stdout must be exactly one JSON document.
fn json(url: &str, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let stdout = ok(url, &all);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("{args:?} printed more or less than one JSON document ({e}): {stdout}")
    })
}

#[test]
fn help_lists_every_command() {
    let output = run(mv_admin(), &["--help"]);
    assert_eq!(output.code, Some(0));
    for command in [
        "db",
        "migrate",
        "seed",
        "videos",
        "users",
        "tags",
        "categories",
        "inspect",
        "quickstart",
        "--database-url",
        "--json",
    ] {
        assert!(
            output.stdout.contains(command),
            "{command}: {}",
            output.stdout
        );
    }
    let output = run(mv_admin(), &["videos", "list", "--help"]);
    assert_eq!(output.code, Some(0));
    let help = output
        .stdout
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        help.contains("[possible values: pending, processing, completed, failed]"),
        "{help}"
    );
}

#[test]
fn bad_arguments_exit_with_2() {
    for args in [
        &["--no-such-flag"][..],
        &["videos", "list"],
        &["videos", "list", "--user", DEMO, "--status", "done"],
        &["videos", "list", "--user", DEMO, "--limit", "0"],
        &["seed", "--yes"],
        &["inspect", "table", "user", "--where", "no-equals-sign"],
    ] {
        let output = run(mv_admin(), args);
        assert_eq!(output.code, Some(2), "{args:?}: {}", output.stderr);
        assert!(output.stdout.is_empty(), "{args:?}");
        assert!(
            output.stderr.contains("error:"),
            "{args:?}: {}",
            output.stderr
        );
    }
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    port
}

#[test]
fn an_unreachable_database_fails_at_once_without_the_password() {
    let url = format!("postgresql://u:secretpw@127.0.0.1:{}/db", closed_port());
    for args in [&["users", "list"][..], &["videos", "list", "--user", DEMO]] {
        let started = Instant::now();
        let output = run(on(&url), args);
        assert_eq!(output.code, Some(1), "{args:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "within the connect timeout"
        );
        assert!(output.stdout.is_empty());
        assert_eq!(output.stderr.lines().count(), 1, "{}", output.stderr);
        assert!(
            output
                .stderr
                .starts_with("error: could not connect to postgresql://u:***@127.0.0.1:"),
            "{}",
            output.stderr
        );
        assert!(output.stderr.contains("refused"), "{}", output.stderr);
        assert!(!output.stderr.contains("secretpw"), "{}", output.stderr);
        assert!(!output.stderr.contains("panicked"), "{}", output.stderr);
    }
}

#[test]
fn a_silent_server_fails_within_the_connect_timeout() {
    // Accepts connections (the kernel does) and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
    let port = listener.local_addr().expect("address").port();
    let url = format!("postgresql://u:secretpw@127.0.0.1:{port}/db");
    let started = Instant::now();
    let mut command = on(&url);
    command.env("MV_DB_CONNECT_TIMEOUT", "1s");
    let output = run(command, &["users", "list"]);
    let elapsed = started.elapsed();
    assert_eq!(output.code, Some(1));
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    assert!(
        output.stderr.contains("connect timeout") && !output.stderr.contains("secretpw"),
        "{}",
        output.stderr
    );
    drop(listener);
}

#[tokio::test]
async fn migrate_seed_seed_again_then_list_on_a_fresh_database() {
    let db = TestDatabase::empty().await;
    let url = db.url();
    ok(url, &["migrate"]);

    let first = ok(url, &["seed"]);
    assert!(first.contains(&created_everything()), "{first}");
    let mut conn = db.connect().await;
    let after_first = snapshot(&mut conn).await;

    let second = ok(url, &["seed"]);
    assert!(second.contains("nothing changed"), "{second}");
    assert_eq!(
        snapshot(&mut conn).await,
        after_first,
        "the second seed changed data"
    );

    let videos = json(url, &["videos", "list", "--user", DEMO]);
    let videos = videos.as_array().expect("an array");
    assert_eq!(videos.len(), demo_videos(false));
    let statuses: HashSet<&str> = videos
        .iter()
        .map(|v| v["processing_status"].as_str().expect("status"))
        .collect();
    assert_eq!(
        statuses,
        HashSet::from(["pending", "processing", "completed", "failed"])
    );
    for video in videos {
        let keys: Vec<&str> = video
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "title",
                "processing_status",
                "created_at",
                "tag_count"
            ]
        );
    }
    let times: Vec<&str> = videos
        .iter()
        .filter_map(|v| v["created_at"].as_str())
        .collect();
    let mut newest_first = times.clone();
    newest_first.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(times, newest_first);
}

#[tokio::test]
async fn pages_chain_through_the_cursor_and_users_stay_apart() {
    let db = TestDatabase::new().await;
    let url = db.url();
    ok(url, &["seed"]);

    let output = run(
        on(url),
        &["--json", "videos", "list", "--user", DEMO, "--limit", "5"],
    );
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    let first: Vec<Value> = serde_json::from_str(&output.stdout).expect("array");
    let cursor = output
        .stderr
        .trim()
        .strip_prefix("next_cursor: ")
        .expect("the cursor on stderr");
    let second = json(
        url,
        &[
            "videos", "list", "--user", DEMO, "--limit", "5", "--cursor", cursor,
        ],
    );
    let ids = |page: &[Value]| -> HashSet<String> {
        page.iter()
            .filter_map(|v| v["id"].as_str().map(String::from))
            .collect()
    };
    let second = second.as_array().expect("array");
    assert_eq!((first.len(), second.len()), (5, 5));
    assert!(ids(&first).is_disjoint(&ids(second)));

    let human = ok(url, &["videos", "list", "--user", DEMO, "--limit", "5"]);
    assert!(
        human
            .trim_end()
            .ends_with(&format!("next page: --cursor {cursor}")),
        "{human}"
    );

    let all_demo = json(url, &["videos", "list", "--user", DEMO]);
    let demo_ids = ids(all_demo.as_array().expect("array"));
    let ada = json(url, &["videos", "list", "--user", "ada@mind-vault.dev"]);
    let ada_ids = ids(ada.as_array().expect("array"));
    assert!(!ada_ids.is_empty() && demo_ids.is_disjoint(&ada_ids));
    let demo_video = demo_ids.iter().next().expect("a video");
    let output = run(
        on(url),
        &["videos", "show", demo_video, "--user", "ada@mind-vault.dev"],
    );
    assert_eq!(output.code, Some(1));
    assert!(output.stdout.is_empty());
    assert!(output.stderr.contains("not found"), "{}", output.stderr);
    let shown = json(url, &["videos", "show", demo_video, "--user", DEMO]);
    assert_eq!(shown["id"], demo_video.as_str());
}

#[tokio::test]
async fn every_data_command_prints_one_json_document_and_no_colours_on_a_pipe() {
    let db = TestDatabase::new().await;
    let url = db.url();
    let seeded = json(url, &["seed"]);
    assert_eq!(seeded["videos_created"], VIDEOS.len());
    let videos = json(url, &["videos", "list", "--user", DEMO]);
    let id = videos[0]["id"].as_str().expect("id").to_string();

    let shown = json(url, &["videos", "show", &id, "--user", DEMO]);
    assert!(shown["keyframes"].is_array() && shown["tags"].is_array());
    let users = json(url, &["users", "list"]);
    assert_eq!(users.as_array().map(Vec::len), Some(USERS.len()));
    assert!(users[0].get("emailVerified").is_some());
    let user = json(url, &["users", "show", DEMO]);
    assert_eq!(user["video_counts"]["pending"], demo_videos(true));
    for args in [
        &["tags", "list"][..],
        &["categories", "list", "--user", DEMO],
    ] {
        let labels = json(url, args);
        let first = &labels.as_array().expect("array")[0];
        assert!(
            first["name"].is_string() && first["video_count"].is_i64(),
            "{first}"
        );
    }
    let overview = json(url, &["inspect"]);
    assert!(overview["tables"].is_array() && overview["migrations"].is_array());
    let rows = json(
        url,
        &[
            "inspect",
            "table",
            "user",
            "--where",
            &format!("email={DEMO}"),
        ],
    );
    assert_eq!(rows.as_array().map(Vec::len), Some(1));
    let inspected = json(url, &["inspect", "video", &id]);
    assert_eq!(inspected["owner"]["email"], DEMO);

    for args in [
        &["videos", "list", "--user", DEMO][..],
        &["videos", "show", &id, "--user", DEMO],
        &["users", "list"],
        &["tags", "list"],
        &["inspect"],
    ] {
        let stdout = ok(url, args);
        assert!(
            !stdout.contains('\u{1b}'),
            "{args:?} wrote escape codes to a pipe"
        );
        assert!(!stdout.is_empty());
    }
}

#[tokio::test]
async fn inspect_refuses_unknown_names_and_reports_missing_statistics_with_3() {
    let db = TestDatabase::new().await;
    let url = db.url();
    let output = run(on(url), &["inspect", "table", "videos"]);
    assert_eq!(output.code, Some(1));
    assert!(
        output.stderr.contains("the tables are"),
        "{}",
        output.stderr
    );
    let output = run(on(url), &["inspect", "queries"]);
    assert_eq!(output.code, Some(3));
    assert_eq!(output.stderr.lines().count(), 1, "{}", output.stderr);
    assert!(
        output.stderr.contains("shared_preload_libraries"),
        "{}",
        output.stderr
    );
}

#[tokio::test]
async fn reset_asks_and_without_a_terminal_the_answer_is_no() {
    let db = TestDatabase::new().await;
    let url = db.url();
    ok(url, &["seed"]);
    let mut conn = db.connect().await;
    let before = snapshot(&mut conn).await;

    let output = run(on(url), &["seed", "--reset"]);
    assert_eq!(output.code, Some(1));
    assert!(output.stderr.contains("pass --yes"), "{}", output.stderr);
    assert_eq!(snapshot(&mut conn).await, before, "nothing was deleted");

    let stdout = ok(url, &["seed", "--reset", "--yes"]);
    assert!(
        stdout.contains(&format!("removed {} users", USERS.len())),
        "{stdout}"
    );
    assert!(stdout.contains(&created_everything()), "{stdout}");
}

#[tokio::test]
async fn quickstart_migrates_seeds_and_lists_the_demo_videos() {
    let db = TestDatabase::empty().await;
    let stdout = ok(db.url(), &["quickstart"]);
    let migrations = MigrationSource::<Pg>::migrations(&db::migrations::MIGRATIONS)
        .expect("embedded")
        .len();
    assert!(
        stdout.contains(&format!("migrations: {migrations} applied")),
        "{stdout}"
    );
    assert!(stdout.contains(&created_everything()), "{stdout}");
    assert!(
        stdout.contains("Git Rebase vs Merge in 60 Seconds"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("end of the list"), "{stdout}");
    let again = json(db.url(), &["quickstart"]);
    assert_eq!(again["applied"], Value::Array(Vec::new()));
    assert_eq!(again["seed"]["videos_created"], 0);
    assert_eq!(
        again["videos"].as_array().map(Vec::len),
        Some(demo_videos(false))
    );
}
