//! The client programs: chosen by version before anything starts, given
//! the connection without its password, and watched while they run.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use db::config::redact_url;
use percent_encoding::percent_decode_str;

use super::{BackupError, Event, Observer, notify, printable};
use crate::error::{Error, Result};

/// A client program and the version it reports (see
/// `local_pg::find_client_programs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub path: PathBuf,
    /// `15.18`, `17beta1`.
    pub version: String,
}

impl Program {
    pub fn new(path: impl Into<PathBuf>, version: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            version: version.into(),
        }
    }
}

/// The major version of `15.18`, `17beta1` or `9.6.24` (9: anything
/// before 10 is older than every server this project supports).
pub fn major_version(version: &str) -> Option<u32> {
    let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The first of `candidates` (in search order) whose major version is at
/// least `needed`; the refusal names the newest one found and `reason`.
pub(crate) fn choose<'a>(
    name: &str,
    candidates: &'a [Program],
    needed: u32,
    reason: &str,
) -> Result<&'a Program, BackupError> {
    if let Some(program) = candidates
        .iter()
        .find(|p| major_version(&p.version).is_some_and(|major| major >= needed))
    {
        return Ok(program);
    }
    let newest = candidates
        .iter()
        .max_by_key(|p| major_version(&p.version).unwrap_or(0));
    Err(match newest {
        None => BackupError::ProgramMissing {
            program: name.to_string(),
            needed,
        },
        Some(program) => BackupError::ProgramTooOld {
            program: name.to_string(),
            path: program.path.display().to_string(),
            version: program.version.clone(),
            needed,
            reason: reason.to_string(),
        },
    })
}

/// How a child program reaches the database: the URL without its password
/// (which goes in the child's environment, never on its command line).
pub(crate) struct ChildConnection {
    conninfo: String,
    password: Option<String>,
}

impl ChildConnection {
    pub(crate) fn new(url: &str) -> Result<Self> {
        let mut parsed = url::Url::parse(url).map_err(|e| {
            Error::Invalid(format!(
                "the database URL {} is not a URL ({e}); dumps and restores need the \
                 postgresql://… form",
                redact_url(url)
            ))
        })?;
        let mut password = parsed
            .password()
            .map(|p| percent_decode_str(p).decode_utf8_lossy().into_owned());
        let _ = parsed.set_password(None);
        let mut kept = Vec::new();
        for (key, value) in parsed.query_pairs() {
            if key == "password" {
                password = Some(value.into_owned());
            } else {
                kept.push((key.into_owned(), value.into_owned()));
            }
        }
        if kept.is_empty() {
            parsed.set_query(None);
        } else {
            parsed.query_pairs_mut().clear().extend_pairs(kept);
        }
        Ok(Self {
            conninfo: parsed.to_string(),
            password,
        })
    }

    /// A command for `program` with the connection in its arguments
    /// (`--dbname`) and the password, if any, in `PGPASSWORD`.
    pub(crate) fn command(&self, program: &Program) -> Command {
        let mut command = Command::new(&program.path);
        if let Some(password) = &self.password {
            command.env("PGPASSWORD", password);
        }
        let mut dbname = OsString::from("--dbname=");
        dbname.push(&self.conninfo);
        command.arg(dbname).arg("--no-password");
        command
    }
}

/// A client program running, its stderr read on a thread: progress lines
/// become [`Event::Progress`], the rest is kept for the error message.
pub(crate) struct Running {
    name: String,
    child: Child,
    stderr: Option<std::thread::JoinHandle<VecDeque<String>>>,
}

/// Lines of stderr kept for an error message.
const KEPT_LINES: usize = 12;

