//! Finding and stopping a cluster's postmaster without trusting its pid file:
//! a pid from `postmaster.pid` or the socket's lock file counts only when the
//! process's command line names the cluster, and when both files are gone the
//! process is found by that command line in /proc.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn has_proc() -> bool {
    Path::new("/proc/self/stat").exists()
}

/// Whether process `pid` runs (a zombie has ended: only its exit status is
/// left for its parent).
pub(super) fn alive(pid: u32) -> bool {
    if has_proc() {
        return fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            // `pid (name) state ...`; the name may hold anything.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next())
                .is_some_and(|state| !matches!(state, 'Z' | 'X'))
        });
    }
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    matches!(kill(Pid::from_raw(raw), None), Ok(()) | Err(Errno::EPERM))
}

/// The pid of the postmaster serving `data`: from the files it writes (its
/// pid file, its socket's lock file), else from a scan of /proc.
pub(super) fn find_postmaster(data: &Path, socket_lock: &Path) -> Option<u32> {
    let recorded = [data.join("postmaster.pid"), socket_lock.to_path_buf()]
        .into_iter()
        .filter_map(|file| first_line_pid(&file));
    for pid in recorded {
        if serves(pid, data) {
            return Some(pid);
        }
    }
    if !has_proc() {
        return None;
    }
    fs::read_dir("/proc")
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .find(|&pid| serves(pid, data))
}

fn first_line_pid(file: &Path) -> Option<u32> {
    fs::read_to_string(file)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Whether `pid` is a live postmaster started with `-D <data>`. Backends
/// rewrite their command line (`postgres: checkpointer`), so only the
/// postmaster matches. Without /proc, a live recorded pid is believed.
fn serves(pid: u32, data: &Path) -> bool {
    if !alive(pid) {
        return false;
    }
    if !has_proc() {
        return true;
    }
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let canonical = fs::canonicalize(data).ok();
    args.windows(2).any(|pair| {
        if pair[0] != b"-D" {
            return false;
        }
        let Ok(named) = std::str::from_utf8(pair[1]).map(Path::new) else {
            return false;
        };
        named == data
            || (named.is_absolute()
                && canonical.is_some()
                && fs::canonicalize(named).ok() == canonical)
    })
}

/// Why a postmaster could not be stopped.
#[derive(Debug)]
pub(super) enum StopError {
    Signal(std::io::Error),
    Timeout,
}

/// Asks the postmaster for a fast shutdown (what `pg_ctl stop -m fast`
/// sends: sessions are ended, the data is written) and waits until it has
/// ended.
pub(super) async fn stop(pid: u32, timeout: Duration) -> Result<(), StopError> {
    let raw = i32::try_from(pid).map_err(|e| StopError::Signal(std::io::Error::other(e)))?;
    match kill(Pid::from_raw(raw), Signal::SIGINT) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(errno) => return Err(StopError::Signal(errno.into())),
    }
    let deadline = Instant::now() + timeout;
    while alive(pid) {
        if Instant::now() >= deadline {
            return Err(StopError::Timeout);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}
