//! `mv-admin studio` as a process: it prints an address on loopback that
//! answers (refusing a browser without the token), stops on Ctrl-C, and
//! refuses to listen beyond loopback unless asked.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use local_pg::harness::TestDatabase;

#[tokio::test]
async fn the_studio_serves_on_loopback_until_ctrl_c() {
    let db = TestDatabase::new().await;
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("mv-admin"))
        .args(["--database-url", db.url(), "studio"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting mv-admin studio");
    let stdout = child.stdout.take().expect("stdout");
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .take(3)
        .map_while(Result::ok)
        .collect();
    let url = lines
        .iter()
        .find_map(|line| line.strip_prefix("Open "))
        .unwrap_or_else(|| panic!("no address in {lines:?}"));
    assert!(lines[0].contains("read-only"), "{lines:?}");
    let rest = url.strip_prefix("http://127.0.0.1:").expect("loopback");
    let port: u16 = rest
        .split('/')
        .next()
        .expect("port")
        .parse()
        .expect("a port");
    assert!(url.contains("/login?token="), "{url}");

    // Without the token's cookie, a browser is refused.
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("reply");
    assert!(reply.starts_with("HTTP/1.1 401"), "{reply}");
    assert!(
        !reply
            .to_ascii_lowercase()
            .contains("access-control-allow-origin")
    );

    // Ctrl-C stops it cleanly.
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(interrupted.success());
    let status = child.wait().expect("waiting");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn listening_beyond_loopback_needs_a_flag() {
    let db = TestDatabase::new().await;
    let refused = Command::new(assert_cmd::cargo::cargo_bin("mv-admin"))
        .args(["--database-url", db.url(), "studio", "--bind", "192.0.2.1"])
        .output()
        .expect("running mv-admin studio");
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--allow-non-loopback"), "{stderr}");
    let everywhere = Command::new(assert_cmd::cargo::cargo_bin("mv-admin"))
        .args([
            "--database-url",
            db.url(),
            "studio",
            "--bind",
            "0.0.0.0",
            "--allow-non-loopback",
        ])
        .output()
        .expect("running mv-admin studio");
    assert_eq!(everywhere.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&everywhere.stderr).contains("every network"));
}
