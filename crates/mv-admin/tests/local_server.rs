//! The local default server, driven through `mv-admin db ...` as a user would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mv_admin(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mv-admin"))
        .args(args)
        .env("MV_PG_DIR", home)
        .env_remove("DATABASE_URL")
        .output()
        .expect("mv-admin runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A cluster folder of its own, in a place the postgres user can reach when
/// the tests run as root; stopped and deleted when dropped.
struct Cluster(PathBuf);

impl Cluster {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("mv-ls-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = mv_admin(&self.0, &["db", "reset", "--yes"]);
    }
}

#[test]
fn start_status_url_stop_and_reset() {
    let cluster = Cluster::new("cycle");
    let status = mv_admin(&cluster.0, &["db", "status", "--json"]);
    assert!(status.status.success(), "{}", text(&status));
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(
        (json["running"].as_bool(), json["created"].as_bool()),
        (Some(false), Some(false))
    );

    let started = mv_admin(&cluster.0, &["db", "start"]);
    assert!(started.status.success(), "{}", text(&started));
    assert!(text(&started).contains("started the local server"));
    let again = mv_admin(&cluster.0, &["db", "start"]);
    assert!(text(&again).contains("already running"), "{}", text(&again));

    // The URL works for other tools.
    let url = mv_admin(&cluster.0, &["db", "url"]);
    let url = String::from_utf8_lossy(&url.stdout).trim().to_string();
    let psql = Command::new("psql")
        .args([&url, "-Atc", "SELECT current_database()"])
        .output();
    if let Ok(psql) = psql {
        assert_eq!(
            String::from_utf8_lossy(&psql.stdout).trim(),
            "mindvault",
            "{}",
            text(&psql)
        );
    }

    // Nothing listens on TCP: the only way in is the private socket.
    let conf = std::fs::read_to_string(cluster.0.join("data/postgresql.conf")).expect("conf");
    assert!(conf.contains("listen_addresses = ''"), "{conf}");

    let stopped = mv_admin(&cluster.0, &["db", "stop"]);
    assert!(text(&stopped).contains("stopped"), "{}", text(&stopped));
    let status = mv_admin(&cluster.0, &["db", "status"]);
    assert!(text(&status).contains("stopped"), "{}", text(&status));

    let refused = Command::new(env!("CARGO_BIN_EXE_mv-admin"))
        .args(["db", "reset"])
        .env("MV_PG_DIR", &cluster.0)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("runs");
    assert_eq!(
        refused.status.code(),
        Some(1),
        "no terminal, no --yes: refused"
    );
    assert!(cluster.0.join("data").exists(), "nothing deleted");
    let reset = mv_admin(&cluster.0, &["db", "reset", "--yes"]);
    assert!(reset.status.success(), "{}", text(&reset));
    assert!(!cluster.0.exists());
}

#[test]
fn concurrent_starts_make_one_cluster_and_one_server() {
    let cluster = Cluster::new("race");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let dir = cluster.0.clone();
            std::thread::spawn(move || mv_admin(&dir, &["db", "start"]))
        })
        .collect();
    for handle in handles {
        let output = handle.join().expect("thread");
        assert!(output.status.success(), "{}", text(&output));
    }
    let pid = std::fs::read_to_string(cluster.0.join("data/postmaster.pid")).expect("one server");
    assert!(!pid.is_empty());
    let status = mv_admin(&cluster.0, &["db", "status", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(json["running"].as_bool(), Some(true));
}

#[test]
fn a_socket_path_too_long_for_postgres_still_works() {
    let cluster = Cluster::new("long");
    let deep = cluster
        .0
        .join("a-folder-name-long-enough-to-push-the-socket-path-over-the-limit")
        .join("x".repeat(40));
    assert!(deep.join("run/.s.PGSQL.5432").as_os_str().len() > 107);
    let started = mv_admin(&deep, &["db", "start"]);
    assert!(started.status.success(), "{}", text(&started));
    let url = mv_admin(&deep, &["db", "url"]);
    assert!(
        !String::from_utf8_lossy(&url.stdout).contains("a-folder-name"),
        "the socket moved"
    );
    let _ = mv_admin(&deep, &["db", "reset", "--yes"]);
}

#[test]
fn missing_programs_are_explained() {
    let cluster = Cluster::new("nobin");
    let output = Command::new(env!("CARGO_BIN_EXE_mv-admin"))
        .args(["db", "start"])
        .env("MV_PG_DIR", &cluster.0)
        .env("MV_PG_BINDIR", cluster.0.join("no-such-folder"))
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let message = text(&output);
    assert!(
        message.contains("MV_PG_BINDIR=") && message.contains("no-such-folder"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "one line: {message}");
}

#[test]
fn as_root_an_unreachable_folder_is_named_with_the_fix() {
    if !nix_is_root() {
        return; // only root hands the server to the postgres user
    }
    let cluster = Cluster::new("private");
    let private = cluster.0.join("private");
    std::fs::create_dir_all(&private).expect("folder");
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod");
    let output = mv_admin(&private.join("project/.mv-admin/pg"), &["db", "start"]);
    assert_eq!(output.status.code(), Some(1));
    let message = text(&output);
    assert!(
        message.contains(&format!("cannot reach {}", private.display())),
        "{message}"
    );
    assert!(
        message.contains("chmod o+x") && message.contains("MV_PG_DIR"),
        "{message}"
    );
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    let cluster = Cluster::new("pipe");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mv-admin"))
        .args(["db", "status"])
        .env("MV_PG_DIR", &cluster.0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("mv-admin runs");
    // Close the reading end before mv-admin writes: its write meets a
    // closed pipe, as with `mv-admin ... | head -0`.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("mv-admin ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}