impl Running {
    /// Starts `command`; `is_step` tells which verbose lines finish one of
    /// `total` items.
    pub(crate) fn start(
        name: &str,
        mut command: Command,
        total: u64,
        is_step: fn(&str) -> bool,
        observer: Option<Observer>,
    ) -> Result<Self> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|e| BackupError::ProgramFailed {
            program: name.to_string(),
            detail: format!("could not start it: {e}"),
        })?;
        notify(
            observer.as_ref(),
            Event::Started {
                program: name,
                pid: child.id(),
            },
        );
        let stderr = child.stderr.take().map(|pipe| {
            let prefix = format!("{name}: ");
            std::thread::spawn(move || {
                let mut kept = VecDeque::new();
                let mut done = 0;
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    let message = line.strip_prefix(&prefix).unwrap_or(&line);
                    if is_step(message) {
                        done = (done + 1).min(total);
                        notify(observer.as_ref(), Event::Progress { done, total });
                    }
                    // Verbose chatter is "<name>: <what it does>"; errors,
                    // warnings and their details are kept.
                    let informative = !line.starts_with(&prefix)
                        || ["error:", "warning:", "detail:", "hint:"]
                            .iter()
                            .any(|tag| message.starts_with(tag));
                    if informative {
                        if kept.len() == KEPT_LINES {
                            kept.pop_front();
                        }
                        kept.push_back(printable(&line));
                    }
                }
                kept
            })
        });
        Ok(Self {
            name: name.to_string(),
            child,
            stderr,
        })
    }

    /// Waits for the program without blocking the runtime; a failure carries
    /// what it said on stderr.
    pub(crate) async fn finish(mut self) -> Result<()> {
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(e) => {
                    return Err(BackupError::ProgramFailed {
                        program: self.name.clone(),
                        detail: format!("could not wait for it: {e}"),
                    }
                    .into());
                }
            }
        };
        let said = self
            .stderr
            .take()
            .and_then(|thread| thread.join().ok())
            .unwrap_or_default();
        if status.success() {
            return Ok(());
        }
        Err(BackupError::ProgramFailed {
            program: self.name.clone(),
            detail: describe_failure(status, said),
        }
        .into())
    }

    /// Stops the program (another part of the work failed).
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn describe_failure(status: ExitStatus, said: VecDeque<String>) -> String {
    let how = match status.code() {
        Some(code) => format!("exit status {code}"),
        None => "killed by a signal".to_string(),
    };
    if said.is_empty() {
        how
    } else {
        format!("{} ({how})", Vec::from(said).join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(version: &str) -> Program {
        Program {
            path: PathBuf::from(format!("/pg/{version}/pg_dump")),
            version: version.to_string(),
        }
    }

    #[test]
    fn major_versions() {
        assert_eq!(major_version("15.18"), Some(15));
        assert_eq!(major_version("17beta1"), Some(17));
        assert_eq!(major_version("18devel"), Some(18));
        assert_eq!(major_version("9.6.24"), Some(9));
        assert_eq!(major_version("x"), None);
    }

    #[test]
    fn the_first_new_enough_program_is_chosen() {
        let found = [program("13.16"), program("16.4"), program("15.18")];
        let chosen = choose("pg_dump", &found, 15, "the server").expect("16 fits");
        assert_eq!(chosen.version, "16.4");
        let err = choose("pg_dump", &found, 17, "the server (PostgreSQL 17.2)")
            .expect_err("none fits")
            .to_string();
        assert!(err.contains("pg_dump 16.4"), "{err}");
        assert!(
            err.contains("older than the server (PostgreSQL 17.2)"),
            "{err}"
        );
        assert!(err.contains("postgresql-client-17"), "{err}");
        let err = choose("pg_restore", &[], 15, "")
            .expect_err("none")
            .to_string();
        assert!(err.contains("pg_restore was not found"), "{err}");
        assert!(
            err.contains("apt-get install postgresql-client-15"),
            "{err}"
        );
    }

    #[test]
    fn passwords_leave_the_url_for_the_environment() {
        let child =
            ChildConnection::new("postgres://ann:s%40cret@db.example.com:6543/app?sslmode=require")
                .expect("url");
        assert_eq!(
            child.conninfo,
            "postgres://ann@db.example.com:6543/app?sslmode=require"
        );
        assert_eq!(child.password.as_deref(), Some("s@cret"));
        let child =
            ChildConnection::new("postgresql:///app?host=%2Ftmp&password=pw&user=u").expect("url");
        assert_eq!(child.conninfo, "postgresql:///app?host=%2Ftmp&user=u");
        assert_eq!(child.password.as_deref(), Some("pw"));
        let err = ChildConnection::new("host=h password=secret")
            .err()
            .expect("not a URL")
            .to_string();
        assert!(!err.contains("secret"), "{err}");
    }
}
