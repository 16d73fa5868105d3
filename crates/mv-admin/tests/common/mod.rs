//! What the command tests share: demo rows, the benchmark's scripts and its
//! loader.
#![allow(dead_code)] // each test binary uses its own part

use std::process::Command;

use db::models::{NewUser, NewVideo};
use diesel_async::AsyncPgConnection;
use indicatif::ProgressBar;
use local_pg::harness::TestDatabase;
use mv_admin::dataset::{self, Outcome};

/// Alice with `n` pending videos; returns their ids, oldest first.
pub async fn alice_with_videos(conn: &mut AsyncPgConnection, n: usize) -> Vec<String> {
    NewUser::new("alice", "Alice", "alice@example.com")
        .insert(conn)
        .await
        .expect("user");
    let mut ids = Vec::new();
    for i in 0..n {
        let url = format!("https://youtu.be/{i:011}");
        let video = NewVideo {
            user_id: "alice",
            youtube_url: &url,
            title: "t",
            ..NewVideo::default()
        }
        .insert(conn)
        .await
        .expect("video");
        ids.push(video.id);
    }
    ids
}

/// Where the benchmark scripts live.
pub const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/bench");
/// Runs a psql script against the database and returns what it printed.
pub fn psql(database: &TestDatabase, script: &str, vars: &[(&str, u64)]) -> String {
    // psql may stand beside the server's programs or only on the PATH.
    let beside = local_pg::find_bin_dir()
        .map(|dir| dir.join("psql"))
        .ok()
        .filter(|path| path.is_file());
    let mut command = Command::new(beside.unwrap_or_else(|| "psql".into()));
    command
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(database.url())
        .arg("-f")
        .arg(format!("{SCRIPTS}/{script}"));
    for (name, value) in vars {
        command.arg("-v").arg(format!("{name}={value}"));
    }
    let out = command.output().expect("running psql");
    assert!(
        out.status.success(),
        "psql -f {script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

pub fn checksum(database: &TestDatabase) -> String {
    psql(database, "checksum.sql", &[])
}

pub async fn load(database: &TestDatabase, users: u64, videos: u64) -> anyhow::Result<Outcome> {
    let mut client = db::connect_client(&database.config())
        .await
        .expect("connecting");
    dataset::load(&mut client, users, videos, &ProgressBar::hidden()).await
}
