//! `mv-admin bench` against a real database: what it sends is what the
//! pgbench scripts send, and it leaves the dataset as it found it.

mod common;

use common::{SCRIPTS, checksum, load};
use local_pg::harness::{Statements, TestDatabase, snapshot};
use mv_admin::commands::bench::{Dataset, Setup, Workload};
use rand::SeedableRng;
use rand::rngs::SmallRng;

/// The SQL statements of a pgbench script: every line that is neither a
/// meta-command nor a comment, without its `;` or `\aset`.
fn script_statements(name: &str) -> Vec<String> {
    let path = format!("{SCRIPTS}/pgbench/{name}.sql");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('\\') && !line.starts_with("--"))
        .map(|line| {
            let line = line.strip_suffix(" \\aset").unwrap_or(line);
            line.strip_suffix(';').unwrap_or(line).to_string()
        })
        .collect()
}

/// The expressions `script` has where `sql` has its binds `$1`, `$2`, ...,
/// or `None` when anything else differs. An expression ends only outside
/// quotes and parentheses.
fn bind_expressions(sql: &str, script: &str) -> Option<Vec<String>> {
    let mut fragments = Vec::new();
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        let digits = rest[at + 1..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - at - 1);
        fragments.push(&rest[..at]);
        rest = &rest[at + 1 + digits..];
    }
    fragments.push(rest);

    let mut expressions = Vec::new();
    let mut position = script
        .strip_prefix(fragments[0])
        .map(|_| fragments[0].len())?;
    for (i, fragment) in fragments.iter().enumerate().skip(1) {
        let last = i == fragments.len() - 1;
        let (mut depth, mut quoted) = (0i32, false);
        let mut end = None;
        let chars = script[position..].char_indices().map(Some).chain([None]);
        for (offset, c) in chars.map(|next| next.unwrap_or((script.len() - position, ' '))) {
            let at = position + offset;
            if depth == 0 && !quoted && offset > 0 {
                let tail = &script[at..];
                if (last && tail == *fragment) || (!last && tail.starts_with(fragment)) {
                    end = Some(at);
                    break;
                }
            }
            match c {
                '\'' => quoted = !quoted,
                '(' if !quoted => depth += 1,
                ')' if !quoted => depth -= 1,
                _ => {}
            }
        }
        let end = end?;
        expressions.push(script[position..end].to_string());
        position = end + fragment.len();
    }
    (position == script.len()).then_some(expressions)
}

#[test]
fn bind_expressions_match_balanced_expressions_only() {
    let sql = r#"SELECT a FROM t WHERE (x = $1) AND (y IN ($2, $3))"#;
    let script =
        r#"SELECT a FROM t WHERE (x = ('v' || lpad(:n::text, 20, '0'))) AND (y IN (:a, 'b, c'))"#;
    assert_eq!(
        bind_expressions(sql, script),
        Some(vec![
            "('v' || lpad(:n::text, 20, '0'))".to_string(),
            ":a".to_string(),
            "'b, c'".to_string()
        ])
    );
    assert_eq!(
        bind_expressions(sql, &script.replace("SELECT a", "SELECT b")),
        None
    );
    assert_eq!(bind_expressions(sql, &format!("{script} LIMIT 1")), None);
}

