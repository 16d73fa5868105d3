//! Output shared by every command: one JSON document, or aligned tables and
//! fields for people.
//!
//! Data goes to stdout, progress and questions to stderr. Styles are
//! written only where anstream would keep them (a terminal, no `NO_COLOR`),
//! and data reaches stdout as it is stored, with one exception: on a
//! terminal, the control characters a value holds (C0, DEL, C1) are shown
//! escaped (`\u{1b}`), so no value can clear the screen, set the window
//! title or plant a link. Cells ([`Cell`]) and [`shown`] are where that
//! happens; pipes and `--json` get the exact text.

use std::borrow::Cow;
use std::io::{ErrorKind, IsTerminal, Write};
use std::sync::OnceLock;

use anstream::ColorChoice;
use anstyle::{AnsiColor, Style};
use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};
use db::models::ProcessingStatus;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Column titles and field names.
pub const HEADER: Style = Style::new().bold();
/// Secondary text: ids, absolute times, empty values.
pub const DIM: Style = Style::new().dimmed();

/// Whether stdout is a terminal (asked once).
fn on_terminal() -> bool {
    static TERMINAL: OnceLock<bool> = OnceLock::new();
    *TERMINAL.get_or_init(|| std::io::stdout().is_terminal())
}

/// Whether styles are written: anstream's choice for stdout (a terminal,
/// no `NO_COLOR`, `CLICOLOR_FORCE` forcing them).
fn styled() -> bool {
    static STYLED: OnceLock<bool> = OnceLock::new();
    *STYLED.get_or_init(|| anstream::AutoStream::choice(&std::io::stdout()) != ColorChoice::Never)
}

/// `text` with every control character (C0, DEL, C1) but the newline
/// escaped visibly: `\t`, `\r`, else `\u{1b}` as Rust writes them.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push('\n'),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Data as people see it: escaped on a terminal ([`escape_controls`]),
/// exact on a pipe. Every value from the database that human output
/// shows goes through here (cells do it themselves).
pub fn shown(text: &str) -> Cow<'_, str> {
    if on_terminal() {
        escape_controls(text)
    } else {
        Cow::Borrowed(text)
    }
}

/// The colour of a processing status.
pub fn status_style(status: ProcessingStatus) -> Style {
    let color = match status {
        ProcessingStatus::Pending => AnsiColor::Blue,
        ProcessingStatus::Processing => AnsiColor::Yellow,
        ProcessingStatus::Completed => AnsiColor::Green,
        ProcessingStatus::Failed => AnsiColor::Red,
    };
    Style::new().fg_color(Some(color.into()))
}

/// `text` wrapped in `style`'s escape codes, where styles are written.
/// For the tool's own words; data goes into a [`Cell`].
pub fn paint(style: Style, text: &str) -> String {
    if styled() {
        format!("{style}{text}{style:#}")
    } else {
        text.to_string()
    }
}

/// Writes one JSON document and a newline on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    let mut text = serde_json::to_string(value).context("Failed to encode the JSON output")?;
    text.push('\n');
    write_stdout(&mut std::io::stdout().lock(), &text)
}

/// `println!` through [`print`]: a closed pipe (`| head`) ends the output
/// quietly instead of panicking, and other write errors become the command's
/// error. Use it in functions returning `anyhow::Result`.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::print(&format!("{}\n", format_args!($($arg)*)))?
    };
}

/// Writes human output on stdout. Styles are in it only where they belong
/// ([`paint`]); anstream is not asked to strip them, as it would strip the
/// escape sequences of the data too, and pipes get the data exactly.
pub fn print(text: &str) -> Result<()> {
    if styled() {
        write_stdout(&mut anstream::stdout().lock(), text)
    } else {
        write_stdout(&mut std::io::stdout().lock(), text)
    }
}

fn write_stdout(out: &mut impl Write, text: &str) -> Result<()> {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // The reader went away (`| head`): what it wanted, it has.
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other.context("Failed to write to stdout"),
    }
}

/// The width stdout's terminal has, or `None` on a pipe or file.
pub fn terminal_width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    terminal_size::terminal_size().map(|(width, _)| usize::from(width.0))
}

