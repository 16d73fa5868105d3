//! The project's own PostgreSQL server: found, created and started on demand.
//!
//! One module serves the CLI's default database (`.mv-admin/pg`), the test
//! harness's shared cluster and any test that needs a server of its own. The
//! cluster listens on a Unix socket in a private folder and nowhere else.

use std::fs::{self, File};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::unistd::{Gid, Uid, User};

use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use crate::programs::find_bin_dir;

/// Longest Unix socket path PostgreSQL accepts (`sizeof(sun_path) - 1`).
const MAX_SOCKET_PATH: usize = 107;
/// The port only names the socket file (`.s.PGSQL.<port>`); no TCP is opened
/// unless [`ServerOptions::tcp_port`] asks for it.
const PORT: u16 = 5432;
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// What went wrong while finding, creating or starting the local server.
#[derive(Debug, thiserror::Error)]
pub enum LocalServerError {
    #[error(
        "PostgreSQL's server programs (initdb, pg_ctl, postgres) were not found in MV_PG_BINDIR, \
         PATH, `pg_config --bindir`, /usr/lib/postgresql/*/bin or Homebrew's folders. Install them \
         (`apt-get install postgresql` or `brew install postgresql@17`), point MV_PG_BINDIR at \
         them, or set DATABASE_URL to use another server"
    )]
    BinariesNotFound,
    #[error("MV_PG_BINDIR={0} does not contain initdb, pg_ctl and postgres")]
    BadBinDir(PathBuf),
    #[error(
        "PostgreSQL refuses to run as root, so the server runs as the `postgres` user, but that \
         user cannot reach {blocked} (needed for {cluster}). Fix it with `chmod o+x {blocked}`, \
         move the cluster with MV_PG_DIR=/var/tmp/mv-admin-pg, or set DATABASE_URL"
    )]
    Unreachable { blocked: PathBuf, cluster: PathBuf },
    #[error(
        "running as root, but there is no `postgres` system user to run the server as: create it \
         (`useradd --system postgres`, or install the postgresql package), or set DATABASE_URL"
    )]
    NoPostgresUser,
    #[error("{action} failed: {detail}")]
    Command { action: String, detail: String },
    #[error("the server in {dir} did not accept connections within {secs} s; see {log}", secs = START_TIMEOUT.as_secs())]
    StartTimeout { dir: PathBuf, log: PathBuf },
    #[error("could not prepare the local database")]
    Database(#[source] tokio_postgres::Error),
    // The cause is in the message, not a `source`: printed chains would
    // repeat it.
    #[error("{context}: {cause}")]
    Io {
        context: String,
        cause: std::io::Error,
    },
}

type Result<T, E = LocalServerError> = std::result::Result<T, E>;

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> LocalServerError {
    let context = context.into();
    move |cause| LocalServerError::Io { context, cause }
}

/// How a cluster is configured when it is first created.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Trade durability for speed (`fsync`, `synchronous_commit` and
    /// `full_page_writes` off): for throw-away test clusters only.
    pub unsafe_fast: bool,
    /// Also listen on 127.0.0.1 at this port (TLS tests need TCP).
    pub tcp_port: Option<u16>,
    /// Further `postgresql.conf` settings, written once at creation.
    pub settings: Vec<(String, String)>,
}

/// A PostgreSQL cluster in a folder of its own.
#[derive(Debug, Clone)]
pub struct LocalServer {
    home: PathBuf,
    socket_dir: PathBuf,
    bin_dir: PathBuf,
    /// The system user the server runs as when we are root.
    run_as: Option<(Uid, Gid)>,
    options: ServerOptions,
}

