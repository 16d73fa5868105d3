//! Every command form the README gives (the `mv-admin ...` lines of its code
//! blocks and the `mv-admin ...` cells of its tables), run through the
//! binary against a test database, in the README's order: none may be a
//! usage error (exit 2). Failing at run time (exit 1: nothing to resolve, a
//! refused revert) is fine here; what each command does is tested elsewhere.

use std::process::Stdio;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use local_pg::harness::{TestDatabase, Workspace};

const README: &str = include_str!("../../../README.md");
const DEMO_USER: &str = "demo@mind-vault.dev";

/// The README's command forms, `mv-admin` left off, in order, each once.
fn documented_forms(readme: &str) -> Vec<String> {
    let mut forms = Vec::new();
    // Inside a fenced block of shell commands (not a diagram).
    let mut fenced: Option<bool> = None;
    for line in readme.lines() {
        if let Some(language) = line.trim_start().strip_prefix("```") {
            fenced = match fenced {
                Some(_) => None,
                None => Some(matches!(language.trim(), "sh" | "bash" | "console")),
            };
            continue;
        }
        let mut found = Vec::new();
        if line.starts_with('|') {
            // A table: its code spans; `\|` separates alternatives there.
            found.extend(
                line.split('`')
                    .skip(1)
                    .step_by(2)
                    .map(|span| span.replace("\\|", "|")),
            );
        } else if fenced.unwrap_or(line.starts_with("    ")) {
            found.push(line.trim().to_string());
        }
        for text in found {
            let text = text.replace("cargo run -p mv-admin -- ", "mv-admin ");
            let Some(form) = text.strip_prefix("mv-admin ") else {
                continue;
            };
            // Without the comment and any shell pipe after it.
            let form = form.split(" #").next().unwrap_or_default();
            let form = form.split(" | ").next().unwrap_or_default().trim();
            // Lines with shell variables are a runbook's, run as written by
            // the test that sets them (tests/backup_cli.rs).
            if form.contains('$') {
                continue;
            }
            for expanded in expand(form) {
                if !forms.contains(&expanded) {
                    forms.push(expanded);
                }
            }
        }
    }
    forms
}

/// `[optional]` parts all left out and all given, times each alternative
/// of an `a|b` word.
fn expand(form: &str) -> Vec<String> {
    let (mut without, mut with) = (String::new(), String::new());
    let mut rest = form;
    while let Some(open) = rest.find('[') {
        let close = rest[open..].find(']').map_or(rest.len(), |i| open + i);
        without.push_str(&rest[..open]);
        with.push_str(&rest[..open]);
        with.push_str(&rest[open + 1..close]);
        rest = rest.get(close + 1..).unwrap_or_default();
    }
    without.push_str(rest);
    with.push_str(rest);
    let mut forms = Vec::new();
    for variant in [without, with] {
        let words: Vec<&str> = variant.split_whitespace().collect();
        let choices = words
            .iter()
            .find(|w| w.contains('|'))
            .map_or_else(Vec::new, |w| w.split('|').collect());
        if choices.is_empty() {
            forms.push(words.join(" "));
        }
        for choice in choices {
            let picked: Vec<&str> = words
                .iter()
                .map(|w| if w.contains('|') { choice } else { w })
                .collect();
            forms.push(picked.join(" "));
        }
    }
    forms.dedup();
    forms
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = Text)]
    id: String,
}

