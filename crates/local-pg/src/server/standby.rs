//! A streaming replica of a local cluster: `pg_basebackup -R` into a folder
//! of its own, started in standby on its own socket.

use std::path::{Path, PathBuf};

use super::{LocalServer, Result, ServerOptions, run};

impl LocalServer {
    /// Copies this running cluster with `pg_basebackup` (the WAL streamed
    /// alongside, `-R` writing `standby.signal` and `primary_conninfo`) into
    /// `home`, and starts the copy as a hot standby listening on a socket of
    /// its own, replicating from this server over its socket. A standby left
    /// in `home` by an earlier call is started again as it is.
    pub async fn start_standby(&self, home: impl Into<PathBuf>) -> Result<LocalServer> {
        let standby = LocalServer::new(
            home,
            ServerOptions {
                unsafe_fast: self.options.unsafe_fast,
                ..ServerOptions::default()
            },
        )?;
        // Its folder first: the lock file lives in it.
        standby.claim_home()?;
        if standby.is_running().await {
            return Ok(standby);
        }
        // The folder is made and marked as every local cluster's is, and
        // locked before anything is written into it.
        standby.claim_home()?;
        let lock = standby.lock().await?;
        if !standby.exists() {
            standby.check_reachable()?;
            let data = standby.data_dir();
            if data.exists() {
                // A copy that died midway: start again from nothing.
                std::fs::remove_dir_all(&data)
                    .map_err(super::io_err(format!("removing {}", data.display())))?;
            }
            standby.make_dir(&data, 0o700)?;
            standby.make_dir(&standby.socket_dir, 0o700)?;
            let source = format!(
                "host={} port={} user=postgres application_name=standby",
                self.socket_dir.display(),
                self.options.tcp_port.unwrap_or(super::PORT)
            );
            run(
                self.pg_command(&self.sibling_program("pg_basebackup"))
                    .arg("-D")
                    .arg(&data)
                    .args(["-d", &source])
                    .args(["-R", "-X", "stream", "--no-sync", "-c", "fast"]),
                "pg_basebackup",
            )?;
            // The copy carries this server's settings; its own socket, port
            // and log come after them and win.
            let conf_path = data.join("postgresql.conf");
            let mut text = std::fs::read_to_string(&conf_path)
                .map_err(super::io_err(format!("reading {}", conf_path.display())))?;
            text.push_str(&standby.postgresql_conf());
            text.push_str("hot_standby = on\n");
            std::fs::write(&conf_path, text)
                .map_err(super::io_err(format!("writing {}", conf_path.display())))?;
        }
        standby.start().await?;
        drop(lock);
        Ok(standby)
    }
}

impl LocalServer {
    /// A program of the same installation as the server's: in the programs'
    /// folder, else beside the file `postgres` links to (`/usr/local/bin`
    /// may link the server's programs only), else found on the `PATH`.
    fn sibling_program(&self, name: &str) -> String {
        let beside = |dir: &Path| Some(dir.join(name)).filter(|path| path.is_file());
        beside(&self.bin_dir)
            .or_else(|| {
                std::fs::canonicalize(self.bin_dir.join("postgres"))
                    .ok()
                    .and_then(|real| real.parent().and_then(beside))
            })
            .map_or_else(
                || name.to_string(),
                |path| path.to_string_lossy().into_owned(),
            )
    }
}
