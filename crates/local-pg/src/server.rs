//! The project's own PostgreSQL server: found, created and started on demand.
//!
//! One module serves the CLI's default database (`.mv-admin/pg`), the test
//! harness's shared cluster and any test that needs a server of its own. The
//! cluster listens on a Unix socket in a private folder and nowhere else.
//!
//! Whatever was interrupted or stands in the way:
//! - only folders the project made are used: a folder it makes gets a marker
//!   file, checked before anything is created, started, stopped or deleted;
//! - a cluster is made in a temporary folder, renamed into place once
//!   complete, and started only when complete; the settings that keep it
//!   private are given on the postmaster's command line, where they win over
//!   postgresql.conf and `ALTER SYSTEM`;
//! - PostgreSQL's programs get their paths as arguments, never through a
//!   shell (so the postmaster is started directly, not by `pg_ctl`);
//! - a running postmaster is found by its pid files or, when those are gone,
//!   by its command line, and nothing is deleted while one runs;
//! - only [`LocalServer::destroy`] deletes a cluster: a damaged one is
//!   reported with what is wrong.

mod lock;
mod processes;
mod standby;

use std::fs::{self, File};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::unistd::{Gid, Uid, User};

use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use crate::programs::find_bin_dir;

use lock::{ClusterLock, LockNotice};
pub use lock::{LockHolder, LockWait};
use processes::StopError;

/// Longest Unix socket path PostgreSQL accepts (`sizeof(sun_path) - 1`).
const MAX_SOCKET_PATH: usize = 107;
/// The port only names the socket file (`.s.PGSQL.<port>`); no TCP is opened
/// unless [`ServerOptions::tcp_port`] asks for it.
const PORT: u16 = 5432;
const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a command waits for another's hold on the cluster's lock.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);
/// The file that marks a folder as one the project made.
pub const MARKER: &str = "mv-admin-cluster";
const MARKER_TEXT: &str = "This folder holds a PostgreSQL cluster made by mv-admin: data/ (the \
cluster), run/ (its socket), server.log and lock. `mv-admin db reset` deletes it.\n";
/// The line that opens the settings appended to a new cluster's
/// postgresql.conf, the last step of its creation: a cluster without it is
/// incomplete. (Clusters made before the marker file are recognised by it.)
const CONF_HEADER: &str = "# Written by mv-admin when the cluster was created.";
/// A cluster is made in `<home>/<prefix><pid>`, then renamed to `data`.
const CREATING_PREFIX: &str = "data.creating-";

/// What went wrong while finding, creating or starting the local server.
#[derive(Debug, thiserror::Error)]
pub enum LocalServerError {
    #[error(
        "PostgreSQL's server programs (initdb, postgres) were not found in MV_PG_BINDIR, PATH, \
         `pg_config --bindir`, /usr/lib/postgresql/*/bin or Homebrew's folders. Install them \
         (`apt-get install postgresql` or `brew install postgresql@17`), point MV_PG_BINDIR at \
         them, or set DATABASE_URL to use another server"
    )]
    BinariesNotFound,
    #[error("MV_PG_BINDIR={0} does not contain initdb and postgres")]
    BadBinDir(PathBuf),
    #[error(
        "PostgreSQL's programs are in {0:?}, whose name holds a character a shell expands \
         ($, `, \\ or \"), and initdb runs postgres through a shell: install or link them in a \
         folder with a plain name and point MV_PG_BINDIR at it"
    )]
    UnsafeBinDir(PathBuf),
    #[error(
        "cannot keep a local cluster in {path:?}: {reason}; choose another folder with MV_PG_DIR"
    )]
    BadPath { path: PathBuf, reason: &'static str },
    #[error(
        "{dir} was not made by mv-admin (it holds no `{MARKER}` file), so nothing in it is \
         created, started, stopped or deleted; point MV_PG_DIR at a new or empty folder"
    )]
    NotOurs { dir: PathBuf },
    #[error(
        "{dir} is in the way of the local server's socket: it must be a folder of the server's \
         user with mode 0700, not a link; delete it if nothing else uses it"
    )]
    UnsafeSocketDir { dir: PathBuf },
    #[error(
        "the local cluster in {home} is damaged: {problem}. It was neither started nor deleted: \
         copy out what you need (or restore a backup), then `mv-admin db reset` deletes it and \
         the next start makes a new one"
    )]
    Damaged { home: PathBuf, problem: String },
    #[error(
        "gave up after {} s waiting for the lock on the local cluster in {home}, held by \
         {holder}; if that process is stuck, end it and try again", seconds(*waited)
    )]
    LockTimeout {
        home: PathBuf,
        holder: LockHolder,
        waited: Duration,
    },
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
    #[error("the server in {dir} stopped as it started ({status}): {said} (see {log})")]
    StartFailed {
        dir: PathBuf,
        status: String,
        said: String,
        log: PathBuf,
    },
    #[error("the server of the cluster in {dir} (pid {pid}) did not stop within {secs} s", secs = STOP_TIMEOUT.as_secs())]
    StopTimeout { dir: PathBuf, pid: u32 },
    #[error(
        "a server answers on the socket of the cluster in {dir}, but its process was not found \
         (no postmaster.pid, no socket lock file); stop it by hand, nothing was changed"
    )]
    Untracked { dir: PathBuf },
    #[error("a server still runs on the cluster in {dir}{}; nothing was deleted", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    StillRunning { dir: PathBuf, pid: Option<u32> },
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