impl LocalServer {
    /// The project's default server: `MV_PG_DIR`, else `.mv-admin/pg` in the
    /// project folder (the nearest ancestor holding `.mv-admin`, `.git` or a
    /// workspace `Cargo.toml`, else the current folder).
    pub fn for_project() -> Result<Self> {
        let home = match std::env::var_os("MV_PG_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => {
                let cwd = std::env::current_dir().map_err(io_err("reading the current folder"))?;
                project_root(&cwd).join(".mv-admin").join("pg")
            }
        };
        Self::new(home, ServerOptions::default())
    }

    /// A cluster in `home` (created on first start).
    pub fn new(home: impl Into<PathBuf>, options: ServerOptions) -> Result<Self> {
        let home = absolute(home.into())?;
        let bin_dir = find_bin_dir()?;
        let run_as = server_user()?;
        let socket_dir = socket_dir_for(&home);
        Ok(Self {
            home,
            socket_dir,
            bin_dir,
            run_as,
            options,
        })
    }

    /// The folder that holds the cluster, its log and its lock.
    pub fn home(&self) -> &Path {
        &self.home
    }

    fn data_dir(&self) -> PathBuf {
        self.home.join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.home.join("server.log")
    }

    /// The folder holding the server's socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// A connection URL for `database` on this server, usable by psql too.
    pub fn url(&self, database: &str) -> String {
        let host = percent_encoding::utf8_percent_encode(
            &self.socket_dir.to_string_lossy(),
            percent_encoding::NON_ALPHANUMERIC,
        )
        .to_string();
        let port = self.options.tcp_port.unwrap_or(PORT);
        format!("postgresql:///{database}?host={host}&port={port}&user=postgres")
    }

    /// Whether the cluster has been created.
    pub fn exists(&self) -> bool {
        self.data_dir().join("PG_VERSION").exists()
    }

    /// Whether the server accepts connections: we ask it, not `pg_ctl status`.
    pub async fn is_running(&self) -> bool {
        let url = self.url("postgres");
        let attempt = tokio_postgres::connect(&url, NoTls);
        match tokio::time::timeout(Duration::from_secs(2), attempt).await {
            Ok(Ok((client, connection))) => {
                drop(client);
                let _ = connection.await;
                true
            }
            _ => false,
        }
    }

    /// Creates the cluster if needed and starts the server if it is not up.
    /// Concurrent callers, in this process or others, create and start it once.
    pub async fn ensure_running(&self) -> Result<()> {
        if self.is_running().await {
            return Ok(());
        }
        let lock = self.lock().await?;
        if !self.is_running().await {
            if !self.exists() {
                self.init()?;
            }
            self.start().await?;
        }
        drop(lock);
        Ok(())
    }

    /// Stops the server if it runs; returns whether it was running.
    pub async fn stop(&self) -> Result<bool> {
        let _lock = self.lock().await?;
        if !self.exists() || !self.data_dir().join("postmaster.pid").exists() {
            return Ok(false);
        }
        let out = self
            .pg_command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "fast", "-w", "-s"])
            .output()
            .map_err(io_err("running pg_ctl stop"))?;
        Ok(out.status.success())
    }

    /// Stops the server and deletes the cluster with all its data.
    pub async fn destroy(&self) -> Result<()> {
        self.stop().await?;
        if self.home.exists() {
            fs::remove_dir_all(&self.home)
                .map_err(io_err(format!("removing {}", self.home.display())))?;
        }
        if !self.socket_dir.starts_with(&self.home) && self.socket_dir.exists() {
            fs::remove_dir_all(&self.socket_dir)
                .map_err(io_err(format!("removing {}", self.socket_dir.display())))?;
        }
        Ok(())
    }

    /// Creates database `name` on the running server when it is missing.
    pub async fn ensure_database(&self, name: &str) -> Result<()> {
        let failed = LocalServerError::Database;
        let (client, connection) = tokio_postgres::connect(&self.url("postgres"), NoTls)
            .await
            .map_err(failed)?;
        let driver = tokio::spawn(connection);
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await
            .map_err(failed)?
            .is_some();
        if !exists {
            let create = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
            match client.batch_execute(&create).await {
                Ok(()) => {}
                // Another command created it at the same moment (which of the
                // two errors PostgreSQL raises depends on the timing).
                Err(e)
                    if e.code() == Some(&SqlState::DUPLICATE_DATABASE)
                        || e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {}
                Err(e) => return Err(failed(e)),
            }
        }
        drop(client);
        let _ = driver.await;
        Ok(())
    }

    /// Writes a file into the cluster's folder, owned by the server's user
    /// (for example a TLS key, which PostgreSQL wants private and its own).
    pub fn install_file(&self, name: &str, contents: &[u8], mode: u32) -> Result<PathBuf> {
        self.make_dir(&self.home, 0o755)?;
        let path = self.home.join(name);
        fs::write(&path, contents).map_err(io_err(format!("writing {}", path.display())))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .map_err(io_err(format!("setting the mode of {}", path.display())))?;
        self.give_to_server_user(&path)?;
        Ok(path)
    }

    /// Holds the cluster's file lock until dropped.
    async fn lock(&self) -> Result<File> {
        fs::create_dir_all(&self.home)
            .map_err(io_err(format!("creating {}", self.home.display())))?;
        let path = self.home.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(format!("opening {}", path.display())))?;
        tokio::task::spawn_blocking(move || file.lock().map(|()| file))
            .await
            .map_err(|e| LocalServerError::Io {
                context: "waiting for the cluster lock".into(),
                cause: std::io::Error::other(e),
            })?
            .map_err(io_err(format!("locking {}", path.display())))
    }

    fn init(&self) -> Result<()> {
        self.check_reachable()?;
        // The home folder must be traversable by the server's user; the data
        // and socket folders are its own and private.
        self.make_dir(
            &self.home,
            if self.run_as.is_some() { 0o755 } else { 0o700 },
        )?;
        let data = self.data_dir();
        if data.exists() {
            // A creation that died midway: start again from nothing.
            fs::remove_dir_all(&data).map_err(io_err(format!("removing {}", data.display())))?;
        }
        self.make_dir(&data, 0o700)?;
        self.make_dir(&self.socket_dir, 0o700)?;
        run(
            self.pg_command("initdb")
                .arg("-D")
                .arg(&data)
                // Trust only the private socket; TCP, when enabled, wants a password.
                .args(["-U", "postgres", "-E", "UTF8", "--locale=C"])
                .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
                .args(["--no-sync", "--no-instructions"]),
            "initdb",
        )?;
        let conf = self.postgresql_conf();
        let conf_path = data.join("postgresql.conf");
        let mut text = fs::read_to_string(&conf_path)
            .map_err(io_err(format!("reading {}", conf_path.display())))?;
        text.push_str(&conf);
        fs::write(&conf_path, text).map_err(io_err(format!("writing {}", conf_path.display())))?;
        Ok(())
    }

    fn postgresql_conf(&self) -> String {
        let quote = |v: &str| format!("'{}'", v.replace('\'', "''"));
        let listen = match self.options.tcp_port {
            Some(_) => "127.0.0.1",
            None => "",
        };
        let mut settings: Vec<(String, String)> = vec![
            ("listen_addresses".into(), quote(listen)),
            (
                "port".into(),
                self.options.tcp_port.unwrap_or(PORT).to_string(),
            ),
            (
                "unix_socket_directories".into(),
                quote(&self.socket_dir.to_string_lossy()),
            ),
            ("unix_socket_permissions".into(), "0700".into()),
            ("max_connections".into(), "300".into()),
            ("logging_collector".into(), "off".into()),
        ];
        if self.options.unsafe_fast {
            for key in ["fsync", "synchronous_commit", "full_page_writes"] {
                settings.push((key.into(), "off".into()));
            }
        }
        settings.extend(self.options.settings.iter().cloned());
        let mut conf = String::from("\n# Written by mv-admin when the cluster was created.\n");
        for (key, value) in settings {
            conf.push_str(&format!("{key} = {value}\n"));
        }
        conf
    }

    async fn start(&self) -> Result<()> {
        self.make_dir(&self.socket_dir, 0o700)?;
        let log = self.log_file();
        if !log.exists() {
            File::create(&log).map_err(io_err(format!("creating {}", log.display())))?;
            self.give_to_server_user(&log)?;
        }
        // pg_ctl without -w returns at once; we wait by connecting, which
        // notices readiness sooner than pg_ctl's 100 ms polling.
        run(
            self.pg_command("pg_ctl")
                .arg("start")
                .arg("-D")
                .arg(self.data_dir())
                .arg("-l")
                .arg(&log)
                .args(["-W", "-s"]),
            "pg_ctl start",
        )?;
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if self.is_running().await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Err(LocalServerError::StartTimeout {
            dir: self.data_dir(),
            log,
        })
    }

    /// A command for one of PostgreSQL's programs, run as the server's user.
    fn pg_command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        cmd.current_dir(&self.home)
            .env_remove("PGDATA")
            .env_remove("PGHOST")
            .env_remove("PGPORT")
            .env("LC_ALL", "C")
            .stdin(Stdio::null());
        if let Some((uid, gid)) = self.run_as {
            // std drops root's supplementary groups when it sets the uid.
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
        }
        cmd
    }

    fn make_dir(&self, dir: &Path, mode: u32) -> Result<()> {
        fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(mode))
            .map_err(io_err(format!("setting the mode of {}", dir.display())))?;
        if mode == 0o700 {
            self.give_to_server_user(dir)?;
        }
        Ok(())
    }

    fn give_to_server_user(&self, path: &Path) -> Result<()> {
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(path, Some(uid.as_raw()), Some(gid.as_raw())).map_err(
                io_err(format!("giving {} to the postgres user", path.display())),
            )?;
        }
        Ok(())
    }

    /// As root, every ancestor of the cluster must be searchable by the
    /// server's user; name the first one that is not.
    fn check_reachable(&self) -> Result<()> {
        let Some((uid, gid)) = self.run_as else {
            return Ok(());
        };
        for dir in self.home.ancestors().skip(1) {
            let Ok(meta) = fs::metadata(dir) else {
                continue; // created by us below, with a reachable mode
            };
            let mode = meta.mode();
            let searchable = if meta.uid() == uid.as_raw() {
                mode & 0o100 != 0
            } else if meta.gid() == gid.as_raw() {
                mode & 0o010 != 0
            } else {
                mode & 0o001 != 0
            };
            if !searchable {
                return Err(LocalServerError::Unreachable {
                    blocked: dir.to_path_buf(),
                    cluster: self.home.clone(),
                });
            }
        }
        Ok(())
    }
}

