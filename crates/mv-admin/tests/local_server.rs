//! The local default server, driven through `mv-admin db ...` as a user would.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use local_pg::{LocalServer, ServerOptions};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

fn mv_admin(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mv-admin"))
        .args(args)
        .env("MV_PG_DIR", home)
        .env_remove("DATABASE_URL")
        .output()
        .expect("mv-admin runs")
}

/// Runs mv-admin and checks that it succeeded.
fn succeed(home: &Path, args: &[&str]) -> Output {
    let output = mv_admin(home, args);
    assert!(output.status.success(), "{args:?}: {}", text(&output));
    output
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A folder of its own for a test's cluster, in a place the postgres user can
/// reach when the tests run as root; the cluster is reset and the folder
/// deleted when dropped.
struct Cluster {
    base: PathBuf,
    home: PathBuf,
}

impl Cluster {
    fn new(name: &str) -> Self {
        Self::at(name, "pg")
    }

    /// The cluster in `sub`, a path under the test's folder.
    fn at(name: &str, sub: impl AsRef<Path>) -> Self {
        let base = std::env::temp_dir().join(format!("mv-ls-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).expect("test folder");
        let home = base.join(sub);
        Self { base, home }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = mv_admin(&self.home, &["db", "reset", "--yes"]);
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

#[test]
fn start_status_url_stop_and_reset() {
    let cluster = Cluster::new("cycle");
    let status = succeed(&cluster.home, &["db", "status", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(
        (json["running"].as_bool(), json["created"].as_bool()),
        (Some(false), Some(false))
    );

    let started = succeed(&cluster.home, &["db", "start"]);
    assert!(text(&started).contains("started the local server"));
    let again = mv_admin(&cluster.home, &["db", "start"]);
    assert!(text(&again).contains("already running"), "{}", text(&again));

    // The URL works for other tools.
    let url = mv_admin(&cluster.home, &["db", "url"]);
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
    let conf = std::fs::read_to_string(cluster.home.join("data/postgresql.conf")).expect("conf");
    assert!(conf.contains("listen_addresses = ''"), "{conf}");

    let stopped = mv_admin(&cluster.home, &["db", "stop"]);
    assert!(text(&stopped).contains("stopped"), "{}", text(&stopped));
    let status = mv_admin(&cluster.home, &["db", "status"]);
    assert!(text(&status).contains("stopped"), "{}", text(&status));

    let refused = Command::new(env!("CARGO_BIN_EXE_mv-admin"))
        .args(["db", "reset"])
        .env("MV_PG_DIR", &cluster.home)
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    assert_eq!(
        refused.status.code(),
        Some(1),
        "no terminal, no --yes: refused"
    );
    assert!(cluster.home.join("data").exists(), "nothing deleted");
    succeed(&cluster.home, &["db", "reset", "--yes"]);
    assert!(!cluster.home.exists());
}

#[test]
fn concurrent_starts_make_one_cluster_and_one_server() {
    let cluster = Cluster::new("race");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let dir = cluster.home.clone();
            std::thread::spawn(move || mv_admin(&dir, &["db", "start"]))
        })
        .collect();
    for handle in handles {
        let output = handle.join().expect("thread");
        assert!(output.status.success(), "{}", text(&output));
    }
    let pid =
        std::fs::read_to_string(cluster.home.join("data/postmaster.pid")).expect("one server");
    assert!(!pid.is_empty());
    let status = mv_admin(&cluster.home, &["db", "status", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(json["running"].as_bool(), Some(true));
}

#[test]
fn a_socket_path_too_long_for_postgres_still_works() {
    let cluster = Cluster::at(
        "long",
        Path::new("a-folder-name-long-enough-to-push-the-socket-path-over-the-limit")
            .join("x".repeat(40)),
    );
    let deep = &cluster.home;
    assert!(deep.join("run/.s.PGSQL.5432").as_os_str().len() > 107);
    succeed(deep, &["db", "start"]);
    let url = mv_admin(deep, &["db", "url"]);
    assert!(
        !String::from_utf8_lossy(&url.stdout).contains("a-folder-name"),
        "the socket moved"
    );
}

#[test]
fn missing_programs_are_explained() {
    let cluster = Cluster::new("nobin");
    let output = Command::new(env!("CARGO_BIN_EXE_mv-admin"))
        .args(["db", "start"])
        .env("MV_PG_DIR", &cluster.home)
        .env("MV_PG_BINDIR", cluster.home.join("no-such-folder"))
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
    let private = cluster.home.join("private");
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
        .env("MV_PG_DIR", &cluster.home)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
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

// Hardening: what an interrupted start, a hostile path, a folder that is not
// the project's, a damaged cluster, a lost pid file or a held lock must not
// break.

fn spawn_mv_admin(home: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_mv-admin"))
        .args(args)
        .env("MV_PG_DIR", home)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mv-admin runs")
}

/// `/proc/<pid>/stat`'s state and parent pid, and the command's name.
fn proc_stat(pid: u32) -> Option<(char, u32, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (name, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some((state, parent, name.to_string()))
}

fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Waits for a child of `parent` (named `name`, when given) and returns its
/// pid.
fn wait_for_child(parent: u32, name: Option<&str>) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        for pid in pids() {
            if proc_stat(pid).is_some_and(|(_, p, n)| p == parent && name.is_none_or(|x| x == n)) {
                return pid;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("no {name:?} started under process {parent}");
}

/// Waits until `mv-admin`'s initdb is at work (running the bootstrap
/// server, past its start-up) and returns initdb's pid.
fn wait_for_initdb_at_work(mv_admin: u32) -> u32 {
    let initdb = wait_for_child(mv_admin, Some("initdb"));
    wait_for_child(initdb, None);
    initdb
}

/// Whether `pid` has ended (a zombie has ended: only its exit status is left).
fn ended(pid: u32) -> bool {
    proc_stat(pid).is_none_or(|(state, _, _)| matches!(state, 'Z' | 'X'))
}

fn wait_until_ended(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ended(pid) {
        assert!(Instant::now() < deadline, "process {pid} still runs");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The live postmasters started on `data` (`postgres -D <data>`).
fn postmasters(data: &Path) -> Vec<u32> {
    pids()
        .into_iter()
        .filter(|&pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            !ended(pid)
                && args
                    .windows(2)
                    .any(|w| w[0] == b"-D" && w[1] == data.as_os_str().as_encoded_bytes())
        })
        .collect()
}

/// The one live postmaster started on `data`.
fn the_postmaster(data: &Path) -> u32 {
    match postmasters(data)[..] {
        [pid] => pid,
        ref found => panic!("one postmaster on {}: {found:?}", data.display()),
    }
}

/// Runs `statements` on the database at `url`, one by one, and returns the
/// last one's row (text columns).
fn query(url: &str, statements: &[&str]) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
        tokio::spawn(connection);
        let mut last = Vec::new();
        for &sql in statements {
            last = client.query(sql, &[]).await.expect(sql);
        }
        last.first()
            .map(|row| (0..row.len()).map(|i| row.get(i)).collect())
            .unwrap_or_default()
    })
}

fn local_url(home: &Path) -> String {
    let url = succeed(home, &["db", "url"]);
    String::from_utf8_lossy(&url.stdout).trim().to_string()
}

/// The server answers on its private socket only: no TCP, no other socket.
fn assert_private(home: &Path) {
    let settings = query(
        &local_url(home),
        &[
            "SELECT current_setting('listen_addresses'), current_setting('unix_socket_directories'), \
           current_setting('unix_socket_permissions')",
        ],
    );
    assert_eq!(
        settings,
        [
            String::new(),
            home.join("run").display().to_string(),
            "0700".to_string()
        ]
    );
}

#[test]
fn a_first_start_killed_during_initdb_never_exposes_the_server() {
    let cluster = Cluster::new("killed");
    let mut first = spawn_mv_admin(&cluster.home, &["db", "start"]);
    let initdb = wait_for_initdb_at_work(first.id());
    first.kill().expect("kill");
    first.wait().expect("wait");
    // The orphaned initdb goes on to finish its folder.
    wait_until_ended(initdb);

    succeed(&cluster.home, &["db", "start"]);
    assert_private(&cluster.home);
    let unfinished: Vec<_> = std::fs::read_dir(&cluster.home)
        .expect("home")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("data."))
        .collect();
    assert!(unfinished.is_empty(), "left over: {unfinished:?}");
}

#[test]
fn settings_changed_inside_the_cluster_cannot_open_it_up() {
    let cluster = Cluster::new("altered");
    let url = local_url(&cluster.home);
    let elsewhere = cluster.base.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("folder");
    query(
        &url,
        &[
            "ALTER SYSTEM SET listen_addresses = '127.0.0.1'",
            &format!(
                "ALTER SYSTEM SET unix_socket_directories = '{}'",
                elsewhere.display()
            ),
            "ALTER SYSTEM SET unix_socket_permissions = '0777'",
        ],
    );
    succeed(&cluster.home, &["db", "stop"]);
    succeed(&cluster.home, &["db", "start"]);
    assert_private(&cluster.home);
}

#[test]
fn shell_metacharacters_in_the_folder_are_never_run() {
    let canary =
        |n: u32| std::env::temp_dir().join(format!("mv-ls-{}-canary{n}", std::process::id()));
    let cluster = Cluster::at(
        "shell",
        Path::new(&format!("$(touch {})", canary(1).display()))
            .join(format!("`touch {}`", canary(2).display()))
            .join("it's \"a\" \\ folder, é; $HOME")
            .join("pg"),
    );
    let started = mv_admin(&cluster.home, &["db", "start"]);
    let stopped = mv_admin(&cluster.home, &["db", "stop"]);
    let ran: Vec<_> = [1, 2].into_iter().filter(|&n| canary(n).exists()).collect();
    for n in &ran {
        let _ = std::fs::remove_file(canary(*n));
    }
    assert!(ran.is_empty(), "the folder's name was run as a command");
    assert!(started.status.success(), "{}", text(&started));
    assert!(text(&stopped).contains("stopped"), "{}", text(&stopped));
    assert_eq!(
        query(
            &local_url(&cluster.home),
            &["SELECT current_database()::text"]
        ),
        ["mindvault"]
    );
}

#[test]
fn folders_with_quotes_backslashes_or_commas_work() {
    for (n, name) in ["it's \"a\" \\ é", "a,b"].into_iter().enumerate() {
        let cluster = Cluster::at(&format!("quote{n}"), Path::new(name).join("pg"));
        let started = mv_admin(&cluster.home, &["db", "start"]);
        assert!(started.status.success(), "{name}: {}", text(&started));
        let socket_dir = query(
            &local_url(&cluster.home),
            &["SELECT current_setting('unix_socket_directories')"],
        );
        if name.contains(',') {
            assert!(!socket_dir[0].contains(','), "{socket_dir:?}");
        } else {
            assert_eq!(socket_dir, [cluster.home.join("run").display().to_string()]);
        }
    }
}

#[test]
fn a_folder_mv_admin_did_not_make_is_left_alone() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let cluster = Cluster::new("foreign");
    let home = &cluster.home;
    std::fs::create_dir_all(home.join("data")).expect("data");
    std::fs::write(home.join("data/precious.txt"), "keep me").expect("file");
    std::fs::create_dir_all(home.join("run")).expect("run");
    std::fs::set_permissions(home.join("run"), PermissionsExt::from_mode(0o755)).expect("chmod");
    let run_before = std::fs::metadata(home.join("run")).expect("run");
    for args in [
        &["db", "start"][..],
        &["db", "url"],
        &["db", "status"],
        &["db", "stop"],
        &["db", "reset", "--yes"],
        &["users", "list"],
    ] {
        let output = mv_admin(home, args);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {}", text(&output));
        assert!(
            text(&output).contains(&format!("{} ", home.display())),
            "{args:?} names the folder: {}",
            text(&output)
        );
        assert_eq!(
            std::fs::read_to_string(home.join("data/precious.txt")).ok(),
            Some("keep me".to_string()),
            "{args:?}"
        );
        let run = std::fs::metadata(home.join("run")).expect("run");
        assert_eq!(
            (run.mode(), run.uid(), run.gid()),
            (run_before.mode(), run_before.uid(), run_before.gid()),
            "{args:?}"
        );
        let mut entries: Vec<_> = std::fs::read_dir(home)
            .expect("home")
            .map(|e| e.expect("entry").file_name())
            .collect();
        entries.sort();
        assert_eq!(entries, ["data", "run"], "{args:?} created nothing");
    }

    // An empty folder is taken, and given back by reset.
    let empty = Cluster::new("empty");
    std::fs::create_dir_all(&empty.home).expect("empty folder");
    succeed(&empty.home, &["db", "start"]);
    succeed(&empty.home, &["db", "reset", "--yes"]);
    assert!(!empty.home.exists());
}

#[test]
fn a_cluster_made_before_the_marker_file_is_still_the_projects() {
    let cluster = Cluster::new("older");
    let marker = cluster.home.join(local_pg::MARKER);
    succeed(&cluster.home, &["db", "start"]);
    std::fs::remove_file(&marker).expect("marker");
    let stopped = mv_admin(&cluster.home, &["db", "stop"]);
    assert!(text(&stopped).contains("stopped the"), "{}", text(&stopped));
    succeed(&cluster.home, &["db", "start"]);
    assert!(marker.exists(), "marked when used");
    std::fs::remove_file(&marker).expect("marker");
    succeed(&cluster.home, &["db", "reset", "--yes"]);
    assert!(!cluster.home.exists());
}

#[test]
fn a_damaged_cluster_is_reported_and_kept() {
    let cluster = Cluster::new("damaged");
    let data = cluster.home.join("data");
    succeed(&cluster.home, &["db", "start"]);
    succeed(&cluster.home, &["db", "stop"]);
    std::fs::remove_file(data.join("PG_VERSION")).expect("damage");
    let before = std::fs::read(data.join("global/pg_control")).expect("pg_control");

    for args in [&["db", "start"][..], &["users", "list"]] {
        let output = mv_admin(&cluster.home, args);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {}", text(&output));
        let message = text(&output);
        assert!(
            message.contains("PG_VERSION") && message.contains("db reset"),
            "{args:?} says what is wrong and how to recover: {message}"
        );
        assert_eq!(
            std::fs::read(data.join("global/pg_control")).ok().as_ref(),
            Some(&before),
            "{args:?} kept the cluster"
        );
        assert!(!data.join("PG_VERSION").exists(), "{args:?} left it as is");
    }
    let status = mv_admin(&cluster.home, &["db", "status"]);
    assert!(
        text(&status).contains("damaged") && text(&status).contains("PG_VERSION"),
        "{}",
        text(&status)
    );

    succeed(&cluster.home, &["db", "reset", "--yes"]);
    succeed(&cluster.home, &["db", "start"]);
}

#[test]
fn stop_and_reset_find_a_server_that_lost_its_pid_files() {
    let cluster = Cluster::new("pidless");
    let data = cluster.home.join("data");
    let forget = || {
        std::fs::remove_file(data.join("postmaster.pid")).expect("pid file");
        std::fs::remove_file(cluster.home.join("run/.s.PGSQL.5432.lock")).expect("lock file");
    };

    succeed(&cluster.home, &["db", "start"]);
    let postmaster = the_postmaster(&data);
    forget();
    let stopped = mv_admin(&cluster.home, &["db", "stop"]);
    assert!(text(&stopped).contains("stopped the"), "{}", text(&stopped));
    assert!(ended(postmaster), "the server was stopped");

    succeed(&cluster.home, &["db", "start"]);
    let postmaster = the_postmaster(&data);
    forget();
    succeed(&cluster.home, &["db", "reset", "--yes"]);
    assert!(
        ended(postmaster),
        "the server was stopped before its folder went"
    );
    assert!(!cluster.home.exists());
}

#[test]
fn reset_deletes_nothing_while_the_server_runs() {
    let cluster = Cluster::new("unstoppable");
    let data = cluster.home.join("data");
    succeed(&cluster.home, &["db", "start"]);
    let postmaster = the_postmaster(&data);
    // A frozen server takes the shutdown request but cannot act on it.
    let frozen = Frozen::new(postmaster, None);
    let reset = mv_admin(&cluster.home, &["db", "reset", "--yes"]);
    assert_eq!(reset.status.code(), Some(1), "{}", text(&reset));
    assert!(
        text(&reset).contains(&format!("(pid {postmaster}) did not stop")),
        "{}",
        text(&reset)
    );
    assert!(data.join("PG_VERSION").exists(), "nothing was deleted");
    drop(frozen);
    wait_until_ended(postmaster);
    succeed(&cluster.home, &["db", "reset", "--yes"]);
    assert!(!cluster.home.exists());
}

/// A process stopped (SIGSTOP) until dropped, then resumed (and waited for,
/// when it is our child).
struct Frozen {
    pid: u32,
    child: Option<std::process::Child>,
}

impl Frozen {
    fn new(pid: u32, child: Option<std::process::Child>) -> Self {
        signal(pid, Signal::SIGSTOP);
        Self { pid, child }
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal(self.pid, Signal::SIGCONT);
        if let Some(child) = &mut self.child {
            let _ = child.wait();
        }
    }
}

fn signal(pid: u32, signal: Signal) {
    nix::sys::signal::kill(Pid::from_raw(pid as i32), signal).expect("signal");
}

/// A first `db start` frozen while it creates the cluster, holding its lock.
fn frozen_lock_holder(home: &Path) -> Frozen {
    let first = spawn_mv_admin(home, &["db", "start"]);
    wait_for_initdb_at_work(first.id());
    Frozen::new(first.id(), Some(first))
}

#[test]
fn a_command_waiting_for_the_lock_says_who_holds_it() {
    let cluster = Cluster::new("lock");
    let holder = frozen_lock_holder(&cluster.home);
    let asked = Instant::now();
    let mut waiter = spawn_mv_admin(&cluster.home, &["db", "start"]);
    let stderr = waiter.stderr.take().expect("stderr");
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let _ = lines.send((line.expect("stderr line"), asked.elapsed()));
        }
    });
    let (line, after) = received
        .recv_timeout(Duration::from_secs(15))
        .expect("a word about the wait");
    assert!(
        line.contains(&format!("process {} (mv-admin db start)", holder.pid)),
        "{line}"
    );
    assert!(line.contains("60 s"), "names the bound: {line}");
    assert!(after >= Duration::from_millis(900), "said after {after:?}");

    drop(holder);
    let output = waiter.wait_with_output().expect("waiter ends");
    assert!(output.status.success(), "{}", text(&output));
}

#[tokio::test]
async fn a_held_lock_is_given_up_after_the_bound() {
    let cluster = Cluster::new("bound");
    let holder = frozen_lock_holder(&cluster.home);
    let server = LocalServer::new(&cluster.home, ServerOptions::default())
        .expect("server")
        .with_lock_timeout(Duration::from_secs(2));
    let asked = Instant::now();
    let error = server.ensure_running().await.expect_err("gives up");
    let waited = asked.elapsed();
    assert!(
        (Duration::from_secs(2)..Duration::from_secs(10)).contains(&waited),
        "{waited:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!("process {} (mv-admin db start)", holder.pid))
            && message.contains("2 s"),
        "{message}"
    );
    drop(holder);
}
