//! Finding PostgreSQL's programs: the server's (initdb, postgres) and the
//! client programs that stand beside them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::server::LocalServerError;

type Result<T, E = LocalServerError> = std::result::Result<T, E>;

const PROGRAMS: [&str; 2] = ["initdb", "postgres"];

fn has_programs(dir: &Path) -> bool {
    PROGRAMS.iter().all(|p| dir.join(p).is_file())
}

/// Finds the folder holding initdb and postgres.
pub fn find_bin_dir() -> Result<PathBuf> {
    let dir = search_bin_dir()?;
    check_shell_safe(&dir)?;
    Ok(dir)
}

/// initdb runs `"<its own folder>/postgres" --boot ...` through `sh -c`,
/// with its folder's links resolved: a folder whose name the shell would
/// expand inside double quotes must not be used.
fn check_shell_safe(dir: &Path) -> Result<()> {
    let real = fs::canonicalize(dir.join("initdb"))
        .ok()
        .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| dir.to_path_buf());
    let expands = real
        .to_string_lossy()
        .chars()
        .any(|c| matches!(c, '$' | '`' | '"' | '\\') || c.is_control());
    if expands {
        return Err(LocalServerError::UnsafeBinDir(real));
    }
    Ok(())
}

fn search_bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("MV_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        return if has_programs(&dir) {
            Ok(dir)
        } else {
            Err(LocalServerError::BadBinDir(dir))
        };
    }
    search_dirs()
        .into_iter()
        .find(|dir| has_programs(dir))
        .ok_or(LocalServerError::BinariesNotFound)
}

/// The folders searched after `MV_PG_BINDIR`, in order: PATH,
/// `pg_config --bindir`, `/usr/lib/postgresql/<newest>/bin`, Homebrew's.
fn search_dirs() -> Vec<PathBuf> {
    let from_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    from_path
        .into_iter()
        .chain(from_pg_config)
        .chain(newest_versioned(
            Path::new("/usr/lib/postgresql"),
            "",
            "bin",
        ))
        .chain(newest_versioned(
            Path::new("/opt/homebrew/opt"),
            "postgresql@",
            "bin",
        ))
        .chain(newest_versioned(
            Path::new("/usr/local/opt"),
            "postgresql@",
            "bin",
        ))
        .chain([
            PathBuf::from("/opt/homebrew/bin"),
            PathBuf::from("/usr/local/bin"),
        ])
        .collect()
}

/// A client program (`pg_dump`, `pg_restore`, `psql`) and the version it
/// reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientProgram {
    pub path: PathBuf,
    /// As the program prints it after `(PostgreSQL)`: `15.18`, `17beta1`.
    pub version: String,
}

/// Every copy of the client program `name` on this machine, with its
/// version, in the order searched: only `MV_PG_BINDIR` when it is set, else
/// as [`find_bin_dir`] searches. A program reached twice is listed once, and
/// a wrapper that picks a version itself (Debian's `pg_wrapper` in
/// `/usr/bin`) is skipped for the versioned folders behind it.
pub fn find_client_programs(name: &str) -> Vec<ClientProgram> {
    let dirs = match std::env::var_os("MV_PG_BINDIR") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => search_dirs(),
    };
    let mut seen = Vec::new();
    let mut found = Vec::new();
    for dir in dirs {
        let path = dir.join(name);
        let Ok(real) = fs::canonicalize(&path) else {
            continue;
        };
        if seen.contains(&real) || real.file_name() != Some(name.as_ref()) {
            continue;
        }
        seen.push(real);
        if let Some(version) = program_version(&path) {
            found.push(ClientProgram { path, version });
        }
    }
    found
}

/// The version `program --version` reports (`pg_dump (PostgreSQL) 15.18
/// (Debian 15.18-0+deb12u1)` gives `15.18`).
fn program_version(program: &Path) -> Option<String> {
    let out = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (_, after) = text.split_once("(PostgreSQL)")?;
    after.split_whitespace().next().map(str::to_string)
}

/// `<parent>/<prefix><N>/<sub>` for every version N, newest first.
fn newest_versioned(parent: &Path, prefix: &str, sub: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut versions: Vec<(u32, PathBuf)> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = entry.file_name();
            let version = name
                .to_str()?
                .strip_prefix(prefix)?
                .split('.')
                .next()?
                .parse()
                .ok()?;
            Some((version, entry.path().join(sub)))
        })
        .collect();
    versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

/// The version of the server programs, e.g. `initdb (PostgreSQL) 15.18`.
pub fn server_version(bin_dir: &Path) -> Option<String> {
    let out = Command::new(bin_dir.join("postgres"))
        .arg("--version")
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_folders_a_shell_would_expand_are_refused() {
        let base = std::env::temp_dir().join(format!("mv-bindir-unit-{}", std::process::id()));
        for name in ["$(touch x)", "`touch x`", "a\"b", "a\\b"] {
            let dir = base.join(name);
            fs::create_dir_all(&dir).expect("folder");
            fs::write(dir.join("initdb"), "").expect("initdb");
            let error = check_shell_safe(&dir).expect_err(name);
            assert!(
                matches!(error, LocalServerError::UnsafeBinDir(_)),
                "{error}"
            );
        }
        let plain = base.join("it's a plain, spaced folder");
        fs::create_dir_all(&plain).expect("folder");
        fs::write(plain.join("initdb"), "").expect("initdb");
        assert!(check_shell_safe(&plain).is_ok());
        fs::remove_dir_all(&base).expect("clean up");
    }
}