/// A progress bar on stderr when stderr is a terminal, else a hidden one,
/// so logs and pipes get no control characters.
pub fn progress_bar(len: u64, message: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len).with_message(message);
    if let Ok(style) = ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} {elapsed}") {
        bar.set_style(style);
    }
    bar
}

/// "just now", "5 minutes ago", "3 days ago", "in 2 hours".
pub fn relative_time(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - then).num_seconds();
    let elapsed = seconds.unsigned_abs();
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    let (count, unit) = match elapsed {
        0..45 => return "just now".to_string(),
        45..5_400 => (elapsed.div_ceil(MINUTE).max(1), "minute"),
        5_400..129_600 => ((elapsed + HOUR / 2) / HOUR, "hour"),
        129_600..3_888_000 => ((elapsed + DAY / 2) / DAY, "day"),
        3_888_000..31_536_000 => (((elapsed + 15 * DAY) / (30 * DAY)).max(2), "month"),
        _ => ((elapsed / (365 * DAY)).max(1), "year"),
    };
    let plural = if count == 1 { "" } else { "s" };
    if seconds < 0 {
        format!("in {count} {unit}{plural}")
    } else {
        format!("{count} {unit}{plural} ago")
    }
}

/// A time for people: relative, then the exact UTC time dimmed.
pub fn time_with_date(then: DateTime<Utc>, now: DateTime<Utc>) -> Cell {
    Cell::from(relative_time(then, now))
        .then(format!(" ({})", then.format("%Y-%m-%d %H:%M UTC")), DIM)
}

/// Seconds as `m:ss`, or `h:mm:ss` from an hour on.
pub fn clock(seconds: i32) -> String {
    let seconds = seconds.max(0);
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// One table cell or field value: text in one or more styles. The text is
/// escaped as [`shown`] escapes it when the cell is made, so what a cell
/// holds is what the terminal gets.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    parts: Vec<(String, Style)>,
}

impl Cell {
    /// A cell painted with `style`.
    pub fn styled(text: impl AsRef<str>, style: Style) -> Self {
        Self::default().then(text, style)
    }

    /// The cell followed by `text` in `style`.
    pub fn then(mut self, text: impl AsRef<str>, style: Style) -> Self {
        self.parts.push((shown(text.as_ref()).into_owned(), style));
        self
    }

    /// The text, without styles.
    pub fn text(&self) -> String {
        self.parts.iter().map(|(text, _)| text.as_str()).collect()
    }

    /// The columns the text takes.
    pub fn width(&self) -> usize {
        self.parts.iter().map(|(text, _)| text.width()).sum()
    }

    /// The text in its styles.
    pub fn painted(&self) -> String {
        self.parts
            .iter()
            .map(|(text, style)| paint(*style, text))
            .collect()
    }

    /// The cell cut to `width` columns, ending with `…` when cut.
    fn cut(&self, width: usize) -> Self {
        if self.width() <= width {
            return self.clone();
        }
        // Room before the ellipsis; the text is longer, so it ends early.
        let mut left = width.saturating_sub(1);
        let mut parts = Vec::new();
        'parts: for (text, style) in &self.parts {
            let mut kept = String::new();
            for ch in text.chars() {
                let w = ch.width().unwrap_or(0);
                if w > left {
                    parts.push((kept, *style));
                    break 'parts;
                }
                left -= w;
                kept.push(ch);
            }
            parts.push((kept, *style));
        }
        if let Some((last, _)) = parts.last_mut() {
            last.push('…');
        }
        Self { parts }
    }

    /// The cell on one line: on a terminal, a newline in it is shown as
    /// `\n`, as a table row is one line.
    fn one_line(&self) -> Self {
        if !on_terminal() {
            return self.clone();
        }
        let parts = self
            .parts
            .iter()
            .map(|(text, style)| (text.replace('\n', "\\n"), *style))
            .collect();
        Self { parts }
    }

    /// The cell as lines, each painted on its own.
    fn painted_lines(&self) -> Vec<String> {
        let mut lines = vec![String::new()];
        for (text, style) in &self.parts {
            for (i, piece) in text.split('\n').enumerate() {
                if i > 0 {
                    lines.push(String::new());
                }
                if !piece.is_empty()
                    && let Some(line) = lines.last_mut()
                {
                    line.push_str(&paint(*style, piece));
                }
            }
        }
        lines
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Self::styled(text, Style::new())
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Self::styled(text, Style::new())
    }
}