/// `2` for two seconds, `1.5` for one and a half.
fn seconds(duration: Duration) -> String {
    format!("{}", duration.as_secs_f64())
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
    lock_timeout: Duration,
    lock_notice: Option<LockNotice>,
}

/// What is in a cluster's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterState {
    /// No cluster yet: the next start makes one.
    NotCreated,
    /// Complete, with the project's settings.
    Created,
    /// Not usable as it is; the text says what is wrong.
    Damaged(String),
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
        check_path(&home)?;
        let bin_dir = find_bin_dir()?;
        let run_as = server_user()?;
        let socket_dir = socket_dir_for(&home);
        check_path(&socket_dir)?;
        Ok(Self {
            home,
            socket_dir,
            bin_dir,
            run_as,
            options,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            lock_notice: None,
        })
    }

    /// How long to wait for another command's hold on the cluster's lock
    /// before failing with [`LocalServerError::LockTimeout`] (default
    /// [`DEFAULT_LOCK_TIMEOUT`]).
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Calls `notice` when a wait for the cluster's lock passes a second,
    /// with the holder's pid and command.
    pub fn on_lock_wait(mut self, notice: impl Fn(&LockWait<'_>) + Send + Sync + 'static) -> Self {
        self.lock_notice = Some(LockNotice(Arc::new(notice)));
        self
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

    fn port(&self) -> u16 {
        self.options.tcp_port.unwrap_or(PORT)
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
        format!(
            "postgresql:///{database}?host={host}&port={}&user=postgres",
            self.port()
        )
    }

    /// What the cluster's folder holds; a folder the project did not make
    /// is refused.
    pub fn state(&self) -> Result<ClusterState> {
        if !self.is_ours()? {
            return Ok(ClusterState::NotCreated);
        }
        let data = self.data_dir();
        match fs::symlink_metadata(&data) {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(ClusterState::NotCreated),
            Err(e) => {
                return Ok(ClusterState::Damaged(format!(
                    "{} cannot be read ({e})",
                    data.display()
                )));
            }
            Ok(meta) if !meta.is_dir() => {
                return Ok(ClusterState::Damaged(format!(
                    "{} is not a folder",
                    data.display()
                )));
            }
            Ok(_) => {}
        }
        for file in ["PG_VERSION", "global/pg_control", "postgresql.conf"] {
            if !data.join(file).is_file() {
                return Ok(ClusterState::Damaged(format!("data/{file} is missing")));
            }
        }
        Ok(if has_project_settings(&data) {
            ClusterState::Created
        } else {
            ClusterState::Damaged(
                "data/postgresql.conf lacks the settings mv-admin adds when a cluster is complete"
                    .into(),
            )
        })
    }

    /// Whether the cluster has been created (complete or damaged).
    pub fn exists(&self) -> bool {
        !matches!(self.state(), Ok(ClusterState::NotCreated) | Err(_))
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
        self.claim_home()?;
        if self.is_running().await {
            return Ok(());
        }
        let _lock = self.lock().await?;
        if self.is_running().await {
            return Ok(());
        }
        match self.state()? {
            ClusterState::NotCreated => self.create()?,
            ClusterState::Damaged(problem) => {
                return Err(LocalServerError::Damaged {
                    home: self.home.clone(),
                    problem,
                });
            }
            ClusterState::Created => {}
        }
        self.start().await
    }

    /// Starts the server when needed, creates database `name` when missing,
    /// and returns that database's URL.
    pub async fn start_database(&self, name: &str) -> Result<String> {
        self.ensure_running().await?;
        self.ensure_database(name).await?;
        Ok(self.url(name))
    }

    /// Stops the server if it runs; returns whether it was running.
    pub async fn stop(&self) -> Result<bool> {
        if !self.is_ours()? {
            return Ok(false);
        }
        let _lock = self.lock().await?;
        self.stop_postmaster().await
    }

    async fn stop_postmaster(&self) -> Result<bool> {
        let Some(pid) = self.find_postmaster() else {
            if self.is_running().await {
                return Err(LocalServerError::Untracked {
                    dir: self.home.clone(),
                });
            }
            return Ok(false);
        };
        match processes::stop(pid, STOP_TIMEOUT).await {
            Ok(()) => Ok(true),
            Err(StopError::Signal(cause)) => Err(LocalServerError::Io {
                context: format!("stopping the server (pid {pid})"),
                cause,
            }),
            Err(StopError::Timeout) => Err(LocalServerError::StopTimeout {
                dir: self.home.clone(),
                pid,
            }),
        }
    }

    /// The postmaster running on this cluster, however it was started.
    fn find_postmaster(&self) -> Option<u32> {
        let socket_lock = self
            .socket_dir
            .join(format!(".s.PGSQL.{}.lock", self.port()));
        processes::find_postmaster(&self.data_dir(), &socket_lock)
    }

    /// Stops the server and deletes the cluster with all its data; never
    /// while a server runs on it, and never a folder the project did not
    /// make.
    pub async fn destroy(&self) -> Result<()> {
        if self.is_ours()? {
            let _lock = self.lock().await?;
            self.stop_postmaster().await?;
            let pid = self.find_postmaster();
            if pid.is_some() || self.is_running().await {
                return Err(LocalServerError::StillRunning {
                    dir: self.home.clone(),
                    pid,
                });
            }
            fs::remove_dir_all(&self.home)
                .map_err(io_err(format!("removing {}", self.home.display())))?;
        }
        if !self.socket_dir.starts_with(&self.home)
            && fs::symlink_metadata(&self.socket_dir)
                .is_ok_and(|meta| meta.is_dir() && meta.uid() == self.server_uid())
        {
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
        self.claim_home()?;
        let path = self.home.join(name);
        fs::write(&path, contents).map_err(io_err(format!("writing {}", path.display())))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .map_err(io_err(format!("setting the mode of {}", path.display())))?;
        self.give_to_server_user(&path)?;
        Ok(path)
    }

    /// Whether the home folder is one the project made: `Ok(false)` when
    /// there is none, an error when it is someone else's.
    fn is_ours(&self) -> Result<bool> {
        match fs::metadata(&self.home) {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err(format!("reading {}", self.home.display()))(e)),
            Ok(meta) if meta.is_dir() && (self.marked() || self.made_before_markers()) => Ok(true),
            Ok(_) => Err(self.not_ours()),
        }
    }

    fn marked(&self) -> bool {
        fs::symlink_metadata(self.home.join(MARKER)).is_ok_and(|meta| meta.is_file())
    }

    /// A cluster made before the marker file existed carries the project's
    /// settings.
    fn made_before_markers(&self) -> bool {
        has_project_settings(&self.data_dir())
    }

    fn not_ours(&self) -> LocalServerError {
        LocalServerError::NotOurs {
            dir: self.home.clone(),
        }
    }

    /// Makes the home folder the project's: created with its marker, or
    /// marked when it is empty; a folder holding anything else is refused
    /// before anything is written into it.
    fn claim_home(&self) -> Result<()> {
        match fs::metadata(&self.home) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(self.not_ours()),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if let Some(parent) = self.home.parent() {
                    fs::create_dir_all(parent)
                        .map_err(io_err(format!("creating {}", parent.display())))?;
                }
                match fs::create_dir(&self.home) {
                    // The server's user must traverse it; the data and
                    // socket folders are its own and private.
                    Ok(()) => fs::set_permissions(
                        &self.home,
                        fs::Permissions::from_mode(if self.run_as.is_some() {
                            0o755
                        } else {
                            0o700
                        }),
                    )
                    .map_err(io_err(format!(
                        "setting the mode of {}",
                        self.home.display()
                    )))?,
                    // Another command made it at the same moment.
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io_err(format!("creating {}", self.home.display()))(e)),
                }
            }
            Err(e) => return Err(io_err(format!("reading {}", self.home.display()))(e)),
        }
        // Emptiness first: a marker written meanwhile by another command
        // makes the folder non-empty, and is seen next.
        let empty = fs::read_dir(&self.home)
            .map_err(io_err(format!("reading {}", self.home.display())))?
            .next()
            .is_none();
        if self.marked() {
            return Ok(());
        }
        if !empty && !self.made_before_markers() {
            return Err(self.not_ours());
        }
        let marker = self.home.join(MARKER);
        match File::options().write(true).create_new(true).open(&marker) {
            Ok(mut file) => file
                .write_all(MARKER_TEXT.as_bytes())
                .map_err(io_err(format!("writing {}", marker.display()))),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(io_err(format!("writing {}", marker.display()))(e)),
        }
    }

    /// Holds the cluster's file lock until dropped.
    async fn lock(&self) -> Result<ClusterLock> {
        lock::acquire(&self.home, self.lock_timeout, self.lock_notice.as_ref()).await
    }

    /// Makes the cluster in a folder of its own and renames it to `data` once
    /// complete: an interrupted creation never leaves a `data` folder.
    fn create(&self) -> Result<()> {
        self.check_reachable()?;
        self.remove_unfinished_creations();
        let creating = self
            .home
            .join(format!("{CREATING_PREFIX}{}", std::process::id()));
        let created = self.make_dir(&creating, 0o700).and_then(|()| {
            self.init(&creating)?;
            fs::rename(&creating, self.data_dir()).map_err(io_err(format!(
                "renaming {} to {}",
                creating.display(),
                self.data_dir().display()
            )))
        });
        if created.is_err() {
            let _ = fs::remove_dir_all(&creating);
        }
        created
    }

    /// Creations that were interrupted (the lock is held: none is under
    /// way) hold nothing but what initdb wrote; an initdb left running by a
    /// killed command may still be writing, so failures are left for later.
    fn remove_unfinished_creations(&self) {
        let Ok(entries) = fs::read_dir(&self.home) else {
            return;
        };
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.starts_with(CREATING_PREFIX))
            {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }

    fn init(&self, data: &Path) -> Result<()> {
        run(
            self.pg_command("initdb")
                .arg("-D")
                .arg(data)
                // Trust only the private socket; TCP, when enabled, wants a password.
                .args(["-U", "postgres", "-E", "UTF8", "--locale=C"])
                .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
                .args(["--no-sync", "--no-instructions"]),
            "initdb",
        )?;
        let conf_path = data.join("postgresql.conf");
        let mut conf = File::options()
            .append(true)
            .open(&conf_path)
            .map_err(io_err(format!("opening {}", conf_path.display())))?;
        conf.write_all(self.postgresql_conf().as_bytes())
            .map_err(io_err(format!("writing {}", conf_path.display())))
    }

    /// The settings that keep the server private. They go on the
    /// postmaster's command line, where they win over postgresql.conf and
    /// `ALTER SYSTEM`, and into postgresql.conf for anyone starting the
    /// cluster by hand.
    fn private_settings(&self) -> [(&'static str, String); 4] {
        let listen = match self.options.tcp_port {
            Some(_) => "127.0.0.1",
            None => "",
        };
        [
            ("listen_addresses", listen.to_string()),
            ("port", self.port().to_string()),
            // A comma would split it; socket_dir_for never picks one.
            (
                "unix_socket_directories",
                self.socket_dir.to_string_lossy().into_owned(),
            ),
            ("unix_socket_permissions", "0700".to_string()),
        ]
    }

    fn postgresql_conf(&self) -> String {
        // postgresql.conf's string syntax: quotes doubled, backslashes escaped.
        let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "''"));
        let mut settings: Vec<(String, String)> = self
            .private_settings()
            .into_iter()
            .map(|(key, value)| (key.to_string(), quote(&value)))
            .collect();
        settings.push(("max_connections".into(), "300".into()));
        settings.push(("logging_collector".into(), "off".into()));
        if self.options.unsafe_fast {
            for key in ["fsync", "synchronous_commit", "full_page_writes"] {
                settings.push((key.into(), "off".into()));
            }
        }
        settings.extend(self.options.settings.iter().cloned());
        let mut conf = format!("\n{CONF_HEADER}\n");
        for (key, value) in settings {
            conf.push_str(&format!("{key} = {value}\n"));
        }
        conf
    }

    /// Starts the postmaster itself, with an argument vector (pg_ctl would
    /// pass the paths through `sh -c`), in a process group of its own so a
    /// Ctrl-C meant for the command does not reach it.
    async fn start(&self) -> Result<()> {
        self.prepare_socket_dir()?;
        let log_path = self.log_file();
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_err(format!("opening {}", log_path.display())))?;
        self.give_to_server_user(&log_path)?;
        let log_too = log
            .try_clone()
            .map_err(io_err(format!("opening {}", log_path.display())))?;
        let mut postmaster = self
            .pg_command("postgres")
            .arg("-D")
            .arg(self.data_dir())
            .args(
                self.private_settings()
                    .into_iter()
                    .flat_map(|(key, value)| ["-c".to_string(), format!("{key}={value}")]),
            )
            .stdout(log)
            .stderr(log_too)
            .process_group(0)
            .spawn()
            .map_err(io_err("starting postgres"))?;
        let deadline = Instant::now() + START_TIMEOUT;
        // We wait by connecting, which notices readiness sooner than
        // pg_ctl's 100 ms polling.
        loop {
            if self.is_running().await {
                break;
            }
            if let Ok(Some(status)) = postmaster.try_wait() {
                return Err(LocalServerError::StartFailed {
                    dir: self.data_dir(),
                    status: status.to_string(),
                    said: last_complaint(&log_path),
                    log: log_path,
                });
            }
            if Instant::now() >= deadline {
                std::thread::spawn(move || postmaster.wait());
                return Err(LocalServerError::StartTimeout {
                    dir: self.data_dir(),
                    log: log_path,
                });
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Collects its exit status when it ends while this process lives
        // on (a test that restarts it); otherwise it outlives us.
        std::thread::spawn(move || postmaster.wait());
        Ok(())
    }

    /// The socket's folder: made private in the cluster's folder, or, when
    /// it lies in the system temp folder, made anew or accepted only when it
    /// is already the server user's private folder.
    fn prepare_socket_dir(&self) -> Result<()> {
        if self.socket_dir.starts_with(&self.home) {
            return self.make_dir(&self.socket_dir, 0o700);
        }
        let dir = &self.socket_dir;
        match std::os::unix::fs::DirBuilderExt::mode(&mut fs::DirBuilder::new(), 0o700).create(dir)
        {
            Ok(()) => self.give_to_server_user(dir),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let private = fs::symlink_metadata(dir).is_ok_and(|meta| {
                    meta.is_dir() && meta.uid() == self.server_uid() && meta.mode() & 0o077 == 0
                });
                if private {
                    Ok(())
                } else {
                    Err(LocalServerError::UnsafeSocketDir { dir: dir.clone() })
                }
            }
            Err(e) => Err(io_err(format!("creating {}", dir.display()))(e)),
        }
    }

    fn server_uid(&self) -> u32 {
        self.run_as
            .map_or_else(|| Uid::effective().as_raw(), |(uid, _)| uid.as_raw())
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

    /// As root, the cluster's folder and its ancestors must be searchable by
    /// the server's user; name the first one that is not.
    fn check_reachable(&self) -> Result<()> {
        let Some((uid, gid)) = self.run_as else {
            return Ok(());
        };
        for dir in self.home.ancestors() {
            let Ok(meta) = fs::metadata(dir) else {
                continue;
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

/// Whether the cluster in `data` carries the settings appended when its
/// creation completed.
fn has_project_settings(data: &Path) -> bool {
    fs::read_to_string(data.join("postgresql.conf"))
        .is_ok_and(|conf| conf.lines().any(|line| line == CONF_HEADER))
}

/// Paths reach postgresql.conf, the postmaster's settings and connection
/// URLs: they must be text, without control characters.
fn check_path(path: &Path) -> Result<()> {
    let reason = match path.to_str() {
        None => "its name is not valid UTF-8",
        Some(text) if text.chars().any(char::is_control) => {
            "its name holds a control character (a newline, a tab, ...)"
        }
        Some(_) => return Ok(()),
    };
    Err(LocalServerError::BadPath {
        path: path.to_path_buf(),
        reason,
    })
}

/// What the server's log last said went wrong, for an error message.
fn last_complaint(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let line = lines
        .iter()
        .rev()
        .find(|l| l.contains("FATAL") || l.contains("PANIC") || l.contains("ERROR"))
        .or(lines.last())
        .copied()
        .unwrap_or("the log is empty");
    line.chars().filter(|c| !c.is_control()).take(300).collect()
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
/// Unix socket or holds a comma (which would split it in
/// `unix_socket_directories` and in a URL's `host`); then in a short private
/// folder in the system temp folder.
fn socket_dir_for(home: &Path) -> PathBuf {
    let socket_file_len = format!("/.s.PGSQL.{PORT}").len();
    let usable = |dir: &Path| {
        dir.as_os_str().len() + socket_file_len <= MAX_SOCKET_PATH
            && !dir.as_os_str().as_encoded_bytes().contains(&b',')
    };
    let name = format!(
        "mv-pg-{:016x}",
        crate::stable_hash(home.as_os_str().as_encoded_bytes())
    );
    [home.join("run"), std::env::temp_dir().join(&name)]
        .into_iter()
        .find(|dir| usable(dir))
        .unwrap_or_else(|| PathBuf::from("/tmp").join(name))
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
    fn homes_with_a_comma_get_a_socket_folder_without_one() {
        let dir = socket_dir_for(Path::new("/a,b/pg"));
        assert!(!dir.to_string_lossy().contains(','), "{}", dir.display());
    }

    #[test]
    fn paths_postgres_cannot_take_are_refused() {
        assert!(check_path(Path::new("/it's \"a\" $(folder), é")).is_ok());
        let error = check_path(Path::new("/a\nb")).expect_err("newline");
        assert!(error.to_string().contains(r#""/a\nb""#), "{error}");
    }

    #[test]
    fn urls_escape_the_socket_folder() {
        let server = LocalServer {
            home: "/x y".into(),
            socket_dir: "/x y/run".into(),
            bin_dir: "/bin".into(),
            run_as: None,
            options: ServerOptions::default(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            lock_notice: None,
        };
        assert_eq!(
            server.url("mindvault"),
            "postgresql:///mindvault?host=%2Fx%20y%2Frun&port=5432&user=postgres"
        );
    }
}
