//! A PgBouncer of the test's own in front of the test server: the machine's
//! `pgbouncer` (Debian's package; `scripts/test.sh` installs it), on a free
//! loopback port, run as the `postgres` user when the tests run as root
//! (PgBouncer refuses root).

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How PgBouncer hands out server connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// A server connection per client connection, for its whole life.
    Session,
    /// A server connection per transaction (or per statement outside one).
    Transaction,
}

/// A running PgBouncer, stopped (and its folder removed) when dropped.
#[derive(Debug)]
pub struct PgBouncer {
    child: Child,
    dir: PathBuf,
    port: u16,
}

/// The `pgbouncer` program: `MV_PGBOUNCER` (which `scripts/test.sh` sets
/// when it builds a newer one), else on the `PATH`, else where Debian puts it.
fn program() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MV_PGBOUNCER") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("pgbouncer"))
        .find(|path| path.is_file())
}

/// The installed PgBouncer's version, such as `(1, 18)`; `None` when it is
/// not installed.
pub fn pgbouncer_version() -> Option<(u32, u32)> {
    let out = Command::new(program()?).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.lines().next()?.strip_prefix("PgBouncer ")?;
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

impl PgBouncer {
    /// Starts PgBouncer in `mode` in front of the server holding the
    /// database at `database_url` (any database of it is reachable through
    /// it), with at most `server_connections` per database, and
    /// `max_prepared_statements` when given (PgBouncer 1.21 and newer).
    /// All the server connections are kept open (`min_pool_size`) and handed
    /// out in turn (`server_round_robin`), so that in transaction mode a
    /// client meets several of them, as it does under load.
    /// The error is PgBouncer's own, when it refuses to start.
    pub fn start(
        database_url: &str,
        mode: PoolMode,
        server_connections: u32,
        max_prepared_statements: Option<u32>,
    ) -> Result<Self, String> {
        let program = program().ok_or(
            "pgbouncer is not installed: run scripts/test.sh, which installs it, or \
             apt-get install pgbouncer",
        )?;
        let server = url::Url::parse(database_url).map_err(|e| e.to_string())?;
        let query = |name: &str| {
            server
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let host = query("host")
            .or_else(|| server.host_str().map(str::to_string))
            .unwrap_or_else(|| "/tmp".into());
        let server_port = query("port")
            .or_else(|| server.port().map(|p| p.to_string()))
            .unwrap_or_else(|| "5432".into());
        let user = query("user")
            .or_else(|| Some(server.username().to_string()).filter(|u| !u.is_empty()))
            .unwrap_or_else(|| "postgres".into());
        let password = server
            .password()
            .map(|p| format!(" password={p}"))
            .unwrap_or_default();

        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mv-pgbouncer-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let run_as = run_as();
        let mut last_error = String::new();
        // The free port is found by binding it, then handed over: another
        // process may take it meanwhile, so a few tries.
        for _ in 0..3 {
            // A failed try removes the folder with its PgBouncer.
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            if let Some((uid, gid)) = run_as {
                std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
            }
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .map_err(|e| e.to_string())?
                .port();
            let mut settings = format!(
                "[databases]\n* = host={host} port={port_server} user={user}{password}\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = trust\nauth_file = {dir}/users.txt\npool_mode = {mode}\n\
                 default_pool_size = {server_connections}\nmax_client_conn = 200\n\
                 min_pool_size = {server_connections}\nserver_round_robin = 1\n\
                 logfile = {dir}/pgbouncer.log\npidfile = {dir}/pgbouncer.pid\n",
                port_server = server_port,
                dir = dir.display(),
                mode = match mode {
                    PoolMode::Session => "session",
                    PoolMode::Transaction => "transaction",
                },
            );
            if let Some(n) = max_prepared_statements {
                settings.push_str(&format!("max_prepared_statements = {n}\n"));
            }
            let write = |name: &str, text: &str| -> Result<(), String> {
                let path = dir.join(name);
                std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
                if let Some((uid, gid)) = run_as {
                    std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            };
            write("pgbouncer.ini", &settings)?;
            write("users.txt", &format!("\"{user}\" \"\"\n"))?;
            // What it says before its log file is open goes to a file too,
            // never to a pipe nobody empties.
            let stderr = std::fs::File::create(dir.join("stderr.txt"))
                .map_err(|e| format!("{}: {e}", dir.display()))?;
            let mut command = Command::new(&program);
            command
                .arg(dir.join("pgbouncer.ini"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr);
            if let Some((uid, gid)) = run_as {
                command.uid(uid).gid(gid);
            }
            let child = command
                .spawn()
                .map_err(|e| format!("starting pgbouncer: {e}"))?;
            let mut bouncer = Self {
                child,
                dir: dir.clone(),
                port,
            };
            match bouncer.wait_ready() {
                Ok(()) => return Ok(bouncer),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// Waits until it accepts connections, or says why it stopped.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let stderr =
                    std::fs::read_to_string(self.dir.join("stderr.txt")).unwrap_or_default();
                let log =
                    std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default();
                return Err(format!("pgbouncer exited ({status}): {stderr}{log}"));
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("pgbouncer did not listen within 10 s".into())
    }

    /// The URL of `database` through this PgBouncer.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgresql://postgres@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `postgres` user's ids when running as root.
fn run_as() -> Option<(u32, u32)> {
    if !nix::unistd::Uid::current().is_root() {
        return None;
    }
    let user = nix::unistd::User::from_name("postgres").ok()??;
    Some((user.uid.as_raw(), user.gid.as_raw()))
}