impl From<&String> for Cell {
    fn from(text: &String) -> Self {
        Self::styled(text, Style::new())
    }
}

/// Columns aligned on their widest cell, two spaces apart. One column may
/// be marked flexible: on a terminal too narrow for the table it is cut.
#[derive(Debug, Clone)]
pub struct Table {
    titles: Vec<String>,
    right: Vec<bool>,
    flexible: Option<usize>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new<S: Into<String>>(titles: impl IntoIterator<Item = S>) -> Self {
        // Column names may come from the catalog: escaped as data is.
        let titles: Vec<String> = titles
            .into_iter()
            .map(|title| shown(&title.into()).into_owned())
            .collect();
        Self {
            right: vec![false; titles.len()],
            titles,
            flexible: None,
            rows: Vec::new(),
        }
    }

    /// Aligns the column to the right (numbers).
    pub fn right(mut self, column: usize) -> Self {
        if let Some(right) = self.right.get_mut(column) {
            *right = true;
        }
        self
    }

    /// Marks the column that is cut when the terminal is too narrow.
    pub fn flexible(mut self, column: usize) -> Self {
        self.flexible = Some(column);
        self
    }

    /// Adds a row; missing cells are empty.
    pub fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The widest line the table would have, uncut.
    pub fn natural_width(&self) -> usize {
        let widths = self.widths(None);
        widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1)
    }

    fn widths(&self, max_width: Option<usize>) -> Vec<usize> {
        let mut widths: Vec<usize> = self.titles.iter().map(|t| t.width()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(widths.len()) {
                widths[i] = widths[i].max(cell.width());
            }
        }
        if let (Some(max), Some(flex)) = (max_width, self.flexible) {
            let others: usize = widths
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != flex)
                .map(|(_, w)| w + 2)
                .sum();
            // Never narrower than its title or a few characters.
            let floor = self.titles[flex].width().max(8);
            widths[flex] = widths[flex].min(max.saturating_sub(others).max(floor));
        }
        widths
    }

    /// The table as lines of text, cut to `max_width` when given.
    pub fn render(&self, max_width: Option<usize>) -> String {
        let widths = self.widths(max_width);
        let mut out = String::new();
        let titles: Vec<Cell> = self
            .titles
            .iter()
            .map(|t| Cell::styled(t.as_str(), HEADER))
            .collect();
        for row in std::iter::once(&titles).chain(&self.rows) {
            let last = widths.len().saturating_sub(1);
            let mut line = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = row
                    .get(i)
                    .map(|c| c.one_line().cut(*width))
                    .unwrap_or_default();
                let padding = " ".repeat(width.saturating_sub(cell.width()));
                let painted = cell.painted();
                if self.right[i] {
                    line.push_str(&padding);
                    line.push_str(&painted);
                } else {
                    line.push_str(&painted);
                    if i < last {
                        line.push_str(&padding);
                    }
                }
                if i < last {
                    line.push_str("  ");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Writes the table on stdout, cut to the terminal's width.
    pub fn print(&self) -> Result<()> {
        print(&self.render(terminal_width()))
    }
}

/// Named values one per line, the names aligned: the body of a `show`.
#[derive(Debug, Default)]
pub struct Fields {
    rows: Vec<(String, Cell)>,
}

impl Fields {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a field; multi-line values are indented under their name.
    pub fn add(&mut self, name: &str, value: impl Into<Cell>) -> &mut Self {
        self.rows.push((shown(name).into_owned(), value.into()));
        self
    }

    /// Adds a field that may be absent, shown as a dimmed dash.
    pub fn optional(&mut self, name: &str, value: Option<impl Into<Cell>>) -> &mut Self {
        let value = value.map_or_else(|| Cell::styled("-", DIM), Into::into);
        self.add(name, value)
    }

    /// The fields as text.
    pub fn render(&self) -> String {
        let width = self.rows.iter().map(|(n, _)| n.width()).max().unwrap_or(0);
        let mut out = String::new();
        for (name, value) in &self.rows {
            let lines = value.painted_lines();
            let mut lines = lines.iter();
            let first = lines.next().map_or("", String::as_str);
            let padding = " ".repeat(width - name.width());
            out.push_str(&format!("{}{padding}  {first}", paint(HEADER, name)));
            out.push('\n');
            for line in lines {
                out.push_str(&format!("{}  {line}\n", " ".repeat(width)));
            }
        }
        out
    }
}

/// A section title, for the parts of a long report.
pub fn heading(title: &str) -> String {
    format!("\n{}\n", paint(HEADER, title))
}

/// Asks a yes/no question on the terminal; without one, the answer is no.
pub fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("Failed to read the answer")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> String {
        anstream::adapter::strip_str(text).to_string()
    }

    #[test]
    fn relative_times_read_naturally() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("valid");
        let ago = |seconds: i64| relative_time(now - chrono::Duration::seconds(seconds), now);
        assert_eq!(ago(0), "just now");
        assert_eq!(ago(44), "just now");
        assert_eq!(ago(50), "1 minute ago");
        assert_eq!(ago(5 * 60), "5 minutes ago");
        assert_eq!(ago(2 * 3600), "2 hours ago");
        assert_eq!(ago(3 * 86_400), "3 days ago");
        assert_eq!(ago(60 * 86_400), "2 months ago");
        assert_eq!(ago(800 * 86_400), "2 years ago");
        assert_eq!(ago(-2 * 3600), "in 2 hours");
    }

    #[test]
    fn clocks_and_cuts() {
        assert_eq!(clock(59), "0:59");
        assert_eq!(clock(1425), "23:45");
        assert_eq!(clock(3604), "1:00:04");
        let cut = |text: &str, width| Cell::from(text).cut(width).text();
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("a longer title", 8), "a longe…");
        assert_eq!(cut("日本語のタイトル", 7), "日本語…");
    }

    #[test]
    fn tables_align_and_cut_the_flexible_column() {
        let mut table = Table::new(["ID", "TITLE", "TAGS"]).right(2).flexible(1);
        table.push(vec!["a".into(), "A title that is long".into(), "3".into()]);
        table.push(vec![Cell::styled("bb", DIM), "Short".into(), "12".into()]);
        assert_eq!(
            plain(&table.render(None)),
            "ID  TITLE                 TAGS\n\
             a   A title that is long     3\n\
             bb  Short                   12\n"
        );
        assert_eq!(table.natural_width(), 30);
        let cut = plain(&table.render(Some(20)));
        assert!(cut.lines().all(|line| line.width() <= 20), "{cut}");
        assert!(cut.contains("A title t…"), "{cut}");
    }

    #[test]
    fn controls_are_escaped_visibly_and_the_rest_is_kept() {
        assert_eq!(
            escape_controls("plain, ünïcode 日本"),
            "plain, ünïcode 日本"
        );
        assert_eq!(
            escape_controls("\u{1b}]0;title\u{7}\u{1b}[2J\tx\ry\u{7f}\u{9b}1m\nnext"),
            "\\u{1b}]0;title\\u{7}\\u{1b}[2J\\tx\\ry\\u{7f}\\u{9b}1m\nnext"
        );
    }

    #[test]
    fn cells_in_several_styles_cut_and_split_into_lines() {
        let cell = Cell::from("2 days ago").then(" (2026-01-01)", DIM);
        assert_eq!(cell.text(), "2 days ago (2026-01-01)");
        assert_eq!(cell.width(), 23);
        assert_eq!(plain(&cell.cut(14).painted()), "2 days ago (2…");
        assert_eq!(plain(&cell.cut(8).painted()), "2 days …");
        let lines = Cell::from("one\ntwo").then(" three", DIM).painted_lines();
        assert_eq!(
            lines.iter().map(|l| plain(l)).collect::<Vec<_>>(),
            ["one", "two three"]
        );
    }

    #[test]
    fn fields_align_names_and_indent_continuations() {
        let mut fields = Fields::new();
        fields
            .add("title", "T")
            .optional("channel", None::<String>)
            .add("summary", "one\ntwo");
        assert_eq!(
            plain(&fields.render()),
            "title    T\nchannel  -\nsummary  one\n         two\n"
        );
    }
}
