//! What a terminal gets: control characters stored in the data (a title
//! that clears the screen, a name that sets the window title or plants a
//! disguised link) are shown escaped, never obeyed; pipes and `--json` get
//! the data exactly. The binary runs on a real pseudo-terminal.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};

use db::models::{NewUser, NewVideo};
use local_pg::harness::TestDatabase;
use nix::pty::{Winsize, openpty};

/// A name that sets the window title, rings the bell and clears the screen.
const NAME: &str = "Mallory\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[H";
/// A title that plants a hyperlink (OSC 8), with a C1 CSI and a DEL.
const TITLE: &str =
    "\u{1b}]8;;https://evil.example/\u{1b}\\Click me\u{1b}]8;;\u{1b}\\ \u{9b}31m red\u{7f}\rback";

/// What the binary printed on stdout, a pseudo-terminal of 200 columns.
fn on_terminal(url: &str, args: &[&str], colours: bool) -> String {
    let size = Winsize {
        ws_row: 50,
        ws_col: 200,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = openpty(&size, None).expect("a pseudo-terminal");
    let mut command = Command::new(env!("CARGO_BIN_EXE_mv-admin"));
    command
        .arg("--database-url")
        .arg(url)
        .args(args)
        .env_remove("CLICOLOR_FORCE")
        .env_remove("NO_COLOR")
        .env("TERM", "xterm-256color")
        .stdin(Stdio::null())
        .stdout(Stdio::from(pty.slave))
        .stderr(Stdio::piped());
    if !colours {
        command.env("NO_COLOR", "1");
    }
    let child = command.spawn().expect("mv-admin starts");
    // The command holds the only copy of the terminal's other end now.
    drop(command);
    let output = read_until_closed(pty.master);
    let done = child.wait_with_output().expect("mv-admin ends");
    assert!(
        done.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    output.replace("\r\n", "\n")
}

/// Reads a pseudo-terminal until its other end is closed (EIO on Linux).
fn read_until_closed(master: OwnedFd) -> String {
    let mut file = std::fs::File::from(master);
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match file.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
        }
    }
    String::from_utf8(bytes).expect("UTF-8 output")
}

fn piped(url: &str, args: &[&str]) -> Vec<u8> {
    let output = Command::new(env!("CARGO_BIN_EXE_mv-admin"))
        .arg("--database-url")
        .arg(url)
        .args(args)
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("mv-admin runs");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

async fn mallory(database: &TestDatabase) -> String {
    let mut conn = database.connect().await;
    NewUser::new("mallory", NAME, "mallory@example.com")
        .insert(&mut conn)
        .await
        .expect("user");
    NewVideo {
        user_id: "mallory",
        youtube_url: "https://youtu.be/dQw4w9WgXcQ",
        title: TITLE,
        description: Some("line one\u{1b}[1A\u{1b}[2Kline two"),
        ..NewVideo::default()
    }
    .insert(&conn)
    .await
    .expect("video")
    .id
}

#[tokio::test]
async fn control_characters_in_the_data_are_shown_escaped_on_a_terminal() {
    let database = TestDatabase::new().await;
    let video = mallory(&database).await;
    let url = database.url();
    let commands: [&[&str]; 6] = [
        &["users", "list"],
        &["users", "show", "mallory"],
        &["videos", "list", "--user", "mallory"],
        &["videos", "show", &video, "--user", "mallory"],
        &["inspect", "table", "user"],
        &["inspect", "table", "video_summary"],
    ];
    for args in commands {
        let shown = on_terminal(url, args, false);
        assert!(
            !shown.contains(['\u{1b}', '\u{7}', '\u{9b}', '\u{7f}', '\r']),
            "{args:?} let a control character through: {shown:?}"
        );
        assert!(
            shown.contains(r"\u{1b}]0;pwned") || shown.contains(r"\u{1b}]8;;https://evil"),
            "{args:?} does not show the escaped data: {shown}"
        );
    }
    // With colours, the only escape sequences are the tool's own styles.
    let styled = on_terminal(url, &["videos", "show", &video, "--user", "mallory"], true);
    assert!(
        styled.contains("\u{1b}["),
        "no styles on a terminal: {styled:?}"
    );
    for sequence in styled.split('\u{1b}').skip(1) {
        let end = sequence.find('m').expect("an SGR sequence ends with m");
        assert!(
            sequence.starts_with('[')
                && sequence[1..end]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b';'),
            "an escape sequence that is not a style: {sequence:?}"
        );
    }
    assert!(styled.contains(r"\u{9b}31m red\u{7f}\rback"), "{styled}");
}

#[tokio::test]
async fn pipes_and_json_get_the_data_exactly() {
    let database = TestDatabase::new().await;
    mallory(&database).await;
    let url = database.url();
    let listed = String::from_utf8(piped(url, &["users", "list"])).expect("UTF-8");
    assert!(listed.contains(NAME), "{listed:?}");
    let videos =
        String::from_utf8(piped(url, &["videos", "list", "--user", "mallory"])).expect("UTF-8");
    assert!(videos.contains(TITLE), "{videos:?}");

    let json: serde_json::Value =
        serde_json::from_slice(&piped(url, &["--json", "users", "list"])).expect("one document");
    assert_eq!(json[0]["name"], NAME);
    let json: serde_json::Value = serde_json::from_slice(&piped(
        url,
        &["--json", "videos", "list", "--user", "mallory"],
    ))
    .expect("one document");
    assert_eq!(json[0]["title"], TITLE);
}