/// The words of a form as a shell reads them: a double-quoted part
/// (`--backup-elsewhere "Neon branch pre-adopt"`) is one word.
fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let (mut word, mut quoted, mut started) = (String::new(), false, false);
    for c in text.chars() {
        match c {
            '"' => (quoted, started) = (!quoted, true),
            c if c.is_whitespace() && !quoted => {
                if started {
                    words.push(std::mem::take(&mut word));
                }
                started = false;
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

struct Runner {
    db: TestDatabase,
    workspace: Workspace,
}

impl Runner {
    fn command(&self, args: &[String]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mv-admin"));
        command
            .current_dir(self.workspace.root())
            .env_remove("DATABASE_URL")
            // The local server's commands get a folder of their own and no
            // PostgreSQL programs, so they never start a server here.
            .env("MV_PG_DIR", self.workspace.root().join("local-pg"))
            .env("MV_PG_BINDIR", self.workspace.root().join("no-programs"))
            .arg("--database-url")
            .arg(self.db.url())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// The words of `form`, its placeholders filled in from the database.
    async fn arguments(&self, form: &str) -> Vec<String> {
        let mut text = form.to_string();
        while let Some(open) = text.find('<') {
            let close = open + text[open..].find('>').expect("a closed placeholder");
            let value = match &text[open + 1..close] {
                "video id" => self.video_id().await,
                "id or email" => DEMO_USER.to_string(),
                "name" => "readme_forms".to_string(),
                "cursor from the previous page" => self.cursor().await,
                other => panic!("the README has a new placeholder <{other}>: give it a value here"),
            };
            text.replace_range(open..=close, &value);
        }
        let migrations = self.workspace.migrations().display().to_string();
        words(&text)
            .iter()
            .map(|word| match word.as_str() {
                "N" => "1".to_string(),
                "VERSION" => "20261125000002".to_string(),
                "TEXT" => "checked".to_string(),
                "DURATION" => "5s".to_string(),
                "URL" => self.db.url().to_string(),
                "DIR" => migrations.clone(),
                other => other.to_string(),
            })
            .collect()
    }

    async fn video_id(&self) -> String {
        let mut conn = self.db.connect().await;
        diesel::sql_query("SELECT id FROM video_summary ORDER BY created_at DESC, id LIMIT 1")
            .get_result::<Id>(&mut conn)
            .await
            .expect("a video (quickstart runs first)")
            .id
    }

    async fn cursor(&self) -> String {
        let args: Vec<String> = [
            "--json", "videos", "list", "--user", DEMO_USER, "--limit", "2",
        ]
        .map(String::from)
        .to_vec();
        let output = self.command(&args).output().await.expect("videos list");
        let stderr = String::from_utf8_lossy(&output.stderr);
        stderr
            .lines()
            .find_map(|line| line.strip_prefix("next_cursor: "))
            .unwrap_or_else(|| panic!("no cursor in {stderr}"))
            .to_string()
    }
}

#[test]
fn the_readme_forms_are_found_and_expanded() {
    let forms = documented_forms(README);
    for expected in [
        "quickstart",
        "migrate resolve VERSION --rolled-back",
        "migrate resolve VERSION --completed --reason TEXT",
        "migrate revert --steps N --accept-data-loss",
        "db reset",
        "db reset --yes",
        "push --dry-run",
        "--json push --dry-run",
        "--json videos list --user demo@mind-vault.dev",
        "generate add_video_notes --version 2026-12-01-120000",
    ] {
        assert!(
            forms.iter().any(|f| f == expected),
            "{expected} in {forms:#?}"
        );
    }
    assert_eq!(
        words("adopt --backup-elsewhere \"Neon branch\" --x"),
        ["adopt", "--backup-elsewhere", "Neon branch", "--x"]
    );
    assert_eq!(
        expand("a [--x N] b|c"),
        ["a b", "a c", "a --x N b", "a --x N c"]
    );
}

/// A command that runs until Ctrl-C (the studio, a `--watch`): still
/// running after a moment, it has parsed its arguments.
fn serves_until_interrupted(form: &str) -> bool {
    let mut words = form.split_whitespace();
    words.clone().next() == Some("studio") || words.any(|word| word == "--watch")
}

#[tokio::test]
async fn no_documented_form_is_a_usage_error() {
    let runner = Runner {
        db: TestDatabase::empty().await,
        workspace: Workspace::new(),
    };
    let mut usage_errors = Vec::new();
    let forms = documented_forms(README);
    for form in &forms {
        let args = runner.arguments(form).await;
        let serves = serves_until_interrupted(form);
        let mut command = runner.command(&args);
        if serves {
            // No program to open a browser with (`--open`).
            command.env("PATH", runner.workspace.root().join("no-programs"));
        }
        let limit = Duration::from_secs(if serves { 5 } else { 120 });
        let child = command.spawn().expect("running mv-admin");
        let output = match tokio::time::timeout(limit, child.wait_with_output()).await {
            Ok(output) => output.expect("running mv-admin"),
            // Parsed and serving; dropping the child kills it.
            Err(_) if serves => continue,
            Err(_) => panic!("mv-admin {form} did not finish"),
        };
        let code = output.status.code();
        if !matches!(code, Some(0 | 1 | 3)) {
            usage_errors.push(format!(
                "mv-admin {form}: exit {code:?}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
    }
    assert!(
        usage_errors.is_empty(),
        "{} of {} documented forms failed to parse:\n{}",
        usage_errors.len(),
        forms.len(),
        usage_errors.join("\n")
    );
}
