//! Connecting: TLS with libpq's sslmodes, timeouts, pool exhaustion, and no
//! password in any error.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use db::{Db, DbConfig, Error};
use diesel::QueryableByName;
use diesel::sql_types::Bool;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use local_pg::harness::{DestroyOnDrop, TestDatabase};
use local_pg::{LocalServer, ServerOptions};

const PASSWORD: &str = "s3cret-pw-7781";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

struct Certificates {
    ca: String,
    cert: String,
    key: String,
    other_ca: String,
}

fn certificates() -> Certificates {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca = |name: &str| {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("self-signed");
        (cert, key)
    };
    let (ca_cert, ca_key) = ca("Mind-vault test CA");
    let (other_ca, _) = ca("Some other CA");
    let server_key = KeyPair::generate().expect("key");
    let server_cert = CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .signed_by(&server_key, &ca_cert, &ca_key)
        .expect("signed");
    Certificates {
        ca: ca_cert.pem(),
        cert: server_cert.pem(),
        key: server_key.serialize_pem(),
        other_ca: other_ca.pem(),
    }
}

#[derive(QueryableByName)]
struct Ssl {
    #[diesel(sql_type = Bool)]
    ssl: bool,
}

async fn uses_tls(conn: &mut AsyncPgConnection) -> bool {
    diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .get_result::<Ssl>(conn)
        .await
        .expect("pg_stat_ssl")
        .ssl
}

fn connect_error(result: db::Result<AsyncPgConnection>) -> String {
    match result {
        Ok(_) => panic!("the connection should have been refused"),
        Err(error) => error.to_string(),
    }
}

async fn connect(url: &str) -> db::Result<AsyncPgConnection> {
    let config = DbConfig {
        connect_timeout: Duration::from_secs(5),
        ..DbConfig::default()
    }
    .with_url(url);
    db::connect(&config).await
}

#[tokio::test]
async fn tls_follows_sslmode_against_a_server_with_a_private_ca() {
    let home = std::env::temp_dir().join(format!("mv-tls-test-{}", std::process::id()));
    let port = free_port();
    let certs = certificates();
    let mut options = ServerOptions {
        unsafe_fast: true,
        tcp_port: Some(port),
        ..ServerOptions::default()
    };
    let placed = LocalServer::new(&home, options.clone()).expect("server");
    let cert = placed
        .install_file("server.crt", certs.cert.as_bytes(), 0o644)
        .expect("cert");
    let key = placed
        .install_file("server.key", certs.key.as_bytes(), 0o600)
        .expect("key");
    let ca_path = home.join("ca.pem");
    let other_ca_path = home.join("other-ca.pem");
    std::fs::write(&ca_path, &certs.ca).expect("ca");
    std::fs::write(&other_ca_path, &certs.other_ca).expect("other ca");
    options.settings = vec![
        ("ssl".into(), "on".into()),
        ("ssl_cert_file".into(), format!("'{}'", cert.display())),
        ("ssl_key_file".into(), format!("'{}'", key.display())),
    ];
    let server = LocalServer::new(&home, options).expect("server");
    let _cleanup = DestroyOnDrop(server.clone());
    server.ensure_running().await.expect("TLS server starts");

    let mut admin = connect(&server.url("postgres")).await.expect("socket");
    diesel::sql_query(format!("CREATE ROLE app LOGIN PASSWORD '{PASSWORD}'"))
        .execute(&mut admin)
        .await
        .expect("role");

    let url = |host: &str, mode: &str, root: Option<&std::path::Path>| {
        let root = root
            .map(|p| format!("&sslrootcert={}", p.display()))
            .unwrap_or_default();
        format!("postgresql://app:{PASSWORD}@{host}:{port}/postgres?sslmode={mode}{root}")
    };

    let mut conn = connect(&url("localhost", "verify-full", Some(&ca_path)))
        .await
        .expect("verify-full");
    assert!(uses_tls(&mut conn).await);
    let mut conn = connect(&url("localhost", "require", None))
        .await
        .expect("require verifies nothing");
    assert!(uses_tls(&mut conn).await);
    let mut conn = connect(&url("127.0.0.1", "verify-ca", Some(&ca_path)))
        .await
        .expect("verify-ca ignores the name");
    assert!(uses_tls(&mut conn).await);
    let mut conn = connect(&url("localhost", "disable", None))
        .await
        .expect("disable");
    assert!(!uses_tls(&mut conn).await);

    let refused = [
        (
            url("localhost", "verify-full", Some(&other_ca_path)),
            "invalid peer certificate",
        ),
        (
            url("127.0.0.1", "verify-full", Some(&ca_path)),
            "not valid for name",
        ),
        (
            url("localhost", "verify-full", Some(&home.join("missing.pem"))),
            "missing.pem",
        ),
    ];
    for (bad, cause) in refused {
        let error = connect_error(connect(&bad).await);
        assert!(error.contains(cause), "{error} should say {cause}");
        assert!(!error.contains(PASSWORD), "the password leaked: {error}");
        assert!(
            error.contains("app:***@"),
            "the target is named, redacted: {error}"
        );
    }
    let wrong =
        format!("postgresql://app:wrong-{PASSWORD}@localhost:{port}/postgres?sslmode=require");
    let error = connect_error(connect(&wrong).await);
    assert!(error.contains("password authentication failed"), "{error}");
    assert!(!error.contains(PASSWORD), "the password leaked: {error}");
}

#[tokio::test]
async fn an_unreachable_server_fails_fast_with_its_cause() {
    // A port bound but not listening, held for the whole test: connections
    // to it are refused at once, and no other test can take it (a port
    // merely freed could be taken by a server another test starts).
    let closed =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    closed
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    let port = closed
        .local_addr()
        .ok()
        .and_then(|address| address.as_socket())
        .expect("bound address")
        .port();
    let config = DbConfig {
        connect_timeout: Duration::from_secs(2),
        ..DbConfig::default()
    }
    .with_url(format!("postgresql://app:{PASSWORD}@127.0.0.1:{port}/db"));
    let started = Instant::now();
    let error = Db::connect(&config).await.expect_err("refused").to_string();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(error.contains("refused"), "{error}");
    assert!(!error.contains(PASSWORD), "{error}");

    // A server that accepts and never answers: the connect timeout ends it.
    let silent = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = silent.local_addr().expect("address").port();
    let config = DbConfig {
        connect_timeout: Duration::from_millis(500),
        ..DbConfig::default()
    }
    .with_url(format!("postgresql://app:{PASSWORD}@127.0.0.1:{port}/db"));
    let started = Instant::now();
    let error = Db::connect(&config)
        .await
        .expect_err("timed out")
        .to_string();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert!(
        error.contains("timeout") || error.contains("timed out"),
        "{error}"
    );
    assert!(!error.contains(PASSWORD), "{error}");
}

#[tokio::test]
async fn an_exhausted_pool_times_out_then_recovers() {
    let test_db = TestDatabase::new().await;
    let config = DbConfig {
        pool_size: 1,
        pool_timeout: Duration::from_millis(300),
        ..test_db.config()
    };
    let db = Db::connect(&config).await.expect("pool");
    let held = db.get().await.expect("the only connection");
    let started = Instant::now();
    let result = db.get().await;
    assert!(
        matches!(result, Err(Error::PoolTimeout { .. })),
        "{:?}",
        result.err()
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(
        result
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("pool timeout")
    );
    drop(held);
    db.get()
        .await
        .expect("service resumes when a connection is free");
}