#[tokio::test]
async fn pgbench_scripts_send_what_the_daos_send() {
    let database = TestDatabase::new().await;
    load(&database, 3, 30).await.expect("dataset");
    let mut conn = database.connect().await;
    let dataset = Dataset::restore(&mut conn).await.expect("dataset");
    let statements = Statements::record(&mut conn);
    let mut rng = SmallRng::seed_from_u64(1);
    // Video 7 is pending and moves, video 0 is completed and cannot: both
    // send the UPDATE and the status read, pipelined.
    let cases = [
        (Workload::Get, 5, "get", 0..1),
        (Workload::List, 1, "list", 0..1),
        (Workload::Create, 2, "create", 0..1),
        (Workload::Status, 7, "status", 0..2),
        (Workload::Status, 0, "status", 0..2),
        // Video 10 has keyframes; its four statements are one pipeline.
        (Workload::Page, 10, "page", 0..4),
        // User 1 (of 3) and tag 7, which its video 1 has.
        (Workload::ListTag, 1 + 3 * 7, "list_tag", 0..1),
        // User 1, pending.
        (Workload::ListStatus, 1, "list_status", 0..1),
        (Workload::Save, 2, "save", 0..1),
    ];
    for (workload, pick, script, expected) in cases {
        workload
            .run_once(&conn, dataset, pick, &mut rng)
            .await
            .expect("operation");
        let sent = statements.take_sql();
        if std::env::var_os("MV_PRINT_SQL").is_some() {
            eprintln!("{script}: {sent:#?}");
        }
        let script_sql = script_statements(script);
        let expected = &script_sql[expected];
        assert_eq!(sent.len(), expected.len(), "{workload:?} sent {sent:#?}");
        for (sql, script_sql) in sent.iter().zip(expected) {
            let expressions = bind_expressions(sql, script_sql).unwrap_or_else(|| {
                panic!(
                    "scripts/bench/pgbench/{script}.sql differs from what the data layer \
                     sends; the DAO sends\n{sql}\nthe script has\n{script_sql}"
                )
            });
            // pgbench values, not SQL of their own.
            for expression in expressions {
                assert!(
                    !expression.to_lowercase().contains("select"),
                    "{script}: {expression}"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_workload_runs_and_the_dataset_is_left_as_it_was() {
    let database = TestDatabase::new().await;
    load(&database, 5, 200).await.expect("dataset");
    let before = checksum(&database);
    let db = database.db().await;
    let dataset = Dataset::restore(&mut db.get().await.expect("connection"))
        .await
        .expect("dataset");
    assert_eq!(
        dataset,
        Dataset {
            users: 5,
            videos: 200
        }
    );
    let workloads = [
        Workload::Get,
        Workload::List,
        Workload::Create,
        Workload::Status,
        Workload::Page,
        Workload::ListTag,
        Workload::ListStatus,
        Workload::Save,
    ];
    // Each client with pooled connections, then the clients of each thread
    // sharing one.
    for (shared_connections, workload) in [None, Some(1)]
        .into_iter()
        .flat_map(|shared| workloads.map(|workload| (shared, workload)))
    {
        // Three clients over two threads: one thread runs two of them.
        let setup = Setup {
            config: database.config(),
            dataset,
            clients: 3,
            jobs: 2,
            shared_connections,
        };
        let report = setup.measure(workload, 100, 10).await.expect("measured");
        assert_eq!(
            (report.implementation, report.ops, report.clients),
            ("mv", 100, 3)
        );
        assert!(report.p50_us <= report.p99_us, "{report:?}");
        assert!(report.ops_per_s > 0.0, "{report:?}");
        let line = serde_json::to_value(&report).expect("JSON");
        let keys: Vec<&str> = line
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "impl",
                "workload",
                "clients",
                "ops",
                "seconds",
                "ops_per_s",
                "p50_us",
                "p99_us"
            ]
        );
        // What a writing workload changed, restore.sql puts back.
        if workload.writes() {
            assert_ne!(
                checksum(&database),
                before,
                "{workload:?} ({shared_connections:?} shared) changed rows"
            );
            Dataset::restore(&mut db.get().await.expect("connection"))
                .await
                .expect("restored");
        }
        assert_eq!(
            checksum(&database),
            before,
            "after {workload:?} ({shared_connections:?} shared)"
        );
    }
}

#[tokio::test]
async fn the_bench_refuses_a_database_that_holds_other_users() {
    let database = TestDatabase::new().await;
    let mut conn = database.connect().await;
    db::models::NewUser::new("alice", "Alice", "alice@example.com")
        .insert(&mut conn)
        .await
        .expect("user");
    let refused = Dataset::restore(&mut conn).await.expect_err("refused");
    assert!(
        format!("{refused:#}").contains("not the benchmark dataset"),
        "{refused:#}"
    );
}

#[tokio::test]
async fn runs_of_the_status_workload_leave_every_column_as_loaded() {
    let database = TestDatabase::new().await;
    load(&database, 3, 100).await.expect("dataset");
    let mut conn = database.connect().await;
    let loaded = snapshot(&mut conn).await;
    let dataset = Dataset::restore(&mut conn).await.expect("dataset");
    let setup = Setup {
        config: database.config(),
        dataset,
        clients: 2,
        jobs: 1,
        shared_connections: None,
    };
    for run in 0..2 {
        // Every pending video (ids ending in 7) is picked many times over.
        setup
            .measure(Workload::Status, 300, 0)
            .await
            .expect("measured");
        let moved = local_pg::harness::count(
            &mut conn,
            "SELECT count(*) AS count FROM video_summary WHERE attempt > 0",
        )
        .await;
        assert!(moved > 0, "run {run}: the workload moved no video");
        Dataset::restore(&mut conn).await.expect("restored");
        assert_eq!(snapshot(&mut conn).await, loaded, "after run {run}");
    }
}

/// GET `path` from `address` over plain HTTP/1.0; the body, or `None` when
/// nothing answers.
fn http_get(address: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
}

#[tokio::test]
async fn metrics_can_be_scraped_while_the_benchmark_runs() {
    use std::io::{BufRead, BufReader};
    let database = TestDatabase::new().await;
    load(&database, 5, 200).await.expect("dataset");
    // A port that was free a moment ago, on the loopback address.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let mut bench = std::process::Command::new(assert_cmd::cargo::cargo_bin("mv-admin"))
        .args(["--database-url", database.url(), "bench"])
        .args(["--workload", "get,list", "--clients", "2", "--jobs", "1"])
        .args(["--ops", "200000", "--warmup", "0"])
        .args(["--metrics", &port.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the benchmark");
    let stderr = bench.stderr.take().expect("stderr");
    let announced = tokio::task::spawn_blocking(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .find(|line| line.starts_with("metrics: "))
    })
    .await
    .expect("read stderr");
    let address = format!("127.0.0.1:{port}");
    assert_eq!(
        announced.as_deref(),
        Some(format!("metrics: http://{address}/metrics").as_str()),
        "bound to loopback"
    );
    let scraped = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Some(body) = http_get(&address, "/metrics")
                && body.contains(r#"db_operation_name="video_summary.find""#)
                && body.contains("db_client_connection_count")
            {
                return body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no DAO metrics scraped"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    })
    .await
    .expect("scrape");
    let _ = bench.kill();
    let _ = bench.wait();
    for expected in [
        "db_client_operation_duration",
        "db_client_response_returned_rows",
        "db_client_connection_wait_time",
        "db_client_connection_pending_requests",
        r#"db_client_connection_state="used""#,
        r#"db_client_connection_pool_name="primary""#,
        r#"db_system_name="postgresql""#,
    ] {
        assert!(scraped.contains(expected), "{expected} in\n{scraped}");
    }
}

#[test]
fn bench_sh_finds_the_binary_where_cargo_builds() {
    let repository = local_pg::harness::repository();
    let target_dir = |value: Option<&str>| {
        let mut command = std::process::Command::new("bash");
        command
            .current_dir(&repository)
            .args(["-c", "source scripts/lib/cargo.sh && cargo_target_dir"]);
        match value {
            Some(dir) => command.env("CARGO_TARGET_DIR", dir),
            None => command.env_remove("CARGO_TARGET_DIR"),
        };
        let output = command.output().expect("bash runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .expect("UTF-8")
            .trim()
            .to_string()
    };
    assert_eq!(target_dir(Some("/elsewhere/build")), "/elsewhere/build");
    let default = std::path::PathBuf::from(target_dir(None));
    assert!(default.is_absolute(), "{default:?}");
    // bench.sh takes the binary from prepare_bench_dataset (scripts/lib).
    let read = |path: &str| std::fs::read_to_string(repository.join(path)).expect(path);
    let (script, lib) = (read("scripts/bench.sh"), read("scripts/lib/bench.sh"));
    assert!(
        script.contains("prepare_bench_dataset ")
            && lib.contains("mv=$(cargo_target_dir)/release/mv-admin")
            && !script.contains("mv=target/")
            && !lib.contains("mv=target/"),
        "scripts/bench.sh does not take the binary from cargo's target folder"
    );
}

#[test]
fn a_metrics_address_must_be_a_port_or_an_ip_and_port() {
    assert_cmd::Command::cargo_bin("mv-admin")
        .expect("the binary")
        .args(["--database-url", "postgresql:///nowhere", "bench"])
        .args(["--metrics", "localhost"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("is not PORT or HOST:PORT"));
}

/// bench-summary.sh on `input`: its status, stdout and stderr.
fn bench_summary(input: &str) -> (bool, String, String) {
    let output = assert_cmd::Command::new("bash")
        .current_dir(local_pg::harness::repository())
        .arg("scripts/bench-summary.sh")
        .write_stdin(input)
        .output()
        .expect("bash runs");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("UTF-8");
    (
        output.status.success(),
        text(output.stdout),
        text(output.stderr),
    )
}

#[test]
fn bench_summary_gives_the_median_ratio_and_its_confidence_interval() {
    // Ten rounds of get: mv / pgbench is 0.90, 0.95, ... 1.35 (shuffled),
    // mv+obs / mv 0.97 in every round. The median is the fifth of ten, and
    // the 95 % interval runs from the second to the ninth: P(Bin(10, 1/2)
    // <= 1) = 1.1 %, P(<= 2) = 5.5 %.
    let line = |implementation: &str, ops_per_s: f64| {
        format!(
            r#"    {{"impl":"{implementation}","workload":"get","clients":8,"ops":20000,"seconds":1.0,"ops_per_s":{ops_per_s:.1},"p50_us":100,"p99_us":400}}"#
        )
    };
    let mut input = String::from("# scripts/bench.sh  (a header, skipped)\n");
    for step in [3, 7, 0, 9, 5, 1, 8, 2, 6, 4] {
        let mv = 1000.0 * (0.90 + 0.05 * f64::from(step));
        for (implementation, ops_per_s) in [("pgbench", 1000.0), ("mv", mv), ("mv+obs", mv * 0.97)]
        {
            input.push_str(&line(implementation, ops_per_s));
            input.push('\n');
        }
    }
    let (ok, out, err) = bench_summary(&input);
    assert!(ok, "{err}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    let row = |table: usize, label: &str| -> Vec<&str> {
        rows.iter()
            .filter(|row| row.first() == Some(&label))
            .nth(table)
            .unwrap_or_else(|| panic!("no {label} row in\n{out}"))[1..]
            .to_vec()
    };
    assert_eq!(row(0, "get"), ["1.100", "0.950-1.300", "1.000"], "{out}");
    assert_eq!(row(1, "get"), ["0.970", "0.970-0.970", "1.000"], "{out}");
    // One workload: every workload's rounds are get's.
    assert_eq!(
        row(0, "every"),
        ["workload", "1.100", "0.950-1.300", "1.000"]
    );

    // With shared-connection lines, their table comes after mv's.
    let mut with_shared = input.clone();
    for _ in 0..10 {
        with_shared.push_str(&line("mv+shared", 1200.0));
        with_shared.push('\n');
    }
    let (ok, out, err) = bench_summary(&with_shared);
    assert!(ok, "{err}");
    assert!(out.contains("median ratio (mv+shared/pgbench)"), "{out}");
    let shared_row: Vec<&str> = out
        .lines()
        .filter(|line| line.split_whitespace().next() == Some("get"))
        .nth(1)
        .map(|line| line.split_whitespace().skip(1).collect())
        .unwrap_or_default();
    assert_eq!(shared_row, ["1.200", "1.200-1.200", "1.000"], "{out}");

    // Fewer than six rounds: no 95 % interval exists.
    let first_five: String = input
        .lines()
        .take(1 + 5 * 3)
        .map(|l| format!("{l}\n"))
        .collect();
    let (ok, out, _) = bench_summary(&first_five);
    assert!(ok);
    assert!(
        out.lines()
            .any(|line| line.split_whitespace().nth(2) == Some("-")),
        "{out}"
    );

    let (ok, _, err) = bench_summary("no lines here\n");
    assert!(!ok);
    assert!(err.contains("no benchmark lines"), "{err}");
}
