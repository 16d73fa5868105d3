//! Times the local server and the test harness (`scripts/bench-local-server.sh`):
//! creating and starting a cluster, a warm start (already running), a restart
//! of an existing cluster, and a fresh test database from the template.

use std::time::{Duration, Instant};

use local_pg::harness::TestDatabase;
use local_pg::{LocalServer, ServerOptions};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let home = std::env::temp_dir().join(format!("mv-timings-{}", std::process::id()));
    let server = LocalServer::new(&home, ServerOptions::default())?;

    let started = Instant::now();
    server.ensure_running().await?;
    let create_and_start = started.elapsed();

    let mut warm = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        server.ensure_running().await?;
        warm.push(started.elapsed());
    }

    let mut restart = Vec::new();
    for _ in 0..3 {
        server.stop().await?;
        let started = Instant::now();
        server.ensure_running().await?;
        restart.push(started.elapsed());
    }
    server.destroy().await?;

    // The first test database also builds the template when needed.
    drop(TestDatabase::new().await);
    let mut fresh = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let database = TestDatabase::new().await;
        fresh.push(started.elapsed());
        drop(database);
    }

    println!("create and start a cluster      {}", ms(create_and_start));
    println!(
        "warm start (already running)    {} (median of 20)",
        ms(median(warm))
    );
    println!(
        "start an existing cluster       {} (median of 3)",
        ms(median(restart))
    );
    println!(
        "fresh test database             {} (median of 20)",
        ms(median(fresh))
    );
    Ok(())
}
