//! Configuration from the outside: a `.env` that cannot be parsed stops
//! every command, naming the file and line, and no secret of a URL ever
//! reaches the output.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use local_pg::harness::TestDatabase;

/// The binary run in `dir`, with nothing from the environment choosing its
/// database, and no way to start a local server (the data folder cannot
/// be made), so that a command that ignored the `.env` fails differently.
fn in_dir(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mv-admin"))
        .current_dir(dir)
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("MV_DB_POOL_SIZE")
        .env("MV_PG_DIR", "/dev/null/no-server-here")
        .output()
        .expect("mv-admin runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_dotenv_that_cannot_be_parsed_is_an_error_naming_the_file_and_line() {
    let cases: [(&[u8], usize); 3] = [
        // An unterminated quote: every later line would be swallowed.
        (
            b"MV_DB_POOL_SIZE=4\nDATABASE_URL=\"postgres://app:s3cret@db.example.com/app\nMV_DB_POOL_TIMEOUT=5s\n",
            2,
        ),
        // A line without `=`.
        (b"# settings\nMV_DB_POOL_SIZE=4\n\nDATABASE_URL postgres://app:s3cret@db/app\n", 4),
        // Binary junk.
        (b"MV_DB_POOL_SIZE=4\nMV_DB_POOL_TIMEOUT=5s\n\x00\xff\xfes3cret\x9b\n", 3),
    ];
    for (text, line) in cases {
        let dir = tempfile::tempdir().expect("folder");
        let nested = dir.path().join("deep/er");
        std::fs::create_dir_all(&nested).expect("folders");
        std::fs::write(dir.path().join(".env"), text).expect(".env");
        // From a subfolder too: the `.env` of an ancestor is the one read.
        for cwd in [dir.path(), nested.as_path()] {
            let output = in_dir(cwd, &["migrate"]);
            let message = stderr(&output);
            assert_eq!(output.status.code(), Some(1), "{message}");
            let expected = format!("{}/.env line {line}: ", dir.path().display());
            assert!(message.contains(&expected), "{expected} not in {message}");
            assert!(!message.contains("s3cret"), "{message}");
        }
    }
}

#[tokio::test]
async fn a_valid_dotenv_is_used() {
    let database = TestDatabase::new().await;
    let dir = tempfile::tempdir().expect("folder");
    std::fs::write(
        dir.path().join(".env"),
        format!(
            "# the database\nDATABASE_URL='{}'\nMV_DB_POOL_SIZE=2\n",
            database.url()
        ),
    )
    .expect(".env");
    let output = in_dir(dir.path(), &["--json", "users", "list"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "[]");

    // A long input echoed in an error is shortened.
    let long = "x".repeat(20_000);
    let output = in_dir(dir.path(), &["users", "show", &long]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains("not found"), "{message}");
    assert!(message.len() < 1_000, "{} bytes", message.len());
}

/// A port with nothing listening: bound, then released.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("address").port()
}

#[test]
fn no_part_of_a_url_shows_its_secrets_and_long_inputs_are_shortened() {
    let dir = tempfile::tempdir().expect("folder");
    let port = closed_port();
    let urls = [
        format!("postgresql://alice@127.0.0.1:{port}/app?password=s3cretA&application_name=mv"),
        format!("postgresql://alice:s3cretB@127.0.0.1:{port}/app?sslpassword=s3cretC"),
        format!("postgresql://127.0.0.1:{port}/app?user=alice&PASSWORD=s3cretD#s3cretE"),
        format!("postgresql://alice:s3cretF@127.0.0.1:{port}/app?sslmode=bogus"),
        format!("host=127.0.0.1 port={port} user=alice password=s3cretG dbname=app"),
        "postgresql://alice:s3cretH@127.0.0.1:99999999/app".to_string(),
    ];
    for url in &urls {
        let output = in_dir(dir.path(), &["--database-url", url, "users", "list"]);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{url}: {message}");
        assert!(message.contains("error: "), "{message}");
        assert!(!message.contains("s3cret"), "{url}: {message}");
    }
    let output = in_dir(dir.path(), &["--database-url", &urls[0], "users", "list"]);
    assert!(
        stderr(&output).contains("password=***"),
        "{}",
        stderr(&output)
    );

    // From the environment too, and however long the input.
    let long = format!(
        "postgresql://alice:s3cret@127.0.0.1:{port}/{}?password=s3cret",
        "x".repeat(20_000)
    );
    let output = Command::new(env!("CARGO_BIN_EXE_mv-admin"))
        .current_dir(dir.path())
        .args(["users", "list"])
        .env("DATABASE_URL", &long)
        .output()
        .expect("mv-admin runs");
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
    assert!(message.len() < 1_000, "{} bytes: {message}", message.len());
    let output = Command::new(env!("CARGO_BIN_EXE_mv-admin"))
        .current_dir(dir.path())
        .args(["users", "list"])
        .env("MV_DB_POOL_SIZE", "7".repeat(20_000))
        .output()
        .expect("mv-admin runs");
    let message = stderr(&output);
    assert!(message.contains("MV_DB_POOL_SIZE"), "{message}");
    assert!(message.len() < 1_000, "{} bytes", message.len());
}