fn run(cmd: &mut Command, action: &str) -> Result<()> {
    let out = cmd.output().map_err(io_err(format!("running {action}")))?;
    if out.status.success() {
        return Ok(());
    }
    let mut detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if detail.is_empty() {
        detail = String::from_utf8_lossy(&out.stdout).trim().to_string();
    }
    Err(LocalServerError::Command {
        action: action.to_string(),
        detail: format!("{} ({})", detail, out.status),
    })
}

fn absolute(path: PathBuf) -> Result<PathBuf> {
    std::path::absolute(&path).map_err(io_err(format!("resolving {}", path.display())))
}

/// The nearest ancestor that looks like the project's root.
pub(crate) fn project_root(start: &Path) -> PathBuf {
    for dir in start.ancestors() {
        if dir.join(".mv-admin").is_dir() || dir.join(".git").exists() {
            return dir.to_path_buf();
        }
        let manifest = dir.join("Cargo.toml");
        if fs::read_to_string(&manifest).is_ok_and(|text| text.contains("[workspace]")) {
            return dir.to_path_buf();
        }
    }
    start.to_path_buf()
}

/// The socket lives in the cluster's home unless that path is too long for a
/// Unix socket; then in a short private folder in the system temp folder.
fn socket_dir_for(home: &Path) -> PathBuf {
    let preferred = home.join("run");
    let socket_file_len = format!("/.s.PGSQL.{PORT}").len();
    if preferred.as_os_str().len() + socket_file_len <= MAX_SOCKET_PATH {
        return preferred;
    }
    let tmp = std::env::temp_dir().join(format!(
        "mv-pg-{:016x}",
        crate::stable_hash(home.as_os_str().as_encoded_bytes())
    ));
    if tmp.as_os_str().len() + socket_file_len <= MAX_SOCKET_PATH {
        tmp
    } else {
        PathBuf::from("/tmp").join(format!(
            "mv-pg-{:016x}",
            crate::stable_hash(home.as_os_str().as_encoded_bytes())
        ))
    }
}

/// As root the server runs as `postgres`; otherwise as ourselves.
fn server_user() -> Result<Option<(Uid, Gid)>> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    match User::from_name("postgres") {
        Ok(Some(user)) => Ok(Some((user.uid, user.gid))),
        _ => Err(LocalServerError::NoPostgresUser),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_homes_get_a_short_socket_folder() {
        let long = PathBuf::from(format!("/{}", "a".repeat(150)));
        let dir = socket_dir_for(&long);
        assert!(
            dir.as_os_str().len() + 12 <= MAX_SOCKET_PATH,
            "{}",
            dir.display()
        );
        assert_eq!(dir, socket_dir_for(&long), "the folder must be stable");
        assert_eq!(socket_dir_for(Path::new("/p")), PathBuf::from("/p/run"));
    }

    #[test]
    fn urls_escape_the_socket_folder() {
        let server = LocalServer {
            home: "/x y".into(),
            socket_dir: "/x y/run".into(),
            bin_dir: "/bin".into(),
            run_as: None,
            options: ServerOptions::default(),
        };
        assert_eq!(
            server.url("mindvault"),
            "postgresql:///mindvault?host=%2Fx%20y%2Frun&port=5432&user=postgres"
        );
    }
}
