//! A cluster's file lock: one command at a time creates, starts, stops or
//! deletes the cluster. The holder writes its pid and command into the lock
//! file, so that a command waiting for it can say whom it waits for; the wait
//! is bounded.

use std::fmt;
use std::fs::{self, File, TryLockError};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::processes::alive;
use super::{LocalServerError, Result, io_err};

/// How long a command waits for the lock before it says who holds it.
const NOTICE_AFTER: Duration = Duration::from_secs(1);
const POLL: Duration = Duration::from_millis(50);
/// The longest command text a holder records.
const MAX_COMMAND: usize = 80;

/// Who holds a cluster's lock, as it wrote itself into the lock file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockHolder {
    pub pid: Option<u32>,
    /// The program and its subcommand, e.g. `mv-admin db start`.
    pub command: Option<String>,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.pid, &self.command) {
            (Some(pid), Some(command)) => write!(f, "process {pid} ({command})"),
            (Some(pid), None) => write!(f, "process {pid}"),
            (None, _) => f.write_str("another process"),
        }
    }
}

/// What a command waiting for a cluster's lock is told, a second into the
/// wait (see [`super::LocalServer::on_lock_wait`]).
#[derive(Debug)]
pub struct LockWait<'a> {
    /// The cluster's folder.
    pub home: &'a Path,
    pub holder: &'a LockHolder,
    /// When the wait ends in [`LocalServerError::LockTimeout`].
    pub gives_up_after: Duration,
}

/// The callback told about a wait.
#[derive(Clone)]
pub(super) struct LockNotice(pub(super) Arc<dyn Fn(&LockWait<'_>) + Send + Sync>);

impl fmt::Debug for LockNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockNotice")
    }
}

/// The lock, held until dropped.
#[derive(Debug)]
pub(super) struct ClusterLock {
    _file: File,
}

/// Takes the lock of the cluster in `home` (`home/lock`), waiting at most
/// `timeout`; `notice` hears of a wait longer than a second.
pub(super) async fn acquire(
    home: &Path,
    timeout: Duration,
    notice: Option<&LockNotice>,
) -> Result<ClusterLock> {
    let path = home.join("lock");
    let started = Instant::now();
    let mut noticed = false;
    loop {
        let file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_err(format!("opening {}", path.display())))?;
        match file.try_lock() {
            // A reset deletes the file under its lock: a waiter that got
            // the deleted one tries again on the new one.
            Ok(()) if same_file(&file, &path) => {
                record_holder(&file).map_err(io_err(format!("writing {}", path.display())))?;
                return Ok(ClusterLock { _file: file });
            }
            Ok(()) => continue,
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => {
                return Err(io_err(format!("locking {}", path.display()))(e));
            }
        }
        let waited = started.elapsed();
        if waited >= timeout {
            return Err(LocalServerError::LockTimeout {
                home: home.to_path_buf(),
                holder: read_holder(&path),
                waited: timeout,
            });
        }
        if !noticed && waited >= NOTICE_AFTER {
            noticed = true;
            if let Some(LockNotice(notice)) = notice {
                notice(&LockWait {
                    home,
                    holder: &read_holder(&path),
                    gives_up_after: timeout,
                });
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

fn same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), fs::metadata(path)) {
        (Ok(held), Ok(named)) => held.dev() == named.dev() && held.ino() == named.ino(),
        _ => false,
    }
}

fn record_holder(file: &File) -> std::io::Result<()> {
    file.set_len(0)?;
    let text = format!("{}\n{}\n", std::process::id(), this_command());
    file.write_all_at(text.as_bytes(), 0)
}

/// The program's name and the plain words after it (`mv-admin db start`):
/// never an option or its value, which could be a secret.
fn this_command() -> String {
    let mut args = std::env::args();
    let program = args
        .next()
        .and_then(|arg0| {
            Path::new(&arg0)
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let words = args.take_while(|arg| {
        !arg.is_empty()
            && !arg.starts_with('-')
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    });
    std::iter::once(program)
        .chain(words)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The holder recorded in the lock file; a recorded process that is gone
/// (the file is rewritten by each holder) tells nothing.
fn read_holder(path: &Path) -> LockHolder {
    let text = fs::read_to_string(path).unwrap_or_default();
    let mut lines = text.lines();
    let Some(pid) = lines.next().and_then(|line| line.trim().parse().ok()) else {
        return LockHolder::default();
    };
    if !alive(pid) {
        return LockHolder::default();
    }
    let command: String = lines
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_COMMAND)
        .collect();
    LockHolder {
        pid: Some(pid),
        command: (!command.trim().is_empty()).then(|| command.trim().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_are_read_back_and_sanitised() {
        let dir = std::env::temp_dir().join(format!("mv-lock-unit-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("folder");
        let path = dir.join("lock");
        let me = std::process::id();

        fs::write(&path, format!("{me}\nmv-admin db \x1b]0;title\x07start\n")).expect("write");
        let holder = read_holder(&path);
        assert_eq!(holder.pid, Some(me));
        assert_eq!(holder.command.as_deref(), Some("mv-admin db ]0;titlestart"));

        fs::write(&path, format!("{me}\n")).expect("write");
        assert_eq!(read_holder(&path).to_string(), format!("process {me}"));
        fs::write(&path, "not a pid\n").expect("write");
        assert_eq!(read_holder(&path).to_string(), "another process");
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
