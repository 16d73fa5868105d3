//! The studio in a real browser: `mv-admin studio` runs as a process over a
//! test database holding the demo data, and headless Chromium, driven
//! through WebDriver (chromedriver), opens the address it printed. Each test
//! saves screenshots under target/studio-screenshots/ for a person to see.
//!
//! Without Chromium and chromedriver (scripts/test.sh installs them where it
//! can) these tests fail under CI=true and are skipped, loudly, elsewhere.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel_async::AsyncPgConnection;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use local_pg::harness::{TestDatabase, count};
use serde_json::json;

const DEMO_EMAIL: &str = "demo@mind-vault.dev";
/// How long an element may take to appear.
const WAIT: Duration = Duration::from_secs(20);

/// Kills a child process when dropped, whatever the test did.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// chromedriver in a process group of its own, killed with the browsers it
/// started when dropped (killing chromedriver alone leaves them running when
/// a test fails before it closes its session).
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

fn find_program(variable: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(variable) {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Chromium and chromedriver, or None after saying why the test is skipped
/// (a failure under CI, which must run these tests).
fn programs() -> Option<(PathBuf, PathBuf)> {
    let browser = find_program("MV_CHROMIUM", &["chromium", "chromium-browser"]);
    let driver = find_program("MV_CHROMEDRIVER", &["chromedriver"]);
    match (browser, driver) {
        (Some(browser), Some(driver)) => Some((browser, driver)),
        _ => {
            let message = "Chromium or chromedriver is missing: install them \
                (apt-get install chromium chromium-driver; scripts/test.sh does) \
                or set MV_CHROMIUM and MV_CHROMEDRIVER";
            if std::env::var("CI").is_ok_and(|ci| ci == "true") {
                panic!("{message}");
            }
            eprintln!("\n*** SKIPPED: the studio's browser tests did not run. {message}. ***\n");
            None
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// chromedriver on a free loopback port, a browser session through it, and
/// a profile folder of its own.
struct Browser {
    client: Client,
    _driver: Group,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start(chromium: &PathBuf, chromedriver: &PathBuf) -> Self {
        let port = free_port();
        // The browser's time zone differs from UTC, to see times localised.
        let driver = Group(
            Command::new(chromedriver)
                .arg(format!("--port={port}"))
                .env("TZ", "Asia/Tokyo")
                .process_group(0)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting chromedriver"),
        );
        let profile = tempfile::tempdir().expect("a profile folder");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,800",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let deadline = Instant::now() + WAIT;
        let client = loop {
            let mut builder =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            match builder
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no WebDriver session from chromedriver: {e}"),
            }
        };
        Self {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    async fn wait_for(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("waiting for {css}: {e}"))
    }

    /// Waits until the element's text contains `needle`; returns the text.
    async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(needle) {
                return text;
            }
            if Instant::now() > deadline {
                panic!("{css} never showed {needle:?}; it shows {text:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&self, css: &str) {
        self.wait_for(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Saves the viewport (1280×800) as target/studio-screenshots/<name>.png.
    async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let folder =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/studio-screenshots");
        std::fs::create_dir_all(&folder).expect("the screenshot folder");
        let path = folder.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("writing the screenshot");
        path
    }

    async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// `mv-admin studio` over a test database with the demo data, and the
/// address it printed.
struct Studio {
    db: TestDatabase,
    _process: Running,
    url: String,
}

impl Studio {
    async fn start(write: bool) -> Self {
        let db = TestDatabase::new().await;
        let binary = assert_cmd::cargo::cargo_bin("mv-admin");
        let seeded = Command::new(&binary)
            .args(["--database-url", db.url(), "seed"])
            .output()
            .expect("running mv-admin seed");
        assert!(
            seeded.status.success(),
            "{}",
            String::from_utf8_lossy(&seeded.stderr)
        );
        let mut command = Command::new(&binary);
        command.args(["--database-url", db.url(), "studio"]);
        if write {
            command.arg("--write");
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting mv-admin studio");
        let stdout = child.stdout.take().expect("stdout");
        let process = Running(child);
        let url = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| line.strip_prefix("Open ").map(str::to_string))
            .expect("mv-admin studio printed its address");
        Self {
            db,
            _process: process,
            url,
        }
    }

    async fn conn(&self) -> AsyncPgConnection {
        self.db.connect().await
    }
}

/// Opens the printed address, then the demo user's library.
async fn open_library(browser: &Browser, studio: &Studio) {
    browser
        .client
        .goto(&studio.url)
        .await
        .expect("opening the address");
    browser.wait_for_text("main h1", "Tables").await;
    browser.click("header nav a[href='/library']").await;
    let search = browser.wait_for("input#user").await;
    search.send_keys(DEMO_EMAIL).await.expect("typing");
    browser.click("form.inline button[type=submit]").await;
    browser.wait_for_text("main h1", "Library of").await;
}

#[tokio::test]
async fn browse_the_library_filter_follow_a_key_and_expand_the_ai_content() {
    let Some((chromium, chromedriver)) = programs() else {
        return;
    };
    let studio = Studio::start(false).await;
    let browser = Browser::start(&chromium, &chromedriver).await;
    open_library(&browser, &studio).await;
    // Times are shown in the browser's zone (Tokyo), UTC on hover.
    let saved = browser.wait_for("table.library time").await;
    let shown = saved.text().await.expect("text");
    let hover = saved.attr("title").await.expect("title").expect("a title");
    assert!(hover.ends_with("UTC"), "{hover}");
    assert!(shown.contains("GMT+9") || shown.contains("JST"), "{shown}");

    // Filter by status with the menu.
    let menu = browser.wait_for("select[name=status]").await;
    menu.select_by_value("completed")
        .await
        .expect("choosing completed");
    browser
        .click("form.filters-inline button[type=submit]")
        .await;
    let deadline = Instant::now() + WAIT;
    while !browser
        .client
        .current_url()
        .await
        .expect("url")
        .as_str()
        .contains("status=completed")
    {
        assert!(Instant::now() < deadline, "the filter never applied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let statuses = browser
        .client
        .find_all(Locator::Css("table.library .status"))
        .await
        .expect("statuses");
    assert!(!statuses.is_empty(), "the demo user has completed videos");
    for status in statuses {
        assert_eq!(status.text().await.expect("text"), "completed");
    }
    browser.screenshot("library-completed").await;

    // A video: its AI content is a collapsed tree; expand it.
    browser.click("table.library a[href^='/videos/']").await;
    browser
        .wait_for_text("main h2", "Tags and categories")
        .await;
    let tree = browser.wait_for(".ai-content > details").await;
    assert_eq!(
        tree.attr("open").await.expect("attr"),
        None,
        "collapsed at first"
    );
    browser.click(".ai-content > details > summary").await;
    assert!(tree.attr("open").await.expect("attr").is_some(), "expanded");
    let key_points = browser.wait_for(".ai-content dl > dd details").await;
    assert!(key_points.is_displayed().await.expect("displayed"));
    browser.screenshot("video").await;

    // Follow the video's foreign key to its owner.
    browser
        .click("p.lead a[href^='/tables/video_summary/row']")
        .await;
    browser.wait_for_text("main h1", "video_summary row").await;
    browser.click("a.fk[href^='/tables/user/row']").await;
    browser.wait_for_text("main h1", "user row").await;
    browser.wait_for_text("table.record", DEMO_EMAIL).await;
    browser.screenshot("foreign-key").await;

    // The schema page's diagram is drawn on the server.
    browser.click("header nav a[href='/schema']").await;
    browser.wait_for("figure.erd svg").await;
    browser.screenshot("schema").await;
    browser.close().await;
}

#[tokio::test]
async fn stage_and_apply_an_edit_with_write() {
    let Some((chromium, chromedriver)) = programs() else {
        return;
    };
    let studio = Studio::start(true).await;
    let browser = Browser::start(&chromium, &chromedriver).await;
    open_library(&browser, &studio).await;
    browser.click("table.library a[href^='/videos/']").await;
    let title = browser.wait_for("input#title").await;
    title.clear().await.expect("clearing");
    title
        .send_keys("Edited in the studio")
        .await
        .expect("typing");
    browser.click("form#edit-video button[type=submit]").await;
    browser.wait_for_text("main h1", "Staged changes").await;
    browser
        .wait_for_text("pre.sql", "UPDATE \"video_summary\"")
        .await;
    browser.screenshot("staged").await;
    let before = "SELECT count(*) AS count FROM video_summary WHERE title = 'Edited in the studio'";
    assert_eq!(
        count(&mut studio.conn().await, before).await,
        0,
        "staging changes nothing"
    );
    browser.click(".actions button.primary").await;
    browser.wait_for_text("main", "Applied 1 change").await;
    assert_eq!(count(&mut studio.conn().await, before).await, 1);
    browser.screenshot("applied").await;
    browser.close().await;
}

#[tokio::test]
async fn an_edit_is_refused_in_read_only_mode() {
    let Some((chromium, chromedriver)) = programs() else {
        return;
    };
    let studio = Studio::start(false).await;
    let browser = Browser::start(&chromium, &chromedriver).await;
    open_library(&browser, &studio).await;
    browser.click("table.library a[href^='/videos/']").await;
    let title = browser.wait_for("input#title").await;
    title.clear().await.expect("clearing");
    title.send_keys("Not allowed").await.expect("typing");
    browser.click("form#edit-video button[type=submit]").await;
    browser.wait_for_text("main h1", "Edit refused").await;
    browser
        .wait_for_text("main", "cannot execute UPDATE in a read-only transaction")
        .await;
    browser.screenshot("refused").await;
    let changed = "SELECT count(*) AS count FROM video_summary WHERE title = 'Not allowed'";
    assert_eq!(count(&mut studio.conn().await, changed).await, 0);
    browser.close().await;
}
